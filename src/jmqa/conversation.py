"""Question + history -> a standalone retrieval query: follow-ups borrow the subject of earlier turns."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from .errors import BadInputError
from .evidence import key_terms
from .types import Turn

_FOLLOWUP = re.compile(
    r"^\s*(and|also|what about|how about|but|so|then|why|how come)\b"
    r"|\b(it|its|it's|they|them|their|theirs|this|that|these|those|there|he|she|his|her|ones|the city|the same)\b",
    re.IGNORECASE,
)


def as_turns(history: Iterable[Any] | None) -> list[Turn]:
    """Accept (question, answer) pairs, Turns or {"question", "answer"} dicts."""
    turns: list[Turn] = []
    for item in history or []:
        if isinstance(item, Turn):
            turns.append(item)
        elif isinstance(item, dict) and "question" in item:
            turns.append(Turn(str(item["question"]), str(item.get("answer", ""))))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            turns.append(Turn(str(item[0]), str(item[1] or "")))
        else:
            raise BadInputError(
                f"history items must be (question, answer) pairs or {{'question', 'answer'}} dicts, not {item!r:.80}"
            )
    return turns


def is_followup(question: str, history: Sequence[Turn]) -> bool:
    """A question that leans on earlier turns: it points back (it, that, and …) or names too little."""
    if not history:
        return False
    return bool(_FOLLOWUP.search(question)) or len(key_terms(question)) < 2


def retrieval_query(question: str, history: Sequence[Turn]) -> str:
    """The question, preceded by the last question and the gist of its answer when it is a follow-up."""
    if not is_followup(question, history):
        return question
    last = history[-1]
    gist = re.sub(r"\s*\[\d+\]", "", last.answer)[:300]
    return f"{last.question} {gist} {question}".strip()
