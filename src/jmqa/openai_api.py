"""The OpenAI chat API over the assistant: `POST /v1/chat/completions` and `GET /v1/models`, so that clients
people already use (Open WebUI, LibreChat, the `openai` library, editors) can ask jmqa.

The conversation arrives whole in `messages` (the history travels with the client, so any replica can
answer any turn). The answer's content is its text with the numbered sources written under a rule, and
the same citations come structured in the extra `jmqa` field. Bad requests get the API's error shape,
never a traceback. Request parsing and response shaping are pure functions; `routes` is the thin FastAPI
glue that `ui.serve` mounts beside the web chat.
"""

import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import BadInputError
from .replies import Failure, Fallback, answer_events, fallback_note
from .types import Answer

if TYPE_CHECKING:
    from .assistant import Assistant

MODEL_ID = "jmqa"
SOURCES_RULE = "\n\n---\n"  # separates an answer's text from its numbered sources in `content`
MAX_BODY_BYTES = 1_000_000
DRAIN_BYTES = 16_000_000  # an oversized body up to this is read and dropped before the 413; beyond, refused unread
KEEP_ALIVE_S = 2.0  # a streamed reply sends an SSE comment this often while the answer is being checked


class APIError(Exception):
    """A request the API refuses, with the status and the fields of OpenAI's error object."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class ChatRequest:
    """What jmqa reads from a chat-completions request: the last user message is the question, the
    user/assistant pairs before it are the conversation."""

    question: str
    history: tuple[tuple[str, str], ...] = ()
    stream: bool = False


# --------------------------------------------------------------------------- requests


def parse_body(raw: bytes) -> Any:
    """The request's JSON; APIError 400 when it is not JSON."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise APIError(400, f"the request body is not valid JSON ({exc}); send a JSON object with `messages`") from None


def parse_request(body: Any) -> ChatRequest:
    """A ChatRequest from a decoded body; APIError 400 naming what is wrong and how to send it.

    System and developer messages are read past (jmqa's rules come from its own prompt); model,
    temperature and max_tokens are accepted and ignored: jmqa's answer is decided by its documents."""
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a JSON object with `messages`")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "`messages` must be a non-empty list of {role, content} objects, "
                            'e.g. [{"role": "user", "content": "What are the main industries?"}]', param="messages")
    turns: list[tuple[str, str]] = []
    pending: str | None = None  # the user message waiting for its answer
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise APIError(400, f"messages[{i}] must be an object with a `role` and a `content`", param=f"messages[{i}]")
        role, text = message["role"], _text_of(message.get("content"), i)
        if role == "user":
            pending = text
        elif role == "assistant":
            if pending is not None:
                turns.append((pending, text.split(SOURCES_RULE, 1)[0].strip()))  # its own sources list is not the answer
            pending = None
        elif role not in ("system", "developer", "tool", "function"):
            raise APIError(400, f"messages[{i}] has an unknown role {role!r}; use user, assistant or system",
                           param=f"messages[{i}].role")
    if messages[-1].get("role") != "user" or pending is None:
        raise APIError(400, "the last message must be the user's question", param="messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise APIError(400, "`stream` must be true or false", param="stream")
    return ChatRequest(pending, tuple(turns), stream)


def _text_of(content: Any, i: int) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise APIError(400, f"messages[{i}].content: jmqa reads text only (parts of type \"text\")",
                               param=f"messages[{i}].content")
            parts.append(part["text"])
        return "\n".join(parts)
    raise APIError(400, f"messages[{i}].content must be text", param=f"messages[{i}].content")


def check_key(authorization: str | None, credentials: tuple[str, str] | None) -> None:
    """Nothing when the server has no login or the bearer key is its password (or USER:PASSWORD);
    APIError 401 otherwise."""
    if credentials is None:
        return
    scheme, _, key = (authorization or "").partition(" ")
    user, password = credentials
    if scheme.lower() != "bearer" or not any(hmac.compare_digest(key.strip().encode(), ok.encode())
                                             for ok in (password, f"{user}:{password}")):
        raise APIError(401, "missing or wrong API key: send `Authorization: Bearer <the --auth password>`",
                       type="authentication_error", code="invalid_api_key")


# --------------------------------------------------------------------------- responses


def content_of(answer: Answer, note: str | None = None) -> str:
    """The answer as a client shows it: (a note,) the text, then its numbered sources under a rule."""
    lines = [f"[{i}] {c.title}{f' ({c.place()})' if c.place() else ''}: \u201c{c.quote}\u201d"
             for i, c in enumerate(answer.citations, start=1)]
    text = f"{note}\n\n{answer.text}" if note else answer.text
    return text + (SOURCES_RULE + "\n".join(lines) if lines else "")


def extra_of(answer: Answer, note: str | None = None) -> dict[str, Any]:
    """The structured part (the response's `jmqa` field): citations with their places, and the decision."""
    data: dict[str, Any] = {"answer": answer.text, "abstained": answer.abstained, "confidence": answer.confidence,
                            "mode": answer.mode, "citations": [c.to_dict() for c in answer.citations]}
    if note:
        data["note"] = note
    return data


def completion(answer: Answer, note: str | None, *, completion_id: str, created: int) -> dict[str, Any]:
    """A `chat.completion` object."""
    return {"id": completion_id, "object": "chat.completion", "created": created, "model": MODEL_ID,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content_of(answer, note)},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": None, "jmqa": extra_of(answer, note)}


def chunk(delta: dict[str, Any], *, completion_id: str, created: int, finish: str | None = None,
          extra: dict[str, Any] | None = None) -> str:
    """One server-sent event of a streamed `chat.completion.chunk`."""
    data: dict[str, Any] = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                            "model": MODEL_ID, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if extra is not None:
        data["jmqa"] = extra
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def models() -> dict[str, Any]:
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "jmqa"}]}


# --------------------------------------------------------------------------- answering


def answer_request(assistant: "Assistant", request: ChatRequest) -> Iterator[str | tuple[Answer, str | None]]:
    """Draft pieces (only to show the answer is coming), then (the verified Answer, a fallback note).
    APIError for a question jmqa cannot take (400) or cannot answer now (503)."""
    note = None
    for event in answer_events(assistant, request.question, list(request.history)):
        if isinstance(event, Fallback):
            note = fallback_note(event)
        elif isinstance(event, Failure):
            if event.bad_input:
                raise APIError(400, event.message, param="messages")
            raise APIError(503, event.message, type="server_error", code="unavailable")
        elif isinstance(event, Answer):
            yield event, note
            return
        else:
            yield event


def stream_events(events: Iterator[str | tuple[Answer, str | None]], *, completion_id: str, created: int,
                  clock: Callable[[], float] = time.monotonic) -> Iterator[str]:
    """The SSE stream of one reply: the role at once, keep-alive comments while the draft is written and
    checked (its text is not sent: a sentence the check drops must never reach the client), then the
    verified content, the finish with the `jmqa` field, and [DONE]. A failure mid-way is an error event."""
    yield chunk({"role": "assistant", "content": ""}, completion_id=completion_id, created=created)
    last = clock()
    try:
        for event in events:
            if isinstance(event, tuple):
                answer, note = event
                yield chunk({"content": content_of(answer, note)}, completion_id=completion_id, created=created)
                yield chunk({}, completion_id=completion_id, created=created, finish="stop",
                            extra=extra_of(answer, note))
                break
            if clock() - last >= KEEP_ALIVE_S:
                last = clock()
                yield ": answering\n\n"
    except APIError as exc:
        yield f"data: {json.dumps(exc.body(), ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


# --------------------------------------------------------------------------- the routes


def routes(assistant: "Assistant", credentials: tuple[str, str] | None = None, *, concurrency: int = 2
           ) -> Sequence[Any]:
    """The FastAPI routes of the API, to be placed before the web chat's own (ui.serve does). (This module
    keeps its annotations evaluated: FastAPI reads the endpoints' `Request` annotation at run time.)"""
    from fastapi.responses import JSONResponse, StreamingResponse
    from fastapi.routing import APIRoute
    from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
    from starlette.requests import Request

    slots = threading.BoundedSemaphore(concurrency)  # answers computed at once; more requests wait their turn

    def error(exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    async def read(request: Request) -> ChatRequest:
        check_key(request.headers.get("authorization"), credentials)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > DRAIN_BYTES:
            raise APIError(413, f"the request is {int(declared):,} bytes; the limit is {MAX_BODY_BYTES:,}")
        raw, size = bytearray(), 0
        async for part in request.stream():  # a body a little over the limit is read to its end (and dropped),
            size += len(part)                # so the client is still listening when the 413 comes back
            if size <= MAX_BODY_BYTES:
                raw += part
            elif size > DRAIN_BYTES:
                break
        if size > MAX_BODY_BYTES:
            raise APIError(413, f"the request is over {MAX_BODY_BYTES:,} bytes; shorten the conversation")
        return parse_request(parse_body(bytes(raw)))

    def answered(request: ChatRequest) -> Iterator[str | tuple[Answer, str | None]]:
        with slots:
            yield from answer_request(assistant, request)

    async def chat_completions(request: Request):
        try:
            chat = await read(request)
            from .assistant import validate_question

            validate_question(chat.question, assistant.settings.max_question_chars)  # 400 before a stream starts
        except APIError as exc:
            return error(exc)
        except BadInputError as exc:
            return error(APIError(400, str(exc), param="messages"))
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if chat.stream:
            events = stream_events(answered(chat), completion_id=completion_id, created=created)
            return StreamingResponse(iterate_in_threadpool(events), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        try:
            final = await run_in_threadpool(lambda: [e for e in answered(chat) if isinstance(e, tuple)][-1])
        except APIError as exc:
            return error(exc)
        return JSONResponse(completion(*final, completion_id=completion_id, created=created))

    async def list_models(request: Request):
        try:
            check_key(request.headers.get("authorization"), credentials)
        except APIError as exc:
            return error(exc)
        return JSONResponse(models())

    return [APIRoute("/v1/chat/completions", chat_completions, methods=["POST"], include_in_schema=False),
            APIRoute("/v1/models", list_models, methods=["GET"], include_in_schema=False)]
