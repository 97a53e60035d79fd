"""Hits -> Answer without a language model: quote the source sentences that answer the question, cited, or abstain."""

from __future__ import annotations

import logging
import threading

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .abstention import abstention_text
from .calibration import Calibration, load_calibration
from .embedding import Embedder
from .evidence import (
    Candidate,
    candidate_sentences,
    coverage,
    draws_conclusion,
    expected_answer_type,
    has_answer_type,
    idf_weights,
    is_why_question,
    key_terms,
    term_support,
    unnamed,
    words,
)
from .types import Answer, Citation, Hit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    """The knobs of sentence scoring (chosen on the first gold set, now the start of eval/dev.jsonl); abstention is in `Calibration`."""

    dense_weight: float = 0.7  # sentence score = dense_weight * cosine + (1 - dense_weight) * term overlap
    word_match: float = 0.65  # cosine at which a word of the source speaks about a question term
    second_sentence: float = 0.92  # a second sentence joins the answer above this share of the best score


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float
    dense: float


class TermStatistics:
    """Chunk frequency of each stem, for idf weights of question terms (the index keeps the counts)."""

    def __init__(self, doc_freq: Mapping[str, int], n_chunks: int):
        self.doc_freq = doc_freq
        self.n_chunks = n_chunks

    def weights(self, terms: list[str]) -> dict[str, float]:
        return idf_weights(terms, self.doc_freq, self.n_chunks)


class VectorCache:
    """Embeddings of strings (words, source sentences), computed once per process; safe across threads."""

    def __init__(self, embedder: Embedder, max_size: int = 200_000):
        self.embedder = embedder
        self.max_size = max_size
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def get(self, items: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:  # only the items asked for: the cache holds up to max_size vectors
            known = {w: self._vectors[w] for w in items if w in self._vectors}
        missing = sorted({w for w in items if w not in known})
        if missing:
            fresh = dict(zip(missing, self.embedder.encode(missing)))
            known.update(fresh)
            with self._lock:
                if len(self._vectors) + len(fresh) > self.max_size:
                    self._vectors.clear()
                self._vectors.update(fresh)
        return {w: known[w] for w in items if w in known}


@dataclass(frozen=True)
class Evidence:
    """What the retrieved passages offer for a question: ranked candidate sentences and how well
    the best one covers the question. `chosen` are the sentences an answer would cite."""

    ranked: tuple[Scored, ...]
    chosen: tuple[Scored, ...]
    coverage: float
    dense: float
    missing_terms: tuple[str, ...] = ()
    answer_type: str | None = None
    reason: str = ""

    def citations(self) -> tuple[Citation, ...]:
        return tuple(
            Citation(s.candidate.doc_id, s.candidate.title, s.candidate.start, s.candidate.end, s.candidate.text,
                     round(s.score, 4))
            for s in self.chosen
        )


class ExtractiveAnswerer:
    """Answers with the best supporting source sentence(s), quoted and cited; abstains on weak evidence."""

    mode = "extractive"

    def __init__(self, embedder: Embedder, stats: TermStatistics, thresholds: Thresholds | None = None,
                 calibration: Calibration | None = None):
        self.embedder = embedder
        self.stats = stats
        self.thresholds = thresholds or Thresholds()
        self.calibration = calibration or load_calibration()
        self.word_vectors = VectorCache(embedder)
        self.sentence_vectors = VectorCache(embedder, max_size=50_000)

    def assess(self, question: str, hits: Sequence[Hit], *, query: str | None = None) -> Evidence:
        """Score every sentence of the hits against the question and pick the ones to cite."""
        th = self.thresholds
        candidates = candidate_sentences(hits)
        if not candidates:
            return Evidence((), (), 0.0, 0.0, reason="nothing retrieved")
        terms = key_terms(question)
        answer_type = expected_answer_type(question)
        qv = self.embedder.encode([query or question])[0]
        sentence_vectors = self.sentence_vectors.get([c.text for c in candidates])  # embedded once per process
        sv = [sentence_vectors[c.text] for c in candidates]
        vocab = set(terms)
        for c in candidates:
            vocab.update(words(c.context))
        wv = self.word_vectors.get(sorted(vocab))
        weights = self.stats.weights(terms)

        scored = []
        for c, v in zip(candidates, sv):
            dense = float(qv @ v)
            overlap = coverage({t: term_support(t, words(c.text), wv) for t in terms}, weights, th.word_match)
            scored.append(Scored(c, th.dense_weight * dense + (1 - th.dense_weight) * overlap, dense))
        typed = sorted((s for s in scored if has_answer_type(s.candidate.text, answer_type)), key=lambda s: -s.score)
        if not typed:
            return Evidence((), (), 0.0, 0.0, reason=f"no {answer_type} in the passages")
        # the names and numbers the question asks about must be in the answer's document (among the hits)
        absent = {doc: unnamed(question, text) for doc, text in document_texts(hits).items()}
        typed = [s for s in typed if not absent.get(s.candidate.doc_id)]
        if not typed:
            missing = sorted({n for names in absent.values() for n in names})
            return Evidence((), (), 0.0, 0.0, missing_terms=tuple(missing),
                            reason=f"no passage names {', '.join(missing)}")
        best = typed[0]
        supports = {t: term_support(t, words(best.candidate.context), wv) for t in terms}
        chosen = [best]
        if len(typed) > 1:
            second = typed[1]
            if second.score >= th.second_sentence * best.score and second.candidate.doc_id == best.candidate.doc_id:
                chosen.append(second)
        if is_why_question(question) and draws_conclusion(best.candidate.text):
            # "Why is X dubbed Y?" -> "Thus X is dubbed Y" names the claim; the sentence before it, the reason
            reason = preceding(best, scored)
            if reason is not None and reason not in chosen:
                chosen.append(reason)
        chosen.sort(key=lambda s: (s.candidate.doc_id, s.candidate.start))
        return Evidence(
            ranked=tuple(typed),
            chosen=tuple(chosen),
            coverage=coverage(supports, weights, th.word_match),
            dense=best.dense,
            missing_terms=tuple(t for t, v in supports.items() if v < th.word_match),
            answer_type=answer_type,
        )

    def probability(self, evidence: Evidence) -> float:
        """Calibrated chance that answering from this evidence is right."""
        if not evidence.chosen:
            return 0.0
        return self.calibration.probability(evidence.coverage, evidence.dense)

    def answer(self, question: str, hits: Sequence[Hit], *, query: str | None = None,
               evidence: Evidence | None = None) -> Answer:
        query = query or question
        evidence = evidence or self.assess(question, hits, query=query)
        p = self.probability(evidence)
        if p < self.calibration.threshold:
            return self.abstention(question, evidence, p, query=query, hits=hits)
        return self.quotation(evidence, p, query=query, hits=hits)

    def abstention(self, question: str, evidence: Evidence, p: float, *, query: str, hits: Sequence[Hit],
                   mode: str = "extractive") -> Answer:
        """"The documents don't say", logged with the evidence that fell short."""
        log.info("abstaining on %r: p=%.2f (coverage %.2f, dense %.2f, unsupported %s%s)", question, p,
                 evidence.coverage, evidence.dense, list(evidence.missing_terms),
                 f", {evidence.reason}" if evidence.reason else "")
        return abstain(query=query, hits=hits, confidence=1.0 - p, mode=mode)

    def quotation(self, evidence: Evidence, p: float, *, query: str, hits: Sequence[Hit]) -> Answer:
        """The chosen source sentences themselves, each cited."""
        citations = evidence.citations()
        text = " ".join(f"{c.quote} [{i}]" for i, c in enumerate(citations, start=1))
        return Answer(text=text, citations=citations, abstained=False, confidence=round(p, 4),
                      mode=self.mode, query=query, hits=tuple(hits))


def document_texts(hits: Sequence[Hit]) -> dict[str, str]:
    """The retrieved text of each document: its chunks among the hits, with titles and headings."""
    out: dict[str, list[str]] = {}
    for h in hits:
        out.setdefault(h.chunk.doc_id, []).extend(p for p in (h.chunk.title, h.chunk.context, h.chunk.text) if p)
    return {doc: " ".join(parts) for doc, parts in out.items()}


def preceding(sentence: Scored, scored: Sequence[Scored]) -> Scored | None:
    """The candidate sentence just before `sentence` in its document, if it was retrieved."""
    before = [s for s in scored if s.candidate.doc_id == sentence.candidate.doc_id
              and s.candidate.end <= sentence.candidate.start]
    return max(before, key=lambda s: s.candidate.end, default=None)


def abstain(*, query: str, hits: Sequence[Hit], confidence: float, mode: str = "extractive") -> Answer:
    return Answer(text=abstention_text(), abstained=True, confidence=round(confidence, 4),
                  mode=mode, query=query, hits=tuple(hits))
