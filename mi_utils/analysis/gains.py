"""Compressor scaling against predictor scaling within one family: paired changes with intervals.

* :func:`scaling_gains`: the change of a metric between neighbouring compressor sizes (the predictor
  fixed) and between neighbouring predictor sizes (the compressor fixed), each a difference of
  means over the same records with a percentile interval that resamples records, paired (the
  paper's Fig. 3).
* :func:`compressor_or_predictor`: the one contrast that answers "spend the larger model on the
  compressor or on the predictor?".

Re-exported from :mod:`mi_utils.analysis.scaling` (their home before the split).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._util import (
    check_n_boot,
    numeric_column,
    percentile_interval,
    require_columns,
    require_frame,
)

__all__ = ["compressor_or_predictor", "scaling_gains"]


def _with_units(sub: pd.DataFrame, metric: str, unit_cols: Sequence[str], fn: str) -> pd.DataFrame:
    """``sub`` with ``metric`` as float and a ``_unit`` column naming each record (the bootstrap unit)."""
    sub = sub.copy()
    sub[metric] = numeric_column(sub, metric, fn)
    sub["_unit"] = sub[list(unit_cols)].astype(str).agg("|".join, axis=1)
    return sub


def _mean_interval(diff: np.ndarray, n_boot: int, rng: np.random.Generator, level: float) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired per-record differences (NaN without resamples)."""
    if not n_boot or not len(diff):
        return np.nan, np.nan
    idx = rng.integers(0, len(diff), size=(n_boot, len(diff)))
    return percentile_interval(diff[idx].mean(axis=1), level)


def scaling_gains(
    df: pd.DataFrame,
    *,
    family: str,
    metric: str = "correct",
    family_col: str = "compressor_family",
    compressor_col: str = "compressor_params",
    predictor_col: str = "predictor_params",
    unit_cols: Sequence[str] = ("dataset", "record_id"),
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Compressor scaling against predictor scaling, with intervals over records (the paper's Fig. 3).

    Within one compressor family, for every pair of neighbouring compressor sizes and every predictor
    size: the change of ``metric`` when the compressor grows and the predictor stays (``axis =
    "compressor"``); and for every pair of neighbouring predictor sizes and every compressor size of
    the family: the change when the predictor grows and the compressor stays (``axis = "predictor"``).
    Each change is a difference of means over the same records (both ends answer the same questions),
    and its interval resamples records (``unit_cols``) with replacement, paired: a record's rows at
    both ends move together.

    Args:
      df: results table (rows of other families are ignored; rows with a missing metric are dropped).
      family: the compressor family whose sizes form the compressor axis.
      metric: the outcome (default: correctness, so the change is in accuracy points).
      unit_cols: what identifies a record (the bootstrap unit).
      n_boot: bootstrap resamples (0: no interval).

    Returns:
      One row per comparison: ``axis``, ``fixed`` (the size of the model that stays), ``size_from``,
      ``size_to``, ``mean_from``, ``mean_to``, ``change`` (``mean_to - mean_from``), ``relative``
      (``change / mean_from``; NaN when ``mean_from`` is 0), ``ci_low``, ``ci_high``, ``n_records``.

    Raises:
      ValueError: missing columns, an unknown family, or fewer than two sizes on both axes.
    """
    require_frame(df, "scaling_gains")
    require_columns(df, [family_col, compressor_col, predictor_col, metric, *unit_cols], "scaling_gains")
    check_n_boot(n_boot, "scaling_gains", minimum=0)
    sub = df[df[family_col] == family].copy()
    if sub.empty:
        known = sorted(df[family_col].dropna().astype(str).unique())
        raise ValueError(f"scaling_gains: no rows of family {family!r}; families in the table: {known}")
    sub = _with_units(sub, metric, unit_cols, "scaling_gains").dropna(subset=[metric])
    comp_sizes = sorted(sub[compressor_col].unique())
    pred_sizes = sorted(sub[predictor_col].unique())
    if len(comp_sizes) < 2 and len(pred_sizes) < 2:
        raise ValueError(
            f"scaling_gains: family {family!r} has one compressor size and one predictor size; nothing scales"
        )
    rng = np.random.default_rng(seed)
    out = []
    axes = (
        ("compressor", compressor_col, predictor_col, comp_sizes),
        ("predictor", predictor_col, compressor_col, pred_sizes),
    )
    for axis, moving, fixed_col, sizes in axes:
        for fixed in sorted(sub[fixed_col].unique()):
            at = sub[sub[fixed_col] == fixed]
            for a, b in zip(sizes[:-1], sizes[1:]):
                per_unit = at[at[moving].isin([a, b])].pivot_table(
                    index="_unit", columns=moving, values=metric, aggfunc="mean"
                )
                if a not in per_unit or b not in per_unit:
                    continue
                paired = per_unit[[a, b]].dropna().to_numpy()
                if not len(paired):
                    continue
                diff = paired[:, 1] - paired[:, 0]
                lo, hi = _mean_interval(diff, n_boot, rng, level)
                mean_a, mean_b = paired[:, 0].mean(), paired[:, 1].mean()
                out.append(
                    {
                        "family": family,
                        "axis": axis,
                        "fixed": fixed,
                        "size_from": a,
                        "size_to": b,
                        "mean_from": mean_a,
                        "mean_to": mean_b,
                        "change": mean_b - mean_a,
                        "relative": (mean_b - mean_a) / mean_a if mean_a else np.nan,
                        "ci_low": lo,
                        "ci_high": hi,
                        "n_records": len(diff),
                    }
                )
    return pd.DataFrame(out)


def compressor_or_predictor(
    df: pd.DataFrame,
    *,
    family: str,
    metric: str = "correct",
    family_col: str = "compressor_family",
    compressor_col: str = "compressor_params",
    predictor_col: str = "predictor_params",
    unit_cols: Sequence[str] = ("dataset", "record_id"),
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Does scaling the compressor pay more than scaling the predictor? One paired contrast.

    With a small and a large size on both axes, the mean gain of the compressor step minus the mean
    gain of the predictor step (each averaged over the other axis' two sizes) equals
    ``metric(large compressor, small predictor) - metric(small compressor, large predictor)``: spend
    the larger model on the compressor, or on the predictor. Computed over the records both ends
    answered, with a percentile bootstrap interval that resamples records.

    Args:
      df: results table; the family's smallest and largest compressor and predictor sizes are used.
      family: the compressor family (its sizes are the compressor axis; predictors of any family).

    Returns:
      ``{"large_compressor": mean, "large_predictor": mean, "difference": ..., "ci_low": ...,
      "ci_high": ..., "n_records": ..., "sizes": (small compressor, large compressor, small predictor,
      large predictor)}``.

    Raises:
      ValueError: missing columns, an unknown family, or one size on either axis.
    """
    require_frame(df, "compressor_or_predictor")
    require_columns(df, [family_col, compressor_col, predictor_col, metric, *unit_cols], "compressor_or_predictor")
    check_n_boot(n_boot, "compressor_or_predictor", minimum=0)
    sub = df[df[family_col] == family].copy()
    comp, pred = sorted(sub[compressor_col].dropna().unique()), sorted(sub[predictor_col].dropna().unique())
    if len(comp) < 2 or len(pred) < 2:
        raise ValueError(
            f"compressor_or_predictor: family {family!r} needs two compressor and two predictor sizes, "
            f"has {len(comp)} and {len(pred)}"
        )
    sub = _with_units(sub, metric, unit_cols, "compressor_or_predictor")
    a = sub[(sub[compressor_col] == comp[-1]) & (sub[predictor_col] == pred[0])].groupby("_unit")[metric].mean()
    b = sub[(sub[compressor_col] == comp[0]) & (sub[predictor_col] == pred[-1])].groupby("_unit")[metric].mean()
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1).dropna()
    diff = (both["a"] - both["b"]).to_numpy()
    lo, hi = _mean_interval(diff, n_boot, np.random.default_rng(seed), level)
    return {
        "large_compressor": float(both["a"].mean()),
        "large_predictor": float(both["b"].mean()),
        "difference": float(diff.mean()) if len(diff) else np.nan,
        "ci_low": lo,
        "ci_high": hi,
        "n_records": len(diff),
        "sizes": (comp[0], comp[-1], pred[0], pred[-1]),
    }
