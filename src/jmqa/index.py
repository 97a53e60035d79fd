"""Chunks -> a dense (FAISS) and a lexical (BM25) index on disk, with a manifest that says what built it.

On disk, `index_dir/` holds snapshot folders and a `CURRENT` file naming the live one. A build writes
a new snapshot, then swaps `CURRENT` with an atomic rename, so a crash mid-build leaves the previous
index loadable and a reader never sees half an index.

Updates are incremental: each chunk keeps a stable int64 id (its FAISS id, stored in chunks.jsonl), and
a corpus change re-embeds only the added or changed documents; the vectors of the others are copied
from the previous index, and so are their BM25 term counts (only new chunks are tokenized).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import chunk, embedding_text
from .embedding import Embedder
from .errors import CorpusError, IndexCorruptedError, IndexNotFoundError
from .evidence import chunk_terms
from .lexical import LexicalIndex
from .snapshot import (
    CURRENT,
    FORMAT_VERSION,
    MANIFEST,
    REBUILD_HINT,
    checksums,
    current_snapshot,
    fsync_tree,
    read_jsonl,
    read_manifest,
    rebuild_reason,
    remove_old_snapshots,
    staleness,
    verify_checksums,
    write_atomic,
    write_rows,
)
from .types import Chunk, Document

log = logging.getLogger(__name__)

_DENSE = "dense.faiss"
_CHUNKS = "chunks.jsonl"
_DOCUMENTS = "documents.jsonl"
_LEXICAL = "lexical"
_TERMS = "terms.json"
_ROW_ID = re.compile(rb'\{"id": (\d+),')  # how every chunks.jsonl row starts
_DOC_ID = re.compile(rb'\{"doc_id": "(\w+)",')  # and every documents.jsonl row
# Exact search up to this many chunks; above it, IVF (docs/benchmarks.md, "Dense retrieval at scale":
# exact p95 is 16-19 ms at 100k chunks on 2 busy cores and 115-150 ms at 1M).
EXACT_UP_TO = 50_000
# IVF cells visited per query, as a share of all cells (sqrt(n) cells): on the synthetic benchmark this
# is the least that keeps recall@10 >= 0.98 at 1M chunks (0.9785 at 0.38, 0.991 at 0.51; 1.0 at 100k).
IVF_PROBE_SHARE = 0.4
PARALLEL_SEARCH_FROM = 200_000  # chunks from which one query's IVF search uses every thread


# ---------------------------------------------------------------- corpus changes (pure)


@dataclass(frozen=True)
class IndexChanges:
    """What an index build did to each document (by path), and how many chunks it embedded."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    embedded_chunks: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        """e.g. "1 added (new.txt), 0 updated, 0 removed, 3 unchanged; 4 chunks embedded"."""
        parts = []
        for label, names in (("added", self.added), ("updated", self.updated), ("removed", self.removed)):
            shown = f" ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})" if names else ""
            parts.append(f"{len(names)} {label}{shown}")
        parts.append(f"{len(self.unchanged)} unchanged")
        return ", ".join(parts) + f"; {self.embedded_chunks} chunks embedded"


def diff_corpus(built: dict[str, str], docs: list[Document]) -> IndexChanges:
    """Compare the manifest's {path: content-hash doc_id} with the corpus now."""
    now = {d.path or d.doc_id: d.doc_id for d in docs}
    return IndexChanges(
        added=tuple(sorted(set(now) - set(built))),
        updated=tuple(sorted(p for p in set(now) & set(built) if now[p] != built[p])),
        removed=tuple(sorted(set(built) - set(now))),
        unchanged=tuple(sorted(p for p in set(now) & set(built) if now[p] == built[p])),
    )


# ---------------------------------------------------------------- the index


@dataclass
class Index:
    """The searchable corpus: chunks, their documents, a FAISS inner-product index of normalised
    chunk vectors (FAISS id ids[i] = chunks[i]) and a BM25 index over the same rows (row i = chunks[i]).
    Searches return positions i into `chunks`."""

    chunks: list[Chunk]
    documents: dict[str, Document]
    dense: Any
    lexical: LexicalIndex
    manifest: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    ids: list[int] = field(default_factory=list)
    changes: IndexChanges = field(default_factory=IndexChanges)
    _term_counts: dict[str, int] | None = None
    _previous: Path | None = None  # the snapshot an update came from: its rows of kept chunks are copied on save

    def __post_init__(self) -> None:
        if not self.ids:  # an index without stable ids (format 1): FAISS ids are positions
            self.ids = list(range(len(self.chunks)))
        self._position = {cid: i for i, cid in enumerate(self.ids)}

    @property
    def term_counts(self) -> dict[str, int]:
        """How many chunks use each stem (for idf weights): kept in the snapshot, updated with the chunks,
        counted here only for a snapshot written before it was kept (~15 s at 100k chunks)."""
        if self._term_counts is None:
            self._term_counts = count_terms(self.chunks)
        return self._term_counts

    @classmethod
    def build(
        cls,
        docs: list[Document],
        embedder: Embedder,
        *,
        chunk_size: int,
        chunk_overlap: int,
        show_progress: bool = False,
        previous: Index | None = None,
    ) -> Index:
        """Index `docs`. With `previous` (built with the same model and chunking), only documents that
        are new or changed since then are chunked and embedded; the others keep their chunks, ids and
        vectors. Chunks come in corpus order either way, so the result equals a full build."""
        built = previous.manifest.get("documents", {}) if previous is not None else {}
        changes = diff_corpus(built, docs)
        kept_docs = set(changes.unchanged)
        old: dict[str, list[tuple[int, Chunk]]] = {}
        if previous is not None:
            for cid, c in zip(previous.ids, previous.chunks):
                old.setdefault(c.doc_id, []).append((cid, c))
        next_id = int(previous.manifest.get("next_id", max(previous.ids, default=-1) + 1)) if previous is not None else 0
        chunks: list[Chunk] = []
        ids: list[int] = []
        fresh: list[int] = []  # positions of chunks to embed
        for d in docs:
            if (d.path or d.doc_id) in kept_docs and d.doc_id in old:
                for cid, c in old[d.doc_id]:
                    chunks.append(c)
                    ids.append(cid)
            else:
                for c in chunk(d, size=chunk_size, overlap=chunk_overlap):
                    fresh.append(len(chunks))
                    chunks.append(c)
                    ids.append(next_id)
                    next_id += 1
        new_vectors = None
        fresh_texts = [embedding_text(chunks[i]) for i in fresh]  # embedded, and tokenized for BM25
        if fresh or previous is None:  # the embedder (and its model) is touched only when there is text to embed
            new_vectors = embedder.encode(fresh_texts, show_progress=show_progress)
            dim = int(new_vectors.shape[1])
        else:
            dim = int(previous.manifest.get("embedding_dim") or previous.dense.d)
        vectors = np.zeros((len(chunks), dim), dtype=np.float32)
        if fresh:
            vectors[fresh] = new_vectors
        fresh_set = set(fresh)
        kept = [i for i in range(len(chunks)) if i not in fresh_set]
        if kept and previous is not None:
            vectors[kept] = previous.dense.reconstruct_batch(np.asarray([ids[i] for i in kept], dtype=np.int64))
        dense = dense_index(vectors, np.asarray(ids, dtype=np.int64))
        if previous is not None and previous._term_counts is not None:  # the counts change with the chunks
            kept_ids = set(ids)
            dropped = [c for cid, c in zip(previous.ids, previous.chunks) if cid not in kept_ids]
            term_counts = update_counts(previous._term_counts, removed=dropped, added=[chunks[i] for i in fresh])
        else:
            term_counts = count_terms(chunks)
        if previous is not None and len(previous.lexical) == len(previous.chunks):
            kept_rows = [None if i in fresh_set else previous._position[cid] for i, cid in enumerate(ids)]
            lexical = previous.lexical.updated(kept_rows, fresh_texts)
        else:
            lexical = LexicalIndex.build([embedding_text(c) for c in chunks])
        manifest = {
            "format_version": FORMAT_VERSION,
            "embedding_model": embedder.model_id,
            "embedding_dim": dim,
            "chunking": {"size": chunk_size, "overlap": chunk_overlap},
            "documents": {d.path or d.doc_id: d.doc_id for d in docs},
            "n_chunks": len(chunks),
            "next_id": next_id,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return cls(
            chunks=chunks,
            documents={d.doc_id: d for d in docs},
            dense=dense,
            lexical=lexical,
            manifest=manifest,
            ids=ids,
            changes=IndexChanges(changes.added, changes.updated, changes.removed, changes.unchanged, len(fresh)),
            _term_counts=term_counts,
            _previous=previous.path if previous is not None else None,
        )

    @property
    def dense_kind(self) -> str:
        """"exact" or "ivf" (approximate), for status lines and tests."""
        import faiss

        inner = faiss.downcast_index(self.dense.index) if hasattr(self.dense, "index") else self.dense
        return "ivf" if isinstance(inner, faiss.IndexIVF) else "exact"

    # ------------------------------------------------------------ search

    def search_dense(self, query_vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        if not self.chunks:
            return []
        q = np.asarray(query_vector, dtype=np.float32).reshape(1, -1)
        scores, ids = self.dense.search(q, min(n, len(self.chunks)))
        return [(self._position[int(i)], float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

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
            # the rows of kept chunks and documents are copied from the previous snapshot, as bytes
            rows = {int(m.group(1)): line for line in self._stored_lines(_CHUNKS) if (m := _ROW_ID.match(line))}
            write_rows(tmp / _CHUNKS, (rows.get(cid) or _row({"id": cid, **c.to_dict()})
                                        for cid, c in zip(self.ids, self.chunks)))
            docs = {m.group(1).decode(): line for line in self._stored_lines(_DOCUMENTS) if (m := _DOC_ID.match(line))}
            write_rows(tmp / _DOCUMENTS, (_same_document(docs.get(d.doc_id), d) or _row(d.to_dict())
                                           for d in self.documents.values()))
            self.lexical.save(tmp / _LEXICAL)
            (tmp / _TERMS).write_text(json.dumps(self.term_counts, ensure_ascii=False), encoding="utf-8")
            manifest = dict(self.manifest, checksums=checksums(tmp))
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
            fsync_tree(tmp)
            os.replace(tmp, index_dir / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        write_atomic(index_dir / CURRENT, name + "\n")
        self.manifest, self.path = manifest, index_dir / name
        remove_old_snapshots(index_dir, keep=name)
        return index_dir / name

    def _stored_lines(self, name: str) -> list[bytes]:
        """The lines of file `name` in the snapshot this index was updated from, when that file is still as
        written (its checksum in that manifest); else none. Chunk ids are never reused, and a document id is
        its text's hash, so a kept chunk's or document's line there is still right."""
        if self._previous is None:
            return []
        try:
            data = (self._previous / name).read_bytes()
            expected = read_manifest(self._previous).get("checksums", {}).get(name)
        except (OSError, IndexCorruptedError):
            return []
        return data.splitlines() if hashlib.sha256(data).hexdigest() == expected else []

    @classmethod
    def load(cls, index_dir: Path) -> Index:
        """Load the current snapshot; IndexNotFoundError if there is none, IndexCorruptedError if it fails its checks."""
        import faiss

        folder = current_snapshot(index_dir)
        manifest = read_manifest(folder)
        verify_checksums(folder, manifest)
        try:
            rows = read_jsonl(folder / _CHUNKS)
            ids = [int(row.pop("id", i)) for i, row in enumerate(rows)]
            chunks = [Chunk.from_dict(row) for row in rows]
            documents = {d["doc_id"]: Document.from_dict(d) for d in read_jsonl(folder / _DOCUMENTS)}
            dense = search_in_parallel(faiss.read_index(str(folder / _DENSE)))
            if LexicalIndex.saved_in(folder / _LEXICAL):
                lexical = LexicalIndex.load(folder / _LEXICAL)
            else:  # written by jmqa 0.1 with bm25s' files: count the terms again (no model needed)
                log.info("index at %s keeps BM25 in an older form; counting its terms again", folder)
                lexical = LexicalIndex.build([embedding_text(c) for c in chunks])
            term_counts = json.loads((folder / _TERMS).read_text(encoding="utf-8")) if (folder / _TERMS).is_file() else None
        except Exception as exc:  # noqa: BLE001 - any unreadable part means a corrupted index
            raise IndexCorruptedError(f"index at {folder} cannot be read ({exc}); {REBUILD_HINT}") from exc
        if dense.ntotal != len(chunks) or manifest.get("n_chunks") != len(chunks):
            raise IndexCorruptedError(
                f"index at {folder} is inconsistent ({dense.ntotal} vectors, {len(chunks)} chunks); {REBUILD_HINT}"
            )
        return cls(chunks=chunks, documents=documents, dense=dense, lexical=lexical, manifest=manifest, path=folder,
                   ids=ids, changes=IndexChanges(unchanged=tuple(sorted(manifest.get("documents", {})))),
                   _term_counts=term_counts)


def count_terms(chunks: list[Chunk]) -> dict[str, int]:
    """{stem: number of chunks that use it}."""
    return update_counts({}, removed=[], added=chunks)


def update_counts(counts: dict[str, int], *, removed: list[Chunk], added: list[Chunk]) -> dict[str, int]:
    """Term counts after `removed` chunks leave and `added` ones come: chunk frequencies add up."""
    out = Counter(counts)
    for c in removed:
        out.subtract(chunk_terms(c))
    for c in added:
        out.update(chunk_terms(c))
    return {t: n for t, n in out.items() if n > 0}


def dense_index(vectors: np.ndarray, ids: np.ndarray, *, exact_up_to: int | None = None) -> Any:
    """A FAISS inner-product index over `vectors` under the stable `ids`: exact (flat) for small
    corpora, IVF above `exact_up_to` chunks. Either way it can hand back a stored vector by id
    (`reconstruct`), which is how an update keeps the vectors of unchanged documents."""
    import faiss

    n, dim = vectors.shape
    limit = EXACT_UP_TO if exact_up_to is None else exact_up_to
    if n <= limit:
        dense = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        dense.add_with_ids(vectors, ids)
        return dense
    nlist = int(np.sqrt(n))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors[np.random.default_rng(0).choice(n, min(n, 50 * nlist), replace=False)])
    ivf.nprobe = min(nlist, max(16, round(IVF_PROBE_SHARE * nlist)))
    dense = faiss.IndexIDMap2(ivf)
    dense.add_with_ids(vectors, ids)
    ivf.make_direct_map()  # so stored vectors can be read back by id
    return search_in_parallel(dense)


def search_in_parallel(dense: Any) -> Any:
    """A large IVF index searches one query's cells on all threads (FAISS's default splits the
    queries, which leaves one question on one core): at 1M chunks p95 50 ms -> 30 ms on 2 cores.
    Smaller ones keep the default, whose order of tied scores does not depend on threads. Not stored
    in the index file, so it is set after every build and load."""
    import faiss

    inner = faiss.downcast_index(dense.index) if hasattr(dense, "index") else dense
    if isinstance(inner, faiss.IndexIVF) and inner.ntotal >= PARALLEL_SEARCH_FROM:
        inner.parallel_mode = 1
    return dense


# ---------------------------------------------------------------- rows


def _row(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def _same_document(line: bytes | None, doc: Document) -> bytes | None:
    """A stored documents.jsonl line, if it is `doc`'s: same text (id) and path (so the same title)."""
    start = _row({"doc_id": doc.doc_id, "path": doc.path})[:-1] + b", "
    return line if line is not None and line.startswith(start) else None


def load_or_build(
    docs: list[Document],
    index_dir: Path,
    embedder: Embedder,
    *,
    chunk_size: int,
    chunk_overlap: int,
    show_progress: bool = False,
    rebuild: bool = False,
    current: Index | None = None,
) -> tuple[Index, str]:
    """The index for `docs`: loaded when current, updated when only the corpus changed, (re)built when
    missing, built with another model, chunking or format, or asked to.

    Returns the index and what happened ("loaded", "updated (<why>)", "built (<why>)"); `index.changes`
    says which documents were added, updated, removed and unchanged. When nothing changed the embedder
    is not used at all. A corrupted index is not silently replaced: IndexCorruptedError says how to rebuild it.
    `current` is the index already in memory (`jmqa index --watch`): when it is still the live snapshot,
    it is not read from disk again.
    """
    reason = "asked to rebuild" if rebuild else None
    previous = None
    if not rebuild:
        try:
            index = current if _is_current(current, index_dir) else Index.load(index_dir)
        except IndexNotFoundError:
            reason = "no index yet"
        else:
            reason = staleness(index.manifest, docs, embedding_model=embedder.model_id,
                               chunk_size=chunk_size, chunk_overlap=chunk_overlap)
            if reason is None:
                if index.path is not None and not LexicalIndex.saved_in(index.path / _LEXICAL):
                    index.save(index_dir)  # once, so that later loads read the term counts
                    return index, "loaded (BM25 part rewritten in the current form)"
                return index, "loaded"
            if rebuild_reason(index.manifest, embedding_model=embedder.model_id,
                              chunk_size=chunk_size, chunk_overlap=chunk_overlap) is None:
                previous = index
            log.info("index in %s is stale: %s; %s", index_dir, reason, "updating" if previous else "rebuilding")
    index = Index.build(docs, embedder, chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                        show_progress=show_progress, previous=previous)
    index.save(index_dir)
    return index, f"{'updated' if previous is not None else 'built'} ({reason})"


def _is_current(index: Index | None, index_dir: Path) -> bool:
    """Whether `index` (in memory) is the snapshot `index_dir` names now, so it need not be read again."""
    if index is None or index.path is None:
        return False
    try:
        return current_snapshot(index_dir) == index.path
    except (IndexNotFoundError, IndexCorruptedError):
        return False


def watch(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    *,
    chunk_size: int,
    chunk_overlap: int,
    interval: float = 2.0,
    polls: int | None = None,
    max_bytes: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[tuple[Index, str]]:
    """Poll `corpus_dir` every `interval` seconds (`polls` times, or until interrupted) and update the
    index when the corpus changes; yields (index, status) for the first poll and for each update.
    A file left out is warned about once, not at every poll."""
    from .ingest import scan_corpus

    index: Index | None = None
    warned: set[str] = set()
    done = 0
    while polls is None or done < polls:
        if done:
            sleep(interval)
        done += 1
        scan = scan_corpus(corpus_dir, max_bytes=max_bytes)
        for skipped in scan.skipped:
            if skipped.reason not in warned:
                log.warning("not indexed: %s", skipped.reason)
        warned = {s.reason for s in scan.skipped}
        if not scan.docs:
            raise CorpusError(f"corpus folder {corpus_dir} holds no readable document; add files with text to it")
        if index is not None and not diff_corpus(index.manifest.get("documents", {}), scan.docs).changed:
            continue
        index, status = load_or_build(scan.docs, index_dir, embedder, chunk_size=chunk_size,
                                      chunk_overlap=chunk_overlap, current=index)
        yield index, status
