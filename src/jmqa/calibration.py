"""Evidence features -> the probability that an answer is right, and the threshold below which to abstain.

A two-feature logistic model (how much of the question the evidence covers, how close the best
sentence is to the question), fitted on the gold set `eval/jiangmen_qa.jsonl` by `jmqa calibrate`
and kept in `calibration.json` beside this file.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


@dataclass(frozen=True)
class Calibration:
    """p(answer is right) = sigmoid(w_coverage * coverage + w_dense * dense + bias); abstain below threshold."""

    w_coverage: float = 6.0
    w_dense: float = 3.0
    bias: float = -2.7
    threshold: float = 0.5
    fitted_on: str = "hand-set defaults"

    def probability(self, coverage: float, dense: float) -> float:
        z = self.w_coverage * coverage + self.w_dense * dense + self.bias
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def to_dict(self) -> dict:
        return asdict(self)


def load_calibration(path: Path = CALIBRATION_FILE) -> Calibration:
    if not path.is_file():
        return Calibration()
    return Calibration(**json.loads(path.read_text(encoding="utf-8")))


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


def fit(assistant, rows: list[dict]) -> Calibration:
    """Fit the abstention model on gold rows (`question`, `history`, `answerable`, `support`)."""
    from .conversation import resolve

    feats, correct, answerable = [], [], []
    for row in rows:
        reading = resolve(row["question"], [(h["question"], h["answer"]) for h in row.get("history") or []])
        hits = assistant.retriever.search(reading.query, k=assistant.settings.top_k)
        ev = assistant.extractive.assess(reading.question, hits, query=reading.query)
        feats.append((ev.coverage, ev.dense) if ev.chosen else (0.0, 0.0))
        answerable.append(bool(row["answerable"]))
        correct.append(bool(row["answerable"]) and evidence_is_right([s.candidate.text for s in ev.chosen], row.get("support")))
    x, y = np.array(feats), np.array(correct, dtype=float)
    w, b = fit_logistic(x, y)
    p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    t = best_threshold(p, np.array(correct), np.array(answerable))
    return Calibration(float(w[0]), float(w[1]), float(b), t, fitted_on=f"{len(rows)} gold rows")

