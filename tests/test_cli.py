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


@pytest.mark.slow
def test_calibrate_writes_a_calibration_that_eval_uses_and_a_missing_one_is_a_clear_error(tmp_path):
    rows = (ROOT / "eval" / "jiangmen_qa.jsonl").read_text(encoding="utf-8").splitlines()
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(rows[:12] + rows[-30:]) + "\n", encoding="utf-8")  # answerable and unanswerable rows
    paths = ("--corpus", str(ROOT / "corpus"), "--index", str(tmp_path / "idx"))
    assert run("index", *paths).returncode == 0
    cal = tmp_path / "cal.json"
    r = run("calibrate", str(gold), *paths, "--evidence-only", "--out", str(cal))
    assert r.returncode == 0, r.stderr
    fitted = json.loads(cal.read_text())
    assert fitted["fitted_on"].startswith("42 questions of gold.jsonl") and 0 < fitted["threshold"] < 1
    r = run("eval", str(gold), *paths, "--mode", "extractive", "--calibration", str(cal), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["config"]["calibration"] == str(cal)
    r = run("eval", str(gold), *paths, "--calibration", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o2"))
    assert r.returncode == 2 and "jmqa calibrate" in r.stderr and "Traceback" not in r.stderr
