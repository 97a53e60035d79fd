"""Word .docx: paragraphs and table rows in order (python-docx); headings start sections. The zip is
checked before it is opened (an old .doc, a password, a zip bomb)."""

from __future__ import annotations

import io
import zipfile

from ..types import Place
from .base import UnreadableFile, Extracted, join_blocks, tidy, megabytes, first_line

_BOMB_ENTRY_BYTES = 10_000_000  # ... and so is one entry over this size that is compressed over 100 times
_BOMB_RATIO = 100
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old .doc files and password-protected Office files


def read_docx(name: str, raw: bytes, max_unpacked_bytes: int) -> Extracted:
    _check_zip(name, raw, max_unpacked_bytes)
    import docx

    try:
        document = docx.Document(io.BytesIO(raw))
        blocks, title = _docx_blocks(document)
        title = title or (document.core_properties.title or "").strip() or None
    except Exception as exc:  # python-docx and lxml raise many kinds on a file that is not a Word document
        raise UnreadableFile(f"{name} cannot be read as a Word document ({first_line(exc)}); "
                             "open it in Word or LibreOffice and save it as .docx again") from None
    text, places = join_blocks(blocks)
    return Extracted(text, title, places)


def _check_zip(name: str, raw: bytes, max_unpacked_bytes: int) -> None:
    """Refuse what is not a zip, and a zip that unpacks to far more than it weighs, before anything is unpacked."""
    if raw.startswith(_OLE2_MAGIC):
        raise UnreadableFile(f"{name} is not a Word .docx file (it is an old .doc, or a password-protected "
                             "document); open it in Word or LibreOffice and save it as .docx without a password")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            entries = archive.infolist()
    except Exception as exc:  # BadZipFile mostly; a mangled directory can raise others
        raise UnreadableFile(f"{name} is not a Word .docx file ({first_line(exc)}); "
                             "save it from Word or LibreOffice as .docx") from None
    total = sum(e.file_size for e in entries)
    bomb = any(e.file_size > _BOMB_ENTRY_BYTES and e.file_size > _BOMB_RATIO * max(e.compress_size, 1) for e in entries)
    if total > max_unpacked_bytes or bomb:
        raise UnreadableFile(f"{name} expands to {megabytes(total)} MB when unpacked (a zip bomb?); not read")


def _docx_blocks(document) -> tuple[list[tuple[str, Place | None]], str | None]:
    """Paragraphs and table rows in document order; a heading starts a section. The title: the first
    Title paragraph, else the first Heading 1."""
    from docx.table import Table

    blocks: list[tuple[str, Place | None]] = []
    titles: dict[str, str] = {}
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            blocks.extend((row, None) for row in _table_rows(item))
            continue
        text = tidy(item.text)
        style = item.style.name if item.style is not None else ""
        if text and (style.startswith("Heading") or style == "Title"):
            heading = " ".join(text.split())
            titles.setdefault(style, heading)
            blocks.append((text, Place(0, section=heading)))
        else:
            blocks.append((text, None))
    return blocks, titles.get("Title") or titles.get("Heading 1")


def _table_rows(table) -> list[str]:
    """Each row as one line, its cells' text separated by " | " (a merged cell once)."""
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) not in seen:
                seen.add(id(cell._tc))
                cells.append(" ".join(tidy(cell.text).split("\n")))
        rows.append(" | ".join(c for c in cells if c))
    return rows
