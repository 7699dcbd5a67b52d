"""The results schema: what a row of ``rows.jsonl`` holds, how one is built, and the run's tables.

What lives here: the row columns (:data:`ROW_COLUMNS`, with the meaning of each group below
:data:`ROWS_VERSION`), the columns that must never be NaN, the columns that identify a
configuration (:data:`CONFIG_COLUMNS`, whose home is :mod:`mi_utils.config_columns`), the typed outputs of the runner's stages that a row is built from, each knowing its
own columns (:class:`RunContext`, :class:`Compression` with its :class:`CompressionCost` s,
:class:`ModelUse` of a predictor or scorer with its :class:`ModelMeta`, and :class:`MIResult`, whose
home is :mod:`mi_utils.estimate`),
:func:`row_key` (what identifies a row on resume), :func:`build_row` (a row from those outputs, with
the record's :func:`item_type`),
:func:`summarize` (``summary.csv``: one line per configuration), the run's stage timer and
``timings.json``, and :class:`RunResult`. Nothing here loads a model or runs a stage
(:meth:`ModelMeta.read` reads a model's config file, never its weights).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .backends.registry import backend_entry
from .config import CompressorConfig, CompressorSetting, ModelSpec, PredictorConfig, ScorerConfig
from .config_columns import CONFIG_COLUMNS, group_configurations
from .costs import model_config_of, param_count
from .estimate import MIResult
from .models import model_family
from .prompts import PROMPT_VERSION
from .store import make_key
from .summaries import Summary

__all__ = [
    "ROWS_VERSION",
    "ROW_COLUMNS",
    "REQUIRED_NUMERIC",
    "MI_REQUIRED",
    "CONFIG_COLUMNS",
    "ESTIMANDS",
    "ModelMeta",
    "ModelUse",
    "CompressionCost",
    "Compression",
    "MIResult",
    "RunContext",
    "RunResult",
    "StageTimer",
    "append_timings",
    "row_key",
    "build_row",
    "item_type",
    "summarize",
]

log = logging.getLogger(__name__)

#: ``mi_estimand`` values: what an MI row estimates. ``I(X;Z|Q)`` only when every record of the data
#: set has the same question; with one question per record ``shared`` conditioning holds each
#: summary's own question fixed while the context varies, and ``paired`` estimates ``I(X,Q;Z)``.
ESTIMANDS = {
    "one_question": "I(X;Z|Q)",
    "shared": "I(X;Z|Q) with Q held at the summary's own question (Q depends on X)",
    "paired": "I(X,Q;Z)",
}

#: Columns of every row of ``rows.jsonl`` (one row per record and configuration). Notes:
#: ``M`` is the summaries actually drawn per record (1 for deterministic methods).
#: Token counts (the rate's unit is stated here): ``summary_tokens`` is the mean number of tokens
#: of the record's summaries *in the compressor's own tokenizer*, without the stop token (LM-free
#: methods: the reference tokenizer, ``tokenizer`` or the first scorer's); ``summary_tokens_scorer``
#: the tokens the scorer scored (proxy prompt: ``" " + text`` in the scorer's tokenizer; own prompt:
#: the sampled ids plus the stop token); ``mi_per_token_bits`` (the rate of notebook 05) and
#: ``mi_per_token_upper_bits`` divide the set-level estimate by the setting's mean ``summary_tokens``.
#: ``mi_*`` are the set-level estimate, repeated on every row of the configuration, and
#: ``mi_context_bits`` this record's contribution (their mean is ``mi_bits``); ``mi_estimand`` says
#: what they estimate (:data:`ESTIMANDS`).
#: ``sampling_is_pure`` is True when the compressor engine *applied* pure sampling to this
#: record's summaries (``sampling_effective``: the settings it applied; a model's own generation
#: defaults are never inherited); ``upper_is_bound`` is True only when the scored distribution is
#: the sampling distribution: the scorer self-scores (``scorer_prompt`` ``own``: the compression
#: prompt through the chat template, the sampled ids and their stop token, checked against the
#: prompt hash the compressor recorded), with the compressor's ``model`` and ``dtype``, and every
#: summary of the setting was sampled purely; ``mi_upper_bits`` is then an upper bound in expectation.
#: ``flops_compressor`` is per generation (mean over the record's summaries), ``cost_usd`` the
#: predictor's (and judge's) API cost for the record (0 for local models); ``predictor_params`` is
#: empty for an API model unless its config sets ``params``.
#: ``judge_unparsed``: the record's answers whose judge verdict could not be read (counted under
#: the judge's ``unparsed`` policy; 0 without a judge).
#: ``usable_info_bits`` (choice predictors, multiple-choice records): information about the
#: answer the predictor can use, log2 p_T(y*|z,q) - log2 p0(y*|q) averaged over the record's
#: summaries, with the softmax temperature T fitted on the other records and p0 the better of the
#: no-summary predictor and the uniform guess (:mod:`mi_utils.information`);
#: ``option_logprobs`` the summed option log-probs per summary, ``baseline_option_logprobs`` and
#: ``baseline_correct`` those of the no-summary pass.
#: ``round`` is the round of a compress-and-refine loop the row's summaries come from (1-based; 1 for
#: every setting that is not refined, ``rounds`` in :class:`~mi_utils.config.CompressorConfig`); a
#: round's MI is that of its summaries as the channel's output from X (proxy-scored under x and q).
#: ``compressor_base`` is the config's compressor id before the runner expands it into settings
#: (``compressor`` is ``<base>-<k>sent`` for a sentence count, ``<base>-round<r>`` for a refinement
#: round; equal to ``compressor`` for a plain setting): :mod:`mi_utils.config_columns`.
#: ``item_type`` is the record's kind of item where its data set says (``metadata["type"]``, e.g. a
#: FineWeb table's ``type`` column; :func:`item_type`), else None.
#: Bumped when rows gain columns, so that a resumed run does not reuse rows that lack them (not for
#: ``round``, ``compressor_base`` and ``item_type``: rows without them are of round 1, their base is
#: :func:`~mi_utils.config_columns.base_setting` of the row, their item type the record's, and the
#: runner's table says so).
ROWS_VERSION = 3

# Column tables: grouped by meaning, several to a line.
# fmt: off
ROW_COLUMNS: tuple[str, ...] = (
    "key", "run", "dataset", "task", "record_id", "query", "answer", "item_type",
    "compressor", "compressor_base", "compressor_kind", "compressor_model", "compressor_family", "compressor_params",
    "compressor_backend", "compressor_dtype", "method", "k", "sentences", "round",
    "temperature", "top_k", "top_p", "max_new_tokens", "sampling_is_pure", "sampling_effective",
    "predictor", "predictor_model", "predictor_family", "predictor_params", "predictor_backend",
    "predictor_dtype", "predictor_mode", "predictor_rule",
    "scorer", "scorer_model", "scorer_family", "scorer_params", "scorer_backend", "scorer_dtype", "scorer_prompt",
    "N", "M", "seed", "conditioning", "mi_estimand", "n_boot", "upper_is_bound", "prompt_version", "dtype",
    "summary_tokens", "summary_tokens_scorer", "answer_in_summary", "self_id_rate",
    "mi_scored", "mi_bits", "mi_clipped_bits", "mi_upper_bits", "mi_ceiling_bits", "mi_saturation",
    "mi_saturated", "mi_ci_low_bits", "mi_ci_high_bits", "mi_per_token_bits", "mi_per_token_upper_bits",
    "mi_n_upper_inf", "mi_context_bits", "mi_context_upper_bits",
    "vote_index", "vote_answer", "correct", "correct_sum", "correct_mean", "per_summary_accuracy",
    "per_summary_correct", "answers", "perplexity", "judge_unparsed",
    "usable_info_bits", "usable_info_temperature", "usable_info_null", "baseline_correct",
    "option_logprobs", "baseline_option_logprobs",
    "flops_compressor", "flops_compressor_total", "compressor_prompt_tokens",
    "cost_usd", "predictor_input_tokens", "predictor_output_tokens",
    "summary_texts",
)

#: Numeric columns that must never be NaN (MI columns: wherever ``mi_scored``).
REQUIRED_NUMERIC: tuple[str, ...] = (
    "N", "M", "seed", "summary_tokens", "compressor_params", "flops_compressor", "cost_usd",
)
MI_REQUIRED: tuple[str, ...] = ("mi_bits", "mi_upper_bits", "mi_ceiling_bits", "mi_saturation", "mi_context_bits",
                                "mi_per_token_bits", "scorer_params", "summary_tokens_scorer", "self_id_rate")
# fmt: on


# ================================================================== stage outputs
@dataclass(frozen=True)
class ModelMeta:
    """What a row records of a model, read without loading it.

    Attributes:
      family: :func:`mi_utils.models.model_family` of the name.
      params: parameter count (``None`` for an API model without ``params``).
      config: the model's config as a dict (for FLOPs); ``None`` when not read.
    """

    family: str
    params: float | None
    config: dict | None

    @classmethod
    def read(cls, spec: ModelSpec) -> ModelMeta:
        """Family, parameter count and (for FLOPs) config of a spec's model, read without loading it.

        Raises:
          ValueError: the config of a local or served model cannot be read and ``params`` is not
            set (or the model is a compressor, whose FLOPs need the config).
        """
        if backend_entry(spec.backend).priced:  # a paid API's model: its config is not published
            return cls(model_family(spec.model), spec.params, None)
        try:
            cfg = model_config_of(spec)
        except ValueError:
            if isinstance(spec, CompressorConfig) or spec.params is None:
                raise
            cfg = None
        return cls(model_family(spec.model), param_count(spec, cfg), cfg)


@dataclass(frozen=True)
class ModelUse:
    """The predictor or the scorer of a row: its config and :class:`ModelMeta`; it knows its columns."""

    spec: PredictorConfig | ScorerConfig
    meta: ModelMeta

    #: Each role's own settings (config field -> the column ``<role>_<field>``), beside the common ones.
    OWN_FIELDS: ClassVar[dict[str, tuple[str, ...]]] = {"predictor": ("mode", "rule"), "scorer": ("prompt",)}
    COMMON: ClassVar[tuple[str, ...]] = ("model", "family", "params", "backend", "dtype")

    @property
    def role(self) -> str:
        """``predictor`` or ``scorer``, from the spec's type."""
        return "predictor" if isinstance(self.spec, PredictorConfig) else "scorer"

    def columns(self) -> dict:
        """``<role>``, ``<role>_model``, ``<role>_family``, ... and the role's own settings."""
        s, role = self.spec, self.role
        values = {"model": s.model, "family": self.meta.family, "params": self.meta.params}
        values |= {"backend": s.backend, "dtype": s.dtype}
        values |= {f: getattr(s, f) for f in self.OWN_FIELDS[role]}
        return {role: s.id, **{f"{role}_{k}": v for k, v in values.items()}}

    @classmethod
    def empty(cls, role: str) -> dict:
        """The columns of a row without this role (no predictor answers its task, or not scored)."""
        return {role: None, **{f"{role}_{n}": None for n in (*cls.COMMON, *cls.OWN_FIELDS[role])}}


@dataclass(frozen=True)
class CompressionCost:
    """The compressor's cost of one summary: FLOPs of the generation and its prompt tokens (0 when LM-free)."""

    flops: float
    prompt_tokens: int

    @classmethod
    def free(cls) -> CompressionCost:
        """An LM-free summary."""
        return cls(0.0, 0)


@dataclass(frozen=True)
class Compression:
    """The compress stage's output for one record: the setting, the record's summaries, their
    costs and the compressor model's :class:`ModelMeta` (``None`` when LM-free); it knows its columns."""

    setting: CompressorSetting
    summaries: Sequence[Summary]
    costs: Sequence[CompressionCost]
    meta: ModelMeta | None

    def columns(self, record: Any) -> dict:
        """The compressor's columns of ``record``'s row: the setting, sampling, lengths and FLOPs."""
        setting, c, sums, costs = self.setting, self.setting.config, self.summaries, self.costs
        lm = setting.kind == "lm"
        return {
            "compressor": setting.id,
            "compressor_base": setting.base,
            "compressor_kind": setting.kind,
            "compressor_model": c.model if lm else None,
            "compressor_family": setting.family,
            "compressor_params": self.meta.params if lm else 0.0,
            "compressor_backend": c.backend if lm else None,
            "compressor_dtype": c.dtype if lm else None,
            "method": c.method,
            "k": c.k,
            "sentences": setting.sentences,
            "round": setting.round,
            "temperature": c.temperature if lm else None,
            "top_k": c.top_k if lm else None,
            "top_p": c.top_p if lm else None,
            "max_new_tokens": c.max_new_tokens if lm else None,
            "sampling_is_pure": bool(lm and all(z.sampling_is_pure for z in sums)),
            "sampling_effective": sums[0].sampling_effective if lm else None,
            "M": len(sums),
            "summary_tokens": float(np.mean([z.n_tokens for z in sums])),
            "answer_in_summary": None
            if record.task == "perplexity"
            else float(np.mean([record.answer.strip().lower() in z.text.lower() for z in sums])),
            "flops_compressor": float(np.mean([x.flops for x in costs])),
            "flops_compressor_total": float(np.sum([x.flops for x in costs])),
            "compressor_prompt_tokens": float(np.mean([x.prompt_tokens for x in costs])),
            "summary_texts": [z.text for z in sums],
        }


@dataclass(frozen=True)
class RunContext:
    """The run's settings a row records: its name, the data set, seed and N, conditioning and bootstrap."""

    run: str
    dataset: str
    seed: int
    n_records: int
    conditioning: str
    n_boot: int

    def columns(self) -> dict:
        return {
            "run": self.run,
            "dataset": self.dataset,
            "N": self.n_records,
            "seed": self.seed,
            "conditioning": self.conditioning,
            "n_boot": self.n_boot,
        }


# =========================================================================== rows
def row_key(
    cfg,
    ds,
    N: int,
    seed: int,
    setting: CompressorSetting,
    pred: PredictorConfig | None,
    scorer: ScorerConfig | None,
    record_id: str,
) -> str:
    """The key of one row: everything that determines it (a resumed run reuses a row with this key).

    Args:
      cfg: the run's :class:`~mi_utils.config.ExperimentConfig`; ds: the data set's config;
      N, seed: the group's record count and seed; setting, pred, scorer: the row's configuration
        (``None`` where the row has no predictor or scorer); record_id: the record.
    """
    c = cfg
    return make_key(
        kind="row",
        dataset=ds.name,
        kwargs=ds.kwargs,
        record=record_id,
        N=N,
        M=c.M,
        seed=seed,
        compressor=setting.key_dict(),
        score_mi=setting.score_mi,
        predictor=None
        if pred is None
        else {
            **pred.key_dict(),
            "mode": pred.mode,
            "rule": pred.rule,
            "max_new_tokens": pred.max_new_tokens,
            "max_context_tokens": pred.max_context_tokens,
        },
        scorer=None if scorer is None else scorer.key_dict(),
        conditioning=c.conditioning,
        n_boot=c.n_boot,
        judge=None if c.judge is None else c.judge.key_dict(),
        prompt=PROMPT_VERSION,
        rows_version=ROWS_VERSION,
        # the default's rows keep the keys they had before the option existed
        **({} if c.flops_convention == "paper_text" else {"flops_convention": c.flops_convention}),
    )


def build_row(
    context: RunContext,
    record: Any,
    index: int,
    compression: Compression,
    *,
    predictor: ModelUse | None = None,
    scorer: ModelUse | None = None,
    mi: MIResult | None = None,
    outcome: Mapping[str, Any] | None = None,
) -> dict:
    """One row of ``rows.jsonl`` (without its ``key``), every value JSON-ready, from the stage outputs.

    Each stage's output knows its own columns (:meth:`RunContext.columns`, :meth:`Compression.columns`,
    :meth:`ModelUse.columns`, :meth:`MIResult.columns`; ``outcome`` is the prediction's columns); the
    row adds the record's and the few that span stages (``dtype``, ``upper_is_bound``).

    Args:
      context: the run's settings; record: the :class:`~mi_utils.data.Record` the row is about;
        index: its position among the contexts of the estimate.
      compression: the record's summaries under the row's compressor setting.
      predictor: the predictor (``None``: no predictor answers this task).
      scorer, mi: the scorer and the setting's estimate under it (``None``: not scored).
      outcome: the prediction's columns (votes, correctness, costs, usable information).
    """
    lm = compression.setting.kind == "lm"
    models = ((compression.setting.config if lm else None), *(u.spec for u in (predictor, scorer) if u))
    local_dtypes = {m.dtype for m in models if m is not None and backend_entry(m.backend).in_process}
    rec = record
    row = {
        **context.columns(),
        "task": rec.task,
        "record_id": rec.id,
        "query": rec.query,
        "answer": rec.answer,
        "item_type": item_type(rec),
        **compression.columns(rec),
        **(predictor.columns() if predictor else ModelUse.empty("predictor")),
        **(scorer.columns() if scorer else ModelUse.empty("scorer")),
        "mi_estimand": mi.estimand if mi is not None else None,
        "upper_is_bound": bool(mi is not None and mi.upper_is_bound),
        "prompt_version": PROMPT_VERSION,
        "dtype": local_dtypes.pop() if len(local_dtypes) == 1 else ("mixed" if local_dtypes else None),
        "mi_scored": mi is not None,
        "cost_usd": 0.0,
        "judge_unparsed": 0,
        **(mi.columns(index) if mi is not None else {}),
    }
    row.update(outcome or {})
    return {k: _plain(v) for k, v in row.items()}


def item_type(record: Any) -> str | None:
    """The record's kind of item (``item_type``): its ``metadata["item_type"]`` or ``metadata["type"]``
    (the FineWeb loader keeps a table's ``type`` column there), as text; ``None`` when neither is set."""
    meta = getattr(record, "metadata", None) or {}
    value = meta.get("item_type", meta.get("type"))
    return None if value is None else str(value)


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and math.isinf(v):
        return v  # json writes Infinity; pandas reads it back
    return v


# ========================================================================= tables
@dataclass
class RunResult:
    """Where a run's tables went, and the tables.

    Attributes:
      out_dir: the results folder.
      rows_path, summary_path, timings_path: ``rows.jsonl``, ``summary.csv``, ``timings.json``.
      rows: this config's rows (a pandas DataFrame, ``ROW_COLUMNS`` order).
      summary: one line per configuration (:func:`summarize`).
      timings: this run's seconds per stage (``timings.json`` keeps every run's, oldest first).
    """

    out_dir: Path
    rows_path: Path
    summary_path: Path
    timings_path: Path
    rows: Any
    summary: Any
    timings: dict


class StageTimer:
    """Seconds per stage, in total and per (data set, seed, setting)."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.events: list[dict] = []

    @contextlib.contextmanager
    def stage(self, name: str, **where: Any) -> Iterator[None]:
        """Time the block as stage ``name``; ``where`` (data set, seed, ...) goes into the event."""
        t = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t
            self.stages[name] = self.stages.get(name, 0.0) + dt
            self.events.append({"stage": name, "seconds": round(dt, 3), **where})
            log.info("%s %s: %.1f s", name, " ".join(f"{k}={v}" for k, v in where.items()), dt)


def append_timings(path: Path, timings: dict) -> None:
    """Add this run's timings to ``timings.json`` (``{"runs": [...]}``, oldest first).

    A resumed or fully cached run does not erase the timings of the run that did the work.
    """
    runs = []
    if path.exists():
        try:
            runs = json.loads(path.read_text(encoding="utf-8")).get("runs", [])
        except (ValueError, AttributeError):
            log.warning("%s is not valid timings JSON; starting it afresh", path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"runs": [*runs, timings]}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def summarize(rows) -> Any:
    """One line per configuration: accuracy, summary length, MI, FLOPs and cost.

    Args:
      rows: the rows table (a DataFrame with :data:`ROW_COLUMNS`).

    Returns:
      A DataFrame with the :data:`CONFIG_COLUMNS` present (grouped as
      :func:`mi_utils.analysis.configurations` groups: :func:`~mi_utils.config_columns.group_configurations`) plus ``n_records``, ``accuracy``,
      ``accuracy_sum``, ``accuracy_mean``, ``per_summary_accuracy``, ``perplexity``,
      ``summary_tokens``, ``answer_in_summary``, ``self_id_rate``, the MI columns,
      ``flops_compressor`` (mean per generation) and ``cost_usd`` (total).
    """
    import pandas as pd

    if rows is None or len(rows) == 0:
        return pd.DataFrame()
    df = rows.copy()
    for col in ("usable_info_bits", "baseline_correct"):
        if col not in df.columns:
            df[col] = np.nan
    for col in ("correct", "correct_sum", "correct_mean", "baseline_correct"):
        df[col] = pd.to_numeric(df[col].map(lambda v: np.nan if v is None else float(v)), errors="coerce")
    mean_cols = {
        "accuracy": "correct",
        "accuracy_sum": "correct_sum",
        "accuracy_mean": "correct_mean",
        "per_summary_accuracy": "per_summary_accuracy",
        "perplexity": "perplexity",
        "summary_tokens": "summary_tokens",
        "summary_tokens_scorer": "summary_tokens_scorer",
        "answer_in_summary": "answer_in_summary",
        "self_id_rate": "self_id_rate",
        "flops_compressor": "flops_compressor",
        "usable_info_bits": "usable_info_bits",
        "baseline_accuracy": "baseline_correct",
    }
    first_cols = [
        "mi_bits",
        "mi_ci_low_bits",
        "mi_ci_high_bits",
        "mi_upper_bits",
        "mi_ceiling_bits",
        "mi_saturation",
        "mi_saturated",
        "mi_per_token_bits",
        "mi_clipped_bits",
    ]
    agg = {"n_records": ("record_id", "count")}
    agg.update({name: (col, "mean") for name, col in mean_cols.items()})
    agg.update({col: (col, "first") for col in first_cols})
    agg["cost_usd"] = ("cost_usd", "sum")
    for col in set(mean_cols.values()) | {"cost_usd"}:
        df[col] = pd.to_numeric(df[col], errors="coerce")
    _, groups = group_configurations(df)  # the grouping of mi_utils.analysis.configurations
    return groups.agg(**agg).reset_index()
