"""Replicas behind nginx over one model server (issue #16): throughput and latency for 1 and 2 replicas.

For each replica count, deploy/cluster.py starts the bundled model under llama_cpp.server, the replicas
and nginx; then `--users` clients at once each hold a two-turn conversation through the OpenAI API (the
same conversations as tests/test_replicas.py). Prints a Markdown table; JSON to out/bench/replicas.json.

    python benchmarks/replicas.py                  # 1 and 2 replicas, 20 users (~15 min on 2 cores)
    python benchmarks/replicas.py --users 4        # a quick try
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(ROOT))  # deploy/ is a folder of scripts beside the package, not part of it
from deploy import cluster  # noqa: E402

CONVERSATIONS = [
    ("What is Jiangmen known as?", "How many people does that refer to?"),
    ("What kind of hub does Jiangmen want to become?", "Tell me more about that."),
    ("What does Jiangmen plan for health services?", "And for elderly care?"),
    ("What are Jiangmen's core industries?", "Which ones form its equipment manufacturing?"),
]


def run(url: str, users: int) -> dict[str, float]:
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}v1", api_key="any", max_retries=0, timeout=1800)
    latencies: list[float] = []
    errors = 0

    def converse(user: int) -> None:
        nonlocal errors
        first_q, follow_q = CONVERSATIONS[user % len(CONVERSATIONS)]
        messages = [{"role": "user", "content": first_q}]
        for follow in (None, follow_q):
            if follow:
                messages += [{"role": "user", "content": follow}]
            t0 = time.perf_counter()
            try:
                reply = client.chat.completions.create(model="jmqa", messages=messages)
            except Exception:  # counted, not raised: the benchmark reports errors
                errors += 1
                return
            if (reply.model_extra or {}).get("jmqa", {}).get("mode") != "generative":
                errors += 1  # the model server did not answer: the replica fell back to quoting
                return
            latencies.append(time.perf_counter() - t0)
            messages = messages + [{"role": "assistant", "content": reply.choices[0].message.content}]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        list(pool.map(converse, range(users)))
    wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [0.0] * 19
    return {"questions": len(latencies), "errors": errors, "wall_s": round(wall, 1),
            "questions_per_s": round(len(latencies) / wall, 3), "p50_s": round(statistics.median(latencies), 2),
            "p95_s": round(q[18], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    rows = {}
    for n in args.replicas:
        with tempfile.TemporaryDirectory() as tmp, cluster.cluster(Path(tmp), replicas=n, corpus=ROOT / "corpus") as c:
            run(c.url, 1)  # warm: the model server's prompt cache and each replica's first question
            rows[n] = run(c.url, args.users)
            print(f"{n} replica(s): {rows[n]}", file=sys.stderr, flush=True)
    print("| replicas | users | questions | errors | questions/s | p50 s | p95 s |\n|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in rows.items():
        print(f"| {n} | {args.users} | {r['questions']} | {r['errors']} | {r['questions_per_s']} | {r['p50_s']} | {r['p95_s']} |")
    out = ROOT / "out" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "replicas.json").write_text(json.dumps({"users": args.users, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
