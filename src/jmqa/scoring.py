"""An evaluation's records and their scores: one EvalRecord per question, scored by pure functions (no model),
summed up in a Report, and held against the quality gate's floors. `evaluate.py` runs the questions."""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadInputError
from .metrics import (
    abstention_precision_recall,
    auroc,
    conversation_accuracy,
    coverage_curve,
    exact_match,
    expected_calibration_error,
    forbidden_present,
    form_passes,
    guess_language,
    in_chinese,
    in_language_rate,
    is_correct,
    mean,
    mean_reciprocal_rank,
    percentile,
    quote_matches_support,
    recall_at_k,
    strip_markers,
    token_f1,
)
from .questions import QAItem

RETRIEVERS = ("dense", "lexical", "hybrid")
RECALL_KS = (1, 5, 10)


@dataclass(frozen=True)
class EvalRecord:
    """What happened on one question: the answer, what was retrieved, its scores and timings."""

    id: str
    question: str
    category: str
    answerable: bool
    mode: str
    answer: str = ""
    abstained: bool = True
    confidence: float = 0.0
    citations: tuple[dict[str, Any], ...] = ()
    retrieved: tuple[dict[str, Any], ...] = ()
    ranks: dict[str, int | None] = field(default_factory=dict)  # retriever -> rank of the first gold passage
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: str = ""
    conversation: str = ""  # the conversation's id, for a turn of one
    turn: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvalRecord:
        d = dict(d)
        d["citations"] = tuple(d.get("citations", ()))
        d["retrieved"] = tuple(d.get("retrieved", ()))
        return cls(**d)


@dataclass(frozen=True)
class Report:
    """The scores of a run: `metrics` (0-1 shares), `counts`, `latency` per stage, the accuracy/coverage
    `curve`, per-category scores, the skipped input rows and every record."""

    config: dict[str, Any]
    metrics: dict[str, float | None]
    counts: dict[str, int]
    latency: dict[str, dict[str, float | None]]
    by_category: dict[str, dict[str, Any]]
    curve: tuple[dict[str, float], ...]
    skipped: tuple[str, ...]
    records: tuple[EvalRecord, ...] = ()
    out_dir: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The summary (everything but the records)."""
        return {"config": self.config, "metrics": self.metrics, "counts": self.counts, "latency": self.latency,
                "by_category": self.by_category, "curve": list(self.curve), "skipped": list(self.skipped)}


def score_answer(item: QAItem, answer_text: str, abstained: bool, quotes: Sequence[str],
                 cited_passages: Sequence[str], places: Sequence[tuple[int | None, str | None]] = ()) -> dict[str, Any]:
    """Per-row metrics of an answer: EM and F1 against `answers`, `cites_support`, the row's `language`,
    `in_language` (a "zh" row's answer is in Chinese; None when abstained or not a "zh" row),
    `forbidden_hit` (a forbidden string is in the answer text, abstention text included) and `correct`
    (metrics.is_correct on metrics.form_passes: for an answerable question, answered with the asked form
    (all list items / the right yes or no / enough points / a gold answer or a citation holding the gold
    support sentence), in its language and without a forbidden string; for an unanswerable one, abstained
    without a forbidden string). When the row gives the support's `page` or `section`, a quote counts only
    if its citation's place (`places`, one (page, section) per quote) is that page or section."""
    prediction = "" if abstained else strip_markers(answer_text)
    places = list(places) or [(None, None)] * len(quotes)
    quote_matches = any(quote_matches_support(q, item.support) and in_place(item, page, section)
                        for q, (page, section) in zip(quotes, places))
    cites_support = None
    if item.answerable and not abstained and (item.support or item.support_ids):
        cites_support = quote_matches or any(p in item.support_ids for p in cited_passages)
    form_ok = form_passes(prediction, answers=item.answers, items=item.items, yesno=item.yesno or None,
                          points=item.points, min_points=item.min_points or len(item.points),
                          quote_matches=quote_matches)
    language = item.language or guess_language(item.question)
    in_language = None if abstained or language != "zh" else in_chinese(prediction)
    forbidden_hit = forbidden_present(strip_markers(answer_text), item.forbidden)
    correct = is_correct(answerable=item.answerable, abstained=abstained, form_ok=form_ok,
                         in_language=in_language, forbidden_hit=forbidden_hit)
    return {"em": exact_match(prediction, item.answers), "f1": token_f1(prediction, item.answers),
            "correct": correct, "cites_support": cites_support, "form_ok": form_ok and not abstained,
            "language": language, "in_language": in_language, "forbidden_hit": forbidden_hit}


def in_place(item: QAItem, page: int | None, section: str | None) -> bool:
    """A citation at (page, section) is where the row says its support is (True when the row says nothing)."""
    return ((item.page is None or page == item.page)
            and (not item.section or (section or "").strip().casefold() == item.section.casefold()))


def summarize(records: Sequence[EvalRecord], *, config: Mapping[str, Any] | None = None,
              skipped: Sequence[str] = (), out_dir: Path | None = None) -> Report:
    """Aggregate per-row records into a Report."""
    answered_modes = [r for r in records if r.mode != "retrieval"]
    metrics: dict[str, float | None] = {}
    counts = {"questions": len(records), "answerable": sum(r.answerable for r in records),
              "unanswerable": sum(not r.answerable for r in records), "errors": sum(bool(r.error) for r in records),
              "skipped_rows": len(skipped)}
    for name in RETRIEVERS:
        ranks = [r.ranks[name] for r in records if name in r.ranks]
        if not ranks:
            continue
        depth = max((r.metrics.get("depth", 0) for r in records), default=0)
        for k in RECALL_KS:
            if k <= depth:
                metrics[f"{name}_recall@{k}"] = recall_at_k(ranks, k)
        metrics[f"{name}_mrr"] = mean_reciprocal_rank(ranks)
        counts[f"{name}_ranked"] = len(ranks)
    if answered_modes:
        metrics.update(_answer_metrics(answered_modes))
        counts["answered"] = sum(not r.abstained for r in answered_modes)
        turns = [r for r in answered_modes if r.conversation]
        if turns:
            correct = [bool(r.metrics.get("correct")) for r in turns]
            metrics["conversation_turn_accuracy"] = mean([float(ok) for ok in correct])
            metrics["conversation_accuracy"] = conversation_accuracy([r.conversation for r in turns], correct)
            counts["conversations"] = len({r.conversation for r in turns})
            counts["conversation_turns"] = len(turns)
    by_category: dict[str, dict[str, Any]] = {}
    for cat in sorted({r.category for r in answered_modes if r.category}):
        rows = [r for r in answered_modes if r.category == cat]
        by_category[cat] = {"n": len(rows), "correct": sum(r.metrics.get("correct", False) for r in rows),
                            "accuracy": mean([float(r.metrics.get("correct", False)) for r in rows])}
    curve = coverage_curve([r.confidence for r in answered_modes], [not r.abstained for r in answered_modes],
                           [bool(r.metrics.get("correct")) for r in answered_modes])
    return Report(config=dict(config or {}), metrics=metrics, counts=counts, latency=latency_summary(records),
                  by_category=by_category, curve=tuple(curve), skipped=tuple(skipped), records=tuple(records),
                  out_dir=out_dir)


def _answer_metrics(rows: Sequence[EvalRecord]) -> dict[str, float | None]:
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    cited = [r.metrics["cites_support"] for r in answerable if r.metrics.get("cites_support") is not None]
    precision, recall = abstention_precision_recall([r.abstained for r in rows], [r.answerable for r in rows])
    return {
        "answer_accuracy": mean([float(r.metrics["correct"]) for r in answerable]),
        "citation_accuracy": mean([float(c) for c in cited]),
        "abstention_accuracy": recall,
        "abstention_precision": precision,
        "abstention_recall": recall,
        "overall_accuracy": mean([float(r.metrics["correct"]) for r in rows]),
        "coverage": mean([float(not r.abstained) for r in rows]),
        "em": mean([r.metrics["em"] for r in rows]),
        "f1": mean([r.metrics["f1"] for r in rows]),
        "em_answerable": mean([r.metrics["em"] for r in answerable]),
        "f1_answerable": mean([r.metrics["f1"] for r in answerable]),
        "em_unanswerable": mean([r.metrics["em"] for r in unanswerable]),
        "f1_unanswerable": mean([r.metrics["f1"] for r in unanswerable]),
        "ece": expected_calibration_error([r.confidence for r in rows], [bool(r.metrics["correct"]) for r in rows]),
        "auroc": auroc([r.confidence for r in rows], [bool(r.metrics["correct"]) for r in rows]),
        "in_language_rate": in_language_rate([r.metrics.get("in_language") for r in rows]),
    }


def latency_summary(records: Iterable[EvalRecord]) -> dict[str, dict[str, float | None]]:
    """p50/p95/mean seconds of every timing key the records carry (retrieve_s, generate_s, ttft_s, ...)."""
    values: dict[str, list[float]] = collections.defaultdict(list)
    for r in records:
        for key, v in r.timings.items():
            if isinstance(v, (int, float)):
                values[key].append(float(v))
    return {key: {"p50": percentile(vs, 50), "p95": percentile(vs, 95), "mean": mean(vs), "n": len(vs)}
            for key, vs in sorted(values.items())}


def check_floors(report: Report, floors: Mapping[str, float]) -> list[str]:
    """The floors a report misses, each as a line saying the metric, its value and its floor."""
    missed = []
    for name, floor in floors.items():
        value = report.metrics.get(name)
        if value is None:
            missed.append(f"{name}: not measured (floor {floor:.3f})")
        elif value + 1e-9 < floor:
            missed.append(f"{name}: {value:.3f} is below its floor {floor:.3f}")
    return missed


def read_floors(path: Path) -> dict[str, float]:
    """`{"floors": {"answer_accuracy": 0.9, ...}}` (or the bare mapping) from a JSON file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInputError(f"cannot read the floors file {path}: {exc}") from exc
    floors = data.get("floors", data) if isinstance(data, dict) else None
    if not isinstance(floors, dict) or not all(isinstance(v, (int, float)) for v in floors.values()):
        raise BadInputError(f"{path} must hold {{\"floors\": {{\"metric\": number, ...}}}}")
    return {str(k): float(v) for k, v in floors.items()}
