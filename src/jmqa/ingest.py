"""Corpus files -> Documents: read .txt/.md files, drop page boilerplate, give each a stable id."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from .errors import CorpusError
from .types import Document

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md")
MAX_FILE_BYTES = 20_000_000

# Lines that web pages end with and that carry no content of their own.
_TRAILING_BOILERPLATE = re.compile(
    r"^\s*(related links?|share( this)?|print|back to top|tags?|see also|read more|top)\s*[:>»]*\s*$",
    re.IGNORECASE,
)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def clean_text(text: str) -> str:
    """Normalise line endings, strip trailing blanks and drop content-free boilerplate lines at the end."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and (not lines[-1].strip() or _TRAILING_BOILERPLATE.match(lines[-1])):
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def title_for(path: Path, text: str) -> str:
    """A markdown file's first `# heading`, else the file name made readable."""
    if path.suffix.lower() == ".md":
        m = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
        if m:
            return m.group(1).strip()
    words = re.sub(r"[_\-]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else path.name


def read_document(path: Path, root: Path | None = None) -> Document | None:
    """Read one file; None (with a warning naming the file) when it cannot be used."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            log.warning("skipping %s: %d bytes is over the %d-byte limit", path, size, MAX_FILE_BYTES)
            return None
        raw = path.read_bytes()
    except OSError as exc:
        log.warning("skipping %s: cannot read it (%s)", path, exc.strerror or exc)
        return None
    if b"\x00" in raw:
        log.warning("skipping %s: it looks binary, not text", path)
        return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        log.warning("skipping %s: not UTF-8 (%s); convert it with e.g. `iconv -t utf-8`", path, exc.reason)
        return None
    text = clean_text(decoded)
    if not text.strip():
        log.warning("skipping %s: no text", path)
        return None
    rel = str(path.relative_to(root)) if root is not None else str(path)
    return Document(doc_id=content_hash(text)[:16], title=title_for(path, text), text=text, path=rel)


def iter_corpus_files(corpus_dir: Path) -> Iterator[Path]:
    """Every .txt/.md file below `corpus_dir`, in a stable order; follows no symlinked folders (no loops)."""
    for dirpath, dirnames, filenames in os.walk(corpus_dir, followlinks=False, onerror=_warn_walk_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                continue
            yield Path(dirpath) / name


def _warn_walk_error(exc: OSError) -> None:
    log.warning("skipping %s: cannot list it (%s)", exc.filename, exc.strerror or exc)


def load_corpus(corpus_dir: Path) -> list[Document]:
    """All readable documents of a corpus folder. Raises CorpusError when there are none."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist; create it and put .txt or .md files in it")
    docs: list[Document] = []
    seen: set[str] = set()
    for path in iter_corpus_files(corpus_dir):
        doc = read_document(path, root=corpus_dir)
        if doc is None:
            continue
        if doc.doc_id in seen:
            log.warning("skipping %s: same text as a file already read", path)
            continue
        seen.add(doc.doc_id)
        docs.append(doc)
    if not docs:
        raise CorpusError(
            f"corpus folder {corpus_dir} holds no readable .txt or .md file; add UTF-8 text files to it"
        )
    return docs
