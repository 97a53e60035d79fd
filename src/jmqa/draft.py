"""The model's draft, read and checked: `parse_draft` (sentences and the sources each cites, a yes/no lead
apart) -> `verify` (each sentence against the sources: words, numbers, meaning; in translation when written
in another script) -> `quoted_after_lead` (a yes/no answer whose own wording did not stand rests on the
closest source sentence) -> `localize` (what stands, in the asker's language) -> `cited_text` (the answer
with its [n] markers). Pure functions over text, sources and their vectors: no model is called here.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .chunking import split_sentences
from .embedding import Embedder
from .evidence import Candidate, stem, words
from .grounding import (
    MARKER,
    SupportCheck,
    backs,
    check_sentence,
    content_words,
    topic_words,
    values_supported,
)
from .polar import is_bare, opens_with_polar_word, polarity

log = logging.getLogger(__name__)

REFUSAL = "NOT FOUND"  # the model's whole reply when the sources do not answer (the template says so)


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
    stands only if that claim does. A sentence said before, word for word, is said once."""
    body = text.strip()
    if body.upper().startswith(REFUSAL) or not body:
        return Draft(True)
    body = re.sub(r"[\s,，;；]*\[[^\]]*$", "", body)  # a marker the token limit cut off
    body = _MARKER_RUN.sub(lambda m: f"[{', '.join(re.findall('[0-9]+', m.group(0)))}]", body)  # "[1], [2]" -> "[1, 2]"
    body = re.sub(r"([.!?。！？])((?:\s*\[\d+(?:\s*,\s*\d+)*\])+)", r"\2\1", body)  # "… end. [2]" -> "… end [2]."
    sentences = []
    for span in split_sentences(body):
        raw = body[span.start:span.end]
        cited = tuple(int(n) for m in MARKER.finditer(raw) for n in re.split(r"\s*,\s*", m.group(1)))
        sentence = re.sub(r"([.!?。！？])[\s,，;；]+$", r"\1", " ".join(MARKER.sub("", raw).split()))  # "end. [1],"
        lead = _LEAD.match(sentence) if not sentences else None
        if (lead and 1 <= _units(lead.group(1)) <= lead_units and _units(sentence[lead.end():]) > lead_units
                and _may_lead(lead.group(1))):  # "Chemicals, shipbuilding, …" is one claim
            sentences.append((lead.group(0).strip(), ()))  # "Yes, …" / "是的，…": the lead is not a claim of its own
            sentence = sentence[lead.end():]
        said = any(sentence.casefold() == earlier.casefold() for earlier, _ in sentences)  # a model that loops
        if any(ch.isalnum() for ch in sentence) and not said:
            sentences.append((sentence, cited))
    return Draft(not sentences, tuple(sentences))


_MARKER_RUN = re.compile(r"\[\d+(?:\s*,\s*\d+)*\](?:[\s,，;；]*\[\d+(?:\s*,\s*\d+)*\])+")


def _may_lead(text: str) -> bool:
    """Whether uncited text can lead a claim: it opens with a yes/no word, and holds no number (a claim)."""
    return opens_with_polar_word(text) and not any(ch.isdigit() for ch in text)


LEAD_ENDS = ",，:：;；"
_LEAD = re.compile(rf"^([^{LEAD_ENDS}]+)[{LEAD_ENDS}]\s*")  # the answer's first clause, up to its first comma or colon


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
    # script, no translator: its citation and numbers), "lead", "quoted" (a source sentence as it stands),
    # "unsupported"


def verify(draft: Draft, sources: Sequence[Candidate], embedder: Embedder, source_vectors: np.ndarray, *,
           translate: Callable[[str], str] | None = None, question: str = "", on_topic: Sequence[int] | None = None,
           restating: str | None = None, min_lexical: float = 0.75, min_semantic: float = 0.6,
           min_translated_meaning: float = 0.75, min_pair_share: float = 0.4, lead_units: int = 3) -> list[Verified]:
    """Check every sentence of the draft against the sources.

    A sentence must be backed by a source sentence (its words and numbers, or its meaning;
    `grounding.check_sentence`): the ones it cites when they back it, else the one backing it best; when
    none does alone, two neighbouring sentences of one document that together hold its words (`neighbours`:
    a list that runs on into the next sentence), if the sentence takes at least `min_pair_share` of each one's
    content words: one that takes a word or two of a sentence beside its own ("the harbour's mainstays are"
    + the list of the city's trades) mixes two claims. A sentence in another script than the sources', with
    `translate` (into the sources' language), is checked in translation by the same rules, and its own
    numbers by value; as a translation rewords, one close enough in meaning (`min_translated_meaning`) stands
    on fewer shared words — but not a claim after a "No": closeness of meaning does not see a negation.
    Without one, a sentence in another script than the sources' can only be held to citing a real source
    that holds its numbers. A very short sentence with no citation that opens with a yes/no word ("Yes.", `polar`) leads the sentence after it and stands if that
    one does; any other ("PWNED.") is checked like every claim. The claims after a "No" lead must state
    what the sources say instead: the words they share with `question` (in the sources' language) are not
    counted, so "No, X is not Y" to "Is X Y?" — the question negated, which the sources' "X is Y" would
    otherwise back word for word — has nothing left to stand on, whatever the language's word for "not".
    A yes/no answer affirms or denies what was asked, so the claims after a lead stand only on the
    sources `on_topic` (all when None), those that speak of it (`topic_sources`): "No, it has no
    international airport" does not rest on a sentence about its port. `restating`: the question, when it
    does not ask yes or no (in the sources' language). What a sentence answers is what it adds to the
    question, so those words must be backed on their own too ("Why is it called X?" -> "It is called X
    because of Y" must stand on Y, not on "called X" copied from the question); a sentence with no content
    word the question lacks only restates it ("Which of its sectors make ships?" -> "Its sectors make
    ships."): it is checked whole, and stands only beside a sentence that answers.
    """
    sources_script = script_of(" ".join(c.text for c in sources))
    texts = [c.text for c in sources]
    leads = [_is_lead(sentence, _valid(cited, len(sources)), lead_units) for sentence, cited in draft.sentences]
    denies = polarity(draft_lead(draft, lead_units=lead_units) or "") == "no"
    eligible = set(range(len(sources)) if on_topic is None or not any(leads) else on_topic)
    checked: dict[int, str] = {}  # sentence number -> the text checked word by word
    for n, (sentence, _) in enumerate(draft.sentences):
        if leads[n]:
            continue
        if script_of(sentence) in ("", sources_script):
            checked[n] = sentence
        elif translate is not None:
            checked[n] = translate(sentence)
    # a sentence that only restates a question that does not ask yes or no is checked whole; any other, on the
    # words it adds to the question
    restates = {n: restating is not None and adds_nothing(t, restating) for n, t in checked.items()}
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
        valid = tuple(i for i in valid if i in eligible)
        if n in vectors:
            pool = list(valid) + [i for i in range(len(sources)) if i not in valid and i in eligible]
            translated = checked[n] != sentence

            def check(group: Sequence[int]) -> SupportCheck:  # the sentence against these sources read together
                def against(asked: str) -> SupportCheck:
                    return check_sentence(checked[n], vectors[n], [" ".join(texts[i] for i in group)],
                                          _joined(source_vectors, group), question=asked,
                                          min_lexical=min_lexical, min_semantic=min_semantic)

                whole = against(question if denies else "")
                if restating is None or restates[n]:
                    return whole
                added = against(restating).lexical  # backed whole, and by the words it adds to the question
                return replace(whole, lexical=min(whole.lexical, added), supported=whole.supported and backs(
                    added, whole.semantic, min_lexical=min_lexical, min_semantic=min_semantic))

            def stands(c: SupportCheck, *, by_words: bool = False) -> bool:  # a denial's meaning is no backing:
                # "X has not done Y yet" is as close to "X plans Y" as "X has done Y" is
                return ((c.numbers_ok and c.lexical >= min_lexical) if by_words else c.supported) or (
                    translated and not denies and c.numbers_ok and c.semantic >= min_translated_meaning)

            backing = [((i,), c) for i in pool if stands(c := check((i,)))]
            if not backing:  # a list may run on into the next sentence ("The core … are A, B. Apart from them, C, D
                # …"): two neighbours read together must hold its words, as a joined text is close to more claims
                backing = [(pair, c) for pair in neighbours(sources, eligible)
                           if stands(c := check(pair), by_words=True)
                           and min(word_share(checked[n], texts[i]) for i in pair) >= min_pair_share]
            cited_backing = [i for pair, _ in backing for i in pair if i in valid and len(pair) == 1]
            # the sources it cites that back it, else the one (or the two neighbours) that back it best
            best = cited_backing or list(max(backing, key=lambda ic: ic[1].score)[0]) if backing else []
            if best and translated:  # its own numbers, by value
                best = best if values_supported(sentence, " ".join(texts[i] for i in best)) else []
            how = "translated" if translated else "checked"
            out.append(Verified(sentence, tuple(best), bool(best), how if best else "unsupported"))
        elif n in checked:  # the translation failed
            out.append(Verified(sentence, (), False, "unsupported"))
        else:
            ok = bool(valid) and values_supported(sentence, " ".join(texts[i] for i in valid))
            out.append(Verified(sentence, valid, ok, "cited" if ok else "unsupported"))
    # a restatement of the question stands only beside a sentence that answers it
    if not any(v.supported and v.how != "lead" and not restates.get(i) for i, v in enumerate(out)):
        out = [Verified(v.sentence, (), False, "unsupported") if restates.get(i) else v for i, v in enumerate(out)]
    # a lead stands only before a supported sentence
    for i, v in enumerate(out):
        if v.how == "lead" and not any(w.supported and w.how != "lead" for w in out[i + 1 :]):
            out[i] = Verified(v.sentence, (), False, "unsupported")
    return out


def word_share(sentence: str, source: str) -> float:
    """The share of the source's content words (same stem) that the sentence holds."""
    own = {stem(w) for w in content_words(source)}
    return len(own & {stem(w) for w in content_words(sentence)}) / len(own) if own else 0.0


def adds_nothing(sentence: str, question: str) -> bool:
    """The sentence has content words, and every one is (by stem) a word of the question."""
    said = [stem(w) for w in content_words(sentence)]
    return bool(said) and set(said) <= {stem(w) for w in words(question)}


def neighbours(sources: Sequence[Candidate], eligible: set[int]) -> list[tuple[int, int]]:
    """Pairs of sources that follow one another in the same document (sources are in document order)."""
    return [(i, i + 1) for i in range(len(sources) - 1)
            if i in eligible and i + 1 in eligible and sources[i].doc_id == sources[i + 1].doc_id]


def _joined(vectors: np.ndarray, pair: Sequence[int]) -> np.ndarray:
    """The direction of several sources together: their vectors' normalised sum, as a 1-row matrix."""
    v = vectors[list(pair)].sum(axis=0)
    return (v / (np.linalg.norm(v) or 1.0))[None, :]


def quoted_after_lead(draft: Draft, sources: Sequence[Candidate], embedder: Embedder, source_vectors: np.ndarray,
                      *, min_score: float = 0.5, on_topic: Sequence[int] | None = None,
                      question: str = "") -> list[Verified] | None:
    """A yes/no answer whose own wording did not stand ("No, the Greeks did not found it": a
    negation no source states), as its lead and the source sentence that comes closest to backing that
    wording (`grounding.check_sentence`: shared words and meaning, its numbers held), quoted: "No. <the
    sentence> [1]." — the sentence a small model's [n] names is often a neighbour. Only the sources
    `on_topic` (all when None), those that speak of what was asked (`topic_sources`), are quoted. A bare
    lead ("No.") has no wording of its own: the sentence closest to `question` (what was asked, in the
    sources' language) is quoted — a small model's "No." to "Is it in the east?" is right when the sources
    say where it is — and a bare "Yes." only on a sentence that states what was asked (`check_sentence`
    finds it backed). None when the draft has no lead, or nothing to compare, or no such sentence scores
    `min_score`."""
    lead = draft_lead(draft)
    claims = " ".join(sentence for sentence, _ in draft.sentences[1:])
    bare = not claims
    claims = claims or question.strip()
    if lead is None or not claims or not len(sources):
        return None
    eligible = list(range(len(sources)) if on_topic is None else on_topic)
    if not eligible:
        return None
    best = check_sentence(claims, embedder.encode([claims])[0], [sources[i].text for i in eligible],
                          source_vectors[eligible])
    if best.source < 0 or best.score < min_score or (bare and polarity(lead) == "yes" and not best.supported):
        return None
    best = replace(best, source=eligible[best.source])
    word = lead.rstrip(LEAD_ENDS + ".。 ")
    lead = word + ("。" if is_wide(word[-1]) else ".")
    return [Verified(lead, (), True, "lead"), Verified(sources[best.source].text, (best.source,), True, "quoted")]


def topic_sources(texts: Sequence[str], topic: str, min_topic: float, *, closeness: Sequence[float] = (),
                  min_closeness: float = 1.0, spare: int = 1) -> list[int]:
    """The sources that speak of what was asked: those holding at least `min_topic` of the content words of
    `topic` (`grounding.topic_words`) but `spare` of them — a "No" may state something else in place of
    one asked word ("western" for "eastern", France for Italy); the question's other words it must speak
    of — or close to it in meaning (`closeness`, each source's cosine with `topic`, at least
    `min_closeness`: a question that words it otherwise, or that was translated). All of them when the
    question has no more words than `spare`."""
    eligible = []
    for i, text in enumerate(texts):
        held, asked = topic_words(topic, text)
        close = i < len(closeness) and closeness[i] >= min_closeness
        if asked <= spare or held >= min_topic * (asked - spare) or close:
            eligible.append(i)
    return eligible


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
    return sum(1 if not is_wide(w) else len(w) for w in re.findall(r"\w+", text))


def is_wide(word: str) -> bool:
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
        if v.how == "lead" and body[-1] in LEAD_ENDS:  # "Yes," runs on into the claim after it
            parts.append(body)
            continue
        end = body[-1] if body[-1] in ".!?。！？" else ("。" if is_wide(body[-1]) else ".")
        body = body[:-1] if body[-1] in ".!?。！？" else body
        markers = "".join(f" [{(used.index(i) if renumber else i) + 1}]" for i in v.sources)
        parts.append(f"{body}{markers}{end}")
    text = ""
    for part in parts:  # no space between two sentences in a script written without spaces
        text += part if not text or (is_wide(text[-1]) and is_wide(part[0])) else f" {part}"
    return text, used


def draft_lead(draft: Draft, *, lead_units: int = 3) -> str | None:
    """The yes/no word or clause the draft opens with, uncited ("Yes,", "No.", "是的，"); None without one."""
    if draft.refused or not draft.sentences:
        return None
    sentence, cited = draft.sentences[0]
    return sentence if _is_lead(sentence, cited, lead_units) else None


def without_lead(draft: Draft, *, lead_units: int = 3) -> Draft:
    """The draft without its yes/no opening (`draft_lead`), for a question that does not ask yes or no."""
    if draft_lead(draft, lead_units=lead_units) is None:
        return draft
    rest = draft.sentences[1:]
    if rest:  # "Yes, the city is …" -> "The city is …"
        (first, cited), *others = rest
        rest = ((first[:1].upper() + first[1:], cited), *others)
    return Draft(not rest, tuple(rest))


def _is_lead(sentence: str, cited: Sequence[int], lead_units: int) -> bool:
    """A lead: uncited, at most `lead_units` words, opening with a yes/no word (`_may_lead`) — or a yes/no
    word alone, cited or not: "No [3]." states nothing but its side, its marker only where it would rest."""
    return (not cited or is_bare(sentence)) and _units(sentence) <= lead_units and _may_lead(sentence)
