"""HTML: the main content only (BeautifulSoup, the stdlib parser); menus, headers, footers, scripts and
styles dropped; h1-h3 start sections. Nothing is run."""

from __future__ import annotations

import codecs
import re

from ..types import Place
from .base import Extracted, CONTROL, join_blocks, tidy, refuse_binary, decode_by_bom

_DROP_TAGS = ("script", "style", "noscript", "iframe", "object", "embed", "template", "svg", "canvas", "nav",
              "footer", "aside", "form", "button", "select", "textarea", "head")
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "blockquote",
               "pre", "figure", "figcaption", "address", "details", "summary", "table", "caption", "hr",
               "h1", "h2", "h3", "h4", "h5", "h6", "body", "html", "header"}
_SECTION_TAGS = {"h1", "h2", "h3"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


def read_html(name: str, raw: bytes) -> Extracted:
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
    text, places = join_blocks(blocks)
    if not title and (h1 := soup.find("h1")):
        title = " ".join(_inline_text(h1).split())
    return Extracted(text, title or None, places)


def _decode_html(name: str, raw: bytes) -> str:
    """Bytes -> text by the byte order mark, else the <meta> charset, else UTF-8, else cp1252."""
    if (text := decode_by_bom(raw)) is not None:
        return text
    refuse_binary(name, raw)
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
        text = tidy("".join(inline).replace("\u2028", "\n"))
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
            lines = (CONTROL.sub("", line).rstrip() for line in child.get_text().split("\n"))
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
