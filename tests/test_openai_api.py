"""The OpenAI chat API: request parsing and response shapes as pure functions, then the official `openai`
client against a running jmqa (plain, streamed, a follow-up, bad requests, a wrong key)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from jmqa.config import Settings
from jmqa.openai_api import (
    SOURCES_RULE,
    APIError,
    ChatRequest,
    check_key,
    completion,
    content_of,
    parse_body,
    parse_request,
    stream_events,
)
from jmqa.types import Answer, Citation

from .conftest import ROOT

CITED = Answer("Lyon lies where two rivers meet [1].", (Citation("d1", "Lyon", 26, 66, "It lies where the Rhône meets the Saône.",
                                                                 page=2, section="Rivers"),), confidence=0.9)


# ---------------------------------------------------------------- requests and responses, pure


def test_the_last_user_message_is_the_question_and_earlier_pairs_the_conversation():
    body = {"model": "anything", "temperature": 0.3, "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Where is Lyon?"},
        {"role": "assistant", "content": "In France [1]." + SOURCES_RULE + "[1] Lyon: “Lyon is a city in France.”"},
        {"role": "user", "content": [{"type": "text", "text": "Which rivers"}, {"type": "text", "text": "meet there?"}]},
    ]}
    assert parse_request(body) == ChatRequest("Which rivers\nmeet there?", (("Where is Lyon?", "In France [1]."),))
    assert parse_request({**body, "stream": True}).stream


@pytest.mark.parametrize("body, param", [
    ([], None),
    ({}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": "hi"}, "messages"),
    ({"messages": [{"content": "hi"}]}, "messages[0]"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}, "messages"),
    ({"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, "stream"),
])
def test_a_malformed_request_is_a_400_naming_the_field(body, param):
    with pytest.raises(APIError) as err:
        parse_request(body)
    assert err.value.status == 400 and err.value.param == param
    assert err.value.body()["error"]["type"] == "invalid_request_error"


def test_a_body_that_is_not_json_is_a_400():
    with pytest.raises(APIError) as err:
        parse_body(b"{not json")
    assert err.value.status == 400 and "JSON" in err.value.message


def test_the_key_is_the_auth_password():
    check_key(None, None)  # no login: open
    check_key("Bearer s3cret", ("ann", "s3cret"))
    check_key("Bearer ann:s3cret", ("ann", "s3cret"))
    for header in (None, "Bearer wrong", "s3cret", "Basic s3cret"):
        with pytest.raises(APIError) as err:
            check_key(header, ("ann", "s3cret"))
        assert err.value.status == 401 and err.value.code == "invalid_api_key"


def test_the_content_carries_the_numbered_sources_and_the_extra_field_the_structured_ones():
    body = completion(CITED, None, completion_id="chatcmpl-1", created=1)
    content = body["choices"][0]["message"]["content"]
    assert content.startswith("Lyon lies where two rivers meet [1].")
    assert content.split(SOURCES_RULE)[1] == "[1] Lyon (page 2, Rivers): “It lies where the Rhône meets the Saône.”"
    assert body["jmqa"]["citations"][0]["page"] == 2 and body["jmqa"]["abstained"] is False
    abstained = completion(Answer("The documents don't say.", abstained=True), None, completion_id="c", created=1)
    assert abstained["choices"][0]["message"]["content"] == "The documents don't say." and abstained["jmqa"]["abstained"]
    assert content_of(CITED, "No model here.").startswith("No model here.\n\n")


def test_a_stream_sends_the_role_keeps_alive_then_only_the_verified_answer():
    ticks = iter(range(0, 100, 3))  # every event is 3 s later: each draft piece earns a keep-alive comment
    events = iter(["A draft sentence that ", "the check will drop. ", (CITED, None)])
    out = list(stream_events(events, completion_id="c", created=1, clock=lambda: next(ticks)))
    data = [json.loads(e[6:]) for e in out if e.startswith("data: {")]
    assert data[0]["choices"][0]["delta"]["role"] == "assistant"
    assert ": answering\n\n" in out
    assert "".join(d["choices"][0]["delta"].get("content", "") for d in data) == content_of(CITED)
    assert "draft" not in "".join(out)
    assert data[-1]["choices"][0]["finish_reason"] == "stop" and data[-1]["jmqa"]["citations"]
    assert out[-1] == "data: [DONE]\n\n"


def test_a_failure_mid_stream_is_an_error_event():
    def events():
        yield "piece"
        raise APIError(503, "the model is busy", type="server_error")

    out = list(stream_events(events(), completion_id="c", created=1))
    assert json.loads(out[1][6:])["error"]["message"] == "the model is busy" and out[-1] == "data: [DONE]\n\n"


# ---------------------------------------------------------------- the official client against a running jmqa


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(real_embedder, tmp_path_factory):
    """jmqa serving the default corpus extractively (no LLM: fast), behind a login."""
    from jmqa import Assistant
    from jmqa.ui import serve

    assistant = Assistant.load(ROOT / "corpus", tmp_path_factory.mktemp("index"), embedder=real_embedder,
                               settings=Settings(answer_mode="extractive"))
    port = _free_port()
    demo = serve(assistant, host="127.0.0.1", port=port, auth="ann:s3cret", block=False)
    yield f"http://127.0.0.1:{port}/v1"
    demo.close()


@pytest.fixture
def client(server):
    openai = pytest.importorskip("openai", reason="the dev extra installs the openai client")
    return openai.OpenAI(base_url=server, api_key="s3cret", max_retries=0, timeout=120)


def test_the_openai_client_lists_the_model_and_gets_a_cited_answer(client):
    assert [m.id for m in client.models.list()] == ["jmqa"]
    reply = client.chat.completions.create(model="jmqa", messages=[
        {"role": "user", "content": "What are Jiangmen's core industries?"}])
    content = reply.choices[0].message.content
    extra = reply.model_extra["jmqa"]
    assert "[1]" in content and SOURCES_RULE in content and not extra["abstained"]
    assert any("core industries" in c["quote"] for c in extra["citations"])


def test_the_openai_client_streams_the_answer(client):
    stream = client.chat.completions.create(model="jmqa", stream=True, messages=[
        {"role": "user", "content": "What are Jiangmen's core industries?"}])
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "[1]" in content and chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["jmqa"]["citations"]


def test_a_followup_is_read_in_its_own_conversation(client):
    first = client.chat.completions.create(model="jmqa", messages=[
        {"role": "user", "content": "What is Jiangmen's plan for logistics?"}])
    follow = client.chat.completions.create(model="jmqa", messages=[
        {"role": "user", "content": "What is Jiangmen's plan for logistics?"},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "Which logistics centre does it name?"}])
    quotes = " ".join(c["quote"] for c in follow.model_extra["jmqa"]["citations"])
    assert "Heshan Logistics Hub Centre" in quotes


def test_an_unanswerable_question_is_an_ordinary_answer_saying_so(client):
    reply = client.chat.completions.create(model="jmqa", messages=[{"role": "user", "content": "Who is the mayor of Jiangmen?"}])
    assert reply.model_extra["jmqa"]["abstained"] and reply.choices[0].message.content


def test_bad_requests_are_api_errors(client, server):
    import openai

    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="jmqa", messages=[])
    assert "messages" in str(err.value)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="jmqa", messages=[{"role": "user", "content": "   "}])
    with pytest.raises(openai.BadRequestError) as err:  # a huge message: refused, not read for minutes
        client.chat.completions.create(model="jmqa", messages=[{"role": "user", "content": "why " * 20_000}])
    assert "limit" in str(err.value)
    with pytest.raises(openai.AuthenticationError):
        type(client)(base_url=server, api_key="wrong", max_retries=0).models.list()


def test_an_oversized_or_broken_body_gets_the_error_shape(server):
    def post(data: bytes, key: str = "s3cret") -> tuple[int, dict]:
        request = urllib.request.Request(f"{server}/chat/completions", data=data, method="POST", headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, body = post(b"x" * 2_000_000)
    assert status == 413 and body["error"]["message"]
    status, body = post(b"{broken")
    assert status == 400 and "JSON" in body["error"]["message"]
    status, body = post(b'{"messages": [{"role": "user", "content": "hi"}]}', key="nope")
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
