"""Answers, drafts and their sources -> HTML for the web chat (pure, and escaped: document text and
model output never run as HTML)."""

import html
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .abstention import split_abstention
from .chunking import paragraphs
from .types import Answer, Citation, Document

if TYPE_CHECKING:
    from .assistant import Assistant
    from .collection import Added, Entry

_MARKER = re.compile(r"\[(\d+)\]")
_INERT = str.maketrans({ch: f"&#{ord(ch)};" for ch in "&<>\"'\\`*_{}[]()#+-!|~$="})
CONTEXT_CHARS = 420  # of a long paragraph, this much is shown on each side of the quote
INLINE_CONTEXT_CHARS = 120  # less in the sources shown inside the answer on a phone


def esc(text: str) -> str:
    """Text made inert for an HTML chat bubble that is also read as Markdown: `<>&"'` become entities,
    and so do the characters Markdown or LaTeX would act on."""
    return text.translate(_INERT).replace("\n", "<br>")


def marked_text(text: str, citations: Sequence[Citation]) -> str:
    """Answer text, escaped, with each [n] made a citation marker (its tooltip shows the quoted source)."""
    pieces, pos = [], 0
    for m in _MARKER.finditer(text):
        n = int(m.group(1))
        pieces.append(esc(text[pos : m.start()].rstrip(" ")))
        if 1 <= n <= len(citations):
            c = citations[n - 1]
            where = f"{c.title}, {c.place()}" if c.place() else c.title
            tip = html.escape(f"{where}: {c.quote}", quote=True)
            pieces.append(f'<sup class="jmqa-cite" title="{tip}">&#91;{n}&#93;</sup>')
        else:
            pieces.append(esc(m.group(0)))
        pos = m.end()
    pieces.append(esc(text[pos:]))
    return "".join(pieces).strip()


def answer_html(answer: Answer, documents: dict[str, Document] | None = None) -> str:
    """The reply bubble for a final answer; an abstention is shown as a calm note, not as an answer."""
    if answer.abstained:
        headline, rest = split_abstention(answer.text)  # the text keeps the space its language puts between them
        body = f"<strong>{esc(headline)}</strong>{esc(answer.text[len(headline):])}" if rest else esc(answer.text)
        return (f'<div class="jmqa-abstain"><span class="jmqa-icon" aria-hidden="true">i</span>'
                f"<div>{body}</div></div>")
    # a calibrated estimate is never certainty: 0.998 shows as 99%, not 100%
    meta = [f"{min(99, round(100 * answer.confidence))}% confident", answer.mode]
    if total := answer.timings.get("total_s"):
        meta.append(f"{total:.1f} s")
    n = len(answer.citations)
    inline = (f'<details class="jmqa-inline-sources"><summary>Sources · {n} quoted sentence{"s" * (n != 1)}</summary>'
              f'{source_cards(answer, documents or {}, INLINE_CONTEXT_CHARS)}</details>') if n else ""
    return (f'<div class="jmqa-answer">{marked_text(answer.text, answer.citations)}</div>'
            f'<div class="jmqa-meta">{esc(" · ".join(meta))}</div>{inline}')


def draft_html(draft: str) -> str:
    """The answer as it is being written: its [n] markers already look like markers."""
    body = _MARKER.sub(lambda m: f'\x00{m.group(1)}\x01', draft.replace("\x00", "").replace("\x01", ""))
    body = re.sub(r" ?\x00(\d+)\x01", r'<sup class="jmqa-cite">&#91;\1&#93;</sup>', esc(body))
    return (f'<div class="jmqa-draft">{body}<span class="jmqa-caret" aria-hidden="true"></span></div>'
            + status_html("Drafting — each sentence is checked against the sources when it's done."))


def notes_html(notes: Sequence[str]) -> str:
    return "".join(f'<div class="jmqa-note">{esc(n)}</div>' for n in notes)


def status_html(text: str) -> str:
    return f'<div class="jmqa-status"><span class="jmqa-spinner" aria-hidden="true"></span>{esc(text)}</div>'


def sources_placeholder(text: str, asked: str = "") -> str:
    body = f'<p class="jmqa-empty">{esc(text)}</p>' if text else ""
    return f'<div class="jmqa-sources"><h3>Sources</h3>{asked}{body}</div>'


def sources_html(answer: Answer | None, documents: dict[str, Document], question: str = "") -> str:
    """The sources panel: for each paragraph cited, its document title and the paragraph with each
    quoted sentence highlighted and numbered as in the answer."""
    if answer is None:
        return sources_placeholder("Each answer's sources appear here: the quoted sentence, highlighted in its paragraph.")
    asked = f'<p class="jmqa-for">for “{esc(shorten(question, 90))}”</p>' if question else ""
    if answer.abstained or not answer.citations:
        return sources_placeholder("No sources: the documents hold no sentence that answers this question.", asked)
    return f'<div class="jmqa-sources"><h3>Sources</h3>{asked}{source_cards(answer, documents)}</div>'


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def source_cards(answer: Answer, documents: dict[str, Document], context: int = CONTEXT_CHARS) -> str:
    """One card per cited paragraph: document title, and the paragraph with its quotes highlighted."""
    cards = []
    for (doc_id, span), numbered in _group_by_paragraph(answer.citations, documents):
        doc = documents.get(doc_id)
        numbers = "".join(f'<span class="jmqa-num">{n}</span>' for n, _ in numbered)
        title = esc(numbered[0][1].title or (doc.title if doc else doc_id))
        places = list(dict.fromkeys(c.place() for _, c in numbered if c.place()))
        where = f'<span class="jmqa-place">{esc(" · ".join(places))}</span>' if places else ""
        if doc is None:  # the index changed under the answer: show the quotes alone
            body = " ".join(f'<mark class="jmqa-quote">{esc(c.quote)}</mark>' for _, c in numbered)
        else:
            body = highlighted_paragraph(doc.text, span, [(n, c.start, c.end) for n, c in numbered], context)
        cards.append(f'<div class="jmqa-source"><div class="jmqa-source-head">{numbers}'
                     f'<span class="jmqa-title">{title}</span>{where}</div><p class="jmqa-para">{body}</p></div>')
    return "".join(cards)


def _group_by_paragraph(citations: Sequence[Citation], documents: dict[str, Document]
                        ) -> list[tuple[tuple[str, tuple[int, int]], list[tuple[int, Citation]]]]:
    groups: dict[tuple[str, tuple[int, int]], list[tuple[int, Citation]]] = {}
    for n, c in enumerate(citations, start=1):
        doc = documents.get(c.doc_id)
        span = paragraph_around(doc.text, c.start, c.end) if doc else (c.start, c.end)
        groups.setdefault((c.doc_id, span), []).append((n, c))
    return list(groups.items())


def paragraph_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The (start, end) of the paragraph of `text` holding [start, end); the span itself if none does."""
    for p in paragraphs(text):
        if p.start <= start and end <= p.end:
            return p.start, p.end
    return start, end


def highlighted_paragraph(text: str, span: tuple[int, int], quotes: Sequence[tuple[int, int, int]],
                          context: int = CONTEXT_CHARS) -> str:
    """text[span], escaped, with each (number, start, end) quote wrapped in <mark>; a long paragraph is
    cut to the quotes and `context` characters on each side, at word boundaries, with an ellipsis."""
    p_start, p_end = span
    quotes = sorted(quotes, key=lambda q: q[1])
    lo = max(p_start, quotes[0][1] - context)
    hi = min(p_end, quotes[-1][2] + context)
    if lo > p_start:
        lo = _word_start(text, lo)
    if hi < p_end:
        hi = _word_end(text, hi)
    out, pos = ["…" if lo > p_start else ""], lo
    for n, s, e in quotes:
        s, e = max(s, pos), min(e, hi)
        if s >= e:
            continue
        out.append(esc(text[pos:s]))
        out.append(f'<span class="jmqa-num">{n}</span><mark class="jmqa-quote">{esc(text[s:e])}</mark>')
        pos = e
    out.append(esc(text[pos:hi]))
    out.append("…" if hi < p_end else "")
    return "".join(out)


def _word_start(text: str, i: int) -> int:
    j = text.find(" ", i)
    return j + 1 if j != -1 else i


def _word_end(text: str, i: int) -> int:
    j = text.rfind(" ", 0, i)
    return j if j != -1 else i


def status_line(assistant: "Assistant") -> str:
    """One line naming the corpus, the retrieval model and the language model behind the answers."""
    s = assistant.settings
    describe = getattr(assistant, "describe", None)
    info = describe() if describe else {}
    n_docs = info.get("documents", len(assistant.index.documents))
    n_chunks = info.get("chunks", len(assistant.index.chunks))
    embedder = info.get("embedding_model") or getattr(assistant.embedder, "model_id", "?")
    if info.get("llm_error"):
        llm = "<b>none</b> (answers quote the documents)"
    else:
        name = info.get("llm") or (f"{s.llm_api_model or s.llm_model} at {s.llm_base_url}" if s.llm_base_url
                                   else s.llm_model)
        llm = f"<b>{esc(str(name))}</b>"
    sep = '<i class="jmqa-sep"> · </i>'
    return (f"<span>Corpus <b>{esc(s.corpus_dir.name)}/</b> ({n_docs} document{'s' * (n_docs != 1)}, "
            f"{n_chunks} passages)</span>{sep}<span>Retrieval <b>{esc(str(embedder))}</b> + BM25</span>{sep}"
            f"<span>Model {llm}</span>")


def header_html(assistant: "Assistant") -> str:
    return ("<h1>jmqa — ask your documents</h1>"
            "<p>Grounded answers, offline: every answer cites the sentences it quotes.</p>"
            f'<div id="jmqa-status">{status_line(assistant)}</div>')


def documents_html(docs: Sequence["Entry"]) -> str:
    """The Documents panel's table: title (and file name), type, size, passages, when added."""
    if not docs:
        return '<p class="jmqa-empty">The corpus is empty: add a file below.</p>'
    rows = "".join(
        f'<tr><td><span class="jmqa-doc-title">{esc(d.title)}</span><br><code>{esc(d.name)}</code></td>'
        f"<td>{esc(d.kind)}</td><td>{esc(_size(d.size))}</td><td>{d.passages}</td>"
        f"<td>{esc(_when(d.added))}</td></tr>"
        for d in docs
    )
    n = len(docs)
    return (f'<table class="jmqa-docs"><caption>{n} document{"s" * (n != 1)}</caption>'
            "<thead><tr><th>Document</th><th>Type</th><th>Size</th><th>Passages</th><th>Added</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def added_html(result: "Added") -> str:
    """What an upload did: each file added, and each file left out with the reason."""
    items = [f'<li class="jmqa-ok">Added <b>{esc(name)}</b></li>' for name in result.added]
    items += [f'<li class="jmqa-bad">Not added <b>{esc(name)}</b>: {esc(reason)}</li>' for name, reason in result.skipped]
    return f'<ul class="jmqa-doc-status">{"".join(items)}</ul>' if items else ""


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} kB" if n else "?"


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "?"
