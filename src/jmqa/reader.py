"""Hits + conversation -> a verified, cited Answer: the model reads enough of the retrieved text, writes the
answer with [n] markers in the sources' language, every sentence is checked against the sources, and what
stands is translated into the asker's language when that is another.

The flow is one way: `select_sources` (read enough, in document order) -> `answer_messages` (the prompt
template) -> the model's draft -> `decide`: the draft read and checked (`draft`: parse, verify), the meaning
check (`check_messages`: the model asked whether the cited sources state what stands; for a question that
does not ask yes or no, `answered_messages`: whether the cited sentences, each after the one before it,
answer it), the calibrated decision (`AnswerCalibration`) and `localize` (the checked sentences in the
asker's language) -> for a draft that opens with yes or no, `polar_messages` (a yes/no read of the sentences
its answer rests on; when the two disagree, a draft written again from the other word and decided the same
way replaces it if all of it stands). Nothing here knows a question form or a language: the model is
told the forms in the prompt template, and verification compares scripts, numbers and meaning.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from importlib import resources

import numpy as np

from .abstention import abstention_text
from .calibration import STATED_CLIP, AnswerCalibration
from .chunking import split_sentences
from .draft import (
    LEAD_ENDS,
    REFUSAL,
    Verified,
    cited_text,
    draft_lead,
    is_wide,
    localize,
    parse_draft,
    quoted_after_lead,
    script_of,
    topic_sources,
    verify,
    without_lead,
)
from .embedding import Embedder
from .evidence import Candidate, candidate_sentences
from .grounding import values_supported
from .llm import LLM, Message
from .multilingual import translate_answer, translate_statement
from .polar import polarity, turned
from .types import Answer, Citation, Document, Hit, Turn

log = logging.getLogger(__name__)



# ---------------------------------------------------------------- reading enough, in document order


def select_sources(hits: Sequence[Hit], budget_chars: int, documents: Mapping[str, Document] | None = None
                   ) -> list[Candidate]:
    """What the model reads: the hits in rank order until `budget_chars` is spent, then put back in document
    order (documents in the order of their best hit). A retrieved document that fits what is left of the
    budget is read whole (with `documents`), so a small corpus is read whole and always the same way, and
    its prompt prefix is cached across questions."""
    taken: dict[tuple[str, int], Candidate] = {}
    used = 0
    for rank, hit in enumerate(hits):
        doc = documents.get(hit.chunk.doc_id) if documents is not None else None
        if doc is not None and all(key[0] != doc.doc_id for key in taken) and used + len(doc.text) <= budget_chars:
            fresh = [Candidate(doc.doc_id, doc.title, s.start, s.end, doc.text[s.start:s.end], rank, doc.text)
                     for s in split_sentences(doc.text)]
        else:
            fresh = candidate_sentences([hit])
        fresh = [c for c in fresh if (c.doc_id, c.start) not in taken]
        cost = sum(len(c.text) for c in fresh)
        if taken and used + cost > budget_chars:
            break
        taken.update(((c.doc_id, c.start), c) for c in fresh)
        used += cost
    doc_rank: dict[str, int] = {}
    for c in taken.values():
        doc_rank.setdefault(c.doc_id, len(doc_rank))
    return sorted(taken.values(), key=lambda c: (doc_rank[c.doc_id], c.start))


@lru_cache(maxsize=4)
def prompt_template(name: str = "answer.txt") -> str:
    """A prompt template shipped in jmqa/prompts (data beside the code)."""
    return resources.files("jmqa").joinpath("prompts", name).read_text(encoding="utf-8")


# Where each writing system's letters lie in Unicode: a draft read against a conversation held in another
# language must start in the sources' script (a small model otherwise drifts into the conversation's language).
SCRIPT_RANGES = {"LATIN": "A-Za-z\u00c0-\u024f", "CJK": "\u4e00-\u9fff", "HANGUL": "\uac00-\ud7af",
                 "HIRAGANA": "\u3040-\u309f", "KATAKANA": "\u30a0-\u30ff", "CYRILLIC": "\u0400-\u04ff", "GREEK": "\u0370-\u03ff",
                 "ARABIC": "\u0600-\u06ff", "HEBREW": "\u0590-\u05ff", "THAI": "\u0e00-\u0e7f",
                 "DEVANAGARI": "\u0900-\u097f"}


def answer_grammar(script: str | None = None, opening: str | None = None) -> str:
    """The GBNF form of an answer (prompts/answer.gbnf): statements each closed by its source's number;
    with `script` (one of SCRIPT_RANGES), the answer starts with a letter of that script or a digit; with
    `opening`, it starts with that text ("No, ")."""
    grammar = prompt_template("answer.gbnf")
    if opening:
        quoted = opening.replace("\\", "\\\\").replace('"', '\\"')
        return grammar.replace("root ::= claim+", f'root ::= "{quoted}" claim+', 1)
    if script not in SCRIPT_RANGES:
        return grammar
    return grammar.replace("root ::= claim+", f"root ::= [{SCRIPT_RANGES[script]}0-9] claim+", 1)


def answer_messages(sources: Sequence[Candidate], question: str, history: Sequence[Turn] = (), *,
                    write_in: str | None = None, refusal: bool = True, template: str | None = None) -> list[Message]:
    """The chat prompt: rules and numbered sources first (a prefix shared by every question on the same
    sources), then the conversation as jmqa answered it, then the question. `write_in`: the name of the
    language to write the draft in when the question is in another (the sources'; the checked answer is
    translated afterwards). `refusal`: whether the rules offer the
    refusal; the probe's prompt does (its chance is the signal), the answer's does not (whether to answer
    is decided by calibration, not by the model's greedy first word)."""
    several = len({c.doc_id for c in sources}) > 1  # then each document's first sentence carries its title
    numbered = "\n".join(f"[{i}] {_one_line(c.title + ': ' if several and _new_doc(sources, i) else '')}"
                         f"{_one_line(c.text)}" for i, c in enumerate(sources, start=1))
    # The refusal rule comes after the sources: the probe, the draft and the meaning check then share the
    # rules and sources as one prompt prefix, which the model reads once per question (docs/benchmarks.md).
    rule = f"\n\nIf the sources above do not answer the question, reply only: {REFUSAL}" if refusal else ""
    system = (template or prompt_template()).format(refusal_rule=rule, sources=numbered)
    messages: list[Message] = [{"role": "system", "content": system}]
    for turn in history:
        messages += [{"role": "user", "content": turn.question}, {"role": "assistant", "content": turn.answer}]
    ask = question if write_in is None else f"{question}\n(Answer in {write_in}.)"
    return messages + [{"role": "user", "content": ask}]


def check_messages(sources: Sequence[Candidate], question: str, verified: Sequence[Verified]) -> list[Message]:
    """The meaning check's prompt (prompts/check.txt): the probe's rules and numbered sources (a prefix the
    model has just read, so it is cached), then the question and the sentences that stood verification, each
    with the numbers of the sources it rests on. Its P(yes) says whether those sources state the answer, as
    word overlap cannot: "north" for "south", or a neighbouring fact offered for what was asked."""
    answer, _ = cited_text(verified, renumber=False)
    ask = prompt_template("check.txt").format(question=question, answer=answer)
    return [answer_messages(sources, question)[0], {"role": "user", "content": ask}]


def answered_messages(sources: Sequence[Candidate], question: str, verified: Sequence[Verified],
                      asked_before: str = "") -> list[Message]:
    """The meaning check of an answer to a question that does not ask yes or no (prompts/answered.txt):
    whether the source sentences the answer rests on (`source_read`) answer the question. Read without the
    rest of the document, the model cannot answer from a sentence nobody cited: "What is the population?"
    over "… of its origin total about 4 million" is read as not answered (docs/benchmarks.md)."""
    used = sorted({i for v in verified if v.supported and v.how != "lead" for i in v.sources})
    return source_read("answered.txt", sources, used, question, asked_before)


def polar_messages(sources: Sequence[Candidate], question: str, cited: Sequence[int], asked_before: str = ""
                   ) -> list[Message]:
    """The yes/no read (prompts/polar.txt): whether the source sentences a draft's answer rests on (`cited`,
    the verified ones; `source_read`) say yes to the question as asked. Its P(yes) decides a draft's opening "Yes"/"No"
    (`ReadingAnswerer.polar_threshold`). Read beside the whole document, the model leans to yes on a
    question that names a near neighbour of what the text says ("the service sector" for "the secondary
    sector"); read beside the sentences that speak of it, it sees the difference (docs/benchmarks.md)."""
    return source_read("polar.txt", sources, sorted(set(cited)), question, asked_before)


def source_read(template: str, sources: Sequence[Candidate], used: Sequence[int], question: str,
                asked_before: str = "") -> list[Message]:
    """A question put to a few source sentences (`used`, 0-based), each after the source sentence before
    it in its document (which names what its "it" or "the towers" is), under the document's title; the
    conversation's earlier questions before the question (a follow-up's "they" leans on them). `template`:
    its first paragraph is the system message, the rest the user's, with {title}, {quotes}, {earlier} and
    {question}. Read alone, without the sentence before it, a cited sentence loses its subject."""
    shown = sorted({j for i in used for j in (i - 1, i) if j >= 0 and sources[j].doc_id == sources[i].doc_id})
    titles = dict.fromkeys(_one_line(sources[i].title) for i in used if sources[i].title.strip())
    quotes = " ".join(_one_line(sources[i].text) for i in shown)
    earlier = f"Asked before: {_one_line(asked_before)}\n" if asked_before.strip() else ""
    role, ask = prompt_template(template).split("\n\n", 1)
    return [{"role": "system", "content": role},
            {"role": "user", "content": ask.format(title=f" ({'; '.join(titles)})" if titles else "", quotes=quotes,
                                                   earlier=earlier, question=question).strip()}]


def _new_doc(sources: Sequence[Candidate], i: int) -> bool:
    return i == 1 or sources[i - 2].doc_id != sources[i - 1].doc_id


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- the decision


def _log(p: float) -> float:
    """log p, floored so that a probability of 0 (a scripted or server backend) stays finite."""
    return math.log(max(p, 1e-6))


Signals = tuple[float, float, float, float]


def features(p_refusal: float, verified: Sequence[Verified], relevance: float, p_stated: float) -> Signals:
    """The calibration's inputs: log p_refusal, share of the draft's claims that stand, relevance, and the
    meaning check's P(yes)."""
    claims = [v for v in verified if v.how != "lead"]
    share = sum(v.supported for v in claims) / len(claims) if claims else 0.0
    return (_log(p_refusal), share, relevance, p_stated)


# ---------------------------------------------------------------- the answerer


@dataclass
class ReadingAnswerer:
    """The model reads the selected sources and the conversation and writes the answer; jmqa verifies
    each sentence, cites the exact source sentences, and decides with a calibrated probability."""

    llm: LLM
    embedder: Embedder
    calibration: AnswerCalibration = field(default_factory=AnswerCalibration)
    budget_chars: int = 3000
    max_tokens: int = 200
    sources_language: str = "English"  # the name of the sources' language: answers in another are translated back into it to be checked
    constrained: bool = True  # the answer's form (statements closed by [n]) enforced by prompts/answer.gbnf
    # A draft that opens with "Yes"/"No" keeps it only if the model, asked the question over the sentences
    # its answer rests on (`polar_messages`), gives "Yes" at least this probability, or "No" when the draft says
    # no; otherwise the draft is written again opening with the other word. Above 0.5 because the model leans
    # to "Yes" (docs/benchmarks.md: on dev its P(yes) was >= 0.73 for every right "Yes" and <= 0.68 for
    # wrong ones but three); 0.0 or less turns the check off.
    polar_threshold: float = 0.7
    # a yes/no answer whose wording did not stand is its lead and the source sentence closest to backing it,
    # if that one scores this much (`quoted_after_lead`)
    min_quote_score: float = 0.5
    # a yes/no answer rests only on source sentences that hold at least this share of the question's
    # content words but one (`draft.topic_sources`): it affirms or denies what was asked, so its sentence
    # speaks of it ("No" may state another thing in place of one word: "western" for "eastern")
    min_topic: float = 1 / 3
    # ... or whose cosine with the question is at least this (a question worded otherwise, or translated);
    # on dev every yes/no answer's sentence is at 0.5 or more, "Does it have an international airport?" at 0.24
    min_topic_meaning: float = 0.4
    # a draft's opening "Yes"/"No" is kept only if the model, reading the question (the refusal probe, before it
    # writes), gave a yes/no first word at least this probability: below it the question does not ask yes or no
    # ("What nickname …?" drafted as "Yes, it is dubbed …") and the opening is dropped. On dev (docs/benchmarks.md)
    # the yes/no questions are at 0.48 or more, most above 0.9; the others mostly under 0.1, a few "why" questions
    # and one overview request up to 0.48: those keep an opening as before. 0.0 keeps every opening.
    min_polar_opening: float = 0.4
    mode: str = "generative"
    source_vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def stream(self, question: str, hits: Sequence[Hit], *, query: str, history: Sequence[Turn] = (),
               language: str | None = None, documents: Mapping[str, Document] | None = None
               ) -> Iterator[str | Answer]:
        """Yield the draft's text as the model writes it, then the verified Answer. `documents`: the
        corpus's documents, so that a short retrieved document is read whole. `language`: the name of the
        asker's language when it is not the sources'; the draft, in the sources' language, is then not
        shown, and the Answer is its checked sentences translated (`localize`)."""
        t0 = time.perf_counter()
        sources = select_sources(hits, self.budget_chars, documents)
        if not sources:
            yield self._abstain(query, hits, 1.0, {"read_s": round(time.perf_counter() - t0, 4)}, "nothing retrieved")
            return
        write_in = self.sources_language if language is not None else None
        messages = answer_messages(sources, question, history, write_in=write_in)
        probe = self.llm.probe(messages, REFUSAL, question)
        p_refusal = probe.reply_probability
        asks_polar = probe.polar_probability is None or probe.polar_probability >= self.min_polar_opening
        messages = answer_messages(sources, question, history, write_in=write_in, refusal=False)
        script = script_of(" ".join(c.text for c in sources)) if language is not None else None
        t1 = time.perf_counter()
        best_case = max(self.calibration.probability(_log(p_refusal), supported, relevance, stated)
                        for supported in (0.0, 1.0) for relevance in (0.0, 1.0)
                        for stated in (STATED_CLIP, 1.0 - STATED_CLIP))
        if best_case < self.calibration.threshold:  # even a fully verified, relevant answer would not pass
            sure = self.calibration.abstention_probability(_log(p_refusal), 0.0, 0.0)
            yield self._abstain(query, hits, sure, {"probe_s": round(t1 - t0, 4)}, "the model would refuse")
            return
        pieces: list[str] = []
        first = None
        for piece in self.llm.stream_chat(messages, max_tokens=self.max_tokens, temperature=0.0,
                                          grammar=answer_grammar(script) if self.constrained else None):
            if first is None:
                first = time.perf_counter() - t0
            pieces.append(piece)
            if language is None:
                yield piece
        draft = "".join(pieces)
        t2 = time.perf_counter()
        asked_before = " ".join(t.question for t in history)
        decide = partial(self.decide, sources=sources, p_refusal=p_refusal, query=query, hits=hits,
                         language=language, question=question, asked_before=asked_before, polar=asks_polar)
        drafted = decide(draft)
        t3 = time.perf_counter()
        turned_draft, polar = (self._turn_polarity(draft, drafted, sources, question, query, asked_before, messages, script)
                               if asks_polar else (None, {}))
        turn_s = time.perf_counter() - t3  # the yes/no read, and the second draft when it disagreed
        if probe.polar_probability is not None:
            polar["polar_opening"] = round(probe.polar_probability, 4)
        answer = decide(turned_draft) if turned_draft is not None else None
        if answer is not None and (answer.abstained or answer.signals.get("supported", 0.0) < 1.0):
            log.info("kept the first draft: the turned one did not stand whole (%r)", turned_draft[:200])
            answer, polar = None, {**polar, "turned": 0.0}
        answer = answer or drafted
        checked = answer.timings.get("check_s", 0.0)  # decide's meaning check, timed apart from verification
        timings = {"probe_s": round(t1 - t0, 4), "first_token_s": round(first or 0.0, 4), "generate_s": round(t2 - t1, 4),
                   "verify_s": round(time.perf_counter() - t2 - checked - turn_s, 4), "turn_s": round(turn_s, 4),
                   **answer.timings}
        signals = {**answer.signals, **polar} if answer.signals else answer.signals
        yield Answer(**{**answer.__dict__, "timings": timings, "signals": signals})

    def _turn_polarity(self, reply: str, drafted: Answer, sources: Sequence[Candidate], question: str, query: str,
                       asked_before: str, messages: list[Message], script: str | None
                       ) -> tuple[str | None, dict[str, float]]:
        """A second draft opening with the other yes/no word, when the model's yes/no read of the question
        over the sentences the first draft's answer (`drafted`) rests on (`polar_messages`, `polar_threshold`;
        the sentence closest to `query` when nothing of it stands) disagrees with the draft's opening
        "Yes"/"No" — a "yes" also needs every quantity the question states to be one the sources state
        (compared by value, in any language: a "Yes" to "about 40 million?" when they say 4 million is a
        false premise); written anew, so the claim after it is the model's reading under that word, not the
        first draft's. It replaces the first only if all of it stands (`stream`): a turned draft that stands
        in part is a guess. Also the read's P(yes) (none without a lead). The sentences are the verified
        ones, not the draft's [n]: a small model's numbers often name a neighbour of the sentence it used."""
        lead = draft_lead(parse_draft(reply))
        if lead is None or self.polar_threshold <= 0.0 or not self.constrained:  # only a grammar can set the opening
            return None, {}
        where = {(c.doc_id, c.start): i for i, c in enumerate(sources)}
        cited = [where[c.doc_id, c.start] for c in drafted.citations if (c.doc_id, c.start) in where]
        if not cited:
            cited = [int(np.argmax(self._vectors(sources) @ self.embedder.encode([query])[0]))]
        p_yes = self.llm.yes_probability(polar_messages(sources, question, cited, asked_before))
        # a "yes" also affirms the quantities the question states: one no source states is a false premise
        premise = values_supported(question, " ".join(c.text for c in sources), bare_numerals=False)
        says_yes = polarity(lead) == "yes"
        if says_yes == (p_yes >= self.polar_threshold and premise):
            return None, {"polar_yes": round(p_yes, 4)}
        mark = lead[len(lead.rstrip(LEAD_ENDS + ".。")):] or ","
        opening = f"{turned(lead)}{mark}{'' if is_wide(mark[-1]) else ' '}"
        log.info("turned the draft's %r (the read's P(yes) %.2f against %.2f; the question's quantities %s)", lead, p_yes,
                 self.polar_threshold, "stated" if premise else "not stated")
        again = "".join(self.llm.stream_chat(messages, max_tokens=self.max_tokens, temperature=0.0,
                                             grammar=answer_grammar(script, opening=opening)))
        if polarity(draft_lead(parse_draft(again)) or "") != polarity(opening):  # a server that ignored the grammar
            return None, {"polar_yes": round(p_yes, 4)}
        return again, {"polar_yes": round(p_yes, 4), "turned": 1.0}

    def decide(self, reply: str, *, sources: Sequence[Candidate], p_refusal: float, query: str,
               hits: Sequence[Hit], language: str | None = None, question: str = "", asked_before: str = "",
               polar: bool = True) -> Answer:
        """The verified answer, or an abstention when the model refused, nothing stands, or the calibrated
        probability is below the threshold. The model is asked whether the cited sources state what stands
        (`check_messages`), or, when the question does not ask yes or no, whether the cited sentences with
        the ones before them answer it (`answered_messages`); its answer is one of the calibration's signals.
        An abstention's confidence is the calibration's chance that the sources hold no answer
        (`AnswerCalibration.abstention_probability`). A draft sentence in another script than the sources' is
        translated into their language to be checked. `language`: the one the question was asked in, when it
        is not the sources'; the checked answer is translated into it, with `question` (as asked) beside it.
        `asked_before`: the conversation's earlier questions. A claim after a "No" must state what the
        sources say instead of what was asked (`verify`), and what was asked includes what a follow-up's
        "it" names: "No, X does not have Y" to "Does it have Y?" after a question about X stands on nothing.
        `polar=False`: the question does not ask yes or no (`min_polar_opening`), so a yes/no opening is dropped,
        and a sentence that only restates the question answers nothing (`verify`'s `restating`)."""
        draft = parse_draft(reply) if polar else without_lead(parse_draft(reply))
        if draft.refused:
            sure = self.calibration.abstention_probability(_log(p_refusal), 0.0, 0.0)
            return self._abstain(query, hits, sure, {}, "the model found no answer")
        vectors = self._vectors(sources)
        qv = self.embedder.encode([query])[0]
        on_topic = None if self.min_topic <= 0.0 else topic_sources(
            [c.text for c in sources], query, self.min_topic, closeness=[float(c) for c in vectors @ qv],
            min_closeness=self.min_topic_meaning)
        verified = verify(draft, sources, self.embedder, vectors,
                          translate=lambda s: translate_statement(self.llm, s, self.sources_language),
                          question=f"{asked_before} {query}".strip(), on_topic=on_topic,
                          restating=None if polar else query)
        for v in verified:
            if not v.supported:
                log.info("dropped an unsupported answer sentence: %r", v.sentence)
        quoted = None
        if not any(v.supported and v.how != "lead" for v in verified):
            quoted = quoted_after_lead(draft, sources, self.embedder, vectors, min_score=self.min_quote_score,
                                       on_topic=on_topic, question=query)
            verified = quoted or verified
        text, used = cited_text(verified)
        if not used:  # how sure to be of abstaining: the calibration, with the meaning check not run (neither way)
            signals = features(p_refusal, verified, 0.0, 0.5)
            return self._abstain(query, hits, self.calibration.abstention_probability(*signals), {},
                                 "no sentence of the draft stands", signals=signals)
        relevance = max(float(vectors[i] @ qv) for i in used)
        t0 = time.perf_counter()
        check = (check_messages(sources, question or query, verified) if polar
                 else answered_messages(sources, query, verified, asked_before))
        p_stated = self.llm.yes_probability(check)
        checked = {"check_s": round(time.perf_counter() - t0, 4)}
        signals = features(p_refusal, verified, relevance, p_stated)
        p = self.calibration.probability(*signals)
        if p < self.calibration.threshold:
            log.info("abstaining: p=%.2f below %.2f (draft %r)", p, self.calibration.threshold, reply[:200])
            return self._abstain(query, hits, self.calibration.abstention_probability(*signals), checked,
                                 "below the threshold", signals=signals)
        if language is not None:
            text, used = cited_text(localize(verified, lambda s, q: translate_answer(self.llm, s, language, q,
                                                                                     self.sources_language), question))
        citations = tuple(Citation(sources[i].doc_id, sources[i].title, sources[i].start, sources[i].end,
                                   sources[i].text, round(float(vectors[i] @ qv), 4)) for i in used)
        return Answer(text=text, citations=citations, abstained=False, confidence=round(p, 4), mode=self.mode,
                      query=query, hits=tuple(hits), signals=_named(signals) | ({"quoted": 1.0} if quoted else {}),
                      timings=checked)

    def _vectors(self, sources: Sequence[Candidate]) -> np.ndarray:
        missing = [c.text for c in sources if c.text not in self.source_vectors]
        if missing:
            if len(self.source_vectors) > 50_000:
                self.source_vectors.clear()
            self.source_vectors.update(zip(missing, self.embedder.encode(missing)))
        return np.asarray([self.source_vectors[c.text] for c in sources])

    def _abstain(self, query: str, hits: Sequence[Hit], confidence: float, timings: dict[str, float], why: str,
                 *, signals: Signals | None = None) -> Answer:
        """An abstention; `confidence` is the chance that abstaining is right."""
        log.info("abstaining on %r: %s", query, why)
        return Answer(text=abstention_text(), abstained=True, confidence=round(min(max(confidence, 0.0), 1.0), 4), mode=self.mode,
                      query=query, hits=tuple(hits), timings=timings, signals=_named(signals) if signals else {})


def _named(signals: Signals) -> dict[str, float]:
    return dict(zip(("log_p_refusal", "supported", "relevance", "stated"), (round(s, 4) for s in signals)))

