"""Random-effects meta-analysis of one effect across studies (data sets, scorers, ...).

* :func:`meta_analysis`: pools per-study effects with their standard errors using statsmodels'
  ``combine_effects`` (DerSimonian-Laird or Paule-Mandel between-study variance), returning a
  :class:`MetaAnalysisResult` (pooled estimate and interval, tau^2, I^2, Cochran's Q, per-study
  table with random-effects weights).
* :func:`per_group_slopes`: its typical input, the OLS slope of a metric on ``log2(size)`` within
  each group (e.g. the per-data-set slope of accuracy per doubling of compressor size) with its
  standard error (clustered by record by default).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._util import (
    as_columns,
    check_level,
    group_label,
    numeric_column,
    require_columns,
    require_frame,
    unit_codes,
)

__all__ = ["MetaAnalysisResult", "meta_analysis", "per_group_slopes"]


@dataclass
class MetaAnalysisResult:
    """A random-effects meta-analysis.

    Attributes:
      estimate: pooled random-effects estimate.
      ci_low, ci_high: its normal-theory confidence interval (level ``level``).
      se: standard error of the pooled estimate.
      p_value: two-sided p-value of H0: pooled effect = 0 (normal).
      tau2: between-study variance (truncated at 0).
      i2: I^2 as a fraction in [0, 1]: share of the spread of effects beyond sampling error.
      q: Cochran's Q (fixed-effect weights).
      q_p_value: p-value of the homogeneity test (chi^2 with k - 1 degrees of freedom).
      k: number of studies.
      method: ``"dl"`` (DerSimonian-Laird) or ``"pm"`` (Paule-Mandel).
      table: per study: ``label``, ``effect``, ``se``, ``ci_low``, ``ci_high``, ``weight``
        (random-effects weights, summing to 1), ``weight_fixed``.
      fixed_estimate: the fixed-effect (inverse-variance) estimate.
      fixed_se: its standard error.
      level: confidence level of the intervals.
    """

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    p_value: float
    tau2: float
    i2: float
    q: float
    q_p_value: float
    k: int
    method: str
    table: pd.DataFrame
    fixed_estimate: float
    fixed_se: float
    level: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """The scalar results as a flat dict (without the per-study table)."""
        return {
            k: getattr(self, k)
            for k in (
                "estimate",
                "ci_low",
                "ci_high",
                "se",
                "p_value",
                "tau2",
                "i2",
                "q",
                "q_p_value",
                "k",
                "method",
                "fixed_estimate",
                "fixed_se",
                "level",
            )
        }

    def __str__(self) -> str:
        return (
            f"random-effects ({self.method}) estimate {self.estimate:.4g} "
            f"[{self.ci_low:.4g}, {self.ci_high:.4g}], k={self.k}, tau^2={self.tau2:.3g}, "
            f"I^2={100 * self.i2:.0f}%, Q={self.q:.3g} (p={self.q_p_value:.3g})"
        )


def _parse(effects: Any, effect: str, se: str, label: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    fn = "meta_analysis"
    if isinstance(effects, pd.DataFrame):
        require_columns(effects, [effect, se], fn)
        labels = [str(v) for v in effects[label]] if label in effects.columns else [str(v) for v in effects.index]
        eff = numeric_column(effects, effect, fn)
        ses = numeric_column(effects, se, fn)
    else:
        if isinstance(effects, Mapping):
            items = [(k, *v) if isinstance(v, (tuple, list)) else (k, v) for k, v in effects.items()]
        elif isinstance(effects, Sequence) and not isinstance(effects, str):
            items = [tuple(v) if isinstance(v, (tuple, list)) else (v,) for v in effects]
        else:
            raise ValueError(
                f"{fn}: effects must be a DataFrame with columns {effect!r} and {se!r}, a dict "
                "label -> (effect, se) or a sequence of (label, effect, se); "
                f"got {type(effects).__name__}"
            )
        bad = [it for it in items if len(it) != 3]
        if bad:
            raise ValueError(f"{fn}: each study needs (label, effect, se); got {bad[:3]}")
        labels = [str(it[0]) for it in items]
        try:
            eff = np.array([float(it[1]) for it in items])
            ses = np.array([float(it[2]) for it in items])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{fn}: effects and standard errors must be numbers ({exc})") from exc
    k = len(eff)
    if k < 2:
        raise ValueError(f"{fn}: need at least 2 studies to pool, got {k}")
    if not np.all(np.isfinite(eff)):
        bad_eff = [lab for lab, e in zip(labels, eff) if not np.isfinite(e)]
        raise ValueError(f"{fn}: effects must be finite; studies {bad_eff} are not (drop them)")
    if not np.all(np.isfinite(ses) & (ses > 0)):
        raise ValueError(
            f"{fn}: standard errors must be finite and > 0; studies "
            f"{[lab for lab, s in zip(labels, ses) if not (np.isfinite(s) and s > 0)]} are not "
            "(a zero SE usually means a perfect fit on too few points: drop the study)"
        )
    if len(set(labels)) != k:
        dup = sorted({lab for lab in labels if labels.count(lab) > 1})
        raise ValueError(f"{fn}: duplicate study labels {dup}; give each study a unique label")
    return labels, eff, ses


def meta_analysis(
    effects: Any,
    effect: str = "effect",
    se: str = "se",
    label: str = "label",
    method: str = "dl",
    ci: float = 0.95,
) -> MetaAnalysisResult:
    """Random-effects meta-analysis of one effect across studies.

    Uses ``statsmodels.stats.meta_analysis.combine_effects`` for Cochran's Q, the fixed-effect
    estimate and the between-study variance tau^2 (DerSimonian-Laird ``"dl"`` or Paule-Mandel
    ``"pm"``). tau^2 is truncated at 0 (statsmodels' DerSimonian-Laird value can be negative when
    Q < k - 1) and the random-effects weights ``1 / (se^2 + tau^2)``, estimate and standard error
    are computed from the truncated value. I^2 = max(0, (Q - (k-1)) / Q) (0 when Q = 0). Intervals
    are normal (z) intervals.

    Args:
      effects: a DataFrame with columns ``effect``, ``se`` and optionally ``label`` (else the index
        labels the studies), a dict ``label -> (effect, se)``, or a sequence of
        ``(label, effect, se)``; e.g. the output of :func:`per_group_slopes`.
      effect: effect column of a DataFrame input.
      se: standard-error column of a DataFrame input.
      label: label column of a DataFrame input.
      method: ``"dl"`` (DerSimonian-Laird) or ``"pm"`` (Paule-Mandel).
      ci: confidence level of the pooled and per-study intervals.

    Returns:
      A :class:`MetaAnalysisResult`.

    Raises:
      ValueError: fewer than 2 studies, a non-finite effect, a standard error that is not finite
        and positive, duplicate labels, missing columns, an unknown method or a bad ``ci``.
    """
    from statsmodels.stats.meta_analysis import combine_effects

    fn = "meta_analysis"
    if method not in ("dl", "pm"):
        raise ValueError(f"{fn}: method must be 'dl' (DerSimonian-Laird) or 'pm' (Paule-Mandel), got {method!r}")
    level = check_level(ci, fn)
    labels, eff, ses = _parse(effects, effect, se, label)
    k = len(eff)
    var = ses**2
    kwds = {"maxiter": 200} if method == "pm" else {}
    with np.errstate(invalid="ignore", divide="ignore"):  # statsmodels takes sqrt of an untruncated DL tau2
        res = combine_effects(eff, var, method_re=method, row_names=labels, alpha=1 - level, **kwds)

    q = max(float(res.q), 0.0)
    tau2 = max(float(res.tau2), 0.0)
    w_fe = 1.0 / var
    w_re = 1.0 / (var + tau2)
    estimate = float(np.sum(w_re * eff) / np.sum(w_re))
    se_re = float(np.sqrt(1.0 / np.sum(w_re)))
    z = stats.norm.ppf(0.5 + level / 2)
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    table = pd.DataFrame(
        {
            "label": labels,
            "effect": eff,
            "se": ses,
            "ci_low": eff - z * ses,
            "ci_high": eff + z * ses,
            "weight": w_re / w_re.sum(),
            "weight_fixed": w_fe / w_fe.sum(),
        }
    )
    return MetaAnalysisResult(
        estimate=estimate,
        ci_low=estimate - z * se_re,
        ci_high=estimate + z * se_re,
        se=se_re,
        p_value=float(2 * stats.norm.sf(abs(estimate) / se_re)),
        tau2=tau2,
        i2=float(i2),
        q=q,
        q_p_value=float(stats.chi2.sf(q, k - 1)),
        k=k,
        method=method,
        table=table,
        fixed_estimate=float(res.mean_effect_fe),
        fixed_se=float(res.sd_eff_w_fe),
        level=level,
    )


def per_group_slopes(
    df: pd.DataFrame,
    metric: str = "correct",
    size: str = "compressor_params",
    by: str | Sequence[str] | None = "dataset",
    unit: str | Sequence[str] | None = "record_id",
) -> pd.DataFrame:
    """OLS slope of ``metric`` on ``log2(size)`` within each group, with its standard error.

    The typical input of :func:`meta_analysis`: e.g. the per-data-set slope of accuracy per
    doubling of compressor size. With ``unit`` set the standard error is cluster-robust by unit
    (records; CR1, the same as statsmodels ``OLS(...).fit(cov_type="cluster")``), since the rows of
    one record are correlated; with ``unit=None`` it is the classical OLS standard error (as
    ``numpy.polyfit(..., cov=True)``). Rows without a metric or a size are dropped with a warning;
    groups with fewer than 2 sizes, fewer than 3 rows or (clustered) fewer than 2 units are
    skipped with a warning.

    Args:
      df: results table.
      metric: the metric column (bool counts as 0/1).
      size: model-size column (positive).
      by: grouping column(s) that define the studies; ``None`` for one study.
      unit: cluster column(s) for the standard error; ``None`` for the classical one.

    Returns:
      One row per group: ``label``, ``effect`` (slope per doubling), ``se``, ``intercept``,
      ``n_rows``, ``n_sizes``, ``n_units``, ``se_type`` (``"cluster"`` / ``"ols"``).

    Raises:
      ValueError: missing or non-numeric columns, non-positive sizes, or no group can be fitted.
    """
    fn = "per_group_slopes"
    require_frame(df, fn)
    by_cols = as_columns(by, "by")
    unit_cols = as_columns(unit, "unit")
    require_columns(df, [metric, size, *by_cols, *unit_cols], fn)
    y_all = numeric_column(df, metric, fn)
    s_all = numeric_column(df, size, fn)
    if np.any(s_all <= 0) or np.any(np.isinf(s_all)):
        raise ValueError(f"{fn}: column {size!r} has non-positive or infinite sizes; filter those rows out")
    keep = np.isfinite(y_all) & np.isfinite(s_all)
    if not keep.all():
        warnings.warn(
            f"{fn}: dropped {int((~keep).sum())} of {len(df)} rows without a {metric!r} or a {size!r}", stacklevel=2
        )
    data = df.loc[keep, [*by_cols, *unit_cols]].copy()
    data["_x"] = np.log2(s_all[keep])
    data["_y"] = y_all[keep]
    groups = data.groupby(by_cols, sort=True, dropna=False) if by_cols else [((), data)]
    rows, skipped = [], []
    for key, g in groups:
        lab = group_label(key, by_cols)
        x, y = g["_x"].to_numpy(), g["_y"].to_numpy()
        n = len(g)
        n_sizes = int(np.unique(x).size)
        codes = unit_codes(g, unit_cols or None)
        n_units = int(codes.max()) + 1 if n else 0
        if n_sizes < 2 or n < 3 or (unit_cols and n_units < 2):
            skipped.append(f"{lab} (rows={n}, sizes={n_sizes}, units={n_units})")
            continue
        X = np.column_stack([np.ones(n), x - x.mean()])
        xtx_inv = np.linalg.inv(X.T @ X)
        beta = xtx_inv @ X.T @ y
        e = y - X @ beta
        if unit_cols:
            scores = np.column_stack([np.bincount(codes, weights=X[:, j] * e, minlength=n_units) for j in range(2)])
            meat = scores.T @ scores
            corr = n_units / (n_units - 1) * (n - 1) / (n - 2)
            cov = corr * xtx_inv @ meat @ xtx_inv
            se_type = "cluster"
        else:
            cov = float(e @ e) / (n - 2) * xtx_inv
            se_type = "ols"
        slope = float(beta[1])
        rows.append(
            dict(
                label=lab,
                effect=slope,
                se=math.sqrt(max(float(cov[1, 1]), 0.0)),
                intercept=float(beta[0] - slope * x.mean()),
                n_rows=n,
                n_sizes=n_sizes,
                n_units=n_units,
                se_type=se_type,
            )
        )
    if not rows:
        raise ValueError(
            f"{fn}: no group can be fitted (each needs >= 2 sizes, >= 3 rows and, clustered, >= 2 "
            f"units): {skipped}; group more coarsely or pass unit=None"
        )
    if skipped:
        warnings.warn(f"{fn}: skipped group(s): {skipped}", stacklevel=2)
    return pd.DataFrame(rows)
