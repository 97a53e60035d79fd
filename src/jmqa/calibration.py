"""Evidence features -> the probability that an answer is right, and the threshold below which to abstain.

Two small logistic models, fitted on the dev set by `jmqa calibrate` and kept in `calibration.json`
beside this file (or a file of your own, `JMQA_CALIBRATION_FILE`):
1. `Calibration`, the extractive answer (no LLM): how much of the question the best sentence covers, how close it is;
2. `AnswerCalibration`, the model's verified answer: how likely the model was to refuse, how much of its
   draft stood verification, how close the cited sentences are to the question, and how sure the model is,
   reading the question, the answer and the sources it cites, that those sources state it; and, from the
   same signals, how likely an abstention is to be right (`AnswerCalibration.abstention_probability`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BadInputError

log = logging.getLogger(__name__)

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


@dataclass(frozen=True)
class AnswerCalibration:
    """p(the answer is right) = sigmoid(w_refusal * log p_refusal + w_supported * supported share
    + w_relevance * best cosine of the query and a cited sentence + w_stated * logit p_stated + bias);
    abstain below `threshold`. p_stated is the model's P(yes) that the cited sources state the answer
    (`answer_features` clips it). `fitted_on` says which rows the figures come from (the dev set only); a file
    fitted before the check existed has no w_stated, and reads as 0. `abstain`: the weights and bias of the
    same features' logistic model of "the question is unanswerable" (`fit_abstention`), an abstention's
    confidence; empty, that confidence is 1 - p."""

    w_refusal: float = -0.5
    w_supported: float = 2.0
    w_relevance: float = 2.0
    bias: float = -1.0
    threshold: float = 0.3
    fitted_on: str = "hand-set defaults"
    w_stated: float = 0.0
    abstain: tuple[float, ...] = ()

    def probability(self, log_p_refusal: float, supported: float, relevance: float, stated: float = 0.5) -> float:
        weights = (self.w_refusal, self.w_supported, self.w_relevance, self.w_stated, self.bias)
        return _logistic(weights, answer_features(log_p_refusal, supported, relevance, stated))

    def abstention_probability(self, log_p_refusal: float, supported: float, relevance: float,
                               stated: float = 0.5) -> float:
        """p(abstaining is right): not 1 - p, since an answerable question's draft can be wrong and abstaining
        on it is wrong too; fitted on dev as the chance that the question has no answer in the sources."""
        if len(self.abstain) != 5:
            return 1.0 - self.probability(log_p_refusal, supported, relevance, stated)
        return _logistic(self.abstain, answer_features(log_p_refusal, supported, relevance, stated))


STATED_CLIP = 0.01  # p_stated is read within [0.01, 0.99]: the model is never that sure, and one token's logit is noisy


def answer_features(log_p_refusal: float, supported: float, relevance: float, stated: float) -> np.ndarray:
    """The answer calibration's inputs as the logistic model reads them: p_stated as log-odds."""
    p = min(max(stated, STATED_CLIP), 1.0 - STATED_CLIP)
    return np.array([log_p_refusal, supported, relevance, math.log(p / (1.0 - p))])


def _logistic(weights_and_bias: Sequence[float], features: np.ndarray) -> float:
    """sigmoid(weights · features + bias), the bias last."""
    return _sigmoid(float(np.dot(weights_and_bias[:-1], features)) + weights_and_bias[-1])


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True)
class Calibration:
    """p(answer is right) = sigmoid(w_coverage * coverage + w_dense * dense + bias); abstain below threshold."""

    w_coverage: float = 6.0
    w_dense: float = 3.0
    bias: float = -2.7
    threshold: float = 0.5
    fitted_on: str = "hand-set defaults"
    answer: AnswerCalibration = field(default_factory=AnswerCalibration)

    def probability(self, coverage: float, dense: float) -> float:
        return _sigmoid(self.w_coverage * coverage + self.w_dense * dense + self.bias)

    def to_dict(self) -> dict:
        return asdict(self)


def load_calibration(path: Path = CALIBRATION_FILE) -> Calibration:
    """The calibration in `path` (a file without the reader stage keeps its defaults)."""
    if not path.is_file():
        if path != CALIBRATION_FILE:
            raise BadInputError(f"calibration file {path} does not exist; write one with `jmqa calibrate --out {path}`")
        return Calibration()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data.pop("reader", None)  # the reader stage of jmqa before the verified-answer design
        fields = data.pop("answer", {})
        answer = AnswerCalibration(**{**fields, "abstain": tuple(fields.get("abstain", ()))})
        return Calibration(**data, answer=answer)
    except (ValueError, TypeError, AttributeError) as exc:
        raise BadInputError(f"calibration file {path} is not a jmqa calibration ({exc}); "
                            "write one with `jmqa calibrate`") from exc


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-3, steps: int = 5000) -> tuple[np.ndarray, float]:
    """Weights and bias of a logistic regression by Newton's method (small, dense problems only)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xb = np.c_[x, np.ones(len(x))]
    w = np.zeros(xb.shape[1])
    reg = l2 * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -50, 50)))
        grad = xb.T @ (p - y) / len(y) + reg @ w
        hess = (xb.T * (p * (1 - p))) @ xb / len(y) + reg + 1e-9 * np.eye(xb.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w[:-1], float(w[-1])


def best_threshold(p: np.ndarray, correct: np.ndarray, answerable: np.ndarray) -> float:
    """The threshold that maximises answer accuracy on answerable rows plus abstention on unanswerable ones."""
    p, correct, answerable = (np.asarray(a) for a in (p, correct, answerable))
    best_t, best_v = 0.5, -1.0
    for t in np.unique(np.r_[p, 0.5]):
        answered = p >= t
        acc = np.mean(answered[answerable] & correct[answerable]) if answerable.any() else 0.0
        abst = np.mean(~answered[~answerable]) if (~answerable).any() else 0.0
        if acc + abst > best_v + 1e-12:
            best_t, best_v = float(t), acc + abst
    return best_t


def _fold(text: str) -> str:
    return " ".join(text.replace("’", "'").replace("“", '"').replace("”", '"').lower().split())


def evidence_is_right(quotes: list[str], support: str | list[str] | None) -> bool:
    """Whether cited quotes hold the gold support sentence(s) (either contains the other)."""
    if not support:
        return False
    gold = [support] if isinstance(support, str) else list(support)
    return any(_fold(g) in _fold(q) or _fold(q) in _fold(g) for g in gold for q in quotes)


def evidence_holds(quotes: list[str], support: Sequence[str], answers: Sequence[str]) -> bool:
    """Whether the quotes hold the gold support sentence or, with no support given (SQuAD), a gold answer."""
    if support:
        return evidence_is_right(quotes, list(support))
    return any(_fold(a) in _fold(q) for a in answers if a.strip() for q in quotes)


@dataclass(frozen=True)
class CalibrationRow:
    """One gold question as the evidence stage sees it (what `fit` measures, `fit_rows` fits on)."""

    features: tuple[float, float]  # coverage, dense
    right: bool  # answerable, and the sentences read hold its gold support (or answer)
    answerable: bool


def fit(assistant: Any, items: Sequence[Any], *, progress: Any = None) -> Calibration:
    """The extractive stage on gold items (QAItems): a logistic model of "the chosen sentences hold the gold
    support" against (coverage, dense), with the threshold that maximises answer accuracy on answerable
    items plus abstention on unanswerable ones."""
    rows = []
    for item in items:
        reading, hits = assistant.read(item.question, item.history)
        ev = assistant.extractive.assess(reading.question, hits, query=reading.query)
        read = [s.candidate.text for s in ev.chosen]
        rows.append(CalibrationRow((ev.coverage, ev.dense) if ev.chosen else (0.0, 0.0),
                                   item.answerable and bool(read) and evidence_holds(read, item.support, item.answers),
                                   item.answerable))
        if progress is not None:
            progress()
    return fit_rows(rows, fitted_on=f"{len(rows)} gold rows")


def fit_rows(rows: Sequence[CalibrationRow], *, fitted_on: str) -> Calibration:
    """The extractive stage from precomputed rows (pure; see `fit`)."""
    x = np.array([r.features for r in rows], dtype=np.float64)
    right = np.array([r.right for r in rows])
    answerable = np.array([r.answerable for r in rows])
    w, b = fit_logistic(x, right.astype(float))
    p1 = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    return Calibration(float(w[0]), float(w[1]), float(b), best_threshold(p1, right, answerable), fitted_on=fitted_on)


def fit_answer(signals: Sequence[Sequence[float]], correct: Sequence[bool], answerable: Sequence[bool], *,
               fitted_on: str) -> AnswerCalibration:
    """The verified-answer stage from evaluated rows where the model drafted an answer: `signals` are each
    answer's (log p_refusal, supported share, relevance, p_stated), `correct` whether the answer was right as
    `jmqa eval` scores it. The threshold is the one at which the most of those questions come out right."""
    y = np.asarray(correct, dtype=bool)
    if len(signals) < 10 or len(set(y)) < 2:
        raise BadInputError(f"{len(signals)} drafted answers, {int(y.sum())} of them right: too few to fit a calibration")
    x = np.array([answer_features(*s) for s in signals])
    w, b = fit_logistic(x, y.astype(float), l2=1e-2)
    p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    return AnswerCalibration(float(w[0]), float(w[1]), float(w[2]), float(b),
                             most_right_threshold(p, y, np.asarray(answerable, dtype=bool)), fitted_on=fitted_on,
                             w_stated=float(w[3]))


def most_right_threshold(p: np.ndarray, correct: np.ndarray, answerable: np.ndarray) -> float:
    """The threshold at which the most questions come out right, each counting once: an answer given is
    right when it is correct, an abstention when the question is unanswerable (ties: the lower threshold)."""
    p, correct, answerable = (np.asarray(a) for a in (p, correct, answerable))
    best_t, best_n = 0.0, -1
    for t in np.unique(np.r_[0.0, p]):
        answered = p >= t
        n = int(np.sum(answered & correct) + np.sum(~answered & ~answerable))
        if n > best_n:
            best_t, best_n = float(t), n
    return best_t


def fit_abstention(signals: Sequence[Sequence[float]], answerable: Sequence[bool]) -> tuple[float, ...]:
    """An abstention's confidence model from evaluated rows with signals (drafted or not): the weights and
    bias of a logistic model of "the question is unanswerable" on the answer calibration's features."""
    y = ~np.asarray(answerable, dtype=bool)
    if len(signals) < 10 or len(set(y)) < 2:
        raise BadInputError(f"{len(signals)} rows, {int(y.sum())} of them unanswerable: too few to fit an abstention's confidence")
    w, b = fit_logistic(np.array([answer_features(*s) for s in signals]), y.astype(float), l2=1e-2)
    return (*(float(v) for v in w), float(b))
