"""Every issue #6 benchmark in one run; results to out/bench/results.json and out/bench/results.md.

Each piece runs in its own process (so each peak RSS is its own), one after another; jmqa and the plain
sentence-transformers + FAISS script are run back to back on the same data and reported as ratios.

    python benchmarks/run_all.py            # ~20 min on 2 cores; `make bench`
    python benchmarks/run_all.py --recall   # + SQuAD 2.0 recall per embedding backend (~10 min each)
    python benchmarks/run_all.py --quick    # retrieval scale up to 100k chunks only
    python benchmarks/run_all.py --report   # results.md again from results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out" / "bench"


def run(*args: str) -> str:
    print("$", "python", *args, flush=True)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode})")
    print(f"  {time.perf_counter() - t:.0f} s", flush=True)
    return proc.stdout


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "–"


def markdown(r: dict) -> str:
    lines = [f"# jmqa benchmarks (issue #6)\n\n{r['machine']}; {r['date']}; load average at start {r['load']}\n",
             "## Embedding throughput (SQuAD 2.0 dev chunks)\n",
             "| backend | model id | load s | chunks/s (rounds) | × torch | cosine to torch (min / mean) | dense R@5 | hybrid R@5 |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    backends = r["embedding"]["backends"]
    base = backends.get("torch", {}).get("chunks_per_s_best")
    for name, b in backends.items():
        squad = b.get("squad", {})
        lines.append(f"| {name} | {b['model_id']} | {b['load_s']} | {b['chunks_per_s_best']} ({', '.join(map(str, b['chunks_per_s']))}) "
                     f"| {ratio(b['chunks_per_s_best'], base)} | {b.get('cosine_to_torch_min', 1)} / {b.get('cosine_to_torch_mean', 1)} "
                     f"| {squad.get('dense_recall@5', '–')} | {squad.get('hybrid_recall@5', '–')} |")
    a = r["answer_latency"]
    lines += ["\n## Answers on the default corpus (auto mode, 93 gold questions)\n",
              "| cold start → loaded | cold start → first answer | warm p50 / p95 s | first output p50 / p95 s | first token (generated) p50 / p95 s |",
              "| ---: | ---: | ---: | ---: | ---: |",
              f"| {a['cold_start_loaded_s']} s | {a['cold_start_first_answer_s']} s | {a['warm_p50_s']} / {a['warm_p95_s']} "
              f"| {a['first_output_p50_s']} / {a['first_output_p95_s']} | {a['generative_first_token_p50_s']} / {a['generative_first_token_p95_s']} |"]
    lines += ["\n## jmqa vs plain sentence-transformers + FAISS flat (same data, back to back)\n",
              "| corpus | chunks | system | build s (chunks/s) | load s | retrieval p50 / p95 ms | peak RSS MB | RSS answering MB |",
              "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for corpus, pair in r["serving"].items():
        for system in ("jmqa", "plain"):
            s = pair[system]
            build = f"{s['build_s']} ({s['build_chunks_per_s']})" if "build_s" in s else "–"
            lines.append(f"| {corpus} | {s['chunks']} | {system} | {build} | {s.get('load_s', s.get('model_load_s', '–'))} "
                         f"| {s['p50_ms']} / {s['p95_ms']} | {s['peak_rss_mb']} | {s.get('peak_rss_answering_mb', '–')} |")
        j, p = pair["jmqa"], pair["plain"]
        lines.append(f"| {corpus} | | **jmqa / plain** | {ratio(j.get('build_chunks_per_s'), p.get('build_chunks_per_s'))} (chunks/s) | "
                     f"| {ratio(j['p50_ms'], p['p50_ms'])} / {ratio(j['p95_ms'], p['p95_ms'])} | {ratio(j['peak_rss_mb'], p['peak_rss_mb'])} | |")
    u = r["index_update"]
    lines += ["\n## Adding one document to a 10k-chunk index\n",
              "| chunks | unchanged re-index s | new document: chunks, embedding alone s | add it s | full rebuild's embedding (est.) s |",
              "| ---: | ---: | ---: | ---: | ---: |",
              f"| {u['chunks_before']} | {u['unchanged_s']} | {u['new_document_chunks']}, {u['embed_new_document_alone_s']} "
              f"| {u['add_one_document_s']} | {u['full_rebuild_embedding_estimate_s']} |"]
    lines += ["\n## Dense retrieval at scale (synthetic vectors, 1 FAISS thread)\n", "```"]
    lines += [json.dumps(row) for row in r["retrieval_scale"]]
    lines += ["```\n"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recall", action="store_true", help="also SQuAD 2.0 recall@5 per embedding backend")
    ap.add_argument("--quick", action="store_true", help="retrieval scale up to 100k chunks only")
    ap.add_argument("--report", action="store_true", help="only write results.md from results.json")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.report:
        r = json.loads((OUT / "results.json").read_text(encoding="utf-8"))
        (OUT / "results.md").write_text(markdown(r), encoding="utf-8")
        print(markdown(r))
        return
    r: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": os.getloadavg()[0]}

    def save() -> None:  # after every step, so that a failed or stopped run keeps what it measured
        (OUT / "results.json").write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")

    run("benchmarks/embedding_backends.py", *(["--recall"] if args.recall else []))
    r["embedding"] = json.loads((OUT / "embedding_backends.json").read_text(encoding="utf-8"))
    save()
    run("benchmarks/answer_latency.py", "--mode", "auto")
    r["answer_latency"] = json.loads((OUT / "answer_latency.json").read_text(encoding="utf-8"))
    save()
    r["serving"] = {}
    for corpus in ("default", "squad", "synthetic-100k"):
        answer = [] if corpus == "squad" else ["--answer", "3"]
        r["serving"][corpus] = {"jmqa": json.loads(run("benchmarks/serving.py", "jmqa", corpus, *answer)),
                                "plain": json.loads(run("benchmarks/serving.py", "plain", corpus))}
        save()
    r["index_update"] = json.loads(run("benchmarks/index_update.py", "--chunks", "10000"))
    save()
    sizes = ["1000", "10000", "100000"] if args.quick else ["1000", "10000", "100000", "1000000"]
    r["retrieval_scale"] = [json.loads(line) for line in
                            run("benchmarks/retrieval_scale.py", "--sizes", *sizes, "--no-hnsw").splitlines() if line.strip()]
    save()
    (OUT / "results.md").write_text(markdown(r), encoding="utf-8")
    print(markdown(r))


if __name__ == "__main__":
    main()
