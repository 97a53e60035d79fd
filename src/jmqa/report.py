"""Report -> files a person reads: summary.json, report.md, report.html and the accuracy/coverage chart."""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

from .evaluate import SUMMARY
from .scoring import RECALL_KS, RETRIEVERS, EvalRecord, Report

log = logging.getLogger(__name__)

CHART = "accuracy_coverage.png"
STYLE = ("<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
         "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem}"
         "td.n{text-align:right}li{margin:.4rem 0}.q{color:#555}</style></head><body>")
WORST = 15

DEFINITIONS = """\
- **Answer accuracy** (answerable questions): the assistant answered (did not abstain) with the form the
  question asks for: a **list** question (`items`) needs an alias of every item in the answer; a **yes/no**
  question (`yesno`) needs the answer's first words to say it the right way round (English: yes/no among
  the first three words; Chinese: the answer starts with 是/对/是的/有/会 or 不/否/没有/并非/不是); an
  **open** question (`points`) needs an alias of at least `min_points` points; any other question needs a
  gold answer in the answer text or a citation holding a gold support sentence (the quote contains the
  sentence, or the sentence contains the quote). An English alias must occur as whole words (both
  SQuAD-normalised: lower case, punctuation and articles removed, curly quotes folded to straight ones); a
  Chinese alias as a substring, spaces removed. A Chinese ("zh") question must also be answered in Chinese
  (see *In-language rate*). Abstaining on an answerable question is wrong. On any question, a `forbidden`
  string in the answer (case-insensitive) makes the row wrong.
- **Citation accuracy**: among the answerable questions the assistant answered, the share whose citations
  include the gold support (a support sentence as above, or the gold passage id).
- **In-language rate**: among the Chinese ("zh") questions answered, the share answered in Chinese: with
  the `[n]` markers and quoted text (“…”, "…", 「…」) removed, CJK characters (one unit each) make up at
  least half of the units (Latin words, one unit each).
- **ECE**: expected calibration error of the confidence read as the chance the row is correct (answer or
  abstention), over 10 equal-width bins weighted by their share of rows. **AUROC**: the chance that a
  correct row has a higher confidence than a wrong one (ties count one half).
- **Conversation turn accuracy**: the share of conversation turns correct, each turn asked with the
  assistant's own earlier answers as its history. **Conversation accuracy**: the share of conversations
  with every turn correct.
- **Abstention accuracy** (= abstention recall): the share of unanswerable questions abstained on.
  **Abstention precision**: the share of abstentions that were on unanswerable questions.
- **EM / F1**: SQuAD 2.0 exact match and token F1, the best over the gold answers. The prediction is the
  answer text without its `[n]` markers, or the empty string when the assistant abstained; for an
  unanswerable question only the empty prediction scores 1. The extractive answerer answers with whole
  source sentences, so its EM is near 0 and its F1 low even when it is right.
- **Recall@k / MRR**: over every question with gold support (on SQuAD that includes the unanswerable ones:
  each was written on a known passage). With gold passage ids the ranking is at passage level (the retrieved
  chunks collapsed to their distinct passages, best first); with gold sentences, at chunk level (the first
  chunk that holds a support sentence). In answer modes the ranking is the k chunks the answerer was given;
  in retrieval mode dense, BM25 and hybrid (reciprocal rank fusion, as the assistant retrieves) are each ranked.
- **Latency**: seconds per question for each stage the assistant reports (`retrieve_s`, `answer_s`,
  `generate_s`, `verify_s`, `total_s`), `wall_s` around the whole call and `ttft_s` to the first streamed piece.
- **Accuracy vs coverage**: raising the abstention threshold on the answer's confidence answers fewer
  questions (coverage, over all questions) and, if confidence means something, more of them correctly.
"""


def write_report(report: Report, out: Path) -> None:
    """Write summary.json, report.md, report.html and the chart into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY).write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    chart = draw_curve(report, out / CHART)
    (out / "report.md").write_text(markdown(report, chart), encoding="utf-8")
    (out / "report.html").write_text(to_html(report, chart), encoding="utf-8")


def draw_curve(report: Report, path: Path) -> str | None:
    """The accuracy-against-coverage chart as a PNG; its file name, or None when there is nothing to draw."""
    if not report.curve:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed, so the report has no chart; run: pip install matplotlib")
        return None
    xs = [p["coverage"] for p in report.curve]
    ys = [p["accuracy"] for p in report.curve]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(xs, ys, marker=".", color="#1f77b4")
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("accuracy of the answers given")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.set_title("Accuracy vs coverage as the confidence threshold rises")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{100 * v:.1f}" if pct else f"{v:.3f}"
    return str(v)


def _secs(v: float | None) -> str:
    return "–" if v is None else (f"{v:.2f}" if v >= 1 else f"{v:.4f}")


def metric_rows(report: Report) -> list[tuple[str, str]]:
    m = report.metrics
    rows = []
    for key in ("answer_accuracy", "citation_accuracy", "abstention_accuracy", "abstention_precision",
                "overall_accuracy", "coverage", "in_language_rate", "conversation_turn_accuracy",
                "conversation_accuracy"):
        if key in m:
            rows.append((key.replace("_", " "), _fmt(m[key])))
    for key, label in (("ece", "ECE (confidence)"), ("auroc", "AUROC (confidence)")):
        if key in m:
            rows.append((label, _fmt(m[key])))
    for key, label in (("em", "EM"), ("f1", "F1"), ("em_answerable", "EM answerable"), ("f1_answerable", "F1 answerable"),
                       ("em_unanswerable", "EM unanswerable"), ("f1_unanswerable", "F1 unanswerable")):
        if key in m:
            rows.append((f"{label} (%)", _fmt(m[key], pct=True)))
    return rows


def retrieval_rows(report: Report) -> list[list[str]]:
    """One row per retriever: recall@1, @5, @10 and MRR ("–" where not measured)."""
    m = report.metrics
    return [[name] + [_fmt(m.get(f"{name}_recall@{k}")) for k in RECALL_KS] + [_fmt(m.get(f"{name}_mrr"))]
            for name in RETRIEVERS if f"{name}_mrr" in m]


def worst_failures(records: tuple[EvalRecord, ...], n: int = WORST) -> list[EvalRecord]:
    """Wrong rows, most confident first: confidently wrong answers are the worst."""
    wrong = [r for r in records if r.mode != "retrieval" and not r.metrics.get("correct", True)]
    return sorted(wrong, key=lambda r: (-r.confidence, r.id))[:n]


def _what_went_wrong(r: EvalRecord) -> str:
    if r.error:
        return f"error: {r.error}"
    if r.metrics.get("forbidden_hit"):
        return "the answer holds a forbidden string"
    if not r.answerable:
        return "answered an unanswerable question"
    if r.abstained:
        return "abstained on an answerable question"
    if r.metrics.get("form_ok") and r.metrics.get("in_language") is False:
        return "right content, but not in Chinese"
    return "answer lacks the gold answer (or list items, yes/no, points) and cites no gold support"


def markdown(report: Report, chart: str | None) -> str:
    c = report.config
    lines = [f"# jmqa evaluation: {Path(str(c.get('questions'))).name}", ""]
    lines.append(f"{report.counts['questions']} questions ({report.counts['answerable']} answerable, "
                 f"{report.counts['unanswerable']} unanswerable), mode **{c.get('mode')}**, k = {c.get('k')}"
                 + (f", sample {c['sample']} (seed {c['seed']})" if c.get("sample") else "")
                 + (f", passages {c['passages']}" if c.get("passages") else "") + ".")
    if metric_rows(report):
        lines += ["", "| metric | value |", "| --- | ---: |"] + [f"| {a} | {b} |" for a, b in metric_rows(report)]
    if retrieval_rows(report):
        lines += ["", "## Retrieval", "", "| retriever | recall@1 | recall@5 | recall@10 | MRR |",
                  "| --- | ---: | ---: | ---: | ---: |"] + ["| " + " | ".join(r) + " |" for r in retrieval_rows(report)]
    if report.by_category:
        lines += ["", "## By category", "", "| category | questions | correct | accuracy |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {cat} | {v['n']} | {v['correct']} | {_fmt(v['accuracy'])} |" for cat, v in report.by_category.items()]
    if report.latency:
        lines += ["", "## Latency (seconds per question)", "", "| stage | p50 | p95 | mean |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {k} | {_secs(v['p50'])} | {_secs(v['p95'])} | {_secs(v['mean'])} |" for k, v in report.latency.items()]
    if chart:
        lines += ["", "## Accuracy vs coverage", "", f"![accuracy against coverage]({chart})"]
    worst = worst_failures(report.records)
    if worst:
        lines += ["", f"## Worst failures (the {len(worst)} most confident wrong rows)", ""]
        for r in worst:
            answer = r.answer.replace("\n", " ")
            lines.append(f"- **{r.id}** ({r.category or 'no category'}, confidence {r.confidence:.2f}): "
                         f"{_what_went_wrong(r)}. Q: {r.question.strip()} — A: {answer[:300]}")
    if report.skipped:
        lines += ["", "## Skipped input rows", ""] + [f"- {s}" for s in report.skipped]
    lines += ["", "## Definitions", "", DEFINITIONS]
    return "\n".join(lines)


def to_html(report: Report, chart: str | None) -> str:
    e = html.escape
    c = report.config
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>jmqa evaluation</title>",
        STYLE,
        f"<h1>jmqa evaluation: {e(Path(str(c.get('questions'))).name)}</h1>",
        f"<p>{report.counts['questions']} questions ({report.counts['answerable']} answerable, "
        f"{report.counts['unanswerable']} unanswerable), mode <b>{e(str(c.get('mode')))}</b>, k = {e(str(c.get('k')))}"
        + (f", sample {c['sample']} (seed {c['seed']})" if c.get("sample") else "") + ".</p>",
    ]
    if metric_rows(report):
        parts.append("<table><tr><th>metric</th><th>value</th></tr>")
        parts += [f"<tr><td>{e(a)}</td><td class='n'>{e(b)}</td></tr>" for a, b in metric_rows(report)]
        parts.append("</table>")
    if retrieval_rows(report):
        parts.append("<h2>Retrieval</h2><table><tr><th>retriever</th><th>recall@1</th><th>recall@5</th>"
                     "<th>recall@10</th><th>MRR</th></tr>")
        parts += ["<tr><td>" + e(r[0]) + "</td>" + "".join(f"<td class='n'>{e(v)}</td>" for v in r[1:]) + "</tr>"
                  for r in retrieval_rows(report)]
        parts.append("</table>")
    if report.by_category:
        parts.append("<h2>By category</h2><table><tr><th>category</th><th>questions</th><th>correct</th><th>accuracy</th></tr>")
        parts += [f"<tr><td>{e(cat)}</td><td class='n'>{v['n']}</td><td class='n'>{v['correct']}</td>"
                  f"<td class='n'>{_fmt(v['accuracy'])}</td></tr>" for cat, v in report.by_category.items()]
        parts.append("</table>")
    if report.latency:
        parts.append("<h2>Latency (seconds per question)</h2><table><tr><th>stage</th><th>p50</th><th>p95</th><th>mean</th></tr>")
        parts += [f"<tr><td>{e(k)}</td><td class='n'>{_secs(v['p50'])}</td><td class='n'>{_secs(v['p95'])}</td>"
                  f"<td class='n'>{_secs(v['mean'])}</td></tr>" for k, v in report.latency.items()]
        parts.append("</table>")
    if chart:
        parts.append(f"<h2>Accuracy vs coverage</h2><img src='{e(chart)}' alt='accuracy against coverage' width='600'>")
    worst = worst_failures(report.records)
    if worst:
        parts.append(f"<h2>Worst failures (the {len(worst)} most confident wrong rows)</h2><ul>")
        parts += [f"<li><b>{e(r.id)}</b> ({e(r.category or 'no category')}, confidence {r.confidence:.2f}): "
                  f"{e(_what_went_wrong(r))}.<br><span class='q'>Q: {e(r.question.strip())}</span><br>"
                  f"A: {e(r.answer[:300])}</li>" for r in worst]
        parts.append("</ul>")
    if report.skipped:
        parts.append("<h2>Skipped input rows</h2><ul>" + "".join(f"<li>{e(s)}</li>" for s in report.skipped) + "</ul>")
    parts.append("<h2>Definitions</h2><pre style='white-space:pre-wrap'>" + e(DEFINITIONS) + "</pre></body></html>\n")
    return "\n".join(parts)
