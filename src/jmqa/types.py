"""The typed values that flow through the pipeline: Document -> Chunk -> Hit -> Answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Place:
    """Where the extracted text from offset `start` on sits in the original file: its PDF `page`
    (1-based) and the `section` heading it falls under (Word, HTML, Markdown). None: not known."""

    start: int
    page: int | None = None
    section: str | None = None


@dataclass(frozen=True)
class Document:
    """One source file, read and cleaned. `doc_id` is a hash of `text`, so it is stable.

    `places` map offsets of `text` to pages and sections, in order of `start` (empty for plain text)."""

    doc_id: str
    title: str
    text: str
    path: str = ""
    places: tuple[Place, ...] = ()

    def place_at(self, offset: int) -> Place | None:
        """The page and section of the character at `offset`: the last place starting at or before it."""
        found = None
        for place in self.places:
            if place.start > offset:
                break
            found = place
        return found

    def to_dict(self) -> dict[str, Any]:
        # id and path first: an index update recognises a stored row of an unchanged document by its start
        row: dict[str, Any] = {"doc_id": self.doc_id, "path": self.path, "title": self.title, "text": self.text}
        if self.places:
            row["places"] = [asdict(p) for p in self.places]
        return row

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Document:
        places = tuple(Place(**p) for p in d.get("places", ()))
        return cls(d["doc_id"], d["title"], d["text"], d.get("path", ""), places)


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences of one document; `text == document.text[start:end]`.

    `context` is the heading or lead line of the section the chunk sits in; it is
    embedded with the chunk but is not part of `text`.
    """

    chunk_id: str
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    context: str = ""

    def to_dict(self) -> dict[str, Any]:
        # flat fields: a plain dict is ~10x faster than asdict's deep copy (100k chunks per index save)
        return {"chunk_id": self.chunk_id, "doc_id": self.doc_id, "title": self.title, "text": self.text,
                "start": self.start, "end": self.end, "context": self.context}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chunk:
        return cls(**d)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the scores of each retriever (None = not found by it)."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk.chunk_id,
            "doc_id": self.chunk.doc_id,
            "title": self.chunk.title,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "score": self.score,
            "dense_score": self.dense_score,
            "lexical_score": self.lexical_score,
        }


@dataclass(frozen=True)
class Citation:
    """One source sentence an answer rests on; `quote == document.text[start:end]`."""

    doc_id: str
    title: str
    start: int
    end: int
    quote: str
    score: float = 0.0
    page: int | None = None  # where the quote is in the original file (Document.place_at)
    section: str | None = None

    def place(self) -> str:
        """Where a person finds the quote in the original file: "page 2", "Heading", "page 2, Heading" or ""."""
        return ", ".join(p for p in (f"page {self.page}" if self.page else "", self.section or "") if p)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Citation:
        return cls(**d)


@dataclass(frozen=True)
class Answer:
    """What the assistant says. Citation i is marked `[i+1]` in `text`.

    `abstained` is True when the documents do not hold the answer; `text` then says so.
    `confidence` in [0, 1] is the estimated chance the answer is right (for an
    abstention: that abstaining is right).
    """

    text: str
    citations: tuple[Citation, ...] = ()
    abstained: bool = False
    confidence: float = 0.0
    mode: str = "extractive"
    query: str = ""
    hits: tuple[Hit, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    signals: dict[str, float] = field(default_factory=dict)  # what the calibrated confidence was computed from

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "abstained": self.abstained,
            "confidence": self.confidence,
            "mode": self.mode,
            "query": self.query,
            "hits": [h.to_dict() for h in self.hits],
            "timings": dict(self.timings),
            "signals": dict(self.signals),
        }


@dataclass(frozen=True)
class Turn:
    """One exchange of a conversation."""

    question: str
    answer: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Turn:
        return cls(**d)
