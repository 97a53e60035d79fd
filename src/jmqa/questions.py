"""Question sets -> QAItems (JSONL, CSV, or a SQuAD-style folder), and benchmark passages -> an indexed Assistant."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import BadInputError
from .metrics import guess_language
from .types import Document, Turn

log = logging.getLogger(__name__)

QUESTIONS_FILE = "questions.jsonl"
PASSAGES_FILE = "passages.jsonl"


@dataclass(frozen=True)
class QAItem:
    """One gold question. `answers` are acceptable short answers (empty when unanswerable); `support`
    the gold source sentence(s); `support_ids` the gold passage id(s) (SQuAD's `passage_id`).

    Answer forms beyond `answers` (see metrics.form_passes): `items`, required list items (each a tuple
    of aliases); `yesno`, "yes" or "no"; `points` with `min_points`, an open question's points (alias
    tuples) of which at least `min_points` must be made. `language` ("en"/"zh") is the language the
    answer must be in, `forbidden` strings that must not appear in it. A turn of a conversation has
    `conversation` (the conversation's id) and `turn` (1, 2, ...); its history is filled in at run time."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    answerable: bool = True
    history: tuple[Turn, ...] = ()
    support: tuple[str, ...] = ()
    support_ids: tuple[str, ...] = ()
    category: str = ""
    items: tuple[tuple[str, ...], ...] = ()
    yesno: str = ""
    points: tuple[tuple[str, ...], ...] = ()
    min_points: int = 0
    language: str = ""
    forbidden: tuple[str, ...] = ()
    conversation: str = ""
    turn: int = 0
    page: int | None = None  # where the support is in its original file: a cited quote must be there too
    section: str = ""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> QAItem:
        """Validate one input row (not a conversation); BadInputError says what is wrong with it."""
        if not isinstance(row, dict):
            raise BadInputError("a row must be a JSON object")
        ident, question = row.get("id"), row.get("question")
        if ident is None or str(ident).strip() == "":
            raise BadInputError("no id")
        if not isinstance(question, str) or not question.strip():
            raise BadInputError("no question")
        answers = _strings(row.get("answers"), "answers")
        items = _alias_lists(row.get("items"), "items")
        points = _alias_lists(row.get("points"), "points")
        yesno = str(row.get("yesno") or "").strip().lower()
        if yesno not in ("", "yes", "no"):
            raise BadInputError(f"yesno must be \"yes\" or \"no\", not {row.get('yesno')!r}")
        answerable = _bool(row.get("answerable", bool(answers or items or yesno or points)))
        history = []
        for turn in _list(row.get("history"), "history"):
            if isinstance(turn, dict) and isinstance(turn.get("question"), str):
                history.append(Turn(turn["question"], str(turn.get("answer") or "")))
            elif isinstance(turn, (list, tuple)) and len(turn) == 2:
                history.append(Turn(str(turn[0]), str(turn[1] or "")))
            else:
                raise BadInputError("history must be a list of {question, answer} objects")
        support_ids = _strings(row.get("support_ids", row.get("passage_id")), "support_ids")
        language = str(row.get("language") or "").strip().lower() or guess_language(question)
        if language not in LANGUAGES:
            raise BadInputError(f"language must be one of {', '.join(LANGUAGES)}, not {row.get('language')!r}")
        return cls(id=str(ident), question=question, answers=answers, answerable=answerable,
                   history=tuple(history), support=_strings(row.get("support"), "support"),
                   support_ids=support_ids, category=str(row.get("category") or ""), items=items, yesno=yesno,
                   points=points, min_points=_min_points(row.get("min_points"), points), language=language,
                   forbidden=_strings(row.get("forbidden"), "forbidden"), page=_page(row.get("page")),
                   section=str(row.get("section") or "").strip())


def _page(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadInputError(f"page must be a page number from 1, not {value!r}")
    return value


LANGUAGES = ("en", "zh")
CONVERSATION = "conversation"


def items_from_row(row: Any) -> list[QAItem]:
    """The QAItems of one input row: the row itself, or for a conversation ({id, turns: [...]}) one item
    per turn, id "<id>#<n>" (n from 1), category "conversation", with `conversation` and `turn` set and an
    empty history (the run fills it with the assistant's own earlier answers). A turn takes the
    conversation's `language` and `forbidden` unless it gives its own."""
    if not isinstance(row, dict) or "turns" not in row:
        return [QAItem.from_row(row)]
    ident = row.get("id")
    if ident is None or str(ident).strip() == "":
        raise BadInputError("no id")
    turns = _list(row.get("turns"), "turns")
    if not turns:
        raise BadInputError("turns is empty")
    inherited = {k: row[k] for k in ("language", "forbidden") if k in row}
    category = str(row.get("category") or CONVERSATION)
    out = []
    for n, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict):
            raise BadInputError(f"turn {n} must be a JSON object")
        if turn.get("history"):
            raise BadInputError(f"turn {n} has a history; a turn's history is its conversation's earlier turns")
        try:
            item = QAItem.from_row({**inherited, **turn, "id": f"{ident}#{n}", "category": category})
        except BadInputError as exc:
            raise BadInputError(f"turn {n}: {exc}") from exc
        out.append(replace(item, conversation=str(ident), turn=n))
    return out


def _alias_lists(value: Any, name: str) -> tuple[tuple[str, ...], ...]:
    """[["a", "b"], "c"] -> (("a", "b"), ("c",)): each entry a list of aliases (or one alias)."""
    lists = []
    for entry in _list(value, name):
        aliases = _strings(entry, name)
        if not any(a.strip() for a in aliases):
            raise BadInputError(f"{name} holds an entry without an alias")
        lists.append(aliases)
    return tuple(lists)


def _min_points(value: Any, points: tuple[tuple[str, ...], ...]) -> int:
    if value is None or value == "":
        return len(points)
    if not points:
        raise BadInputError("min_points without points")
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = -1
    if isinstance(value, bool) or str(n) != str(value).strip() or not 1 <= n <= len(points):
        raise BadInputError(f"min_points must be a whole number from 1 to {len(points)}, not {value!r}")
    return n


def _list(value: Any, name: str) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str) and value.strip()[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise BadInputError(f"{name} is not valid JSON ({exc})") from exc
    if isinstance(value, (str, int, float)):
        return [value]
    if not isinstance(value, list):
        raise BadInputError(f"{name} must be a list")
    return value


def _strings(value: Any, name: str) -> tuple[str, ...]:
    items = _list(value, name)
    if not all(isinstance(v, (str, int, float)) for v in items):
        raise BadInputError(f"{name} must be text or a list of texts")
    return tuple(str(v) for v in items)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise BadInputError(f"answerable must be true or false, not {value!r}")


# ---------------------------------------------------------------- reading question files


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except ValueError as exc:
                yield line_no, BadInputError(f"not valid JSON ({exc})")


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            yield reader.line_num, dict(row)


def load_items(path: Path) -> tuple[list[QAItem], list[str], Path | None]:
    """The valid items of a question file, the problems of the rows skipped ("line N: why"), and the
    passages file that goes with it (a SQuAD-style folder's passages.jsonl), if any."""
    path = Path(path)
    passages = None
    if path.is_dir():
        if not (path / QUESTIONS_FILE).is_file():
            raise BadInputError(f"{path} is a folder without {QUESTIONS_FILE}; give a .jsonl or .csv question file")
        passages = path / PASSAGES_FILE if (path / PASSAGES_FILE).is_file() else None
        path = path / QUESTIONS_FILE
    if not path.is_file():
        raise BadInputError(f"question file {path} does not exist")
    rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _jsonl_rows(path)
    items: list[QAItem] = []
    problems: list[str] = []
    seen: set[str] = set()
    try:
        for line_no, row in rows:
            try:
                if isinstance(row, Exception):
                    raise row
                row_items = items_from_row(row)
                for item in row_items:
                    if item.id in seen:
                        raise BadInputError(f"id {item.id!r} is used by an earlier row")
            except BadInputError as exc:
                problems.append(f"{path.name} line {line_no}: {exc}")
                continue
            seen.update(item.id for item in row_items)
            items.extend(row_items)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BadInputError(f"cannot read {path}: {exc}") from exc
    if not items:
        raise BadInputError(f"{path} holds no usable question" + (f" ({problems[0]})" if problems else ""))
    return items, problems, passages


def select_items(items: Sequence[QAItem], *, limit: int | None = None, sample: int | None = None,
                 seed: int = 0) -> list[QAItem]:
    """A fixed random sample of `sample` items (by `seed`, kept in file order), then the first `limit`."""
    chosen = list(items)
    if sample is not None and sample < len(chosen):
        picked = sorted(random.Random(seed).sample(range(len(chosen)), sample))
        chosen = [chosen[i] for i in picked]
    if limit is not None:
        chosen = chosen[:limit]
    return chosen


def without_sample(items: Sequence[QAItem], *, sample: int, seed: int = 0) -> list[QAItem]:
    """The items left when `select_items(sample=..., seed=...)` is held out, and with it every item on the
    same passages (support_ids): what a calibration can be fitted on without seeing an evaluation sample."""
    held_out = select_items(items, sample=sample, seed=seed)
    ids = {it.id for it in held_out}
    passages = {p for it in held_out for p in it.support_ids}
    return [it for it in items if it.id not in ids and not passages.intersection(it.support_ids)]


# ---------------------------------------------------------------- benchmark passages


def load_passages(path: Path) -> list[Document]:
    """Passages {id, title, text} as Documents; `Document.path` is the passage id, so hits map back."""
    docs = []
    seen: set[str] = set()
    for line_no, row in _jsonl_rows(Path(path)):
        if isinstance(row, Exception) or not isinstance(row, dict) or not str(row.get("text") or "").strip() \
                or row.get("id") is None:
            log.warning("%s line %d: not a passage {id, title, text}; skipped", path, line_no)
            continue
        pid = str(row["id"])
        if pid in seen:
            log.warning("%s line %d: passage id %s repeats; skipped", path, line_no, pid)
            continue
        seen.add(pid)
        text = str(row["text"])
        doc_id = hashlib.sha256(f"{pid}\n{text}".encode()).hexdigest()[:16]
        title = str(row.get("title") or pid).replace("_", " ")
        docs.append(Document(doc_id=doc_id, title=title, text=text, path=pid))
    if not docs:
        raise BadInputError(f"{path} holds no passage; each line must be {{\"id\", \"title\", \"text\"}}")
    return docs


def passages_index_dir(path: Path, cache_dir: Path) -> Path:
    """Where the index of a passages file is kept: one folder per content hash."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return Path(cache_dir) / "eval-index" / h.hexdigest()[:16]


def assistant_for(passages: Path | None, *, settings: Any, embedder: Any = None, show_progress: bool = False) -> Any:
    """An Assistant over benchmark passages when given, else over the corpus of `settings`."""
    if passages:
        return passages_assistant(Path(passages), settings=settings, embedder=embedder, show_progress=show_progress)
    from .assistant import Assistant

    return Assistant.load(settings=settings, embedder=embedder, show_progress=show_progress)


def passages_assistant(path: Path, *, settings: Any, embedder: Any = None, show_progress: bool = False) -> Any:
    """An Assistant over a passages file, its index built once into the cache (rebuilt when the
    embedding model or chunking settings change)."""
    from .assistant import Assistant
    from .embedding import SentenceTransformerEmbedder
    from .index import load_or_build

    if not Path(path).is_file():
        raise BadInputError(f"passages file {path} does not exist")
    docs = load_passages(path)
    embedder = embedder or SentenceTransformerEmbedder.from_settings(settings)
    index_dir = passages_index_dir(path, settings.cache_dir)
    index, status = load_or_build(docs, index_dir, embedder, chunk_size=settings.chunk_size,
                                  chunk_overlap=settings.chunk_overlap, show_progress=show_progress)
    log.info("passages index %s: %d passages, %d chunks (%s)", index_dir, len(docs), len(index.chunks), status)
    return Assistant(index, embedder, settings)
