"""Evidence features -> the probability that an answer is right, and the threshold below which to abstain.

Two stages, each a small logistic model fitted on a gold set by `jmqa calibrate` and kept in
`calibration.json` beside this file (or a file of your own, `JMQA_CALIBRATION_FILE`):
1. evidence, for every answer: how much of the question the best sentence covers, how close it is;
2. reader, for generative answers only: stage 1's odds, how likely the model is to start its reply
   with the refusal word (read from its first-token distribution, before any text is shown), and how
   expected it found the question's words after the passage (a question the passage does not answer
   tends to name what the passage does not lead one to expect).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BadInputError

log = logging.getLogger(__name__)

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
REFUSAL_FLOOR = 1e-6  # refusal probabilities below this count as this (a scripted model may say 0)


@dataclass(frozen=True)
class ReaderCalibration:
    """p = sigmoid(w_evidence * logit(p_evidence) + w_refusal * log(p_refusal) + w_question * question_logprob
    + bias); abstain below threshold.

    `gate`: stage 1's probability below which the model is not asked at all (None: stage 1's threshold).
    `question_logprob`: the mean log-probability per token of the question after the passage; a backend that
    cannot measure it (a chat server) gets `question_mean`, its mean on the rows fitted.
    The defaults pass stage 1's probability through and never abstain here."""

    gate: float | None = None
    w_evidence: float = 1.0
    w_refusal: float = 0.0
    bias: float = 0.0
    threshold: float = 0.0
    w_question: float = 0.0
    question_mean: float = 0.0

    def probability(self, p_evidence: float, p_refusal: float, question_logprob: float | None = None) -> float:
        question = self.question_mean if question_logprob is None else question_logprob
        z = (self.w_evidence * _logit(p_evidence) + self.w_refusal * math.log(max(p_refusal, REFUSAL_FLOOR))
             + self.w_question * (question - self.question_mean) + self.bias)
        return _sigmoid(z)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


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
    reader: ReaderCalibration = field(default_factory=ReaderCalibration)

    def probability(self, coverage: float, dense: float) -> float:
        return _sigmoid(self.w_coverage * coverage + self.w_dense * dense + self.bias)

    @property
    def reader_gate(self) -> float:
        """Stage 1's probability below which a generative answer abstains without asking the model."""
        return self.threshold if self.reader.gate is None else self.reader.gate

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
        reader = ReaderCalibration(**data.pop("reader", {}))
        return Calibration(**data, reader=reader)
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
    """One gold question as calibration sees it (what `fit` measures, `fit_rows` fits on)."""

    features: tuple[float, float]  # stage 1: coverage, dense
    right: bool  # answerable, and the sentences read hold its gold support (or answer)
    answerable: bool
    p_refusal: float | None  # stage 2 feature; None without evidence or without the LLM
    question_logprob: float | None = None  # stage 2 feature; None also when the backend cannot measure it


def fit(assistant: Any, items: Sequence[Any], *, reader: bool = True, progress: Any = None) -> Calibration:
    """Fit both stages on gold items (QAItems). Stage 1 is a logistic model of evidence right against
    (coverage, dense); stage 2 (when `reader` and the LLM loads) one of the same label against stage 1's
    odds, the model's refusal probability and the question's log-probability after the passage. The two
    thresholds are chosen together to maximise answer accuracy on answerable items plus abstention on
    unanswerable ones."""
    from .answering import REFUSAL, GenerativeAnswerer, reader_messages
    from .errors import ModelUnavailableError

    llm = None
    if reader:
        try:
            llm = assistant.llm()
        except ModelUnavailableError as exc:
            log.warning("no LLM (%s): fitting the evidence stage only", exc)
    rows = []
    for item in items:
        reading, hits = assistant.read(item.question, item.history, llm=llm)
        ev = assistant.extractive.assess(reading.question, hits, query=reading.query)
        probe = None
        if llm is not None and ev.chosen:
            sources = [c.text for c in GenerativeAnswerer.sources(ev)]
            probe = llm.probe(reader_messages(reading.question, sources), REFUSAL, reading.question)
        read = [s.candidate.text for s in ev.chosen]
        rows.append(CalibrationRow((ev.coverage, ev.dense) if ev.chosen else (0.0, 0.0),
                                   item.answerable and bool(read) and evidence_holds(read, item.support, item.answers),
                                   item.answerable, None if probe is None else probe.reply_probability,
                                   None if probe is None else probe.text_logprob))
        if progress is not None:
            progress()
    return fit_rows(rows, fitted_on=f"{len(rows)} gold rows")


def fit_rows(rows: Sequence[CalibrationRow], *, fitted_on: str) -> Calibration:
    """Both stages from precomputed rows (pure; see `fit`)."""
    x = np.array([r.features for r in rows], dtype=np.float64)
    right = np.array([r.right for r in rows])
    answerable = np.array([r.answerable for r in rows])
    w, b = fit_logistic(x, right.astype(float))
    p1 = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    stage1 = Calibration(float(w[0]), float(w[1]), float(b), best_threshold(p1, right, answerable), fitted_on=fitted_on)
    readable = np.array([r.p_refusal is not None for r in rows])
    if readable.sum() < 10:
        return stage1
    refusal = np.log(np.clip([r.p_refusal if r.p_refusal is not None else 1.0 for r in rows], REFUSAL_FLOOR, 1.0))
    odds = np.log(np.clip(p1, 1e-6, 1 - 1e-6) / np.clip(1 - p1, 1e-6, 1.0))
    measured = [r.question_logprob for r in rows if r.p_refusal is not None and r.question_logprob is not None]
    question_mean = float(np.mean(measured)) if measured else 0.0
    # centred, a row without the figure (another backend) adds nothing; without any, the feature is left out
    question = np.array([0.0 if r.question_logprob is None else r.question_logprob - question_mean for r in rows])
    z = np.c_[odds, refusal, question] if len(measured) >= 10 else np.c_[odds, refusal]

    def objective(p: np.ndarray, t: float) -> float:
        answered = p >= t
        acc = np.mean(answered[answerable] & right[answerable]) if answerable.any() else 0.0
        return acc + (np.mean(~answered[~answerable]) if (~answerable).any() else 0.0)

    best = (objective(p1, stage1.threshold), stage1)
    # stage 1 as a looser gate (its own best threshold or lower), stage 2 deciding among what passes
    for t1 in sorted({stage1.threshold, *np.quantile(p1[readable], [0.0, 0.1, 0.2, 0.3, 0.4])}):
        passed = readable & (p1 >= t1)
        if passed.sum() < 10 or len(set(right[passed])) < 2:
            continue
        w2, b2 = fit_logistic(z[passed], right[passed].astype(float))
        p2 = np.where(passed, 1.0 / (1.0 + np.exp(-(z @ w2 + b2))), 0.0)
        t2 = best_threshold(p2[passed], right[passed], answerable[passed]) if passed.any() else 0.5
        t2 = max(t2, 1e-9)  # rows that stage 1 stopped (p2 = 0) stay abstained
        v = objective(p2, t2)
        if v > best[0] + 1e-9:
            reader = ReaderCalibration(float(t1), float(w2[0]), float(w2[1]), float(b2), float(t2),
                                       float(w2[2]) if len(w2) > 2 else 0.0, question_mean)
            best = (v, replace(stage1, reader=reader))
    return best[1]
