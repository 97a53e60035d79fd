"""The language model behind generative answers: the protocol every backend meets, and a GGUF run
in-process by llama.cpp (the bundled one by default, see model_file.py). Any OpenAI-compatible server
is the other backend (llm_server.py); `load_llm` picks one from the settings."""

from __future__ import annotations

import atexit
import functools
import importlib.util
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from jmqa.config import Settings
from jmqa.errors import BadInputError, ModelUnavailableError
from jmqa.model_file import resolve_model_path

if TYPE_CHECKING:
    from llama_cpp import Llama

logger = logging.getLogger(__name__)

Message = dict[str, str]

# Spellings of the two answers as single tokens; their probabilities are summed per side.
_YES_SPELLINGS = ("Yes", " Yes", "yes", " yes", "YES")
_NO_SPELLINGS = ("No", " No", "no", " no", "NO")


# --------------------------------------------------------------------------- the protocol


class LLM(Protocol):
    """A chat model. `messages` are OpenAI-style `{"role": ..., "content": ...}` dicts."""

    name: str

    def chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> str: ...

    def stream_chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> Iterator[str]:
        """The reply piece by piece; `grammar` (GBNF) constrains its form where the backend can."""
        ...

    def yes_probability(self, messages: list[Message]) -> float: ...

    def probe(self, messages: list[Message], reply: str, text: str) -> Probe:
        """Read the prompt without answering: how likely the reply is to start as `reply` does, and how
        likely the model found `text` where it stands in the last message."""
        ...


@dataclass(frozen=True)
class Probe:
    """What the model makes of a prompt before it writes anything."""

    reply_probability: float  # P(the reply's first token is `reply`'s, in any capitalisation)
    text_logprob: float | None  # mean log-probability per token of `text` in the prompt; None: not measurable
    # P(the reply's first token is "Yes" or "No"): whether the model reads the question as a yes/no one; None:
    # not measurable
    polar_probability: float | None = None


def yes_share(yes_logits: Sequence[float], no_logits: Sequence[float]) -> float:
    """P(yes) / (P(yes) + P(no)) from the logits (or log-probabilities) of each side's tokens.

    Both sides share one softmax denominator, so it cancels; an empty side has probability 0.
    """
    if not yes_logits and not no_logits:
        raise ValueError("yes_share needs at least one logit")
    if not no_logits:
        return 1.0
    if not yes_logits:
        return 0.0
    # log-sum-exp per side, shifted by the overall max so exp() cannot overflow
    top = max(*yes_logits, *no_logits)
    yes = sum(math.exp(x - top) for x in yes_logits)
    no = sum(math.exp(x - top) for x in no_logits)
    return yes / (yes + no)


# --------------------------------------------------------------------------- llama.cpp


@dataclass
class _LoadedModel:
    llama: Llama
    lock: threading.Lock  # llama.cpp contexts are not thread-safe
    yes_ids: tuple[int, ...]
    no_ids: tuple[int, ...]
    owner: int | None = None  # thread holding `lock`, to refuse re-entry instead of deadlocking


_MODELS: dict[tuple[str, int, int], _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


class LlamaCppLLM:
    """A GGUF model run in-process by llama.cpp; loaded on first use and shared by all instances in the process."""

    def __init__(self, model_path: Path, n_threads: int = 2, n_ctx: int = 2048) -> None:
        self.model_path = Path(model_path)
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.name = self.model_path.stem
        self._model: _LoadedModel | None = None

    def warm_up(self) -> None:
        """Load the model now rather than on the first question."""
        self._loaded()

    def chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> str:
        model = self._loaded()
        with self._exclusive(model):
            response = self._complete(model, messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        return response["choices"][0]["message"].get("content") or ""

    def stream_chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> Iterator[str]:
        # The model stays locked until the stream is drained or closed.
        model = self._loaded()
        extra = {} if grammar is None else {"grammar": _grammar(grammar)}
        with self._exclusive(model):
            chunks = self._complete(
                model, messages, max_tokens=max_tokens, temperature=temperature, stop=stop, stream=True, **extra
            )
            try:
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            except ValueError as e:
                # llama-cpp-python checks the prompt length only once the stream starts.
                if _exceeds_context(e):
                    raise self._too_long(e) from e
                raise

    def yes_probability(self, messages: list[Message]) -> float:
        """P("Yes") against P("No") as the first answer token, from the full next-token logits."""
        model = self._loaded()
        logits = self._first_logits(model, messages)
        return yes_share([float(logits[i]) for i in model.yes_ids], [float(logits[i]) for i in model.no_ids])

    def probe(self, messages: list[Message], reply: str, text: str) -> Probe:
        """Both figures from one read of the prompt: the logits before each of `text`'s tokens are taken as
        the prompt is evaluated."""
        model = self._loaded()
        llama = model.llama
        ids = _first_token_ids(llama, reply)
        # the text's tokens as the prompt spells them; the last may merge with what follows ("?\n")
        watched = tuple(llama.tokenize(f" {text.strip()}".encode(), add_bos=False, special=False)[:-1])
        with self._exclusive(model):
            llama.watch(watched)
            try:
                logits = np.asarray(self._first_logits_locked(model, messages), dtype=np.float64)
            finally:
                logprobs = llama.watch(None)
        log_z = _log_normaliser(logits)
        return Probe(float(sum(math.exp(logits[i] - log_z) for i in ids)),
                     None if logprobs is None else float(np.mean(logprobs)),
                     float(sum(math.exp(logits[i] - log_z) for i in dict.fromkeys(model.yes_ids + model.no_ids))))

    def _first_logits(self, model: _LoadedModel, messages: list[Message]) -> Any:
        with self._exclusive(model):
            return self._first_logits_locked(model, messages)

    def _first_logits_locked(self, model: _LoadedModel, messages: list[Message]) -> Any:
        """The whole vocabulary's logits before the reply's first token (the prompt cache makes a second
        look at a prompt just read cost one token)."""
        from llama_cpp import LogitsProcessorList

        seen: list[Any] = []

        def capture(_input_ids: Any, scores: Any) -> Any:
            if not seen:
                seen.append(np.array(scores, copy=True))
            return scores

        self._complete(model, messages, max_tokens=1, temperature=0.0, logits_processor=LogitsProcessorList([capture]))
        if not seen:
            raise ModelUnavailableError(f"llama.cpp returned no logits for {self.model_path}")
        return seen[0]

    def _loaded(self) -> _LoadedModel:
        if self._model is None:
            self._model = _load_llama(self.model_path, self.n_threads, self.n_ctx)
        return self._model

    @contextmanager
    def _exclusive(self, model: _LoadedModel) -> Iterator[None]:
        me = threading.get_ident()
        if model.owner == me:
            raise RuntimeError("this thread is still reading a stream from the same model; drain or close it first")
        with model.lock:
            model.owner = me
            try:
                yield
            finally:
                model.owner = None

    def _complete(self, model: _LoadedModel, messages: list[Message], **kwargs: Any) -> Any:
        try:
            return model.llama.create_chat_completion(messages=messages, **kwargs)
        except ValueError as e:
            if _exceeds_context(e):
                raise self._too_long(e) from e
            raise

    def _too_long(self, error: ValueError) -> BadInputError:
        return BadInputError(
            f"the prompt is too long for the model's context of {self.n_ctx} tokens ({error}); "
            "use fewer or shorter passages, or raise JMQA_LLM_CONTEXT."
        )


@functools.lru_cache(maxsize=8)
def _grammar(text: str) -> Any:
    """A GBNF grammar parsed once (llama.cpp builds its sampler from it on every completion)."""
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


def _exceeds_context(error: ValueError) -> bool:
    # llama-cpp-python's wording: "Requested tokens (N) exceed context window of M"
    return "exceed context window" in str(error)


def _load_llama(path: Path, n_threads: int, n_ctx: int) -> _LoadedModel:
    key = (str(path.resolve()), n_threads, n_ctx)
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise ModelUnavailableError(
                "llama-cpp-python is not installed; install it with: pip install llama-cpp-python "
                "(or point JMQA_LLM_BASE_URL at an OpenAI-compatible server)"
            ) from e
        if not path.is_file():
            raise ModelUnavailableError(f"LLM model file not found: {path}")
        started = time.perf_counter()
        try:
            llama = _prompt_cached(Llama)(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelUnavailableError(
                f"llama.cpp could not load the model {path}: {e}. Check that it is a complete GGUF file "
                "(for the bundled model, delete it to have it assembled again)."
            ) from e
        from llama_cpp import LlamaRAMCache

        llama.set_cache(LlamaRAMCache(capacity_bytes=PROMPT_CACHE_BYTES))
        model = _LoadedModel(
            llama=llama,
            lock=threading.Lock(),
            yes_ids=_single_token_ids(llama, _YES_SPELLINGS),
            no_ids=_single_token_ids(llama, _NO_SPELLINGS),
        )
        logger.info("loaded %s in %.1f s", path.name, time.perf_counter() - started)
        if not _MODELS:
            atexit.register(_close_models)
        _MODELS[key] = model
        return model


def _close_models() -> None:
    """Free the loaded models while the interpreter still runs: llama-cpp-python's own `__del__`, left to
    interpreter shutdown, finds its library functions already gone and prints a TypeError traceback."""
    with _MODELS_LOCK:
        for model in _MODELS.values():
            model.llama.close()
        _MODELS.clear()


# The KV states of recent prompts, kept so that a prompt sharing a prefix with one of them (the same
# source sentences, as follow-up questions have) is read from that point on: llama.cpp on 2 cores reads
# ~110 prompt tokens/s, so each reused source sentence saves ~0.3-0.5 s before the first token.
# A state is ~28 KB per token for the default 1.5B model (12 KB for the 0.5B): 128 MB holds ~5 prompts of the
# default corpus read whole, enough for one question's probe, draft and check.
PROMPT_CACHE_BYTES = 128 * 1024 * 1024


def _prompt_cached(llama_class: type[Llama]) -> type[Llama]:
    """`llama_class` saving and restoring only the KV cells of sequence 0 for its prompt cache.

    llama-cpp-python's own save_state copies the whole context state and a logits row per token
    (151,936 floats each for Qwen): ~0.4 s per question, as much as the tokens it saves. Here a state
    is the sequence's KV cells and token ids, a few MB copied in milliseconds. Logits are not kept, so a
    restored state is marked as needing evaluation: `Llama.generate` then reads a prompt's last token
    again before sampling, even when the whole prompt was cached.
    """
    import ctypes

    import numpy as np
    from llama_cpp import llama_cpp
    from llama_cpp.llama import LlamaState

    class PromptCachedLlama(llama_class):  # type: ignore[misc, valid-type]
        _watched: tuple[int, ...] = ()
        _logprobs: list[float] | None = None

        def watch(self, tokens: Sequence[int] | None) -> list[float] | None:
            """Start taking the log-probability of each of `tokens` where they stand in the prompts evaluated
            from now on (None: stop); returns what the previous watch took, None if it never saw them all."""
            taken = self._logprobs if self._logprobs and len(self._logprobs) == len(self._watched) else None
            self._watched, self._logprobs = tuple(tokens or ()), None
            return taken

        def eval(self, tokens: Sequence[int]) -> None:
            if not self._watched or self._logprobs is not None:  # nothing (more) to take: generation's hot path
                super().eval(tokens)
                return
            full = [*self.input_ids[: self.n_tokens], *tokens]
            start = _last_occurrence(full, self._watched)
            if start is None:
                super().eval(tokens)
                return
            # The logits at each watched token's predecessor; llama.cpp computes them only where a batch
            # asks, and a prompt cache may hold those positions already: they are read again from there.
            first = start - 1
            if first < self.n_tokens:
                tokens, self.n_tokens = full[first:], first
            self._ctx.kv_cache_seq_rm(-1, self.n_tokens, -1)
            wanted = range(first, start + len(self._watched) - 1)
            taken: list[float] = []
            for i in range(0, len(tokens), self.n_batch):
                batch = tokens[i : i + self.n_batch]
                n_past = self.n_tokens
                self._batch.set_batch(batch=batch, n_past=n_past, logits_all=False)
                rows = [j for j in range(len(batch)) if n_past + j in wanted]
                for j in rows:
                    self._batch.batch.logits[j] = True
                self._ctx.decode(self._batch)
                for j in rows:
                    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._ctx.ctx, j),
                                                   shape=(self._n_vocab,)).astype(np.float64)
                    taken.append(float(logits[full[n_past + j + 1]] - _log_normaliser(logits)))
                self.input_ids[n_past : n_past + len(batch)] = batch
                self.n_tokens += len(batch)
                self._requires_eval = False
            self._logprobs = taken

        def save_state(self) -> LlamaState:
            ctx = self._ctx.ctx
            size = llama_cpp.llama_state_seq_get_size(ctx, 0)
            buffer = (ctypes.c_uint8 * size)()
            n_bytes = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
            return LlamaState(
                input_ids=self.input_ids[: self.n_tokens].copy(),
                scores=np.empty((0, self.n_vocab()), dtype=np.single),
                n_tokens=self.n_tokens,
                llama_state=bytes(buffer)[:n_bytes],
                llama_state_size=n_bytes,
                seed=self._seed,
            )

        def load_state(self, state: LlamaState) -> None:
            self._ctx.kv_cache_seq_rm(0, -1, -1)
            buffer = (ctypes.c_uint8 * state.llama_state_size).from_buffer_copy(state.llama_state)
            if llama_cpp.llama_state_seq_set_data(self._ctx.ctx, buffer, state.llama_state_size, 0) == 0:
                self._ctx.kv_cache_seq_rm(0, -1, -1)
                self.n_tokens = 0  # nothing restored: the prompt is read from its start
                return
            self.input_ids[: state.n_tokens] = state.input_ids
            self.n_tokens = state.n_tokens
            self._requires_eval = True  # the logits are not restored: generate() evaluates a token again
            self._seed = state.seed

    return PromptCachedLlama


def _log_normaliser(logits: np.ndarray) -> float:
    """log(sum(exp(logits))), computed without overflow: a logit minus it is a log-probability."""
    top = float(logits.max())
    return top + math.log(float(np.exp(logits - top).sum()))


def _last_occurrence(sequence: Sequence[int], part: Sequence[int]) -> int | None:
    """Where the last occurrence of `part` starts in `sequence` (None: nowhere, or `part` is empty)."""
    n = len(part)
    if n == 0:
        return None
    part = list(part)
    for start in range(len(sequence) - n, -1, -1):
        if sequence[start] == part[0] and list(sequence[start : start + n]) == part:
            return start
    return None


def _first_token_ids(llama: Llama, reply: str) -> tuple[int, ...]:
    """The first token of `reply` as the model would start it: as written, capitalised, lower case."""
    ids: list[int] = []
    for text in dict.fromkeys((reply, reply[:1].upper() + reply[1:], reply.lower())):
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if tokens and tokens[0] not in ids:
            ids.append(tokens[0])
    return tuple(ids)


def _single_token_ids(llama: Llama, spellings: Sequence[str]) -> tuple[int, ...]:
    ids: list[int] = []
    for text in spellings:
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) == 1 and tokens[0] not in ids:
            ids.append(tokens[0])
    return tuple(ids)


# --------------------------------------------------------------------------- wiring


def load_llm(settings: Settings) -> LLM:
    """The LLM the settings ask for: a server when `llm_base_url` is set, else the local GGUF."""
    if settings.llm_base_url:
        from jmqa.llm_server import OpenAICompatibleLLM

        return OpenAICompatibleLLM(
            settings.llm_base_url,
            settings.llm_api_model or settings.llm_model,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout,
        )
    if importlib.util.find_spec("llama_cpp") is None:
        raise ModelUnavailableError(
            "llama-cpp-python is not installed; install it with: pip install llama-cpp-python "
            "(or point JMQA_LLM_BASE_URL at an OpenAI-compatible server)"
        )
    return LlamaCppLLM(resolve_model_path(settings), n_threads=settings.llm_threads, n_ctx=settings.llm_context)
