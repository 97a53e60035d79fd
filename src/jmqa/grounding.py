"""Generated text -> verified, cited text: each answer sentence must be backed by a source sentence.

Pure functions: the caller passes in the sentence embeddings, so every rule is testable without a model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .chunking import split_sentences
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


def strip_markers(text: str) -> str:
    return MARKER.sub("", text).strip()


def answer_sentences(text: str) -> list[tuple[str, list[int]]]:
    """The answer split into sentences, each with the source numbers its [n] markers name."""
    text = text.strip()
    out = []
    for span in split_sentences(text):
        raw = text[span.start : span.end]
        cited = [int(n) for m in MARKER.finditer(raw) for n in re.split(r"\s*,\s*", m.group(1))]
        sentence = strip_markers(raw)
        if re.search(r"\w", sentence):
            out.append((sentence, cited))
    # a marker that trails the last sentence's full stop ("… materials. [1]") belongs to it
    return out


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


def cite(checks: Sequence[SupportCheck]) -> tuple[str, list[int]]:
    """The text of the supported sentences with markers renumbered in order of first use, and the
    source indices those markers point to (marker n -> sources[used[n-1]])."""
    used: list[int] = []
    parts = []
    for c in checks:
        if not c.supported:
            continue
        if c.source not in used:
            used.append(c.source)
        body = c.sentence if c.sentence[-1] in ".!?。！？" else c.sentence + "."
        body = body[0].upper() + body[1:]
        parts.append(f"{body[:-1]} [{used.index(c.source) + 1}]{body[-1]}")
    return " ".join(parts), used


@dataclass(frozen=True)
class Quote:
    """A phrase copied word for word from source sentence `source`: `text` is the source's own spelling."""

    source: int
    start: int
    end: int
    text: str


_TOKEN = re.compile(r"\w+", re.UNICODE)


def quoted_phrase(draft: str, sources: Sequence[str]) -> Quote | None:
    """The draft found word for word in a source sentence (case, spacing and punctuation aside, on word
    boundaries), as the source spells it; None when it is not a copy or is only function words. A
    copied phrase is grounded by construction: it cannot twist what its source says."""
    draft_tokens = [t.lower() for t in _TOKEN.findall(strip_markers(draft))]
    if not draft_tokens or all(t in STOPWORDS for t in draft_tokens):
        return None
    n = len(draft_tokens)
    for i, source in enumerate(sources):
        matches = list(_TOKEN.finditer(source))
        tokens = [m.group(0).lower() for m in matches]
        for j in range(len(tokens) - n + 1):
            if tokens[j : j + n] == draft_tokens:
                start, end = matches[j].start(), matches[j + n - 1].end()
                return Quote(i, start, end, source[start:end])
    return None


_ASKED_KIND = re.compile(r"^\s*(?:which|what)\s+((?:[\w\-]+\s+){0,3}?[\w\-]+)\s+"
                         r"(?:does|do|did|is|are|was|were|will|has|have|can|could|should|would)\b", re.IGNORECASE)


def copy_slip(question: str, phrase: str, sentence: str) -> str | None:
    """Why a phrase copied word for word from `sentence` still does not answer `question` (None: it may).
    A small model's two slips: passing over the thing a "Which X" question names, and echoing the question."""
    if passes_over_the_named_one(question, phrase, sentence):
        return "is not the one its sentence names"
    if echoes_the_question(question, phrase):
        return "only repeats the question"
    return None


def passes_over_the_named_one(question: str, phrase: str, sentence: str) -> bool:
    """A "Which logistics hub centre …?" question whose sentence names one ("the Heshan Logistics Hub
    Centre") while the copied phrase is something else: a small model's slip, so the sentence should answer."""
    m = _ASKED_KIND.match(question)
    if not m:
        return False
    kind = [w.capitalize() for w in m.group(1).split()[-2:]]  # the head noun and the word before it, as in a name
    named = re.search(r"\b[A-Z][\w\-]*\s+" + r"\s+".join(map(re.escape, kind)) + r"\b", sentence)
    return named is not None and kind[-1].lower() not in phrase.lower()


def echoes_the_question(question: str, phrase: str) -> bool:
    """A copied phrase made only of the question's own words ("What are the stages called?" -> "Stages")
    says nothing new, unless the question offers a choice ("faster or slower?")."""
    asked = words(question)
    if "or" in asked:
        return False
    said = {stem(w) for w in words(phrase) if w not in STOPWORDS}
    return bool(said) and said <= {stem(w) for w in asked}
