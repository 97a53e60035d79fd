"""Batch evaluation on Ray: the questions of a `jmqa eval` run answered by a pool of actors, one Assistant each.

Only the answering moves: the driver (evaluate.evaluate) still opens the run folder, writes every record
with its one appender and summarizes, so results.jsonl, --resume and the report are those of a
single-process run. The unit of work is a `Group` — a standalone question, or the remaining turns of one
conversation — because a turn's history is the assistant's own earlier answers in its conversation, so
those turns must run in order on one worker. An actor that dies takes only its in-flight groups with it:
they are asked again on a fresh actor, a bounded number of times, and a record is only written once its
whole group came back, so nothing is lost and nothing is written twice.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import JmqaError
from .evaluate import RETRIEVAL_BATCH, ask_one, passage_map, retrieve_batch, with_history
from .questions import QAItem
from .scoring import EvalRecord

log = logging.getLogger(__name__)

INSTALL_HINT = "batch evaluation on Ray needs the ray package: install it with pip install 'jmqa[ray]'"
MAX_ATTEMPTS = 3  # tries per group before the run fails: a question that kills every worker is not retried forever
IN_FLIGHT = 2  # groups queued per actor: one being answered, one ready, so an actor never waits on the driver


class DistributedError(JmqaError):
    """Ray is missing, or the workers kept dying on the same questions."""


@dataclass(frozen=True)
class Group:
    """One unit of work, answered in order on one actor. `items` are the questions to ask; `context` the
    items their histories are built from (their conversations' turns, done ones included) and `prior` the
    records of the turns already done (on resume), so a turn's history is what a single-process run gives."""

    items: tuple[QAItem, ...]
    context: tuple[QAItem, ...] = ()
    prior: tuple[EvalRecord, ...] = ()


def make_groups(todo: Sequence[QAItem], items: Sequence[QAItem], done: Mapping[str, EvalRecord], *,
                mode: str) -> list[Group]:
    """The work of a run, in input order: a group per standalone question and per conversation (its turns
    still to do, in turn order). In retrieval mode, batches of RETRIEVAL_BATCH questions (embedded at once):
    a retrieval record has no answer, so a turn's history there never depends on another worker's result."""
    turns_of: dict[str, list[QAItem]] = collections.defaultdict(list)
    for it in items:
        if it.conversation:
            turns_of[it.conversation].append(it)

    def group(chunk: Sequence[QAItem]) -> Group:
        convs = dict.fromkeys(it.conversation for it in chunk if it.conversation)
        context = tuple(t for c in convs for t in turns_of[c])
        prior = tuple(done[t.id] for t in context if t.id in done)
        return Group(tuple(chunk), context, prior)

    if mode == "retrieval":
        return [group(todo[i:i + RETRIEVAL_BATCH]) for i in range(0, len(todo), RETRIEVAL_BATCH)]
    groups, seen = [], set()
    for it in todo:
        if not it.conversation:
            groups.append(group([it]))
        elif it.conversation not in seen:
            seen.add(it.conversation)
            groups.append(group(sorted((t for t in todo if t.conversation == it.conversation), key=lambda t: t.turn)))
    return groups


def answer_group(assistant: Any, group: Group, *, mode: str, k: int, depth: int,
                 passage_of: Mapping[str, str]) -> list[EvalRecord]:
    """What a worker does with a group: each question asked in order, each turn's history from the records
    of its conversation's earlier turns (done before, or just now on this worker)."""
    records = {r.id: r for r in group.prior}
    if mode == "retrieval":
        batch = [with_history(it, group.context, records) for it in group.items]
        return retrieve_batch(assistant, batch, depth=depth, passage_of=passage_of)
    out = []
    for it in group.items:
        rec = ask_one(assistant, with_history(it, group.context, records), mode=mode, k=k, passage_of=passage_of)
        records[rec.id] = rec
        out.append(rec)
    return out


class Answerer:
    """The actor's class: builds one Assistant (with `factory`, as the driver did) and answers groups."""

    def __init__(self, factory: Callable[[], Any]):
        self.assistant = factory()
        if hasattr(self.assistant.embedder, "warm_up"):
            self.assistant.embedder.warm_up()
        self.passage_of = passage_map(self.assistant)

    def answer(self, group: Group, mode: str, k: int, depth: int) -> list[EvalRecord]:
        return answer_group(self.assistant, group, mode=mode, k=k, depth=depth, passage_of=self.passage_of)


def import_ray() -> Any:
    """The ray module, or DistributedError saying how to install it (ray is an optional extra)."""
    try:
        import ray
    except ImportError as exc:
        raise DistributedError(INSTALL_HINT) from exc
    return ray


def run_on_ray(groups: Sequence[Group], factory: Callable[[], Any], keep: Callable[[EvalRecord], None], *,
               mode: str, k: int, depth: int, address: str = "local", workers: int | None = None,
               worker_cpus: int = 1, max_attempts: int = MAX_ATTEMPTS) -> None:
    """Answer `groups` on `workers` actors of `worker_cpus` CPUs each (default and most: as many as the
    cluster's CPUs hold), calling `keep` on each record
    of a group as it comes back (on the driver, so one process writes results.jsonl). `address`: "local"
    starts a Ray of its own unless this process is already connected; anything else is ray.init's address
    ("auto", "ray://head:10001", ...). A Ray started here is shut down at the end."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        try:
            if address == "local":
                ray.init(include_dashboard=False)
            else:
                ray.init(address=address)
        except (ConnectionError, ValueError, RuntimeError) as exc:  # what ray.init raises for a bad address
            raise DistributedError(f"cannot start or join Ray at {address!r}: {exc}") from exc
        started = True
    try:
        room = max(1, int(ray.cluster_resources().get("CPU", 1)) // worker_cpus)
        n = min(workers or room, room)
        if workers and workers > room:  # an actor takes its CPUs: one more would wait for them, its groups with it
            log.warning("%d Ray workers asked for, but the cluster has room for %d: using %d", workers, room, room)
        _drive(ray, groups, factory, keep, mode=mode, k=k, depth=depth, workers=n, worker_cpus=worker_cpus,
               max_attempts=max_attempts)
    finally:
        if started:
            ray.shutdown()


def _drive(ray: Any, groups: Sequence[Group], factory: Callable[[], Any], keep: Callable[[EvalRecord], None], *,
           mode: str, k: int, depth: int, workers: int, worker_cpus: int, max_attempts: int) -> None:
    """The driver's loop: keep IN_FLIGHT groups per actor, collect whichever finishes first; when an actor
    dies, replace it and queue all its groups again (front of the queue). An actor answers in the order it
    was given, so only its oldest group was being answered: that one alone is charged a try."""
    from ray.exceptions import RayActorError

    # SPREAD: on a cluster the actors go to different machines first (an LLM-bound worker wants one to itself)
    remote = ray.remote(num_cpus=worker_cpus, max_restarts=0, max_task_retries=0, scheduling_strategy="SPREAD")(Answerer)
    actors = [remote.remote(factory) for _ in range(workers)]
    queue = collections.deque(range(len(groups)))
    attempts: collections.Counter[int] = collections.Counter()
    pending: dict[Any, tuple[int, int]] = {}  # ObjectRef -> (slot, group), in the order given
    written: set[str] = set()
    try:
        log.info("evaluating %d groups of questions on %d Ray workers", len(groups), workers)
        while queue or pending:
            load = collections.Counter(slot for slot, _ in pending.values())
            for slot in range(workers):
                while queue and load[slot] < IN_FLIGHT:
                    g = queue.popleft()
                    pending[actors[slot].answer.remote(groups[g], mode, k, depth)] = (slot, g)
                    load[slot] += 1
            [ref], _ = ray.wait(list(pending), num_returns=1)
            slot, _ = pending[ref]
            try:
                records = ray.get(ref)
            except RayActorError as exc:
                lost = _collect_or_lose(ray, pending, slot, lambda recs: _write(recs, written, keep))
                culprit = lost[0]
                attempts[culprit] += 1
                first = groups[culprit].items[0].id
                if attempts[culprit] >= max_attempts:
                    raise DistributedError(f"a Ray worker died {attempts[culprit]} times answering the group of "
                                           f"question {first!r}; giving up ({exc})") from exc
                log.warning("a Ray worker died answering question %r (try %d of %d); asking its %d groups again",
                            first, attempts[culprit], max_attempts, len(lost))
                queue.extendleft(reversed(lost))
                ray.kill(actors[slot], no_restart=True)
                actors[slot] = remote.remote(factory)
                continue
            del pending[ref]
            _write(records, written, keep)
    finally:  # actors hold their CPUs until killed (a Ray this run did not start stays up)
        for actor in actors:
            ray.kill(actor, no_restart=True)


def _collect_or_lose(ray: Any, pending: dict[Any, tuple[int, int]], slot: int,
                     write: Callable[[list[EvalRecord]], None]) -> list[int]:
    """After the actor in `slot` died: its groups leave `pending`; those it had finished before dying are
    written, the rest are returned in the order given (so the first is the one it died on)."""
    from ray.exceptions import RayActorError

    lost = []
    for ref, (s, g) in list(pending.items()):
        if s != slot:
            continue
        del pending[ref]
        if ray.wait([ref], timeout=0)[0]:
            try:
                write(ray.get(ref))
                continue
            except RayActorError:
                pass
        lost.append(g)
    return lost


def _write(records: Sequence[EvalRecord], written: set[str], keep: Callable[[EvalRecord], None]) -> None:
    """Hand each record to `keep` once: a group is only returned once, but the file must never repeat an id."""
    for rec in records:
        if rec.id not in written:
            written.add(rec.id)
            keep(rec)
