"""The generative model of :func:`~mi_utils.analysis.simulate.simulate_grid` on one block of the grid.

A *block* is a cross product (data sets x compressors x predictors x questions) drawn with one
random generator; :func:`draw_block` applies the model the docstring of
:mod:`~mi_utils.analysis.simulate` writes out (length, MI, correctness, usable information,
compute, perplexity) and returns the block's rows. The main grid is one block; each side study of
:mod:`~mi_utils.analysis.simulate_studies` is one or more blocks with their own expected lengths,
MI, sizes and extra columns. Also here: the argument checks every block shares (:func:`fail`,
:func:`number`, :func:`integer`, :func:`per_key`, :func:`models`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Block", "draw_block", "fail", "number", "integer", "per_key", "models"]

_EPS = 1e-6


def fail(msg: str) -> None:
    raise ValueError(f"simulate_grid: {msg}")


def models(value: Any, defaults: Sequence[Mapping[str, Any]], name: str) -> list[dict[str, Any]]:
    """Normalise a ``compressors`` / ``predictors`` argument to a list of model dicts.

    A dict may carry ``active`` (parameters a token passes through, a mixture of experts) and
    ``quality_params`` (the size its length and MI follow); both default to ``params``.
    """
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence) or len(value) == 0:
        fail(f"{name} must be a non-empty list of model names or dicts, got {value!r}")
    by_name = {m["name"]: m for m in defaults}
    out: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, str):
            if item not in by_name:
                fail(
                    f"unknown {name[:-1]} {item!r}; use one of {sorted(by_name)} or pass a dict "
                    "with keys name, family, model, params"
                )
            out.append(dict(by_name[item]))
        elif isinstance(item, Mapping):
            missing = [k for k in ("name", "family", "model", "params") if k not in item]
            if missing:
                fail(f"{name} entry {dict(item)!r} lacks {missing}; give name, family, model and params")
            params = item["params"]
            if isinstance(params, bool) or not isinstance(params, (int, float)) or not params > 0:
                fail(f"{name} entry {item['name']!r} needs a positive parameter count, got {params!r}")
            entry = {
                "name": str(item["name"]),
                "family": str(item["family"]),
                "model": str(item["model"]),
                "params": float(params),
            }
            for key in ("active", "quality_params"):
                if key in item:
                    entry[key] = float(item[key])
            out.append(entry)
        else:
            fail(f"{name} entries must be model names or dicts, got {item!r}")
    names = [m["name"] for m in out]
    if len(set(names)) != len(names):
        fail(f"{name} has duplicate names {names}; give each model once")
    return out


def per_key(value: Any, keys: Sequence[str], name: str, what: str) -> dict[str, float]:
    """A number (same for every key) or a mapping covering every key, as floats."""
    if isinstance(value, Mapping):
        missing = [k for k in keys if k not in value]
        if missing:
            fail(f"{name} has no value for {what} {missing}; add them (or pass one number for all)")
        out = {k: value[k] for k in keys}
    else:
        out = dict.fromkeys(keys, value)
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            fail(f"{name}[{k!r}] must be a finite number, got {v!r}")
    return {k: float(v) for k, v in out.items()}


def number(p: Mapping[str, Any], name: str, minimum: float | None = None, strict: bool = False) -> float:
    v = p[name]
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
        fail(f"{name} must be a finite number, got {v!r}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        fail(f"{name} must be {'>' if strict else '>='} {minimum}, got {v!r}")
    return float(v)


def integer(p: Mapping[str, Any], name: str, minimum: int) -> int:
    v = p[name]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        fail(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


@dataclass(frozen=True)
class Block:
    """One cross product of the grid and what the model needs to draw it.

    Attributes:
      datasets, comps, preds: the grid (model dicts as :func:`models` returns them; a compressor's
        ``base``, when set, is its ``compressor_base``, else its ``name``).
      n_q: questions per data set.
      expected_tokens: expected summary length per compressor, shape ``(len(comps),)``.
      mi_mean: expected MI per compressor before noise and clipping (bits).
      quality_size: the size (units of 1e9) the GLM link reads per compressor.
      d0, d1: the distortion floor per data set (``link="distortion"``).
      beta_family: logit shift per family.
      ppl_log0, ppl_slope, ppl_question_sd: perplexity model; a number, or one value per question.
      scored: False for query-agnostic tasks (``correct`` and ``usable_info_bits`` are None).
      task: the ``task`` column.
      record_tag: inserted into record ids (``<data set>-<tag>-<question>``; empty: ``<data set>-<question>``).
      columns: constant columns of every row (``sentences``, ``round``).
      item_types: ``item_type`` per question (None: no item type).
    """

    datasets: list[str]
    comps: list[dict[str, Any]]
    preds: list[dict[str, Any]]
    n_q: int
    expected_tokens: np.ndarray
    mi_mean: np.ndarray
    quality_size: np.ndarray
    d0: dict[str, float]
    d1: dict[str, float]
    beta_family: dict[str, float]
    ppl_log0: Any
    ppl_slope: Any
    ppl_question_sd: Any
    scored: bool = True
    task: str = "multiple_choice"
    record_tag: str = ""
    columns: dict[str, Any] = field(default_factory=dict)
    item_types: Sequence[str] | None = None


def _correctness_logit(block: Block, g: Mapping[str, Any], rate: np.ndarray, p_size: np.ndarray) -> np.ndarray:
    """The logit of P(correct) per (data set, compressor, predictor) before question and data-set effects."""
    D = len(block.datasets)
    if g["link"] == "distortion":
        D0 = np.clip(
            np.array([[block.d0[d] - block.d1[d] * math.log2(s) for s in p_size] for d in block.datasets]), 0.0, 1.0
        )
        dist = g["C"] * np.exp(-g["b"] * rate)[:, :, None] + D0[:, None, :]
        base = np.clip(1.0 - dist, _EPS, 1.0 - _EPS)
        return np.log(base / (1.0 - base))
    return (
        g["beta0"]
        + g["beta_csize"] * np.log2(block.quality_size)[None, :, None]
        + g["beta_psize"] * np.log2(p_size)[None, None, :]
        + np.zeros((D, 1, 1))
    )


def draw_block(rng: np.random.Generator, block: Block, g: Mapping[str, Any], columns: Sequence[str]) -> pd.DataFrame:
    """The rows of one block, drawn from ``rng`` in a fixed order (see the module docstring of ``simulate``).

    Args:
      rng: the block's random generator.
      block: the grid and its expected lengths and MI.
      g: the checked shared parameters (``link``, ``C``, ``b``, ``beta0``, ``beta_csize``, ``beta_psize``,
        ``sd_question``, ``sd_dataset``, ``length_sd``, ``max_tokens``, ``mi_sd``, ``mi_context_sd``,
        ``usable_sd``, ``flops_overhead``, ``ppl_sd``, ``N``, ``M``, ``K``, ``seed``, ``scorer``, ``scorer_family``).
      columns: the output columns, in order.
    """
    datasets, comps, preds, n_q = block.datasets, block.comps, block.preds, block.n_q
    D, Cn, P = len(datasets), len(comps), len(preds)
    # every draw happens in this fixed order whatever the link, so one seed gives the same
    # questions, lengths and MI noise in both modes
    v_d = rng.normal(0.0, 1.0, D) * g["sd_dataset"]
    u_q = rng.normal(0.0, 1.0, (D, n_q)) * g["sd_question"]
    z_len = rng.normal(0.0, 1.0, (D, Cn, n_q))
    e_mi = rng.normal(0.0, 1.0, (D, Cn))
    e_ctx = rng.normal(0.0, 1.0, (D, Cn, n_q))
    uniform = rng.random((D, Cn, P, n_q))
    e_use = rng.normal(0.0, 1.0, (D, Cn, P, n_q))
    e_ppl = rng.normal(0.0, 1.0, (D, Cn, P))  # drawn last: the columns above do not depend on it
    e_ppl_q = rng.normal(0.0, 1.0, (D, Cn, P, n_q))

    c_size = np.array([c["params"] for c in comps]) / 1e9
    active = np.array([c.get("active", c["params"]) for c in comps]) / 1e9
    p_size = np.array([m["params"] for m in preds]) / 1e9
    c_fam = [c["family"] for c in comps]

    # 1. summary length, per (data set, compressor, question)
    length_sd = g["length_sd"]
    tokens = block.expected_tokens[None, :, None] * np.exp(length_sd * z_len - length_sd**2 / 2)
    tokens = np.clip(tokens, 1.0, g["max_tokens"])
    mean_tokens = tokens.mean(axis=2)  # (D, Cn)

    # 2. mutual information, per (data set, compressor); contributions per question
    ceiling = math.log2(g["N"])
    mi = np.clip(block.mi_mean[None, :] + g["mi_sd"] * e_mi, 0.0, ceiling)
    rate = mi / mean_tokens
    noise = g["mi_context_sd"] * (e_ctx - e_ctx.mean(axis=2, keepdims=True))
    top = noise.max(axis=2, keepdims=True)
    room = (ceiling - mi)[:, :, None]
    shrink = np.where(top > room, room / np.where(top > 0, top, 1.0), 1.0)
    mi_context = mi[:, :, None] + noise * shrink

    # 3. correctness, per (data set, compressor, predictor, question)
    fam_eff = np.array([block.beta_family[f] for f in c_fam])
    eta = _correctness_logit(block, g, rate, p_size)
    eta = eta[..., None] + fam_eff[None, :, None, None] + u_q[:, None, None, :] + v_d[:, None, None, None]
    prob = 1.0 / (1.0 + np.exp(-eta))
    correct = uniform < prob

    # 4. usable information and 5. compute (from the parameters a token passes through)
    K = g["K"]
    usable = math.log2(K) * (prob - 1.0 / K) / (1.0 - 1.0 / K) + g["usable_sd"] * e_use
    flops = 2.0 * (active * 1e9)[None, :, None] * tokens * (1.0 + g["flops_overhead"])
    # 6. perplexity of the reference answer given the summary (log-linear in MI)
    if np.ndim(block.ppl_log0) == 0 and np.ndim(block.ppl_slope) == 0 and np.ndim(block.ppl_question_sd) == 0:
        log_ppl = (block.ppl_log0 - block.ppl_slope * mi[:, :, None] + g["ppl_sd"] * e_ppl)[
            ..., None
        ] + block.ppl_question_sd * e_ppl_q
    else:
        per_q = np.broadcast_to
        log0 = per_q(np.asarray(block.ppl_log0, dtype=float), (n_q,))
        slope = per_q(np.asarray(block.ppl_slope, dtype=float), (n_q,))
        q_sd = per_q(np.asarray(block.ppl_question_sd, dtype=float), (n_q,))
        log_ppl = log0 - slope * mi[:, :, None, None] + (g["ppl_sd"] * e_ppl)[..., None] + q_sd * e_ppl_q
    perplexity = np.exp(log_ppl)

    drawn = {
        "c_size": c_size,
        "p_size": p_size,
        "tokens": tokens,
        "mi": mi,
        "mi_context": mi_context,
        "ceiling": ceiling,
        "rate": rate,
        "correct": correct,
        "flops": flops,
        "usable": usable,
        "perplexity": perplexity,
    }
    return _frame(block, g, drawn, columns)


def _frame(block: Block, g: Mapping[str, Any], drawn: Mapping[str, Any], columns: Sequence[str]) -> pd.DataFrame:
    """One row per (data set, compressor, predictor, question) of a drawn block."""
    datasets, comps, preds, n_q = block.datasets, block.comps, block.preds, block.n_q
    c_size, p_size, tokens, mi, rate = (drawn[k] for k in ("c_size", "p_size", "tokens", "mi", "rate"))
    c_fam = [c["family"] for c in comps]
    di, ci, pi, qi = (ix.ravel() for ix in np.indices((len(datasets), len(comps), len(preds), n_q)))
    n = di.size

    def col(values: Sequence[Any], index: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=object)[index]

    def const(value: Any) -> np.ndarray:
        return np.full(n, value, dtype=object)

    tag = f"{block.record_tag}-" if block.record_tag else ""
    record_ids = np.array([[f"{d}-{tag}{q:04d}" for q in range(n_q)] for d in datasets], dtype=object)
    data = {
        "run": const("simulated"),
        "dataset": col(datasets, di),
        "task": const(block.task),
        "record_id": record_ids[di, qi],
        "compressor": col([c["name"] for c in comps], ci),
        "compressor_base": col([c.get("base", c["name"]) for c in comps], ci),
        "compressor_kind": const("lm"),
        "compressor_family": col(c_fam, ci),
        "compressor_model": col([c["model"] for c in comps], ci),
        "compressor_params": (c_size * 1e9)[ci],
        "sentences": const(block.columns.get("sentences")),
        "round": np.full(n, int(block.columns.get("round", 1)), dtype=np.int64),
        "item_type": const(None) if block.item_types is None else col(list(block.item_types), qi),
        "predictor": col([m["name"] for m in preds], pi),
        "predictor_family": col([m["family"] for m in preds], pi),
        "predictor_params": (p_size * 1e9)[pi],
        "scorer": const(g["scorer"]),
        "scorer_family": const(g["scorer_family"]),
        "N": np.full(n, g["N"], dtype=np.int64),
        "M": np.full(n, g["M"], dtype=np.int64),
        "seed": np.full(n, int(g["seed"]), dtype=np.int64),
        "conditioning": const("shared"),
        "summary_tokens": tokens[di, ci, qi],
        "mi_bits": mi[di, ci],
        "mi_context_bits": drawn["mi_context"][di, ci, qi],
        "mi_ceiling_bits": np.full(n, drawn["ceiling"]),
        "mi_per_token_bits": rate[di, ci],
        "correct": drawn["correct"].ravel() if block.scored else const(None),
        "flops_compressor": drawn["flops"][di, ci, qi],
        "cost_usd": np.zeros(n),
        "usable_info_bits": drawn["usable"].ravel() if block.scored else const(None),
        "perplexity": drawn["perplexity"].ravel(),
        "simulated": np.ones(n, dtype=bool),
    }
    return pd.DataFrame(data)[list(columns)]
