"""Corpus files -> Documents: find the files of a corpus folder, read each (jmqa.formats), give each a
stable id, and say why each file left out was left out."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadInputError, CorpusError
from .formats import (SUFFIXES, UnreadableFile, check_suffix, clean_text, extract, markdown_title, megabytes,
                      supported_types)
from .types import Document

__all__ = [
    "MAX_FILE_BYTES", "SUFFIXES", "CorpusScan", "Skipped", "UnreadableFile", "clean_text", "content_hash",
    "iter_corpus_files", "load_corpus", "read_document", "read_file", "safe_file_name", "scan_corpus", "title_for",
]

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50_000_000  # a bigger file is skipped unread (JMQA_MAX_FILE_MB)
_MAX_NAME_BYTES = 255  # the longest file name most file systems take
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])  # can disguise an extension


@dataclass(frozen=True)
class Skipped:
    """A file of the corpus folder that was not indexed; `reason` is a sentence naming it and saying why."""

    path: str
    reason: str


@dataclass(frozen=True)
class CorpusScan:
    """What a corpus folder holds: the documents read and the files left out."""

    docs: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def title_for(path: Path, text: str = "") -> str:
    """A markdown file's first `# heading`, else the file name made readable."""
    if path.suffix.lower() == ".md" and (heading := markdown_title(text)):
        return heading
    words = re.sub(r"[_\-]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else path.name


def read_file(path: Path, *, name: str | None = None, root: Path | None = None,
              max_bytes: int | None = None) -> Document:
    """Read one file into a Document named `name` (default: its path below `root`, or the path itself).
    UnreadableFile, with a message naming the file, when it cannot be used; a file over `max_bytes`
    (default MAX_FILE_BYTES) is not read at all."""
    path = Path(path)
    if name is None:
        name = str(path.relative_to(root)) if root is not None else str(path)
    limit = MAX_FILE_BYTES if max_bytes is None else max_bytes
    check_suffix(name)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # reading a pipe or a device could block or never end
            raise UnreadableFile(f"{name} is not a regular file (a pipe or a device?); not read")
        size = info.st_size
        if size > limit:
            raise UnreadableFile(f"{name} is {megabytes(size)} MB, over the {megabytes(limit)} MB limit; "
                                 "split it, or raise the limit with JMQA_MAX_FILE_MB")
        raw = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"{name} cannot be read ({exc.strerror or exc}); check that it exists "
                             "and that you may read it") from None
    found = extract(name, raw)
    return Document(doc_id=content_hash(found.text)[:16], title=found.title or title_for(Path(name)),
                    text=found.text, path=name, places=found.places)


def read_document(path: Path, root: Path | None = None) -> Document | None:
    """Read one file; None (with a warning naming the file and why) when it cannot be used."""
    try:
        return read_file(path, root=root)
    except UnreadableFile as exc:
        log.warning("not indexed: %s", exc)
        return None


def iter_corpus_files(corpus_dir: Path) -> Iterator[Path]:
    """Every file of a supported type below `corpus_dir`, in a stable order (hidden ones left out)."""
    for path in _visible_files(Path(corpus_dir), _warn_walk_error):
        if path.name.lower().endswith(SUFFIXES):
            yield path


def _visible_files(corpus_dir: Path, on_error: Callable[[OSError], None]) -> Iterator[Path]:
    """Every file below `corpus_dir` but hidden ones (and those in hidden folders), in a stable order;
    follows no symlinked folders (no loops)."""
    for dirpath, dirnames, filenames in os.walk(corpus_dir, followlinks=False, onerror=on_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _warn_walk_error(exc: OSError) -> None:
    log.warning("not indexed: %s cannot be listed (%s)", exc.filename, exc.strerror or exc)


def scan_corpus(corpus_dir: Path, *, max_bytes: int | None = None) -> CorpusScan:
    """The documents of a corpus folder and each file left out with its reason (an unsupported type,
    too big, unreadable, no text, the same text as another file). CorpusError when the folder is missing."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist; create it and put {supported_types()} "
                          "files in it")
    scan = CorpusScan()

    def unlisted(exc: OSError) -> None:
        path = str(Path(exc.filename).relative_to(corpus_dir)) if exc.filename else str(corpus_dir)
        scan.skipped.append(Skipped(path, f"{path} cannot be listed ({exc.strerror or exc})"))

    first_with: dict[str, str] = {}  # doc_id -> the path of the file that had that text first
    for path in _visible_files(corpus_dir, unlisted):
        rel = str(path.relative_to(corpus_dir))
        try:
            doc = read_file(path, name=rel, max_bytes=max_bytes)
        except UnreadableFile as exc:
            scan.skipped.append(Skipped(rel, str(exc)))
            continue
        if doc.doc_id in first_with:
            scan.skipped.append(Skipped(rel, f"{rel} has the same text as {first_with[doc.doc_id]}; not indexed twice"))
            continue
        first_with[doc.doc_id] = rel
        scan.docs.append(doc)
    return scan


def load_corpus(corpus_dir: Path, *, max_bytes: int | None = None) -> list[Document]:
    """All readable documents of a corpus folder; one warning per file left out, naming it and why.
    Raises CorpusError when there are none."""
    scan = scan_corpus(corpus_dir, max_bytes=max_bytes)
    for skipped in scan.skipped:
        log.warning("not indexed: %s", skipped.reason)
    if not scan.docs:
        left_out = f" ({len(scan.skipped)} files left out, see the warnings)" if scan.skipped else ""
        raise CorpusError(f"corpus folder {corpus_dir} holds no readable document{left_out}; "
                          f"add {supported_types()} files with text to it")
    return scan.docs


def safe_file_name(name: str) -> str:
    """An uploaded file's name as a plain file name: no folder parts (/ or \\), no control characters,
    its extension kept. BadInputError (a ValueError) when no usable name is left or it would be hidden."""
    name = "".join(c for c in str(name) if unicodedata.category(c) != "Cc").translate(_BIDI_CONTROLS)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in ("", ".", ".."):
        raise BadInputError(f"the file name {name!r} names no file; give the file a name such as notes.pdf")
    if name.startswith("."):
        raise BadInputError(f"the file name {name!r} starts with a dot, which hides the file from indexing; "
                            "rename it without the leading dot")
    return _shorten(name)


def _shorten(name: str) -> str:
    """`name` cut to the length file systems allow, the extension kept."""
    if len(name.encode("utf-8")) <= _MAX_NAME_BYTES:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix) > 16:
        stem, dot, suffix = name, "", ""
    room = _MAX_NAME_BYTES - len((dot + suffix).encode("utf-8"))
    return stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip() + dot + suffix
