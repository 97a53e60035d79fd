"""The `jmqa` command as a user runs it: real subprocesses, exit codes and messages."""

import json
import os
import subprocess
import sys

import pytest

from .conftest import ROOT


def run(*args, env_extra=None, timeout=300):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "jmqa.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def test_empty_question_exits_2_with_a_message():
    r = run("ask", "  ")
    assert r.returncode == 2
    assert "empty" in r.stderr and "Traceback" not in r.stderr


def test_missing_corpus_exits_1_naming_the_folder(tmp_path):
    r = run("index", "--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "idx"))
    assert r.returncode == 1
    assert str(tmp_path / "nope") in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_index_then_ask_json(tmp_path):
    idx = str(tmp_path / "idx")
    r = run("index", "--index", idx)
    assert r.returncode == 0, r.stderr
    assert "1 documents" in r.stdout and "chunks" in r.stdout
    r = run("ask", "--index", idx, "--json", "What are Jiangmen's core industries?")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert not data["abstained"] and any("core industries" in c["quote"] for c in data["citations"])
    r = run("ask", "--index", idx, "Who is the mayor of Jiangmen?")
    assert r.returncode == 0 and "don't say" in r.stdout


@pytest.mark.slow
def test_corrupted_index_exits_1_with_the_rebuild_command(tmp_path):
    idx = tmp_path / "idx"
    assert run("index", "--index", str(idx)).returncode == 0
    snapshot = (idx / "CURRENT").read_text().strip()
    (idx / snapshot / "dense.faiss").write_bytes(b"garbage")
    r = run("ask", "--index", str(idx), "What are Jiangmen's core industries?")
    assert r.returncode == 1
    assert "jmqa index --rebuild" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_ask_streams_the_draft_then_the_checked_answer(tmp_path):
    r = run("ask", "--index", str(tmp_path / "idx"), "--stream", "--mode", "generative",
            "What kind of elderly care services is Jiangmen developing?")
    assert r.returncode == 0, r.stderr
    draft, _, final = r.stdout.partition("--- checked against the sources:")
    assert "elderly care" in draft and "high-end elderly care" in final and "Sources:" in final
