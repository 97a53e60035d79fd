"""The `jmqa` command; the only place that turns JmqaError into messages and exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .config import Settings
from .errors import BadInputError, JmqaError

log = logging.getLogger("jmqa")

EXIT_ERROR = 1
EXIT_BAD_INPUT = 2


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        name: value
        for name, value in (
            ("corpus_dir", getattr(args, "corpus", None)),
            ("index_dir", getattr(args, "index", None)),
            ("top_k", getattr(args, "k", None)),
            ("calibration_file", getattr(args, "calibration", None)),
        )
        if value is not None
    }
    return Settings(**overrides)


def cmd_index(args: argparse.Namespace) -> int:
    from .embedding import SentenceTransformerEmbedder
    from .index import load_or_build, watch
    from .ingest import load_corpus

    settings = _settings(args)
    t0 = time.perf_counter()
    # lazy: the model loads only if a document must be embedded
    embedder = SentenceTransformerEmbedder.from_settings(settings)

    def report(index, status: str) -> None:
        print(
            f"index {settings.index_dir}: {len(index.documents)} documents, {len(index.chunks)} chunks, "
            f"{status}, {time.perf_counter() - t0:.1f} s\n  {index.changes.summary()}", flush=True
        )

    if args.watch:
        if args.interval <= 0:
            raise BadInputError(f"--interval must be a positive number of seconds, not {args.interval:g}")
        if args.rebuild:
            load_or_build(load_corpus(settings.corpus_dir, max_bytes=settings.max_file_bytes), settings.index_dir,
                          embedder, rebuild=True, chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
        print(f"watching {settings.corpus_dir} every {args.interval:g} s; Ctrl-C stops", flush=True)
        try:
            for index, status in watch(settings.corpus_dir, settings.index_dir, embedder, interval=args.interval,
                                       max_bytes=settings.max_file_bytes,
                                       polls=args.polls, chunk_size=settings.chunk_size,
                                       chunk_overlap=settings.chunk_overlap):
                report(index, status)
                t0 = time.perf_counter()
        except KeyboardInterrupt:
            print("stopped watching")
        return 0
    index, status = load_or_build(
        load_corpus(settings.corpus_dir, max_bytes=settings.max_file_bytes), settings.index_dir, embedder,
        chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
        show_progress=settings.show_progress and sys.stderr.isatty(), rebuild=args.rebuild,
    )
    report(index, status)
    return 0


def format_answer(answer) -> str:
    """The answer and its numbered sources, for a terminal."""
    lines = [answer.text]
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
        for i, c in enumerate(answer.citations, start=1):
            where = f", {c.place()}" if c.place() else ""
            lines.append(f"  [{i}] {c.title}{where} (chars {c.start}-{c.end}): “{c.quote}”")
    lines.append(f"(confidence {answer.confidence:.2f})")
    return "\n".join(lines)


def cmd_ask(args: argparse.Namespace) -> int:
    from .assistant import Assistant, validate_question

    question = " ".join(args.question)
    if not question.strip():
        raise BadInputError("the question is empty; usage: jmqa ask \"What do the documents say about ...?\"")
    settings = _settings(args)
    question = validate_question(question, settings.max_question_chars)  # before the models load
    from .types import Answer

    assistant = Assistant.load(settings=settings)
    stream = not args.json and (args.stream if args.stream is not None else sys.stdout.isatty())
    drafted = False
    answer = None
    for item in assistant.ask_stream(question, mode=args.mode):
        if isinstance(item, Answer):
            answer = item
        elif stream:  # the model's draft as it is written; the checked answer follows
            print(item, end="", flush=True)
            drafted = True
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    if drafted:
        print("\n--- checked against the sources:")
    print(format_answer(answer))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate
    from .scoring import check_floors, read_floors

    if args.questions is None:  # `jmqa eval --ray FILE`: --ray took the file as its address
        if not (args.ray and Path(args.ray).exists()):
            raise BadInputError("give the questions file: jmqa eval QUESTIONS [--ray [ADDRESS]]")
        args.questions, args.ray = Path(args.ray), "local"
    floors = read_floors(args.gate) if args.gate else None
    if (args.workers is not None or args.worker_cpus != 1) and not args.ray:
        raise BadInputError("--workers and --worker-cpus size the Ray workers: give --ray too")
    settings = _settings(args)
    report = evaluate(
        args.questions, args.out, mode=args.mode, k=args.k, limit=args.limit, sample=args.sample, seed=args.seed,
        passages=args.passages, resume=args.resume, settings=settings,
        show_progress=settings.show_progress and sys.stderr.isatty(), ray_address=args.ray, workers=args.workers,
        worker_cpus=args.worker_cpus,
    )
    m = report.metrics
    shown = [f"{name} {m[name]:.3f}" for name in ("answer_accuracy", "citation_accuracy", "abstention_accuracy")
             if m.get(name) is not None]
    shown += [f"{name.upper()} {100 * m[name]:.1f}" for name in ("em", "f1") if m.get(name) is not None]
    shown += [f"{name} {v:.3f}" for name, v in m.items() if "recall@" in name and v is not None]
    print(f"{report.counts['questions']} questions ({args.mode}): " + ", ".join(shown))
    if report.skipped:
        print(f"{len(report.skipped)} malformed rows skipped (see the warnings above)")
    print(f"report: {Path(args.out) / 'report.md'}")
    if floors is not None:
        missed = check_floors(report, floors)
        for line in missed:
            print(f"jmqa: quality gate: {line}", file=sys.stderr)
        if missed:
            return EXIT_ERROR
        print(f"quality gate passed ({', '.join(f'{k} >= {v:.3f}' for k, v in floors.items())})")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """A terminal chat: one question per line, answered in the context of the earlier ones."""
    from .assistant import Assistant
    from .replies import Failure, Fallback, answer_events
    from .types import Answer

    assistant = Assistant.load(settings=_settings(args))
    interactive = sys.stdin.isatty()
    live = sys.stdout.isatty()
    history: list[tuple[str, str]] = []
    if interactive:
        print("Ask about the documents; each question can follow up on the last. "
              "'/clear' forgets the conversation, 'exit' or Ctrl-D quits.")
    while True:
        try:
            line = input("you> " if interactive else "")
        except EOFError:
            break
        question = line.strip()
        if question.lower() in {"exit", "quit", "/exit", "/quit"}:
            break
        if question.lower() in {"/clear", "clear"}:
            history.clear()
            print("(conversation cleared)")
            continue
        if not question:
            continue
        if not interactive:
            print(f"you> {question}")
        drafted = False
        for event in answer_events(assistant, question, history, mode=args.mode, k=args.k):
            if isinstance(event, str):
                if live:  # the draft as it is written; the checked answer follows
                    print(event, end="", flush=True)
                    drafted = True
            elif isinstance(event, Fallback):
                print(f"(note: the language model is unavailable, so this answer quotes the documents: {event.reason})")
            elif isinstance(event, Failure):
                print(f"jmqa: {event.message}", file=sys.stderr)
            elif isinstance(event, Answer):
                if drafted:
                    print("\n--- checked against the sources:")
                print(format_answer(event))
                history.append((question, event.text))
        print(flush=True)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The web chat (the same as `python app.py`)."""
    from .assistant import Assistant
    from .ui import check_serve_options, serve

    check_serve_options(args.host, args.port, args.auth, args.share)  # fail before the models load
    assistant = Assistant.load(settings=_settings(args), show_progress=sys.stderr.isatty())
    warm_up = getattr(assistant, "warm_up", None)
    if warm_up is not None:  # load the models now, so the first visitor does not wait for them
        warm_up()
    serve(assistant, host=args.host, port=args.port, auth=args.auth, share=args.share)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Refit when to abstain on dev questions and write it where the answerers read it: the extractive
    stage from the evidence, then (unless --evidence-only) the verified-answer stage from a generative
    `jmqa eval` run of the same questions, labelled by that run's own scoring."""
    from dataclasses import replace as copy

    from .calibration import CALIBRATION_FILE, fit, fit_abstention, fit_answer
    from .evaluate import _progress, evaluate
    from .questions import assistant_for, load_items, select_items, without_sample

    if not args.gold.exists() and args.gold == Path("eval", "dev.jsonl"):
        raise BadInputError("no eval/dev.jsonl in the current folder: pass your dev questions, "
                            "`jmqa calibrate QUESTIONS.jsonl`, or run it in the source repository")
    items, skipped, passages = load_items(args.gold)
    for line in skipped:
        log.warning("skipped %s", line)
    if args.exclude_sample:
        items = without_sample(items, sample=args.exclude_sample, seed=args.exclude_seed)
    items = select_items(items, sample=args.sample, seed=args.seed)
    settings = _settings(args)
    assistant = assistant_for(args.passages or passages, settings=settings, show_progress=sys.stderr.isatty())
    bar = _progress(len(items), 0, settings.show_progress and sys.stderr.isatty())
    try:
        calibration = fit(assistant, items, progress=(lambda: bar.update(1)) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    how = f"{len(items)} questions of {args.gold.name}"
    if args.sample:
        how += f" (sample of {args.sample}, seed {args.seed})"
    if args.exclude_sample:
        how += f", leaving out the {args.exclude_sample}-question sample of seed {args.exclude_seed} and its passages"
    calibration = copy(calibration, fitted_on=how)
    if not args.evidence_only:
        # every draft that stands verification is answered (threshold 0), so each row says whether it was right
        assistant.extractive.calibration = copy(calibration, answer=copy(calibration.answer, threshold=0.0))
        report = evaluate(items, args.eval_out, assistant=assistant, mode="generative", settings=settings,
                          show_progress=settings.show_progress and sys.stderr.isatty())
        names = ("log_p_refusal", "supported", "relevance", "stated")
        read = [(r, tuple(r.metrics["signals"][k] for k in names)) for r in report.records
                if "log_p_refusal" in r.metrics.get("signals", {})]
        drafted = [(r, s) for r, s in read if s[1]]  # some of the draft stood verification
        answer = fit_answer([s for _, s in drafted], [bool(r.metrics.get("correct")) and not r.abstained for r, _ in drafted],
                            [r.answerable for r, _ in drafted], fitted_on=f"{len(drafted)} drafted answers to {how}")
        abstain = fit_abstention([s for _, s in read], [r.answerable for r, _ in read])
        calibration = copy(calibration, answer=copy(answer, abstain=abstain))
    out = args.out or CALIBRATION_FILE
    out.write_text(json.dumps(calibration.to_dict(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}:")
    print(json.dumps(calibration.to_dict(), indent=2))
    return 0


def cmd_documents(args: argparse.Namespace) -> int:
    """List the corpus's documents: name, type, size, passages, when added, title."""
    from .assistant import Assistant

    docs = Assistant.load(settings=_settings(args)).documents()
    if args.json:
        print(json.dumps([vars(e) for e in docs], ensure_ascii=False, indent=2))
        return 0
    for e in docs:
        added = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.added)) if e.added else "?"
        print(f"{e.name}\t{e.kind}\t{e.size / 1e6:.2f} MB\t{e.passages} passages\t{added}\t{e.title}")
    print(f"{len(docs)} document{'s' * (len(docs) != 1)}", file=sys.stderr)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    """Copy files into the corpus and index them; each file that cannot be used is named with the reason."""
    from .assistant import Assistant

    assistant = Assistant.load(settings=_settings(args))
    result = assistant.add_documents(args.files)
    print(result.summary())
    if result.added:
        print(f"index {assistant.settings.index_dir}: {len(assistant.index.documents)} documents, "
              f"{len(assistant.index.chunks)} chunks")
    return EXIT_BAD_INPUT if result.skipped and not result.added else 0


def cmd_remove(args: argparse.Namespace) -> int:
    """Delete a document from the corpus and the index."""
    from .assistant import Assistant

    assistant = Assistant.load(settings=_settings(args))
    print(f"removed {assistant.remove_document(args.name)}; index {assistant.settings.index_dir}: "
          f"{len(assistant.index.documents)} documents, {len(assistant.index.chunks)} chunks")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jmqa", description="Grounded question answering over a folder of documents.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what jmqa is doing")
    sub = parser.add_subparsers(dest="command", required=True)

    def paths(p: argparse.ArgumentParser) -> None:
        p.add_argument("--corpus", type=Path, help="corpus folder (default: $JMQA_CORPUS_DIR, else ./corpus "
                       "if the current folder has one, else the example corpus shipped with jmqa)")
        p.add_argument("--index", type=Path, help="index folder (default: $JMQA_INDEX_DIR, else ./index when the "
                       "corpus is ./corpus, else one of that corpus's own in the cache, ~/.cache/jmqa/index/)")

    p = sub.add_parser("index", help="build or update the index of the corpus")
    paths(p)
    p.add_argument("--rebuild", action="store_true", help="rebuild from scratch even if the index is current")
    p.add_argument("--watch", action="store_true", help="keep polling the corpus and update the index when it changes")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between polls with --watch (default: 2)")
    p.add_argument("--polls", type=int, help=argparse.SUPPRESS)  # bounds --watch, for tests
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("calibrate", help="refit when to abstain, on a gold question set")
    paths(p)
    p.add_argument("gold", nargs="?", type=Path, default=Path("eval", "dev.jsonl"),
                   help="dev questions: .jsonl or .csv, or a SQuAD-style folder (default: eval/dev.jsonl "
                        "of the current folder, as in the source repository); never the test set")
    p.add_argument("--out", type=Path, help="where to write the calibration (default: the package's calibration.json)")
    p.add_argument("--passages", type=Path, help="answer from a passages .jsonl instead of the corpus")
    p.add_argument("--sample", type=int, help="fit on a fixed random sample of N questions")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--exclude-sample", type=int, help="leave out `jmqa eval --sample N`'s questions and their passages")
    p.add_argument("--exclude-seed", type=int, default=0, help="the --seed of that evaluation sample (default 0)")
    p.add_argument("--evidence-only", action="store_true", help="fit the extractive stage only (no LLM)")
    p.add_argument("--eval-out", type=Path, help="keep the generative run it fits on in this folder (report.md, results.jsonl)")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("ask", help="ask one question")
    paths(p)
    p.add_argument("question", nargs="+", help="the question")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("-k", type=int, help="number of passages to retrieve")
    p.add_argument("--mode", choices=["auto", "extractive", "generative"], help="answer mode (default: auto)")
    p.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None,
                   help="print the model's draft as it is written (default: when writing to a terminal)")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="evaluate answers on a question set and write a report")
    paths(p)
    p.add_argument("questions", type=Path, nargs="?",
                   help="questions: .jsonl or .csv (id, question, answers, answerable, support, history), "
                        "or a folder holding questions.jsonl and passages.jsonl (e.g. SQuAD 2.0 dev)")
    p.add_argument("--out", type=Path, default=Path("out/eval"), help="report folder (default: out/eval)")
    p.add_argument("--mode", choices=["extractive", "generative", "auto", "retrieval"], default="auto",
                   help="answer mode; retrieval = retrieval only (recall@k and MRR of dense, BM25 and hybrid)")
    p.add_argument("-k", "--k", type=int, help="passages retrieved per question")
    p.add_argument("--limit", type=int, help="only the first N questions (after sampling)")
    p.add_argument("--sample", type=int, help="a fixed random sample of N questions")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--passages", type=Path, help="answer from a passages .jsonl ({id, title, text}) instead of the corpus")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--gate", type=Path, help="floors JSON; exit 1 when a metric falls below its floor")
    p.add_argument("--calibration", type=Path, help="abstention calibration from `jmqa calibrate --out` (default: the package's)")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="answer on Ray workers: alone, start a local Ray; with an address (auto, ray://head:10001), "
                        "join that cluster (needs pip install 'jmqa[ray]')")
    p.add_argument("--workers", type=int, help="Ray workers, one Assistant each (default: as many as the CPUs hold)")
    p.add_argument("--worker-cpus", type=int, default=1,
                   help="CPUs each Ray worker reserves, and the threads its model and embedder run on (default 1)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("chat", help="chat in the terminal: follow-up questions use the conversation")
    paths(p)
    p.add_argument("--mode", choices=["auto", "extractive", "generative"], help="answer mode (default: auto)")
    p.add_argument("-k", type=int, help="number of passages to retrieve")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("documents", help="list the corpus's documents")
    paths(p)
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=cmd_documents)

    p = sub.add_parser("add", help="add files (PDF, DOCX, HTML, Markdown, text) to the corpus and index them")
    paths(p)
    p.add_argument("files", nargs="+", type=Path, help="the files to add")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", help="delete a document from the corpus and the index")
    paths(p)
    p.add_argument("name", help="its name as `jmqa documents` lists it")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("serve", help="start the web chat (default http://127.0.0.1:7860)")
    paths(p)
    from .ui import add_serve_arguments  # gradio itself is imported only when serving

    add_serve_arguments(p)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # other libraries are chatty below WARNING (and some set their own levels): show only jmqa's
    handler.addFilter(lambda r: r.name.startswith("jmqa") or r.levelno >= logging.WARNING)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    try:
        return args.func(args)
    except BadInputError as exc:
        print(f"jmqa: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except JmqaError as exc:
        print(f"jmqa: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("jmqa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
