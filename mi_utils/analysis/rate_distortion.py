"""Rate-distortion curve ``D(R) = C exp(-b R) + D0`` fitted to (rate, distortion) points.

The paper summarises each compressor configuration by a point (rate, distortion): the rate is the
mutual information per summary token in bits (``mi_per_token_bits = mi_bits / summary_tokens``,
tokens of the compressor's own tokenizer) and the distortion is ``1 - accuracy`` of the predictor.
:func:`fit_rate_distortion` fits the exponential decay with the constraints ``C >= 0``,
``b >= 0`` and ``0 <= D0 <= 1`` and gives percentile bootstrap intervals over points;
:class:`RateDistortionFit` holds the result.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # annotations only: pandas is imported where tables are built
    import pandas as pd
from scipy.optimize import least_squares

from ._util import check_n_boot, percentile_interval

__all__ = ["RateDistortionFit", "fit_rate_distortion", "fit_rate_distortion_groups"]

_PARAMS = ("C", "b", "D0")
# Grid of the decay rate in units of 1 / (rate spread): b * spread from 1e-3 to 1e3, plus b = 0.
_BETA_MAX = 1e3  # a decay over 1/1000 of the data's rate spread is already a step
_BETA_GRID = np.concatenate([[0.0], np.geomspace(1e-3, _BETA_MAX, 61)])


@dataclass
class RateDistortionFit:
    """A fitted curve ``D(R) = C exp(-b R) + D0``.

    Attributes:
      C: amplitude (``>= 0``): distortion removed between rate 0 and infinite rate.
      b: decay rate per bit per token (``>= 0``).
      D0: distortion floor at infinite rate (in ``[0, 1]``).
      ci: ``{"C": (low, high), "b": (...), "D0": (...)}``, 95% percentile bootstrap intervals over
        points (empty when fitted with ``n_boot=0``).
      r2: coefficient of determination of the fit (weighted when weights were given).
      n: number of points.
      rate: the rates fitted (bits per summary token).
      distortion: the distortions fitted (``1 - accuracy``).
      weights: the point weights (ones when none were given).
      boot: bootstrap replicates, shape ``(n_ok, 3)`` with columns C, b, D0.
    """

    C: float
    b: float
    D0: float
    ci: dict[str, tuple[float, float]]
    r2: float
    n: int
    rate: np.ndarray
    distortion: np.ndarray
    weights: np.ndarray = field(repr=False)
    boot: np.ndarray = field(repr=False)

    def predict(self, rate: Any) -> np.ndarray:
        """``C exp(-b R) + D0`` at ``rate`` (array in, array out).

        Raises:
          ValueError: a rate is NaN or infinite.
        """
        r = np.asarray(rate, dtype=float)
        if not np.all(np.isfinite(r)):
            raise ValueError("RateDistortionFit.predict: rates must be finite numbers")
        return self.C * np.exp(-self.b * r) + self.D0

    def predict_band(self, rate: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise percentile band of the bootstrap curves at ``rate``.

        Raises:
          ValueError: the fit has no bootstrap replicates (``n_boot=0``) or a rate is not finite.
        """
        if len(self.boot) < 2:
            raise ValueError("predict_band: the fit has no bootstrap replicates; refit with n_boot > 0")
        r = np.asarray(rate, dtype=float)
        if not np.all(np.isfinite(r)):
            raise ValueError("predict_band: rates must be finite numbers")
        C, b, D0 = (self.boot[:, j][:, None] for j in range(3))
        with np.errstate(over="ignore", invalid="ignore"):
            curves = C * np.exp(-b * r.ravel()[None, :]) + D0
        alpha = (1 - level) / 2
        lo, hi = np.nanquantile(curves, [alpha, 1 - alpha], axis=0)
        return lo.reshape(r.shape), hi.reshape(r.shape)

    def to_dict(self) -> dict[str, Any]:
        """Flat dict of the parameters, their intervals, ``r2`` and ``n`` (no arrays)."""
        d: dict[str, Any] = {"C": self.C, "b": self.b, "D0": self.D0}
        for name in _PARAMS:
            if name in self.ci:
                d[f"{name}_low"], d[f"{name}_high"] = self.ci[name]
        d.update(r2=self.r2, n=self.n)
        return d


def _check_vector(v: Any, name: str) -> np.ndarray:
    try:
        a = np.asarray(v, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"fit_rate_distortion: {name} must be numbers ({exc})") from exc
    if a.ndim != 1:
        raise ValueError(f"fit_rate_distortion: {name} must be one-dimensional, got shape {a.shape}")
    if np.isnan(a).any():
        raise ValueError(
            f"fit_rate_distortion: {name} has {int(np.isnan(a).sum())} NaN value(s); drop those points first"
        )
    if np.isinf(a).any():
        raise ValueError(
            f"fit_rate_distortion: {name} has {int(np.isinf(a).sum())} infinite value(s); drop those points first"
        )
    return a


def _profile(u: np.ndarray, y: np.ndarray, w: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, ...]:
    """For each beta, the bounded least-squares (C', D0) of ``y ~ C' exp(-beta u) + D0`` with
    ``C' >= 0``, ``0 <= D0 <= 1``, and its weighted SSE (vectorised over beta)."""
    E = np.exp(-np.outer(beta, u))  # (G, n), u >= 0 so no overflow
    sw = w.sum()
    se, see = E @ w, (E * E) @ w
    sy, sey, syy = w @ y, E @ (w * y), w @ (y * y)

    def sse(c: np.ndarray, d: np.ndarray) -> np.ndarray:
        return syy - 2 * c * sey - 2 * d * sy + c * c * see + 2 * c * d * se + d * d * sw

    cands = []
    det = see * sw - se * se
    ok = det > 1e-12 * np.maximum(see * sw, 1e-300)
    safe = np.where(ok, det, 1.0)
    c_u = (sey * sw - se * sy) / safe
    d_u = (see * sy - se * sey) / safe
    feas = ok & (c_u >= 0) & (d_u >= 0) & (d_u <= 1)
    cands.append((np.where(feas, c_u, 0.0), np.where(feas, d_u, 0.0), feas))
    always = np.ones_like(beta, dtype=bool)
    cands.append((np.zeros_like(beta), np.full_like(beta, np.clip(sy / sw, 0.0, 1.0)), always))
    see_safe = np.maximum(see, 1e-300)
    cands.append((np.maximum(0.0, sey / see_safe), np.zeros_like(beta), always))
    cands.append((np.maximum(0.0, (sey - se) / see_safe), np.ones_like(beta), always))
    best_c = np.zeros_like(beta)
    best_d = np.zeros_like(beta)
    best_s = np.full_like(beta, np.inf)
    for c, d, valid in cands:
        s = np.where(valid, sse(c, d), np.inf)
        better = s < best_s
        best_c, best_d, best_s = np.where(better, c, best_c), np.where(better, d, best_d), np.where(better, s, best_s)
    return best_c, best_d, np.maximum(best_s, 0.0)


def _polish(u: np.ndarray, y: np.ndarray, sw: np.ndarray, x0: np.ndarray) -> tuple[np.ndarray, float]:
    """Bounded least squares in scaled coordinates p = (C', beta, D0) from x0."""

    def resid(p: np.ndarray) -> np.ndarray:
        return sw * (p[0] * np.exp(-p[1] * u) + p[2] - y)

    def jac(p: np.ndarray) -> np.ndarray:
        e = np.exp(-p[1] * u)
        return sw[:, None] * np.column_stack([e, -p[0] * u * e, np.ones_like(u)])

    x0 = np.clip(x0, [0.0, 0.0, 0.0], [np.inf, _BETA_MAX, 1.0])
    res = least_squares(
        resid,
        x0,
        jac=jac,
        bounds=([0.0, 0.0, 0.0], [np.inf, _BETA_MAX, 1.0]),
        method="trf",
        x_scale="jac",
        ftol=1e-12,
        xtol=1e-12,
        gtol=1e-12,
        max_nfev=500,
    )
    return res.x, float(np.sum(res.fun**2))


def _fit(u: np.ndarray, y: np.ndarray, w: np.ndarray, n_starts: int) -> tuple[np.ndarray, float]:
    """Best (C', beta, D0) from the profile grid and least-squares polishes of its best minima."""
    c, d, s = _profile(u, y, w, _BETA_GRID)
    j_best = int(np.argmin(s))
    best = (np.array([c[j_best], _BETA_GRID[j_best], d[j_best]]), float(s[j_best]))
    # starting points: local minima of the profile SSE over beta, best first
    is_min = np.r_[True, s[1:-1] <= np.minimum(s[:-2], s[2:]), True] if len(s) > 2 else np.ones(len(s), bool)
    starts = [j for j in np.argsort(s) if is_min[j]][:n_starts]
    if j_best not in starts:
        starts.insert(0, j_best)
    sw = np.sqrt(w)
    for j in starts[: max(n_starts, 1)]:
        p, sse = _polish(u, y, sw, np.array([c[j], _BETA_GRID[j], d[j]]))
        if sse < best[1]:
            best = (p, sse)
    return best


def _unscale(p: np.ndarray, r_min: float, spread: float) -> tuple[float, float, float]:
    c_s, beta, d0 = (float(v) for v in p)
    # canonical form of a flat curve: b = 0 makes C and D0 interchangeable, C = 0 makes b arbitrary
    if beta <= 1e-9 and c_s + d0 <= 1.0:
        c_s, d0 = 0.0, c_s + d0
    if c_s <= 0.0:
        c_s, beta = 0.0, 0.0
    b = beta / spread
    with np.errstate(over="ignore"):
        C = c_s * float(np.exp(b * r_min)) if c_s > 0 else 0.0
    return C, b, d0


def fit_rate_distortion(
    rate: Any,
    distortion: Any,
    n_boot: int = 1000,
    seed: int | None = 0,
    weights: Any = None,
) -> RateDistortionFit:
    """Fit ``D(R) = C exp(-b R) + D0`` with ``C >= 0``, ``b >= 0``, ``0 <= D0 <= 1``.

    ``rate`` is the mutual information per summary token in bits, measured in tokens of the
    compressor's own tokenizer (the runner's ``mi_per_token_bits = mi_bits / summary_tokens``);
    ``distortion`` is ``1 - accuracy`` of the predictor on the same configuration. Usually one point
    per configuration (compressor, predictor, ...).

    Fitting is weighted bounded least squares. For a grid of decay rates ``b`` the best
    ``(C, D0)`` under the bounds is found exactly (a two-variable bounded linear least-squares
    problem); the best grid points (the local minima of that profile) start
    ``scipy.optimize.least_squares`` with bounds on all three parameters, and the best solution is
    kept. Internally the rate is shifted and scaled to ``[0, 1]`` for numerical stability; the
    reported parameters are on the original scale.

    Intervals are 95% percentile bootstrap intervals over points (points drawn with replacement,
    with their weights; resamples whose rates are all equal are left out). When the data do not
    decrease with rate, the constraints hold the fit at a flat line rather than a growing curve;
    a flat fit is reported in the canonical form ``C = 0``, ``b = 0``, ``D0`` = the level.

    Args:
      rate: rates (bits per summary token), one per point.
      distortion: distortions (``1 - accuracy``, in ``[0, 1]``), same length.
      n_boot: bootstrap resamples (``0`` for no intervals: ``ci`` is then empty).
      seed: seed of the bootstrap (``numpy.random.default_rng(seed)``).
      weights: optional non-negative weights per point (e.g. number of records); the squared
        residuals are weighted by them.

    Returns:
      A :class:`RateDistortionFit`.

    Raises:
      ValueError: fewer than 3 points, NaN or infinite values, mismatched lengths, rates without
        spread (all equal), distortions outside ``[0, 1]``, invalid weights or ``n_boot``.
    """
    fn = "fit_rate_distortion"
    r = _check_vector(rate, "rate")
    y = _check_vector(distortion, "distortion")
    if len(r) != len(y):
        raise ValueError(f"{fn}: rate has {len(r)} points but distortion has {len(y)}; pass one distortion per rate")
    if len(r) < 3:
        raise ValueError(f"{fn}: need at least 3 points to fit 3 parameters, got {len(r)}")
    if np.any(y < 0) or np.any(y > 1):
        raise ValueError(
            f"{fn}: distortion must lie in [0, 1] (it is 1 - accuracy); got values in "
            f"[{y.min():g}, {y.max():g}]. Did you pass accuracy instead of 1 - accuracy?"
        )
    spread = float(r.max() - r.min())
    if not spread > 0:
        raise ValueError(f"{fn}: all rates are equal ({r[0]:g}); a curve over rate needs points at different rates")
    if weights is None:
        w = np.ones_like(r)
    else:
        w = _check_vector(weights, "weights")
        if len(w) != len(r):
            raise ValueError(f"{fn}: weights has {len(w)} entries for {len(r)} points; pass one weight per point")
        if np.any(w < 0) or not w.sum() > 0:
            raise ValueError(f"{fn}: weights must be non-negative and not all zero")
    n_boot = check_n_boot(n_boot, fn, minimum=0)

    r_min = float(r.min())
    u = (r - r_min) / spread
    p, sse = _fit(u, y, w, n_starts=5)
    C, b, D0 = _unscale(p, r_min, spread)
    if not np.isfinite(C):
        warnings.warn(
            f"{fn}: C overflows (b = {b:g} with rates far from 0); the curve is still "
            "valid over the data's range but C is not representable",
            stacklevel=2,
        )
    ybar = float(np.sum(w * y) / w.sum())
    ss_tot = float(np.sum(w * (y - ybar) ** 2))
    # sklearn's convention for a constant target: 1 for an exact fit, else 0.
    r2 = 1.0 - sse / ss_tot if ss_tot > 0 else (1.0 if sse <= 1e-24 else 0.0)

    boot = np.empty((0, 3))
    ci: dict[str, tuple[float, float]] = {}
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        reps = []
        n = len(r)
        n_bad = 0
        for _ in range(n_boot):
            idx = rng.integers(0, n, size=n)
            rb, yb, wb = r[idx], y[idx], w[idx]
            sp = float(rb.max() - rb.min())
            if not sp > 0 or not wb.sum() > 0:
                n_bad += 1
                continue
            pb, _ = _fit((rb - rb.min()) / sp, yb, wb, n_starts=1)
            reps.append(_unscale(pb, float(rb.min()), sp))
        boot = np.asarray(reps, dtype=float).reshape(-1, 3)
        if n_bad:
            warnings.warn(
                f"{fn}: {n_bad} of {n_boot} bootstrap resamples had all rates equal and were left out", stacklevel=2
            )
        if len(boot) < 2:
            raise ValueError(f"{fn}: fewer than 2 usable bootstrap resamples; add points at more rates")
        for j, name in enumerate(_PARAMS):
            col = boot[:, j]
            col = col[np.isfinite(col)]
            ci[name] = percentile_interval(col) if len(col) >= 2 else (float("-inf"), float("inf"))
    return RateDistortionFit(C=C, b=b, D0=D0, ci=ci, r2=float(r2), n=len(r), rate=r, distortion=y, weights=w, boot=boot)


def fit_rate_distortion_groups(
    points: Any,
    by: str,
    rate: str = "mi_per_token_bits",
    distortion: str = "distortion",
    n_boot: int = 1000,
    seed: int | None = 0,
    min_points: int = 3,
) -> tuple[dict, pd.DataFrame]:
    """One :func:`fit_rate_distortion` per group (e.g. per predictor, as in the paper's Fig. 6).

    Args:
      points: one line per configuration (e.g. :func:`mi_utils.analysis.tables.configurations`).
      by: the grouping column (one curve per value).
      rate, distortion: column names (rate in bits per summary token by default).
      n_boot, seed: as :func:`fit_rate_distortion`.
      min_points: groups with fewer points, or with a single distinct rate, are skipped (listed
        in the table's ``attrs["skipped"]``).

    Returns:
      ``(fits, table)``: group value -> :class:`RateDistortionFit`, and a DataFrame with one row
      per fitted group: ``by``, ``C``, ``b``, ``D0`` with their interval bounds (``*_low``,
      ``*_high``; absent when ``n_boot=0``), ``r2`` and ``points``.

    Raises:
      ValueError: a missing column, or no group that can be fitted.
    """
    import pandas as pd

    missing = [c for c in (by, rate, distortion) if c not in points.columns]
    if missing:
        raise ValueError(f"fit_rate_distortion_groups: columns {missing} are not in the table")
    fits, table, skipped = {}, [], []
    for g, sub in points.groupby(by, sort=False, observed=True):
        sub = sub[np.isfinite(sub[rate].astype(float)) & np.isfinite(sub[distortion].astype(float))]
        if len(sub) < min_points or sub[rate].nunique() < 2:
            skipped.append(g)
            continue
        fit = fit_rate_distortion(sub[rate].to_numpy(float), sub[distortion].to_numpy(float), n_boot=n_boot, seed=seed)
        fits[g] = fit
        line = {by: g, "C": fit.C, "b": fit.b, "D0": fit.D0, "r2": fit.r2, "points": fit.n}
        for name, (lo, hi) in fit.ci.items():
            line[f"{name}_low"], line[f"{name}_high"] = lo, hi
        table.append(line)
    if not fits:
        raise ValueError(
            f"fit_rate_distortion_groups: no group of {by!r} has {min_points} points with distinct "
            f"rates; skipped {skipped}"
        )
    out = pd.DataFrame(table)
    out.attrs["skipped"] = skipped
    return fits, out
