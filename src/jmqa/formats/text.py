"""Plain text and Markdown (UTF-8, or UTF-16 with a byte order mark); `#`/`##` headings are sections."""

from __future__ import annotations

import re

from ..types import Place
from .base import UnreadableFile, Extracted, refuse_binary, decode_by_bom

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


def read_plain(name: str, raw: bytes, *, markdown: bool) -> Extracted:
    text = clean_text(_decode_text(name, raw))
    if not markdown:
        return Extracted(text)
    return Extracted(text, markdown_title(text), _markdown_places(text))


def _decode_text(name: str, raw: bytes) -> str:
    if (text := decode_by_bom(raw)) is not None:
        return text
    refuse_binary(name, raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start}); convert it, e.g. `iconv -f cp1252 -t utf-8`"
        ) from None


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
