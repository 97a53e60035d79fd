"""BM25 over chunk texts, kept as a sparse term-frequency matrix (row i = chunk i).

Scores are computed at query time from the term counts (Lucene's BM25, as bm25s scores it), so an
update tokenizes only the chunks that are new: the rows of kept chunks are copied, and the collection
statistics (document frequencies, average length) follow from the matrix. bm25s instead stores
precomputed scores, which depend on every chunk and so must all be rebuilt when one chunk changes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

K1 = 1.5
B = 0.75
_MATRIX = "tf.npz"
_VOCAB = "vocab.json"


def _stemmer() -> Any:
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:  # works without it, only less well on inflections
        return None


def tokenize(texts: list[str]) -> list[list[str]]:
    """BM25 terms of each text: lower-cased words, English stopwords out, stemmed."""
    import bm25s

    if not texts:
        return []
    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


def term_scores(tf: np.ndarray, doc_len: np.ndarray, *, df: int, n_docs: int, avg_len: float,
                k1: float = K1, b: float = B) -> np.ndarray:
    """Lucene BM25 of one term in the chunks that use it: idf * tf / (tf + k1 * (1 - b + b * len / avg))."""
    idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
    return (idf * tf / (tf + k1 * (1.0 - b + b * doc_len / avg_len))).astype(np.float32)


class LexicalIndex:
    """BM25 search over the rows of a chunks x terms count matrix."""

    def __init__(self, tf: sparse.csr_matrix, vocab: dict[str, int]):
        self.tf = tf
        self.vocab = vocab
        self._postings = tf.tocsc()  # a term's column: the chunks that use it, and how often
        self._doc_len = np.asarray(tf.sum(axis=1), dtype=np.float32).ravel()
        self._avg_len = float(self._doc_len.mean()) if tf.shape[0] else 0.0

    def __len__(self) -> int:
        return int(self.tf.shape[0])

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        return cls(sparse.csr_matrix((0, 0), dtype=np.float32), {}).updated([None] * len(texts), texts)

    def updated(self, rows: Sequence[int | None], texts: Sequence[str]) -> LexicalIndex:
        """The index over new rows: `rows[i]` is the row of this index that becomes row i, or None for
        the next of `texts` (new chunks, tokenized here; the kept ones are not tokenized again)."""
        vocab = dict(self.vocab)
        r, c, v = [], [], []
        for row, terms in enumerate(tokenize(list(texts))):
            for term, count in Counter(terms).items():
                r.append(row)
                c.append(vocab.setdefault(term, len(vocab)))
                v.append(count)
        fresh = sparse.csr_matrix((np.asarray(v, dtype=np.float32), (r, c)), shape=(len(texts), len(vocab)))
        old = sparse.csr_matrix((self.tf.data, self.tf.indices, self.tf.indptr), shape=(len(self), len(vocab)))
        stacked = sparse.vstack([old, fresh], format="csr")
        next_fresh = iter(range(len(self), len(self) + len(texts)))
        order = np.asarray([next(next_fresh) if row is None else row for row in rows], dtype=np.int64)
        return LexicalIndex(stacked[order] if len(order) else stacked[:0], vocab)

    def search(self, query: str, n: int) -> list[tuple[int, float]]:
        """The `n` best rows for `query` with their BM25 scores (> 0), best first; ties by row."""
        terms = [self.vocab[t] for t in tokenize([query])[0] if t in self.vocab]
        n_docs = len(self)
        if not terms or n_docs == 0 or n <= 0:
            return []
        scores = np.zeros(n_docs, dtype=np.float32)
        postings = self._postings
        for term in terms:  # a repeated query term counts again, as in bm25s
            start, end = postings.indptr[term], postings.indptr[term + 1]
            if start == end:
                continue
            docs = postings.indices[start:end]
            scores[docs] += term_scores(postings.data[start:end], self._doc_len[docs], df=int(end - start),
                                        n_docs=n_docs, avg_len=self._avg_len)
        found = np.flatnonzero(scores > 0)
        if len(found) > n:
            found = found[np.argpartition(-scores[found], n - 1)[:n]]
        found = found[np.lexsort((found, -scores[found]))]
        return [(int(i), float(scores[i])) for i in found[:n]]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        sparse.save_npz(folder / _MATRIX, self.tf, compressed=False)
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        (folder / _VOCAB).write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")

    @staticmethod
    def saved_in(folder: Path) -> bool:
        """Whether `folder` holds this index (an index written before it held bm25s' files)."""
        return (folder / _MATRIX).is_file()

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        tf = sparse.load_npz(folder / _MATRIX).tocsr().astype(np.float32)
        terms = json.loads((folder / _VOCAB).read_text(encoding="utf-8"))
        if not isinstance(terms, list) or len(terms) != tf.shape[1]:
            raise ValueError(f"{folder / _VOCAB} does not match {folder / _MATRIX}")
        return cls(tf, {t: j for j, t in enumerate(terms)})
