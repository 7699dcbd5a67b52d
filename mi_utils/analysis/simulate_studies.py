"""The side studies of the simulated grid: the rows the paper's Figs. 5, 9, 11, 12, 14, 16 and 18 need.

:func:`~mi_utils.analysis.simulate.simulate_grid` draws them with ``studies="all"`` (or a list of
:data:`STUDIES`). Each study is one or more *blocks* of the main generative model
(:mod:`~mi_utils.analysis.simulate`: length, MI, correctness through the ``link``, usable information,
FLOPs, perplexity) with its own expected lengths, MI and columns, drawn from the study's own random
stream; question effects and noise are drawn per block, and each block's record ids carry a tag
(``longhealth-s3-0007``), so blocks never share a question. As in the runner, ``compressor`` names the
setting: an instructed or refined compressor is ``qwen2.5-7b-3sent`` / ``qwen2.5-7b-refine``, and
``compressor_base`` names its config: ``qwen2.5-7b`` (the sentence count is the runner's expansion of it) /
``qwen2.5-7b-refine`` (every round, one chain). Parameters and defaults:
:data:`STUDY_DEFAULTS` (illustrative: the paper reports no absolute values for these figures, only
directions, which the defaults follow). ``s`` is the compressor size in units of 1e9, ``f`` its family,
``a``, ``a1``, ``L0``, ``gamma`` the main model's.

* ``"sentences"`` (Figs. 5, 16): the compressors of the families ``sentence_families`` on
  ``sentence_datasets`` with the instruction "use exactly k sentences", one block per ``k`` in
  ``sentence_counts`` (column ``sentences`` = k), read by ``study_predictor``. Length
  ``k * sentence_tokens * s ** -sentence_gamma``; MI ``a[f] + a1 log2 s + mi_sentences * log2(k / max k)``
  (fewer sentences, fewer bits, more bits per token).
* ``"qasper"`` (Fig. 9): data set ``qasper``, the main grid's Qwen-2.5 and Llama-3 compressors and the
  Qwen-3 compressors ``qwen3_compressors``, main-model length and MI, ``study_predictor``.
* ``"query_agnostic"`` (Figs. 11, 12): ``fineweb`` (items per document cycle 2 extractive questions
  and 3 creative tasks, column ``item_type``) and ``wildchat`` (one extractive memory question per
  user), the compressors of ``sentence_families``, task ``"perplexity"``: ``correct`` and
  ``usable_info_bits`` are None. The perplexity of the reference under ``perplexity_predictor``:
  ``log ppl = ppl_log0 - ppl_slope * mi + noise`` for extractive items (the main model's values) and
  ``ppl_log0_creative - ppl_slope_creative * mi`` with per-item SD ``ppl_question_sd_creative`` for
  creative ones: creative perplexity is higher and tracks MI more weakly (the paper's Fig. 11).
* ``"moe"`` (Fig. 14): on ``longhealth``, the dense ``qwen3_compressors`` and ``moe_compressor``
  (Qwen3-30B-A3B: 30.5B parameters, its ``active`` count from :func:`mi_utils.costs.active_params`
  of its config, 3.3B). FLOPs count the active parameters; length and MI follow its *quality size*
  ``active ** (1 - moe_quality) * total ** moe_quality`` (10B at the default 0.5), as if a dense model of
  that size wrote it: an assumption, not a paper number.
* ``"refine"`` (Fig. 18): on ``longhealth``, the main grid's Qwen-2.5 compressors, one block per
  round ``r = 1..rounds`` (column ``round``) of a compress-and-refine loop; MI
  ``a[f] + a1 log2 s + refine_gain * (1 - exp(-(r - 1) / refine_tau))``: with ``refine_tau = 0.5`` the
  second round adds 86% of the gain and later rounds almost nothing (saturation after two rounds).

Data sets other than the main grid's need ``d0`` / ``d1`` entries (``qasper`` has defaults), and
families other than the main grid's ``L0`` / ``a`` / ``beta_family`` entries (``qwen3`` has defaults).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..costs import active_params
from ._simulate_core import Block, fail, integer, models, number, per_key

__all__ = ["STUDIES", "STUDY_DEFAULTS", "QWEN3_30B_A3B_CONFIG", "study_blocks"]

#: The studies of :func:`~mi_utils.analysis.simulate.simulate_grid`, in drawing order.
STUDIES: tuple[str, ...] = ("main", "sentences", "qasper", "query_agnostic", "moe", "refine")

#: The shape of Qwen3-30B-A3B (its ``config.json``): what :func:`mi_utils.costs.active_params` reads.
QWEN3_30B_A3B_CONFIG: dict[str, Any] = {
    "hidden_size": 2048,
    "num_hidden_layers": 48,
    "num_experts": 128,
    "num_experts_per_tok": 8,
    "moe_intermediate_size": 768,
    "decoder_sparse_step": 1,
    "mlp_only_layers": [],
}

_QWEN3: tuple[dict[str, Any], ...] = (
    {"name": "qwen3-1.7b", "family": "qwen3", "model": "Qwen/Qwen3-1.7B", "params": 1.7e9},
    {"name": "qwen3-4b", "family": "qwen3", "model": "Qwen/Qwen3-4B", "params": 4e9},
    {"name": "qwen3-8b", "family": "qwen3", "model": "Qwen/Qwen3-8B", "params": 8e9},
    {"name": "qwen3-14b", "family": "qwen3", "model": "Qwen/Qwen3-14B", "params": 14e9},
)
_MOE: dict[str, Any] = {
    "name": "qwen3-30b-a3b",
    "family": "qwen3",
    "model": "Qwen/Qwen3-30B-A3B",
    "params": 30.5e9,
    "active": active_params(QWEN3_30B_A3B_CONFIG, 30.5e9),
}

#: The side studies' parameters and defaults (part of :data:`~mi_utils.analysis.simulate.SIMULATION_DEFAULTS`).
STUDY_DEFAULTS: dict[str, Any] = {
    "study_predictor": "llama-70b",
    "perplexity_predictor": "llama-8b",
    "sentence_families": ("qwen2.5", "llama3"),
    "sentence_datasets": ("longhealth", "financebench"),
    "sentence_counts": (3, 6, 9),
    "sentence_tokens": 24.0,
    "sentence_gamma": 0.1,
    "mi_sentences": 0.35,
    "qwen3_compressors": _QWEN3,
    "moe_compressor": _MOE,
    "moe_quality": 0.5,
    "ppl_log0_creative": 3.3,
    "ppl_slope_creative": 0.15,
    "ppl_question_sd_creative": 0.5,
    "rounds": 4,
    "refine_gain": 0.6,
    "refine_tau": 0.5,
}

_FINEWEB_ITEMS = ("extractive", "extractive", "creative", "creative", "creative")


def _one_predictor(p: Mapping[str, Any], preds: list[dict], key: str) -> list[dict]:
    by_name = {m["name"]: m for m in preds}
    if p[key] not in by_name:
        fail(f"{key} {p[key]!r} is not among the predictors {sorted(by_name)}; set {key} to one of them")
    return [by_name[p[key]]]


def _of_families(comps: list[dict], families: Sequence[str], study: str) -> list[dict]:
    out = [c for c in comps if c["family"] in set(families)]
    if not out:
        fail(f"study {study!r} needs compressors of the families {list(families)}; the grid has none")
    return out


def _block(
    p, g, datasets, comps, preds, *, tokens=None, mi_shift=0.0, quality=None, config="", setting="", **extra
) -> Block:
    """A block whose length and MI follow the main model at each compressor's quality size (+ ``mi_shift``).

    ``config`` and then ``setting`` are appended to each compressor's name (the runner names a compressor
    setting, not a model): ``config`` is part of the config's id (``compressor_base``: a refinement
    loop's ``-refine``), ``setting`` the runner's expansion of it (a sentence count's ``-3sent``).
    """
    families = list(dict.fromkeys(c["family"] for c in comps))
    L0 = per_key(p["L0"], families, "L0", "family")
    a = per_key(p["a"], families, "a", "family")
    size = np.array([c.get("quality_params", c["params"]) for c in comps]) / 1e9 if quality is None else quality
    fam = [c["family"] for c in comps]
    expected = np.array([L0[f] for f in fam]) * size ** (-g["gamma"]) if tokens is None else tokens
    d0 = per_key(p["d0"], datasets, "d0", "data set") if extra.get("scored", True) else dict.fromkeys(datasets, 0.0)
    d1 = per_key(p["d1"], datasets, "d1", "data set") if extra.get("scored", True) else dict.fromkeys(datasets, 0.0)
    extra.setdefault("ppl_log0", g["ppl_log0"])
    extra.setdefault("ppl_slope", g["ppl_slope"])
    extra.setdefault("ppl_question_sd", g["ppl_question_sd"])
    return Block(
        datasets=list(datasets),
        comps=[{**c, "name": c["name"] + config + setting, "base": c["name"] + config} for c in comps],
        preds=preds,
        n_q=integer(p, "n_questions", 1),
        expected_tokens=expected,
        mi_mean=np.array([a[f] for f in fam]) + g["a1"] * np.log2(size) + mi_shift,
        quality_size=size,
        d0=d0,
        d1=d1,
        beta_family=per_key(p["beta_family"], families, "beta_family", "family"),
        **extra,
    )


def _sentences(p, g, comps, preds) -> Iterator[Block]:
    counts = p["sentence_counts"]
    if isinstance(counts, (str, int)) or not isinstance(counts, Sequence) or not counts:
        fail(f"sentence_counts must be a non-empty list of positive integers, got {counts!r}")
    if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k > 0 for k in counts):
        fail(f"sentence_counts must be positive integers, got {list(counts)!r}")
    comps = _of_families(comps, p["sentence_families"], "sentences")
    size = np.array([c["params"] for c in comps]) / 1e9
    per_sentence = number(p, "sentence_tokens", 0.0, strict=True) * size ** (-number(p, "sentence_gamma"))
    slope = number(p, "mi_sentences")
    for k in counts:
        yield _block(
            p,
            g,
            p["sentence_datasets"],
            comps,
            _one_predictor(p, preds, "study_predictor"),
            tokens=k * per_sentence,
            mi_shift=slope * math.log2(k / max(counts)),
            record_tag=f"s{k}",
            columns={"sentences": int(k)},
            setting=f"-{k}sent",
        )


def _query_agnostic(p, g, comps, preds) -> Iterator[Block]:
    comps = _of_families(comps, p["sentence_families"], "query_agnostic")
    reader = _one_predictor(p, preds, "perplexity_predictor")
    n_q = integer(p, "n_questions", 1)
    kinds = [_FINEWEB_ITEMS[q % len(_FINEWEB_ITEMS)] for q in range(n_q)]
    creative = np.array([k == "creative" for k in kinds])
    log0 = np.where(creative, number(p, "ppl_log0_creative"), g["ppl_log0"])
    slope = np.where(creative, number(p, "ppl_slope_creative"), g["ppl_slope"])
    q_sd = np.where(creative, number(p, "ppl_question_sd_creative", 0.0), g["ppl_question_sd"])
    common = {"scored": False, "task": "perplexity"}
    yield _block(
        p,
        g,
        ["fineweb"],
        comps,
        reader,
        item_types=kinds,
        ppl_log0=log0,
        ppl_slope=slope,
        ppl_question_sd=q_sd,
        **common,
    )
    yield _block(p, g, ["wildchat"], comps, reader, item_types=["extractive"] * n_q, **common)


def _moe(p, g, preds) -> Iterator[Block]:
    comps = models([*p["qwen3_compressors"], p["moe_compressor"]], (), "qwen3_compressors and moe_compressor")
    w = number(p, "moe_quality", 0.0)
    if w > 1:
        fail(f"moe_quality must be in [0, 1], got {w!r}")
    total = np.array([c["params"] for c in comps]) / 1e9
    active = np.array([c.get("active", c["params"]) for c in comps]) / 1e9
    quality = active ** (1.0 - w) * total**w
    yield _block(p, g, ["longhealth"], comps, _one_predictor(p, preds, "study_predictor"), quality=quality)


def _refine(p, g, comps, preds) -> Iterator[Block]:
    comps = _of_families(comps, ("qwen2.5",), "refine")
    rounds = integer(p, "rounds", 1)
    gain, tau = number(p, "refine_gain"), number(p, "refine_tau", 0.0, strict=True)
    for r in range(1, rounds + 1):
        yield _block(
            p,
            g,
            ["longhealth"],
            comps,
            _one_predictor(p, preds, "study_predictor"),
            mi_shift=gain * (1.0 - math.exp(-(r - 1) / tau)),
            record_tag=f"r{r}",
            columns={"round": r},
            config="-refine",
        )


def study_blocks(
    study: str, p: Mapping[str, Any], g: Mapping[str, Any], comps: list[dict], preds: list[dict]
) -> list[Block]:
    """The blocks of one side study (see the module docstring), checked before any is drawn.

    Args:
      study: a name from :data:`STUDIES` other than ``"main"``.
      p: every parameter (defaults and overrides).
      g: the checked shared parameters.
      comps: the main grid's compressors (the studies take the families they need from them).
      preds: the grid's predictors (the studies read one of them).
    """
    if study == "sentences":
        return list(_sentences(p, g, comps, preds))
    if study == "qasper":
        main = _of_families(comps, ("qwen2.5", "llama3"), "qasper")
        qwen3 = models(p["qwen3_compressors"], (), "qwen3_compressors")
        return [_block(p, g, ["qasper"], [*main, *qwen3], _one_predictor(p, preds, "study_predictor"))]
    if study == "query_agnostic":
        return list(_query_agnostic(p, g, comps, preds))
    if study == "moe":
        return list(_moe(p, g, preds))
    if study == "refine":
        return list(_refine(p, g, comps, preds))
    fail(f"unknown study {study!r}; use one of {list(STUDIES)}")
    return []
