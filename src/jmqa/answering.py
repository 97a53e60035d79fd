"""Hits -> Answer: pick the source sentences that answer the question, cite them, or abstain."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .embedding import Embedder
from .evidence import (
    Candidate,
    candidate_sentences,
    coverage,
    expected_answer_type,
    has_answer_type,
    idf_weights,
    key_terms,
    sigmoid,
    stem,
    term_support,
    words,
)
from .types import Answer, Chunk, Citation, Hit

log = logging.getLogger(__name__)

ABSTAIN_TEXT = "The documents don't say. I found nothing in them that answers this question."


@dataclass(frozen=True)
class Thresholds:
    """The knobs of extractive answering and abstention (fitted on eval/jiangmen_qa.jsonl)."""

    dense_weight: float = 0.7  # sentence score = dense_weight * cosine + (1 - dense_weight) * term overlap
    word_match: float = 0.65  # cosine at which a word of the source speaks about a question term
    min_coverage: float = 0.3  # idf-weighted share of question terms the evidence must support
    min_dense: float = 0.3  # cosine of question and best sentence below which we abstain
    second_sentence: float = 0.92  # a second sentence joins the answer above this share of the best score


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float
    dense: float


class TermStatistics:
    """Chunk frequency of each stem, for idf weights of question terms."""

    def __init__(self, chunks: Sequence[Chunk]):
        df: Counter[str] = Counter()
        for c in chunks:
            df.update({stem(w) for w in words(" ".join((c.title, c.context, c.text)))})
        self.doc_freq = dict(df)
        self.n_chunks = len(chunks)

    def weights(self, terms: list[str]) -> dict[str, float]:
        return idf_weights(terms, self.doc_freq, self.n_chunks)


class VectorCache:
    """Embeddings of short strings (words), computed once per process."""

    def __init__(self, embedder: Embedder, max_size: int = 200_000):
        self.embedder = embedder
        self.max_size = max_size
        self._vectors: dict[str, np.ndarray] = {}

    def get(self, items: Sequence[str]) -> dict[str, np.ndarray]:
        missing = sorted({w for w in items if w not in self._vectors})
        if missing:
            if len(self._vectors) + len(missing) > self.max_size:
                self._vectors.clear()
            for w, v in zip(missing, self.embedder.encode(missing)):
                self._vectors[w] = v
        return {w: self._vectors[w] for w in items if w in self._vectors}


class ExtractiveAnswerer:
    """Answers with the best supporting source sentence(s), quoted and cited; abstains on weak evidence."""

    mode = "extractive"

    def __init__(self, embedder: Embedder, stats: TermStatistics, thresholds: Thresholds | None = None):
        self.embedder = embedder
        self.stats = stats
        self.thresholds = thresholds or Thresholds()
        self.word_vectors = VectorCache(embedder)

    def answer(self, question: str, hits: Sequence[Hit], *, query: str | None = None) -> Answer:
        th = self.thresholds
        query = query or question
        candidates = candidate_sentences(hits)
        if not candidates:
            return abstain(query=query, hits=hits, confidence=0.95)

        terms = key_terms(question)
        answer_type = expected_answer_type(question)
        vectors = self.embedder.encode([query] + [c.text for c in candidates])
        qv, sv = vectors[0], vectors[1:]
        vocab = set(terms)
        for c in candidates:
            vocab.update(words(c.context))
        wv = self.word_vectors.get(sorted(vocab))
        weights = self.stats.weights(terms)

        scored = []
        for c, v in zip(candidates, sv):
            dense = float(qv @ v)
            sentence_words = words(c.text)
            overlap = coverage({t: term_support(t, sentence_words, wv) for t in terms}, weights, th.word_match)
            scored.append(Scored(c, th.dense_weight * dense + (1 - th.dense_weight) * overlap, dense))
        typed = [s for s in scored if has_answer_type(s.candidate.text, answer_type)]
        if not typed:
            return abstain(query=query, hits=hits, confidence=0.8, reason=f"no {answer_type} in the passages")
        typed.sort(key=lambda s: -s.score)
        best = typed[0]

        context_words = words(best.candidate.context)
        supports = {t: term_support(t, context_words, wv) for t in terms}
        cov = coverage(supports, weights, th.word_match)
        confidence = answer_confidence(best.dense, cov, th)
        if cov < th.min_coverage or best.dense < th.min_dense:
            missing = [t for t, s in supports.items() if s < th.word_match]
            log.info("abstaining on %r: coverage %.2f, dense %.2f, unsupported terms %s", question, cov, best.dense, missing)
            return abstain(query=query, hits=hits, confidence=1.0 - confidence)

        chosen = [best]
        if len(typed) > 1:
            second = typed[1]
            if second.score >= th.second_sentence * best.score and second.candidate.doc_id == best.candidate.doc_id:
                chosen.append(second)
        chosen.sort(key=lambda s: (s.candidate.doc_id, s.candidate.start))
        citations = tuple(
            Citation(s.candidate.doc_id, s.candidate.title, s.candidate.start, s.candidate.end, s.candidate.text, round(s.score, 4))
            for s in chosen
        )
        text = " ".join(f"{c.quote} [{i}]" for i, c in enumerate(citations, start=1))
        return Answer(text=text, citations=citations, abstained=False, confidence=confidence,
                      mode=self.mode, query=query, hits=tuple(hits))


def answer_confidence(dense: float, cov: float, th: Thresholds) -> float:
    """Chance the extractive answer is right, from how far the evidence clears the thresholds."""
    return round(sigmoid(6.0 * (cov - th.min_coverage) + 3.0 * (dense - th.min_dense)), 4)


def abstain(*, query: str, hits: Sequence[Hit], confidence: float, reason: str = "") -> Answer:
    if reason:
        log.info("abstaining: %s", reason)
    return Answer(text=ABSTAIN_TEXT, abstained=True, confidence=round(confidence, 4),
                  mode="extractive", query=query, hits=tuple(hits))
