"""Managing the corpus: adding files (each bad one named with its reason, nothing lost), listing, removing."""

import json
from pathlib import Path

import pytest

from jmqa import Assistant
from jmqa.collection import add_files, remove_file
from jmqa.errors import BadInputError

HTML = b"""<html><head><title>Port notes</title><script>alert('x')</script></head>
<body><nav>Home | About</nav><main><h1>The port</h1><p>The harbour of Gaoyang handles forty ferries a day.</p>
</main><footer>(c) 2026</footer></body></html>"""


@pytest.fixture
def qa(corpus_copy: Path, tmp_path: Path, fake_embedder) -> Assistant:
    return Assistant.load(corpus_copy, tmp_path / "index", embedder=fake_embedder)


def write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def test_added_files_are_indexed_and_the_next_question_finds_them(qa: Assistant, tmp_path: Path):
    before = len(qa.index.documents)
    page = write(tmp_path / "uploads", "port.html", HTML)
    result = qa.add_documents([page])
    assert result.added == ("port.html",) and not result.skipped
    assert len(qa.index.documents) == before + 1
    entry = next(e for e in qa.documents() if e.name == "port.html")
    assert (entry.title, entry.kind, entry.passages) == ("Port notes", "HTML", 1)
    hits = qa.retriever.search("How many ferries does the harbour of Gaoyang handle?", k=3)
    assert "forty ferries" in hits[0].chunk.text and "alert" not in hits[0].chunk.text


def test_each_bad_file_is_named_with_its_reason_and_the_good_ones_still_go_in(qa: Assistant, tmp_path: Path):
    up = tmp_path / "uploads"
    files = [write(up, "empty.txt", b""), write(up, "sheet.xlsx", b"PK\x03\x04"),
             write(up, "ok.txt", b"The lighthouse of Gaoyang is red."), write(up, "broken.pdf", b"%PDF-1.7\n1 0 obj")]
    corpus_before = sorted(p.name for p in qa.settings.corpus_dir.iterdir())
    result = qa.add_documents(files)
    assert result.added == ("ok.txt",)
    reasons = dict(result.skipped)
    assert set(reasons) == {"empty.txt", "sheet.xlsx", "broken.pdf"}
    assert "empty" in reasons["empty.txt"] and ".pdf" in reasons["sheet.xlsx"]
    assert sorted(p.name for p in qa.settings.corpus_dir.iterdir()) == sorted(corpus_before + ["ok.txt"])


def test_the_same_text_twice_is_added_once(qa: Assistant, tmp_path: Path):
    a = write(tmp_path / "u", "a.txt", b"The bridge of Gaoyang opened in spring.")
    b = write(tmp_path / "v", "b.txt", b"The bridge of Gaoyang opened in spring.")
    assert qa.add_documents([a]).added == ("a.txt",)
    result = qa.add_documents([b])
    assert not result.added and "same text as a.txt" in result.skipped[0][1]


def test_an_uploaded_name_with_path_parts_lands_inside_the_corpus(tmp_path: Path):
    corpus = tmp_path / "corpus"
    given = ["../../evil.txt", "/etc/evil2.txt", "..\\..\\evil3.txt", "a\x00b.txt"]
    files = [write(tmp_path / "u", f"{i}.txt", f"Text number {i} about a harbour.".encode()) for i in range(4)]
    result = add_files(corpus, files, names=given)
    assert sorted(result.added) == ["ab.txt", "evil.txt", "evil2.txt", "evil3.txt"], result.skipped
    assert sorted(p.name for p in corpus.iterdir()) == sorted(result.added)
    assert not (tmp_path / "evil.txt").exists()
    assert add_files(corpus, files[:1], names=[".."]).skipped  # no name left: refused, with a reason


def test_a_taken_name_gets_a_number(tmp_path: Path):
    corpus = tmp_path / "corpus"
    write(corpus, "notes.txt", b"First text.")
    src = write(tmp_path / "u", "notes.txt", b"Second, different text.")
    assert add_files(corpus, [src]).added == ("notes (2).txt",)
    assert (corpus / "notes.txt").read_bytes() == b"First text."  # nothing already there is overwritten


def test_remove_deletes_the_document_and_nothing_outside_the_corpus(qa: Assistant, tmp_path: Path):
    page = write(tmp_path / "uploads", "port.html", HTML)
    qa.add_documents([page])
    n = len(qa.index.documents)
    assert qa.remove_document("port.html") == "port.html"
    assert len(qa.index.documents) == n - 1 and not (qa.settings.corpus_dir / "port.html").exists()
    outside = write(tmp_path, "keep.txt", b"keep me")
    for name in ("../keep.txt", str(outside), "nope.txt"):
        with pytest.raises(BadInputError, match="not a document of the corpus"):
            remove_file(qa.settings.corpus_dir, name)
    assert outside.exists()


@pytest.mark.slow
def test_the_cli_adds_lists_and_removes_documents(tmp_path: Path, capsys):
    from jmqa.cli import main

    corpus = tmp_path / "corpus"
    write(corpus, "base.txt", b"The old bridge of Gaoyang is made of granite.")
    paths = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    page = write(tmp_path / "u", "port.html", HTML)
    empty = write(tmp_path / "u", "empty.pdf", b"")
    assert main(["add", *paths, str(page), str(empty)]) == 0
    out = capsys.readouterr().out
    assert "added port.html" in out and "not added empty.pdf: empty.pdf is empty" in out
    assert main(["documents", *paths, "--json"]) == 0
    listed = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"base.txt", "port.html"} and listed["port.html"]["kind"] == "HTML"
    assert main(["add", *paths, str(empty)]) == 2  # nothing could be added: a bad-input exit
    assert main(["remove", *paths, "port.html"]) == 0 and not (corpus / "port.html").exists()
    assert main(["remove", *paths, "../base.txt"]) == 2
    assert "not a document of the corpus" in capsys.readouterr().err
