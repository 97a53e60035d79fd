"""The bytes of one file -> its plain text, where each part of it sits (page, section) and its title.

One reader per file type (.txt, .md, .pdf, .docx, .html/.htm). A file that cannot be used raises
UnreadableFile with a sentence that names the file, says what is wrong and what to do about it.
"""

from __future__ import annotations

from pathlib import PurePath

from .base import Extracted, UnreadableFile, megabytes
from .docx import read_docx
from .html import read_html
from .pdf import read_pdf
from .text import clean_text, markdown_title, read_plain

__all__ = ["SUFFIXES", "Extracted", "UnreadableFile", "check_suffix", "clean_text", "extract", "markdown_title",
           "megabytes", "supported_types"]

SUFFIXES = (".txt", ".md", ".pdf", ".docx", ".html", ".htm")

MAX_UNPACKED_BYTES = 200_000_000  # a .docx that unpacks to more is refused (a zip bomb?)


def supported_types() -> str:
    """The supported file types as words: ".txt, .md, .pdf, .docx, .html or .htm"."""
    return ", ".join(SUFFIXES[:-1]) + " or " + SUFFIXES[-1]


def check_suffix(name: str) -> str:
    """The lower-case suffix of `name`; UnreadableFile when jmqa does not read that type of file."""
    suffix = PurePath(name).suffix.lower()
    if suffix in SUFFIXES:
        return suffix
    if suffix == ".doc":
        raise UnreadableFile(
            f"{name} is an old Word .doc file, which is not supported; "
            "open it in Word or LibreOffice and save it as .docx"
        )
    kind = f"a {suffix} file" if suffix else "a file without a type extension"
    raise UnreadableFile(f"{name} is {kind}, which is not supported; add {supported_types()} files")


def extract(name: str, raw: bytes, *, max_unpacked_bytes: int = MAX_UNPACKED_BYTES) -> Extracted:
    """The text, title and places of the file `name` whose content is `raw`; the reader is picked by suffix.
    `max_unpacked_bytes` bounds what a .docx may unpack to."""
    suffix = check_suffix(name)
    if not raw:
        raise UnreadableFile(f"{name} is empty (0 bytes); add a file with text in it")
    if suffix == ".pdf":
        found = read_pdf(name, raw)
    elif suffix == ".docx":
        found = read_docx(name, raw, max_unpacked_bytes)
    elif suffix in (".html", ".htm"):
        found = read_html(name, raw)
    else:
        found = read_plain(name, raw, markdown=suffix == ".md")
    if not found.text.strip():
        left_out = " once scripts, menus, headers and footers are left out" if suffix in (".html", ".htm") else ""
        raise UnreadableFile(f"{name} has no text in it{left_out}; add a file with text in it")
    return found
