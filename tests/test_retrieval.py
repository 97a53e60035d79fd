from jmqa.index import Index
from jmqa.ingest import load_corpus
from jmqa.retrieval import Retriever, reciprocal_rank_fusion

from .conftest import SOURCE_CORPUS


def test_rrf_rewards_items_ranked_high_by_both_lists():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    assert [i for i, _ in fused] == [1, 3, 2, 4]
    assert fused[0][1] == 1 / 61 + 1 / 62


def test_rrf_of_one_list_keeps_its_order_and_empty_lists_are_fine():
    assert [i for i, _ in reciprocal_rank_fusion([[5, 4, 3]])] == [5, 4, 3]
    assert reciprocal_rank_fusion([[], []]) == []
    assert [i for i, _ in reciprocal_rank_fusion([[], [7]])] == [7]


def test_rrf_smaller_k_weighs_top_ranks_more():
    a = dict(reciprocal_rank_fusion([[1, 2]], k=1))
    b = dict(reciprocal_rank_fusion([[1, 2]], k=100))
    assert a[1] / a[2] > b[1] / b[2]


def test_hits_carry_fused_dense_and_lexical_scores(fake_embedder):
    index = Index.build(load_corpus(SOURCE_CORPUS), fake_embedder, chunk_size=400, chunk_overlap=0)
    hits = Retriever(index, fake_embedder).search("core industries electricals textile", k=3)
    assert len(hits) == 3
    assert "core industries" in hits[0].chunk.text
    assert hits[0].dense_score is not None and hits[0].lexical_score is not None
    assert hits[0].score >= hits[1].score >= hits[2].score
