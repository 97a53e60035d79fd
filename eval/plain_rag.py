"""The plain recipe jmqa is compared with: 1000/200-character chunks, top-3 dense retrieval and a "say you
don't know" prompt, with the conversation as chat turns; the same embedder and LLM as jmqa.

Not part of jmqa: a reference point for docs/benchmarks.md, scored by the same `jmqa.evaluate` code.

    .venv/bin/python eval/plain_rag.py eval/test.jsonl --out out/plain-test           # the default corpus
    .venv/bin/python eval/plain_rag.py ../shared/datasets/squad-v2.0-dev --sample 500 --seed 0 --out out/plain
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

from jmqa import Answer, Assistant, Chunk, Citation, Hit, Settings, evaluate
from jmqa.llm import load_llm
from jmqa.questions import load_items, passages_assistant

SYSTEM = ("Answer the question using only the context below. "
          "If the context does not contain the answer, say \"I don't know\".")
DONT_KNOW = re.compile(r"\b(i don'?t know|i do not know|does not (contain|mention|say|provide)|"
                       r"doesn'?t (contain|mention|say|provide)|not (mentioned|provided|stated))\b", re.IGNORECASE)


def char_chunks(documents, size: int = 1000, overlap: int = 200) -> list[Chunk]:
    """The plain recipe's chunks: fixed windows of `size` characters, `overlap` shared."""
    out = []
    for doc in documents:
        for n, start in enumerate(range(0, max(len(doc.text) - overlap, 1), size - overlap)):
            end = min(start + size, len(doc.text))
            out.append(Chunk(f"{doc.doc_id}-{n}", doc.doc_id, doc.title, doc.text[start:end], start, end))
    return out


class PlainRAG:
    """Duck-types the parts of `Assistant` that `evaluate` uses; answers with one LLM call."""

    def __init__(self, assistant, llm, top_k: int = 3):
        self.index, self.embedder, self.settings = assistant.index, assistant.embedder, assistant.settings
        self.retriever = assistant.retriever
        self.llm, self.top_k = llm, top_k
        self.chunks = char_chunks(assistant.index.documents.values())
        self.vectors = self.embedder.encode([c.text for c in self.chunks])

    def ask_stream(self, question, history=None, *, k=None, mode=None):
        t0 = time.perf_counter()
        qvec = self.embedder.encode([question.strip()])[0]
        scores = self.vectors @ qvec
        hits = [Hit(self.chunks[i], float(scores[i]), dense_score=float(scores[i]))
                for i in np.argsort(-scores)[: self.top_k]]
        t1 = time.perf_counter()
        context = "\n\n".join(f"[{n}] {h.chunk.text}" for n, h in enumerate(hits, start=1))
        turns = []
        for turn in history or []:
            q, a = (turn.question, turn.answer) if hasattr(turn, "question") else tuple(turn)
            turns += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        messages = [{"role": "system", "content": f"{SYSTEM}\n\nContext:\n{context}"}, *turns,
                    {"role": "user", "content": question.strip()}]
        pieces = []
        for piece in self.llm.stream_chat(messages, max_tokens=128):
            pieces.append(piece)
            yield piece
        t2 = time.perf_counter()
        text = "".join(pieces).strip()
        abstained = not text or bool(DONT_KNOW.search(text))
        citations = () if abstained else tuple(
            Citation(h.chunk.doc_id, h.chunk.title, h.chunk.start, h.chunk.end, h.chunk.text) for h in hits[:1])
        yield Answer(text=text, citations=citations, abstained=abstained, confidence=0.0 if abstained else 1.0,
                     mode="plain", query=question, hits=tuple(hits),
                     timings={"retrieve_s": round(t1 - t0, 4), "generate_s": round(t2 - t1, 4),
                              "total_s": round(t2 - t0, 4)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path,
                        help="a question file over the corpus, or a SQuAD-style folder (questions.jsonl + passages.jsonl)")
    parser.add_argument("--out", type=Path, default=Path("out/plain"))
    parser.add_argument("--sample", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    _, _, passages = load_items(args.questions)
    base = passages_assistant(passages, settings=settings) if passages else Assistant.load(settings=settings)
    plain = PlainRAG(base, load_llm(settings))
    report = evaluate(args.questions, args.out, assistant=plain, mode="generative", sample=args.sample,
                      seed=args.seed, limit=args.limit, resume=args.resume, show_progress=sys.stderr.isatty())
    m = report.metrics
    print(f"plain recipe ({settings.llm_model}), {report.counts['questions']} questions: "
          f"answer accuracy {m['answer_accuracy']:.3f}, abstention {m['abstention_recall'] or 0:.3f}, "
          f"EM {100 * m['em']:.1f}, F1 {100 * m['f1']:.1f}; report: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
