"""Evidence checks shared by every answerer: question terms, candidate sentences, term support, answer types.

All functions here are pure (vectors are passed in), so each rule has a small test of its own.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .chunking import split_sentences
from .types import Chunk, Hit

# Words that carry no subject of their own in a question: function words, question words and
# verbs that every question can use ("What does the city plan to become?").
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been before being
    below between both but by can cannot could did didn do does doesn doing don down during each either
    else ever few for from further get gets got had has have having he her here hers herself him himself
    his how i if in into is isn it its itself just let me more most much must my myself neither no nor
    not now of off on once one only or other ought our ours ourselves out over own per please same shall
    she should so some such than that the their theirs them themselves then there these they this those
    through to too under until up upon us very was we were what whatever when where whether which while
    who whom whose why will with within without would yet you your yours yourself
    tell say says said know known give list name describe explain mention mentioned according document
    documents text passage passages kind kinds sort type types thing things way ways main mainly
    want wants plan plans planned aim aims become becomes make makes made use used role part parts
    really actually exactly specifically particular particularly regarding concerning etc
    refer refers referred mean means meant call called calls ones
    """.split()
)

# A word: a run of letters of any alphabet (hyphens inside: "Baden-Württemberg"), a number, or one character of a
# script written without spaces between words (Thai, Lao, Myanmar, Khmer, kana, Han): "München" is one word, not
# "nchen"; a Russian question has words of its own. The Indic blocks are letters whole (their vowel signs are marks).
_UNSPACED = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_LETTER = rf"(?:(?![{_UNSPACED}])[^\W\d_]|[\u0300-\u036f\u0900-\u0dff])"
_WORD = re.compile(rf"{_LETTER}(?:{_LETTER}|-)*{_LETTER}|{_LETTER}|\d+(?:[.,]\d+)*|[{_UNSPACED}]")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


@functools.lru_cache(maxsize=1 << 18)  # pure, and called for every word of every chunk at load
def stem(word: str) -> str:
    """A light English stemmer: enough to match industry/industries, manufacture/manufacturing."""
    w = word.lower()
    for suffix, repl in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ers", ""), ("er", ""), ("ed", ""),
                         ("es", ""), ("s", ""), ("al", ""), ("ly", ""), ("ion", ""), ("e", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            return w[: -len(suffix)] + repl
    return w


def chunk_terms(chunk: Chunk) -> set[str]:
    """The stems a chunk speaks about (title and heading included): what term statistics count."""
    return {stem(w) for w in set(words(" ".join((chunk.title, chunk.context, chunk.text))))}


def key_terms(question: str) -> list[str]:
    """The content words a supporting sentence has to speak about, in order, without repeats."""
    out: list[str] = []
    for w in words(question):
        if w in STOPWORDS or (len(w) < 2 and not w.isdigit() and not _is_cjk(w)):
            continue
        if w not in out:
            out.append(w)
    return out


def _is_cjk(w: str) -> bool:
    return bool(re.fullmatch(r"[\u4e00-\u9fff]", w))


# ---------------------------------------------------------------- answer types

_NUMBER_WORDS = r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundreds?|thousands?|millions?|billions?|percent)\b"
_DATE_WORDS = (r"\b(1\d{3}|20\d{2})s?\b|\bcentur(y|ies)\b|\b(january|february|march|april|may|june|july|august|"
               r"september|october|november|december)\b|\b(since|until|by|in) (the )?(early|late|mid)?\s*\d")
_QUANTITY_NOUNS = {"population", "gdp", "area", "percentage", "percent", "share", "rate", "distance", "revenue",
                   "budget", "cost", "price", "height", "temperature", "income", "salary", "age", "value", "size"}


# "the most", "the largest": a question that asks which one ranks first needs a sentence that ranks
_SUPERLATIVE = (r"\b(most|least|best|worst|largest|biggest|greatest|highest|lowest|smallest|fewest|"
                r"oldest|newest|longest|richest|busiest|fastest)\b")


def expected_answer_type(question: str) -> str | None:
    """'number', 'date', 'superlative' or None (any). Typed questions need a sentence that can hold such an answer."""
    q = question.lower()
    if re.search(r"\b(when|what year|which year|what date|which century|what century|how long ago|since when)\b", q):
        return "date"
    if re.search(r"\bhow (many|much|far|big|large|long|old|tall|high|fast)\b", q):
        return "number"
    quantity = "|".join(sorted(_QUANTITY_NOUNS))
    if re.search(rf"^\s*(what|which)( is| was| are| were)? (the )?([\w\-]+(’s|'s) )?(total |annual |current )?({quantity})\b", q):
        return "number"
    # "Which country has the most …", "What is the biggest …" (not "most of them" or "at most": no article before it)
    if re.search(rf"\b(the|its|their)\s+{_SUPERLATIVE}\b", q):
        return "superlative"
    return None


def has_answer_type(sentence: str, answer_type: str | None) -> bool:
    # a rank ("No. 1 Hometown") names no quantity
    s = re.sub(r"\bno\.\s*\d+", " ", sentence.lower())
    if answer_type == "number":
        return re.search(_NUMBER_WORDS, s) is not None
    if answer_type == "date":
        return re.search(_DATE_WORDS, s) is not None
    if answer_type == "superlative":
        return re.search(_SUPERLATIVE, s) is not None
    return True


# "Thus X is dubbed …": a sentence that draws a conclusion; the reason is in the sentence before it
_CONSEQUENCE = re.compile(r"^\s*(thus|therefore|hence|consequently|as a result|for this reason|that is why|so)\b", re.IGNORECASE)


def is_why_question(question: str) -> bool:
    return re.search(r"\b(why|how come|for what reason|what is the reason|what are the reasons)\b", question, re.IGNORECASE) is not None


def draws_conclusion(sentence: str) -> bool:
    return _CONSEQUENCE.match(sentence) is not None


# ---------------------------------------------------------------- names and numbers

# A capitalised word inside the question (a name: "Scotland", "Kaiping") or a number ("1562", "10,000")
_NAME_OR_NUMBER = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)*\b|\b\d[\d,]*(?:\.\d+)?\b")
_FOLDED_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")


def _fold(text: str) -> str:
    """Lower case, accents dropped ("Céloron" -> "celoron"), thousands separators dropped ("10,000" -> "10000")."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return re.sub(r"(?<=\d),(?=\d{3})", "", text)


def names_and_numbers(question: str) -> list[str]:
    """The names and numbers a question asks about, which a passage that answers it must contain
    exactly: capitalised words that are not function or question words, and numbers."""
    out = []
    for m in _NAME_OR_NUMBER.finditer(question):
        token = m.group(0)
        starts_sentence = re.search(r"(^|[.!?:;\"“(]\s*)$", question[: m.start()]) is not None
        if token.lower() in STOPWORDS or token in out or (starts_sentence and not token[0].isdigit()):
            continue  # a capital that starts a sentence ("Besides …", "Factories …") marks no name
        out.append(token)
    return out


def mentions(name: str, text_words: set[str]) -> bool:
    """Whether the text names `name`: the same word, a form of it ("Britain" ~ "British", "Italian" ~
    "Italy"), or a spelling one letter away ("Hatmanis" ~ "Hartmanis"). Numbers must be the same."""
    n = _fold(name)
    if n in text_words:
        return True
    if n[0].isdigit():
        return False
    for w in text_words:
        if w[0].isdigit() or abs(len(w) - len(n)) > 3:
            continue
        prefix = len(os.path.commonprefix([n, w]))
        if prefix >= 4 and prefix >= 0.5 * max(len(n), len(w)):
            return True
        if len(n) >= 6 and difflib.SequenceMatcher(None, n, w).ratio() >= 0.85:
            return True
    return False


def unnamed(question: str, text: str) -> list[str]:
    """The names and numbers of the question that `text` does not contain. A question about
    "Scotland" is not answered by a passage about England, however close their embeddings are."""
    text_words = set(_FOLDED_WORD.findall(_fold(text)))
    return [t for t in names_and_numbers(question) if not mentions(t, text_words)]


# ---------------------------------------------------------------- candidate sentences


@dataclass(frozen=True)
class Candidate:
    """A source sentence of a retrieved chunk, with where it sits."""

    doc_id: str
    title: str
    start: int
    end: int
    text: str
    hit_rank: int
    context: str  # the chunk the sentence came from, with its title and heading


def candidate_sentences(hits: Iterable[Hit]) -> list[Candidate]:
    """Every sentence of the hits' chunks once, offsets into its document, in retrieval order."""
    seen: set[tuple[str, int]] = set()
    out: list[Candidate] = []
    for rank, hit in enumerate(hits):
        c = hit.chunk
        context = " ".join(p for p in (c.title, c.context, c.text) if p)
        for span in split_sentences(c.text):
            start, end = c.start + span.start, c.start + span.end
            if (c.doc_id, start) in seen:
                continue
            seen.add((c.doc_id, start))
            out.append(Candidate(c.doc_id, c.title, start, end, c.text[span.start : span.end], rank, context))
    return out


# ---------------------------------------------------------------- term support


def term_support(term: str, text_words: Iterable[str], vectors: Mapping[str, np.ndarray]) -> float:
    """How well `text_words` speak about `term`: 1.0 for the same stem, else the best cosine of
    the words' embeddings (0 when a vector is missing)."""
    t_stem = stem(term)
    best = 0.0
    tv = vectors.get(term)
    for w in text_words:
        if w == term or stem(w) == t_stem:
            return 1.0
        if tv is not None and (wv := vectors.get(w)) is not None:
            best = max(best, float(tv @ wv))
    return best


def idf_weights(terms: list[str], doc_freq: Mapping[str, int], n_chunks: int) -> dict[str, float]:
    """BM25-style idf of each term over chunks; a term the corpus never uses weighs the most."""
    out = {}
    for t in terms:
        df = doc_freq.get(stem(t), 0)
        out[t] = math.log(1.0 + (n_chunks - df + 0.5) / (df + 0.5))
    return out


def coverage(supports: Mapping[str, float], weights: Mapping[str, float], threshold: float) -> float:
    """Weighted share of terms whose support reaches `threshold` (1.0 when there are no terms)."""
    total = sum(weights.get(t, 1.0) for t in supports)
    if total <= 0:
        return 1.0
    return sum(weights.get(t, 1.0) for t, s in supports.items() if s >= threshold) / total

