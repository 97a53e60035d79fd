"""Pure evaluation metrics: SQuAD normalisation, EM, token F1, recall@k, MRR, abstention precision and
recall, the accuracy-vs-coverage curve, percentiles, the answer-form scorers (list items, yes/no, open points,
answer language, forbidden strings) and the correctness rule, calibration (ECE, AUROC). No model, no I/O;
each has a small test."""

from __future__ import annotations

import collections
import math
import re
import string
import unicodedata
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


# ---------------------------------------------------------------- answer forms (evaluation rules, not the product)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"|「[^」]*」")
_WORD = re.compile(r"\w+(?:['’]\w+)*")

# How the yes/no scorer reads an answer's polarity. English: the first of these whole words among the
# answer's first three words. Chinese: the answer's first characters, spaces and punctuation removed.
YES_WORDS = frozenset({"yes"})
NO_WORDS = frozenset({"no"})
ZH_YES_PREFIXES = ("是的", "是", "对", "有", "会")
ZH_NO_PREFIXES = ("不是", "并非", "没有", "不", "否")


def has_cjk(text: str) -> bool:
    """The text holds at least one CJK (Han) character."""
    return bool(_CJK.search(text))


def alias_present(answer: str, alias: str) -> bool:
    """A CJK alias is a plain substring of the answer (spaces removed from both, case folded); any other
    alias must occur as whole words after SQuAD normalisation (`contains_gold`), where in an answer that
    holds CJK text, CJK characters and punctuation also end a word ("纺织（textile）" holds "textile")."""
    if has_cjk(alias):
        a = "".join(alias.split()).casefold()
        return bool(a) and a in "".join(answer.split()).casefold()
    if contains_gold(answer, [alias]):
        return True
    return has_cjk(answer) and contains_gold(_split_cjk(answer), [alias])


def _split_cjk(text: str) -> str:
    return "".join(" " if _CJK.match(ch) or (ord(ch) > 127 and unicodedata.category(ch)[0] == "P") else ch
                   for ch in text.translate(_APOSTROPHES))


def any_alias(answer: str, aliases: Sequence[str]) -> bool:
    """Some alias of the list is present in the answer."""
    return any(alias_present(answer, a) for a in aliases)


def points_found(answer: str, points: Sequence[Sequence[str]]) -> int:
    """How many points (each a list of aliases) have an alias in the answer."""
    return sum(any_alias(answer, aliases) for aliases in points)


def _unpunctuated(text: str) -> str:
    return "".join(ch for ch in text if not (ch.isspace() or unicodedata.category(ch)[0] in "PSZ"))


def yesno_polarity(answer: str) -> str | None:
    """"yes" or "no" as the answer's first words say it, else None. A Chinese answer (spaces and
    punctuation removed) starting with 是/对/是的/有/会 says yes, with 不/否/没有/并非/不是 no; an English
    one says what the first of the whole words yes/no among its first three words says (any case)."""
    bare = _unpunctuated(answer)
    if bare.startswith(ZH_NO_PREFIXES):
        return "no"
    if bare.startswith(ZH_YES_PREFIXES):
        return "yes"
    for word in _WORD.findall(answer.lower())[:3]:
        if word in YES_WORDS:
            return "yes"
        if word in NO_WORDS:
            return "no"
    return None


def language_units(text: str) -> tuple[int, int]:
    """(CJK characters, Latin words) of a text once its [n] markers and quoted passages (“…”, "…", 「…」)
    are removed."""
    text = _QUOTED.sub(" ", _MARKERS.sub(" ", text))
    return len(_CJK.findall(text)), len(_LATIN_WORD.findall(text))


def in_chinese(text: str) -> bool:
    """CJK characters make up at least half of the text's units (one per CJK character, one per Latin
    word; see `language_units`). A text with no unit at all counts as Chinese."""
    cjk, latin = language_units(text)
    return cjk >= latin


def guess_language(question: str) -> str:
    """"zh" when most of the question's units are CJK characters, else "en"."""
    cjk, latin = language_units(question)
    return "zh" if cjk > latin else "en"


def forbidden_present(answer: str, forbidden: Sequence[str]) -> bool:
    """A forbidden string occurs in the answer (case-insensitive substring)."""
    text = answer.casefold()
    return any(f.strip() and f.casefold() in text for f in forbidden)


def form_passes(prediction: str, *, answers: Sequence[str] = (), items: Sequence[Sequence[str]] = (),
                yesno: str | None = None, points: Sequence[Sequence[str]] = (), min_points: int = 0,
                quote_matches: bool = False) -> bool:
    """Whether an answer's text has the form the question asks for, by the first form the row gives:

    1. `items`: every required item has one of its aliases in the text;
    2. `yesno`: the text's first words say `yesno` ("yes"/"no", see `yesno_polarity`);
    3. `points`: at least `min_points` points have an alias in the text;
    4. otherwise (the original schema): one of `answers` is present, or `quote_matches` (a citation
       of the answer holds a gold support sentence). Only this form takes the citation shortcut."""
    if items:
        return all(any_alias(prediction, aliases) for aliases in items)
    if yesno:
        return yesno_polarity(prediction) == yesno
    if points:
        return points_found(prediction, points) >= min_points
    return any_alias(prediction, answers) or quote_matches


def is_correct(*, answerable: bool, abstained: bool, form_ok: bool, in_language: bool | None,
               forbidden_hit: bool) -> bool:
    """The correctness of one row.

    - A forbidden string in the answer makes any row wrong.
    - Unanswerable row: correct when the assistant abstained.
    - Answerable row: correct when it answered (did not abstain), the answer has the asked form
      (`form_passes`) and, for a Chinese ("zh") row, the answer is in Chinese (`in_language` is not
      False; None means not checked)."""
    if forbidden_hit:
        return False
    if not answerable:
        return abstained
    return not abstained and form_ok and in_language is not False


# ---------------------------------------------------------------- calibration of confidence


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float | None:
    """ECE of `confidence` as the probability of being correct: the rows fall into `bins` equal-width
    bins over [0, 1] (1.0 in the last); the mean |accuracy - mean confidence| of the bins, each weighted
    by its share of rows. None for no rows."""
    if not confidence:
        return None
    groups: dict[int, list[tuple[float, bool]]] = collections.defaultdict(list)
    for c, ok in zip(confidence, correct):
        c = min(max(float(c), 0.0), 1.0)
        groups[min(int(c * bins), bins - 1)].append((c, bool(ok)))
    n = len(confidence)
    return sum(len(g) / n * abs(sum(ok for _, ok in g) / len(g) - sum(c for c, _ in g) / len(g))
               for g in groups.values())


def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """Area under the ROC curve of `scores` separating positive from negative rows: the chance that a
    random positive row scores higher than a random negative one, ties counting one half (Mann-Whitney).
    None when either class is empty."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return None
    # rank-sum form: average ranks over ties, O(n log n)
    order = sorted(scores)
    rank: dict[float, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and order[j] == order[i]:
            j += 1
        rank[order[i]] = (i + 1 + j) / 2  # mean of the 1-based ranks i+1 .. j
        i = j
    rank_sum = sum(rank[s] for s in pos)
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


# ---------------------------------------------------------------- shares over rows


def in_language_rate(in_language: Sequence[bool | None]) -> float | None:
    """Share of the checked answers (not None: a "zh" row answered) that are in the asked language."""
    checked = [v for v in in_language if v is not None]
    return sum(checked) / len(checked) if checked else None


def conversation_accuracy(conversations: Sequence[str], correct: Sequence[bool]) -> float | None:
    """Share of conversations whose every turn is correct; `conversations[i]` is turn i's conversation."""
    every: dict[str, bool] = {}
    for conv, ok in zip(conversations, correct):
        every[conv] = every.get(conv, True) and bool(ok)
    return sum(every.values()) / len(every) if every else None
