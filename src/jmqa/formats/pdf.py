"""PDF: the text layer page by page (pypdf); wrapped lines and hyphenated words joined, running headers
and footers dropped; each page a Place."""

from __future__ import annotations

import io
import logging
import math
import re
import statistics
import threading
import unicodedata
from dataclasses import dataclass

from ..types import Place
from .base import UnreadableFile, Extracted, CONTROL, join_blocks

_LIGATURES = {c: unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}  # "ﬁ" -> "fi"
_PARAGRAPH_GAP = 1.3  # a line gap over this many times the usual one starts a paragraph
_REPEATED_SHARE = 0.5  # a line at the top or bottom of more than this share of pages is a running header/footer


@dataclass(frozen=True)
class _Line:
    text: str
    y: float | None  # baseline height on the page (PDF units, up is larger); None: not known
    size: float  # font size as drawn (the largest on the line)


def read_pdf(name: str, raw: bytes) -> Extracted:
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError

    if b"%%EOF" not in raw[-io.DEFAULT_BUFFER_SIZE:]:
        raise UnreadableFile(f"{name} cannot be read as a PDF (it has no end marker): "
                             "the file may be damaged or truncated; re-export it")
    with _quiet_pypdf:
        try:
            reader = pypdf.PdfReader(io.BytesIO(raw))
            if reader.is_encrypted and not reader.decrypt(""):
                raise UnreadableFile(f"{name} is encrypted; save a copy without a password and add that")
            pages = [_page_lines(page) for page in reader.pages]
            title = _pdf_title(reader)
        except UnreadableFile:
            raise
        except FileNotDecryptedError:
            raise UnreadableFile(f"{name} is encrypted; save a copy without a password and add that") from None
        except DependencyError:
            raise UnreadableFile(f"{name} is encrypted with AES, which needs the Python package `cryptography` to "
                                 "open; install it, or save a copy without a password and add that") from None
        except Exception as exc:  # pypdf raises many kinds on a damaged file
            detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
            raise UnreadableFile(f"{name} cannot be read as a PDF ({detail}): "
                                 "the file may be damaged or truncated; re-export it") from None
    if not any(line.text.strip() for lines in pages for line in lines):
        raise UnreadableFile(f"{name} has no text layer (a scanned PDF?); OCR is not supported — "
                             "add a PDF with selectable text, or a .txt of it")
    pages = _drop_running_lines(pages)
    pitch = _line_pitch(pages)
    blocks = [("\n\n".join(_paragraphs(lines, pitch)), Place(0, page=n)) for n, lines in enumerate(pages, start=1)]
    text, places = join_blocks(blocks)
    return Extracted(text, title, places)


class _Quiet:
    """Silences a library's warnings (pypdf logs one per oddity of a file) while any thread is in a
    `with` block of it; the logger's own level is back when the last one leaves."""

    def __init__(self, logger_name: str):
        self.logger = logging.getLogger(logger_name)
        self.lock = threading.Lock()
        self.inside = 0
        self.level = logging.NOTSET

    def __enter__(self) -> None:
        with self.lock:
            if not self.inside:
                self.level = self.logger.level
                self.logger.setLevel(logging.ERROR)
            self.inside += 1

    def __exit__(self, *exc_info) -> None:
        with self.lock:
            self.inside -= 1
            if not self.inside:
                self.logger.setLevel(self.level)


_quiet_pypdf = _Quiet("pypdf")


def _pdf_title(reader) -> str | None:
    """The document title from the PDF's metadata, unless it is empty or a file name ("Microsoft Word - x.doc")."""
    title = str((reader.metadata or {}).get("/Title") or "").strip()
    return title if title and not re.search(r"\.[A-Za-z]{2,4}$", title) else None


def _page_lines(page) -> list[_Line]:
    """The text lines of a page in reading order (pypdf's), each with its height on the page and font size."""
    lines: list[_Line] = []
    text, y, size = "", None, 0.0

    def visit(fragment, cm, tm, _font, font_size):
        nonlocal text, y, size
        for i, part in enumerate((fragment or "").split("\n")):
            if i:
                lines.append(_Line(text, y, size))
                text, y = "", None
            if part.strip() and cm and tm:
                if y is None:  # the baseline of the line's first piece; its font size: the largest piece's
                    y, size = tm[4] * cm[1] + tm[5] * cm[3] + cm[5], 0.0
                drawn = font_size * math.hypot(tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3])
                size = max(size, drawn)
            text += part

    page.extract_text(visitor_text=visit)
    lines.append(_Line(text, y, size))
    cleaned = (_Line(CONTROL.sub("", line.text).translate(_LIGATURES).strip(), line.y, line.size) for line in lines)
    return [line for line in cleaned if line.text]


def _shape(text: str) -> str:
    """A line with digits and blanks normalised, so "Page 3 of 9" and "Page 4 of 9" compare equal."""
    return re.sub(r"\s+", " ", re.sub(r"\d+", "#", text)).strip().casefold()


def _drop_running_lines(pages: list[list[_Line]]) -> list[list[_Line]]:
    """Drop running headers and footers: the first or last line of a page (twice, for two-line headers)
    when the same line, digits aside, is at that end of other pages too (see _running)."""
    if len(pages) < 2:
        return pages
    pages = [list(lines) for lines in pages]
    for end in (0, -1):
        for _ in range(2):
            ends = {n: lines[end].text for n, lines in enumerate(pages) if lines}
            groups: dict[str, list[tuple[int, str]]] = {}
            for n, text in ends.items():
                groups.setdefault(_shape(text), []).append((n, text))
            running = {shape for shape, found in groups.items() if _running(found, len(pages))}
            if not running:
                break
            for n, text in ends.items():
                if _shape(text) in running:
                    del pages[n][end]
    return pages


def _running(found: list[tuple[int, str]], pages: int) -> bool:
    """Whether lines of one shape, found at the same end of pages (page index, text), are a running header
    or footer: on most pages, or on three or more with a number that counts the pages ("Page 3 of 9" on
    page 3, "Page 4 of 9" on page 4). Other numbers must not vary: "Chapter 1" on page 1 and
    "Chapter 2" on page 7 are headings, not a header."""
    if len(found) < 2:
        return False
    numbers = [(n, [int(d) for d in re.findall(r"\d+", text)]) for n, text in found]
    counts_pages = False
    for i in range(len(numbers[0][1])):
        if len({values[i] for _, values in numbers}) > 1:
            if len({values[i] - n for n, values in numbers}) > 1:
                return False
            counts_pages = True
    return len(found) > _REPEATED_SHARE * pages or (counts_pages and len(found) >= 3)


def _line_pitch(pages: list[list[_Line]]) -> float | None:
    """The usual distance between the baselines of two lines of a paragraph in the document."""
    gaps = [a.y - b.y for lines in pages for a, b in zip(lines, lines[1:])
            if a.y is not None and b.y is not None and 0 < a.y - b.y <= 2 * max(a.size, 1)]
    return statistics.median(gaps) if gaps else None


def _paragraphs(lines: list[_Line], pitch: float | None) -> list[str]:
    """Lines grouped into paragraphs (a new one at a wider gap than `pitch`, a jump up the page or a font
    size change), each joined into one line."""
    paragraphs: list[list[str]] = []
    for prev, line in zip([None, *lines], lines):
        if prev is None or _starts_paragraph(prev, line, pitch):
            paragraphs.append([])
        paragraphs[-1].append(line.text)
    return [_join_lines(p) for p in paragraphs]


def _starts_paragraph(prev: _Line, line: _Line, pitch: float | None) -> bool:
    if prev.y is None or line.y is None:
        return False
    gap = prev.y - line.y
    usual = pitch or 1.5 * max(prev.size, 1)  # no two lines of one paragraph anywhere: a generous guess
    return gap <= 0 or gap > _PARAGRAPH_GAP * usual or abs(prev.size - line.size) > 0.5


def _join_lines(lines: list[str]) -> str:
    """The lines of one paragraph as one line: a word hyphenated at a line end is joined ("develop-" +
    "ment"), other line ends become spaces."""
    out = ""
    for line in lines:
        if re.search(r"\w[-\u00ad]$", out) and line[:1].islower():
            out = out[:-1] + line
        else:
            out = f"{out} {line}" if out else line
    return re.sub(r"[^\S\n]+", " ", out).strip()
