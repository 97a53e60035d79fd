"""Gold questions -> per-row EvalRecords -> a Report: run the assistant over a question set and score it.

The scoring is in `scoring.py` (pure functions, no model). The runner appends one JSON row per question
to `results.jsonl` as it goes, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .errors import BadInputError
from .metrics import first_relevant_rank, squash
from .questions import QAItem, load_items, select_items
from .scoring import RECALL_KS, RETRIEVERS, EvalRecord, Report, score_answer, summarize
from .types import Answer, Hit, Turn

log = logging.getLogger(__name__)

MODES = ("extractive", "generative", "auto", "retrieval")
RESULTS = "results.jsonl"
RUN = "run.json"
SUMMARY = "summary.json"
RETRIEVAL_BATCH = 64  # questions embedded at once in retrieval-only mode

# ---------------------------------------------------------------- running one question


def record_for(item: QAItem, answer: Answer, passage_of: Mapping[str, str], *, mode: str, wall_s: float,
               ttft_s: float | None = None) -> EvalRecord:
    """Score one answer of the assistant."""
    passages = [passage_of.get(c.doc_id, c.doc_id) for c in answer.citations]
    metrics = score_answer(item, answer.text, answer.abstained, [c.quote for c in answer.citations], passages,
                           [(c.page, c.section) for c in answer.citations])
    metrics["depth"] = len(answer.hits)
    if getattr(answer, "signals", None):  # what the confidence was computed from (calibration fits on it)
        metrics["signals"] = dict(answer.signals)
    timings = {k: float(v) for k, v in answer.timings.items()} | {"wall_s": round(wall_s, 4)}
    if ttft_s is not None:
        timings["ttft_s"] = round(ttft_s, 4)
    ranks = {}
    if item.support or item.support_ids:
        ranks["hybrid"] = support_rank(item, answer.hits, passage_of)
    return EvalRecord(
        id=item.id, question=item.question, category=item.category, answerable=item.answerable, mode=mode,
        conversation=item.conversation, turn=item.turn, answer=answer.text, abstained=answer.abstained, confidence=float(answer.confidence),
        citations=tuple({"passage": p, "start": c.start, "end": c.end, "quote": c.quote}
                        for p, c in zip(passages, answer.citations)),
        retrieved=tuple(_retrieved(answer.hits, passage_of)), ranks=ranks, metrics=metrics, timings=timings)


def support_rank(item: QAItem, hits: Sequence[Hit], passage_of: Mapping[str, str]) -> int | None:
    """Rank of the gold support among the hits. With gold passage ids, at passage level: the hits are
    collapsed to their distinct passages, best first, so two chunks of one passage take one rank. With
    gold support sentences, at chunk level: the first hit whose text holds a support sentence."""
    if item.support_ids:
        passages = list(dict.fromkeys(passage_of.get(h.chunk.doc_id, h.chunk.doc_id) for h in hits))
        return first_relevant_rank([p in item.support_ids for p in passages])
    return first_relevant_rank([any(squash(s) in squash(h.chunk.text) for s in item.support if s.strip())
                                for h in hits])


def _within(rank: int | None, depth: int) -> int | None:
    return rank if rank is not None and rank <= depth else None


def _retrieved(hits: Sequence[Hit], passage_of: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"chunk_id": h.chunk.chunk_id, "passage": passage_of.get(h.chunk.doc_id, h.chunk.doc_id),
             "score": round(h.score, 6), "dense": h.dense_score, "lexical": h.lexical_score} for h in hits]


def ask_one(assistant: Any, item: QAItem, *, mode: str, k: int, passage_of: Mapping[str, str]) -> EvalRecord:
    """Ask one question (streaming, to time the first token, unless the mode is extractive)."""
    t0 = time.perf_counter()
    ttft = None
    answer = None
    try:
        if mode == "extractive":
            answer = assistant.ask(item.question, item.history, k=k, mode=mode)
        else:
            for piece in assistant.ask_stream(item.question, item.history, k=k, mode=mode):
                if isinstance(piece, str):
                    if ttft is None and piece:
                        ttft = time.perf_counter() - t0
                else:
                    answer = piece
    except BadInputError as exc:  # this row's question is unusable; the run goes on
        return EvalRecord(id=item.id, question=item.question, category=item.category, answerable=item.answerable,
                          mode=mode, conversation=item.conversation, turn=item.turn, error=str(exc),
                          metrics=score_answer(item, "", True, (), ()) | {"depth": 0})
    if answer is None:
        raise RuntimeError("ask_stream ended without an Answer")
    return record_for(item, answer, passage_of, mode=mode, wall_s=time.perf_counter() - t0, ttft_s=ttft)


def retrieval_query_for(assistant: Any, item: QAItem) -> str:
    """The item's retrieval query, as `ask` forms it (a follow-up borrows from its history)."""
    from .assistant import validate_question
    from .conversation import as_turns, retrieval_query

    return retrieval_query(validate_question(item.question, assistant.settings.max_question_chars),
                           as_turns(item.history))


def retrieve_batch(assistant: Any, items: Sequence[QAItem], *, depth: int,
                   passage_of: Mapping[str, str]) -> list[EvalRecord]:
    """Retrieval only: the gold support's rank under dense, BM25 and hybrid retrieval. The queries are
    embedded in one batch; hybrid fuses the two rankings exactly as `Retriever.search` does."""
    from .retrieval import reciprocal_rank_fusion

    index, retriever = assistant.index, assistant.retriever
    records, usable, queries = [], [], []
    for item in items:
        try:
            queries.append(retrieval_query_for(assistant, item))
            usable.append(item)
        except BadInputError as exc:  # this row's question is unusable; the run goes on
            records.append(EvalRecord(id=item.id, question=item.question, category=item.category,
                                      answerable=item.answerable, mode="retrieval", conversation=item.conversation,
                                      turn=item.turn, error=str(exc),
                                      ranks={name: None for name in RETRIEVERS}, metrics={"depth": depth}))
    t0 = time.perf_counter()
    vectors = assistant.embedder.encode(queries) if queries else []
    embed_s = (time.perf_counter() - t0) / max(len(queries), 1)
    for item, query, qvec in zip(usable, queries, vectors):
        t1 = time.perf_counter()
        dense = index.search_dense(qvec, retriever.candidates)
        t2 = time.perf_counter()
        lexical = index.search_lexical(query, retriever.candidates)
        t3 = time.perf_counter()
        fused = reciprocal_rank_fusion([[i for i, _ in dense], [i for i, _ in lexical]], k=retriever.rrf_k)
        d, lx = dict(dense), dict(lexical)
        hybrid = [Hit(index.chunks[i], s, d.get(i), lx.get(i)) for i, s in fused]
        runs = {"dense": [Hit(index.chunks[i], s, dense_score=s) for i, s in dense],
                "lexical": [Hit(index.chunks[i], s, lexical_score=s) for i, s in lexical],
                "hybrid": hybrid}
        ranks = {name: _within(support_rank(item, hits, passage_of), depth) for name, hits in runs.items()}
        records.append(EvalRecord(
            id=item.id, question=item.question, category=item.category, answerable=item.answerable,
            mode="retrieval", conversation=item.conversation, turn=item.turn, abstained=False, retrieved=tuple(_retrieved(hybrid[:depth], passage_of)), ranks=ranks,
            metrics={"depth": depth},
            timings={"embed_s": round(embed_s, 5), "dense_s": round(t2 - t1, 5), "lexical_s": round(t3 - t2, 5),
                     "retrieve_s": round(embed_s + time.perf_counter() - t1, 5)}))
    return records


# ---------------------------------------------------------------- the run


def with_history(item: QAItem, items: Sequence[QAItem], records: Mapping[str, EvalRecord]) -> QAItem:
    """A conversation turn with its history: the earlier turns of its conversation among `items`, in
    order, each its question and the assistant's own answer from `records` (an empty answer where that
    turn errored or has no record yet). Any other item is returned as it is."""
    if not item.conversation:
        return item
    earlier = sorted((it for it in items if it.conversation == item.conversation and it.turn < item.turn),
                     key=lambda it: it.turn)
    return replace(item, history=tuple(Turn(it.question, _answer_of(records.get(it.id))) for it in earlier))


def passage_map(assistant: Any) -> dict[str, str]:
    """doc_id -> what a record calls the passage (its file path, or a benchmark passage's id)."""
    return {d.doc_id: (d.path or d.doc_id) for d in assistant.index.documents.values()}


def _answer_of(record: EvalRecord | None) -> str:
    return "" if record is None or record.error else record.answer


def evaluate(
    questions: str | Path | Sequence[QAItem],
    out_dir: str | Path | None = None,
    *,
    assistant: Any = None,
    mode: str = "auto",
    k: int | None = None,
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    passages: str | Path | None = None,
    resume: bool = False,
    settings: Any = None,
    embedder: Any = None,
    show_progress: bool = False,
    ray_address: str | None = None,
    workers: int | None = None,
    worker_cpus: int = 1,
) -> Report:
    """Evaluate the assistant on a question set and return the Report.

    `questions`: a JSONL or CSV file (see eval/README.md), a SQuAD-style folder holding questions.jsonl and
    passages.jsonl, or QAItems. The turns of a conversation run in order, each with the assistant's own
    earlier answers in that conversation as its history (on resume, from the records already written). `passages`: a JSONL of {id, title, text} to answer from instead of the
    corpus (indexed once into the cache, keyed by content hash). `mode`: extractive, generative, auto or
    retrieval (retrieval only: recall@k and MRR of dense, BM25 and hybrid retrieval). With `out_dir`,
    results.jsonl, summary.json, report.md, report.html and the chart are written there; `resume`
    continues an interrupted run in the same folder. `ray_address` ("local" to start a Ray here, or
    ray.init's address) answers on `workers` Ray actors instead (see jmqa.distributed), each reserving `worker_cpus`
    CPUs and running its model and embedder on as many threads; then `assistant`,
    when given, must be a picklable zero-argument callable that builds the Assistant on each worker.
    """
    from .config import Settings
    from .questions import assistant_for

    if mode not in MODES:
        raise BadInputError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    for name, value in (("k", k), ("limit", limit), ("sample", sample)):
        if value is not None and value < 1:
            raise BadInputError(f"{name} must be at least 1, not {value}")
    settings = settings or Settings()
    k = k or settings.top_k
    skipped: list[str] = []
    source = "<items>"
    if isinstance(questions, (str, Path)):
        source = str(questions)
        items, skipped, found_passages = load_items(Path(questions))
        passages = passages or found_passages
    else:
        items = list(questions)
    items = select_items(items, limit=limit, sample=sample, seed=seed)
    for line in skipped:
        log.warning("skipped %s", line)

    factory = None
    if ray_address:
        for name, value in (("workers", workers), ("worker_cpus", worker_cpus)):
            if value is not None and value < 1:
                raise BadInputError(f"{name} must be at least 1, not {value}")
        from .distributed import import_ray

        import_ray()  # fail before anything is loaded when ray is missing
        if assistant is not None and not callable(assistant):
            raise BadInputError("with ray_address, assistant must be a callable that builds the Assistant")
        # a worker's model and embedder run on the CPUs it reserves (a factory of the caller's sizes its own)
        sized = settings.model_copy(update={"llm_threads": worker_cpus, "embedding_threads": worker_cpus})
        factory = assistant or functools.partial(assistant_for, passages, settings=sized, embedder=embedder)
        # the driver opens (or builds) the index once, so the workers only load it and never race to build it
        assistant = factory() if assistant is not None else None
    if assistant is None:
        assistant = assistant_for(passages, settings=settings, embedder=embedder, show_progress=show_progress)
    if hasattr(assistant.embedder, "warm_up"):  # so the first question's timings do not include the model load
        assistant.embedder.warm_up()
    passage_of = passage_map(assistant)
    config = {"questions": source, "passages": str(passages) if passages else None, "mode": mode, "k": k,
              "limit": limit, "sample": sample, "seed": seed if sample else None, "n_items": len(items),
              "calibration": str(settings.calibration_file) if settings.calibration_file else "package default",
              "embedding_model": getattr(assistant.embedder, "model_id", None),
              "chunking": assistant.index.manifest.get("chunking")}

    out = Path(out_dir) if out_dir is not None else None
    done: dict[str, EvalRecord] = {}
    if out is not None:
        done = _open_run(out, config, resume)
    depth = max(k, max(RECALL_KS))
    todo = [it for it in items if it.id not in done]
    if done:
        log.info("resuming: %d of %d questions already done", len(items) - len(todo), len(items))
    records = dict(done)
    bar = _progress(total=len(items), initial=len(items) - len(todo), enabled=show_progress)
    try:
        with _appender(out) as append:
            def keep(rec: EvalRecord) -> None:
                append(rec)
                records[rec.id] = rec
                if bar is not None:
                    bar.update(1)

            if ray_address:
                from .distributed import make_groups, run_on_ray

                run_on_ray(make_groups(todo, items, done, mode=mode), factory, keep, mode=mode, k=k, depth=depth,
                           address=ray_address, workers=workers, worker_cpus=worker_cpus)
            else:
                step = RETRIEVAL_BATCH if mode == "retrieval" else 1
                for start in range(0, len(todo), step):
                    batch = [with_history(it, items, records) for it in todo[start:start + step]]
                    if mode == "retrieval":
                        done_now = retrieve_batch(assistant, batch, depth=depth, passage_of=passage_of)
                    else:
                        done_now = [ask_one(assistant, it, mode=mode, k=k, passage_of=passage_of) for it in batch]
                    for rec in done_now:
                        keep(rec)
    finally:
        if bar is not None:
            bar.close()
    ordered = [records[it.id] for it in items if it.id in records]
    report = summarize(ordered, config=config, skipped=skipped, out_dir=out)
    if out is not None:
        from .report import write_report

        write_report(report, out)
    return report


def _open_run(out: Path, config: Mapping[str, Any], resume: bool) -> dict[str, EvalRecord]:
    """Prepare `out` for a run; with `resume`, the records already there (a torn last line is dropped)."""
    out.mkdir(parents=True, exist_ok=True)
    results, run_file = out / RESULTS, out / RUN
    comparable = {k: v for k, v in config.items() if k not in ("embedding_model", "chunking")}
    if not resume or not results.exists():
        results.write_text("", encoding="utf-8")
        run_file.write_text(json.dumps(comparable, indent=2) + "\n", encoding="utf-8")
        return {}
    try:
        previous = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None
    if previous != comparable:
        raise BadInputError(f"{out} holds a run with other settings ({previous}); "
                            "resume with the same options, or give a new --out folder")
    done: dict[str, EvalRecord] = {}
    good_bytes = 0
    with results.open("rb") as f:
        for raw in f:
            try:
                if not raw.endswith(b"\n"):
                    raise ValueError("torn last line")
                rec = EvalRecord.from_dict(json.loads(raw))
            except (ValueError, TypeError) as exc:
                log.warning("dropping an unreadable row of %s (%s); it will be asked again", results, exc)
                break
            done.setdefault(rec.id, rec)
            good_bytes += len(raw)
    with results.open("r+b") as f:  # drop anything after the last complete row
        f.truncate(good_bytes)
    return done


class _appender:
    """Context manager yielding append(record): one JSON line per record, flushed and synced at once."""

    def __init__(self, out: Path | None):
        self.path = out / RESULTS if out is not None else None
        self.f = None

    def __enter__(self):
        if self.path is not None:
            self.f = self.path.open("a", encoding="utf-8")
        return self.append

    def append(self, rec: EvalRecord) -> None:
        if self.f is not None:
            self.f.write(json.dumps(rec.to_dict(), ensure_ascii=False) + "\n")
            self.f.flush()
            os.fsync(self.f.fileno())

    def __exit__(self, *exc) -> None:
        if self.f is not None:
            self.f.close()


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="q", desc="eval", dynamic_ncols=True)
