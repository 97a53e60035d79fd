"""Index build on real text: SQuAD v2.0 dev passages (one file each) with the default embedder.

Reports the embedding throughput (chunks/s) of the default sentence-transformers path, the full build
time, and the time of an incremental update after one passage is added and one changed, and of a
re-index of the unchanged corpus.

    python benchmarks/index_build.py [--passages ../shared/datasets/squad-v2.0-dev/passages.jsonl] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=Path, default=ROOT.parent / "shared/datasets/squad-v2.0-dev/passages.jsonl")
    ap.add_argument("--limit", type=int, help="only the first N passages")
    args = ap.parse_args()

    from jmqa.config import Settings
    from jmqa.embedding import SentenceTransformerEmbedder
    from jmqa.index import load_or_build
    from jmqa.ingest import load_corpus

    rows = [json.loads(line) for line in args.passages.open(encoding="utf-8") if line.strip()][: args.limit]
    settings = Settings()
    embedder = SentenceTransformerEmbedder(settings.embedding_model, settings.embedding_batch_size)
    params = {"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap}
    t = time.perf_counter()
    embedder.warm_up()
    out: dict = {"passages": len(rows), "model_load_s": round(time.perf_counter() - t, 2)}

    seen, encode_s = 0, 0.0
    real_encode = embedder.encode

    def counting_encode(texts, *, show_progress=False):  # counts and times what the build embeds
        nonlocal seen, encode_s
        t = time.perf_counter()
        vectors = real_encode(texts, show_progress=show_progress)
        seen, encode_s = seen + len(texts), encode_s + time.perf_counter() - t
        return vectors

    embedder.encode = counting_encode
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index_dir = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        for row in rows:
            (corpus / f"{row['id']}.txt").write_text(f"{row['title']}\n\n{row['text']}", encoding="utf-8")

        def timed(step: str) -> None:
            nonlocal seen, encode_s
            seen, encode_s = 0, 0.0
            t = time.perf_counter()
            index, status = load_or_build(load_corpus(corpus), index_dir, embedder, **params)
            out[step] = {"s": round(time.perf_counter() - t, 2), "chunks": len(index.chunks), "embedded": seen,
                         "encode_s": round(encode_s, 2), "status": status.split(" (")[0]}

        timed("full_build")
        out["embedding_chunks_per_s"] = round(out["full_build"]["embedded"] / out["full_build"]["encode_s"], 1)
        timed("unchanged")
        (corpus / "added.txt").write_text("Jiangmen\n\nJiangmen is a city in Guangdong.", encoding="utf-8")
        first = corpus / f"{rows[0]['id']}.txt"
        first.write_text(first.read_text(encoding="utf-8") + " This sentence was added.", encoding="utf-8")
        timed("one_added_one_changed")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
