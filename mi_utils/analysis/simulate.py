"""A simulated results table on the paper's grid: :func:`simulate_grid` and its parameters.

The table has the experiment runner's row columns (:data:`ROW_COLUMNS`; ``item_type`` is the kind of a
query-agnostic item, ``"extractive"`` or ``"creative"``, and ``compressor_base`` the compressor's name
before a sentence count's ``-<k>sent``), one row per
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

Every row of the main grid has ``sentences`` None (no conciseness instruction), ``round`` 1,
``item_type`` None and ``compressor_base`` equal to ``compressor``. **Side studies** (``studies="all"`` or a list from :data:`STUDIES`; default the
main grid alone) add the rows the paper's other figures need: conciseness instructions (Figs. 5, 16),
QASPER with Qwen-3 (Fig. 9), query-agnostic FineWeb and WildChat items (Figs. 11, 12), a mixture of
experts (Fig. 14) and compress-and-refine rounds (Fig. 18). Each is one or more blocks of the same
model with its own expected lengths and MI, drawn from its own random stream (so the main grid's rows
are the same whichever studies are drawn); :mod:`~mi_utils.analysis.simulate_studies` documents them.

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

from ._simulate_core import Block, draw_block, fail, integer, models, number, per_key
from .simulate_studies import STUDIES, STUDY_DEFAULTS, study_blocks

__all__ = ["ROW_COLUMNS", "SIMULATION_DEFAULTS", "STUDIES", "simulate_grid"]

#: Columns of the simulated table, in order (a subset of the runner's row columns, same names).
ROW_COLUMNS: tuple[str, ...] = (
    "run",
    "dataset",
    "task",
    "record_id",
    "compressor",
    "compressor_base",
    "compressor_kind",
    "compressor_family",
    "compressor_model",
    "compressor_params",
    "sentences",
    "round",
    "item_type",
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
#: ``flops_overhead``. Studies: ``studies`` (``"all"`` or names from :data:`STUDIES`; default the main
#: grid alone) and the side studies' parameters (:data:`~mi_utils.analysis.simulate_studies.STUDY_DEFAULTS`).
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
    "L0": {"qwen2.5": 480.0, "llama3": 420.0, "gemma3": 400.0, "qwen3": 450.0},
    "gamma": math.log(4.6) / math.log(7 / 1.5),
    "length_sd": 0.25,
    "max_summary_tokens": 512,
    # mutual information: mi = a[f] + a1 * log2(s / 1e9), clipped to [0, log2 N]
    "a": {"qwen2.5": 3.0, "llama3": 2.6, "gemma3": 2.8, "qwen3": 3.1},
    "a1": 0.29,
    "mi_sd": 0.05,
    "mi_context_sd": 0.5,
    # accuracy
    "link": "distortion",
    "C": 0.57,
    "b": 24.0,
    "d0": {"longhealth": 0.27, "financebench": 0.20, "qasper": 0.35},
    "d1": {"longhealth": 0.029, "financebench": 0.0015, "qasper": 0.01},
    "beta0": -0.8,
    "beta_csize": 0.3,
    "beta_psize": 0.06,
    "beta_family": {"qwen2.5": 0.0, "llama3": -1.4, "gemma3": 0.6, "qwen3": 0.3},
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
    # side studies (simulate_studies): which ones, and their parameters
    "studies": ("main",),
    **STUDY_DEFAULTS,
}

_LINKS = ("distortion", "glm")


def _datasets(p: Mapping[str, Any]) -> list[str]:
    datasets = p["datasets"]
    if (
        isinstance(datasets, str)
        or not isinstance(datasets, Sequence)
        or len(datasets) == 0
        or not all(isinstance(d, str) for d in datasets)
        or len(set(datasets)) != len(datasets)
    ):
        fail(f"datasets must be a non-empty list of distinct names, got {datasets!r}")
    return list(datasets)


def _shared(p: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The checked parameters every block reads (the ``g`` of :func:`draw_block`)."""
    link = p["link"]
    if link not in _LINKS:
        fail(f"link must be one of {_LINKS}, got {link!r}")
    for key in ("scorer", "scorer_family"):
        if not isinstance(p[key], str):
            fail(f"{key} must be a string, got {p[key]!r}")
    g: dict[str, Any] = {
        "link": link,
        "seed": int(seed),
        "N": integer(p, "N", 2),
        "M": integer(p, "M", 1),
        "K": integer(p, "n_options", 2),
        "scorer": p["scorer"],
        "scorer_family": p["scorer_family"],
        "max_tokens": number(p, "max_summary_tokens", 1.0),
    }
    for name in ("gamma", "a1", "beta0", "beta_csize", "beta_psize", "ppl_log0", "ppl_slope"):
        g[name] = number(p, name)
    for name in (
        "length_sd",
        "mi_sd",
        "mi_context_sd",
        "usable_sd",
        "C",
        "b",
        "sd_question",
        "sd_dataset",
        "flops_overhead",
        "ppl_sd",
        "ppl_question_sd",
    ):
        g[name] = number(p, name, 0.0)
    return g


def _main_block(p: Mapping[str, Any], g: Mapping[str, Any], comps: list[dict], preds: list[dict]) -> Block:
    """The paper's grid: the data sets, compressors and predictors of ``p``, sizes as given."""
    datasets = _datasets(p)
    families = list(dict.fromkeys(c["family"] for c in comps))
    L0 = per_key(p["L0"], families, "L0", "family")
    a = per_key(p["a"], families, "a", "family")
    if any(v <= 0 for v in L0.values()):
        fail(f"L0 must be positive token counts, got {L0}")
    c_size = np.array([c["params"] for c in comps]) / 1e9
    c_fam = [c["family"] for c in comps]
    return Block(
        datasets=datasets,
        comps=comps,
        preds=preds,
        n_q=integer(p, "n_questions", 1),
        expected_tokens=np.array([L0[f] for f in c_fam]) * c_size ** (-g["gamma"]),
        mi_mean=np.array([a[f] for f in c_fam]) + g["a1"] * np.log2(c_size),
        quality_size=c_size,
        d0=per_key(p["d0"], datasets, "d0", "data set"),
        d1=per_key(p["d1"], datasets, "d1", "data set"),
        beta_family=per_key(p["beta_family"], families, "beta_family", "family"),
        ppl_log0=g["ppl_log0"],
        ppl_slope=g["ppl_slope"],
        ppl_question_sd=g["ppl_question_sd"],
    )


def simulate_grid(seed: int = 0, **params: Any) -> pd.DataFrame:
    """Simulate a results table on the paper's grid from the documented generative model.

    See the module docstring for the model (and :mod:`~mi_utils.analysis.simulate_studies` for the
    side studies); every parameter and its default is in :data:`SIMULATION_DEFAULTS`.

    Args:
      seed: seed of the random generator; the table is a deterministic function of
        ``(seed, params)``.
      **params: overrides of :data:`SIMULATION_DEFAULTS` (e.g. ``n_questions=200``,
        ``link="glm"``, ``sd_question=0``, ``compressors=["qwen2.5-1.5b", "qwen2.5-7b"]``,
        ``studies="all"``). Per-family parameters (``L0``, ``a``, ``beta_family``) are mappings that
        must cover every compressor family; ``d0`` / ``d1`` a number or a mapping per data set.

    Returns:
      A DataFrame with the columns :data:`ROW_COLUMNS` in that order, one row per
      (study block, data set, compressor, predictor, question), ``run="simulated"`` and ``simulated=True``.
      The main grid's rows come first and do not depend on which other studies are drawn.

    Raises:
      ValueError: an unknown parameter or study (the message lists the allowed names) or an invalid value.
    """
    unknown = sorted(set(params) - set(SIMULATION_DEFAULTS))
    if unknown:
        fail(f"unknown parameter(s) {unknown}; allowed: {sorted(SIMULATION_DEFAULTS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        fail(f"seed must be a non-negative integer, got {seed!r}")
    p = {**SIMULATION_DEFAULTS, **params}
    studies = _studies(p["studies"])
    comps = models(p["compressors"], _COMPRESSORS, "compressors")
    preds = models(p["predictors"], _PREDICTORS, "predictors")
    g = _shared(p, int(seed))
    frames = []
    for index, study in enumerate(STUDIES):
        if study not in studies:
            continue
        if study == "main":
            block = _main_block(p, g, comps, preds)
            frames.append(draw_block(np.random.default_rng(int(seed)), block, g, ROW_COLUMNS))
            continue
        # each side study draws from its own stream, so adding one changes no other study's rows
        rng = np.random.default_rng([int(seed), index])
        for block in study_blocks(study, p, g, comps, preds):
            frames.append(draw_block(rng, block, g, ROW_COLUMNS))
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return frame[list(ROW_COLUMNS)]


def _studies(value: Any) -> list[str]:
    if value == "all":
        return list(STUDIES)
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence) or len(value) == 0 or not all(isinstance(s, str) for s in value):
        fail(f"studies must be 'all' or a non-empty list of names from {list(STUDIES)}, got {value!r}")
    bad = [s for s in value if s not in STUDIES]
    if bad:
        fail(f"unknown studies {bad}; use names from {list(STUDIES)} or 'all'")
    return list(value)
