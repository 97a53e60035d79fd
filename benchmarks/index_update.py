"""Incremental update of a 10k-chunk index: what adding one document costs, against that document's
embedding time alone and against a full rebuild's embedding time.

The 10k-chunk corpus is SQuAD 2.0 dev passages copied into files (benchmarks/serving.py), indexed once
with SYNTHETIC vectors under the real embedder's model id (so jmqa takes the index as its own); the
update then embeds the new document with the real embedder (the configured backend): once as `jmqa index`
does (reading the index from disk first), once as `jmqa index --watch` does (from the index in memory). Run on a copy of
the cached index and corpus, so the cache stays as built.

    python benchmarks/index_update.py [--chunks 10000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

NEW_DOCUMENT = ROOT / "corpus" / "jiangmen-development-focus.txt"


def main() -> None:
    from serving import synthetic_corpus, synthetic_index

    from jmqa.chunking import chunk, embedding_text
    from jmqa.config import Settings
    from jmqa.embedding import SentenceTransformerEmbedder
    from jmqa.index import load_or_build
    from jmqa.ingest import load_corpus, read_document

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=10_000)
    args = ap.parse_args()

    s = Settings()
    params = {"chunk_size": s.chunk_size, "chunk_overlap": s.chunk_overlap}
    embedder = SentenceTransformerEmbedder(s.embedding_model, s.embedding_batch_size)
    embedder.warm_up()
    cached_corpus, cached_index = synthetic_corpus(args.chunks), synthetic_index(embedder, args.chunks)

    new_texts = [embedding_text(c) for c in chunk(read_document(NEW_DOCUMENT, root=NEW_DOCUMENT.parent),
                                                    size=s.chunk_size, overlap=s.chunk_overlap)]
    t = time.perf_counter()
    embedder.encode(new_texts)
    alone_s = time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        corpus, index_dir = Path(tmp) / "corpus", Path(tmp) / "index"
        shutil.copytree(cached_corpus, corpus)
        shutil.copytree(cached_index, index_dir)
        t = time.perf_counter()
        index, unchanged_status = load_or_build(load_corpus(corpus), index_dir, embedder, **params)
        unchanged_s = time.perf_counter() - t
        chunks_before = len(index.chunks)
        shutil.copy(NEW_DOCUMENT, corpus / "zz-new-document.txt")
        t = time.perf_counter()
        index, status = load_or_build(load_corpus(corpus), index_dir, embedder, **params)
        update_s = time.perf_counter() - t
        chunks = len(index.chunks)
        # as `jmqa index --watch` does it: the live index is in memory, so it is not read again
        text = NEW_DOCUMENT.read_text(encoding="utf-8")
        (corpus / "zz-second-document.txt").write_text(text + "\nA second copy, changed.\n", encoding="utf-8")
        t = time.perf_counter()
        index, _ = load_or_build(load_corpus(corpus), index_dir, embedder, current=index, **params)
        watch_s = time.perf_counter() - t
    print(json.dumps({
        "chunks_before": chunks_before, "chunks_after": chunks, "dense_index": index.dense_kind,
        "embedding_model": embedder.model_id,
        "unchanged_s": round(unchanged_s, 3), "unchanged_status": unchanged_status.split(" (")[0],
        "new_document_chunks": len(new_texts), "embed_new_document_alone_s": round(alone_s, 3),
        "add_one_document_s": round(update_s, 3), "update_status": status.split(" (")[0],
        "add_one_document_beyond_unchanged_s": round(update_s - unchanged_s, 3),
        "add_one_document_in_memory_s": round(watch_s, 3),
        "full_rebuild_embedding_estimate_s": round(alone_s / len(new_texts) * chunks, 1),
    }))


if __name__ == "__main__":
    main()
