"""Chunks -> a dense (FAISS) and a lexical (BM25) index on disk, with a manifest that says what built it.

On disk, `index_dir/` holds snapshot folders and a `CURRENT` file naming the live one. A build writes
a new snapshot, then swaps `CURRENT` with an atomic rename, so a crash mid-build leaves the previous
index loadable and a reader never sees half an index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import chunk, embedding_text
from .embedding import Embedder
from .errors import IndexCorruptedError, IndexNotFoundError
from .types import Chunk, Document

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
_DENSE = "dense.faiss"
_CHUNKS = "chunks.jsonl"
_DOCUMENTS = "documents.jsonl"
_LEXICAL = "lexical"
_MANIFEST = "manifest.json"
REBUILD_HINT = "rebuild it with: jmqa index --rebuild"


# ---------------------------------------------------------------- lexical


def _stemmer():
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:  # bm25s works without it, only less well on inflections
        return None


def tokenize(texts: list[str]) -> list[list[str]]:
    """BM25 tokens: lower-cased words, English stopwords out, stemmed."""
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


class LexicalIndex:
    """BM25 over chunk texts (bm25s)."""

    def __init__(self, bm25: Any):
        self._bm25 = bm25

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        import bm25s

        bm25 = bm25s.BM25()
        bm25.index(tokenize(texts), show_progress=False)
        return cls(bm25)

    def search(self, query: str, n: int) -> list[tuple[int, float]]:
        vocab = self._bm25.vocab_dict
        tokens = [t for t in tokenize([query])[0] if t in vocab]
        size = int(self._bm25.scores["num_docs"])
        if not tokens or size == 0:
            return []
        ids, scores = self._bm25.retrieve([tokens], k=min(n, size), show_progress=False, n_threads=1)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if s > 0]

    def save(self, folder: Path) -> None:
        self._bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(folder), show_progress=False))


# ---------------------------------------------------------------- the index


@dataclass
class Index:
    """The searchable corpus: chunks, their documents, a FAISS inner-product index of normalised
    chunk vectors (row i = chunks[i]) and a BM25 index over the same rows."""

    chunks: list[Chunk]
    documents: dict[str, Document]
    dense: Any
    lexical: LexicalIndex
    manifest: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def build(
        cls,
        docs: list[Document],
        embedder: Embedder,
        *,
        chunk_size: int,
        chunk_overlap: int,
        show_progress: bool = False,
    ) -> Index:
        import faiss

        chunks = [c for d in docs for c in chunk(d, size=chunk_size, overlap=chunk_overlap)]
        vectors = embedder.encode([embedding_text(c) for c in chunks], show_progress=show_progress)
        dense = faiss.IndexFlatIP(vectors.shape[1])
        dense.add(vectors)
        manifest = {
            "format_version": FORMAT_VERSION,
            "embedding_model": embedder.model_id,
            "embedding_dim": int(vectors.shape[1]),
            "chunking": {"size": chunk_size, "overlap": chunk_overlap},
            "documents": {d.path or d.doc_id: d.doc_id for d in docs},
            "n_chunks": len(chunks),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return cls(
            chunks=chunks,
            documents={d.doc_id: d for d in docs},
            dense=dense,
            lexical=LexicalIndex.build([embedding_text(c) for c in chunks]),
            manifest=manifest,
        )

    # ------------------------------------------------------------ search

    def search_dense(self, query_vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        if not self.chunks:
            return []
        q = np.asarray(query_vector, dtype=np.float32).reshape(1, -1)
        scores, ids = self.dense.search(q, min(n, len(self.chunks)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def search_lexical(self, query: str, n: int) -> list[tuple[int, float]]:
        return self.lexical.search(query, n)

    # ------------------------------------------------------------ persistence

    def save(self, index_dir: Path) -> Path:
        """Write a new snapshot and make it current atomically; returns the snapshot folder."""
        import faiss

        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        name = f"snapshot-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        tmp = index_dir / f".{name}.partial"
        tmp.mkdir()
        try:
            faiss.write_index(self.dense, str(tmp / _DENSE))
            _write_jsonl(tmp / _CHUNKS, (c.to_dict() for c in self.chunks))
            _write_jsonl(tmp / _DOCUMENTS, (d.to_dict() for d in self.documents.values()))
            self.lexical.save(tmp / _LEXICAL)
            manifest = dict(self.manifest, checksums=_checksums(tmp))
            (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
            _fsync_tree(tmp)
            os.replace(tmp, index_dir / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _write_atomic(index_dir / CURRENT, name + "\n")
        self.manifest, self.path = manifest, index_dir / name
        _remove_old_snapshots(index_dir, keep=name)
        return index_dir / name

    @classmethod
    def load(cls, index_dir: Path) -> Index:
        """Load the current snapshot; IndexNotFoundError if there is none, IndexCorruptedError if it fails its checks."""
        import faiss

        folder = current_snapshot(index_dir)
        manifest = read_manifest(folder)
        verify_checksums(folder, manifest)
        try:
            chunks = [Chunk.from_dict(d) for d in _read_jsonl(folder / _CHUNKS)]
            documents = {d["doc_id"]: Document.from_dict(d) for d in _read_jsonl(folder / _DOCUMENTS)}
            dense = faiss.read_index(str(folder / _DENSE))
            lexical = LexicalIndex.load(folder / _LEXICAL)
        except Exception as exc:  # noqa: BLE001 - any unreadable part means a corrupted index
            raise IndexCorruptedError(f"index at {folder} cannot be read ({exc}); {REBUILD_HINT}") from exc
        if dense.ntotal != len(chunks) or manifest.get("n_chunks") != len(chunks):
            raise IndexCorruptedError(
                f"index at {folder} is inconsistent ({dense.ntotal} vectors, {len(chunks)} chunks); {REBUILD_HINT}"
            )
        return cls(chunks=chunks, documents=documents, dense=dense, lexical=lexical, manifest=manifest, path=folder)


# ---------------------------------------------------------------- manifest checks (pure)


def staleness(manifest: dict[str, Any], docs: list[Document], *, embedding_model: str, chunk_size: int, chunk_overlap: int) -> str | None:
    """Why an index no longer matches the corpus and settings, or None when it does."""
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"index format {manifest.get('format_version')} is not the current format {FORMAT_VERSION}"
    if manifest.get("embedding_model") != embedding_model:
        return f"embedding model changed ({manifest.get('embedding_model')} -> {embedding_model})"
    if manifest.get("chunking") != {"size": chunk_size, "overlap": chunk_overlap}:
        return f"chunking changed ({manifest.get('chunking')} -> size={chunk_size}, overlap={chunk_overlap})"
    built = manifest.get("documents", {})
    now = {d.path or d.doc_id: d.doc_id for d in docs}
    if built != now:
        added = sorted(set(now) - set(built))
        removed = sorted(set(built) - set(now))
        changed = sorted(p for p in set(now) & set(built) if now[p] != built[p])
        parts = [f"{label}: {', '.join(names[:3])}{' …' if len(names) > 3 else ''}"
                 for label, names in (("added", added), ("removed", removed), ("changed", changed)) if names]
        return "corpus changed (" + "; ".join(parts) + ")"
    return None


def current_snapshot(index_dir: Path) -> Path:
    index_dir = Path(index_dir)
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        raise IndexNotFoundError(f"no index in {index_dir}; build it with: jmqa index")
    name = pointer.read_text(encoding="utf-8").strip()
    folder = index_dir / name
    if not name or not re.fullmatch(r"snapshot-[\w-]+", name) or not folder.is_dir():
        raise IndexCorruptedError(f"{pointer} names a missing snapshot {name!r}; {REBUILD_HINT}")
    return folder


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptedError(f"index manifest in {folder} is missing or unreadable ({exc}); {REBUILD_HINT}") from exc
    if not isinstance(manifest, dict):
        raise IndexCorruptedError(f"index manifest in {folder} is not a JSON object; {REBUILD_HINT}")
    return manifest


def verify_checksums(folder: Path, manifest: dict[str, Any]) -> None:
    expected = manifest.get("checksums")
    if not isinstance(expected, dict) or not expected:
        raise IndexCorruptedError(f"index manifest in {folder} has no checksums; {REBUILD_HINT}")
    actual = _checksums(folder)
    for name, digest in expected.items():
        if actual.get(name) != digest:
            state = "missing" if name not in actual else "changed since it was written"
            raise IndexCorruptedError(f"index file {folder / name} is {state}; {REBUILD_HINT}")


# ---------------------------------------------------------------- file helpers


def _checksums(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != _MANIFEST:
            h = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[path.relative_to(folder).as_posix()] = h.hexdigest()
    return out


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())


def _remove_old_snapshots(index_dir: Path, keep: str) -> None:
    """Drop snapshots other than `keep`, and partial builds left by a crash."""
    for path in index_dir.iterdir():
        if not path.is_dir() or path.name == keep:
            continue
        # another process may be writing a partial build right now: only clear old ones
        stale_partial = path.name.endswith(".partial") and time.time() - path.stat().st_mtime > 3600
        if path.name.startswith("snapshot-") or stale_partial:
            shutil.rmtree(path, ignore_errors=True)


def load_or_build(
    docs: list[Document],
    index_dir: Path,
    embedder: Embedder,
    *,
    chunk_size: int,
    chunk_overlap: int,
    show_progress: bool = False,
    rebuild: bool = False,
) -> tuple[Index, str]:
    """The index for `docs`: loaded when current, (re)built when missing, stale or asked to.

    Returns the index and what happened ("loaded", "built", "rebuilt: <why>"). A corrupted index is
    not silently replaced: IndexCorruptedError says how to rebuild it.
    """
    reason = "asked to rebuild" if rebuild else None
    if not rebuild:
        try:
            index = Index.load(index_dir)
        except IndexNotFoundError:
            reason = "no index yet"
        else:
            reason = staleness(index.manifest, docs, embedding_model=embedder.model_id,
                               chunk_size=chunk_size, chunk_overlap=chunk_overlap)
            if reason is None:
                return index, "loaded"
            log.info("index in %s is stale: %s; rebuilding", index_dir, reason)
    index = Index.build(docs, embedder, chunk_size=chunk_size, chunk_overlap=chunk_overlap, show_progress=show_progress)
    index.save(index_dir)
    return index, f"built ({reason})"
