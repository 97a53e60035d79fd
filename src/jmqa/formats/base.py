"""What every reader shares: the result type, the error, and small text helpers."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, replace

from ..errors import BadInputError
from ..types import Place

class UnreadableFile(BadInputError):
    """A file jmqa cannot read; the message names the file, the problem and what to do next."""


@dataclass(frozen=True)
class Extracted:
    """The plain text of one file, its title when the file names one, and its places (see types.Place)."""

    text: str
    title: str | None = None
    places: tuple[Place, ...] = ()


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # all but tab and line feed


def join_blocks(blocks: list[tuple[str, Place | None]]) -> tuple[str, tuple[Place, ...]]:
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


def tidy(text: str) -> str:
    """Runs of blanks made one space, control characters dropped, each line stripped, empty lines dropped."""
    lines = (re.sub(r"[^\S\n]+", " ", CONTROL.sub("", line)).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def megabytes(n: int) -> str:
    """A byte count in MB for a message: "3", "52.4"."""
    return f"{n / 1e6:.1f}".removesuffix(".0")

def first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__

def refuse_binary(name: str, raw: bytes) -> None:
    if b"\x00" in raw:
        raise UnreadableFile(
            f"{name} looks binary, not text (it holds NUL bytes); "
            "if it is another kind of file, give it the right extension"
        )


def decode_by_bom(raw: bytes) -> str | None:
    """The text of a file that starts with a UTF-8 or UTF-16 byte order mark; None without one."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return raw.decode(encoding, errors="replace")
    return None
