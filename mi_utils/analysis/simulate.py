"""A simulated results table on the paper's grid: :func:`simulate_grid` and its parameters.

The table has the experiment runner's row columns (:data:`ROW_COLUMNS`), one row per
(data set, compressor, predictor, question), and ``simulated=True`` on every row, so the
analysis functions and notebooks can be exercised (and their estimators checked for recovery)
without a GPU run. Nothing here is a measurement: the trends are the generative model's
parameters (:data:`SIMULATION_DEFAULTS`), whose defaults are shaped after the ratios the paper
reports (``data/paper_reported.csv``).

The generative model (``s`` = compressor parameter count, ``p`` = predictor parameter count,
both in units of 1e9; ``f`` = compressor family; ``d`` = data set; ``q`` = question):

1. **Summary length.** ``tokens_{f,s} = L0[f] * s ** (-gamma)`` (small models write longer
   summaries); each (data set, compressor, question) gets
   ``tokens_{f,s} * exp(length_sd * z - length_sd**2 / 2)`` (lognormal with that mean),
   clipped to ``[1, max_summary_tokens]``. The summary length of a record is shared by every
   predictor (predictors read the same summaries, as in the runner).
2. **Mutual information** (set level, bits, one value per data set and compressor, repeated on
   each of its rows): ``mi_bits = clip(a[f] + a1 * log2(s) + mi_sd * e, 0, log2 N)``.
   ``mi_per_token_bits`` (the rate ``R``) is ``mi_bits`` over the configuration's realised mean
   ``summary_tokens``; ``mi_context_bits`` (a record's contribution) adds zero-mean noise of
   SD ``mi_context_sd`` whose mean over the configuration is exactly ``mi_bits`` (shrunk where
   needed so no contribution exceeds ``log2 N``).
3. **Correctness**, in one of two modes (``link``):

   * ``link="distortion"`` (default): a rate-distortion curve per predictor and data set,
     ``D(R) = C * exp(-b * R) + D0[d, p]`` with ``D0[d, p] = clip(d0[d] - d1[d] * log2(p), 0, 1)``;
     then on the logit scale
     ``logit P(correct) = logit(clip(1 - D(R), eps, 1 - eps)) + beta_family[f] + u_q + v_d``,
     ``u_q ~ N(0, sd_question**2)`` (one per question, shared by all compressors and
     predictors), ``v_d ~ N(0, sd_dataset**2)``. With ``sd_question = sd_dataset = 0`` and
     ``beta_family = 0`` the expected accuracy of every (data set, compressor, predictor) is
     exactly ``1 - D(R)`` (clipped to ``[1e-6, 1 - 1e-6]``) with ``R`` its ``mi_per_token_bits``: a rate-distortion fit per
     (data set, predictor) recovers ``C``, ``b`` and ``D0[d, p]``.
   * ``link="glm"``: an exact logistic mixed model,
     ``logit P(correct) = beta0 + beta_family[f] + beta_csize * log2(s) + beta_psize * log2(p)
     + u_q + v_d``. With ``sd_question = sd_dataset = 0`` a logistic GLM on
     ``compressor_family + log2(compressor_params) + log2(predictor_params)``
     (:func:`~mi_utils.analysis.factors.rank_factors`) recovers the family differences
     ``beta_family[f] - beta_family[reference]``, ``beta_csize``, ``beta_psize`` and (with the
     reference family's ``beta_family`` 0) ``beta0``; with random intercepts, a mixed
     model (:func:`~mi_utils.analysis.factors.mixed_effects`) recovers them and ``sd_question``
     (a plain GLM then estimates population-averaged, attenuated coefficients).

   ``correct ~ Bernoulli(P(correct))``.
4. **Usable information** (bits, per row): ``log2(K) * (P - 1/K) / (1 - 1/K) + usable_sd * e``
   with ``K = n_options`` and ``P`` the row's success probability: 0 at chance, ``log2 K`` at
   certainty, increasing in the accuracy (negative below chance).
6. **Perplexity** of the reference answer given the summary (the paper's query-agnostic
   metric, Fig. 6 right): ``log ppl = ppl_log0 - ppl_slope * mi_bits + ppl_sd * e_config +
   ppl_question_sd * e_question``, so configurations with more MI have lower perplexity.
5. **Compute**: ``flops_compressor = 2 * s * tokens * (1 + flops_overhead)`` per generation.
   The paper's count is ``(2 P + 2 n_layer n_ctx d_attn) * tokens``; the attention term depends
   on the context length and the architecture, which the simulation does not model, so it is
   folded into a constant relative overhead (so the 7B / 1.5B FLOPs ratio is
   ``(7 / 1.5) ** (1 - gamma)``, about +1.4% with the default ``gamma``).

Every question is treated as a ``K``-option multiple-choice item (``task="multiple_choice"``
on every row, FinanceBench included): a simplification of the simulation.

Defaults and what they reproduce (checked in ``tests/test_analysis_sim.py``; the values in
brackets are those of ``simulate_grid(0, n_questions=400)``, pooled over data sets and
predictors unless stated):

* ``gamma = log(4.6) / log(7 / 1.5)``: Qwen-2.5 7B writes 4.6x fewer tokens than 1.5B
  (abstract) [4.60x], and so spends (7 / 1.5) ** (1 - gamma) - 1 = +1.4% FLOPs (paper: +1.3%)
  [+1.5%].
* ``a1`` with ``a["qwen2.5"]``: MI grows 1.2x from 1.5B to 7B, hence 4.6 x 1.2 = 5.5x more MI per
  token (abstract, arXiv v1) [5.6x].
* ``C``, ``b``, ``d0``, ``d1``: 1.6x accuracy for Qwen-2.5 7B over 1.5B (abstract) [1.63x;
  LongHealth alone +65%, paper +60%], a 70B -> 405B predictor gain of +12% on LongHealth
  [+11%] and +1% on FinanceBench [-1%, i.e. none] (scaling results).
* ``beta_family`` (Qwen-2.5 the reference; Llama-3 -1.4, Gemma-3 +0.6 on the logit scale):
  family effects larger than the size effects, so a logistic GLM ranks compressor family >
  compressor size > predictor size (Fig. 17) [in both modes at seeds 0-5 with the default 60 questions]. The family
  values are illustrative: the paper reports no absolute accuracies.
* Not targeted: the paper's 3.1x (LongHealth) / 2.6x (FinanceBench) accuracy of 7-8B over
  1-1.5B compressors [about 1.9x / 2.0x here].
* ``sd_question = 1`` (logit scale; questions differ in difficulty), ``sd_dataset = 0.2``,
  ``n_questions = 60`` per data set, ``N = 100`` and ``M = 5`` as in ``configs/paper_grid.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ROW_COLUMNS", "SIMULATION_DEFAULTS", "simulate_grid"]

#: Columns of the simulated table, in order (a subset of the runner's row columns, same names).
ROW_COLUMNS: tuple[str, ...] = (
    "run",
    "dataset",
    "task",
    "record_id",
    "compressor",
    "compressor_kind",
    "compressor_family",
    "compressor_model",
    "compressor_params",
    "sentences",
    "predictor",
    "predictor_family",
    "predictor_params",
    "scorer",
    "scorer_family",
    "N",
    "M",
    "seed",
    "conditioning",
    "summary_tokens",
    "mi_bits",
    "mi_context_bits",
    "mi_ceiling_bits",
    "mi_per_token_bits",
    "correct",
    "flops_compressor",
    "cost_usd",
    "usable_info_bits",
    "perplexity",
    "simulated",
)

# The grid of configs/paper_grid.yaml (LM compressors and the Llama predictors; GPT-4o, the
# baselines and the query-agnostic data sets are not simulated). Nominal parameter counts.
_COMPRESSORS: tuple[dict[str, Any], ...] = (
    {"name": "qwen2.5-1.5b", "family": "qwen2.5", "model": "Qwen/Qwen2.5-1.5B-Instruct", "params": 1.5e9},
    {"name": "qwen2.5-3b", "family": "qwen2.5", "model": "Qwen/Qwen2.5-3B-Instruct", "params": 3e9},
    {"name": "qwen2.5-7b", "family": "qwen2.5", "model": "Qwen/Qwen2.5-7B-Instruct", "params": 7e9},
    {"name": "qwen2.5-14b", "family": "qwen2.5", "model": "Qwen/Qwen2.5-14B-Instruct", "params": 14e9},
    {"name": "llama3-1b", "family": "llama3", "model": "meta-llama/Llama-3.2-1B-Instruct", "params": 1e9},
    {"name": "llama3-3b", "family": "llama3", "model": "meta-llama/Llama-3.2-3B-Instruct", "params": 3e9},
    {"name": "llama3-8b", "family": "llama3", "model": "meta-llama/Llama-3.1-8B-Instruct", "params": 8e9},
    {"name": "gemma3-1b", "family": "gemma3", "model": "google/gemma-3-1b-it", "params": 1e9},
    {"name": "gemma3-4b", "family": "gemma3", "model": "google/gemma-3-4b-it", "params": 4e9},
    {"name": "gemma3-12b", "family": "gemma3", "model": "google/gemma-3-12b-it", "params": 12e9},
)
_PREDICTORS: tuple[dict[str, Any], ...] = (
    {"name": "llama-1b", "family": "llama3", "model": "meta-llama/Llama-3.2-1B-Instruct", "params": 1e9},
    {"name": "llama-8b", "family": "llama3", "model": "meta-llama/Llama-3.1-8B-Instruct", "params": 8e9},
    {"name": "llama-70b", "family": "llama3", "model": "meta-llama/Llama-3.3-70B-Instruct", "params": 70e9},
    {"name": "llama-405b", "family": "llama3", "model": "meta-llama/Llama-3.1-405B-Instruct-FP8", "params": 405e9},
)

#: Every parameter of :func:`simulate_grid` and its default (override any by keyword).
#:
#: Grid: ``compressors`` / ``predictors`` (dicts with ``name``, ``family``, ``model``,
#: ``params``; a list of default names selects a subset), ``datasets``, ``n_questions`` (per
#: data set), ``N`` (contexts of the MI estimate; ceiling ``log2 N``), ``M`` (summaries per
#: context), ``n_options`` (K), ``scorer`` / ``scorer_family``.
#: Length: ``L0`` (tokens of a 1B model, per family), ``gamma``, ``length_sd`` (lognormal SD),
#: ``max_summary_tokens``. MI: ``a`` (bits of a 1B model, per family), ``a1`` (bits per doubling),
#: ``mi_sd``, ``mi_context_sd``. Accuracy: ``link`` (``"distortion"`` or ``"glm"``);
#: distortion mode ``C``, ``b``, ``d0``, ``d1`` (``d0`` / ``d1`` a number or one per data set);
#: GLM mode ``beta0``, ``beta_csize``, ``beta_psize`` (logit per doubling); both modes
#: ``beta_family`` (logit, per family), ``sd_question``, ``sd_dataset``. Other: ``usable_sd``,
#: ``flops_overhead``.
SIMULATION_DEFAULTS: dict[str, Any] = {
    # grid
    "compressors": _COMPRESSORS,
    "predictors": _PREDICTORS,
    "datasets": ("longhealth", "financebench"),
    "n_questions": 60,
    "N": 100,
    "M": 5,
    "n_options": 5,
    "scorer": "qwen-7b",
    "scorer_family": "qwen2.5",
    # summary length: tokens = L0[f] * (s / 1e9) ** -gamma, lognormal noise
    "L0": {"qwen2.5": 480.0, "llama3": 420.0, "gemma3": 400.0},
    "gamma": math.log(4.6) / math.log(7 / 1.5),
    "length_sd": 0.25,
    "max_summary_tokens": 512,
    # mutual information: mi = a[f] + a1 * log2(s / 1e9), clipped to [0, log2 N]
    "a": {"qwen2.5": 3.0, "llama3": 2.6, "gemma3": 2.8},
    "a1": 0.29,
    "mi_sd": 0.05,
    "mi_context_sd": 0.5,
    # accuracy
    "link": "distortion",
    "C": 0.57,
    "b": 24.0,
    "d0": {"longhealth": 0.27, "financebench": 0.20},
    "d1": {"longhealth": 0.029, "financebench": 0.0015},
    "beta0": -0.8,
    "beta_csize": 0.3,
    "beta_psize": 0.06,
    "beta_family": {"qwen2.5": 0.0, "llama3": -1.4, "gemma3": 0.6},
    "sd_question": 1.0,
    "sd_dataset": 0.2,
    # other columns
    "usable_sd": 0.05,
    "flops_overhead": 0.05,
    # perplexity of the reference answer: log ppl = ppl_log0 - ppl_slope * mi + noise
    # (configuration-level noise ppl_sd, per-question ppl_question_sd); defaults give a
    # configuration-level Pearson r near the paper's -0.84 (Fig. 6 right)
    "ppl_log0": 2.5,
    "ppl_slope": 0.5,
    "ppl_sd": 0.1,
    "ppl_question_sd": 0.3,
}

_LINKS = ("distortion", "glm")
_EPS = 1e-6


def _fail(msg: str) -> None:
    raise ValueError(f"simulate_grid: {msg}")


def _models(value: Any, defaults: Sequence[Mapping[str, Any]], name: str) -> list[dict[str, Any]]:
    """Normalise a ``compressors`` / ``predictors`` argument to a list of model dicts."""
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence) or len(value) == 0:
        _fail(f"{name} must be a non-empty list of model names or dicts, got {value!r}")
    by_name = {m["name"]: m for m in defaults}
    out: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, str):
            if item not in by_name:
                _fail(
                    f"unknown {name[:-1]} {item!r}; use one of {sorted(by_name)} or pass a dict "
                    "with keys name, family, model, params"
                )
            out.append(dict(by_name[item]))
        elif isinstance(item, Mapping):
            missing = [k for k in ("name", "family", "model", "params") if k not in item]
            if missing:
                _fail(f"{name} entry {dict(item)!r} lacks {missing}; give name, family, model and params")
            params = item["params"]
            if isinstance(params, bool) or not isinstance(params, (int, float)) or not params > 0:
                _fail(f"{name} entry {item['name']!r} needs a positive parameter count, got {params!r}")
            out.append(
                {
                    "name": str(item["name"]),
                    "family": str(item["family"]),
                    "model": str(item["model"]),
                    "params": float(params),
                }
            )
        else:
            _fail(f"{name} entries must be model names or dicts, got {item!r}")
    names = [m["name"] for m in out]
    if len(set(names)) != len(names):
        _fail(f"{name} has duplicate names {names}; give each model once")
    return out


def _per_key(value: Any, keys: Sequence[str], name: str, what: str) -> dict[str, float]:
    """A number (same for every key) or a mapping covering every key, as floats."""
    if isinstance(value, Mapping):
        missing = [k for k in keys if k not in value]
        if missing:
            _fail(f"{name} has no value for {what} {missing}; add them (or pass one number for all)")
        out = {k: value[k] for k in keys}
    else:
        out = dict.fromkeys(keys, value)
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            _fail(f"{name}[{k!r}] must be a finite number, got {v!r}")
    return {k: float(v) for k, v in out.items()}


def _number(p: Mapping[str, Any], name: str, minimum: float | None = None, strict: bool = False) -> float:
    v = p[name]
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
        _fail(f"{name} must be a finite number, got {v!r}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        _fail(f"{name} must be {'>' if strict else '>='} {minimum}, got {v!r}")
    return float(v)


def _integer(p: Mapping[str, Any], name: str, minimum: int) -> int:
    v = p[name]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        _fail(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def simulate_grid(seed: int = 0, **params: Any) -> pd.DataFrame:
    """Simulate a results table on the paper's grid from the documented generative model.

    See the module docstring for the model; every parameter and its default is in
    :data:`SIMULATION_DEFAULTS`.

    Args:
      seed: seed of the random generator; the table is a deterministic function of
        ``(seed, params)``.
      **params: overrides of :data:`SIMULATION_DEFAULTS` (e.g. ``n_questions=200``,
        ``link="glm"``, ``sd_question=0``, ``compressors=["qwen2.5-1.5b", "qwen2.5-7b"]``).
        Per-family parameters (``L0``, ``a``, ``beta_family``) are mappings that must cover
        every compressor family; ``d0`` / ``d1`` a number or a mapping per data set.

    Returns:
      A DataFrame with the columns :data:`ROW_COLUMNS` in that order, one row per
      (data set, compressor, predictor, question), ``run="simulated"`` and ``simulated=True``.

    Raises:
      ValueError: an unknown parameter (the message lists the allowed names) or an invalid value.
    """
    unknown = sorted(set(params) - set(SIMULATION_DEFAULTS))
    if unknown:
        _fail(f"unknown parameter(s) {unknown}; allowed: {sorted(SIMULATION_DEFAULTS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        _fail(f"seed must be a non-negative integer, got {seed!r}")
    p = {**SIMULATION_DEFAULTS, **params}

    comps = _models(p["compressors"], _COMPRESSORS, "compressors")
    preds = _models(p["predictors"], _PREDICTORS, "predictors")
    datasets = p["datasets"]
    if (
        isinstance(datasets, str)
        or not isinstance(datasets, Sequence)
        or len(datasets) == 0
        or not all(isinstance(d, str) for d in datasets)
        or len(set(datasets)) != len(datasets)
    ):
        _fail(f"datasets must be a non-empty list of distinct names, got {datasets!r}")
    datasets = list(datasets)
    n_q = _integer(p, "n_questions", 1)
    N = _integer(p, "N", 2)
    M = _integer(p, "M", 1)
    K = _integer(p, "n_options", 2)
    link = p["link"]
    if link not in _LINKS:
        _fail(f"link must be one of {_LINKS}, got {link!r}")
    families = list(dict.fromkeys(c["family"] for c in comps))
    L0 = _per_key(p["L0"], families, "L0", "family")
    a = _per_key(p["a"], families, "a", "family")
    beta_family = _per_key(p["beta_family"], families, "beta_family", "family")
    d0 = _per_key(p["d0"], datasets, "d0", "data set")
    d1 = _per_key(p["d1"], datasets, "d1", "data set")
    if any(v <= 0 for v in L0.values()):
        _fail(f"L0 must be positive token counts, got {L0}")
    gamma, a1 = _number(p, "gamma"), _number(p, "a1")
    length_sd, mi_sd = _number(p, "length_sd", 0.0), _number(p, "mi_sd", 0.0)
    mi_context_sd, usable_sd = _number(p, "mi_context_sd", 0.0), _number(p, "usable_sd", 0.0)
    max_tokens = _number(p, "max_summary_tokens", 1.0)
    C, b = _number(p, "C", 0.0), _number(p, "b", 0.0)
    beta0, beta_csize, beta_psize = _number(p, "beta0"), _number(p, "beta_csize"), _number(p, "beta_psize")
    sd_q, sd_d = _number(p, "sd_question", 0.0), _number(p, "sd_dataset", 0.0)
    overhead = _number(p, "flops_overhead", 0.0)
    ppl_log0, ppl_slope = _number(p, "ppl_log0"), _number(p, "ppl_slope")
    ppl_sd, ppl_question_sd = _number(p, "ppl_sd", 0.0), _number(p, "ppl_question_sd", 0.0)
    for key in ("scorer", "scorer_family"):
        if not isinstance(p[key], str):
            _fail(f"{key} must be a string, got {p[key]!r}")

    D, Cn, P = len(datasets), len(comps), len(preds)
    rng = np.random.default_rng(int(seed))
    # every draw happens in this fixed order whatever the link, so one seed gives the same
    # questions, lengths and MI noise in both modes
    v_d = rng.normal(0.0, 1.0, D) * sd_d
    u_q = rng.normal(0.0, 1.0, (D, n_q)) * sd_q
    z_len = rng.normal(0.0, 1.0, (D, Cn, n_q))
    e_mi = rng.normal(0.0, 1.0, (D, Cn))
    e_ctx = rng.normal(0.0, 1.0, (D, Cn, n_q))
    uniform = rng.random((D, Cn, P, n_q))
    e_use = rng.normal(0.0, 1.0, (D, Cn, P, n_q))
    e_ppl = rng.normal(0.0, 1.0, (D, Cn, P))  # drawn last: the columns above do not depend on it
    e_ppl_q = rng.normal(0.0, 1.0, (D, Cn, P, n_q))

    c_size = np.array([c["params"] for c in comps]) / 1e9
    p_size = np.array([m["params"] for m in preds]) / 1e9
    c_fam = [c["family"] for c in comps]

    # 1. summary length, per (data set, compressor, question)
    expected = np.array([L0[f] for f in c_fam]) * c_size ** (-gamma)
    tokens = expected[None, :, None] * np.exp(length_sd * z_len - length_sd**2 / 2)
    tokens = np.clip(tokens, 1.0, max_tokens)
    mean_tokens = tokens.mean(axis=2)  # (D, Cn)

    # 2. mutual information, per (data set, compressor); contributions per question
    ceiling = math.log2(N)
    mi = np.array([a[f] for f in c_fam])[None, :] + a1 * np.log2(c_size)[None, :] + mi_sd * e_mi
    mi = np.clip(mi, 0.0, ceiling)
    rate = mi / mean_tokens
    noise = mi_context_sd * (e_ctx - e_ctx.mean(axis=2, keepdims=True))
    top = noise.max(axis=2, keepdims=True)
    room = (ceiling - mi)[:, :, None]
    shrink = np.where(top > room, room / np.where(top > 0, top, 1.0), 1.0)
    mi_context = mi[:, :, None] + noise * shrink

    # 3. correctness, per (data set, compressor, predictor, question)
    fam_eff = np.array([beta_family[f] for f in c_fam])
    if link == "distortion":
        D0 = np.clip(np.array([[d0[d] - d1[d] * math.log2(s) for s in p_size] for d in datasets]), 0.0, 1.0)
        dist = C * np.exp(-b * rate)[:, :, None] + D0[:, None, :]  # (D, Cn, P)
        base = np.clip(1.0 - dist, _EPS, 1.0 - _EPS)
        eta = np.log(base / (1.0 - base))
    else:
        eta = (
            beta0
            + beta_csize * np.log2(c_size)[None, :, None]
            + beta_psize * np.log2(p_size)[None, None, :]
            + np.zeros((D, 1, 1))
        )
    eta = eta[..., None] + fam_eff[None, :, None, None] + u_q[:, None, None, :] + v_d[:, None, None, None]
    prob = 1.0 / (1.0 + np.exp(-eta))
    correct = uniform < prob

    # 4. usable information and 5. compute
    usable = math.log2(K) * (prob - 1.0 / K) / (1.0 - 1.0 / K) + usable_sd * e_use
    flops = 2.0 * (c_size * 1e9)[None, :, None] * tokens * (1.0 + overhead)
    # 6. perplexity of the reference answer given the summary (log-linear in MI)
    log_ppl = (ppl_log0 - ppl_slope * mi[:, :, None] + ppl_sd * e_ppl)[..., None] + ppl_question_sd * e_ppl_q
    perplexity = np.exp(log_ppl)

    shape = (D, Cn, P, n_q)
    di, ci, pi, qi = (ix.ravel() for ix in np.indices(shape))
    n = di.size

    def col(values: Sequence[Any], index: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=object)[index]

    record_ids = np.array([[f"{d}-{q:04d}" for q in range(n_q)] for d in datasets], dtype=object)
    frame = pd.DataFrame(
        {
            "run": np.full(n, "simulated", dtype=object),
            "dataset": col(datasets, di),
            "task": np.full(n, "multiple_choice", dtype=object),
            "record_id": record_ids[di, qi],
            "compressor": col([c["name"] for c in comps], ci),
            "compressor_kind": np.full(n, "lm", dtype=object),
            "compressor_family": col(c_fam, ci),
            "compressor_model": col([c["model"] for c in comps], ci),
            "compressor_params": (c_size * 1e9)[ci],
            "sentences": np.full(n, None, dtype=object),
            "predictor": col([m["name"] for m in preds], pi),
            "predictor_family": col([m["family"] for m in preds], pi),
            "predictor_params": (p_size * 1e9)[pi],
            "scorer": np.full(n, p["scorer"], dtype=object),
            "scorer_family": np.full(n, p["scorer_family"], dtype=object),
            "N": np.full(n, N, dtype=np.int64),
            "M": np.full(n, M, dtype=np.int64),
            "seed": np.full(n, int(seed), dtype=np.int64),
            "conditioning": np.full(n, "shared", dtype=object),
            "summary_tokens": tokens[di, ci, qi],
            "mi_bits": mi[di, ci],
            "mi_context_bits": mi_context[di, ci, qi],
            "mi_ceiling_bits": np.full(n, ceiling),
            "mi_per_token_bits": rate[di, ci],
            "correct": correct.ravel(),
            "flops_compressor": flops[di, ci, qi],
            "cost_usd": np.zeros(n),
            "usable_info_bits": usable.ravel(),
            "perplexity": perplexity.ravel(),
            "simulated": np.ones(n, dtype=bool),
        }
    )
    return frame[list(ROW_COLUMNS)]
