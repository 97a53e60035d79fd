"""Question -> Hits: dense and BM25 search fused with reciprocal rank fusion."""

from __future__ import annotations

from collections.abc import Sequence

from .embedding import Embedder
from .index import Index
from .types import Hit


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of 1 / (k + rank), rank from 1.

    Ties keep the order in which ids were first seen, so the result is deterministic.
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


class Retriever:
    """Hybrid retrieval over an Index with a given Embedder."""

    def __init__(self, index: Index, embedder: Embedder, *, candidates: int = 30, rrf_k: int = 60):
        self.index = index
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k

    def search(self, query: str, k: int = 5) -> list[Hit]:
        qvec = self.embedder.encode([query])[0]
        dense = self.index.search_dense(qvec, self.candidates)
        lexical = self.index.search_lexical(query, self.candidates)
        dense_scores, lexical_scores = dict(dense), dict(lexical)
        fused = reciprocal_rank_fusion([[i for i, _ in dense], [i for i, _ in lexical]], k=self.rrf_k)
        return [
            Hit(
                chunk=self.index.chunks[i],
                score=score,
                dense_score=dense_scores.get(i),
                lexical_score=lexical_scores.get(i),
            )
            for i, score in fused[:k]
        ]
