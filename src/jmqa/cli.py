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
        )
        if value is not None
    }
    return Settings(**overrides)


def cmd_index(args: argparse.Namespace) -> int:
    from .embedding import SentenceTransformerEmbedder
    from .index import load_or_build
    from .ingest import load_corpus

    settings = _settings(args)
    t0 = time.perf_counter()
    docs = load_corpus(settings.corpus_dir)
    embedder = SentenceTransformerEmbedder(settings.embedding_model, settings.embedding_batch_size)
    index, status = load_or_build(
        docs, settings.index_dir, embedder,
        chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
        show_progress=settings.show_progress and sys.stderr.isatty(), rebuild=args.rebuild,
    )
    print(
        f"index {settings.index_dir}: {len(index.documents)} documents, {len(index.chunks)} chunks, "
        f"{status}, {time.perf_counter() - t0:.1f} s"
    )
    return 0


def format_answer(answer) -> str:
    """The answer and its numbered sources, for a terminal."""
    lines = [answer.text]
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
        for i, c in enumerate(answer.citations, start=1):
            lines.append(f"  [{i}] {c.title} (chars {c.start}-{c.end}): “{c.quote}”")
    lines.append(f"(confidence {answer.confidence:.2f})")
    return "\n".join(lines)


def cmd_ask(args: argparse.Namespace) -> int:
    from .assistant import Assistant

    question = " ".join(args.question)
    if not question.strip():
        raise BadInputError("the question is empty; usage: jmqa ask \"What are Jiangmen's core industries?\"")
    assistant = Assistant.load(settings=_settings(args))
    answer = assistant.ask(question)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jmqa", description="Grounded question answering over a folder of documents.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what jmqa is doing")
    sub = parser.add_subparsers(dest="command", required=True)

    def paths(p: argparse.ArgumentParser) -> None:
        p.add_argument("--corpus", type=Path, help="corpus folder (default: corpus/ or $JMQA_CORPUS_DIR)")
        p.add_argument("--index", type=Path, help="index folder (default: index/ or $JMQA_INDEX_DIR)")

    p = sub.add_parser("index", help="build or update the index of the corpus")
    paths(p)
    p.add_argument("--rebuild", action="store_true", help="rebuild from scratch even if the index is current")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="ask one question")
    paths(p)
    p.add_argument("question", nargs="+", help="the question")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("-k", type=int, help="number of passages to retrieve")
    p.set_defaults(func=cmd_ask)
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
