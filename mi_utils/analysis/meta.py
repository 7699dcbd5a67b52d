"""Random-effects meta-analysis of one effect across studies (data sets, scorers, ...).

* :func:`meta_analysis`: pools per-study effects with their standard errors under the
  random-effects model, with the between-study variance tau^2 estimated by DerSimonian-Laird
  (``"dl"``), Paule-Mandel (``"pm"``) or REML (``"reml"``, the default of R's metafor), returning
  a :class:`MetaAnalysisResult` (pooled estimate and interval, tau^2, I^2 in both its tau^2-based
  and its Q-based form, H^2, Cochran's Q, per-study table with random-effects weights). The
  estimators are computed here (numpy / scipy) and converge to a relative ``tol`` (default 1e-10),
  so they agree with metafor to its printed precision.
* :func:`per_group_slopes`: its typical input, the OLS slope of a metric on ``log2(size)`` within
  each group (e.g. the per-data-set slope of accuracy per doubling of compressor size) with its
  standard error (clustered by record by default).

Which estimator: DerSimonian-Laird is the classic closed form and the default here (it is
what the paper-style summaries and most older meta-analyses report), but with few studies it
tends to underestimate tau^2 when heterogeneity is large. REML (metafor's default) and
Paule-Mandel (recommended by Veroniki et al. 2016) are the better-behaved iterative choices;
the notebooks pool with REML so that their numbers can be checked against metafor, and show
DerSimonian-Laird and Paule-Mandel beside it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ._util import (
    as_columns,
    check_fitted,
    check_level,
    group_label,
    numeric_column,
    require_columns,
    require_frame,
    unit_codes,
)

__all__ = ["METHODS", "MetaAnalysisResult", "meta_analysis", "per_group_slopes"]

#: tau^2 estimators of :func:`meta_analysis`.
METHODS = {"dl": "DerSimonian-Laird", "pm": "Paule-Mandel", "reml": "REML"}


@dataclass
class MetaAnalysisResult:
    """A random-effects meta-analysis.

    Attributes:
      estimate: pooled random-effects estimate.
      ci_low, ci_high: its normal-theory confidence interval (level ``level``).
      se: standard error of the pooled estimate.
      p_value: two-sided p-value of H0: pooled effect = 0 (normal).
      tau2: between-study variance (``>= 0``) by ``method``.
      i2_tau2: I^2 from tau^2, as metafor reports it: ``tau2 / (tau2 + s2)``, a fraction in
        ``[0, 1]`` (the share of the total variance of an effect that is between studies).
      i2_q: I^2 from Cochran's Q (Higgins and Thompson): ``max(0, (Q - (k-1)) / Q)``; it ignores
        ``method`` and equals ``i2_tau2`` for DerSimonian-Laird.
      h2: H^2 from tau^2, as metafor: ``(tau2 + s2) / s2``.
      s2: the typical within-study variance ``(k-1) sum(w) / (sum(w)^2 - sum(w^2))``, ``w = 1/se^2``.
      q: Cochran's Q (fixed-effect weights).
      q_p_value: p-value of the homogeneity test (chi^2 with k - 1 degrees of freedom).
      k: number of studies.
      method: ``"dl"`` (DerSimonian-Laird), ``"pm"`` (Paule-Mandel) or ``"reml"``.
      table: per study: ``label``, ``effect``, ``se``, ``ci_low``, ``ci_high``, ``weight``
        (random-effects weights, summing to 1), ``weight_fixed``.
      fixed_estimate: the fixed-effect (inverse-variance) estimate.
      fixed_se: its standard error.
      level: confidence level of the intervals.
      tau2_se: standard error of tau^2 (REML: from the Fisher information, as metafor; NaN for
        the other methods).
      iterations: iterations of the tau^2 estimator (0 for DerSimonian-Laird and at tau^2 = 0).
    """

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    p_value: float
    tau2: float
    i2_tau2: float
    i2_q: float
    h2: float
    s2: float
    q: float
    q_p_value: float
    k: int
    method: str
    table: pd.DataFrame
    fixed_estimate: float
    fixed_se: float
    level: float = 0.95
    tau2_se: float = float("nan")
    iterations: int = 0

    @property
    def i2(self) -> float:
        """I^2 as reference tools report it: :attr:`i2_tau2` (what the forest plot shows)."""
        return self.i2_tau2

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
                "tau2_se",
                "i2_tau2",
                "i2_q",
                "h2",
                "s2",
                "q",
                "q_p_value",
                "k",
                "method",
                "fixed_estimate",
                "fixed_se",
                "level",
                "iterations",
            )
        }

    def __str__(self) -> str:
        return (
            f"random-effects ({self.method}) estimate {self.estimate:.4g} "
            f"[{self.ci_low:.4g}, {self.ci_high:.4g}], k={self.k}, tau^2={self.tau2:.3g}, "
            f"I^2={100 * self.i2_tau2:.1f}% (tau^2-based; Q-based {100 * self.i2_q:.1f}%), "
            f"Q={self.q:.3g} (p={self.q_p_value:.3g})"
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


def _tau2_pm(y: np.ndarray, v: np.ndarray, q: float, abs_tol: float, maxiter: int) -> tuple[float, int]:
    """Paule-Mandel: the tau^2 at which the generalised Q equals its expectation k - 1.

    The generalised Q falls strictly with tau^2, so the root is unique; it is bracketed by 0 and
    ``2 sum((y - mean)^2) / (k - 1)`` and found by Brent's method to ``abs_tol``.
    """
    k = len(y)
    if q <= k - 1:
        return 0.0, 0

    def excess(t: float) -> float:
        w = 1.0 / (v + t)
        mu = float(w @ y) / float(w.sum())
        return float(w @ (y - mu) ** 2) - (k - 1)

    upper = 2.0 * float(np.sum((y - y.mean()) ** 2)) / (k - 1)
    root, info = optimize.brentq(
        excess, 0.0, upper, xtol=abs_tol, rtol=4 * np.finfo(float).eps, maxiter=maxiter, full_output=True
    )
    return float(root), int(info.iterations)


def _reml_parts(y: np.ndarray, v: np.ndarray, t: float) -> tuple[float, float, float]:
    """``(y'PPy, tr P, tr PP)`` of the intercept-only model at tau^2 = ``t`` (P = W - W1(1'W1)^-1 1'W)."""
    w = 1.0 / (v + t)
    sw, sw2 = float(w.sum()), float(w @ w)
    mu = float(w @ y) / sw
    py = w * (y - mu)
    return float(py @ py), sw - sw2 / sw, sw2 - 2.0 * float(np.sum(w**3)) / sw + (sw2 / sw) ** 2


def _tau2_reml(y: np.ndarray, v: np.ndarray, start: float, abs_tol: float, maxiter: int) -> tuple[float, float, int]:
    """REML by Fisher scoring with step halving at the bound 0, as metafor's ``rma(method="REML")``.

    Each step adds ``(y'PPy - tr P) / tr PP`` (the score over the expected information), halved
    while it would make tau^2 negative; it stops when a step changes tau^2 by at most ``abs_tol``.
    Returns ``(tau2, se, iterations)`` with ``se = sqrt(2 / tr PP)`` at the estimate.
    """
    t = max(start, 0.0)
    iterations, converged, adj = 0, False, 0.0
    while iterations < maxiter and not converged:
        iterations += 1
        ypp, tr_p, tr_pp = _reml_parts(y, v, t)
        adj = (ypp - tr_p) / tr_pp
        if t <= 0.0 and adj < 0.0:
            adj = 0.0  # at the bound and pushed below it: the estimate is 0
        while t + adj < 0.0:
            adj /= 2.0
        converged = abs(adj) <= abs_tol
        t += adj
    if not converged:
        warnings.warn(
            f"meta_analysis: REML did not converge in {maxiter} Fisher-scoring iterations "
            f"(last step {abs(adj):.3g}); raise maxiter or loosen tol",
            RuntimeWarning,
            stacklevel=3,
        )
    if t <= abs_tol:  # reached the bound: the restricted likelihood peaks at tau^2 = 0
        t = 0.0
    _, _, tr_pp = _reml_parts(y, v, t)
    return t, math.sqrt(2.0 / tr_pp), iterations


def meta_analysis(
    effects: Any,
    effect: str = "effect",
    se: str = "se",
    label: str = "label",
    method: str = "dl",
    ci: float = 0.95,
    tol: float = 1e-10,
    maxiter: int = 1000,
) -> MetaAnalysisResult:
    """Random-effects meta-analysis of one effect across studies.

    With study effects ``y_i``, variances ``v_i = se_i^2`` and fixed-effect weights ``w_i = 1/v_i``:

    * Cochran's Q ``= sum w_i (y_i - mu_FE)^2`` with the inverse-variance estimate ``mu_FE``.
    * tau^2 by ``method``: ``"dl"`` DerSimonian-Laird, ``max(0, (Q - (k-1)) / (sum w - sum w^2 /
      sum w))`` (closed form); ``"pm"`` Paule-Mandel, the tau^2 at which the generalised Q
      ``sum (y_i - mu)^2 / (v_i + tau^2)`` equals ``k - 1`` (0 when Q <= k - 1; Brent's method);
      ``"reml"`` restricted maximum likelihood by Fisher scoring with step halving at 0, started at
      the DerSimonian-Laird value, as metafor's default ``rma(method="REML")`` (its standard
      error from the expected information). The iterative ones stop when tau^2 is known to
      ``tol`` times the typical within-study variance ``s2`` (metafor stops at an absolute 1e-5,
      statsmodels' Paule-Mandel at a relative 1e-5; both print four decimals).
    * The random-effects weights ``1 / (v_i + tau^2)`` give the estimate, its standard error and a
      normal (z) interval, as metafor's default.
    * I^2 twice: ``i2_tau2 = tau^2 / (tau^2 + s2)`` with the typical within-study variance
      ``s2 = (k-1) sum w / ((sum w)^2 - sum w^2)``, what metafor prints (and ``h2 = (tau^2 +
      s2) / s2``); and ``i2_q = max(0, (Q - (k-1)) / Q)`` (Higgins and Thompson), which does not
      depend on the estimator. They coincide for DerSimonian-Laird.

    Which estimator to choose: see the module docstring.

    Args:
      effects: a DataFrame with columns ``effect``, ``se`` and optionally ``label`` (else the index
        labels the studies), a dict ``label -> (effect, se)``, or a sequence of
        ``(label, effect, se)``; e.g. the output of :func:`per_group_slopes`.
      effect: effect column of a DataFrame input.
      se: standard-error column of a DataFrame input.
      label: label column of a DataFrame input.
      method: ``"dl"`` (DerSimonian-Laird), ``"pm"`` (Paule-Mandel) or ``"reml"``.
      ci: confidence level of the pooled and per-study intervals.
      tol: convergence tolerance of Paule-Mandel and REML, relative to ``s2`` (> 0).
      maxiter: iteration limit of Paule-Mandel and REML.

    Returns:
      A :class:`MetaAnalysisResult`.

    Raises:
      ValueError: fewer than 2 studies, a non-finite effect, a standard error that is not finite
        and positive, duplicate labels, missing columns, an unknown method, a bad ``ci``,
        ``tol`` or ``maxiter``.
    """
    level = _check_options(method, ci, tol, maxiter)
    labels, eff, ses = _parse(effects, effect, se, label)
    k = len(eff)
    var = ses**2
    w_fe = 1.0 / var
    sw, sw2 = float(w_fe.sum()), float(w_fe @ w_fe)
    fixed = float(w_fe @ eff) / sw
    q = float(w_fe @ (eff - fixed) ** 2)
    c = sw - sw2 / sw
    s2 = (k - 1) / c
    tau2_dl = max(0.0, (q - (k - 1)) / c)
    abs_tol = float(tol) * s2
    tau2_se, iterations = float("nan"), 0
    if method == "dl":
        tau2 = tau2_dl
    elif method == "pm":
        tau2, iterations = _tau2_pm(eff, var, q, abs_tol, int(maxiter))
    else:
        tau2, tau2_se, iterations = _tau2_reml(eff, var, tau2_dl, abs_tol, int(maxiter))

    w_re = 1.0 / (var + tau2)
    estimate = float(w_re @ eff) / float(w_re.sum())
    se_re = float(np.sqrt(1.0 / np.sum(w_re)))
    z = float(stats.norm.ppf(0.5 + level / 2))
    table = _study_table(labels, eff, ses, z, w_re, w_fe)
    return MetaAnalysisResult(
        estimate=estimate,
        ci_low=estimate - z * se_re,
        ci_high=estimate + z * se_re,
        se=se_re,
        p_value=float(2 * stats.norm.sf(abs(estimate) / se_re)),
        tau2=float(tau2),
        i2_tau2=float(tau2 / (tau2 + s2)),
        i2_q=max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0,
        h2=float((tau2 + s2) / s2),
        s2=float(s2),
        q=q,
        q_p_value=float(stats.chi2.sf(q, k - 1)),
        k=k,
        method=method,
        table=table,
        fixed_estimate=fixed,
        fixed_se=float(np.sqrt(1.0 / sw)),
        level=level,
        tau2_se=float(tau2_se),
        iterations=int(iterations),
    )


def _check_options(method: str, ci: float, tol: float, maxiter: int) -> float:
    """:func:`meta_analysis`'s options checked; returns the confidence level."""
    fn = "meta_analysis"
    if method not in METHODS:
        raise ValueError(
            f"{fn}: method must be one of {', '.join(f'{m!r} ({n})' for m, n in METHODS.items())}, got {method!r}"
        )
    level = check_level(ci, fn)
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"{fn}: tol must be a positive number, got {tol!r}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 1:
        raise ValueError(f"{fn}: maxiter must be a positive integer, got {maxiter!r}")
    return level


def _study_table(
    labels, eff: np.ndarray, ses: np.ndarray, z: float, w_re: np.ndarray, w_fe: np.ndarray
) -> pd.DataFrame:
    """One row per study: its effect, normal interval and random- and fixed-effect weights (each summing to 1)."""
    return pd.DataFrame(
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
    check_fitted(
        rows,
        skipped,
        fn,
        none_fitted=f"no group can be fitted (each needs >= 2 sizes, >= 3 rows and, clustered, >= 2 units): "
        f"{skipped}; group more coarsely or pass unit=None",
        skipped_what="group(s)",
    )
    return pd.DataFrame(rows)
