"""How fast a model runs, for the planner (:mod:`mi_utils.planning`): rates, where they come from, sizes.

What lives here: :class:`Throughput` (tokens per second read in parallel, ``prefill``, and generated
one at a time, ``decode``), the rates mapping's keys (:func:`rate_key`: ``model[@dtype][/stage]``,
``*`` for any model) and :func:`find_rate` (a model's own rate, else the geometric mean of the measured
models' rates in that stage, each scaled by parameters, the same dtype's first; else unknown with the
reason), :func:`model_size` (a parameter count without
loading anything: ``params``, the packaged registry, a config readable here, or the size in the name),
:func:`local_source` (where a model's files are on this machine, never downloading; it lives in
:mod:`mi_utils.models`), and two of the
three sources of rates: :func:`load_throughput` (a file or flags: how to state a GPU server's speed)
and :func:`calibrate` (load each local model once and time a short prefill, decode and scoring). The
third, a recorded run's stage times, is :func:`mi_utils.recorded.rates_from_timings` (it needs the plan
of that run's config). :func:`rates_for` merges the sources the command line names (a file or flags, ``--calibrate``,
``--from-timings``; the first one wins where two rate a model), and with none named uses
:data:`DEFAULT_RATES`, the committed CPU rates.

A throughput file (YAML or JSON) maps model names (optionally ``@dtype`` and ``/stage``; ``*`` is any
other model, scaled by parameters from its ``params``) to tokens per second; an optional ``source``
says where the numbers come from::

    source: vLLM on one H100, measured 2026-12-01
    Qwen/Qwen2.5-7B-Instruct: {prefill: 20000, decode: 2500}
    "*": {prefill: 8000, decode: 1200, params: 7.0e9}
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends.registry import backend_entry
from .config import ExperimentConfig, ModelSpec
from .models import cached_hub_file as _cached_hub_file
from .models import local_source  # local_source lives in models; importable from here too
from .paths import bundled_file, repo_root

__all__ = [
    "DECODE_WEIGHT",
    "Throughput",
    "rate_key",
    "find_rate",
    "model_size",
    "local_source",
    "load_throughput",
    "calibrate",
    "DEFAULT_RATES",
    "rates_for",
]

#: The committed rates of the recorded CPU runs (``scripts/plan_ratios.py`` writes it): the rates used
#: when no other source is given.
DEFAULT_RATES = bundled_file("throughput_cpu.yaml")

#: A generated token costs this many prompt tokens when a recorded stage time is split into rates (one
#: forward pass per generated token; prompts and scored continuations go many tokens per pass).
DECODE_WEIGHT = 10.0


@dataclass(frozen=True)
class Throughput:
    """A model's speed in tokens per second: ``prefill`` for tokens read in parallel (prompts and
    scored continuations), ``decode`` for tokens generated one at a time; ``params`` is the size of
    the model it was measured on (a model without a rate of its own is scaled from the measured ones,
    time ~ parameters), ``source`` says where the numbers come from."""

    prefill: float
    decode: float
    source: str = ""
    params: float | None = None

    def __post_init__(self) -> None:
        for name in ("prefill", "decode"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"throughput {name} must be a positive number of tokens per second, got {v!r}")

    def seconds(self, prompt: float, new: float, scored: float) -> float:
        """Seconds to read ``prompt + scored`` tokens and generate ``new``."""
        return (prompt + scored) / self.prefill + new / self.decode

    def scaled(self, params: float) -> Throughput:
        """This speed moved to a model of ``params`` parameters (time proportional to parameters)."""
        f = (self.params or params) / params
        return Throughput(self.prefill * f, self.decode * f, f"{self.source}, scaled x{f:.2g} by parameters", params)


_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", re.IGNORECASE)


def model_size(spec: ModelSpec) -> tuple[float | None, str]:
    """A model's parameter count without loading it, and where it came from.

    Tried in order: ``params``, the packaged registry, a config readable here (``hf_config``, a
    prepared packaged model, a local folder or the Hugging Face cache), the size in its name
    (``Qwen2.5-7B`` -> 7e9). Returns ``(None, reason)`` when none gives it (an API model).
    """
    from .costs import param_count

    try:  # costs.param_count's order: params, then the packaged registry (a config is read below)
        return param_count(spec, None), "params" if spec.params is not None else "packaged registry"
    except ValueError:
        pass
    if not backend_entry(spec.backend).priced:  # a paid API's model config is not published
        for source in (spec.hf_config, local_source(spec.model)):
            if not source:
                continue
            path = Path(source).expanduser()
            cfg_file = path / "config.json" if path.is_dir() else path if path.is_file() else None
            cfg_file = cfg_file or _cached_hub_file(source, "config.json")
            try:
                return param_count(spec, json.loads(Path(cfg_file).read_text(encoding="utf-8"))), "config.json"
            except Exception:
                continue
    for name in (spec.model, spec.tokenizer or ""):
        m = _SIZE.search(name.rstrip("/").split("/")[-1])
        if m:
            return float(m.group(1)) * (1e9 if m.group(2).lower() == "b" else 1e6), "size in its name"
    return None, f"size of {spec.model!r} unknown (an API model or no size in its name; set params)"


def rate_key(model: str, dtype: str | None = None, stage: str | None = None) -> str:
    """The key of a :class:`Throughput` in a rates mapping: ``model[@dtype][/stage]`` (``*`` = any model)."""
    return model + (f"@{dtype}" if dtype else "") + (f"/{stage}" if stage else "")


def find_rate(rates: Mapping[str, Throughput], spec: ModelSpec, stage: str) -> tuple[Throughput | None, str]:
    """The throughput of ``spec`` in ``stage``: its own (most specific key first), else a ``*`` rate
    (scaled by parameters when it states ``params``), else the geometric mean of the measured models'
    rates in that stage scaled by parameters (the same dtype's when there are), else ``(None, reason)``."""
    stage = "prediction" if stage == "judge" else stage
    for key in (
        rate_key(spec.model, spec.dtype, stage),
        rate_key(spec.model, spec.dtype),
        rate_key(spec.model, None, stage),
        spec.model,
    ):
        if key in rates:
            return rates[key], ""
    params, how = model_size(spec)
    generic = [rates[k] for k in (f"*/{stage}", "*") if k in rates]
    if params is None:
        return None, how
    if generic:
        return generic[0].scaled(params) if generic[0].params else generic[0], ""
    measured = [(k, t) for k, t in rates.items() if k.endswith(f"/{stage}") and t.params]
    if not measured:
        return None, "no throughput for it (--throughput, --calibrate or --from-timings)"
    same = [(k, t) for k, t in measured if f"@{spec.dtype}/" in k] or measured
    scaled = [t.scaled(params) for _, t in same]
    mean = {r: math.exp(sum(math.log(getattr(t, r)) for t in scaled) / len(scaled)) for r in ("prefill", "decode")}
    names = ", ".join(sorted({k.split("@")[0] for k, _ in same}))
    source = f"{same[0][1].source}: {names} scaled by parameters"
    return Throughput(mean["prefill"], mean["decode"], source, params), ""


def load_throughput(source: str | Path | Mapping[str, Any]) -> dict[str, Throughput]:
    """Rates from a throughput file (YAML/JSON) or mapping (format in the module docstring).

    Raises:
      FileNotFoundError: no such file.
      ValueError: an entry that is not ``{prefill:, decode:[, params:]}`` with positive numbers; the
        message names the entry.
    """
    if isinstance(source, Mapping):
        data, where = source, "throughput"
    else:
        import yaml

        path = Path(source)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        repo = repo_root()
        inside = repo is not None and path.resolve().is_relative_to(repo)
        where = str(path.resolve().relative_to(repo)) if inside else str(path)
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping of model names to {{prefill:, decode:}}")
    named = isinstance(data.get("source"), str)
    label = (data["source"] + ("" if isinstance(source, Mapping) else f" ({where})")) if named else f"stated in {where}"
    out = {}
    for key, value in data.items():
        if key == "source":
            continue
        if not isinstance(value, Mapping) or set(value) - {"prefill", "decode", "params"} or "prefill" not in value:
            raise ValueError(
                f"{where}: {key!r} must be {{prefill: tokens/s, decode: tokens/s[, params: count]}}, got {value!r}"
            )
        try:
            out[str(key)] = Throughput(
                float(value["prefill"]),
                float(value.get("decode", value["prefill"])),
                label,
                float(value["params"]) if value.get("params") is not None else None,
            )
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {key!r}: {e}") from None
    return out


def calibrate(
    cfg: ExperimentConfig, *, prompt_tokens: int = 256, new_tokens: int = 16, continuations: int = 8
) -> dict[str, Throughput]:
    """Time each in-process model of a config on this machine: load it once, then one prefill of
    ``prompt_tokens`` tokens and ``continuations`` scored continuations of 16 tokens behind it
    (``prefill``), and ``new_tokens`` greedy tokens generated (``decode``). Server and API models are
    skipped (state their speed with :func:`load_throughput`). Seconds to a minute per model on a CPU.

    Returns:
      ``{model@dtype: Throughput}``.
    """
    from .backends.base import SamplingParams
    from .experiment import make_backend

    seen: dict[str, Throughput] = {}
    if cfg.threads is not None:
        import torch

        torch.set_num_threads(cfg.threads)
    for spec in cfg.model_specs():
        key = rate_key(spec.model, spec.dtype)
        if not backend_entry(spec.backend).in_process or key in seen:
            continue
        backend = make_backend(spec)
        filler = backend.encode(" the" * prompt_tokens)[:prompt_tokens]
        backend.score([(filler, filler[:16])])  # warm-up
        t = time.perf_counter()
        backend.score([(filler, filler[k : k + 16]) for k in range(continuations)])
        read = time.perf_counter() - t
        msgs = [{"role": "user", "content": "Count: one two three four five six seven eight nine ten"}]
        params = SamplingParams(temperature=0.0, max_new_tokens=new_tokens, n=1, seed=0)
        backend.generate([msgs], SamplingParams(temperature=0.0, max_new_tokens=2, n=1, seed=0))  # warm-up
        t = time.perf_counter()
        ((sample,),) = backend.generate([msgs], params)
        gen = time.perf_counter() - t
        new = max(1, len(sample.token_ids))
        params_count, _ = model_size(spec)
        seen[key] = Throughput(
            (prompt_tokens + 16 * continuations) / read,
            new / gen,
            "calibrated here (--calibrate)",
            params_count,
        )
        del backend
    return seen


def rates_for(
    cfg: ExperimentConfig,
    *,
    throughput: str | Path | None = None,
    prefill: float | None = None,
    decode: float | None = None,
    params: float | None = None,
    calibrated: bool = False,
    from_timings: Sequence[str | Path] = (),
) -> dict[str, Throughput]:
    """The rates a plan uses, first source first: stated (``throughput`` file, then ``prefill`` /
    ``decode`` flags for any model, scaled by ``params`` when given), :func:`calibrate` (``calibrated``),
    recorded runs (``from_timings``); with none of them :data:`DEFAULT_RATES` (when it exists).

    Raises:
      ValueError: ``decode`` or ``params`` without ``prefill``, or a bad throughput file.
    """
    if prefill is None and (decode is not None or params is not None):
        raise ValueError("--decode-tps and --params need --prefill-tps (tokens per second read in parallel)")
    sources: list[dict[str, Throughput]] = []
    if throughput is not None:
        sources.append(load_throughput(throughput))
    if prefill is not None:
        star = {"prefill": prefill, "decode": decode if decode is not None else prefill / DECODE_WEIGHT}
        sources.append(load_throughput({"source": "stated on the command line", "*": {**star, "params": params}}))
    if calibrated:
        sources.append(calibrate(cfg))
    if from_timings:
        from .recorded import rates_from_timings

        sources.append(rates_from_timings(*from_timings))
    if not sources and DEFAULT_RATES.is_file():
        sources.append(load_throughput(DEFAULT_RATES))
    merged: dict[str, Throughput] = {}
    for rates in reversed(sources):  # the first source wins where two give a model's rate
        merged.update(rates)
    return merged
