"""Embedding backends side by side: torch fp32 vs onnx fp32 vs onnx int8 on the SQuAD 2.0 dev chunks.

For each backend (in one process, one after another, alternating the order between rounds so that
the load from other processes falls on all of them alike): model load time, chunks/s over all chunks
of the passages (default chunking), and the cosine of each chunk vector to the torch one. With
--recall, also SQuAD 2.0 retrieval (dense and hybrid recall@5 over all questions) per backend, through
`jmqa.evaluate` exactly as `jmqa eval DATASET --mode retrieval` runs it (each backend's eval index in
its own cache folder, so they do not rebuild each other's).

    python benchmarks/embedding_backends.py [--rounds 2] [--recall] [--out out/bench/embedding_backends.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "datasets" / "squad-v2.0-dev"
BACKENDS = ("torch", "onnx", "onnx-int8")


def squad_chunk_texts(passages: Path) -> list[str]:
    """The texts jmqa embeds for the passages: default chunking, embedding_text of each chunk."""
    from jmqa.chunking import chunk, embedding_text
    from jmqa.config import Settings
    from jmqa.questions import load_passages

    s = Settings()
    return [embedding_text(c) for d in load_passages(passages) for c in chunk(d, size=s.chunk_size, overlap=s.chunk_overlap)]


def throughput(texts: list[str], backends: tuple[str, ...], rounds: int) -> dict[str, dict]:
    from jmqa.config import Settings
    from jmqa.embedding import SentenceTransformerEmbedder

    settings = Settings()
    out: dict[str, dict] = {}
    embedders = {}
    for b in backends:
        t = time.perf_counter()
        embedders[b] = SentenceTransformerEmbedder(settings.embedding_model, settings.embedding_batch_size, backend=b)
        embedders[b].encode(["warm up"])
        out[b] = {"model_id": embedders[b].model_id, "load_s": round(time.perf_counter() - t, 2), "chunks_per_s": []}
    vectors = {}
    for r in range(rounds):
        for b in backends if r % 2 == 0 else reversed(backends):
            t = time.perf_counter()
            vectors[b] = embedders[b].encode(texts)
            out[b]["chunks_per_s"].append(round(len(texts) / (time.perf_counter() - t), 1))
    for b in backends:
        out[b]["chunks_per_s_best"] = max(out[b]["chunks_per_s"])
        if "torch" in vectors and b != "torch":
            cos = (vectors[b] * vectors["torch"]).sum(axis=1)
            out[b]["cosine_to_torch_min"], out[b]["cosine_to_torch_mean"] = round(float(cos.min()), 4), round(float(cos.mean()), 4)
    return out


def squad_recall(backend: str, dataset: Path) -> dict:
    from jmqa.config import Settings
    from jmqa.embedding import SentenceTransformerEmbedder
    from jmqa.evaluate import evaluate

    base = Settings()
    embedder = SentenceTransformerEmbedder(base.embedding_model, base.embedding_batch_size, backend=backend,
                                           cache_dir=base.cache_dir)
    settings = base.model_copy(update={"cache_dir": base.cache_dir / "bench" / backend})
    t = time.perf_counter()
    report = evaluate(dataset, ROOT / "out" / "bench" / f"squad-retrieval-{backend}", mode="retrieval",
                      settings=settings, embedder=embedder)
    keep = ("dense_recall@5", "hybrid_recall@5", "lexical_recall@5", "dense_recall@1", "hybrid_recall@1", "hybrid_mrr")
    return {"s": round(time.perf_counter() - t, 1), **{k: v for k, v in report.metrics.items() if k in keep}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=SQUAD)
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--limit", type=int, help="only the first N chunks (for a quick look)")
    ap.add_argument("--recall", action="store_true", help="also SQuAD 2.0 retrieval recall per backend (~5 min each)")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench" / "embedding_backends.json")
    args = ap.parse_args()

    texts = squad_chunk_texts(args.dataset / "passages.jsonl")[: args.limit]
    result = {"chunks": len(texts), "mean_chars": round(float(np.mean([len(t) for t in texts]))),
              "backends": throughput(texts, tuple(args.backends), args.rounds)}
    print(json.dumps(result, indent=2), flush=True)
    if args.recall:
        for b in args.backends:
            result["backends"][b]["squad"] = squad_recall(b, args.dataset)
            print(b, json.dumps(result["backends"][b]["squad"]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
