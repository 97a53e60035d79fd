"""jmqa installed from its wheel (not the source checkout) works from any folder: the wheel is built
offline, installed into a fresh venv that borrows this venv's dependencies, and asked questions from a
folder without a corpus (the bundled one, indexed into the cache) and from one with its own corpus/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(cmd: list, *, env: dict, cwd: Path, timeout: float = 900) -> str:
    done = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """The venv's bin folder and an environment for it: no PYTHONPATH (nothing of the checkout's src
    is importable), HOME and XDG_CACHE_HOME in a temporary folder."""
    tmp = tmp_path_factory.mktemp("install")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JMQA_", "XDG_", "VIRTUAL_ENV", "PIP_"))}
    env.update(HOME=str(tmp / "home"), XDG_CACHE_HOME=str(tmp / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    (tmp / "home").mkdir()

    # build from a copy, so that the checkout gets no build/ or egg-info
    project = tmp / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", tmp / "wheels", project], env=env, cwd=tmp)
    wheel, = (tmp / "wheels").glob("jmqa-*.whl")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], env=env, cwd=tmp)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env=env, cwd=tmp).strip())
    # this venv's packages after the new venv's own (a plain path: this venv's .pth files, among them an
    # editable jmqa's, are not run)
    ours = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    (site / "zz_dependencies.pth").write_text("".join(f"{p}\n" for p in ours), encoding="utf-8")
    # --ignore-installed: a jmqa of this venv is visible, and must be neither kept nor touched
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", wheel], env=env, cwd=tmp)

    where = _run([python, "-c", "import jmqa, jmqa.config as c; print(jmqa.__file__); print(c.DEFAULT_CORPUS)"],
                 env=env, cwd=tmp).split()
    assert all(Path(p).is_relative_to(site) for p in where), f"jmqa is imported from {where[0]}, not from the venv"
    assert (Path(where[1]) / "jiangmen-development-focus.txt").is_file()
    return venv / "bin", env


def _ask(installed, cwd: Path, question: str) -> dict:
    bin_dir, env = installed
    return json.loads(_run([bin_dir / "jmqa", "ask", "--mode", "extractive", "--json", question], env=env, cwd=cwd))


def test_installed_jmqa_answers_from_the_bundled_corpus_anywhere(installed, tmp_path):
    answer = _ask(installed, tmp_path, "How many overseas Chinese of Jiangmen origin are there?")
    assert not answer["abstained"] and answer["citations"], answer["text"]
    assert {c["title"] for c in answer["citations"]} == {"Jiangmen development focus"}
    assert "4 million" in " ".join(c["quote"] for c in answer["citations"])
    cache = Path(installed[1]["XDG_CACHE_HOME"]) / "jmqa"
    assert (cache / "index" / "default" / "CURRENT").is_file()
    assert list(tmp_path.iterdir()) == []  # nothing written in the current folder


def test_installed_jmqa_uses_the_current_folders_corpus(installed, tmp_path):
    text = "The Zorblat lantern festival is held in Quenton every April. It honours the town's glassblowers.\n"
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "quenton.txt").write_text(text, encoding="utf-8")
    answer = _ask(installed, tmp_path, "When is the Zorblat lantern festival held?")
    assert answer["citations"] and all(c["quote"] in text for c in answer["citations"]), answer
    assert all(h["doc_id"] == answer["citations"][0]["doc_id"] for h in answer["hits"])  # only this corpus
    assert (tmp_path / "index" / "CURRENT").is_file()


def test_installed_jmqa_carries_the_chats_stylesheet(installed, tmp_path):
    bin_dir, env = installed
    css = _run([bin_dir / "python", "-c", "from jmqa.ui import CSS; print(CSS)"], env=env, cwd=tmp_path)
    assert ".jmqa-abstain" in css  # package data (static/chat.css), not the checkout's file
