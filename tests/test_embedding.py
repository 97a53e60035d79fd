"""Embedding backends: the ONNX int8 path agrees with the torch one, has its own model id, and fails clearly."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from jmqa.embedding import SentenceTransformerEmbedder, quantization_target
from jmqa.errors import ModelUnavailableError
from jmqa.index import Index, staleness
from jmqa.ingest import load_corpus

SENTENCES = [
    "Jiangmen is a prefecture-level city in Guangdong province, China.",
    "The Kaiping Diaolou are fortified multi-storey towers built by returning overseas Chinese.",
    "What are the main industries of the city?",
    "A recipe for chocolate cake needs flour, sugar, eggs and cocoa.",
]


@pytest.fixture(scope="module")
def int8_embedder(tmp_path_factory):
    """The int8 embedder, exported from the bundled model folder into a fresh cache (no download)."""
    e = SentenceTransformerEmbedder(backend="onnx-int8", cache_dir=tmp_path_factory.mktemp("cache"))
    e.warm_up()
    return e


def test_each_backend_has_its_own_model_id():
    ids = {b: SentenceTransformerEmbedder(backend=b, cache_dir="unused").model_id for b in ("torch", "onnx", "onnx-int8")}
    assert ids["torch"] == "all-MiniLM-L6-v2"  # indexes built before the backends existed stay valid
    assert len(set(ids.values())) == 3


def test_backend_and_cache_dir_come_from_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("JMQA_EMBEDDING_BACKEND", "onnx-int8")
    monkeypatch.setenv("JMQA_CACHE_DIR", str(tmp_path))
    e = SentenceTransformerEmbedder()
    assert e.backend == "onnx-int8" and e.model_id.endswith("+onnx-int8-" + quantization_target()) and e.cache_dir == tmp_path


def test_index_built_with_one_backend_is_stale_for_another(corpus_copy, fake_embedder):
    torch_id = SentenceTransformerEmbedder(backend="torch", cache_dir="unused").model_id
    int8_id = SentenceTransformerEmbedder(backend="onnx-int8", cache_dir="unused").model_id
    fake_embedder.model_id = torch_id
    docs = load_corpus(corpus_copy)
    index = Index.build(docs, fake_embedder, chunk_size=700, chunk_overlap=1)
    assert staleness(index.manifest, docs, embedding_model=torch_id, chunk_size=700, chunk_overlap=1) is None
    reason = staleness(index.manifest, docs, embedding_model=int8_id, chunk_size=700, chunk_overlap=1)
    assert reason is not None and "embedding model changed" in reason


def test_missing_onnxruntime_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(ModelUnavailableError, match="pip install onnxruntime") as info:
        SentenceTransformerEmbedder(backend="onnx-int8", cache_dir=tmp_path).warm_up()
    assert "JMQA_EMBEDDING_BACKEND=torch" in str(info.value)


def test_unloadable_model_folder_is_a_clear_error_for_onnx_too(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(ModelUnavailableError, match="JMQA_EMBEDDING_BACKEND=torch"):
        SentenceTransformerEmbedder(str(tmp_path / "model"), backend="onnx-int8", cache_dir=tmp_path).warm_up()


def test_quantization_follows_the_cpu():
    assert quantization_target("flags : fpu sse avx2 avx512f avx512_vnni") == "avx512_vnni"
    assert quantization_target("flags : fpu sse avx2 avx512f") == "avx2"
    assert quantization_target("") == "avx2"


@pytest.mark.slow
def test_int8_vectors_are_normalised_and_close_to_torch(int8_embedder, real_embedder):
    torch_embedder = real_embedder if real_embedder.backend == "torch" else SentenceTransformerEmbedder(backend="torch")
    fast, slow = int8_embedder.encode(SENTENCES), torch_embedder.encode(SENTENCES)
    assert fast.shape == slow.shape == (len(SENTENCES), 384) and fast.dtype == np.float32
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    # measured on SQuAD 2.0's 2,073 chunks: min 0.983, mean 0.994 (docs/benchmarks.md)
    assert (fast * slow).sum(axis=1).min() >= 0.97


@pytest.mark.slow
def test_int8_ranks_the_relevant_passage_first(int8_embedder):
    question, relevant, irrelevant = int8_embedder.encode(
        ["Which towers did overseas Chinese build in Kaiping?", SENTENCES[1], SENTENCES[3]])
    assert question @ relevant > question @ irrelevant + 0.2


@pytest.mark.slow
def test_int8_export_is_made_once_in_the_cache(int8_embedder):
    exported = sorted(int8_embedder.cache_dir.glob("onnx/*/*.onnx"))
    assert [p.name for p in exported] == ["model_fused.onnx", f"model_fused_qint8_{quantization_target()}.onnx"]
    before = [p.stat().st_mtime_ns for p in exported]
    again = SentenceTransformerEmbedder(backend="onnx-int8", cache_dir=int8_embedder.cache_dir)
    assert again.encode(["again"]).shape == (1, 384)
    assert [p.stat().st_mtime_ns for p in exported] == before


@pytest.mark.slow
def test_a_text_gets_the_same_vector_alone_or_in_a_batch_of_longer_texts(int8_embedder, real_embedder):
    # batches are padded to their longest text: padding must not leak into the mean
    long_texts = [" ".join([s] * 6) for s in SENTENCES]

    def alone_and_batched(embedder):
        return embedder.encode([SENTENCES[0]])[0], embedder.encode([*long_texts, SENTENCES[0], *long_texts])[len(long_texts)]

    alone, batched = alone_and_batched(real_embedder)
    assert np.allclose(alone, batched, atol=1e-4)
    # int8 quantises activations with one scale per batch, so its vectors move a little with the batch
    alone, batched = alone_and_batched(int8_embedder)
    assert alone @ batched >= 0.98


def test_the_onnx_session_runs_on_the_threads_the_settings_give(tmp_path):
    from jmqa.config import Settings

    settings = Settings(embedding_backend="onnx", embedding_threads=1, cache_dir=tmp_path)
    e = SentenceTransformerEmbedder.from_settings(settings)
    assert (e.backend, e.threads, e.cache_dir) == ("onnx", 1, tmp_path)
    e.warm_up()
    assert e._model._session.get_session_options().intra_op_num_threads == 1
    assert e.encode(SENTENCES[:1]).shape == (1, e.dim)
