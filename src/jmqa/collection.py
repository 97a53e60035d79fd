"""The corpus folder as a collection a person manages: list its documents, add files to it, remove one.

Adding checks each file as indexing would (name, type, size, readable text, not already in the corpus)
before anything is written, writes the good ones under a plain name and says why each other one was not
added; nothing already in the corpus is touched. Updating the index afterwards is the caller's job
(`Assistant.add_documents` does both)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInputError
from .ingest import MAX_FILE_BYTES, SUFFIXES, read_file, safe_file_name
from .types import Document


@dataclass(frozen=True)
class Entry:
    """One document of the corpus as the Documents panel and `jmqa documents` list it."""

    name: str  # path inside the corpus folder
    title: str
    kind: str  # "PDF", "DOCX", "HTML", "MD", "TXT"
    size: int  # bytes on disk
    added: float  # the file's modification time (seconds since the epoch)
    passages: int


@dataclass(frozen=True)
class Added:
    """What `add_files` did: the names written into the corpus and (name, reason) for each file it left out."""

    added: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()

    def summary(self) -> str:
        lines = [f"added {name}" for name in self.added]
        lines += [f"not added {name}: {reason}" for name, reason in self.skipped]
        return "\n".join(lines) or "no files given"


def entries(corpus_dir: Path, documents: Mapping[str, Document], passages: Mapping[str, int]) -> list[Entry]:
    """The indexed documents, by name: `documents` by id (Index.documents), `passages` chunk counts by id."""
    out = []
    for doc in documents.values():
        try:
            stat = (Path(corpus_dir) / doc.path).stat()
            size, added = stat.st_size, stat.st_mtime
        except OSError:  # removed since it was indexed
            size, added = 0, 0.0
        kind = Path(doc.path).suffix.lstrip(".").upper() or "TXT"
        out.append(Entry(doc.path, doc.title, "HTML" if kind == "HTM" else kind, size, added,
                         passages.get(doc.doc_id, 0)))
    return sorted(out, key=lambda e: e.name.casefold())


def add_files(corpus_dir: Path, files: Sequence[Path | str], *, known: Mapping[str, str] | None = None,
              names: Sequence[str] | None = None, max_bytes: int = MAX_FILE_BYTES) -> Added:
    """Copy each readable file of `files` into `corpus_dir`. `known` maps the doc ids already in the corpus
    to their names (so the same text is not added twice); `names` are the names the files were uploaded
    under (default: their own), made plain by `safe_file_name`. A name already taken gets " (2)" etc."""
    corpus_dir = Path(corpus_dir)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    seen = dict(known or {})
    added: list[str] = []
    skipped: list[tuple[str, str]] = []
    for i, source in enumerate(files):
        source = Path(source)
        given = names[i] if names is not None and i < len(names) else source.name
        try:
            name = safe_file_name(given)
            doc = read_file(source, name=name, max_bytes=max_bytes)
        except (ValueError, BadInputError) as exc:
            skipped.append((str(given), str(exc)))
            continue
        if doc.doc_id in seen:
            skipped.append((name, f"same text as {seen[doc.doc_id]}, which is already in the corpus; not added twice"))
            continue
        target = _free_name(corpus_dir, name)
        _copy_atomic(source, target)
        seen[doc.doc_id] = target.name
        added.append(target.name)
    return Added(tuple(added), tuple(skipped))


def remove_file(corpus_dir: Path, name: str) -> str:
    """Delete the document `name` (a path inside the corpus folder, as `entries` lists it); returns it.
    BadInputError when it is not a document of the corpus; nothing outside the folder is ever touched."""
    corpus_dir = Path(corpus_dir).resolve()
    target = (corpus_dir / name).resolve()
    if corpus_dir not in target.parents or target.suffix.lower() not in SUFFIXES or not target.is_file():
        raise BadInputError(f"{name!r} is not a document of the corpus in {corpus_dir}; "
                            "`jmqa documents` lists the names you can remove")
    target.unlink()
    return str(target.relative_to(corpus_dir))


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 2
    while target.exists():
        target = folder / f"{stem} ({n}){suffix}"
        n += 1
    return target


def _copy_atomic(source: Path, target: Path) -> None:
    """Copy to a hidden temporary file beside the target (indexing skips hidden files), then rename:
    a reader of the folder sees the whole file or none of it."""
    fd, tmp = tempfile.mkstemp(prefix=".adding-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
