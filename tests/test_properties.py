"""Properties (hypothesis) of the pure steps every answer passes through: rank fusion and citing."""

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from jmqa.draft import Verified, cited_text, parse_draft
from jmqa.grounding import MARKER
from jmqa.retrieval import reciprocal_rank_fusion

rankings = st.lists(st.lists(st.integers(0, 40), max_size=30, unique=True), max_size=4)
rrf_k = st.integers(1, 100)


@given(rankings, rrf_k)
def test_fusion_keeps_every_ranked_id_once_in_descending_score(lists, k):
    fused = reciprocal_rank_fusion(lists, k=k)
    ids = [i for i, _ in fused]
    assert len(ids) == len(set(ids)) and set(ids) == {i for ranking in lists for i in ranking}
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= len(lists) / (k + 1) + 1e-12 for s in scores)


@given(rankings, rrf_k)
def test_fusion_score_is_the_sum_of_reciprocal_ranks(lists, k):
    for item, score in reciprocal_rank_fusion(lists, k=k):
        expected = sum(1 / (k + r.index(item) + 1) for r in lists if item in r)
        assert math.isclose(score, expected)


@given(st.lists(st.integers(0, 100), max_size=30, unique=True), rrf_k)
def test_fusing_one_ranking_keeps_its_order(ranking, k):
    assert [i for i, _ in reciprocal_rank_fusion([ranking], k=k)] == ranking


@given(rankings, rrf_k)
def test_fusion_does_not_depend_on_the_order_of_the_rankings(lists, k):
    forward = dict(reciprocal_rank_fusion(lists, k=k))
    backward = dict(reciprocal_rank_fusion(list(reversed(lists)), k=k))
    assert forward.keys() == backward.keys()
    assert all(math.isclose(forward[i], backward[i]) for i in forward)


@given(st.lists(st.integers(0, 40), min_size=1, max_size=20, unique=True), st.integers(1, 3), rrf_k)
def test_an_id_first_in_every_ranking_is_fused_first(ranking, copies, k):
    fused = reciprocal_rank_fusion([ranking] * copies, k=k)
    assert fused[0][0] == ranking[0]


sentence = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=60).filter(
    lambda s: re.search(r"\w", s) is not None and not MARKER.search(s) and "[" not in s and "]" not in s)
checks = st.lists(st.builds(
    lambda s, src, ok: Verified(s.strip() or "x", (src,) if ok else (), ok, "checked" if ok else "unsupported"),
    sentence, st.integers(0, 5), st.booleans()), max_size=8)


@given(checks)
def test_cited_text_numbers_markers_in_order_of_first_use_and_keeps_only_supported_sentences(vs):
    text, used = cited_text(vs)
    supported = [v for v in vs if v.supported]
    assert len(used) == len(set(used)) and set(used) == {v.sources[0] for v in supported}
    markers = [int(m) for m in re.findall(r"\[(\d+)\]", text)]
    assert len(markers) == len(supported)
    assert [used[n - 1] for n in markers] == [v.sources[0] for v in supported]  # each marker names its own source
    assert list(dict.fromkeys(markers)) == list(range(1, len(used) + 1))
    prose = MARKER.sub("", text)  # a dropped sentence "1" must not be found in the marker "[1]"
    for v in vs:
        if not v.supported and all(v.sentence not in w.sentence for w in supported):
            assert v.sentence not in prose


@given(st.lists(st.tuples(st.from_regex(r"[A-Z][a-z]{2,8}( [a-z]{2,8}){0,5}", fullmatch=True),
                          st.lists(st.integers(1, 9), min_size=0, max_size=3)), min_size=1, max_size=6))
def test_a_draft_reads_back_what_was_written(parts):
    text = " ".join(f"{body}{' [' + ', '.join(map(str, ns)) + ']' if ns else ''}." for body, ns in parts)
    got = parse_draft(text).sentences
    said: set[str] = set()
    once = [ns for body, ns in parts if not (body.casefold() in said or said.add(body.casefold()))]
    assert [list(ns) for _, ns in got] == once  # a sentence said again word for word is said once
    assert all(not MARKER.search(s) and s.endswith(".") for s, _ in got)


@given(st.text(max_size=300))
def test_parse_draft_never_fails_and_never_keeps_markers(text):
    draft = parse_draft(text)
    assert draft.refused or draft.sentences
    for s, ns in draft.sentences:
        assert re.search(r"\w", s) and not MARKER.search(s)
        assert all(isinstance(n, int) for n in ns)
