"""Dense retrieval at scale: exact (FAISS IndexFlatIP) vs approximate (IndexHNSWFlat, IndexIVFFlat) search.

The vectors are SYNTHETIC: 384-d (all-MiniLM-L6-v2's size), L2-normalised, drawn around random
cluster centres so that, as with real chunk embeddings, neighbours exist; each query is a noisy copy
of a random stored vector. Real embeddings may behave differently — treat the figures as orders of
magnitude, not promises.

For each size it reports build time, single-query search latency (p50/p95 over --queries queries,
one at a time, as the assistant searches), recall@10 of each approximate index against exact search,
and the bytes per chunk of each index (serialised size / chunks, the vectors included).

    python benchmarks/retrieval_scale.py --sizes 1000 10000 100000 --threads 1
    python benchmarks/retrieval_scale.py --sizes 1000000 --no-hnsw   # HNSW's build is slow here
    python benchmarks/retrieval_scale.py --sizes 1000000 --no-ivf --ef-search 64 128 256   # HNSW at 1M alone
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

DIM = 384
K = 10


def synthetic(n: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_centres = max(1, n // 100)
    centres = rng.standard_normal((n_centres, DIM), dtype=np.float32)
    data = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):  # in blocks, to keep the temporary arrays small
        stop = min(n, start + 100_000)
        block = centres[rng.integers(0, n_centres, stop - start)]
        data[start:stop] = block + 0.9 * rng.standard_normal((stop - start, DIM), dtype=np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = data[rng.integers(0, n, n_queries)] + 0.05 * rng.standard_normal((n_queries, DIM), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return data, queries.astype(np.float32)


def latencies(index, queries: np.ndarray) -> tuple[np.ndarray, list[float]]:
    found, times = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = index.search(q.reshape(1, -1), K)
        times.append((time.perf_counter() - t) * 1000)
        found.append(ids[0])
    return np.array(found), times


def recall_at_k(exact: np.ndarray, approx: np.ndarray) -> float:
    return float(np.mean([len(set(e) & set(a)) / K for e, a in zip(exact, approx)]))


def bytes_per_chunk(index, n: int) -> float:
    import faiss

    return len(faiss.serialize_index(index)) / n


def run(n: int, n_queries: int, m: int, ef_construction: int, ef_search: list[int], *, hnsw_too: bool = True,
        nprobes: tuple[int, ...] = (8, 16, 32, 64, 128), ivf_too: bool = True) -> dict:
    import faiss

    data, queries = synthetic(n, n_queries)
    row: dict = {"chunks": n}
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(DIM)
    flat.add(data)
    row["flat_build_s"] = round(time.perf_counter() - t, 3)
    exact, times = latencies(flat, queries)
    row["flat_p50_ms"], row["flat_p95_ms"] = (round(float(np.percentile(times, p)), 3) for p in (50, 95))
    row["flat_bytes_per_chunk"] = round(bytes_per_chunk(flat, n))
    del flat

    if n >= 10_000 and ivf_too:  # IVF: k-means cells (sqrt(n) of them), trained on a sample; search visits nprobe cells
        nlist = int(np.sqrt(n))
        t = time.perf_counter()
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(data[np.random.default_rng(1).choice(n, min(n, 50 * nlist), replace=False)])
        ivf.add(data)
        row["ivf_nlist"], row["ivf_build_s"] = nlist, round(time.perf_counter() - t, 2)
        row["ivf_bytes_per_chunk"] = round(bytes_per_chunk(ivf, n))
        row["ivf"] = []
        from jmqa.index import IVF_PROBE_SHARE  # the share of cells jmqa's own IVF index visits

        row["ivf_jmqa_nprobe"] = min(nlist, max(16, round(IVF_PROBE_SHARE * nlist)))
        for nprobe in sorted({*nprobes, row["ivf_jmqa_nprobe"]}):
            ivf.nprobe = nprobe
            approx, times = latencies(ivf, queries)
            row["ivf"].append({
                "nprobe": nprobe,
                "recall_at_10": round(recall_at_k(exact, approx), 4),
                "p50_ms": round(float(np.percentile(times, 50)), 3),
                "p95_ms": round(float(np.percentile(times, 95)), 3),
            })
        from jmqa.index import PARALLEL_SEARCH_FROM

        if n >= PARALLEL_SEARCH_FROM:  # as jmqa searches it: its nprobe, one query over every thread
            threads = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(os.cpu_count() or 1)
            ivf.nprobe, ivf.parallel_mode = row["ivf_jmqa_nprobe"], 1
            approx, times = latencies(ivf, queries)
            row["ivf_jmqa_parallel"] = {
                "nprobe": ivf.nprobe, "threads": os.cpu_count(),
                "recall_at_10": round(recall_at_k(exact, approx), 4),
                "p50_ms": round(float(np.percentile(times, 50)), 3),
                "p95_ms": round(float(np.percentile(times, 95)), 3),
            }
            faiss.omp_set_num_threads(threads)
        del ivf
    if not hnsw_too:
        return row

    t = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(DIM, m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = ef_construction
    hnsw.add(data)
    row["hnsw_build_s"] = round(time.perf_counter() - t, 2)
    row["hnsw_bytes_per_chunk"] = round(bytes_per_chunk(hnsw, n))
    row["hnsw"] = []
    for ef in ef_search:
        hnsw.hnsw.efSearch = ef
        approx, times = latencies(hnsw, queries)
        row["hnsw"].append({
            "ef_search": ef,
            "recall_at_10": round(recall_at_k(exact, approx), 4),
            "p50_ms": round(float(np.percentile(times, 50)), 3),
            "p95_ms": round(float(np.percentile(times, 95)), 3),
        })
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1, help="FAISS threads (the build uses them; one query uses one)")
    ap.add_argument("--m", type=int, default=32, help="HNSW links per node")
    ap.add_argument("--ef-construction", type=int, default=40)
    ap.add_argument("--ef-search", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    ap.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64, 128], help="IVF cells visited")
    ap.add_argument("--no-hnsw", action="store_true", help="exact and IVF only")
    ap.add_argument("--no-ivf", action="store_true", help="exact and HNSW only")
    args = ap.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    for n in args.sizes:
        print(json.dumps(run(n, args.queries, args.m, args.ef_construction, args.ef_search,
                             hnsw_too=not args.no_hnsw, nprobes=tuple(args.nprobe), ivf_too=not args.no_ivf)), flush=True)


if __name__ == "__main__":
    main()
