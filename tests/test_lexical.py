import bm25s
import pytest

from jmqa.lexical import LexicalIndex, tokenize

TEXTS = [
    "Jiangmen is dubbed the Capital of Overseas Chinese.",
    "The Kaiping towers were built by returning overseas Chinese families.",
    "Xinhui port handles container traffic and port logistics for western Guangdong.",
    "Enping has hot springs; the springs draw visitors from Guangzhou and Macao.",
    "Rail transit equipment, new energy vehicles and ships make up the equipment manufacturing industry.",
    "Hong Kong and Macao are major sources of investment for Jiangmen.",
]
QUERIES = ["overseas Chinese", "port logistics", "hot springs visitors", "equipment manufacturing ships",
           "investment from Hong Kong", "Chinese Chinese towers"]


def bm25s_ranking(texts: list[str], query: str, n: int) -> list[tuple[int, float]]:
    reference = bm25s.BM25()
    reference.index(tokenize(texts), show_progress=False)
    terms = [t for t in tokenize([query])[0] if t in reference.vocab_dict]
    ids, scores = reference.retrieve([terms], k=n, show_progress=False, n_threads=1)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if s > 0]


@pytest.mark.parametrize("query", QUERIES)
def test_scores_are_bm25s_lucene_scores(query):
    ours = LexicalIndex.build(TEXTS).search(query, 3)
    reference = bm25s_ranking(TEXTS, query, 3)
    assert [i for i, _ in ours] == [i for i, _ in reference]
    assert [s for _, s in ours] == pytest.approx([s for _, s in reference], rel=1e-5)


def test_an_updated_index_equals_one_built_from_scratch():
    first = LexicalIndex.build(TEXTS[:4])
    new_texts = [TEXTS[4], TEXTS[5]]
    # keep rows 3, 0, 2 (row 1 is removed), with the two new texts between them
    updated = first.updated([3, None, 0, 2, None], new_texts)
    expected = LexicalIndex.build([TEXTS[3], TEXTS[4], TEXTS[0], TEXTS[2], TEXTS[5]])
    for query in QUERIES:
        assert updated.search(query, 5) == expected.search(query, 5)
    assert len(updated) == 5


def test_a_removed_row_is_never_found_again():
    index = LexicalIndex.build(TEXTS).updated([0, 2, 3, 4, 5], [])
    assert index.search("Kaiping towers", 5) == []


def test_ties_are_ranked_by_row_and_n_limits_the_results():
    index = LexicalIndex.build(["port", "port", "port", "harbour"])
    assert [i for i, _ in index.search("port", 2)] == [0, 1]


def test_a_query_of_unknown_or_stop_words_finds_nothing():
    index = LexicalIndex.build(TEXTS)
    assert index.search("zzz qqq", 5) == []
    assert index.search("the and of", 5) == []
    assert LexicalIndex.build([]).search("port", 5) == []


def test_save_and_load_give_the_same_results(tmp_path):
    index = LexicalIndex.build(TEXTS)
    index.save(tmp_path / "lexical")
    assert LexicalIndex.saved_in(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")
    for query in QUERIES:
        assert loaded.search(query, 4) == index.search(query, 4)
