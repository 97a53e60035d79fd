"""The answer stream every front end shows (the web chat, the terminal chat, the JSON and OpenAI APIs):
draft pieces, a notice when the asked-for mode was unavailable, then exactly one Answer or Failure."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import BadInputError, JmqaError, ModelUnavailableError
from .types import Answer

if TYPE_CHECKING:
    from .assistant import Assistant

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fallback:
    """The requested answer mode was unavailable; the answer that follows comes from `mode`."""

    reason: str
    mode: str = "extractive"


@dataclass(frozen=True)
class Failure:
    """The question could not be answered; `message` says why and what to do (never a traceback)."""

    message: str
    bad_input: bool = False


def answer_events(assistant: "Assistant", question: str, history: Iterable[Any] | None, *, mode: str | None = None,
                  k: int | None = None) -> Iterator[str | Fallback | Failure | Answer]:
    """Draft text pieces, then exactly one `Answer` or `Failure` (last). A mode whose model cannot be
    loaded is reported as a `Fallback` and the question is answered extractively instead."""
    try:
        yield from _ask_stream(assistant, question, history, mode=mode, k=k)
    except ModelUnavailableError as exc:
        if mode == "extractive":
            yield Failure(str(exc))
            return
        log.warning("answer mode %s unavailable (%s); answering extractively", mode, exc)
        yield Fallback(str(exc))
        try:
            yield from _ask_stream(assistant, question, history, mode="extractive", k=k)
        except JmqaError as exc2:
            yield Failure(str(exc2), isinstance(exc2, BadInputError))
    except JmqaError as exc:
        yield Failure(str(exc), isinstance(exc, BadInputError))


def _ask_stream(assistant: "Assistant", question: str, history: Iterable[Any] | None, *, mode: str | None,
                k: int | None) -> Iterator[str | Answer]:
    for item in assistant.ask_stream(question, history, k=k, mode=mode):
        yield item
        if isinstance(item, Answer):
            return


def fallback_note(fallback: Fallback) -> str:
    return (f"The local language model isn't available ({fallback.reason}). "
            f"This answer quotes the documents directly ({fallback.mode} mode).")
