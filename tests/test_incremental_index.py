import json

import numpy as np
import pytest

from jmqa.index import FORMAT_VERSION, Index, diff_corpus, load_or_build, watch
from jmqa.ingest import load_corpus

from .conftest import HashEmbedder

PARAMS = {"chunk_size": 400, "chunk_overlap": 1}
QUERIES = ["core industries", "Kaiping towers", "overseas Chinese", "hot springs", "port logistics"]


class CountingEmbedder(HashEmbedder):
    """HashEmbedder that remembers every text it embedded."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.texts: list[str] = []

    def encode(self, texts, *, show_progress=False):
        self.texts.extend(texts)
        return super().encode(texts, show_progress=show_progress)


@pytest.fixture
def corpus(corpus_copy):
    (corpus_copy / "kaiping.txt").write_text(
        "Kaiping Diaolou\n\nThe Kaiping towers are fortified houses built by returning overseas Chinese. "
        "They are a World Heritage Site.", encoding="utf-8")
    (corpus_copy / "springs.md").write_text(
        "# Hot springs\n\nEnping has hot springs that draw visitors from Guangzhou and Macao.", encoding="utf-8")
    return corpus_copy


def update(corpus, index_dir, embedder):
    return load_or_build(load_corpus(corpus), index_dir, embedder, **PARAMS)


def chunks_of(index, path):
    doc_id = next(d.doc_id for d in index.documents.values() if d.path == path)
    return [(cid, c) for cid, c in zip(index.ids, index.chunks) if c.doc_id == doc_id]


def assert_same_as_full_build(index, corpus, tmp_path):
    full = Index.build(load_corpus(corpus), HashEmbedder(), **PARAMS)
    assert index.chunks == full.chunks
    q = HashEmbedder()
    for query in QUERIES:
        assert index.search_dense(q.encode([query])[0], 10) == full.search_dense(q.encode([query])[0], 10)
        assert index.search_lexical(query, 10) == full.search_lexical(query, 10)
    reloaded = Index.load(tmp_path / "idx")
    assert reloaded.chunks == full.chunks and reloaded.ids == index.ids
    for query in QUERIES:
        assert reloaded.search_lexical(query, 10) == full.search_lexical(query, 10)
    # kept chunks' rows are copied from the previous snapshot: the file reads as if written anew
    rows = [json.loads(line) for line in (reloaded.path / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows == [{"id": cid, **c.to_dict()} for cid, c in zip(index.ids, full.chunks)]
    assert reloaded.documents == full.documents
    # the idf counts were updated with the chunks, and stored: loading does not count them again
    assert index.term_counts == full.term_counts and reloaded._term_counts == full.term_counts


def test_unchanged_corpus_embeds_nothing(corpus, tmp_path):
    update(corpus, tmp_path / "idx", HashEmbedder())
    embedder = CountingEmbedder()
    index, status = update(corpus, tmp_path / "idx", embedder)
    assert status == "loaded" and embedder.texts == [] and embedder.calls == 0
    assert not index.changes.changed and len(index.changes.unchanged) == 3


def test_adding_a_document_embeds_only_its_chunks(corpus, tmp_path):
    first, _ = update(corpus, tmp_path / "idx", HashEmbedder())
    (corpus / "port.txt").write_text("Port logistics\n\nXinhui port handles container traffic.", encoding="utf-8")
    embedder = CountingEmbedder()
    index, status = update(corpus, tmp_path / "idx", embedder)
    assert status.startswith("updated") and "added: port.txt" in status
    new_chunks = chunks_of(index, "port.txt")
    assert len(embedder.texts) == len(new_chunks) == index.changes.embedded_chunks >= 1
    assert all("Xinhui" in t for t in embedder.texts)
    assert index.changes.added == ("port.txt",) and len(index.changes.unchanged) == 3
    assert "1 added (port.txt), 0 updated, 0 removed, 3 unchanged" in index.changes.summary()
    kept_ids = set(index.ids) - {cid for cid, _ in new_chunks}
    assert kept_ids == set(first.ids)  # the other chunks keep their FAISS ids
    assert_same_as_full_build(index, corpus, tmp_path)


def test_changing_a_document_re_embeds_only_it(corpus, tmp_path):
    update(corpus, tmp_path / "idx", HashEmbedder())
    f = corpus / "springs.md"
    f.write_text(f.read_text(encoding="utf-8") + " The springs are rich in minerals.", encoding="utf-8")
    embedder = CountingEmbedder()
    index, _ = update(corpus, tmp_path / "idx", embedder)
    assert index.changes.updated == ("springs.md",) and index.changes.embedded_chunks == len(embedder.texts)
    assert embedder.texts and all("springs" in t for t in embedder.texts)
    assert not any("fortified" in t for t in embedder.texts)
    assert len(index.ids) == len(set(index.ids)) == index.dense.ntotal == len(index.chunks)  # no duplicates
    assert_same_as_full_build(index, corpus, tmp_path)


def test_removed_document_leaves_dense_and_lexical_search(corpus, tmp_path):
    before, _ = update(corpus, tmp_path / "idx", HashEmbedder())
    gone = {cid for cid, _ in chunks_of(before, "kaiping.txt")}
    assert gone
    (corpus / "kaiping.txt").unlink()
    embedder = CountingEmbedder()
    index, _ = update(corpus, tmp_path / "idx", embedder)
    assert index.changes.removed == ("kaiping.txt",) and embedder.texts == []
    assert index.dense.ntotal == len(index.chunks) == len(before.chunks) - len(gone)
    assert not gone & set(index.ids)
    q = HashEmbedder().encode(["Kaiping towers fortified houses"])[0]
    found = [index.chunks[i] for i, _ in index.search_dense(q, 100)]
    found += [index.chunks[i] for i, _ in index.search_lexical("Kaiping towers fortified houses", 100)]
    assert found and not any("fortified" in c.text for c in found)
    assert_same_as_full_build(index, corpus, tmp_path)


def test_changed_model_rebuilds_everything(corpus, tmp_path):
    update(corpus, tmp_path / "idx", HashEmbedder())
    embedder = CountingEmbedder(model_id="another-model")
    index, status = update(corpus, tmp_path / "idx", embedder)
    assert status.startswith("built") and "embedding model changed" in status
    assert len(embedder.texts) == len(index.chunks)


def test_old_format_index_is_rebuilt_with_a_log_line(corpus, tmp_path, caplog):
    index, _ = update(corpus, tmp_path / "idx", HashEmbedder())
    manifest_file = index.path / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest["format_version"] = FORMAT_VERSION - 1
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    with caplog.at_level("INFO", logger="jmqa.index"):
        _, status = update(corpus, tmp_path / "idx", HashEmbedder())
    assert status.startswith("built") and "rebuilding" in caplog.text and "format" in caplog.text


def test_an_index_keeping_bm25s_files_from_an_earlier_version_is_read_and_rewritten_once(corpus, tmp_path):
    import bm25s

    from jmqa.snapshot import checksums
    from jmqa.lexical import tokenize

    index, _ = update(corpus, tmp_path / "idx", HashEmbedder())
    lexical = index.path / "lexical"
    for f in lexical.iterdir():
        f.unlink()
    old = bm25s.BM25()
    old.index(tokenize([f"{c.title} {c.text}" for c in index.chunks]), show_progress=False)
    old.save(str(lexical), show_progress=False)
    manifest_file = index.path / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest["checksums"] = checksums(index.path)
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")

    embedder = CountingEmbedder()
    again, status = update(corpus, tmp_path / "idx", embedder)
    assert status.startswith("loaded") and "rewritten" in status and embedder.calls == 0
    assert (again.path / "lexical" / "tf.npz").is_file()
    for query in QUERIES:
        assert again.search_lexical(query, 10) == index.search_lexical(query, 10)
    _, status = update(corpus, tmp_path / "idx", embedder)
    assert status == "loaded"


def test_diff_corpus_names_each_kind_of_change(corpus):
    docs = load_corpus(corpus)
    built = {d.path: d.doc_id for d in docs}
    built["old.txt"] = "0" * 16
    built["springs.md"] = "1" * 16
    del built["kaiping.txt"]
    changes = diff_corpus(built, docs)
    assert changes.added == ("kaiping.txt",) and changes.updated == ("springs.md",)
    assert changes.removed == ("old.txt",) and changes.unchanged == ("jiangmen-development-focus.txt",)


def test_watch_updates_the_index_when_the_corpus_changes(corpus, tmp_path):
    embedder = CountingEmbedder()
    slept = []

    def sleep(seconds):  # the corpus changes while the watcher sleeps
        slept.append(seconds)
        if len(slept) == 2:
            (corpus / "port.txt").write_text("Xinhui port handles container traffic.", encoding="utf-8")

    seen = list(watch(corpus, tmp_path / "idx", embedder, interval=0.5, polls=4, sleep=sleep, **PARAMS))
    assert slept == [0.5, 0.5, 0.5]
    assert [s.split(" ")[0] for _, s in seen] == ["built", "updated"]
    assert seen[-1][0].changes.added == ("port.txt",)
    assert Index.load(tmp_path / "idx").ids == seen[-1][0].ids
    assert np.isclose(len(seen[-1][0].chunks), seen[-1][0].dense.ntotal)


def test_watch_updates_from_the_index_in_memory_without_reading_it_again(corpus, tmp_path, monkeypatch):
    reads = []
    real_load = Index.load.__func__
    monkeypatch.setattr(Index, "load", classmethod(lambda cls, d: reads.append(d) or real_load(cls, d)))

    def sleep(_):
        (corpus / "port.txt").write_text("Xinhui port handles container traffic.", encoding="utf-8")

    seen = list(watch(corpus, tmp_path / "idx", HashEmbedder(), interval=0.1, polls=2, sleep=sleep, **PARAMS))
    assert [s.split(" ")[0] for _, s in seen] == ["built", "updated"]
    assert len(reads) == 1  # the first poll looked for an index; the update started from the one in memory
    assert_same_as_full_build(seen[-1][0], corpus, tmp_path)


def test_jmqa_index_prints_what_it_added_updated_removed_and_kept(corpus, tmp_path, monkeypatch, capsys):
    from jmqa.cli import main

    embedder = CountingEmbedder()
    monkeypatch.setattr("jmqa.embedding.SentenceTransformerEmbedder.from_settings", lambda *a, **k: embedder)
    monkeypatch.setenv("JMQA_EMBEDDING_MODEL", embedder.model_id)
    args = ["index", "--corpus", str(corpus), "--index", str(tmp_path / "idx")]
    assert main(args) == 0
    (corpus / "kaiping.txt").unlink()
    assert main(args) == 0
    embedder.texts.clear()
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert "3 added" in out[1] and "0 added, 0 updated, 1 removed (kaiping.txt), 2 unchanged" in out[3]
    assert "loaded" in out[4] and "0 added, 0 updated, 0 removed, 2 unchanged; 0 chunks embedded" in out[5]
    assert embedder.texts == []
    assert main([*args, "--watch", "--interval", "0.01", "--polls", "2"]) == 0
    assert "watching" in capsys.readouterr().out


def test_large_corpora_get_an_approximate_index_that_finds_what_exact_search_finds(corpus, tmp_path, monkeypatch):
    exact, _ = update(corpus, tmp_path / "exact", HashEmbedder())
    assert exact.dense_kind == "exact"
    monkeypatch.setattr("jmqa.index.EXACT_UP_TO", 4)
    approx, _ = update(corpus, tmp_path / "idx", HashEmbedder())
    assert approx.dense_kind == "ivf" and Index.load(tmp_path / "idx").dense_kind == "ivf"
    q = HashEmbedder()
    for query in QUERIES:
        want = [i for i, _ in exact.search_dense(q.encode([query])[0], 5)]
        got = [i for i, _ in approx.search_dense(q.encode([query])[0], 5)]
        assert got[:1] == want[:1] and len(set(got) & set(want)) >= 4
    (corpus / "kaiping.txt").unlink()  # an update reads the kept vectors back from the IVF index
    embedder = CountingEmbedder()
    index, _ = update(corpus, tmp_path / "idx", embedder)
    assert embedder.texts == [] and index.dense.ntotal == len(index.chunks)
    assert_same_as_full_build(index, corpus, tmp_path)


def test_a_renamed_document_is_stored_under_its_new_path(corpus, tmp_path):
    update(corpus, tmp_path / "idx", HashEmbedder())
    (corpus / "kaiping.txt").rename(corpus / "towers.txt")
    index, status = update(corpus, tmp_path / "idx", HashEmbedder())
    assert status.startswith("updated")
    reloaded = Index.load(tmp_path / "idx")
    assert sorted(d.path for d in reloaded.documents.values()) == sorted(d.path for d in index.documents.values())
    assert "towers.txt" in {d.path for d in reloaded.documents.values()}
    assert "kaiping.txt" not in {d.path for d in reloaded.documents.values()}
    assert_same_as_full_build(index, corpus, tmp_path)
