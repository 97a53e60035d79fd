import logging

import pytest

from jmqa.errors import CorpusError
from jmqa.ingest import clean_text, load_corpus

from .conftest import SOURCE_CORPUS


def test_default_corpus_is_one_document_without_trailing_boilerplate():
    docs = load_corpus(SOURCE_CORPUS)
    assert len(docs) == 1
    assert "Related Links" not in docs[0].text
    assert docs[0].text.endswith("nurture new driving forces of development.")
    assert docs[0].title == "Jiangmen development focus"


def test_document_id_is_a_stable_content_hash(tmp_path):
    (tmp_path / "a.txt").write_text("Same text here.", encoding="utf-8")
    first = load_corpus(tmp_path)[0].doc_id
    assert load_corpus(tmp_path)[0].doc_id == first
    (tmp_path / "a.txt").write_text("Other text here.", encoding="utf-8")
    assert load_corpus(tmp_path)[0].doc_id != first


def test_boilerplate_with_content_after_it_is_kept():
    text = "Intro.\n\nRelated Links:\nA real link text that matters."
    assert clean_text(text) == text


def test_reads_txt_and_md_recursively_and_uses_markdown_title(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "a.txt").write_text("Alpha text.", encoding="utf-8")
    (tmp_path / "sub" / "deeper" / "b.md").write_text("# Beta Report\n\nBeta text.", encoding="utf-8")
    (tmp_path / "c.pdf").write_bytes(b"%PDF-1.4")
    docs = load_corpus(tmp_path)
    assert sorted(d.title for d in docs) == ["A", "Beta Report"]
    assert {d.path for d in docs} == {"a.txt", "sub/deeper/b.md"}


def test_unreadable_files_are_skipped_with_a_warning_naming_them(tmp_path, caplog):
    (tmp_path / "good.txt").write_text("Good text.", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("Café déjà vu".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02 binary")
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="jmqa.ingest"):
        docs = load_corpus(tmp_path)
    assert [d.path for d in docs] == ["good.txt"]
    for name in ("latin1.txt", "binary.txt", "empty.md"):
        assert name in caplog.text


def test_empty_or_missing_corpus_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match=str(tmp_path)):
        load_corpus(tmp_path)
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
