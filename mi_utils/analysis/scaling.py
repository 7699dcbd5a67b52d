"""Scaling with model size: log-linear fits and the paper's headline ratios.

* :func:`fit_scaling`: per group (default: per compressor family), the least-squares line of a
  metric on ``log2(size)`` (slope = change per doubling of parameters) with percentile bootstrap
  intervals that resample records, so the correlated rows of one record move together.
* :func:`scaling_ratios`: large/small ratios of per-size means (accuracy, summary length, bits per
  token, FLOPs) within each compressor family, and the relative accuracy gain of scaling the
  compressor versus scaling the predictor.
* :class:`ScalingFit`: the per-group result of :func:`fit_scaling`.

:func:`scaling_gains` and :func:`compressor_or_predictor` (paired changes with record-resampling
intervals) live in :mod:`mi_utils.analysis.gains` and are re-exported here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._util import (
    as_columns,
    check_fitted,
    check_n_boot,
    group_label,
    group_rng,
    numeric_column,
    percentile_interval,
    require_columns,
    require_frame,
    unit_codes,
    unit_count_blocks,
)
from .gains import compressor_or_predictor, scaling_gains

__all__ = ["ScalingFit", "compressor_or_predictor", "fit_scaling", "scaling_gains", "scaling_ratios"]

_RESERVED = {
    "group",
    "metric",
    "slope",
    "slope_low",
    "slope_high",
    "intercept",
    "intercept_low",
    "intercept_high",
    "r2",
    "n_sizes",
    "n_rows",
    "n_units",
    "n_boot",
}


@dataclass(frozen=True)
class ScalingFit:
    """Fit of ``metric = intercept + slope * log2(size)`` in one group.

    Attributes:
      group: the group's label (values of the ``by`` columns joined with ``/``; ``"all"`` if none).
      metric: the fitted column.
      slope: change of the metric per doubling of ``size``.
      intercept: value of the line at ``log2(size) = 0`` (size 1; an extrapolation, use
        :meth:`predict` for values at real sizes).
      slope_low, slope_high: 95% percentile bootstrap interval of the slope.
      intercept_low, intercept_high: 95% percentile bootstrap interval of the intercept.
      r2: coefficient of determination of the line on the rows.
      n_sizes: distinct sizes in the group.
      n_rows: rows used.
      n_units: resampling units (records) in the group.
      n_boot: bootstrap resamples that entered the intervals.
      keys: the group's value of each ``by`` column.
    """

    group: str
    metric: str
    slope: float
    intercept: float
    slope_low: float
    slope_high: float
    intercept_low: float
    intercept_high: float
    r2: float
    n_sizes: int
    n_rows: int
    n_units: int
    n_boot: int
    keys: dict[str, Any] = field(default_factory=dict)

    def predict(self, size: Any) -> np.ndarray:
        """The fitted metric at ``size`` (array in, array out).

        Raises:
          ValueError: a size is not positive and finite.
        """
        s = np.asarray(size, dtype=float)
        if not np.all(np.isfinite(s) & (s > 0)):
            raise ValueError("ScalingFit.predict: sizes must be positive and finite")
        return self.intercept + self.slope * np.log2(s)

    def to_dict(self) -> dict[str, Any]:
        """Flat dict: the ``by`` columns' values, then the fields (without ``keys``)."""
        d = asdict(self)
        keys = d.pop("keys")
        return {**{k: v for k, v in keys.items() if k not in _RESERVED}, **d}


def _line_stats(x: np.ndarray, y: np.ndarray, codes: np.ndarray, n_units: int) -> np.ndarray:
    """Per-unit sums (n, Sx, Sy, Sxx, Sxy) of centred x, shape (n_units, 5)."""
    out = np.zeros((n_units, 5))
    for j, v in enumerate((np.ones_like(x), x, y, x * x, x * y)):
        out[:, j] = np.bincount(codes, weights=v, minlength=n_units)
    return out


def _line_from_sums(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slope, intercept (centred x) and a validity mask from sums of shape (..., 5)."""
    n, sx, sy, sxx, sxy = (s[..., j] for j in range(5))
    den = n * sxx - sx * sx
    ok = den > 1e-12 * np.maximum(n * n, 1.0)
    safe = np.where(ok, den, 1.0)
    slope = (n * sxy - sx * sy) / safe
    intercept = (sy - slope * sx) / np.where(n > 0, n, 1.0)
    return slope, intercept, ok


def fit_scaling(
    df: pd.DataFrame,
    metric: str,
    size: str = "compressor_params",
    by: str | Sequence[str] | None = "compressor_family",
    n_boot: int = 1000,
    seed: int | None = 0,
    unit: str | Sequence[str] | None = "record_id",
) -> pd.DataFrame:
    """Least-squares line of ``metric`` on ``log2(size)`` per group, with bootstrap intervals.

    The slope is the change of the metric per doubling of the size (parameters). Intervals are 95%
    percentile bootstrap intervals: within each group the ``unit``s (records) are drawn with
    replacement and all rows of a drawn unit enter together, so the correlated rows of one record
    (its several sizes, predictors, seeds) move together. If record ids repeat across data sets,
    pass ``unit=["dataset", "record_id"]``; ``unit=None`` resamples rows.

    Args:
      df: results table (any DataFrame with the named columns).
      metric: column to fit (bool columns such as ``correct`` count as 0/1).
      size: column of model sizes (must be positive).
      by: grouping column(s); ``None`` fits one line to all rows.
      n_boot: bootstrap resamples per group (>= 1).
      seed: seed of the bootstrap; a group's resamples depend on the seed and its label only.
      unit: column(s) identifying the resampling unit; ``None`` for rows.

    Returns:
      One row per fitted group: the ``by`` columns, ``group``, ``metric``, ``slope``,
      ``slope_low``, ``slope_high``, ``intercept``, ``intercept_low``, ``intercept_high``, ``r2``,
      ``n_sizes``, ``n_rows``, ``n_units``, ``n_boot``. The :class:`ScalingFit` objects are in
      ``result.attrs["fits"]``.

    Raises:
      ValueError: missing columns, a non-numeric metric or size, a non-positive or infinite size,
        ``n_boot < 1``, or no group with at least two distinct sizes.

    Warns:
      UserWarning: rows with a missing metric or size were dropped (how many), or a group with
        fewer than two sizes was skipped (which).
    """
    fn = "fit_scaling"
    require_frame(df, fn)
    by_cols = as_columns(by, "by")
    unit_cols = as_columns(unit, "unit")
    require_columns(df, [metric, size, *by_cols, *unit_cols], fn)
    n_boot = check_n_boot(n_boot, fn)
    data = _scaling_rows(df, metric, size, [*by_cols, *unit_cols], fn)

    groups = data.groupby(by_cols, sort=True, dropna=False) if by_cols else [((), data)]
    fits: list[ScalingFit] = []
    skipped: list[str] = []
    for key, g in groups:
        label = group_label(key, by_cols)
        keys = dict(zip(by_cols, key if isinstance(key, tuple) else (key,)))
        n_sizes = int(g["_x"].nunique())
        if n_sizes < 2:
            skipped.append(f"{label} ({n_sizes} size)")
            continue
        fit = _fit_group(g, label, keys, metric, unit_cols, n_boot, seed, fn)
        if isinstance(fit, str):
            skipped.append(fit)
        else:
            fits.append(fit)
    check_fitted(
        fits,
        skipped,
        fn,
        none_fitted=f"no group can be fitted: every group needs at least two distinct values of {size!r} "
        f"(groups: {skipped}); group more coarsely (by=None) or add sizes",
        skipped_what=f"group(s) with fewer than two distinct {size!r}",
    )
    out = pd.DataFrame([f.to_dict() for f in fits])
    out.attrs["fits"] = fits
    return out


def _scaling_rows(df: pd.DataFrame, metric: str, size: str, keep_cols: Sequence[str], fn: str) -> pd.DataFrame:
    """The rows with both a metric and a size (others dropped, warned): ``keep_cols``, ``_x = log2(size)``, ``_y``."""
    y_all = numeric_column(df, metric, fn)
    s_all = numeric_column(df, size, fn)
    bad = np.isinf(s_all) | (s_all <= 0)
    if bad.any():
        raise ValueError(
            f"{fn}: column {size!r} has {int(bad.sum())} non-positive or infinite sizes "
            f"(e.g. {s_all[bad][:3].tolist()}); sizes are parameter counts > 0, "
            "filter those rows out first"
        )
    no_size = np.isnan(s_all)
    if no_size.any():
        warnings.warn(
            f"{fn}: dropped {int(no_size.sum())} of {len(df)} rows without a {size!r} "
            "(baselines such as extractive / full-context rows have no model size)",
            stacklevel=3,
        )
    no_metric = np.isnan(y_all) & ~no_size
    if no_metric.any():
        warnings.warn(f"{fn}: dropped {int(no_metric.sum())} of {len(df)} rows with a missing {metric!r}", stacklevel=3)
    keep = ~(no_size | no_metric)
    data = df.loc[keep, list(keep_cols)].copy()
    data["_x"] = np.log2(s_all[keep])
    data["_y"] = y_all[keep]
    if len(data) == 0:
        raise ValueError(f"{fn}: no row has both a {metric!r} and a {size!r}; check the column names")

    return data


def _fit_group(
    g: pd.DataFrame,
    label: str,
    keys: dict,
    metric: str,
    unit_cols: Sequence[str],
    n_boot: int,
    seed: int | None,
    fn: str,
) -> ScalingFit | str:
    """One group's line and its unit-bootstrap intervals; the reason it is skipped when no resample has two sizes."""
    n_sizes = int(g["_x"].nunique())
    x = g["_x"].to_numpy()
    y = g["_y"].to_numpy()
    xm = x.mean()
    xc = x - xm
    codes = unit_codes(g, unit_cols or None)
    n_units = int(codes.max()) + 1
    stats = _line_stats(xc, y, codes, n_units)
    slope, icpt_c, _ = _line_from_sums(stats.sum(axis=0))
    slope, intercept = float(slope), float(icpt_c - slope * xm)
    resid = y - (intercept + slope * x)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    ss_res = float((resid**2).sum())
    r2 = (1.0 - ss_res / ss_tot) if ss_tot > 0 else (1.0 if ss_res <= 1e-24 else 0.0)

    rng = group_rng(seed, label)
    slopes, icpts = [], []
    for counts in unit_count_blocks(n_units, n_boot, rng):
        b_slope, b_icpt_c, ok = _line_from_sums(counts @ stats)
        slopes.append(b_slope[ok])
        icpts.append((b_icpt_c - b_slope * xm)[ok])
    b_slopes = np.concatenate(slopes)
    b_icpts = np.concatenate(icpts)
    n_ok = len(b_slopes)
    if n_ok < n_boot:
        warnings.warn(
            f"{fn}: group {label!r}: {n_boot - n_ok} of {n_boot} bootstrap resamples held a "
            "single size and were left out of the intervals (few units span several sizes)",
            stacklevel=3,
        )
    if n_ok < 2:
        return f"{label} (no bootstrap resample with two sizes)"
    s_lo, s_hi = percentile_interval(b_slopes)
    i_lo, i_hi = percentile_interval(b_icpts)
    return ScalingFit(
        group=label,
        metric=metric,
        slope=slope,
        intercept=intercept,
        slope_low=s_lo,
        slope_high=s_hi,
        intercept_low=i_lo,
        intercept_high=i_hi,
        r2=float(r2),
        n_sizes=n_sizes,
        n_rows=len(g),
        n_units=n_units,
        n_boot=n_ok,
        keys=keys,
    )


def _nearest_size(sizes: np.ndarray, target: float | None, default: float, tol: float = 0.10) -> float | None:
    """The size nearest ``target`` if within ``tol`` (relative), ``default`` when no target."""
    if target is None:
        return default
    j = int(np.argmin(np.abs(sizes - target)))
    return float(sizes[j]) if abs(sizes[j] - target) <= tol * abs(target) else None


def _ratio(mean_small: float, mean_large: float, what: str, fn: str, stacklevel: int = 4) -> float:
    if mean_small == 0:
        warnings.warn(f"{fn}: {what}: the small-size mean is 0, the ratio is undefined (NaN)", stacklevel=stacklevel)
        return float("nan")
    return mean_large / mean_small


def _cell_average(
    sub: pd.DataFrame, axis_col: str, other_col: str | None, a: float, b: float, acc: str
) -> tuple[float, float, int, int] | None:
    """Mean accuracy at axis values a and b, averaged with equal weight over the other axis' values
    present at both; None when there are none in common."""
    at_a = sub[sub[axis_col] == a]
    at_b = sub[sub[axis_col] == b]
    if other_col is None:
        return float(at_a[acc].mean()), float(at_b[acc].mean()), len(at_a), len(at_b)
    ma = at_a.groupby(other_col, dropna=False)[acc].mean()
    mb = at_b.groupby(other_col, dropna=False)[acc].mean()
    common = ma.index.intersection(mb.index)
    if len(common) == 0:
        return None
    na = int(at_a[other_col].isin(common).sum())
    nb = int(at_b[other_col].isin(common).sum())
    return float(ma.loc[common].mean()), float(mb.loc[common].mean()), na, nb


def scaling_ratios(
    df: pd.DataFrame,
    metric_cols: Sequence[str] = ("correct", "summary_tokens", "mi_per_token_bits", "flops_compressor"),
    family_col: str = "compressor_family",
    size_col: str = "compressor_params",
    predictor_col: str | None = "predictor_params",
    small: float | None = None,
    large: float | None = None,
    accuracy_col: str | None = "correct",
) -> pd.DataFrame:
    """The paper's headline ratios from any table with a model grid.

    Two kinds of rows:

    * ``kind="compressor_ratio"``: for each compressor family with at least two sizes and each
      metric, ``value = mean(metric at the large size) / mean(metric at the small size)`` over all
      rows of that family and size (all predictors, seeds, records). Defaults compare the family's
      smallest and largest size; ``small`` / ``large`` pick sizes (e.g. ``1.5e9`` and ``7e9``),
      matched to the nearest size of the family within 10% (families without a match are skipped
      with a warning). **Direction**: ``value`` is always large/small. A phrase such as the paper's
      "4.6x fewer tokens" for the larger compressor is small/large of ``summary_tokens``, i.e.
      ``1 / value`` (equivalently ``mean_small / mean_large``); "1.6x the accuracy" is ``value`` of
      ``correct`` directly.
    * ``kind="relative_gain"`` (only when ``accuracy_col`` is set): relative gain of mean accuracy,
      ``value = (A_large - A_small) / A_small``. Row ``axis="compressor"``: from the family's small
      to large compressor, the accuracy at each size being averaged with equal weight over the
      predictor sizes present at both ends. Row ``axis="predictor"``: within the same family's
      rows, from the smallest to the largest predictor, averaged over the compressor sizes present
      at both ends (skipped with a warning when the family was run with one predictor size).
      Comparing the two rows of a family answers "does scaling the compressor pay more than
      scaling the predictor?".

    Rows without a family or a size (extractive / full-context baselines) are ignored. Missing
    metric values (``correct`` of None) are left out of the means; ``n_small`` / ``n_large`` count
    the rows that entered each mean.

    Args:
      df: results table.
      metric_cols: columns whose large/small ratio is reported.
      family_col: compressor family column.
      size_col: compressor size (parameters) column.
      predictor_col: predictor size column; ``None`` skips the predictor-axis gain and averages the
        compressor-axis gain over all rows.
      small: compressor size to use as "small" (nearest within 10%); default the family's smallest.
      large: compressor size to use as "large"; default the family's largest.
      accuracy_col: accuracy column of the relative-gain rows; ``None`` skips those rows.

    Returns:
      A long frame with columns ``kind``, ``axis``, ``family``, ``metric``, ``small``, ``large``,
      ``mean_small``, ``mean_large``, ``value``, ``n_small``, ``n_large``.

    Raises:
      ValueError: missing columns, non-positive sizes, or no family with two usable sizes.
    """
    fn = "scaling_ratios"
    metrics = as_columns(metric_cols, "metric_cols")
    base = _ratio_base(df, metrics, family_col, size_col, predictor_col, small, large, accuracy_col, fn)

    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for fam, g in base.groupby("_family", sort=True):
        fam_sizes = np.sort(g["_size"].unique())
        if len(fam_sizes) < 2:
            skipped.append(f"{fam} (one size)")
            continue
        s_small = _nearest_size(fam_sizes, small, float(fam_sizes[0]))
        s_large = _nearest_size(fam_sizes, large, float(fam_sizes[-1]))
        if s_small is None or s_large is None or s_small == s_large:
            skipped.append(
                f"{fam} (no distinct sizes within 10% of small={small}, large={large}; sizes {fam_sizes.tolist()})"
            )
            continue
        rows += _compressor_ratio_rows(g, fam, metrics, s_small, s_large, fn)
        if accuracy_col is not None:
            rows += _relative_gain_rows(g, fam, accuracy_col, predictor_col is not None, s_small, s_large, fn)
    check_fitted(
        rows,
        skipped,
        fn,
        none_fitted=f"no compressor family has two usable sizes in {size_col!r} (skipped: {skipped}); "
        "check family_col / size_col or small / large",
        skipped_what="famil(ies)",
    )
    return pd.DataFrame(rows, columns=_RATIO_COLUMNS)


_RATIO_COLUMNS = "kind axis family metric small large mean_small mean_large value n_small n_large".split()  # noqa: SIM905


def _ratio_base(
    df: pd.DataFrame,
    metrics: list[str],
    family_col: str,
    size_col: str,
    predictor_col: str | None,
    small: float | None,
    large: float | None,
    accuracy_col: str | None,
    fn: str,
) -> pd.DataFrame:
    """:func:`scaling_ratios`' input checked, as ``_family``, ``_size``, the metrics and ``_pred``
    (the predictor size, when the predictor-axis gain is asked for), rows with a family and size only."""
    require_frame(df, fn)
    if not metrics and accuracy_col is None:
        raise ValueError(f"{fn}: nothing to compute; pass metric_cols and/or accuracy_col")
    need = [family_col, size_col, *metrics]
    if accuracy_col is not None:
        need.append(accuracy_col)
        if predictor_col is not None:
            need.append(predictor_col)
    try:
        require_columns(df, need, fn)
    except ValueError as exc:
        raise ValueError(
            f"{exc} (metric_cols=[...] lists the ratio columns; accuracy_col=None or "
            "predictor_col=None skip the relative-gain rows)"
        ) from None
    for name, v in (("small", small), ("large", large)):
        if v is not None and not (np.isfinite(v) and v > 0):
            raise ValueError(f"{fn}: {name} must be a positive size (parameters), got {v!r}")

    sizes = numeric_column(df, size_col, fn)
    if np.any(sizes <= 0) or np.any(np.isinf(sizes)):
        raise ValueError(f"{fn}: column {size_col!r} has non-positive or infinite sizes; filter those rows out")
    base = pd.DataFrame({"_family": df[family_col].to_numpy(), "_size": sizes}, index=df.index)
    for c in dict.fromkeys([*metrics, *([accuracy_col] if accuracy_col else [])]):
        base[c] = numeric_column(df, c, fn)
    if accuracy_col is not None and predictor_col is not None:
        base["_pred"] = numeric_column(df, predictor_col, fn)
    return base[base["_family"].notna() & np.isfinite(base["_size"])]


def _compressor_ratio_rows(
    g: pd.DataFrame, fam: Any, metrics: list[str], s_small: float, s_large: float, fn: str
) -> list[dict[str, Any]]:
    """One family's ``compressor_ratio`` rows: each metric's mean at the large size over its mean at the small."""
    at_s = g[g["_size"] == s_small]
    at_l = g[g["_size"] == s_large]
    rows = []
    for m in metrics:
        vs, vl = at_s[m].dropna(), at_l[m].dropna()
        if len(vs) == 0 or len(vl) == 0:
            warnings.warn(
                f"{fn}: family {fam!r}: no {m!r} values at size {s_small:g} or {s_large:g}; row left out",
                stacklevel=3,
            )
            continue
        ms, ml = float(vs.mean()), float(vl.mean())
        rows.append(
            dict(
                kind="compressor_ratio",
                axis="compressor",
                family=fam,
                metric=m,
                small=s_small,
                large=s_large,
                mean_small=ms,
                mean_large=ml,
                value=_ratio(ms, ml, f"family {fam!r} metric {m!r}", fn),
                n_small=len(vs),
                n_large=len(vl),
            )
        )
    return rows


def _relative_gain_rows(
    g: pd.DataFrame, fam: Any, accuracy_col: str, by_predictor: bool, s_small: float, s_large: float, fn: str
) -> list[dict[str, Any]]:
    """One family's ``relative_gain`` rows: along the compressor axis and (``by_predictor``) the predictor axis."""
    acc = g[g[accuracy_col].notna()]
    pred = "_pred" if by_predictor else None
    if pred is not None:
        acc = acc[np.isfinite(acc["_pred"])]
    rows = []
    res = _cell_average(acc, "_size", pred, s_small, s_large, accuracy_col)
    if res is None:
        warnings.warn(
            f"{fn}: family {fam!r}: no predictor was run with both compressor sizes; compressor-axis gain left out",
            stacklevel=3,
        )
    else:
        rows.append(_gain_row(fam, "compressor", accuracy_col, s_small, s_large, res, fn))
    if pred is None:
        return rows
    p_sizes = np.sort(acc["_pred"].unique())
    if len(p_sizes) < 2:
        warnings.warn(
            f"{fn}: family {fam!r} was run with {len(p_sizes)} predictor size(s); predictor-axis gain left out",
            stacklevel=3,
        )
        return rows
    res = _cell_average(acc, "_pred", "_size", float(p_sizes[0]), float(p_sizes[-1]), accuracy_col)
    if res is None:
        warnings.warn(
            f"{fn}: family {fam!r}: no compressor was run with both predictor sizes; predictor-axis gain left out",
            stacklevel=3,
        )
        return rows
    rows.append(_gain_row(fam, "predictor", accuracy_col, float(p_sizes[0]), float(p_sizes[-1]), res, fn))
    return rows


def _gain_row(fam: Any, axis: str, metric: str, small: float, large: float, res: tuple, fn: str) -> dict[str, Any]:
    """A ``relative_gain`` row from :func:`_cell_average`'s ``(mean small, mean large, n small, n large)``."""
    a_s, a_l, n_s, n_l = res
    return dict(
        kind="relative_gain",
        axis=axis,
        family=fam,
        metric=metric,
        small=small,
        large=large,
        mean_small=a_s,
        mean_large=a_l,
        value=_ratio(a_s, a_l, f"family {fam!r} {axis} gain", fn, stacklevel=5) - 1.0,
        n_small=n_s,
        n_large=n_l,
    )
