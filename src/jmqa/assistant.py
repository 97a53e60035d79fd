"""The Assistant facade: wires corpus, index, retriever and answerers together (`load`, `ask`, `ask_stream`)."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .abstention import abstention_text
from .answering import ExtractiveAnswerer, TermStatistics, Thresholds
from .calibration import Calibration, load_calibration
from .collection import Added, Entry, add_files, entries, remove_file
from .config import Settings
from .conversation import as_turns, resolve
from .embedding import Embedder, SentenceTransformerEmbedder
from .errors import BadInputError, JmqaError, ModelUnavailableError
from .index import CURRENT, Index, load_or_build
from .ingest import load_corpus
from .llm import LLM, load_llm
from .multilingual import detect_language, document_names, language_name, translate_question
from .reader import ReadingAnswerer
from .retrieval import Retriever
from .types import Answer, Citation, Document, Hit, Turn

log = logging.getLogger(__name__)

MODES = ("auto", "extractive", "generative")


def validate_question(question: Any, max_chars: int) -> str:
    """The question, stripped and with control characters made spaces; BadInputError when it is not a
    usable question: not text, empty, too long, binary data, or no word in it at all."""
    if not isinstance(question, str):
        raise BadInputError(f"a question must be text, not {type(question).__name__}")
    if len(question) > 4 * max_chars:  # say so before scanning a huge paste
        raise BadInputError(f"the question is {len(question):,} characters long; the limit is {max_chars:,}. "
                            "Shorten it and ask again")
    if "\x00" in question or _binary_share(question) > 0.1:
        raise BadInputError("the question looks like binary data, not text; type a question about the documents")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that were not valid UTF-8
        raise BadInputError("the question is not valid text (it holds bytes that are not UTF-8); "
                            "type or paste it again") from None
    q = " ".join(_CONTROL.sub(" ", question).split())
    if not q:
        raise BadInputError("the question is empty; type a question about the documents")
    if len(q) > max_chars:
        raise BadInputError(f"the question is {len(q):,} characters long; the limit is {max_chars:,}. Shorten it and ask again")
    if not any(ch.isalnum() for ch in q):
        raise BadInputError("the question has no words in it, only punctuation or symbols; ask about the documents in words")
    return q


# C0/C1 control characters and the invisible format characters that can hide text (bidi overrides, BOM)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _binary_share(text: str) -> float:
    """The share of characters that are control characters other than whitespace: high for binary junk."""
    if not text:
        return 0.0
    junk = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\t\n\r") or 0x7f <= ord(ch) <= 0x9f or ch == "\ufffd")
    return junk / len(text)


class Assistant:
    """Answers questions about a corpus, citing the sentences it rests on."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings | None = None, *,
                 llm: LLM | None = None, thresholds: Thresholds | None = None):
        self.settings = settings or Settings()
        self.index = index
        self.embedder = embedder
        self.retriever, self.extractive = self._reader(index, thresholds)
        self._fallback_logged = False
        self._llm = llm
        self._llm_error: ModelUnavailableError | None = None
        self._llm_lock = threading.Lock()
        self._reading: ReadingAnswerer | None = None
        self._refresh_lock = threading.Lock()
        self._documents_lock = threading.Lock()  # one change of the corpus at a time
        self._refresh_checked = time.monotonic()
        # questions already put into the corpus's language: a conversation's last question is read again
        # with its follow-up, and is not translated twice
        self._translations: dict[str, str] = {}
        self._names: list[str] | None = None  # the corpus's names, for translating a question (`document_names`)

    def refresh(self, *, min_interval: float = 1.0) -> bool:
        """Swap in a newer index when `jmqa index` (or `--watch`) has written one; True if it did.

        Cheap enough to call before every question: it reads the CURRENT pointer at most once per
        `min_interval` seconds. The new Index, Retriever and term statistics are built before any is
        assigned, so a question in flight keeps the objects it started with; an index that cannot be
        loaded right now (e.g. replaced again mid-read) is logged and retried later, never raised.
        """
        now = time.monotonic()
        if now - self._refresh_checked < min_interval or self.index.path is None:
            return False
        if not self._refresh_lock.acquire(blocking=False):  # another thread is refreshing
            return False
        try:
            self._refresh_checked = now
            index_dir = self.index.path.parent  # the folder this index came from, whatever the settings say
            try:
                name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
            except OSError:
                return False
            if name == self.index.path.name:
                return False
            try:
                index = Index.load(index_dir)
            except JmqaError as exc:
                log.warning("a new index is in %s but it cannot be loaded yet (%s); keeping the current one",
                            index_dir, exc)
                return False
            if index.manifest.get("embedding_model") != self.embedder.model_id:
                log.warning("the new index in %s was built with %s, not %s; keeping the current one",
                            index_dir, index.manifest.get("embedding_model"), self.embedder.model_id)
                return False
            self._use(index)
            return True
        finally:
            self._refresh_lock.release()

    def _use(self, index: Index) -> None:
        """Answer from `index` from now on; a question in flight keeps the objects it started with."""
        old = self.extractive
        retriever, extractive = self._reader(index, old.thresholds, old.calibration)
        extractive.word_vectors = old.word_vectors  # same embedder: the cached word vectors still hold
        self.index, self.retriever, self.extractive = index, retriever, extractive
        self._names = None
        self._translations.clear()
        log.info("using the index %s: %d documents, %d chunks", index.path, len(index.documents), len(index.chunks))

    # ------------------------------------------------------------ documents

    def documents(self) -> list[Entry]:
        """The corpus's documents as indexed: name, title, type, size, when added, passages."""
        passages = Counter(c.doc_id for c in self.index.chunks)
        return entries(self.settings.corpus_dir, self.index.documents, passages)

    def add_documents(self, files: Sequence[str | Path], names: Sequence[str] | None = None) -> Added:
        """Add files (PDF, Word, HTML, Markdown, text) to the corpus and index them; the next question uses
        them. Files that cannot be used are left out, each with the reason (`Added.skipped`)."""
        with self._documents_lock:
            known = {d.doc_id: d.path for d in self.index.documents.values()}
            result = add_files(self.settings.corpus_dir, files, known=known, names=names,
                               max_bytes=self.settings.max_file_bytes)
            if result.added:
                self.update_index()
            return result

    def remove_document(self, name: str) -> str:
        """Delete a document (its name as `documents()` lists it) from the corpus and the index."""
        with self._documents_lock:
            removed = remove_file(self.settings.corpus_dir, name)
            self.update_index()
            return removed

    def update_index(self) -> str:
        """Bring the index up to date with the corpus folder (only changed documents are embedded) and use it."""
        index, status = load_or_build(load_corpus(self.settings.corpus_dir, max_bytes=self.settings.max_file_bytes), self.settings.index_dir, self.embedder,
                                      chunk_size=self.settings.chunk_size, chunk_overlap=self.settings.chunk_overlap,
                                      current=self.index)
        if index is not self.index:
            self._use(index)
        return status

    def _reader(self, index: Index, thresholds: Thresholds | None = None,
                calibration: Calibration | None = None) -> tuple[Retriever, ExtractiveAnswerer]:
        """The retriever over `index` and the answerer of its chunks: built together for load and refresh."""
        retriever = Retriever(index, self.embedder, candidates=self.settings.candidates, rrf_k=self.settings.rrf_k)
        stats = TermStatistics(index.term_counts, len(index.chunks))
        if calibration is None and self.settings.calibration_file is not None:
            calibration = load_calibration(self.settings.calibration_file)
        return retriever, ExtractiveAnswerer(self.embedder, stats, thresholds, calibration)

    @classmethod
    def load(
        cls,
        corpus_dir: str | Path | None = None,
        index_dir: str | Path | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
        rebuild: bool = False,
        show_progress: bool = False,
    ) -> Assistant:
        """Open the index of `corpus_dir` (default `corpus/`) in `index_dir` (default `index/`),
        building it first when it is missing or no longer matches the corpus or settings.
        The LLM is loaded on the first generative answer (or by `warm_up()`)."""
        settings = settings or Settings()
        if corpus_dir is not None:  # without index_dir, its index goes where config.resolve_paths puts it
            settings = settings.for_corpus(corpus_dir, index_dir)
        elif index_dir is not None:
            settings = settings.model_copy(update={"index_dir": Path(index_dir)})
        embedder = embedder or SentenceTransformerEmbedder.from_settings(settings)
        docs = load_corpus(settings.corpus_dir, max_bytes=settings.max_file_bytes)
        index, status = load_or_build(
            docs, settings.index_dir, embedder,
            chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
            show_progress=show_progress, rebuild=rebuild,
        )
        log.info("index %s: %d documents, %d chunks (%s)", settings.index_dir, len(index.documents), len(index.chunks), status)
        return cls(index, embedder, settings, llm=llm)

    # ------------------------------------------------------------ models

    def llm(self) -> LLM:
        """The LLM, loaded once; ModelUnavailableError (remembered) when it cannot be."""
        with self._llm_lock:
            if self._llm is None:
                if self._llm_error is not None:
                    raise self._llm_error
                try:
                    llm = load_llm(self.settings)
                    warm = getattr(llm, "warm_up", None)
                    if warm is not None:
                        warm()
                except ModelUnavailableError as exc:
                    self._llm_error = exc
                    raise
                self._llm = llm
            return self._llm

    def warm_up(self, mode: str | None = None) -> None:
        """Load the models a question in `mode` needs now, instead of on the first question."""
        self.embedder.encode(["warm up"])
        if self._mode(mode) != "extractive":
            self._answerer(self._mode(mode))

    def describe(self) -> dict[str, Any]:
        """Which models and corpus are loaded, for a status line."""
        llm = self._llm.name if self._llm is not None else (None if self._llm_error else self.settings.llm_model)
        return {
            "corpus": str(self.settings.corpus_dir),
            "documents": len(self.index.documents),
            "chunks": len(self.index.chunks),
            "embedding_model": self.embedder.model_id,
            "llm": llm,
            "llm_error": str(self._llm_error) if self._llm_error else None,
        }

    def _mode(self, mode: str | None) -> str:
        mode = mode or self.settings.answer_mode
        if mode not in MODES:
            raise BadInputError(f"unknown answer mode {mode!r}; use one of: {', '.join(MODES)}")
        return mode

    def _answerer(self, mode: str) -> ExtractiveAnswerer | ReadingAnswerer:
        if mode == "extractive":
            return self.extractive
        try:
            llm = self.llm()
        except ModelUnavailableError as exc:
            if mode == "generative":
                raise
            if not self._fallback_logged:
                log.warning("answer mode auto: no LLM (%s); answering extractively", exc)
                self._fallback_logged = True
            return self.extractive
        if self._reading is None or self._reading.llm is not llm:
            self._reading = ReadingAnswerer(llm, self.embedder, self.extractive.calibration.answer,
                                           budget_chars=self.settings.read_chars, max_tokens=self.settings.answer_tokens,
                                           sources_language=language_name(self.settings.corpus_language))
        return self._reading

    # ------------------------------------------------------------ questions

    def ask(self, question: str, history: Iterable[Any] | None = None, *, k: int | None = None,
            mode: str | None = None) -> Answer:
        """Answer `question`; `history` is the earlier (question, answer) pairs of the conversation.
        `mode` is "extractive", "generative" or "auto" (default: settings.answer_mode)."""
        answer = None
        for item in self.ask_stream(question, history, k=k, mode=mode):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None  # ask_stream always ends with an Answer
        return answer

    def read(self, question: str, history: Iterable[Any] | None = None, *, k: int | None = None,
             llm: LLM | None = None) -> tuple[Reading, list[Hit]]:
        """The question as jmqa reads it, and the hits retrieved for it: the first half of every answer.

        With `llm` (the generative path) the model reads the conversation itself: the question's language
        is detected, it is translated into the corpus's language for retrieval when it differs (the model
        reads it as asked, drafts in the corpus's language, and the checked answer is translated), and a
        follow-up also retrieves with the last question in front of it. Without one (the extractive path)
        follow-ups are resolved by the cheap rules of `conversation.resolve`."""
        turns = as_turns(history)
        k = k or self.settings.top_k
        corpus_language = self.settings.corpus_language
        # a short follow-up ("为什么？") may carry too little to tell: then the conversation's language, else the corpus's
        language = detect_language(question)
        asked_in = language or (detect_language(turns[-1].question) if turns else None) or corpus_language
        if llm is None:
            resolution = resolve(question, turns)
            return (Reading(resolution.question, resolution.query, None, tuple(turns), asked_in),
                    self.retriever.search(resolution.query, k=k))
        query = self._in_corpus_language(llm, question, language)
        hits = self.retriever.search(query, k=k)
        if turns:  # the follow-up's own hits first, then those of the conversation so far, both read in the corpus's language
            last = turns[-1].question
            last = self._in_corpus_language(llm, last, detect_language(last))
            seen = {h.chunk.chunk_id for h in hits}
            hits += [h for h in self.retriever.search(f"{last} {query}", k=k) if h.chunk.chunk_id not in seen]
        answer_in = language_name(language) if language not in (None, corpus_language) else None
        return Reading(question, query, answer_in, tuple(turns), asked_in), hits

    def _in_corpus_language(self, llm: LLM, question: str, language: str | None, cache_size: int = 512) -> str:
        """`question` as retrieval reads it: translated by `llm` into the corpus's language when it is
        written (`language`) in another; each translation is made once."""
        target = self.settings.corpus_language
        if language is None or language == target:
            return question
        if (known := self._translations.get(question)) is None:
            if self._names is None:
                self._names = document_names([d.text for d in self.index.documents.values()])
            known = translate_question(llm, question, language_name(target), self._names)
            if len(self._translations) >= cache_size:
                self._translations.clear()
            self._translations[question] = known
        return known

    def ask_stream(self, question: str, history: Iterable[Any] | None = None, *, k: int | None = None,
                   mode: str | None = None) -> Iterator[str | Answer]:
        """Yield the draft answer's text pieces as they are generated, then the final, verified Answer
        (always last, exactly once). A UI shows the pieces, then replaces them with the Answer."""
        t0 = time.perf_counter()
        q = validate_question(question, self.settings.max_question_chars)
        self.refresh()
        answerer = self._answerer(self._mode(mode))
        reader = answerer if isinstance(answerer, ReadingAnswerer) else None
        reading, hits = self.read(q, history, k=k, llm=reader.llm if reader else None)
        t1 = time.perf_counter()
        if reader is not None:
            final: Answer | None = None
            for item in reader.stream(reading.question, hits, query=reading.query, history=reading.history,
                                      language=reading.language, documents=self.index.documents):
                if isinstance(item, Answer):
                    final = item
                else:
                    yield item
            assert final is not None
        else:
            final = self.extractive.answer(reading.question, hits, query=reading.query)
        if final.abstained:  # said in the asker's language
            final = replace(final, text=abstention_text(reading.asked_in))
        t2 = time.perf_counter()
        timings = {"retrieve_s": round(t1 - t0, 4), **final.timings, "answer_s": round(t2 - t1, 4),
                   "total_s": round(t2 - t0, 4)}
        yield replace(final, citations=located(final.citations, self.index.documents), timings=timings)


def located(citations: Iterable[Citation], documents: Mapping[str, Document]) -> tuple[Citation, ...]:
    """Each citation with the page and section of its quote in the original file, where its document knows them."""
    out = []
    for c in citations:
        doc = documents.get(c.doc_id)
        place = doc.place_at(c.start) if doc is not None else None
        out.append(replace(c, page=place.page, section=place.section) if place is not None else c)
    return tuple(out)


@dataclass(frozen=True)
class Reading:
    """A question as read in its conversation: `question` as it goes to the answerer, `query` what
    retrieval searched for, `language` the name of the language to answer in when it is not the corpus's
    own (None: the corpus's), `history` the conversation so far, `asked_in` the ISO 639-1 code of the
    language the question was asked in (the conversation's or the corpus's when the question is too short to tell)."""

    question: str
    query: str
    language: str | None
    history: tuple[Turn, ...] = ()
    asked_in: str | None = None
