"""Batch evaluation throughput: questions per second of `jmqa eval` in one process and on Ray (1, 2 workers).

    .venv/bin/python benchmarks/ray_eval.py [--repeat 2] [--workers 1 2] [--out out/bench/ray_eval.json]
    .venv/bin/python benchmarks/ray_eval.py --generative 24 [--out out/bench/ray_eval_generative.json]

Extractive mode (no LLM) over eval/dev.jsonl, repeated `--repeat` times (ids and conversations renamed, so
every copy is a new question), on the default corpus with the bundled embedder; the index is built once into
out/bench/ray-index first. One local Ray is started before the runs (its start-up is reported, not
counted); each Ray run includes its actors' start-up (each loads the embedder). A run's fixed cost and its
marginal rate are told apart by also timing a 4-question run: marginal q/s = (N - 4) / (wall_N - wall_4).
The driver's own ceiling is measured with an assistant that answers at once (`Instant`), rows written to
results.jsonl with their fsync as in a real run: what is left is Ray's round trip and the driver's bookkeeping.
And whether the pool overlaps its workers at all, on a machine whose cores are taken, with one that sleeps
25 ms per question (`Sleepy`, a stand-in for a worker waiting on its own machine's LLM).

`--generative N` measures instead the bundled LLM's answers to dev's first N standalone questions: one process
with the model on 2 threads, Ray with 1 worker of 2 CPUs, and Ray with 2 workers of 1 CPU each (each worker's
model and embedder run on the CPUs it reserves, `--worker-cpus`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import tempfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
SMALL = 4


def questions(repeat: int):
    from jmqa.questions import load_items

    items, _, _ = load_items(ROOT / "eval" / "dev.jsonl")
    return [replace(it, id=f"{it.id}@{r}", conversation=f"{it.conversation}@{r}" if it.conversation else "")
            for r in range(repeat) for it in items]


class Instant:
    """An assistant that abstains at once: a run of it costs only the driver's and Ray's work per question."""

    embedder = SimpleNamespace(model_id="none")
    index = SimpleNamespace(documents={}, manifest={})

    def ask(self, question, history=(), **kw):
        from jmqa.types import Answer

        return Answer(text="", abstained=True)


class Sleepy(Instant):
    def ask(self, question, history=(), **kw):
        time.sleep(0.025)
        return super().ask(question, history, **kw)


def timed(items, settings, out_dir=None, mode="extractive", **options) -> tuple[float, dict]:
    from jmqa.evaluate import evaluate

    t0 = time.perf_counter()
    report = evaluate(items, out_dir, mode=mode, settings=settings, **options)
    return time.perf_counter() - t0, report.metrics


def measure(items, settings, runs, out_dir: Path | None = None, mode: str = "extractive") -> list[dict]:
    """Each run timed on `items` and on its first SMALL: the fixed cost (start-up) and the marginal rate."""
    rows, reference = [], None
    for name, options in runs:
        small_s, _ = timed(items[:SMALL], settings, out_dir and out_dir / f"{name}-small", mode, **options)
        wall_s, metrics = timed(items, settings, out_dir and out_dir / name, mode, **options)
        reference = reference or metrics
        rows.append({"run": name, "questions": len(items), "wall_s": round(wall_s, 2),
                     "qps": round(len(items) / wall_s, 1), "fixed_s": round(small_s, 2),
                     "marginal_qps": round((len(items) - SMALL) / max(wall_s - small_s, 1e-9), 1),
                     "same_metrics": metrics == reference})
    return rows


def runs_of(workers, assistant=None) -> list[tuple[str, dict]]:
    here = {"assistant": assistant()} if assistant else {}
    there = {"assistant": assistant} if assistant else {}
    return [("one process", here)] + [(f"Ray, {n} worker{'s' * (n > 1)}", {**there, "ray_address": "local",
                                                                             "workers": n}) for n in workers]


def table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"| run | questions | wall s | q/s | fixed s ({SMALL} questions) | marginal q/s | same metrics |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r['run']} | {r['questions']} | {r['wall_s']} | {r['qps']} | {r['fixed_s']} | {r['marginal_qps']} "
              f"| {r['same_metrics']} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--generative", type=int, metavar="N", help="instead: the LLM's answers to N dev questions")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench" / "ray_eval.json")
    args = parser.parse_args()

    import ray

    from jmqa import Assistant, Settings

    settings = Settings().for_corpus(ROOT / "corpus", ROOT / "out" / "bench" / "ray-index")
    Assistant.load(settings=settings)  # build the index once, outside the timings
    items = questions(args.repeat)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - t0
    if args.generative:
        return generative(settings, args.generative, ray, ray_start, args.out)

    extractive = measure(items, settings, runs_of(args.workers))
    with tempfile.TemporaryDirectory() as tmp:
        ceiling = measure(questions(args.repeat * 5), settings, runs_of(args.workers, Instant), Path(tmp))
    sleepy = measure(questions(args.repeat)[:400], settings, runs_of(args.workers, Sleepy))
    ray.shutdown()

    print(f"Ray {ray.__version__}, start-up {ray_start:.1f} s (not counted); "
          f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    table(f"extractive, eval/dev.jsonl x {args.repeat}:", extractive)
    table("the driver's ceiling (instant answers; rows written to results.jsonl and synced):", ceiling)
    table("25 ms per question, sleeping (the pool's overlap, not the CPU):", sleepy)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(), "ray": ray.__version__,
                                    "ray_start_s": round(ray_start, 2), "load_before": load_before,
                                    "load_after": os.getloadavg()[0], "extractive": extractive,
                                    "ceiling": ceiling, "sleepy": sleepy}, indent=2) + "\n")
    return 0


def generative(settings, n: int, ray, ray_start: float, out: Path) -> int:
    """The bundled LLM's answers to the first `n` standalone dev questions, in one process and on Ray."""
    items = [it for it in questions(1) if not it.conversation][:n]
    runs = [("one process, model on 2 threads", {}),
            ("Ray, 1 worker of 2 CPUs", {"ray_address": "local", "workers": 1, "worker_cpus": 2}),
            ("Ray, 2 workers of 1 CPU", {"ray_address": "local", "workers": 2, "worker_cpus": 1})]
    rows = measure(items, settings.model_copy(update={"llm_threads": 2}), runs, mode="generative")
    ray.shutdown()
    print(f"Ray {ray.__version__}, start-up {ray_start:.1f} s (not counted)")
    table(f"generative, the first {n} standalone questions of eval/dev.jsonl:", rows)
    out = out.with_name("ray_eval_generative.json") if out.name == "ray_eval.json" else out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(), "ray": ray.__version__,
                               "ray_start_s": round(ray_start, 2), "generative": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
