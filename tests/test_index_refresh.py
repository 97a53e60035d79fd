"""A running Assistant picks up a new index written by `jmqa index` without a restart or a failed question."""

import threading
import traceback

from jmqa import Assistant
from jmqa.index import load_or_build
from jmqa.ingest import load_corpus

from .conftest import HashEmbedder

NEW_TEXT = "Kaiping\n\nThe Kaiping Diaolou are fortified watchtowers built by returning overseas Chinese."


def test_assistant_picks_up_a_new_index_without_a_restart(corpus_copy, tmp_path):
    embedder = HashEmbedder()
    qa = Assistant.load(corpus_copy, tmp_path / "idx", embedder=embedder)
    old_index = qa.index
    assert not qa.refresh(min_interval=0)  # nothing new yet
    (corpus_copy / "kaiping.txt").write_text(NEW_TEXT, encoding="utf-8")
    load_or_build(load_corpus(corpus_copy), tmp_path / "idx", embedder,
                  chunk_size=qa.settings.chunk_size, chunk_overlap=qa.settings.chunk_overlap)
    assert qa.index is old_index  # not yet: the pointer is read at most once a second
    assert qa.refresh(min_interval=0)
    assert qa.index is not old_index and len(qa.index.documents) == 2
    assert qa.retriever.index is qa.index
    assert qa.extractive.stats is not None
    hits = qa.retriever.search("Kaiping Diaolou watchtowers", k=3)
    assert any("watchtowers" in h.chunk.text for h in hits)


def test_ask_refreshes_at_most_once_a_second(corpus_copy, tmp_path):
    embedder = HashEmbedder()
    qa = Assistant.load(corpus_copy, tmp_path / "idx", embedder=embedder)
    (corpus_copy / "kaiping.txt").write_text(NEW_TEXT, encoding="utf-8")
    load_or_build(load_corpus(corpus_copy), tmp_path / "idx", embedder,
                  chunk_size=qa.settings.chunk_size, chunk_overlap=qa.settings.chunk_overlap)
    qa.ask("What are the Kaiping Diaolou?", mode="extractive")
    assert len(qa.index.documents) == 1  # checked less than a second after load
    qa._refresh_checked -= 1.5
    answer = qa.ask("What are the Kaiping Diaolou?", mode="extractive")
    assert len(qa.index.documents) == 2
    assert not answer.abstained and "watchtowers" in answer.text


def test_questions_keep_working_while_the_index_is_rewritten(corpus_copy, tmp_path):
    embedder = HashEmbedder()
    qa = Assistant.load(corpus_copy, tmp_path / "idx", embedder=embedder)
    errors, answers = [], []

    def ask_repeatedly():
        for _ in range(30):
            try:
                qa.refresh(min_interval=0)
                answers.append(qa.ask("What are Jiangmen's core industries?", mode="extractive"))
            except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                errors.append(exc)

    asker = threading.Thread(target=ask_repeatedly)
    asker.start()
    for i in range(6):
        (corpus_copy / f"extra-{i % 2}.txt").write_text(f"Extra note {i} about Jiangmen ports.", encoding="utf-8")
        load_or_build(load_corpus(corpus_copy), tmp_path / "idx", embedder,
                      chunk_size=qa.settings.chunk_size, chunk_overlap=qa.settings.chunk_overlap)
    asker.join()
    assert not errors, "".join(traceback.format_exception(errors[0]))
    assert len(answers) == 30
    assert all(not a.abstained for a in answers)
