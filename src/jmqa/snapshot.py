"""The index's files on disk: `index_dir/CURRENT` names the live snapshot folder; each snapshot's manifest says
what built it and holds a checksum of every file. Reading them checks them (a damaged index is an error that
says how to rebuild); writing is crash-safe (fsync, atomic rename), and old snapshots are cleared."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .errors import IndexCorruptedError, IndexNotFoundError
from .types import Document

FORMAT_VERSION = 3  # 2: FAISS IndexIDMap2 with stable chunk ids ("id" in chunks.jsonl); 3: term counts of words in every alphabet (evidence.words)
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
REBUILD_HINT = "rebuild it with: jmqa index --rebuild"


# ---------------------------------------------------------------- manifest checks (pure)


def rebuild_reason(manifest: dict[str, Any], *, embedding_model: str, chunk_size: int, chunk_overlap: int) -> str | None:
    """Why an index cannot be updated in place (format, model or chunking changed), or None."""
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"index format {manifest.get('format_version')} is not the current format {FORMAT_VERSION}"
    if manifest.get("embedding_model") != embedding_model:
        return f"embedding model changed ({manifest.get('embedding_model')} -> {embedding_model})"
    if manifest.get("chunking") != {"size": chunk_size, "overlap": chunk_overlap}:
        return f"chunking changed ({manifest.get('chunking')} -> size={chunk_size}, overlap={chunk_overlap})"
    return None


def staleness(manifest: dict[str, Any], docs: list[Document], *, embedding_model: str, chunk_size: int, chunk_overlap: int) -> str | None:
    """Why an index no longer matches the corpus and settings, or None when it does."""
    reason = rebuild_reason(manifest, embedding_model=embedding_model, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    if reason is not None:
        return reason
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
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptedError(f"index manifest in {folder} is missing or unreadable ({exc}); {REBUILD_HINT}") from exc
    if not isinstance(manifest, dict):
        raise IndexCorruptedError(f"index manifest in {folder} is not a JSON object; {REBUILD_HINT}")
    return manifest


def verify_checksums(folder: Path, manifest: dict[str, Any]) -> None:
    expected = manifest.get("checksums")
    if not isinstance(expected, dict) or not expected:
        raise IndexCorruptedError(f"index manifest in {folder} has no checksums; {REBUILD_HINT}")
    try:
        actual = checksums(folder)
    except OSError as exc:  # e.g. the snapshot was replaced and removed while it was being read
        raise IndexCorruptedError(f"index at {folder} cannot be read ({exc}); {REBUILD_HINT}") from exc
    for name, digest in expected.items():
        if actual.get(name) != digest:
            state = "missing" if name not in actual else "changed since it was written"
            raise IndexCorruptedError(f"index file {folder / name} is {state}; {REBUILD_HINT}")


# ---------------------------------------------------------------- crash-safe files


def checksums(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            h = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[path.relative_to(folder).as_posix()] = h.hexdigest()
    return out


def write_rows(path: Path, rows) -> None:
    with path.open("wb") as f:
        f.writelines(row + b"\n" for row in rows)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_atomic(path: Path, text: str) -> None:
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


def fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())


def remove_old_snapshots(index_dir: Path, keep: str) -> None:
    """Drop snapshots other than `keep`, and partial builds left by a crash."""
    for path in index_dir.iterdir():
        if not path.is_dir() or path.name == keep:
            continue
        # another process may be writing a partial build right now: only clear old ones
        stale_partial = path.name.endswith(".partial") and time.time() - path.stat().st_mtime > 3600
        if path.name.startswith("snapshot-") or stale_partial:
            shutil.rmtree(path, ignore_errors=True)
