"""The bytes of one file -> its plain text, where each part of it sits (page, section) and its title.

One reader per file type (.txt, .md, .pdf, .docx, .html/.htm). A file that cannot be used raises
UnreadableFile with a sentence that names the file, says what is wrong and what to do about it.
"""

from __future__ import annotations

import codecs
import io
import logging
import math
import re
import statistics
import threading
import unicodedata
import zipfile
from dataclasses import dataclass, replace
from pathlib import PurePath

from .errors import BadInputError
from .types import Place

SUFFIXES = (".txt", ".md", ".pdf", ".docx", ".html", ".htm")

MAX_UNPACKED_BYTES = 200_000_000  # a .docx that unpacks to more is refused (a zip bomb?)
_BOMB_ENTRY_BYTES = 10_000_000  # ... and so is one entry over this size that is compressed over 100 times
_BOMB_RATIO = 100
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old .doc files and password-protected Office files


class UnreadableFile(BadInputError):
    """A file jmqa cannot read; the message names the file, the problem and what to do next."""


@dataclass(frozen=True)
class Extracted:
    """The plain text of one file, its title when the file names one, and its places (see types.Place)."""

    text: str
    title: str | None = None
    places: tuple[Place, ...] = ()


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
        found = _read_pdf(name, raw)
    elif suffix == ".docx":
        found = _read_docx(name, raw, max_unpacked_bytes)
    elif suffix in (".html", ".htm"):
        found = _read_html(name, raw)
    else:
        found = _read_plain(name, raw, markdown=suffix == ".md")
    if not found.text.strip():
        left_out = " once scripts, menus, headers and footers are left out" if suffix in (".html", ".htm") else ""
        raise UnreadableFile(f"{name} has no text in it{left_out}; add a file with text in it")
    return found


# ---------------------------------------------------------------- .txt and .md

# Lines that web pages end with and that carry no content of their own.
_TRAILING_BOILERPLATE = re.compile(
    r"^\s*(related links?|share( this)?|print|back to top|tags?|see also|read more|top)\s*[:>»]*\s*$",
    re.IGNORECASE,
)
_MD_HEADING = re.compile(r"^(#{1,2})[ \t]+(.+?)[ \t#]*$")
_MD_FENCE = re.compile(r"^\s*(```|~~~)")


def clean_text(text: str) -> str:
    """Normalise line endings, strip trailing blanks and drop content-free boilerplate lines at the end."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and (not lines[-1].strip() or _TRAILING_BOILERPLATE.match(lines[-1])):
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def markdown_title(text: str) -> str | None:
    """The first `# heading` of a markdown text."""
    m = re.search(r"^#[ \t]+(.+)$", text, re.MULTILINE)
    return m.group(1).strip().rstrip("#").strip() if m else None


def _read_plain(name: str, raw: bytes, *, markdown: bool) -> Extracted:
    text = clean_text(_decode_text(name, raw))
    if not markdown:
        return Extracted(text)
    return Extracted(text, markdown_title(text), _markdown_places(text))


def _decode_text(name: str, raw: bytes) -> str:
    if (text := _decode_by_bom(raw)) is not None:
        return text
    _refuse_binary(name, raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start}); convert it, e.g. `iconv -f cp1252 -t utf-8`"
        ) from None


def _refuse_binary(name: str, raw: bytes) -> None:
    if b"\x00" in raw:
        raise UnreadableFile(
            f"{name} looks binary, not text (it holds NUL bytes); "
            "if it is another kind of file, give it the right extension"
        )


def _decode_by_bom(raw: bytes) -> str | None:
    """The text of a file that starts with a UTF-8 or UTF-16 byte order mark; None without one."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return raw.decode(encoding, errors="replace")
    return None


def _markdown_places(text: str) -> tuple[Place, ...]:
    """A section from each `# ` and `## ` heading on (headings inside ``` code fences do not count)."""
    places, pos, in_code = [], 0, False
    for line in text.split("\n"):
        if _MD_FENCE.match(line):
            in_code = not in_code
        elif not in_code and (m := _MD_HEADING.match(line)):
            places.append(Place(pos, section=m.group(2).strip()))
        pos += len(line) + 1
    return tuple(places)


# ---------------------------------------------------------------- shared

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # all but tab and line feed


def _join_blocks(blocks: list[tuple[str, Place | None]]) -> tuple[str, tuple[Place, ...]]:
    """Text blocks joined by blank lines; a block's Place (its `start` filled in) marks where it begins."""
    pieces: list[str] = []
    places: list[Place] = []
    pos = 0
    for text, place in blocks:
        text = text.strip()
        if not text:
            continue
        if pieces:
            pos += 2
        if place is not None:
            places.append(replace(place, start=pos))
        pieces.append(text)
        pos += len(text)
    return "\n\n".join(pieces), tuple(places)


def _tidy(text: str) -> str:
    """Runs of blanks made one space, control characters dropped, each line stripped, empty lines dropped."""
    lines = (re.sub(r"[^\S\n]+", " ", _CONTROL.sub("", line)).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def megabytes(n: int) -> str:
    """A byte count in MB for a message: "3", "52.4"."""
    return f"{n / 1e6:.1f}".removesuffix(".0")


# ---------------------------------------------------------------- .pdf

_LIGATURES = {c: unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}  # "ﬁ" -> "fi"
_PARAGRAPH_GAP = 1.3  # a line gap over this many times the usual one starts a paragraph
_REPEATED_SHARE = 0.5  # a line at the top or bottom of more than this share of pages is a running header/footer


@dataclass(frozen=True)
class _Line:
    text: str
    y: float | None  # baseline height on the page (PDF units, up is larger); None: not known
    size: float  # font size as drawn (the largest on the line)


def _read_pdf(name: str, raw: bytes) -> Extracted:
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
    text, places = _join_blocks(blocks)
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
    cleaned = (_Line(_CONTROL.sub("", line.text).translate(_LIGATURES).strip(), line.y, line.size) for line in lines)
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


# ---------------------------------------------------------------- .docx


def _read_docx(name: str, raw: bytes, max_unpacked_bytes: int) -> Extracted:
    _check_zip(name, raw, max_unpacked_bytes)
    import docx

    try:
        document = docx.Document(io.BytesIO(raw))
        blocks, title = _docx_blocks(document)
        title = title or (document.core_properties.title or "").strip() or None
    except Exception as exc:  # python-docx and lxml raise many kinds on a file that is not a Word document
        raise UnreadableFile(f"{name} cannot be read as a Word document ({_first_line(exc)}); "
                             "open it in Word or LibreOffice and save it as .docx again") from None
    text, places = _join_blocks(blocks)
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
        raise UnreadableFile(f"{name} is not a Word .docx file ({_first_line(exc)}); "
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
        text = _tidy(item.text)
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
                cells.append(" ".join(_tidy(cell.text).split("\n")))
        rows.append(" | ".join(c for c in cells if c))
    return rows


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__


# ---------------------------------------------------------------- .html

_DROP_TAGS = ("script", "style", "noscript", "iframe", "object", "embed", "template", "svg", "canvas", "nav",
              "footer", "aside", "form", "button", "select", "textarea", "head")
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "blockquote",
               "pre", "figure", "figcaption", "address", "details", "summary", "table", "caption", "hr",
               "h1", "h2", "h3", "h4", "h5", "h6", "body", "html", "header"}
_SECTION_TAGS = {"h1", "h2", "h3"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


def _read_html(name: str, raw: bytes) -> Extracted:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode_html(name, raw), "html.parser")
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text().split()) if title_tag else ""
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(lambda t: t.name == "header" and t.find_parent(("main", "article")) is None):
        tag.decompose()  # the page header (logo, menu); an article's own header holds its heading
    for tag in soup.find_all(hidden=True):
        tag.decompose()
    blocks: list[tuple[str, Place | None]] = []
    for root in _content_roots(soup):
        _html_blocks(root, blocks)
    text, places = _join_blocks(blocks)
    if not title and (h1 := soup.find("h1")):
        title = " ".join(_inline_text(h1).split())
    return Extracted(text, title or None, places)


def _decode_html(name: str, raw: bytes) -> str:
    """Bytes -> text by the byte order mark, else the <meta> charset, else UTF-8, else cp1252."""
    if (text := _decode_by_bom(raw)) is not None:
        return text
    _refuse_binary(name, raw)
    if m := _META_CHARSET.search(raw[:4096]):
        try:
            return raw.decode(codecs.lookup(m.group(1).decode("ascii")).name, errors="replace")
        except LookupError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _content_roots(soup) -> list:
    """The <main> elements, else the <article>s (outermost), else the whole page."""
    for name in ("main", "article"):
        roots = [t for t in soup.find_all(name) if t.find_parent(name) is None]
        if roots:
            return roots
    return [soup]


def _html_blocks(node, blocks: list[tuple[str, Place | None]]) -> None:
    """Append the text of `node` as blocks: one per block element, a table row as cells joined by " | ",
    h1-h3 starting a section."""
    from bs4 import NavigableString, Tag

    inline: list[str] = []

    def flush():
        text = _tidy("".join(inline).replace("\u2028", "\n"))
        inline.clear()
        if text:
            blocks.append((text, None))

    for child in node.children:
        if isinstance(child, NavigableString):
            if type(child) is NavigableString:  # not a comment, CDATA, doctype or processing instruction
                inline.append(re.sub(r"\s+", " ", str(child)))
        elif not isinstance(child, Tag):
            continue
        elif child.name == "br":
            inline.append("\u2028")  # a line break inside the paragraph
        elif child.name == "tr":
            flush()
            cells = [" ".join(c.get_text(" ").split()) for c in child.find_all(("td", "th"), recursive=False)]
            blocks.append((" | ".join(c for c in cells if c), None))
        elif child.name in _SECTION_TAGS:
            flush()
            heading = " ".join(_inline_text(child).split())
            blocks.append((heading, Place(0, section=heading) if heading else None))
        elif child.name == "pre":
            flush()
            lines = (_CONTROL.sub("", line).rstrip() for line in child.get_text().split("\n"))
            blocks.append(("\n".join(lines), None))
        elif child.name in _BLOCK_TAGS or child.name in ("tbody", "thead", "tfoot"):
            flush()
            _html_blocks(child, blocks)
        else:
            inline.append(_inline_text(child))
    flush()


def _inline_text(tag) -> str:
    """The text of an inline element (a, b, span, ...), with any block inside it flattened."""
    from bs4 import NavigableString

    parts = []
    for piece in tag.descendants:
        if type(piece) is NavigableString:
            parts.append(str(piece))
        elif getattr(piece, "name", None) == "br":
            parts.append("\u2028")
    return re.sub(r"[^\S\u2028]+", " ", "".join(parts))
