import json

import numpy as np
import pytest

from jmqa.errors import IndexCorruptedError, IndexNotFoundError
from jmqa.index import CURRENT, FORMAT_VERSION, Index, load_or_build, staleness
from jmqa.ingest import load_corpus

from .conftest import HashEmbedder

PARAMS = dict(chunk_size=400, chunk_overlap=1)


def test_save_and_load_round_trip(corpus_copy, tmp_path, fake_embedder):
    docs = load_corpus(corpus_copy)
    built = Index.build(docs, fake_embedder, **PARAMS)
    built.save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx")
    assert loaded.chunks == built.chunks
    assert loaded.documents == built.documents
    assert loaded.dense.ntotal == len(built.chunks)
    q = fake_embedder.encode(["core industries"])[0]
    assert loaded.search_dense(q, 3) == built.search_dense(q, 3)
    assert loaded.search_lexical("core industries", 3) == built.search_lexical("core industries", 3)
    manifest = loaded.manifest
    assert manifest["embedding_model"] == "fake-hash-256" and manifest["embedding_dim"] == 256
    assert manifest["chunking"] == {"size": 400, "overlap": 1}
    assert manifest["documents"] == {"jiangmen-development-focus.txt": docs[0].doc_id}


def test_missing_index_is_built_then_loaded(corpus_copy, tmp_path, fake_embedder):
    docs = load_corpus(corpus_copy)
    with pytest.raises(IndexNotFoundError, match="jmqa index"):
        Index.load(tmp_path / "idx")
    _, status = load_or_build(docs, tmp_path / "idx", fake_embedder, **PARAMS)
    assert status.startswith("built")
    _, status = load_or_build(docs, tmp_path / "idx", fake_embedder, **PARAMS)
    assert status == "loaded"


def test_changed_corpus_file_makes_the_index_stale_and_it_is_rebuilt(corpus_copy, tmp_path, fake_embedder, caplog):
    load_or_build(load_corpus(corpus_copy), tmp_path / "idx", fake_embedder, **PARAMS)
    f = corpus_copy / "jiangmen-development-focus.txt"
    f.write_text(f.read_text(encoding="utf-8") + "\n\nJiangmen also has hot springs.", encoding="utf-8")
    docs = load_corpus(corpus_copy)
    with caplog.at_level("INFO", logger="jmqa.index"):
        index, status = load_or_build(docs, tmp_path / "idx", fake_embedder, **PARAMS)
    assert "corpus changed" in status and "changed: jiangmen-development-focus.txt" in status
    assert "stale" in caplog.text
    assert any("hot springs" in c.text for c in index.chunks)


def test_added_document_and_changed_model_or_chunking_are_stale(corpus_copy, tmp_path, fake_embedder):
    docs = load_corpus(corpus_copy)
    index, _ = load_or_build(docs, tmp_path / "idx", fake_embedder, **PARAMS)
    m = index.manifest
    assert staleness(m, docs, embedding_model="fake-hash-256", **PARAMS) is None
    assert "embedding model changed" in staleness(m, docs, embedding_model="other-model", **PARAMS)
    assert "chunking changed" in staleness(m, docs, embedding_model="fake-hash-256", chunk_size=500, chunk_overlap=1)
    (corpus_copy / "new.txt").write_text("A new document about Kaiping towers.", encoding="utf-8")
    assert "added: new.txt" in staleness(m, load_corpus(corpus_copy), embedding_model="fake-hash-256", **PARAMS)
    _, status = load_or_build(docs, tmp_path / "idx", HashEmbedder(model_id="another-model"), **PARAMS)
    assert "embedding model changed" in status


def test_failure_mid_build_leaves_the_previous_index_loadable(corpus_copy, tmp_path, fake_embedder, monkeypatch):
    docs = load_corpus(corpus_copy)
    old, _ = load_or_build(docs, tmp_path / "idx", fake_embedder, **PARAMS)
    new = Index.build(docs, fake_embedder, chunk_size=300, chunk_overlap=0)

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr("jmqa.index.write_rows", crash)
    with pytest.raises(OSError, match="simulated"):
        new.save(tmp_path / "idx")
    monkeypatch.undo()
    again = Index.load(tmp_path / "idx")
    assert again.chunks == old.chunks
    assert not [p for p in (tmp_path / "idx").iterdir() if p.name.endswith(".partial")]


def test_tampered_index_file_is_reported_with_the_rebuild_command(corpus_copy, tmp_path, fake_embedder):
    docs = load_corpus(corpus_copy)
    index, _ = load_or_build(docs, tmp_path / "idx", fake_embedder, **PARAMS)
    chunks_file = index.path / "chunks.jsonl"
    chunks_file.write_text(chunks_file.read_text(encoding="utf-8")[:-40], encoding="utf-8")
    with pytest.raises(IndexCorruptedError, match="jmqa index --rebuild") as err:
        load_or_build(docs, tmp_path / "idx", fake_embedder, **PARAMS)
    assert "chunks.jsonl" in str(err.value)
    _, status = load_or_build(docs, tmp_path / "idx", fake_embedder, rebuild=True, **PARAMS)
    assert Index.load(tmp_path / "idx").chunks


def test_unreadable_manifest_or_dangling_pointer_is_corruption(corpus_copy, tmp_path, fake_embedder):
    docs = load_corpus(corpus_copy)
    index, _ = load_or_build(docs, tmp_path / "idx", fake_embedder, **PARAMS)
    (index.path / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorruptedError, match="manifest"):
        Index.load(tmp_path / "idx")
    (tmp_path / "idx" / CURRENT).write_text("snapshot-gone\n", encoding="utf-8")
    with pytest.raises(IndexCorruptedError, match="missing snapshot"):
        Index.load(tmp_path / "idx")


def test_manifest_is_plain_json_with_checksums(corpus_copy, tmp_path, fake_embedder):
    index, _ = load_or_build(load_corpus(corpus_copy), tmp_path / "idx", fake_embedder, **PARAMS)
    manifest = json.loads((index.path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION
    assert {"dense.faiss", "chunks.jsonl", "documents.jsonl"} <= set(manifest["checksums"])


def test_a_large_ivf_index_searches_one_query_on_every_thread_and_finds_what_exact_search_finds(monkeypatch):
    import faiss

    from jmqa.index import dense_index, search_in_parallel

    monkeypatch.setattr("jmqa.index.PARALLEL_SEARCH_FROM", 2000)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(3000, dtype=np.int64) + 7
    approx, exact = dense_index(vectors, ids, exact_up_to=1000), dense_index(vectors, ids)
    assert faiss.downcast_index(approx.index).parallel_mode == 1  # not stored in the file: set again on load
    reloaded = search_in_parallel(faiss.deserialize_index(faiss.serialize_index(approx)))
    assert faiss.downcast_index(reloaded.index).parallel_mode == 1
    queries = vectors[:20] + 0.05 * rng.standard_normal((20, 32)).astype(np.float32)
    _, got = reloaded.search(queries, 10)
    _, want = exact.search(queries, 10)
    assert (got[:, 0] == want[:, 0]).all()
    assert np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)]) >= 0.9
