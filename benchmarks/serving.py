"""Serving, one process per (system, corpus): index build or load, retrieval latency, peak memory (RSS).

system "jmqa": jmqa's own code (Assistant, Index, hybrid Retriever, the configured embedding backend).
system "plain": sentence-transformers + FAISS IndexFlatIP with default settings (model.encode, batch 32,
fp32 PyTorch; top 5 by inner product) over the same chunk texts — the recipe jmqa is compared with.

corpus "squad": the 1,204 SQuAD 2.0 dev passages, indexed from scratch (build time, chunks/s of the
build), then the first --questions questions of the dev set are retrieved one at a time.
corpus "default": jmqa's corpus/ folder and index/ (as `jmqa serve` would load them).
corpus "synthetic-100k": ~100,000 chunks of SQuAD passages copied with a marker (real text for BM25),
with SYNTHETIC clustered vectors (benchmarks/retrieval_scale.py) instead of embeddings, built once into
out/bench/synthetic-100k/; jmqa holds it as it would (IVF above 50,000 chunks), plain as IndexFlatIP.

--answer N (jmqa only) then answers N questions in auto mode, which loads the LLM: the RSS of serving.

    python benchmarks/serving.py jmqa squad
    python benchmarks/serving.py plain synthetic-100k
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
SQUAD = ROOT.parent / "shared" / "datasets" / "squad-v2.0-dev"
SYNTHETIC = ROOT / "out" / "bench" / "synthetic-100k"
SYNTHETIC_CHUNKS = 100_000
DEFAULT_QUESTIONS = ["What are Jiangmen's core industries?", "Where is Jiangmen?", "What is Jiangmen known for?"]


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def percentiles_ms(times: list[float]) -> dict[str, float]:
    return {"p50_ms": round(1000 * float(np.percentile(times, 50)), 2),
            "p95_ms": round(1000 * float(np.percentile(times, 95)), 2)}


def squad_questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in (SQUAD / "questions.jsonl").open(encoding="utf-8") if line.strip()]
    return [r["question"] for r in rows[:n]]


def synthetic_corpus(n_chunks: int = SYNTHETIC_CHUNKS) -> Path:
    """SQuAD passages, shuffled and copied under a marker into files, until ~n_chunks chunks (written once)."""
    from jmqa.chunking import chunk
    from jmqa.config import Settings
    from jmqa.ingest import read_document
    from jmqa.questions import load_passages

    home = synthetic_home(n_chunks)
    corpus = home / "corpus"
    if corpus.is_dir():
        return corpus
    s = Settings()
    texts = [d.text for d in load_passages(SQUAD / "passages.jsonl")]
    rng = random.Random(0)
    home.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=home.parent))
    total, i = 0, 0
    while total < n_chunks:
        path = tmp / f"copy-{i:05d}.txt"
        path.write_text(f"Copy {i}\n\n" + "\n\n".join(rng.sample(texts, 50)), encoding="utf-8")
        total += len(chunk(read_document(path, root=tmp), size=s.chunk_size, overlap=s.chunk_overlap))
        i += 1
    home.mkdir(parents=True, exist_ok=True)
    tmp.rename(corpus)
    return corpus


def synthetic_home(n_chunks: int) -> Path:
    return SYNTHETIC if n_chunks == SYNTHETIC_CHUNKS else SYNTHETIC.with_name(f"synthetic-{n_chunks // 1000}k")


class SyntheticVectors:
    """Stands in for the embedder while the synthetic index is built: clustered random unit vectors,
    under the real embedder's model id so that jmqa then loads the index as its own."""

    def __init__(self, model_id: str):
        self.model_id = model_id

    def encode(self, texts, *, show_progress=False):
        from retrieval_scale import synthetic

        return synthetic(len(texts), 1)[0]


def synthetic_index(embedder, n_chunks: int = SYNTHETIC_CHUNKS) -> Path:
    """jmqa's index of the synthetic corpus (built once, with synthetic vectors)."""
    from jmqa.config import Settings
    from jmqa.index import load_or_build
    from jmqa.ingest import load_corpus

    s, index_dir = Settings(), synthetic_home(n_chunks) / f"index-{embedder.model_id}"
    load_or_build(load_corpus(synthetic_corpus(n_chunks)), index_dir, SyntheticVectors(embedder.model_id),
                  chunk_size=s.chunk_size, chunk_overlap=s.chunk_overlap)
    return index_dir


def run_jmqa(corpus: str, n_questions: int, n_answers: int) -> dict:
    from jmqa import Assistant
    from jmqa.config import Settings
    from jmqa.embedding import SentenceTransformerEmbedder
    from jmqa.index import load_or_build
    from jmqa.questions import load_passages

    s = Settings()
    embedder = SentenceTransformerEmbedder(s.embedding_model, s.embedding_batch_size)
    out: dict = {"embedding_model": embedder.model_id}
    t = time.perf_counter()
    if corpus == "squad":
        with tempfile.TemporaryDirectory() as tmp:
            index, _ = load_or_build(load_passages(SQUAD / "passages.jsonl"), Path(tmp), embedder,
                                     chunk_size=s.chunk_size, chunk_overlap=s.chunk_overlap)
        qa = Assistant(index, embedder, s)
        out["build_s"] = round(time.perf_counter() - t, 1)
        out["build_chunks_per_s"] = round(len(index.chunks) / out["build_s"], 1)
    else:
        where = (synthetic_corpus(), synthetic_index(embedder)) if corpus == "synthetic-100k" else (None, None)
        t = time.perf_counter()
        qa = Assistant.load(*where, embedder=embedder)
        out["load_s"] = round(time.perf_counter() - t, 1)
    out["chunks"], out["dense_index"] = len(qa.index.chunks), qa.index.dense_kind
    questions = DEFAULT_QUESTIONS if corpus == "default" else squad_questions(n_questions)
    qa.retriever.search(questions[0])  # the model loads here, not inside the first timing
    times = []
    for q in questions:
        t = time.perf_counter()
        qa.retriever.search(q, k=s.top_k)
        times.append(time.perf_counter() - t)
    out.update({"questions": len(times), **percentiles_ms(times), "peak_rss_mb": peak_rss_mb()})
    if n_answers:
        for q in (DEFAULT_QUESTIONS * n_answers)[:n_answers] if corpus == "default" else questions[:n_answers]:
            qa.ask(q, mode="auto")
        out["answers"], out["peak_rss_answering_mb"] = n_answers, peak_rss_mb()
    return out


def run_plain(corpus: str, n_questions: int) -> dict:
    """The plain recipe, written as its users write it; only the chunk texts come from jmqa (same data)."""
    import faiss
    from sentence_transformers import SentenceTransformer

    from jmqa.chunking import chunk
    from jmqa.config import Settings
    from jmqa.embedding import resolve_model
    from jmqa.ingest import load_corpus
    from jmqa.questions import load_passages

    s = Settings()
    docs = {"squad": lambda: load_passages(SQUAD / "passages.jsonl"), "default": lambda: load_corpus(s.corpus_dir),
            "synthetic-100k": lambda: load_corpus(synthetic_corpus())}[corpus]()
    texts = [c.text for d in docs for c in chunk(d, size=s.chunk_size, overlap=s.chunk_overlap)]
    del docs
    out: dict = {"chunks": len(texts)}
    t = time.perf_counter()
    model = SentenceTransformer(resolve_model(s.embedding_model), device="cpu")
    out["model_load_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    if corpus == "synthetic-100k":
        from retrieval_scale import synthetic

        vectors = synthetic(len(texts), 1)[0]
    else:
        vectors = model.encode(texts, normalize_embeddings=True)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    if corpus != "synthetic-100k":
        out["build_s"] = round(time.perf_counter() - t, 1)
        out["build_chunks_per_s"] = round(len(texts) / out["build_s"], 1)
    questions = DEFAULT_QUESTIONS if corpus == "default" else squad_questions(n_questions)
    model.encode([questions[0]])
    times = []
    for q in questions:
        t = time.perf_counter()
        _, ids = index.search(model.encode([q], normalize_embeddings=True), 5)
        [texts[i] for i in ids[0] if i >= 0]
        times.append(time.perf_counter() - t)
    out.update({"questions": len(times), **percentiles_ms(times), "peak_rss_mb": peak_rss_mb()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("system", choices=["jmqa", "plain"])
    ap.add_argument("corpus", choices=["squad", "default", "synthetic-100k"])
    ap.add_argument("--questions", type=int, default=200, help="SQuAD questions to retrieve, one at a time")
    ap.add_argument("--answer", type=int, default=0, help="jmqa: then answer N questions (auto mode, loads the LLM)")
    args = ap.parse_args()
    result = run_jmqa(args.corpus, args.questions, args.answer) if args.system == "jmqa" else run_plain(args.corpus, args.questions)
    print(json.dumps({"system": args.system, "corpus": args.corpus, **result}))


if __name__ == "__main__":
    main()
