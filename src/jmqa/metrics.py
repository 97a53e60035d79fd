"""Pure evaluation metrics: SQuAD normalisation, EM, token F1, recall@k, MRR, abstention precision and
recall, the accuracy-vs-coverage curve, percentiles. No model, no I/O; each has a small test."""

from __future__ import annotations

import collections
import math
import re
import string
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MARKERS = re.compile(r"\s*\[\d+\]")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})


def normalize_answer(text: str) -> str:
    """SQuAD normalisation (lower case, no punctuation, no articles, single spaces), after folding
    curly quotes to straight ones so ’ and ' compare equal."""
    text = text.translate(_APOSTROPHES).lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def strip_markers(text: str) -> str:
    """An answer's text without its `[n]` citation markers."""
    return _MARKERS.sub("", text).strip()


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer. No gold answers means the
    question is unanswerable: only the empty prediction (an abstention) matches, as in SQuAD 2.0."""
    golds = list(golds) or [""]
    p = normalize_answer(prediction)
    return float(any(p == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """The best token-overlap F1 of the prediction against any gold answer (SQuAD 2.0 rules)."""
    golds = list(golds) or [""]
    pred = normalize_answer(prediction).split()
    best = 0.0
    for g in golds:
        gold = normalize_answer(g).split()
        if not pred or not gold:
            best = max(best, float(pred == gold))
            continue
        common = sum((collections.Counter(pred) & collections.Counter(gold)).values())
        if common:
            precision, recall = common / len(pred), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_gold(answer_text: str, golds: Sequence[str]) -> bool:
    """A gold answer occurs, as whole words, in the answer text (both normalised)."""
    text = f" {normalize_answer(answer_text)} "
    return any((g := normalize_answer(gold)) and f" {g} " in text for gold in golds)


def squash(text: str) -> str:
    return " ".join(text.translate(_APOSTROPHES).split())


def quote_matches_support(quote: str, support: Sequence[str]) -> bool:
    """A cited quote holds a gold support sentence, or a support sentence holds the quote."""
    q = squash(quote)
    return bool(q) and any((s := squash(sup)) and (s in q or q in s) for sup in support)


def first_relevant_rank(relevant: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant result, None when none is."""
    return next((i for i, r in enumerate(relevant, start=1) if r), None)


def recall_at_k(ranks: Sequence[int | None], k: int) -> float | None:
    """Share of questions whose first relevant result is in the top k (None for no questions)."""
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else None


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float | None:
    return sum(1.0 / r for r in ranks if r) / len(ranks) if ranks else None


def abstention_precision_recall(abstained: Sequence[bool], answerable: Sequence[bool]) -> tuple[float | None, float | None]:
    """Precision: share of abstentions made on unanswerable questions. Recall: share of unanswerable
    questions abstained on. None where the denominator is empty."""
    hits = sum(1 for a, ok in zip(abstained, answerable) if a and not ok)
    n_abstained = sum(abstained)
    n_unanswerable = sum(1 for ok in answerable if not ok)
    return (hits / n_abstained if n_abstained else None, hits / n_unanswerable if n_unanswerable else None)


def coverage_curve(confidence: Sequence[float], answered: Sequence[bool], correct: Sequence[bool]) -> list[dict[str, float]]:
    """Accuracy against coverage as the abstention threshold rises: at threshold t the assistant answers
    only where it answered and its confidence is >= t. Coverage = share of all questions answered;
    accuracy = share of those answers that are correct (an answer to an unanswerable question is wrong).
    One point per distinct confidence, from the lowest threshold (full coverage) up."""
    rows = [(c, ok) for c, a, ok in zip(confidence, answered, correct) if a]
    n = len(confidence)
    if not n:
        return []
    points = []
    for t in sorted({c for c, _ in rows}):
        kept = [ok for c, ok in rows if c >= t]
        points.append({"threshold": t, "coverage": len(kept) / n, "accuracy": sum(kept) / len(kept)})
    return points


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0-100), linear between closest ranks; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * p / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None
