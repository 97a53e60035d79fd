"""Documents -> Chunks: whole sentences packed to a size, with character offsets into the document."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .types import Chunk, Document

# A sentence ends at . ! ? (and closing quotes/brackets) followed by space and a capital, digit-free
# opener, or at CJK terminators. "No. 1", "e.g. the" and "U.S. and" do not end sentences.
_END = re.compile(r"""[.!?][\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z])|[。！？][”’」』]?""")
_BEFORE_NUMBERS = {"no", "fig"}  # abbreviations that stand before a number
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "no", "vs", "etc", "e.g", "i.e", "inc", "ltd", "co",
    "jr", "sr", "fig", "approx", "dept", "gov", "u.s", "u.k", "mt", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _trim(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


def paragraphs(text: str) -> list[Span]:
    """Blank-line separated blocks of `text`, trimmed."""
    spans, pos = [], 0
    for m in _PARAGRAPH_BREAK.finditer(text):
        if (s := _trim(text, pos, m.start())) is not None:
            spans.append(s)
        pos = m.end()
    if (s := _trim(text, pos, len(text))) is not None:
        spans.append(s)
    return spans


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans of text[start:end] (offsets into `text`); single line breaks inside a
    paragraph end a sentence only when the line is a heading-like line without end punctuation."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    for line_span in _lines(text, start, end):
        pos = line_span.start
        for m in _END.finditer(text, line_span.start, line_span.end):
            word = re.search(r"([\w.]+)$", text[pos : m.start()])
            if text[m.start()] == "." and word and word.group(1).lower() in _ABBREVIATIONS:
                # "No. 1" is a number; "No. It is not." is a reply and a sentence of its own
                if word.group(1).lower() not in _BEFORE_NUMBERS or re.match(r"\s*\d", text[m.end():]):
                    continue
            if (s := _trim(text, pos, m.end())) is not None:
                spans.append(s)
            pos = m.end()
        if (s := _trim(text, pos, line_span.end)) is not None:
            spans.append(s)
    return spans


def _lines(text: str, start: int, end: int) -> list[Span]:
    """Split at single newlines only where the line before ends a thought (punctuation or a heading)."""
    out, pos = [], start
    for m in re.finditer(r"\n", text[start:end]):
        nl = start + m.start()
        before = text[pos:nl].rstrip()
        if before and (before[-1] in ".!?:;。！？”’\"" or is_heading(before)):
            if (s := _trim(text, pos, nl)) is not None:
                out.append(s)
            pos = nl + 1
    if (s := _trim(text, pos, end)) is not None:
        out.append(s)
    return out


def is_heading(line: str) -> bool:
    """A short single line with no sentence-ending punctuation, or one ending in a colon, or `# ...`."""
    line = line.strip()
    if not line or "\n" in line:
        return False
    if line.startswith("#"):
        return True
    return len(line) <= 80 and (line.endswith(":") or line[-1] not in ".!?。！？,;")


def chunk(doc: Document, size: int = 700, overlap: int = 1) -> list[Chunk]:
    """Pack whole sentences of each paragraph into chunks of at most `size` characters (a longer
    single sentence stays whole); neighbouring chunks of a paragraph share `overlap` sentences.
    A heading paragraph becomes the `context` of the chunks under it instead of a chunk of its own."""
    text = doc.text
    chunks: list[Chunk] = []
    heading = ""
    for para in paragraphs(text):
        block = text[para.start : para.end]
        if is_heading(block):
            heading = block.lstrip("#").strip().rstrip(":").strip()
            continue
        sentences = split_sentences(text, para.start, para.end)
        for group in _pack(sentences, size, overlap):
            s, e = group[0].start, group[-1].end
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}:{len(chunks)}",
                    doc_id=doc.doc_id,
                    title=doc.title,
                    text=text[s:e],
                    start=s,
                    end=e,
                    context=heading,
                )
            )
    return chunks


def _pack(sentences: list[Span], size: int, overlap: int) -> list[list[Span]]:
    groups: list[list[Span]] = []
    i = 0
    while i < len(sentences):
        group = [sentences[i]]
        j = i + 1
        while j < len(sentences) and sentences[j].end - group[0].start <= size:
            group.append(sentences[j])
            j += 1
        groups.append(group)
        if j >= len(sentences):
            break
        # step forward, keeping `overlap` sentences, but always make progress
        i = max(j - overlap, i + 1)
    return groups


def embedding_text(c: Chunk) -> str:
    """What the dense model reads for a chunk: title and section heading give it its subject."""
    head = " — ".join(p for p in (c.title, c.context) if p)
    return f"{head}\n{c.text}" if head else c.text
