"""Answer latency on the default corpus: cold start, warm end-to-end p50/p95 and time to first token.

    .venv/bin/python benchmarks/answer_latency.py [--mode auto] [--rounds 2] [--out out/bench/answer_latency.json]

Cold start is measured in a fresh subprocess (imports, index load, model load); warm latencies ask the
gold-set questions (eval/jiangmen_qa.jsonl) in one process after a warm-up. Figures go to stdout and JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COLD = """
import time; t0 = time.perf_counter()
from jmqa import Assistant
qa = Assistant.load()
qa.warm_up({mode!r})
t1 = time.perf_counter()
qa.ask("What are Jiangmen's core industries?", mode={mode!r})
print(t1 - t0, time.perf_counter() - t0)
"""


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench" / "answer_latency.json")
    args = parser.parse_args()

    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", COLD.format(mode=args.mode)], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    interp = time.perf_counter() - started
    loaded_s, first_answer_s = (float(x) for x in proc.stdout.split())

    from jmqa import Answer, Assistant

    qa = Assistant.load()
    qa.warm_up(args.mode)
    rows = [json.loads(line) for line in (ROOT / "eval" / "jiangmen_qa.jsonl").read_text(encoding="utf-8").splitlines()]
    qa.ask(rows[0]["question"], mode=args.mode)
    total, first, answered_total, answered_first = [], [], [], []
    for _ in range(args.rounds):
        for row in rows:
            history = [(h["question"], h["answer"]) for h in row.get("history") or []]
            t0 = time.perf_counter()
            t_first = None
            for item in qa.ask_stream(row["question"], history, mode=args.mode):
                if t_first is None:
                    t_first = time.perf_counter() - t0
                if isinstance(item, Answer):
                    answer = item
            elapsed = time.perf_counter() - t0
            total.append(elapsed)
            first.append(t_first)
            if answer.mode == "generative":
                answered_total.append(elapsed)
                answered_first.append(t_first)
    result = {
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}",
        "mode": args.mode,
        "questions": len(total),
        "cold_start_loaded_s": round(loaded_s, 2),
        "cold_start_first_answer_s": round(first_answer_s, 2),
        "cold_start_process_s": round(interp, 2),
        "warm_p50_s": round(statistics.median(total), 3),
        "warm_p95_s": round(percentile(total, 0.95), 3),
        "first_output_p50_s": round(statistics.median(first), 3),
        "first_output_p95_s": round(percentile(first, 0.95), 3),
        "generative_answers": len(answered_total),
        "generative_p50_s": round(statistics.median(answered_total), 3) if answered_total else None,
        "generative_p95_s": round(percentile(answered_total, 0.95), 3) if answered_total else None,
        "generative_first_token_p50_s": round(statistics.median(answered_first), 3) if answered_first else None,
        "generative_first_token_p95_s": round(percentile(answered_first, 0.95), 3) if answered_first else None,
        # peak resident memory: of the cold-start process (load + one answer) and of this one (every answer)
        "cold_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "warm_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "llm": qa.describe()["llm"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
