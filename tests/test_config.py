"""Where jmqa looks for the corpus and keeps the index: the current folder's corpus/, else the example
corpus in the package; flags and JMQA_* first (resolve_paths, Settings, the CLI's --corpus/--index)."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from jmqa.config import DEFAULT_CORPUS, Settings, default_cache_dir, resolve_paths

from .conftest import SOURCE_CORPUS


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("JMQA_CORPUS_DIR", "JMQA_INDEX_DIR", "JMQA_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _dirs(tmp_path: Path, *, corpus: bool) -> tuple[Path, Path]:
    cwd = tmp_path / "work"
    (cwd / "corpus" if corpus else cwd).mkdir(parents=True)
    return cwd, tmp_path / "cache"


def test_the_current_folders_corpus_and_index(tmp_path):
    cwd, cache = _dirs(tmp_path, corpus=True)
    assert resolve_paths(None, None, cwd=cwd, cache_dir=cache) == (cwd / "corpus", cwd / "index")
    # named explicitly, relative or absolute, it is still the current folder's corpus
    assert resolve_paths("corpus", None, cwd=cwd, cache_dir=cache) == (Path("corpus"), cwd / "index")
    assert resolve_paths(cwd / "corpus", None, cwd=cwd, cache_dir=cache)[1] == cwd / "index"


def test_without_a_corpus_folder_the_example_corpus_with_its_index_in_the_cache(tmp_path):
    cwd, cache = _dirs(tmp_path, corpus=False)
    assert resolve_paths(None, None, cwd=cwd, cache_dir=cache) == (DEFAULT_CORPUS, cache / "index" / "default")
    assert (cwd / "corpus").exists() is False  # nothing is created in the current folder
    assert (DEFAULT_CORPUS / "jiangmen-development-focus.txt").is_file()


def test_another_corpus_gets_an_index_of_its_own_in_the_cache(tmp_path):
    cwd, cache = _dirs(tmp_path, corpus=True)
    docs = tmp_path / "docs"
    corpus, index = resolve_paths(docs, None, cwd=cwd, cache_dir=cache)
    assert corpus == docs
    assert index.parent == cache / "index" and index.name.startswith("docs-")
    # the same folder, however named, keeps its index; another folder of the same name does not share it
    assert resolve_paths(Path("../docs"), None, cwd=cwd, cache_dir=cache)[1] == index
    assert resolve_paths(tmp_path / "other" / "docs", None, cwd=cwd, cache_dir=cache)[1] != index
    # a folder called corpus elsewhere is not the current folder's
    assert resolve_paths(tmp_path / "corpus", None, cwd=cwd, cache_dir=cache)[1].parent == cache / "index"


def test_an_index_asked_for_is_used_as_given(tmp_path):
    cwd, cache = _dirs(tmp_path, corpus=True)
    assert resolve_paths(None, "idx", cwd=cwd, cache_dir=cache) == (cwd / "corpus", Path("idx"))
    assert resolve_paths(tmp_path / "docs", tmp_path / "i", cwd=cwd, cache_dir=cache)[1] == tmp_path / "i"


def test_cache_dir_follows_xdg_cache_home(tmp_path):
    assert default_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "jmqa"
    assert default_cache_dir({}) == Path.home() / ".cache" / "jmqa"
    assert default_cache_dir({"XDG_CACHE_HOME": "relative"}) == Path.home() / ".cache" / "jmqa"  # as the spec says


def test_settings_resolve_from_the_current_folder_and_the_environment(tmp_path, monkeypatch):
    cwd, _ = _dirs(tmp_path, corpus=False)
    monkeypatch.chdir(cwd)
    s = Settings()
    assert (s.corpus_dir, s.index_dir, s.cache_dir) == (DEFAULT_CORPUS, tmp_path / "xdg" / "jmqa" / "index" / "default",
                                                        tmp_path / "xdg" / "jmqa")
    (cwd / "corpus").mkdir()
    s = Settings()
    assert (s.corpus_dir, s.index_dir) == (cwd / "corpus", cwd / "index")
    monkeypatch.setenv("JMQA_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("JMQA_CORPUS_DIR", str(tmp_path / "docs"))
    s = Settings()
    assert s.corpus_dir == tmp_path / "docs" and s.index_dir.parent == tmp_path / "c" / "index"
    monkeypatch.setenv("JMQA_INDEX_DIR", str(tmp_path / "i"))
    assert Settings().index_dir == tmp_path / "i"
    assert Settings(index_dir=tmp_path / "j").index_dir == tmp_path / "j"  # a flag beats the environment


def test_for_corpus_gives_another_corpus_its_own_index(tmp_path, monkeypatch):
    cwd, _ = _dirs(tmp_path, corpus=True)
    monkeypatch.chdir(cwd)
    s = Settings().for_corpus(tmp_path / "docs")
    assert s.corpus_dir == tmp_path / "docs" and s.index_dir.parent == s.cache_dir / "index"
    assert Settings().for_corpus("corpus").index_dir == cwd / "index"
    assert Settings().for_corpus("x", "y").index_dir == Path("y")


def test_cli_corpus_flag_without_index_does_not_use_the_current_folders_index(tmp_path, monkeypatch):
    from jmqa.cli import _settings, build_parser

    cwd, _ = _dirs(tmp_path, corpus=True)
    monkeypatch.chdir(cwd)
    s = _settings(build_parser().parse_args(["ask", "--corpus", str(tmp_path / "docs"), "q"]))
    assert s.corpus_dir == tmp_path / "docs" and s.index_dir != cwd / "index"
    s = _settings(build_parser().parse_args(["ask", "q"]))
    assert (s.corpus_dir, s.index_dir) == (cwd / "corpus", cwd / "index")


def test_calibrate_without_a_dev_set_here_says_what_to_pass(tmp_path, monkeypatch, capsys):
    from jmqa.cli import EXIT_BAD_INPUT, main

    monkeypatch.chdir(tmp_path)
    assert main(["calibrate", "--evidence-only"]) == EXIT_BAD_INPUT
    assert "pass your dev questions" in capsys.readouterr().err


def test_bundled_corpus_is_the_repositorys_corpus():
    """src/jmqa/default_corpus/ ships in the package; corpus/ stays in the repository. Keep them identical:
    cp corpus/* src/jmqa/default_corpus/"""
    def files(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    assert files(DEFAULT_CORPUS) == files(SOURCE_CORPUS)
    _, mismatch, errors = filecmp.cmpfiles(DEFAULT_CORPUS, SOURCE_CORPUS, files(SOURCE_CORPUS), shallow=False)
    assert not mismatch and not errors, f"differ: {mismatch + errors}"
