"""Shared fixtures: a tiny deterministic embedder for fast tests, the real bundled one for slow tests."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from jmqa.evidence import stem, words

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SOURCE_CORPUS = ROOT / "corpus"


class HashEmbedder:
    """Bag of stemmed words hashed into 256 dimensions: deterministic, instant, no model."""

    def __init__(self, model_id: str = "fake-hash-256", dim: int = 256):
        self.model_id = model_id
        self._dim = dim
        self.calls = 0

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts, *, show_progress=False):
        self.calls += 1
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for w in words(text):
                h = int(hashlib.md5(stem(w).encode()).hexdigest(), 16)
                out[i, h % self._dim] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
        return out


@pytest.fixture
def fake_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the default corpus."""
    dst = tmp_path / "corpus"
    shutil.copytree(SOURCE_CORPUS, dst)
    return dst


@pytest.fixture(scope="session")
def real_embedder():
    from jmqa.embedding import SentenceTransformerEmbedder

    e = SentenceTransformerEmbedder()
    e.warm_up()
    return e


@pytest.fixture(scope="session")
def assistant(real_embedder, tmp_path_factory):
    """The real assistant over the default corpus, with its own index folder."""
    from jmqa import Assistant

    return Assistant.load(ROOT / "corpus", tmp_path_factory.mktemp("index"), embedder=real_embedder)
