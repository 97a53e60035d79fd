"""Batch evaluation on Ray: the same rows and summary as a single-process run, conversations in order with
their own history, resume, a worker dying mid-run, and the message when ray is missing.

One local Ray (2 CPUs) is shared by the module: starting it takes seconds. Extractive mode only, over the
default corpus with the hash embedder, so no model is loaded anywhere."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from jmqa import Assistant
from jmqa.errors import BadInputError
from jmqa.distributed import INSTALL_HINT, DistributedError, Group, make_groups
from jmqa.evaluate import evaluate
from jmqa.questions import QAItem
from jmqa.scoring import EvalRecord

from .conftest import SOURCE_CORPUS, HashEmbedder
from .test_evaluate import Interrupting, conversation, gold_slice


class Built:
    """A picklable factory of the test Assistant, built on each Ray worker. `die_on`: a question whose
    first asking (once across all workers: `marker` is a file) kills the worker's process; with `always`,
    every asking does. `log`: a file each question and its history is appended to."""

    def __init__(self, index_dir: Path, *, die_on: str = "", marker: Path | None = None, always: bool = False,
                 log: Path | None = None):
        self.index_dir, self.die_on, self.marker, self.always, self.log = index_dir, die_on, marker, always, log

    def __call__(self):
        inner = Assistant.load(SOURCE_CORPUS, self.index_dir, embedder=HashEmbedder())
        return Faulty(inner, self) if self.die_on or self.log else inner


class Faulty:
    def __init__(self, inner, spec: Built):
        self.inner, self.spec = inner, spec

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def ask(self, question, history=None, **kw):
        if question == self.spec.die_on and (self.spec.always or not self.spec.marker.exists()):
            if self.spec.marker is not None:
                self.spec.marker.touch()
            os._exit(1)
        if self.spec.log is not None:
            with self.spec.log.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"q": question, "history": [[t.question, t.answer] for t in history or ()]}) + "\n")
        return self.inner.ask(question, history, **kw)


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("ray-index")
    Built(path)()  # built once here; the workers only load it
    return path


def items_with_a_conversation():
    gold = gold_slice(10)
    return gold[:2] + conversation() + gold[2:]


def rows(report):
    return [{k: v for k, v in r.to_dict().items() if k != "timings"} for r in report.records]


def metrics(report):
    return {k: v for k, v in report.metrics.items()}


def result_ids(out: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def test_groups_keep_a_conversations_turns_together_in_order_and_carry_its_done_turns():
    turns = conversation()
    items = [QAItem("a", "q?")] + [turns[2], turns[0]] + [QAItem("b", "q?"), turns[1]]
    done = {"c#1": EvalRecord(id="c#1", question=turns[0].question, category="conversation", answerable=True,
                              mode="extractive", answer="one", conversation="c", turn=1)}
    todo = [it for it in items if it.id not in done]
    groups = make_groups(todo, items, done, mode="extractive")
    assert [[it.id for it in g.items] for g in groups] == [["a"], ["c#2", "c#3"], ["b"]]
    assert groups[1].prior == (done["c#1"],) and {it.id for it in groups[1].context} == {"c#1", "c#2", "c#3"}
    assert groups[0] == Group((items[0],))
    batches = make_groups([QAItem(str(i), "q?") for i in range(70)], [], {}, mode="retrieval")
    assert [len(g.items) for g in batches] == [64, 6]


def test_ray_gives_the_same_rows_and_summary_as_one_process(ray_local, index_dir, tmp_path):
    items, log = items_with_a_conversation(), tmp_path / "asked.jsonl"
    here = evaluate(items, tmp_path / "here", assistant=Built(index_dir)(), mode="extractive")
    there = evaluate(items, tmp_path / "there", assistant=Built(index_dir, log=log), mode="extractive",
                     ray_address="local", workers=2)
    assert rows(there) == rows(here) and metrics(there) == metrics(here)
    assert there.counts == here.counts and there.by_category == here.by_category and there.curve == here.curve
    assert sorted(result_ids(tmp_path / "there")) == sorted(it.id for it in items)
    assert json.loads((tmp_path / "there" / "summary.json").read_text())["metrics"] == \
        json.loads((tmp_path / "here" / "summary.json").read_text())["metrics"]
    # each turn was asked after the earlier ones, with their answers from this run as its history
    asked = {row["q"]: row["history"] for row in map(json.loads, log.read_text(encoding="utf-8").splitlines())}
    answer = {r.id: r.answer for r in there.records}
    q1, q2, q3 = (t.question for t in conversation())
    assert asked[q1] == [] and asked[q2] == [[q1, answer["c#1"]]]
    assert asked[q3] == [[q1, answer["c#1"]], [q2, answer["c#2"]]]


def test_resume_on_ray_after_an_interrupted_run_mid_conversation(ray_local, index_dir, tmp_path):
    items, out, log = items_with_a_conversation(), tmp_path / "out", tmp_path / "asked.jsonl"
    first = Interrupting(Built(index_dir)(), stop_at=4)  # two questions and two turns, then stops
    with pytest.raises(KeyboardInterrupt):
        evaluate(items, out, assistant=first, mode="extractive")
    assert result_ids(out) == [it.id for it in items[:4]]
    report = evaluate(items, out, assistant=Built(index_dir, log=log), mode="extractive", resume=True,
                      ray_address="local", workers=2)
    ids = result_ids(out)
    assert sorted(ids) == sorted(it.id for it in items) and len(ids) == len(set(ids))
    asked = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(asked) == len(items) - 4
    answer = {r.id: r.answer for r in report.records}
    q1, q2, q3 = (t.question for t in conversation())
    assert [a["history"] for a in asked if a["q"] == q3] == [[[q1, answer["c#1"]], [q2, answer["c#2"]]]]
    fresh = evaluate(items, tmp_path / "fresh", assistant=Built(index_dir)(), mode="extractive")
    assert rows(report) == rows(fresh) and metrics(report) == metrics(fresh)


def test_a_worker_dying_mid_run_loses_and_repeats_nothing(ray_local, index_dir, tmp_path):
    items, out = items_with_a_conversation(), tmp_path / "out"
    victim = conversation()[1].question  # dies inside a conversation: the whole conversation is asked again
    factory = Built(index_dir, die_on=victim, marker=tmp_path / "died")
    report = evaluate(items, out, assistant=factory, mode="extractive", ray_address="local", workers=2)
    assert (tmp_path / "died").exists()
    ids = result_ids(out)
    assert sorted(ids) == sorted(it.id for it in items) and len(ids) == len(set(ids))
    fresh = evaluate(items, tmp_path / "fresh", assistant=Built(index_dir)(), mode="extractive")
    assert rows(report) == rows(fresh) and metrics(report) == metrics(fresh)


def test_more_workers_than_cpus_are_capped_instead_of_waiting_forever(ray_local, index_dir, tmp_path):
    report = evaluate(gold_slice(3), None, assistant=Built(index_dir), mode="extractive", ray_address="local",
                      workers=5)
    assert report.counts["questions"] == 3


def test_a_question_that_kills_every_worker_fails_the_run_after_three_tries(ray_local, index_dir, tmp_path):
    items = gold_slice(3)
    factory = Built(index_dir, die_on=items[1].question, always=True)
    with pytest.raises(DistributedError, match=f"died 3 times .*{items[1].id}"):
        evaluate(items, tmp_path / "out", assistant=factory, mode="extractive", ray_address="local", workers=1)
    assert items[1].id not in result_ids(tmp_path / "out")


def test_without_ray_the_flag_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    from jmqa.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "a", "question": "Where is Jiangmen?"}) + "\n", encoding="utf-8")
    code = main(["eval", str(questions), "--out", str(tmp_path / "out"), "--mode", "extractive", "--ray"])
    err = capsys.readouterr().err
    assert code == 1 and INSTALL_HINT in err and "pip install 'jmqa[ray]'" in err
    assert main(["eval", str(questions), "--workers", "2"]) == 2
    assert "give --ray too" in capsys.readouterr().err


def test_the_ray_flag_before_the_file_reads_the_file_as_the_questions(monkeypatch, tmp_path, capsys):
    from jmqa.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "a", "question": "Where is Jiangmen?"}) + "\n", encoding="utf-8")
    code = main(["eval", "--ray", str(questions), "--out", str(tmp_path / "out"), "--mode", "extractive"])
    assert code == 1 and INSTALL_HINT in capsys.readouterr().err  # it got as far as starting Ray
    assert main(["eval", "--ray", str(tmp_path / "missing.jsonl")]) == 2
    assert "give the questions file" in capsys.readouterr().err


def test_a_workers_model_and_embedder_run_on_the_cpus_it_reserves(monkeypatch, tmp_path):
    pytest.importorskip("ray")
    import jmqa.distributed as distributed
    from jmqa.config import Settings

    built = {}

    def capture(groups, factory, keep, **kw):
        built["settings"] = factory.keywords["settings"]

    monkeypatch.setattr(distributed, "run_on_ray", capture)
    settings = Settings(corpus_dir=SOURCE_CORPUS, index_dir=tmp_path / "index", llm_threads=2)
    for cpus in (1, 2):  # by default one worker per core, each on one thread
        kw = {"worker_cpus": cpus} if cpus > 1 else {}
        evaluate(gold_slice(1), None, mode="extractive", settings=settings, embedder=HashEmbedder(),
                 ray_address="local", **kw)
        assert built["settings"].llm_threads == built["settings"].embedding_threads == cpus
    assert settings.llm_threads == 2  # the driver's own settings are left as they were
    with pytest.raises(BadInputError, match="worker_cpus must be at least 1"):
        evaluate(gold_slice(1), None, mode="extractive", settings=settings, ray_address="local", worker_cpus=0)


def _model_settings(index_dir: Path):
    from jmqa.config import Settings

    return Settings(corpus_dir=SOURCE_CORPUS, index_dir=index_dir, llm_threads=2, embedding_threads=2)


def _evaluate_in_a_fresh_process(out: Path, index_dir: Path) -> None:
    evaluate(gold_slice(5), out, mode="generative", settings=_model_settings(index_dir))


def _saved_rows(out: Path) -> list[dict]:
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return sorted(({k: v for k, v in json.loads(line).items() if k != "timings"} for line in lines), key=lambda r: r["id"])


@pytest.mark.slow
def test_with_the_model_one_worker_of_both_cpus_gives_the_single_process_rows(ray_local, tmp_path):
    """Generative: llama.cpp's greedy drafts are the same bit for bit when a fresh model reads the same
    prompts in the same order on as many threads. One Ray worker of both CPUs does, against a single process
    started afresh (this test process may hold a model whose prompt cache has read other tests' prompts): the
    rows and summary are the same (timings aside). Workers of one CPU each are faster on two cores but read
    other questions before each one, so a draft can come out worded otherwise."""
    pytest.importorskip("llama_cpp")
    import multiprocessing

    index_dir = tmp_path / "index"
    here = multiprocessing.get_context("spawn").Process(target=_evaluate_in_a_fresh_process,
                                                        args=(tmp_path / "here", index_dir))
    here.start()
    here.join()
    assert here.exitcode == 0
    there = evaluate(gold_slice(5), tmp_path / "there", mode="generative", settings=_model_settings(index_dir),
                     ray_address="local", worker_cpus=2)
    assert _saved_rows(tmp_path / "there") == _saved_rows(tmp_path / "here")
    summary = [json.loads((tmp_path / side / "summary.json").read_text(encoding="utf-8")) for side in ("here", "there")]
    assert summary[0]["metrics"] == summary[1]["metrics"]
    assert {r.mode for r in there.records} == {"generative"} and any(not r.abstained for r in there.records)
