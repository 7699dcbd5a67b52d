"""Rate-distortion curve ``D(R) = C exp(-b R) + D0`` fitted to (rate, distortion) points.

The paper summarises each compressor configuration by a point (rate, distortion): the rate is the
mutual information per summary token in bits (``mi_per_token_bits = mi_bits / summary_tokens``,
tokens of the compressor's own tokenizer) and the distortion is ``1 - accuracy`` of the predictor.
:func:`fit_rate_distortion` fits the exponential decay with the constraints ``C >= 0``,
``b >= 0`` and ``0 <= D0 <= 1`` and gives percentile bootstrap intervals over points;
:class:`RateDistortionFit` holds the result.

What a fit can and cannot say (each case is written into the fit's ``notes``):

* **Flat data.** When the distortions do not vary, or no decaying curve beats a flat line, the fit
  is the canonical flat form ``C = 0``, ``b = 0``, ``D0`` = the (weighted) mean distortion: with
  ``C = 0`` the decay rate is arbitrary and with ``b = 0`` only ``C + D0`` is identified, so both
  are put at their degenerate point.
* **Few rates.** Three parameters on three distinct rates interpolate them; on four they leave one
  degree of freedom. Fits on fewer than ``min_rates_ci`` (default 5) distinct rates get no
  bootstrap intervals; resamples with fewer than 3 distinct rates (``b`` not identified) are
  dropped and counted (``boot_dropped``).
* **C is an extrapolation.** ``C`` is the distortion removed between rate 0 and infinite rate, so
  ``C + D0`` is the curve at rate 0, usually far below the smallest observed rate; it grows as
  ``exp(b R_min)``. The fitted distortion at the smallest observed rate, ``D_rate_min``, is
  reported beside it and is what the data pin down.

Warnings are shown once per Python session per kind (a notebook that fits many groups prints each
once); the per-fit details are always in ``notes`` (the ``notes`` column of
:func:`fit_rate_distortion_groups`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # annotations only: pandas is imported where tables are built
    import pandas as pd
from scipy.optimize import least_squares

from .._warn import warn_once
from ._util import check_n_boot, percentile_interval

__all__ = ["MIN_RATES_CI", "RateDistortionFit", "fit_rate_distortion", "fit_rate_distortion_groups"]

_PARAMS = ("C", "b", "D0", "D_rate_min")
# Grid of the decay rate in units of 1 / (rate spread): b * spread from 1e-3 to 1e3, plus b = 0.
_BETA_MAX = 1e3  # a decay over 1/1000 of the data's rate spread is already a step
_BETA_GRID = np.concatenate([[0.0], np.geomspace(1e-3, _BETA_MAX, 61)])
#: Fewest distinct rates for bootstrap intervals (the default ``min_rates_ci``).
MIN_RATES_CI = 5
_MIN_RATES_FIT = 3  # fewer distinct rates leave b unidentified: no fit (and dropped resamples)
# Flat data: weighted SD of the distortions at most this (distortion is 1 - accuracy, in [0, 1];
# real differences are at least 1 / questions, float noise of a mean is ~1e-16).
_FLAT_SD = 1e-9
# A fitted curve whose drop over the observed rates is at most this, or whose SSE is within this
# relative amount of the flat line's, is the flat line (the optimiser's C ~ 1e-10 on flat data).
_FLAT_DROP = 1e-9
_FLAT_REL_SSE = 1e-9
# Note C as extrapolated when the curve at rate 0 has more than this times the amplitude it has
# at the smallest observed rate (exp(b R_min) > 2).
_EXTRAPOLATION_NOTE = 2.0
# A curve that keeps at most this share of its drop at the second-smallest rate is a step: any
# larger b fits as well (predictions move by less than 0.1% of the drop), so b is only a lower bound.
_STEP_LEFT = 1e-3
_FEW_RATES_WARNING = (
    "{fn}: some fits rest on fewer than {m} distinct rates: three parameters on 3-4 rates are (nearly) an "
    "interpolation, so these fits get no bootstrap intervals and their r2 says little. Their 'notes' (the "
    "notes column of fit_rate_distortion_groups) say which. This warning is shown once per session."
)
_OVERFLOW_WARNING = (
    "{fn}: C overflows for some fits (large b with rates far from 0): C = D(0) - D0 is an extrapolation to "
    "rate 0 and is not representable; the curve over the data's range (D_rate_min, b, D0) is still valid. "
    "This warning is shown once per session."
)


@dataclass
class RateDistortionFit:
    """A fitted curve ``D(R) = C exp(-b R) + D0``.

    Attributes:
      C: amplitude (``>= 0``): distortion removed between rate 0 and infinite rate. An
        extrapolation to rate 0 (``C = (D_rate_min - D0) exp(b rate_min)``); it can be huge or
        infinite when the smallest rate is far from 0. ``0`` for a flat fit.
      b: decay rate per bit per token (``>= 0``; ``0`` for a flat fit).
      D0: distortion floor at infinite rate (in ``[0, 1]``; the mean distortion for a flat fit).
      ci: ``{"C": (low, high), "b": ..., "D0": ..., "D_rate_min": ...}``, 95% percentile bootstrap
        intervals over points; empty when fitted with ``n_boot=0`` or on fewer than
        ``min_rates_ci`` distinct rates.
      r2: ``1 - SSE / SST`` (weighted when weights were given) of the reported curve; ``0`` for a
        flat fit of data that vary; NaN when the distortions have zero variance (nothing to explain).
      n: number of points.
      rate: the rates fitted (bits per summary token).
      distortion: the distortions fitted (``1 - accuracy``).
      weights: the point weights (ones when none were given).
      boot: bootstrap replicates, shape ``(n_kept, 4)`` with columns C, b, D0, D_rate_min.
      n_rates: distinct rates among the points with positive weight.
      rate_min: the smallest rate (positive weight).
      D_rate_min: the fitted distortion at ``rate_min`` (what the data pin down, unlike ``C``).
      flat: the fit is the canonical flat form ``C = 0``, ``b = 0``, ``D0`` = mean distortion.
      boot_dropped: bootstrap resamples dropped for having fewer than 3 distinct rates.
      notes: why the fit may mean little (flat data, few rates, C extrapolated, dropped resamples,
        decay at the grid's bound); empty when nothing is to be said.
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
    n_rates: int = 0
    rate_min: float = float("nan")
    D_rate_min: float = float("nan")
    flat: bool = False
    boot_dropped: int = 0
    notes: tuple[str, ...] = ()

    def predict(self, rate: Any) -> np.ndarray:
        """``C exp(-b R) + D0`` at ``rate`` (array in, array out).

        Computed as ``(D_rate_min - D0) exp(-b (R - rate_min)) + D0``, which equals it and stays
        finite when ``C`` overflows.

        Raises:
          ValueError: a rate is NaN or infinite.
        """
        r = np.asarray(rate, dtype=float)
        if not np.all(np.isfinite(r)):
            raise ValueError("RateDistortionFit.predict: rates must be finite numbers")
        amp = self.D_rate_min - self.D0
        if amp == 0:
            return np.full(r.shape, self.D0)
        with np.errstate(over="ignore"):
            return amp * np.exp(-self.b * (r - self.rate_min)) + self.D0

    def predict_band(self, rate: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise percentile band of the bootstrap curves at ``rate``.

        Raises:
          ValueError: the fit has no bootstrap replicates (``n_boot=0`` or too few distinct rates)
            or a rate is not finite.
        """
        if len(self.boot) < 2:
            raise ValueError(
                "predict_band: the fit has no bootstrap replicates; refit with n_boot > 0 "
                f"(fits on fewer than {MIN_RATES_CI} distinct rates have none unless min_rates_ci is lowered)"
            )
        r = np.asarray(rate, dtype=float)
        if not np.all(np.isfinite(r)):
            raise ValueError("predict_band: rates must be finite numbers")
        b, D0, Dm = (self.boot[:, j][:, None] for j in (1, 2, 3))
        with np.errstate(over="ignore", invalid="ignore"):
            curves = np.where(Dm == D0, D0, (Dm - D0) * np.exp(-b * (r.ravel()[None, :] - self.rate_min)) + D0)
        alpha = (1 - level) / 2
        lo, hi = np.nanquantile(curves, [alpha, 1 - alpha], axis=0)
        return lo.reshape(r.shape), hi.reshape(r.shape)

    def to_dict(self) -> dict[str, Any]:
        """Flat dict of the parameters, their intervals and the diagnostics (no arrays)."""
        d: dict[str, Any] = {"C": self.C, "b": self.b, "D0": self.D0, "D_rate_min": self.D_rate_min}
        for name in _PARAMS:
            if name in self.ci:
                d[f"{name}_low"], d[f"{name}_high"] = self.ci[name]
        d.update(
            r2=self.r2,
            n=self.n,
            n_rates=self.n_rates,
            rate_min=self.rate_min,
            flat=self.flat,
            boot_kept=len(self.boot),
            boot_dropped=self.boot_dropped,
            notes="; ".join(self.notes),
        )
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


def _fit_scaled(u: np.ndarray, y: np.ndarray, w: np.ndarray, n_starts: int) -> tuple[np.ndarray, bool, bool]:
    """Scaled parameters ``(C', beta, D0)`` of ``y ~ C' exp(-beta u) + D0`` on ``u`` in ``[0, 1]``.

    Returns ``(p, flat, zero_variance)``. Flat data, and fits no better than the flat line (their
    drop over the data is negligible or their SSE is the flat line's), are returned in the
    canonical flat form ``(0, 0, weighted mean)``.
    """
    sw = float(w.sum())
    ybar = float(w @ y) / sw
    ss_tot = float(np.sum(w * (y - ybar) ** 2))
    flat = np.array([0.0, 0.0, ybar])
    if math.sqrt(ss_tot / sw) <= _FLAT_SD:
        return flat, True, True
    p, sse = _fit(u, y, w, n_starts)
    c_s, beta = float(p[0]), float(p[1])
    if c_s * -math.expm1(-beta) <= _FLAT_DROP or sse >= (1.0 - _FLAT_REL_SSE) * ss_tot:
        return flat, True, False
    # the optimiser stays strictly inside its bounds: a parameter within 1e-12 of one is at it
    p = np.array([c_s, _BETA_MAX if beta >= _BETA_MAX * (1 - 1e-12) else beta, float(p[2])])
    p[2] = 0.0 if p[2] < 1e-12 else (1.0 if p[2] > 1.0 - 1e-12 else p[2])
    return p, False, False


def _is_step(p: np.ndarray, u: np.ndarray) -> bool:
    """``b`` of the scaled curve ``p`` is only a lower bound: it is at the grid's bound, or the
    curve has (nearly) all its drop between the two smallest distinct ``u``."""
    u2 = float(np.partition(np.unique(u), 1)[1])
    return float(p[0]) > 0 and (float(p[1]) >= _BETA_MAX or float(p[1]) * u2 >= -math.log(_STEP_LEFT))


def _interval(col: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval (numpy's linear method) of replicates that may be ``+inf`` (unbounded)."""
    col = np.sort(col[~np.isnan(col)])
    n = len(col)
    if n < 2:
        return float("-inf"), float("inf")
    if np.all(np.isfinite(col)):
        return percentile_interval(col, level)
    alpha = (1.0 - level) / 2.0
    out = []
    for q in (alpha, 1.0 - alpha):
        h = (n - 1) * q
        i = min(int(math.floor(h)), n - 1)
        t = h - i
        a, b = float(col[i]), float(col[min(i + 1, n - 1)])
        out.append(a if t == 0 or a == b else (math.inf if math.isinf(b) else a + (b - a) * t))
    return out[0], out[1]


def _unscale(p: np.ndarray, r_min: float, spread: float) -> tuple[float, float, float]:
    """``(C, b, D0)`` on the original rate scale from scaled ``(C', beta, D0)`` (C may be inf)."""
    c_s, beta, d0 = (float(v) for v in p)
    if c_s <= 0.0:
        return 0.0, 0.0, d0
    b = beta / spread
    with np.errstate(over="ignore"):
        C = c_s * float(np.exp(b * r_min))
    return C, b, d0


def _curve_at(p: np.ndarray, r_min: float, spread: float, rate: float) -> float:
    """The scaled curve ``p`` (fitted on rates from ``r_min`` over ``spread``) at ``rate``."""
    c_s, beta, d0 = (float(v) for v in p)
    if c_s <= 0.0:
        return d0
    with np.errstate(over="ignore"):
        return c_s * float(np.exp(-beta * (rate - r_min) / spread)) + d0


def _validate(rate: Any, distortion: Any, weights: Any, fn: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    if weights is None:
        w = np.ones_like(r)
    else:
        w = _check_vector(weights, "weights")
        if len(w) != len(r):
            raise ValueError(f"{fn}: weights has {len(w)} entries for {len(r)} points; pass one weight per point")
        if np.any(w < 0) or not w.sum() > 0:
            raise ValueError(f"{fn}: weights must be non-negative and not all zero")
    distinct = np.unique(r[w > 0])
    if len(distinct) == 1:
        raise ValueError(
            f"{fn}: all rates are equal ({distinct[0]:g}); a curve over rate needs points at different rates"
        )
    if len(distinct) < _MIN_RATES_FIT:
        raise ValueError(
            f"{fn}: only {len(distinct)} distinct rates; the decay rate b needs points at >= {_MIN_RATES_FIT} "
            "distinct rates (with 2, any b passes through both)"
        )
    return r, y, w


def _fit_one(
    r: np.ndarray, y: np.ndarray, w: np.ndarray, n_boot: int, seed: int | None, min_rates_ci: int
) -> tuple[RateDistortionFit, list[str]]:
    """The fit of validated data, and the keys of the session-once warnings it calls for."""
    keep = w > 0
    rp, yp, wp = r[keep], y[keep], w[keep]
    n_rates = len(np.unique(rp))
    rate_min = float(rp.min())
    spread = float(rp.max() - rate_min)
    x = (rp - rate_min) / spread
    p, flat, zero_var = _fit_scaled(x, yp, wp, n_starts=5)
    C, b, D0 = _unscale(p, rate_min, spread)
    D_rate_min = float(p[0] + p[2])
    r2 = _weighted_r2(p, rp, yp, wp, rate_min, spread, flat, zero_var)
    notes, warn = _fit_notes(p, x, C, b, D_rate_min, rate_min, flat, zero_var, n_rates, n_boot, min_rates_ci)

    boot = np.empty((0, 4))
    ci: dict[str, tuple[float, float]] = {}
    dropped = 0
    if n_boot > 0 and n_rates >= min_rates_ci:
        boot, ci, dropped = _bootstrap(rp, yp, wp, rate_min, n_boot, seed)
        if dropped:
            notes.append(f"{dropped} of {n_boot} bootstrap resamples had < {_MIN_RATES_FIT} distinct rates (dropped)")
    fit = RateDistortionFit(
        C=C,
        b=b,
        D0=D0,
        ci=ci,
        r2=float(r2),
        n=len(r),
        rate=r,
        distortion=y,
        weights=w,
        boot=boot,
        n_rates=n_rates,
        rate_min=rate_min,
        D_rate_min=D_rate_min,
        flat=flat,
        boot_dropped=dropped,
        notes=tuple(notes),
    )
    return fit, warn


def _weighted_r2(p, rp, yp, wp, rate_min: float, spread: float, flat: bool, zero_var: bool) -> float:
    """Weighted r2 of the fitted curve (scaled parameters ``p``); NaN for flat data (no variance to explain)."""
    if zero_var:
        return float("nan")
    ybar = float(wp @ yp) / float(wp.sum())
    ss_tot = float(np.sum(wp * (yp - ybar) ** 2))
    pred = np.full(len(yp), p[2]) if flat else p[0] * np.exp(-p[1] * (rp - rate_min) / spread) + p[2]
    return 1.0 - float(np.sum(wp * (pred - yp) ** 2)) / ss_tot


def _fit_notes(
    p, x, C: float, b: float, D_rate_min: float, rate_min: float, flat, zero_var, n_rates, n_boot, min_rates_ci
) -> tuple[list[str], list[str]]:
    """What to read with care in a fit (its notes), and the keys of the warnings it calls for.

    ``p`` and ``x`` are scaled (the parameters, the rates); ``C``, ``b``, ``D_rate_min`` the fit's own, unscaled.
    """
    notes: list[str] = []
    warn: list[str] = []
    if zero_var:
        notes.append(f"flat data (distortion SD <= {_FLAT_SD:g}): C = b = 0, D0 = the mean, r2 undefined")
    elif flat:
        notes.append("no decay: the best curve is flat (C = b = 0, D0 = the mean, r2 = 0)")
    if n_rates < min_rates_ci:
        what = "interpolate them" if n_rates == 3 else f"leave {n_rates - 3} degree(s) of freedom"
        notes.append(
            f"only {n_rates} distinct rates: 3 parameters {what}" + ("; no bootstrap intervals" if n_boot else "")
        )
        warn.append("few_rates")
    if not flat:
        if not math.isfinite(C):
            notes.append(f"C overflows: b * rate_min = {b * rate_min:.3g}; C is an extrapolation to rate 0")
            warn.append("overflow")
        elif b * rate_min > math.log(_EXTRAPOLATION_NOTE):
            notes.append(
                f"C extrapolated from rate_min = {rate_min:.3g} to rate 0 "
                f"(exp(b rate_min) = {math.exp(b * rate_min):.3g}); read D_rate_min instead"
            )
        if D_rate_min > 1.0:
            notes.append(
                f"the curve exceeds 1 at rate_min (D_rate_min = {D_rate_min:.3g}); its interval is clipped to [0, 1]"
            )
        if _is_step(p, x):
            notes.append(
                "a step: the drop is over by the second-smallest rate (or b is at its bound); b is only a lower bound"
            )
    return notes, warn


def _bootstrap(
    rp: np.ndarray, yp: np.ndarray, wp: np.ndarray, rate_min: float, n_boot: int, seed: int | None
) -> tuple[np.ndarray, dict[str, tuple[float, float]], int]:
    """Point resamples refitted: ``(replicates (C, b, D0, D_rate_min), intervals, resamples dropped)``."""
    rng = np.random.default_rng(seed)
    reps, steps = [], []  # steps: (b unbounded above, C unbounded above) per replicate
    dropped = 0
    m = len(rp)
    for _ in range(n_boot):
        idx = rng.integers(0, m, size=m)
        rb, yb, wb = rp[idx], yp[idx], wp[idx]
        if len(np.unique(rb)) < _MIN_RATES_FIT:
            dropped += 1
            continue
        lo = float(rb.min())
        sp = float(rb.max() - lo)
        pb, _, _ = _fit_scaled((rb - lo) / sp, yb, wb, n_starts=1)
        # a resample without the smallest rate extrapolates back to it: clip to a distortion's range
        d_min = min(max(_curve_at(pb, lo, sp, rate_min), 0.0), 1.0)
        reps.append((*_unscale(pb, lo, sp), d_min))
        step = _is_step(pb, (rb - lo) / sp)
        steps.append((step, step and lo > 0))
    boot = np.asarray(reps, dtype=float).reshape(-1, 4)
    if len(boot) < 2:
        raise ValueError(
            f"fit_rate_distortion: fewer than 2 usable bootstrap resamples ({dropped} of {n_boot} had "
            f"< {_MIN_RATES_FIT} distinct rates); raise n_boot or add points at more rates"
        )
    # a resample fitted by a step bounds b, and C when its rates are > 0, only from below
    unbounded = np.asarray(steps, dtype=bool).reshape(-1, 2)
    ci: dict[str, tuple[float, float]] = {}
    for j, name in enumerate(_PARAMS):
        col = boot[:, j]
        if name in ("b", "C"):
            col = np.where(unbounded[:, 0 if name == "b" else 1], np.inf, col)
        ci[name] = _interval(col)
    return boot, ci, dropped


def _emit(keys: list[str], fn: str, min_rates_ci: int, stacklevel: int) -> None:
    for key in keys:
        text = (
            _FEW_RATES_WARNING.format(fn=fn, m=min_rates_ci) if key == "few_rates" else _OVERFLOW_WARNING.format(fn=fn)
        )
        warn_once(f"rate_distortion:{key}:{min_rates_ci}", text, UserWarning, stacklevel + 1)


def _check_min_rates(min_rates_ci: Any, fn: str) -> int:
    if isinstance(min_rates_ci, bool) or not isinstance(min_rates_ci, (int, np.integer)) or min_rates_ci < 3:
        raise ValueError(f"{fn}: min_rates_ci must be an integer >= 3, got {min_rates_ci!r}")
    return int(min_rates_ci)


def fit_rate_distortion(
    rate: Any,
    distortion: Any,
    n_boot: int = 1000,
    seed: int | None = 0,
    weights: Any = None,
    min_rates_ci: int = MIN_RATES_CI,
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
    reported parameters are on the original scale. Points with zero weight are left out.

    Definitions (what a fit says when it means little; each case is written into ``notes``):

    * **Canonical flat form** ``C = 0``, ``b = 0``, ``D0`` = the weighted mean distortion (the
      degenerate point of the parametrisation: with ``C = 0`` any ``b`` fits, with ``b = 0`` only
      ``C + D0`` is identified). It is returned when the distortions are flat (weighted standard
      deviation <= 1e-9) and when no decaying curve beats the flat line (the fitted drop over the
      observed rates <= 1e-9, or its SSE within a relative 1e-9 of the flat line's), e.g. when
      distortion grows with rate: the constraints hold the fit at a flat line, not a growing curve.
    * **r2** = ``1 - SSE / SST`` of the reported curve, weighted; ``0`` for a flat fit of data that
      vary; NaN when the distortions have zero variance (flat data: there is nothing to explain).
    * **Distinct rates.** At least 3 are needed (else ``ValueError``: ``b`` is not identified).
      With fewer than ``min_rates_ci`` (default 5) the fit is still returned but gets no bootstrap
      intervals (``ci`` empty): three parameters on 3 rates interpolate them and on 4 leave one
      degree of freedom; a percentile interval over such resamples is not an interval. A warning
      says so once per Python session; ``notes`` says it for every such fit.
    * **Bootstrap**: 95% percentile intervals over points (points drawn with replacement, with
      their weights). Resamples with fewer than 3 distinct rates are dropped and counted
      (``boot_dropped``); the intervals are conditional on 3 distinct rates. A resample fitted by
      a step (the curve keeps at most 0.1% of its drop at the second-smallest rate, so any larger
      ``b`` fits as well; or ``b`` at its bound, ``1000 / rate spread``, where a larger one would
      fit better) bounds ``b``, and ``C`` when its rates are > 0, only from below: such
      replicates count as ``+inf``, so the upper end is ``inf`` when more than 2.5% of the
      resamples are steps. ``D0`` and ``D_rate_min`` are the intervals the data pin down.
    * **C is an extrapolation** to rate 0: ``C = (D_rate_min - D0) exp(b rate_min)``, which can
      be huge, or overflow (a session-once warning), when the smallest rate is far from 0.
      ``D_rate_min``, the fitted distortion at the smallest observed rate, is reported beside it
      with its own interval and is what the data pin down (its bootstrap values are clipped to
      ``[0, 1]``: a resample without the smallest rate extrapolates the exponential back to it).

    Args:
      rate: rates (bits per summary token), one per point.
      distortion: distortions (``1 - accuracy``, in ``[0, 1]``), same length.
      n_boot: bootstrap resamples (``0`` for no intervals: ``ci`` is then empty).
      seed: seed of the bootstrap (``numpy.random.default_rng(seed)``).
      weights: optional non-negative weights per point (e.g. number of records); the squared
        residuals are weighted by them.
      min_rates_ci: fewest distinct rates for bootstrap intervals (>= 3).

    Returns:
      A :class:`RateDistortionFit`.

    Raises:
      ValueError: fewer than 3 points or 3 distinct rates, NaN or infinite values, mismatched
        lengths, distortions outside ``[0, 1]``, invalid weights, ``n_boot`` or ``min_rates_ci``,
        or fewer than 2 bootstrap resamples with 3 distinct rates.
    """
    fn = "fit_rate_distortion"
    r, y, w = _validate(rate, distortion, weights, fn)
    n_boot = check_n_boot(n_boot, fn, minimum=0)
    min_rates_ci = _check_min_rates(min_rates_ci, fn)
    fit, warn = _fit_one(r, y, w, n_boot, seed, min_rates_ci)
    _emit(warn, fn, min_rates_ci, stacklevel=2)
    return fit


def fit_rate_distortion_groups(
    points: Any,
    by: str,
    rate: str = "mi_per_token_bits",
    distortion: str = "distortion",
    n_boot: int = 1000,
    seed: int | None = 0,
    min_points: int = 3,
    min_rates_ci: int = MIN_RATES_CI,
) -> tuple[dict, pd.DataFrame]:
    """One :func:`fit_rate_distortion` per group (e.g. per predictor, as in the paper's Fig. 6).

    Args:
      points: one line per configuration (e.g. :func:`mi_utils.analysis.tables.configurations`).
      by: the grouping column (one curve per value).
      rate, distortion: column names (rate in bits per summary token by default).
      n_boot, seed, min_rates_ci: as :func:`fit_rate_distortion` (groups on fewer than
        ``min_rates_ci`` distinct rates are fitted without intervals).
      min_points: groups with fewer points, or with fewer than 3 distinct rates, are skipped
        (listed in the table's ``attrs["skipped"]``).

    Returns:
      ``(fits, table)``: group value -> :class:`RateDistortionFit`, and a DataFrame with one row
      per fitted group: ``by``, ``points``, ``rates`` (distinct), ``rate_min``, ``D_rate_min``
      (the fitted distortion at ``rate_min``), ``C`` (an extrapolation to rate 0), ``b``, ``D0``,
      each with its interval bounds (``*_low``, ``*_high``; NaN for a fit without intervals,
      absent when ``n_boot=0``), ``r2``, ``flat``, ``boot_kept``, ``boot_dropped`` (resamples
      used, and dropped for fewer than 3 distinct rates) and ``notes`` (why a fit may mean little,
      ``""`` when nothing is to be said). The session-once warnings of :func:`fit_rate_distortion`
      are emitted at most once per call (and once per session).

    Raises:
      ValueError: a missing column, or no group that can be fitted.
    """
    import pandas as pd

    fn = "fit_rate_distortion_groups"
    missing = [c for c in (by, rate, distortion) if c not in points.columns]
    if missing:
        raise ValueError(f"{fn}: columns {missing} are not in the table")
    n_boot = check_n_boot(n_boot, fn, minimum=0)
    min_rates_ci = _check_min_rates(min_rates_ci, fn)
    fits, table, skipped, warn = {}, [], [], []
    for g, sub in points.groupby(by, sort=False, observed=True):
        sub = sub[np.isfinite(sub[rate].astype(float)) & np.isfinite(sub[distortion].astype(float))]
        if len(sub) < min_points or sub[rate].nunique() < _MIN_RATES_FIT:
            skipped.append(g)
            continue
        r, y, w = _validate(sub[rate].to_numpy(float), sub[distortion].to_numpy(float), None, fn)
        fit, keys = _fit_one(r, y, w, n_boot, seed, min_rates_ci)
        warn += [k for k in keys if k not in warn]
        fits[g] = fit
        line: dict[str, Any] = {by: g, "points": fit.n, "rates": fit.n_rates, "rate_min": fit.rate_min}
        for name in ("D_rate_min", "C", "b", "D0"):
            line[name] = getattr(fit, name)
            if n_boot:
                line[f"{name}_low"], line[f"{name}_high"] = fit.ci.get(name, (float("nan"), float("nan")))
        line.update(
            r2=fit.r2, flat=fit.flat, boot_kept=len(fit.boot), boot_dropped=fit.boot_dropped, notes="; ".join(fit.notes)
        )
        table.append(line)
    if not fits:
        raise ValueError(
            f"{fn}: no group of {by!r} has {min_points} points at >= {_MIN_RATES_FIT} distinct rates; skipped {skipped}"
        )
    _emit(warn, "fit_rate_distortion", min_rates_ci, stacklevel=2)
    out = pd.DataFrame(table)
    out.attrs["skipped"] = skipped
    return fits, out
