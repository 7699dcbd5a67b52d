"""Pearson and Spearman correlations, raw and partial (controlling for covariates).

:func:`partial_correlation` answers questions such as "does MI predict accuracy beyond summary
length?" (``x="mi_bits"``, ``y="correct"``, ``covariates=["summary_tokens"]``) or "how tightly do
perplexity and MI go together?" (the paper reports r = -0.84, R^2 = 0.71). Partialling is the
correlation of the residuals of x and y after ordinary least squares on ``[1, covariates]``;
Spearman applies the same machinery to ranks (of x, y and the covariates).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._util import (
    as_columns,
    check_level,
    check_n_boot,
    numeric_column,
    percentile_interval,
    require_columns,
    require_frame,
)

__all__ = ["partial_correlation", "length_baseline"]

_METHODS = ("pearson", "spearman")


def _resid(v: np.ndarray, Z: np.ndarray) -> np.ndarray:
    beta, *_ = np.linalg.lstsq(Z, v, rcond=None)
    return v - Z @ beta


def _corr(x: np.ndarray, y: np.ndarray, Z: np.ndarray | None) -> float | None:
    """Correlation of x and y (residualised on Z = [1, covariates] when given); None if a residual
    has no variance."""
    if Z is None:
        rx, ry = x - x.mean(), y - y.mean()
    else:
        rx, ry = _resid(x, Z), _resid(y, Z)
    sxx, syy = float(rx @ rx), float(ry @ ry)
    # relative tolerance: a residual that is numerically zero compared with the raw spread
    if sxx <= 1e-20 * max(float(((x - x.mean()) ** 2).sum()), 1e-300) or sxx == 0:
        return None
    if syy <= 1e-20 * max(float(((y - y.mean()) ** 2).sum()), 1e-300) or syy == 0:
        return None
    return float(np.clip((rx @ ry) / np.sqrt(sxx * syy), -1.0, 1.0))


def _transform(block: np.ndarray, method: str) -> np.ndarray:
    """Columns as they are (Pearson) or ranked with average ties (Spearman)."""
    if method == "spearman":
        return np.column_stack([stats.rankdata(block[:, j]) for j in range(block.shape[1])])
    return block


def partial_correlation(
    df: pd.DataFrame,
    x: str,
    y: str,
    covariates: str | Sequence[str] = (),
    method: str | Sequence[str] = ("pearson", "spearman"),
    ci: float = 0.95,
    n_boot: int = 0,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Raw and partial correlation of two columns, Pearson and/or Spearman.

    For each method a ``"raw"`` row (no covariates) and, when covariates are given, a
    ``"partial"`` row (correlation of the OLS residuals of x and y on ``[1, covariates]``).
    Spearman ranks x, y and the covariates first (average ranks for ties) and then uses the same
    machinery, so its raw row equals ``scipy.stats.spearmanr``.

    Intervals: with ``n_boot=0`` the Fisher z interval ``tanh(atanh(r) +- z_{(1+ci)/2} / sqrt(n-3-k))``
    with k the number of covariates of that row (0 for raw rows); with ``n_boot > 0`` a percentile
    bootstrap over rows (ranks recomputed in each resample). p-values (two-sided, H0: r = 0) come
    from the t distribution with ``n-2-k`` degrees of freedom (for raw Pearson this is
    ``scipy.stats.pearsonr``'s p-value).

    Args:
      df: the table.
      x: first column (bool columns count as 0/1).
      y: second column.
      covariates: column(s) to partial out (``()`` for none).
      method: ``"pearson"``, ``"spearman"`` or a sequence of both.
      ci: confidence level of the intervals.
      n_boot: bootstrap resamples for the intervals; ``0`` uses the Fisher z interval.
      seed: seed of the bootstrap.

    Returns:
      One row per method and kind, columns ``method``, ``kind`` (``"raw"`` / ``"partial"``), ``x``,
      ``y``, ``r``, ``ci_low``, ``ci_high``, ``p_value``, ``n``, ``covariates`` (comma-joined,
      ``""`` for raw rows), ``r2`` (``r**2``), ``ci_method`` (``"fisher"`` / ``"bootstrap"``).

    Raises:
      ValueError: missing or non-numeric columns, an unknown method, fewer than ``4 + k`` usable
        rows, a column without variance, x or y fully explained by the covariates, bad ``ci`` or
        ``n_boot``.

    Warns:
      UserWarning: rows with a missing value in a used column were dropped (how many).
    """
    fn = "partial_correlation"
    covs, methods, level, n_boot = _check_arguments(df, x, y, covariates, method, ci, n_boot, fn)
    cols = list(dict.fromkeys([x, y, *covs]))
    block = _usable_block(df, cols, len(covs), fn)
    n, k = len(block), len(covs)
    ix, iy = cols.index(x), cols.index(y)
    icov = [cols.index(c) for c in covs]
    rng = np.random.default_rng(seed)

    out: list[dict[str, Any]] = []
    for m in methods:
        t = _transform(block, m)
        kinds = [("raw", 0)] + ([("partial", k)] if k else [])
        for kind, kk in kinds:
            Z = np.column_stack([np.ones(n), t[:, icov]]) if kk else None
            r = _corr(t[:, ix], t[:, iy], Z)
            if r is None:
                raise ValueError(
                    f"{fn}: {x!r} or {y!r} is (almost) a linear function of the covariates {covs}; "
                    "the partial correlation is undefined, drop the redundant covariate"
                )
            if n_boot == 0:
                (lo, hi), ci_method = _fisher_interval(r, n, kk, level), "fisher"
            else:
                cov_idx = icov if kk else None
                lo, hi = _bootstrap_interval(block, m, ix, iy, cov_idx, n_boot, level, rng, fn)
                ci_method = "bootstrap"
            out.append(
                dict(
                    method=m,
                    kind=kind,
                    x=x,
                    y=y,
                    r=r,
                    ci_low=lo,
                    ci_high=hi,
                    p_value=_p_value(r, n - 2 - kk),
                    n=n,
                    covariates=",".join(covs) if kk else "",
                    r2=r * r,
                    ci_method=ci_method,
                )
            )
    return pd.DataFrame(out)


def _check_arguments(df, x, y, covariates, method, ci, n_boot, fn: str) -> tuple[list[str], list[str], float, int]:
    """:func:`partial_correlation`'s arguments checked: ``(covariates, methods, level, n_boot)``."""
    require_frame(df, fn)
    covs = as_columns(covariates, "covariates")
    methods = as_columns(method, "method")
    if not methods:
        raise ValueError(f"{fn}: method must be 'pearson', 'spearman' or both")
    unknown = [m for m in methods if m not in _METHODS]
    if unknown:
        raise ValueError(f"{fn}: unknown method(s) {unknown}; use 'pearson' and/or 'spearman'")
    for c in covs:
        if c in (x, y):
            raise ValueError(f"{fn}: covariate {c!r} is also x or y; partialling it out leaves nothing")
    require_columns(df, list(dict.fromkeys([x, y, *covs])), fn)
    return covs, methods, check_level(ci, fn), check_n_boot(n_boot, fn, minimum=0)


def _usable_block(df: pd.DataFrame, cols: list[str], k: int, fn: str) -> np.ndarray:
    """The numeric ``cols`` of ``df`` without rows missing a value (warned); enough rows, each column varying."""
    block = np.column_stack([numeric_column(df, c, fn) for c in cols])
    if np.isinf(block).any():
        bad = [c for j, c in enumerate(cols) if np.isinf(block[:, j]).any()]
        raise ValueError(f"{fn}: column(s) {bad} hold infinite values; drop or clip those rows first")
    usable = ~np.isnan(block).any(axis=1)
    n_drop = int((~usable).sum())
    if n_drop:
        warnings.warn(f"{fn}: dropped {n_drop} of {len(df)} rows with a missing value in {cols}", stacklevel=3)
    block = block[usable]
    n = len(block)
    if n < 4 + k:
        raise ValueError(
            f"{fn}: {n} usable rows; need at least {4 + k} (4 + number of covariates) "
            "for a correlation with an interval"
        )
    for j, c in enumerate(cols):
        if np.ptp(block[:, j]) == 0:
            raise ValueError(f"{fn}: column {c!r} is constant over the usable rows; a correlation needs variation")
    return block


def _p_value(r: float, dof: int) -> float:
    """Two-sided p-value of ``r`` (H0: r = 0) from the t distribution with ``dof`` degrees of freedom."""
    if abs(r) >= 1.0:
        return 0.0
    tstat = r * np.sqrt(dof / (1.0 - r * r))
    return float(2.0 * stats.t.sf(abs(tstat), dof))


def _fisher_interval(r: float, n: int, k: int, level: float) -> tuple[float, float]:
    """``tanh(atanh(r) +- z_{(1+level)/2} / sqrt(n-3-k))``."""
    z_crit = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore"):
        zr = np.arctanh(r)
    half = z_crit / np.sqrt(n - 3 - k)
    return float(np.tanh(zr - half)), float(np.tanh(zr + half))


def _bootstrap_interval(
    block: np.ndarray,
    method: str,
    ix: int,
    iy: int,
    icov: list[int] | None,
    n_boot: int,
    level: float,
    rng: np.random.Generator,
    fn: str,
) -> tuple[float, float]:
    """Percentile interval of the correlation over row resamples (ranks recomputed in each; degenerate ones warned)."""
    n = len(block)
    reps = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=n)
        tb = _transform(block[idx], method)
        Zb = np.column_stack([np.ones(n), tb[:, icov]]) if icov is not None else None
        with np.errstate(invalid="ignore", divide="ignore"):
            rb = _corr(tb[:, ix], tb[:, iy], Zb)
        if rb is not None:
            reps.append(rb)
    if len(reps) < n_boot:
        warnings.warn(
            f"{fn}: {n_boot - len(reps)} of {n_boot} bootstrap resamples were degenerate (no variance) and left out",
            stacklevel=3,
        )
    if len(reps) < 2:
        raise ValueError(f"{fn}: fewer than 2 usable bootstrap resamples; use n_boot=0 (Fisher z)")
    return percentile_interval(np.asarray(reps), level)


def length_baseline(
    points: pd.DataFrame,
    y: str = "accuracy",
    length: str = "summary_tokens",
    information: Sequence[str] = ("mi_bits", "mi_per_token_bits"),
) -> pd.DataFrame:
    """Does information predict ``y`` beyond summary length? The length-only baseline.

    Returns the raw correlation of ``y`` with length, then for each information column its raw
    correlation with ``y`` and the partial one with length partialled out (Pearson and Spearman),
    one row each, with a ``question`` column saying which is which.

    Args:
      points: one line per configuration (e.g. :func:`mi_utils.analysis.tables.configurations`).
      y: the outcome column.
      length: the length column (tokens).
      information: information columns to test.

    Raises:
      ValueError: as :func:`partial_correlation` (missing columns, too few rows).
    """
    parts = [partial_correlation(points, length, y).assign(question="length only")]
    for col in information:
        parts.append(
            partial_correlation(points, col, y, covariates=[length]).assign(question=f"{col}: raw, then beyond length")
        )
    out = pd.concat(parts, ignore_index=True)
    first = ["question", "method", "kind", "x", "covariates", "r", "ci_low", "ci_high", "p_value", "n"]
    return out[first + [c for c in out.columns if c not in first]]
