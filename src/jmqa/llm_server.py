"""An LLM behind an OpenAI-compatible HTTP API (llama.cpp server, vLLM, Ollama, ...): the other backend
of `jmqa.llm.LLM`, chosen by `JMQA_LLM_BASE_URL`."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jmqa.errors import BadInputError, ModelUnavailableError
from jmqa.llm import Message, Probe, yes_share

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)


class _ServerStatusError(ModelUnavailableError):
    """The server answered with an HTTP error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class OpenAICompatibleLLM:
    """A chat model behind an OpenAI-compatible HTTP API (llama.cpp server, vLLM, Ollama, ...)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = api_root(base_url)
        self.model = model
        self.name = model
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._transport = transport
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def warm_up(self) -> None:
        """Check now that the server answers, rather than on the first question."""
        url = f"{self.base_url}/models"
        import httpx

        try:
            response = self._http().get(url)
        except httpx.TransportError as e:
            raise self._unreachable(url, e) from e
        self._check_status(url, response)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> str:
        body = self._post(self._payload(messages, max_tokens, temperature, stop))
        return _first_choice(body).get("message", {}).get("content") or ""

    def stream_chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> Iterator[str]:
        """`grammar` goes as llama.cpp's server reads it; a server without grammars ignores the field."""
        import httpx

        url = f"{self.base_url}/chat/completions"
        payload = self._payload(messages, max_tokens, temperature, stop) | {"stream": True}
        if grammar is not None:
            payload["grammar"] = grammar
        try:
            with self._http().stream("POST", url, json=payload) as response:
                if response.status_code >= 400:
                    response.read()
                    self._check_status(url, response)
                for line in response.iter_lines():
                    # Server-sent events: "data: {json}" lines, ending with "data: [DONE]".
                    if not line.startswith("data:"):
                        continue
                    data = line[len("data:") :].strip()
                    if data == "[DONE]":
                        break
                    try:
                        event = json.loads(data)
                    except ValueError as e:
                        raise ModelUnavailableError(
                            f"the LLM server at {url} sent a malformed event: {data[:200]!r}"
                        ) from e
                    if "error" in event:
                        raise ModelUnavailableError(f"the LLM server at {url} failed mid-answer: {event['error']}")
                    choices = event.get("choices") or []
                    piece = (choices[0].get("delta") or {}).get("content") if choices else None
                    if piece:
                        yield piece
        except httpx.TransportError as e:
            raise self._unreachable(url, e) from e

    def yes_probability(self, messages: list[Message]) -> float:
        """P("Yes") against P("No") from the server's top log-probabilities, or from its answer if it gives none."""
        choice = self._first_token(messages)
        probability = _yes_share_from_logprobs(choice.get("logprobs"))
        if probability is not None:
            return probability
        text = ((choice.get("message") or {}).get("content") or "").strip().lower()
        logger.debug("no yes/no logprobs from %s; answer was %r", self.base_url, text)
        if text.startswith("yes"):
            return 0.9
        if text.startswith("no"):
            return 0.1
        return 0.5

    def probe(self, messages: list[Message], reply: str, text: str) -> Probe:
        """The reply's chance from the server's top log-probabilities of the first token (0 when the reply's
        is not among them), or 1/0 from its plain answer when it gives none; likewise the chance of a "Yes" or
        "No" (None without log-probabilities). A chat server does not return the prompt's log-probabilities, so
        `text_logprob` is None."""
        choice = self._first_token(messages)
        pairs = _top_logprobs(choice.get("logprobs"))
        if not pairs:
            answer = ((choice.get("message") or {}).get("content") or "").strip().lower()
            return Probe(1.0 if answer and reply.lower().startswith(answer) else 0.0, None)
        return Probe(sum(math.exp(lp) for token, lp in pairs
                         if token.strip() and reply.lower().startswith(token.strip().lower())), None,
                     sum(math.exp(lp) for token, lp in pairs if token.strip().lower() in ("yes", "no")))

    def _first_token(self, messages: list[Message]) -> dict[str, Any]:
        """The server's one-token reply with its top log-probabilities (or without, if it refuses them)."""
        payload = self._payload(messages, 1, 0.0, None)
        try:
            body = self._post(payload | {"logprobs": True, "top_logprobs": 20})
        except _ServerStatusError as e:
            # Some servers reject logprobs outright; the plain reply still says something.
            logger.info("%s refused logprobs (%s); reading its answer instead", self.base_url, e.status)
            body = self._post(payload)
        return _first_choice(body)

    def _payload(
        self, messages: list[Message], max_tokens: int, temperature: float, stop: list[str] | None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            payload["stop"] = stop
        return payload

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(timeout=self.timeout, headers=self._headers, transport=self._transport)
            return self._client

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = f"{self.base_url}/chat/completions"
        try:
            response = self._http().post(url, json=payload)
        except httpx.TransportError as e:
            raise self._unreachable(url, e) from e
        self._check_status(url, response)
        try:
            return response.json()
        except ValueError as e:
            raise ModelUnavailableError(
                f"the LLM server at {url} did not answer with JSON: {response.text[:200]!r}"
            ) from e

    def _unreachable(self, url: str, error: Exception) -> ModelUnavailableError:
        import httpx

        if isinstance(error, httpx.TimeoutException):
            return ModelUnavailableError(f"the LLM server at {url} did not answer within {self.timeout} s")
        return ModelUnavailableError(
            f"cannot reach the LLM server at {url}: {error}. Is it running? (JMQA_LLM_BASE_URL)"
        )

    @staticmethod
    def _check_status(url: str, response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise _ServerStatusError(
                f"the LLM server at {url} answered HTTP {response.status_code}: {response.text[:300]}",
                response.status_code,
            )


def api_root(base_url: str) -> str:
    """`http://host:port` -> `http://host:port/v1`; a URL that already has a path is kept as given."""
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadInputError(f"not an http(s) URL: {base_url!r}; expected e.g. http://127.0.0.1:8080/v1")
    return url if parts.path else url + "/v1"


def _first_choice(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("choices") or []
    if not choices:
        raise ModelUnavailableError(f"the LLM server's answer has no choices: {str(body)[:200]}")
    return choices[0]


def _top_logprobs(logprobs: dict[str, Any] | None) -> list[tuple[str, float]]:
    """(token, log-probability) pairs of the first token's top alternatives, as the server lists them."""
    content = (logprobs or {}).get("content") or []
    if not content:
        return []
    top = content[0].get("top_logprobs") or []
    # OpenAI lists {"token", "logprob"} entries; older servers map token -> logprob.
    pairs = list(top.items()) if isinstance(top, dict) else [(t.get("token") or "", t.get("logprob")) for t in top]
    return [(token, float(lp)) for token, lp in pairs if isinstance(lp, (int, float))]


def _yes_share_from_logprobs(logprobs: dict[str, Any] | None) -> float | None:
    """The yes share of the first token's top log-probabilities; None when they hold neither answer."""
    pairs = _top_logprobs(logprobs)
    if not pairs:
        return None
    yes = [lp for token, lp in pairs if token.strip().lower() == "yes"]
    no = [lp for token, lp in pairs if token.strip().lower() == "no"]
    if not yes and not no:
        return None
    # A side missing from the top list is at most as likely as the least likely token listed.
    floor = min(lp for _, lp in pairs)
    return yes_share(yes or [floor], no or [floor])
