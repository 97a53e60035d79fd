"""Hits + conversation -> a verified, cited Answer: the model reads enough of the retrieved text, writes the
answer with [n] markers in the sources' language, every sentence is checked against the sources, and what
stands is translated into the asker's language when that is another.

The flow is one way: `select_sources` (read enough, in document order) -> `answer_messages` (the prompt
template) -> the model's draft -> `parse_draft` -> `verify` (each sentence against the sentence it cites)
-> `check_messages` (the model asked whether the cited sources state what stands) -> the calibrated
decision (`AnswerCalibration`) -> `localize` (the checked sentences in the asker's language). Nothing here
knows a question form or a language: the model is told the forms in the prompt template, and verification
compares scripts, numbers and meaning.
"""

from __future__ import annotations

import logging
import math
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources

import numpy as np

from .abstention import abstention_text
from .calibration import STATED_CLIP, AnswerCalibration
from .embedding import Embedder
from .chunking import split_sentences
from .evidence import Candidate, candidate_sentences
from .grounding import MARKER, check_sentence, values_supported
from .llm import LLM, Message
from .multilingual import translate_answer, translate_statement
from .polar import opens_with_polar_word
from .types import Answer, Citation, Document, Hit, Turn

log = logging.getLogger(__name__)

REFUSAL = "NOT FOUND"  # the model's whole reply when the sources do not answer (the template says so)


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


def answer_grammar(script: str | None = None) -> str:
    """The GBNF form of an answer (prompts/answer.gbnf): statements each closed by its source's number;
    with `script` (one of SCRIPT_RANGES), the answer starts with a letter of that script or a digit."""
    grammar = prompt_template("answer.gbnf")
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
    word overlap cannot: "eastern" for "western", or a neighbouring fact offered for what was asked."""
    answer, _ = cited_text(verified, renumber=False)
    ask = prompt_template("check.txt").format(question=question, answer=answer)
    return [answer_messages(sources, question)[0], {"role": "user", "content": ask}]


def _new_doc(sources: Sequence[Candidate], i: int) -> bool:
    return i == 1 or sources[i - 2].doc_id != sources[i - 1].doc_id


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- the draft and its verification


@dataclass(frozen=True)
class Draft:
    """The model's reply, read: a refusal, or sentences each with the source numbers it cites (1-based)."""

    refused: bool
    sentences: tuple[tuple[str, tuple[int, ...]], ...] = ()


def parse_draft(text: str, *, lead_units: int = 2) -> Draft:
    """The reply's sentences, each with the source numbers its [n] markers name (a marker just after a
    full stop belongs to the sentence before it). A reply that starts with the refusal is a refusal. A
    first clause of at most `lead_units` words before a comma that opens with a yes/no word ("Yes, …",
    "No, …", "是的，…"; `polar`) is a lead of its own: verification checks the claim after it, and the lead
    stands only if that claim does."""
    body = text.strip()
    if body.upper().startswith(REFUSAL) or not body:
        return Draft(True)
    body = re.sub(r"([.!?。！？])((?:\s*\[\d+(?:\s*,\s*\d+)*\])+)", r"\2\1", body)  # "… end. [2]" -> "… end [2]."
    sentences = []
    for span in split_sentences(body):
        raw = body[span.start:span.end]
        cited = tuple(int(n) for m in MARKER.finditer(raw) for n in re.split(r"\s*,\s*", m.group(1)))
        sentence = " ".join(MARKER.sub("", raw).split())
        lead = _LEAD.match(sentence) if not sentences else None
        if (lead and 1 <= _units(lead.group(1)) <= lead_units and _units(sentence[lead.end():]) > lead_units
                and _may_lead(lead.group(1))):  # "Chemicals, shipbuilding, …" is one claim
            sentences.append((lead.group(0).strip(), ()))  # "Yes, …" / "是的，…": the lead is not a claim of its own
            sentence = sentence[lead.end():]
        if any(ch.isalnum() for ch in sentence):
            sentences.append((sentence, cited))
    return Draft(not sentences, tuple(sentences))


def _may_lead(text: str) -> bool:
    """Whether uncited text can lead a claim: it opens with a yes/no word, and holds no number (a claim)."""
    return opens_with_polar_word(text) and not any(ch.isdigit() for ch in text)


_LEAD_ENDS = ",，:：;；"
_LEAD = re.compile(rf"^([^{_LEAD_ENDS}]+)[{_LEAD_ENDS}]\s*")  # the answer's first clause, up to its first comma or colon


def script_of(text: str) -> str:
    """The writing system most of the text's letters belong to ("LATIN", "CJK", "CYRILLIC", ...)."""
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            script = name.split()[0] if name else "OTHER"
            counts[script] = counts.get(script, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else ""


@dataclass(frozen=True)
class Verified:
    """One answer sentence after checking: the sources (0-based) it rests on, and whether it stands."""

    sentence: str
    sources: tuple[int, ...]
    supported: bool
    how: str  # "checked" (words and meaning), "translated" (so, in the sources' language), "cited" (another
    # script, no translator: its citation and numbers), "lead", "unsupported"


def verify(draft: Draft, sources: Sequence[Candidate], embedder: Embedder, source_vectors: np.ndarray, *,
           translate: Callable[[str], str] | None = None, min_lexical: float = 0.75, min_semantic: float = 0.6,
           min_translated_meaning: float = 0.75, lead_units: int = 3) -> list[Verified]:
    """Check every sentence of the draft against the sources.

    A sentence must be backed by a source sentence (its words and numbers, or its meaning;
    `grounding.check_sentence`): the ones it cites when they back it, else the one backing it best. A
    sentence in another script than the sources', with `translate` (into the sources' language), is checked
    in translation by the same rules, and its own numbers by value; as a translation rewords, one close
    enough in meaning (`min_translated_meaning`) stands on fewer shared words. Without one, a sentence in another script than the sources'
    can only be held to citing a real source that holds its numbers. A very short sentence with no
    citation that opens with a yes/no word ("Yes.", `polar`) leads the sentence after it and stands if that
    one does; any other ("PWNED.") is checked like every claim.
    """
    sources_script = script_of(" ".join(c.text for c in sources))
    texts = [c.text for c in sources]
    leads = [not _valid(cited, len(sources)) and _units(sentence) <= lead_units and _may_lead(sentence)
             for sentence, cited in draft.sentences]
    checked: dict[int, str] = {}  # sentence number -> the text checked word by word
    for n, (sentence, _) in enumerate(draft.sentences):
        if leads[n]:
            continue
        if script_of(sentence) in ("", sources_script):
            checked[n] = sentence
        elif translate is not None:
            checked[n] = translate(sentence)
    to_embed = [t for t in checked.values() if t]
    vectors = dict(zip((n for n, t in checked.items() if t), embedder.encode(to_embed))) if to_embed else {}
    out: list[Verified] = []
    for n, (sentence, cited) in enumerate(draft.sentences):
        if leads[n]:
            out.append(Verified(sentence, (), True, "lead"))
            continue
        valid = _valid(cited, len(sources))
        if not valid:  # a marker cites what was written since the last one: "A. B. [3]" cites A too
            valid = next((v for v in (_valid(c, len(sources)) for _, c in draft.sentences[n + 1:]) if v), ())
        if n in vectors:
            pool = list(valid) + [i for i in range(len(sources)) if i not in valid]
            checks = [(i, check_sentence(checked[n], vectors[n], [texts[i]], source_vectors[i : i + 1],
                                         min_lexical=min_lexical, min_semantic=min_semantic)) for i in pool]
            translated = checked[n] != sentence
            backing = [(i, c) for i, c in checks
                       if c.supported or (translated and c.numbers_ok and c.semantic >= min_translated_meaning)]
            cited_backing = [i for i, _ in backing if i in valid]
            # the sources it cites that back it, else the one that backs it best
            best = cited_backing or [max(backing, key=lambda ic: ic[1].score)[0]] if backing else []
            if best and translated:  # its own numbers, by value
                best = best if values_supported(sentence, " ".join(texts[i] for i in best)) else []
            how = "translated" if translated else "checked"
            out.append(Verified(sentence, tuple(best), bool(best), how if best else "unsupported"))
        elif n in checked:  # the translation failed
            out.append(Verified(sentence, (), False, "unsupported"))
        else:
            ok = bool(valid) and values_supported(sentence, " ".join(texts[i] for i in valid))
            out.append(Verified(sentence, valid, ok, "cited" if ok else "unsupported"))
    # a lead stands only before a supported sentence
    for i, v in enumerate(out):
        if v.how == "lead" and not any(w.supported and w.how != "lead" for w in out[i + 1 :]):
            out[i] = Verified(v.sentence, (), False, "unsupported")
    return out


QUESTION_MARKS = "?？؟"


def localize(verified: Sequence[Verified], translate: Callable[[str, str], str], question: str = "") -> list[Verified]:
    """The supported sentences in the asker's language: `translate(sentence, question)` gives each one,
    with the question it answers beside it, and alone when that translation is not usable (a lead such as
    "Yes," is translated alone). A translation is usable if it is still a statement (not a question) and
    states no quantity the checked sentence does not (compared by value); with none, the checked sentence
    stays, in the sources' language."""
    out: list[Verified] = []
    for v in verified:
        if not v.supported:
            out.append(v)
            continue
        contexts = ("",) if v.how == "lead" or not question else (question, "")
        local = next((t for t in (translate(v.sentence, c) for c in contexts) if _translates(t, v.sentence)), "")
        if local:
            out.append(replace(v, sentence=local))
        else:
            log.info("kept the checked sentence %r untranslated", v.sentence)
            out.append(v)
    return out


def _translates(local: str, checked: str) -> bool:
    """A usable translation: still a statement, and no quantity the checked sentence does not state."""
    if not local.strip():
        return False
    asks = local.rstrip()[-1] in QUESTION_MARKS and checked.rstrip()[-1] not in QUESTION_MARKS
    return not asks and values_supported(local, checked, bare_numerals=False)


def _valid(cited: Sequence[int], n_sources: int) -> tuple[int, ...]:
    """The cited source numbers that exist, as 0-based indices, each once."""
    return tuple(dict.fromkeys(i - 1 for i in cited if 1 <= i <= n_sources))


def _units(text: str) -> int:
    """Words, counting each CJK character as one (a language-neutral length)."""
    return sum(1 if not _is_wide(w) else len(w) for w in re.findall(r"\w+", text))


def _is_wide(word: str) -> bool:
    return any(unicodedata.east_asian_width(ch) in "WF" for ch in word)


def cited_text(verified: Sequence[Verified], *, renumber: bool = True) -> tuple[str, list[int]]:
    """The supported sentences, each followed by its markers renumbered by first use, and the source
    indices those markers point to (marker n -> sources[used[n-1]]). `renumber=False`: the markers are the
    sources' own numbers (source i is [i + 1])."""
    used: list[int] = []
    parts = []
    for v in verified:
        if not v.supported:
            continue
        for i in v.sources:
            if i not in used:
                used.append(i)
        body = v.sentence
        if v.how == "lead" and body[-1] in _LEAD_ENDS:  # "Yes," runs on into the claim after it
            parts.append(body)
            continue
        end = body[-1] if body[-1] in ".!?。！？" else ("。" if _is_wide(body[-1]) else ".")
        body = body[:-1] if body[-1] in ".!?。！？" else body
        markers = "".join(f" [{(used.index(i) if renumber else i) + 1}]" for i in v.sources)
        parts.append(f"{body}{markers}{end}")
    text = ""
    for part in parts:  # no space between two sentences in a script written without spaces
        text += part if not text or (_is_wide(text[-1]) and _is_wide(part[0])) else f" {part}"
    return text, used


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
        p_refusal = self.llm.probe(messages, REFUSAL, question).reply_probability
        messages = answer_messages(sources, question, history, write_in=write_in, refusal=False)
        script = script_of(" ".join(c.text for c in sources)) if language is not None else None
        t1 = time.perf_counter()
        best_case = max(self.calibration.probability(_log(p_refusal), supported, relevance, stated)
                        for supported in (0.0, 1.0) for relevance in (0.0, 1.0)
                        for stated in (STATED_CLIP, 1.0 - STATED_CLIP))
        if best_case < self.calibration.threshold:  # even a fully verified, relevant answer would not pass
            yield self._abstain(query, hits, 1.0 - best_case, {"probe_s": round(t1 - t0, 4)}, "the model would refuse")
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
        t2 = time.perf_counter()
        answer = self.decide("".join(pieces), sources, p_refusal, query=query, hits=hits, language=language,
                             question=question)
        checked = answer.timings.get("check_s", 0.0)  # decide's meaning check, timed apart from verification
        timings = {"probe_s": round(t1 - t0, 4), "first_token_s": round(first or 0.0, 4), "generate_s": round(t2 - t1, 4),
                   "verify_s": round(time.perf_counter() - t2 - checked, 4), **answer.timings}
        yield Answer(**{**answer.__dict__, "timings": timings})

    def decide(self, reply: str, sources: Sequence[Candidate], p_refusal: float, *, query: str,
               hits: Sequence[Hit], language: str | None = None, question: str = "") -> Answer:
        """The verified answer, or an abstention when the model refused, nothing stands, or the calibrated
        probability is below the threshold. The model is asked whether the cited sources state what stands
        (`check_messages`); its answer is one of the calibration's signals. A draft sentence in another script than the sources' is
        translated into their language to be checked. `language`: the one the question was asked in, when it
        is not the sources'; the checked answer is translated into it, with `question` (as asked) beside it."""
        draft = parse_draft(reply)
        if draft.refused:
            p = self.calibration.probability(_log(p_refusal), 0.0, 0.0)
            return self._abstain(query, hits, 1.0 - p, {}, "the model found no answer")
        vectors = self._vectors(sources)
        verified = verify(draft, sources, self.embedder, vectors,
                          translate=lambda s: translate_statement(self.llm, s, self.sources_language))
        for v in verified:
            if not v.supported:
                log.info("dropped an unsupported answer sentence: %r", v.sentence)
        text, used = cited_text(verified)
        if not used:
            return self._abstain(query, hits, 0.5, {}, "no sentence of the draft stands",
                                 signals=features(p_refusal, verified, 0.0, 0.0))
        qv = self.embedder.encode([query])[0]
        relevance = max(float(vectors[i] @ qv) for i in used)
        t0 = time.perf_counter()
        p_stated = self.llm.yes_probability(check_messages(sources, question or query, verified))
        checked = {"check_s": round(time.perf_counter() - t0, 4)}
        signals = features(p_refusal, verified, relevance, p_stated)
        p = self.calibration.probability(*signals)
        if p < self.calibration.threshold:
            log.info("abstaining: p=%.2f below %.2f (draft %r)", p, self.calibration.threshold, reply[:200])
            return self._abstain(query, hits, 1.0 - p, checked, "below the threshold", signals=signals)
        if language is not None:
            text, used = cited_text(localize(verified, lambda s, q: translate_answer(self.llm, s, language, q,
                                                                                     self.sources_language), question))
        citations = tuple(Citation(sources[i].doc_id, sources[i].title, sources[i].start, sources[i].end,
                                   sources[i].text, round(float(vectors[i] @ qv), 4)) for i in used)
        return Answer(text=text, citations=citations, abstained=False, confidence=round(p, 4), mode=self.mode,
                      query=query, hits=tuple(hits), signals=_named(signals), timings=checked)

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

