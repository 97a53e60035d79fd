import logging
import os

import pytest

from jmqa.errors import CorpusError
from jmqa.ingest import (
    UnreadableFile,
    clean_text,
    content_hash,
    load_corpus,
    read_document,
    read_file,
    safe_file_name,
    scan_corpus,
)

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


# ---------------------------------------------------------------- every supported type; what is left out, and why


def test_pdf_word_and_html_files_are_documents_with_their_titles_and_places(tmp_path):
    from .test_formats import PAGE, guide_pdf, word_file

    (tmp_path / "guide.pdf").write_bytes(guide_pdf())
    (tmp_path / "guide.docx").write_bytes(word_file())
    (tmp_path / "towers.htm").write_bytes(PAGE)
    (tmp_path / "plain_notes.txt").write_text("Plain notes.", encoding="utf-8")
    scan = scan_corpus(tmp_path)
    assert scan.skipped == []
    docs = {d.path: d for d in scan.docs}
    assert {p: d.title for p, d in docs.items()} == {
        "guide.docx": "Jiangmen Guide", "guide.pdf": "Jiangmen Guide", "plain_notes.txt": "Plain notes",
        "towers.htm": "Kaiping towers"}
    pdf = docs["guide.pdf"]
    assert pdf.doc_id == content_hash(pdf.text)[:16]
    assert pdf.place_at(pdf.text.index("Taishan")).page == 3
    assert docs["towers.htm"].places and docs["plain_notes.txt"].places == ()


def test_each_file_left_out_is_listed_with_its_reason_and_hidden_files_are_ignored(tmp_path, caplog):
    (tmp_path / "a.txt").write_text("Same text.", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Same text.", encoding="utf-8")
    (tmp_path / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    (tmp_path / "big.md").write_text("x" * 3_000_000, encoding="utf-8")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.txt").write_text("Hidden.", encoding="utf-8")
    scan = scan_corpus(tmp_path, max_bytes=2_000_000)
    assert [d.path for d in scan.docs] == ["a.txt"]
    reasons = {s.path: s.reason for s in scan.skipped}
    assert reasons == {
        "b.txt": "b.txt has the same text as a.txt; not indexed twice",
        "sheet.xlsx": "sheet.xlsx is a .xlsx file, which is not supported; "
                      "add .txt, .md, .pdf, .docx, .html or .htm files",
        "big.md": "big.md is 3 MB, over the 2 MB limit; split it, or raise the limit with JMQA_MAX_FILE_MB",
    }
    with caplog.at_level(logging.WARNING, logger="jmqa.ingest"):
        assert [d.path for d in load_corpus(tmp_path, max_bytes=2_000_000)] == ["a.txt"]
    assert [r.getMessage() for r in caplog.records] == [f"not indexed: {s.reason}" for s in scan.skipped]


def test_a_corpus_with_nothing_readable_lists_the_supported_types(tmp_path):
    (tmp_path / "sheet.xlsx").write_bytes(b"PK")
    with pytest.raises(CorpusError, match=r"no readable document \(1 files left out.*\.txt, \.md, \.pdf, \.docx"):
        load_corpus(tmp_path)


def test_read_file_names_the_document_as_asked_and_raises_a_clear_error(tmp_path):
    src = tmp_path / "upload-123.tmp"
    src.write_text("# Harbour\n\nShips come in.", encoding="utf-8")
    doc = read_file(src, name="harbour notes.md")
    assert (doc.path, doc.title) == ("harbour notes.md", "Harbour")
    with pytest.raises(UnreadableFile, match=r"gone\.txt cannot be read \(No such file"):
        read_file(tmp_path / "gone.txt")
    assert read_document(tmp_path / "gone.txt") is None
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would block
    with pytest.raises(UnreadableFile, match=r"pipe\.txt is not a regular file"):
        read_file(tmp_path / "pipe.txt")


@pytest.mark.parametrize("given, plain", [
    ("../../x.pdf", "x.pdf"),
    ("/etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\me\\..\\report.docx", "report.docx"),
    ("a\x00b\r\n.txt", "ab.txt"),
    ("notes\u202egpj.txt", "notesgpj.txt"),
    ("  spaced name.md ", "spaced name.md"),
    ("\u6c5f\u95e8.html", "\u6c5f\u95e8.html"),
])
def test_safe_file_name_keeps_only_a_plain_name(given, plain):
    assert safe_file_name(given) == plain


@pytest.mark.parametrize("given", ["", ".", "..", "../..", "dir/", ".hidden.txt", "\x00", "a/.."])
def test_safe_file_name_refuses_names_that_name_no_visible_file(given):
    with pytest.raises(ValueError, match="file name"):
        safe_file_name(given)


def test_a_very_long_name_is_cut_with_its_extension_kept():
    name = safe_file_name("\u6c5f" * 200 + ".pdf")
    assert name.endswith(".pdf") and len(name.encode("utf-8")) <= 255
