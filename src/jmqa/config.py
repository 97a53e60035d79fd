"""Settings: every tunable in one place; the only module that reads the environment (prefix JMQA_)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# the example corpus shipped inside the package (a copy of the repository's corpus/, kept identical by a test)
DEFAULT_CORPUS = Path(__file__).resolve().with_name("default_corpus")
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
DEFAULT_LLM_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"  # chosen on dev: docs/benchmarks.md
MAX_QUESTION_CHARS = 2000


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CACHE_HOME/jmqa` when that is set (to an absolute path), else `~/.cache/jmqa`."""
    xdg = (os.environ if env is None else env).get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "jmqa"


def resolve_paths(corpus: str | Path | None, index: str | Path | None, *, cwd: Path,
                  cache_dir: Path) -> tuple[Path, Path]:
    """The corpus and index folders to use. `corpus`/`index` are what was asked for (a flag or
    JMQA_CORPUS_DIR/JMQA_INDEX_DIR; None when neither) and are used as given. Otherwise the corpus is
    `cwd/corpus` when that folder exists, else the example corpus in the package; and the index is
    `cwd/index` for `cwd/corpus`, `cache_dir/index/default` for the example corpus, and for any other
    corpus `cache_dir/index/<its name>-<hash of its absolute path>` (never inside a folder nobody named)."""
    local = cwd / "corpus"
    corpus = Path(corpus) if corpus else (local if local.is_dir() else DEFAULT_CORPUS)
    if index:
        return corpus, Path(index)
    where = (cwd / corpus).resolve()
    if where == local.resolve():
        return corpus, cwd / "index"
    if where == DEFAULT_CORPUS:
        return corpus, cache_dir / "index" / "default"
    key = hashlib.sha256(str(where).encode()).hexdigest()[:12]
    return corpus, cache_dir / "index" / f"{where.name or 'corpus'}-{key}"


class Settings(BaseSettings):
    """jmqa's settings. Environment variables `JMQA_<NAME>` set them; CLI flags override those."""

    model_config = SettingsConfigDict(env_prefix="JMQA_", extra="ignore")

    # paths: unset, filled in by resolve_paths from the current folder (see _paths)
    corpus_dir: Path
    index_dir: Path
    cache_dir: Path

    @model_validator(mode="before")
    @classmethod
    def _paths(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        cache = Path(data.get("cache_dir") or default_cache_dir())
        corpus, index = resolve_paths(data.get("corpus_dir"), data.get("index_dir"), cwd=Path.cwd(), cache_dir=cache)
        return {**data, "corpus_dir": corpus, "index_dir": index, "cache_dir": cache}

    def for_corpus(self, corpus_dir: str | Path, index_dir: str | Path | None = None) -> Settings:
        """These settings for another corpus; without `index_dir`, its index where resolve_paths puts it."""
        corpus, index = resolve_paths(corpus_dir, index_dir, cwd=Path.cwd(), cache_dir=self.cache_dir)
        return self.model_copy(update={"corpus_dir": corpus, "index_dir": index})

    # embedding: the name of the bundled model, a sentence-transformers folder, or a model name
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    embedding_batch_size: int = 32
    # onnx: the model exported once to ONNX under cache_dir and run by onnxruntime (the same vectors as torch,
    # cosine 1.0000, and a cold start of ~1.8 s instead of ~9 s: no torch or sentence-transformers import).
    # torch: sentence-transformers' fp32 PyTorch path. onnx-int8: dynamically quantised (docs/benchmarks.md)
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = "onnx"
    # threads one embedding runs on (onnx backends; 0: onnxruntime's own choice, one per core)
    embedding_threads: int = Field(default=0, ge=0)

    # the largest file read into the corpus (megabytes)
    max_file_mb: int = Field(default=50, ge=1, le=2000)

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1_000_000

    # chunking (characters; all-MiniLM-L6-v2 reads at most 256 word pieces, ~1000 characters)
    chunk_size: int = Field(default=700, ge=100, le=4000)
    chunk_overlap: int = Field(default=1, ge=0, le=5, description="sentences shared by neighbouring chunks")

    # retrieval
    top_k: int = Field(default=5, ge=1, le=50)
    # 5, not the customary 60: on SQuAD 2.0 dev hybrid recall@5 goes 0.940 -> 0.952 (docs/benchmarks.md),
    # and the gold set scores the same
    rrf_k: int = Field(default=5, ge=1)
    candidates: int = Field(default=30, ge=1, description="hits taken from each retriever before fusion")

    # answering
    answer_mode: Literal["auto", "extractive", "generative"] = "auto"
    # when to abstain: the package's calibration.json (fitted on eval/dev.jsonl) unless set;
    # `jmqa calibrate QUESTIONS --out FILE` fits one on your own gold questions
    calibration_file: Path | None = None
    max_question_chars: int = MAX_QUESTION_CHARS
    # the language of the corpus and of the embedding model: a question in another language is translated
    # into it for retrieval, and answered in its own
    corpus_language: str = "en"
    # how much retrieved text the model reads (characters; the default corpus, ~2,400, is read whole)
    read_chars: int = Field(default=3000, ge=200, le=20000)
    answer_tokens: int = Field(default=200, ge=16, le=2000)  # the longest answer the model may write

    # local LLM (GGUF via llama-cpp-python) or an OpenAI-compatible server
    llm_model: str = DEFAULT_LLM_MODEL
    llm_threads: int = Field(default=2, ge=1)
    llm_context: int = Field(default=4096, ge=512)
    llm_base_url: str | None = None
    llm_api_model: str | None = None
    llm_api_key: str | None = None
    # seconds to wait for the server's reply; a model server shared by several replicas queues requests
    llm_timeout: float = Field(default=120, gt=0)

    show_progress: bool = True
