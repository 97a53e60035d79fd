"""Generated text -> verified, cited text: each answer sentence must be backed by a source sentence.

Pure functions: the caller passes in the sentence embeddings, so every rule is testable without a model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .evidence import STOPWORDS, stem, words

MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_WORDS = {"hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion", "billions"}


@dataclass(frozen=True)
class SupportCheck:
    """How one answer sentence is backed by its best source sentence."""

    sentence: str  # the answer sentence without [n] markers
    source: int  # index of the best supporting source sentence
    lexical: float  # share of the sentence's new content words found in that source
    semantic: float  # cosine of the sentence and that source
    numbers_ok: bool  # every number (and scale word) in the sentence occurs in that source
    supported: bool

    @property
    def score(self) -> float:
        return round(0.5 * (self.lexical + self.semantic), 4) if self.numbers_ok else 0.0


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1 or w.isdigit()]


def lexical_support(sentence: str, source: str, question: str = "") -> float:
    """Share of the sentence's content words that the source holds (same stem). Words the question
    already used are not claims, so they are left out; a sentence that only repeats the question
    says nothing the sources back, so it scores 0."""
    given = {stem(w) for w in words(question)}
    claimed = [stem(w) for w in content_words(sentence) if stem(w) not in given]
    if not claimed:
        return 0.0
    have = {stem(w) for w in words(source)}
    return sum(1 for w in claimed if w in have) / len(claimed)


def numbers_supported(sentence: str, source: str, question: str = "") -> bool:
    """Every number and scale word of the sentence occurs in the source ("10 million" needs "10" and
    "million"), and a number is not pinned to a noun of the question that the source does not pin it
    to ("4 million countries" when the source counts 4 million people and a hundred countries)."""
    src_numbers = {n.replace(",", "") for n in _NUMBER.findall(source)}
    src_words = words(source)
    for n in _NUMBER.findall(sentence):
        if n.replace(",", "") not in src_numbers:
            return False
    if not all(w in src_words for w in words(sentence) if w in _NUMBER_WORDS):
        return False
    asked = {stem(w) for w in words(question)} - {stem(w) for w in STOPWORDS}
    for quantity, noun in _quantities(words(sentence)):
        if stem(noun) in asked and (quantity, stem(noun)) not in {(q, stem(n)) for q, n in _quantities(src_words)}:
            return False
    return True


def _quantities(tokens: list[str]) -> list[tuple[str, str]]:
    """(number phrase, the word after it) pairs: "4 million countries" -> ("4 million", "countries")."""
    out, i = [], 0
    while i < len(tokens):
        if _NUMBER.fullmatch(tokens[i]) or tokens[i] in _NUMBER_WORDS:
            j = i
            while j < len(tokens) and (_NUMBER.fullmatch(tokens[j]) or tokens[j] in _NUMBER_WORDS):
                j += 1
            out.append((" ".join(tokens[i:j]), tokens[j] if j < len(tokens) else ""))
            i = j
        else:
            i += 1
    return out


def check_sentence(
    sentence: str,
    sentence_vector: np.ndarray,
    sources: Sequence[str],
    source_vectors: np.ndarray,
    *,
    question: str = "",
    min_lexical: float = 0.75,
    min_semantic: float = 0.6,
) -> SupportCheck:
    """Find the source sentence that backs `sentence` best and say whether it backs it enough:
    its numbers must all be there, and most of its new content words (or, for a paraphrase,
    fewer words but a close meaning)."""
    best: SupportCheck | None = None
    for i, (source, vector) in enumerate(zip(sources, source_vectors)):
        lexical = lexical_support(sentence, source, question)
        semantic = float(np.dot(sentence_vector, vector))
        numbers_ok = numbers_supported(sentence, source, question)
        supported = numbers_ok and (lexical >= min_lexical or (semantic >= min_semantic and lexical >= 0.5))
        check = SupportCheck(sentence, i, round(lexical, 4), round(semantic, 4), numbers_ok, supported)
        if best is None or (check.supported, check.score) > (best.supported, best.score):
            best = check
    if best is None:
        return SupportCheck(sentence, -1, 0.0, 0.0, False, False)
    return best
