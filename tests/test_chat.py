"""`jmqa chat` and `jmqa serve` / `python app.py` as a user runs them: real subprocesses, stdin fed in."""

import subprocess
import sys

import pytest

from .conftest import ROOT


def run(args, stdin="", timeout=600):
    return subprocess.run(args, input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=timeout)


@pytest.mark.slow
def test_terminal_chat_answers_followups_in_context_and_keeps_going_after_bad_input(tmp_path):
    lines = [
        "What are Jiangmen's core industries?",
        "And which ones make up its equipment manufacturing?",
        "x" * 2500,  # too long: a message on stderr, and the chat goes on
        "",
        "exit",
        "What is Jiangmen known as?",  # after exit: never asked
    ]
    r = run([sys.executable, "-m", "jmqa.cli", "chat", "--index", str(tmp_path / "idx"), "--mode", "extractive"],
            "\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    assert "you> What are Jiangmen's core industries?" in r.stdout
    assert r.stdout.count("Sources:") == 2
    followup = r.stdout.split("you> And which ones make up its equipment manufacturing?")[1]
    assert "shipbuilding" in followup
    assert "2,500 characters" in r.stderr and "Traceback" not in r.stderr
    assert "known as" not in r.stdout


@pytest.mark.slow
def test_terminal_chat_ends_quietly_at_end_of_input(tmp_path):
    r = run([sys.executable, "-m", "jmqa.cli", "chat", "--index", str(tmp_path / "idx"), "--mode", "extractive"],
            "Who is the mayor of Jiangmen?")
    assert r.returncode == 0, r.stderr
    assert "The documents don't say" in r.stdout


@pytest.mark.parametrize("flags,message", [(["--auth", "nopassword"], "USER:PASSWORD"),
                                           (["--port", "70000"], "between 1 and 65535")])
def test_app_rejects_bad_serve_flags_before_loading_anything(flags, message):
    r = run([sys.executable, "app.py", *flags], timeout=120)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
