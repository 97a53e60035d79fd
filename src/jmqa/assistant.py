"""The Assistant facade: wires corpus, index, retriever and answerer together (`load`, `ask`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from .answering import ExtractiveAnswerer, TermStatistics, Thresholds
from .config import Settings
from .conversation import as_turns, retrieval_query
from .embedding import Embedder, SentenceTransformerEmbedder
from .errors import BadInputError
from .index import Index, load_or_build
from .ingest import load_corpus
from .retrieval import Retriever
from .types import Answer

log = logging.getLogger(__name__)


def validate_question(question: Any, max_chars: int) -> str:
    """The question, stripped; BadInputError when it is not a usable question."""
    if not isinstance(question, str):
        raise BadInputError(f"a question must be text, not {type(question).__name__}")
    q = question.strip()
    if not q:
        raise BadInputError("the question is empty; type a question about the documents")
    if len(q) > max_chars:
        raise BadInputError(f"the question is {len(q):,} characters long; the limit is {max_chars:,}. Shorten it and ask again")
    return q


class Assistant:
    """Answers questions about a corpus, citing the sentences it rests on."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings | None = None,
                 thresholds: Thresholds | None = None):
        self.settings = settings or Settings()
        self.index = index
        self.embedder = embedder
        self.retriever = Retriever(index, embedder, candidates=self.settings.candidates, rrf_k=self.settings.rrf_k)
        self.extractive = ExtractiveAnswerer(embedder, TermStatistics(index.chunks), thresholds)

    @classmethod
    def load(
        cls,
        corpus_dir: str | Path | None = None,
        index_dir: str | Path | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        rebuild: bool = False,
        show_progress: bool = False,
    ) -> Assistant:
        """Open the index of `corpus_dir` (default `corpus/`) in `index_dir` (default `index/`),
        building it first when it is missing or no longer matches the corpus or settings."""
        settings = settings or Settings()
        updates = {k: Path(v) for k, v in (("corpus_dir", corpus_dir), ("index_dir", index_dir)) if v is not None}
        if updates:
            settings = settings.model_copy(update=updates)
        embedder = embedder or SentenceTransformerEmbedder(settings.embedding_model, settings.embedding_batch_size)
        docs = load_corpus(settings.corpus_dir)
        index, status = load_or_build(
            docs, settings.index_dir, embedder,
            chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
            show_progress=show_progress, rebuild=rebuild,
        )
        log.info("index %s: %d documents, %d chunks (%s)", settings.index_dir, len(index.documents), len(index.chunks), status)
        return cls(index, embedder, settings)

    def ask(self, question: str, history: Iterable[Any] | None = None, *, k: int | None = None,
            mode: str | None = None) -> Answer:
        """Answer `question`; `history` is the earlier (question, answer) pairs of the conversation.
        `mode` is "extractive", "generative" or "auto" (default: settings.answer_mode)."""
        q = validate_question(question, self.settings.max_question_chars)
        turns = as_turns(history)
        k = k or self.settings.top_k
        t0 = time.perf_counter()
        query = retrieval_query(q, turns)
        hits = self.retriever.search(query, k=k)
        t1 = time.perf_counter()
        answer = self.extractive.answer(q, hits, query=query)
        t2 = time.perf_counter()
        return replace(answer, timings={"retrieve_s": round(t1 - t0, 4), "answer_s": round(t2 - t1, 4), "total_s": round(t2 - t0, 4)})

    def ask_stream(self, question: str, history: Iterable[Any] | None = None, *, k: int | None = None,
                   mode: str | None = None) -> Iterator[str | Answer]:
        """Yield the draft answer's text pieces as they are produced, then the final, verified Answer
        (always last, exactly once). A UI shows the pieces, then replaces them with the Answer."""
        yield self.ask(question, history, k=k, mode=mode)
