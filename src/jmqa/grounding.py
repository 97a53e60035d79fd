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


def topic_words(question: str, source: str) -> tuple[int, int]:
    """How many of the question's content words (same stem) the source holds, and how many it has: whether
    a sentence speaks of what was asked."""
    asked = {stem(w) for w in content_words(question)}
    have = {stem(w) for w in words(source)}
    return len(asked & have), len(asked)


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


# Scale words and numerals that are not digits, by value: an answer in another language may write the
# source's "4 million" as "400万" or "over a hundred" as "一百多", so such answers are checked by value.
_SCALES = {"hundred": 1e2, "hundreds": 1e2, "thousand": 1e3, "thousands": 1e3, "million": 1e6, "millions": 1e6,
           "billion": 1e9, "billions": 1e9, "百": 1e2, "千": 1e3, "万": 1e4, "萬": 1e4, "亿": 1e8, "億": 1e8}
_DIGITS = {ch: float(i) for i, ch in enumerate("零一二三四五六七八九")} | {"两": 2.0, "〇": 0.0, "十": 10.0}
_VALUE = re.compile(r"(\d+(?:[.,]\d+)*|[零〇一二两三四五六七八九十]+)?\s*((?:hundreds?|thousands?|millions?|billions?|[百千万萬亿億])"
                    r"(?:\s*(?:hundreds?|thousands?|millions?|billions?|[百千万萬亿億]))*)?", re.IGNORECASE)


def number_values(text: str, *, bare_numerals: bool = True) -> set[float]:
    """The quantities a text states, as values, whatever the language writes them in: "4 million",
    "4,000,000" and "400万" are all 4e6; "a hundred" and "一百" are 100. `bare_numerals=False` leaves out
    numerals written in words without a scale ("三" of "三角洲", "一" of "之一"), which words hold too."""
    values = set()
    for m in _VALUE.finditer(text):
        digits, scales = m.group(1), m.group(2)
        if not digits and not scales or not (bare_numerals or scales or digits[0].isdigit()):
            continue
        value = _numeral(digits) if digits else 1.0
        for scale in re.findall(r"hundreds?|thousands?|millions?|billions?|[百千万萬亿億]", scales or "", re.IGNORECASE):
            value *= _SCALES[scale.lower()]
        values.add(round(value, 6))
    return values


def _numeral(token: str) -> float:
    if token[0].isdigit():
        return float(token.replace(",", ""))
    if token in _DIGITS:
        return _DIGITS[token]
    if "十" in token:  # 十二 = 12, 二十 = 20, 二十三 = 23
        tens, _, ones = token.partition("十")
        return (_DIGITS.get(tens, 1.0) if tens else 1.0) * 10 + (_DIGITS.get(ones, 0.0) if ones else 0.0)
    return float("".join(str(int(_DIGITS[ch])) for ch in token))  # 二〇二五 = 2025


def values_supported(sentence: str, source: str, *, bare_numerals: bool = True) -> bool:
    """Every quantity of the sentence is one the source states (compared by value, for answers written in
    another language than the source's). `bare_numerals=False`: the sentence's numerals written in words
    without a scale count for nothing (see `number_values`)."""
    return number_values(sentence, bare_numerals=bare_numerals) <= number_values(source)


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


def backs(lexical: float, semantic: float, *, min_lexical: float = 0.75, min_semantic: float = 0.6) -> bool:
    """Whether a source backs a sentence by its words: most of them (`min_lexical`), or, for a paraphrase,
    fewer words but a close meaning (`min_semantic`, and half the words)."""
    return lexical >= min_lexical or (semantic >= min_semantic and lexical >= 0.5)


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
        supported = numbers_ok and backs(lexical, semantic, min_lexical=min_lexical, min_semantic=min_semantic)
        check = SupportCheck(sentence, i, round(lexical, 4), round(semantic, 4), numbers_ok, supported)
        if best is None or (check.supported, check.score) > (best.supported, best.score):
            best = check
    if best is None:
        return SupportCheck(sentence, -1, 0.0, 0.0, False, False)
    return best
