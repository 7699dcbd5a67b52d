"""Usable information about the answer: predictive V-information with calibrated option scores.

An estimator, beside :mod:`mi_utils.estimators` (numpy / scipy only): the runner computes the
cross-fitted per-record bits of its rows with it, and :mod:`mi_utils.analysis.information`
re-exports every name for analyses over tables.

The MI estimate of :mod:`mi_utils.estimators` measures I(X;Z|Q), information about the *context*:
a summary that copies a patient's name reaches the ``log N`` ceiling while holding nothing the
question needs. This module measures the second axis of the information-bottleneck plane, the
information about the *answer* Y that a given predictor family V can use (Xu et al., 2020,
"A Theory of Usable Information under Computational Constraints"):

    I_V(Z -> Y | Q) = H_V(Y | Q) - H_V(Y | Z, Q)

on multiple-choice records, where V is "this predictor, with its option scores turned into a
distribution by a softmax at a fitted temperature". Per record, with the correct option ``y*``:

    i(z) = log2 p_T(y* | z, q) - log2 p0(y* | q)

and the estimate is the mean over records (and over a record's M summaries). ``p0`` is the best
predictor of the family that sees *no* summary: the same predictor with an empty summary (at its
own fitted temperature), or the uniform guess over the K options, whichever has the lower
cross-entropy. Because H_V takes the infimum over the family, this null can never be worse than
``log2 K`` bits of cross-entropy, so a useless summary reads about 0 rather than a spurious
positive number.

Why calibrate: summed option log-probs of small LMs give wildly overconfident softmaxes (a
no-summary cross-entropy of ~9 bits where a uniform guess has log2 5 = 2.3), so raw differences
exceed ``log2 K`` and mean nothing as bits. One temperature per predictor, fitted by maximum
likelihood on *other* records (cross-fitting: the record being scored never tunes its own
temperature), makes the values bits that can be compared. :func:`cross_fitted_usable_information`
does the whole computation for one predictor on one set of records; :func:`usable_information`
is the array form for a single temperature.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

__all__ = [
    "TEMPERATURE_BOUNDS",
    "UsableInformation",
    "option_log_probs",
    "fit_temperature",
    "cross_fitted_temperatures",
    "usable_information",
    "CrossFitted",
    "cross_fitted_usable_information",
]

#: Search range of the calibration temperature. The upper end is effectively "uniform".
TEMPERATURE_BOUNDS: tuple[float, float] = (0.02, 1000.0)
_LN2 = math.log(2.0)


def _scores(a: np.ndarray | Sequence, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[-1] < 2:
        raise ValueError(f"{name} must have the K >= 2 options on its last axis, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} has a non-finite value at index {idx}; option scores must be finite log-probs "
            "(re-score in float32 if a float16 scorer overflowed)"
        )
    return arr


def _correct(correct_index: Sequence[int] | np.ndarray, n: int, k: int) -> np.ndarray:
    c = np.asarray(correct_index)
    if c.shape != (n,):
        raise ValueError(f"correct_index must have one entry per record (shape ({n},)), got shape {c.shape}")
    if not np.issubdtype(c.dtype, np.integer):
        raise ValueError("correct_index must hold integer option indices (0-based)")
    if (c < 0).any() or (c >= k).any():
        raise ValueError(f"correct_index must lie in [0, {k - 1}] (K = {k} options), got {c.min()}..{c.max()}")
    return c.astype(np.int64)


def option_log_probs(scores: np.ndarray, temperature: float | np.ndarray = 1.0) -> np.ndarray:
    """Log-probabilities (nats) over the options: ``log_softmax(scores / T)`` on the last axis.

    Args:
      scores: option scores (summed log-probs), ``(..., K)``.
      temperature: a positive scalar, or one per leading index (broadcast against ``scores``
        without its last axis).

    Raises:
      ValueError: non-positive or non-finite temperature.
    """
    t = np.asarray(temperature, dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError(f"temperature must be positive and finite, got {temperature!r}")
    s = np.asarray(scores, dtype=np.float64)
    t = t.reshape(t.shape + (1,) * (s.ndim - t.ndim))
    return log_softmax(s / t, axis=-1)


def _nll(scores: np.ndarray, correct: np.ndarray, temperature: float) -> float:
    lp = option_log_probs(scores, temperature)
    return float(-lp[np.arange(len(correct)), correct].mean())


def fit_temperature(
    scores: np.ndarray | Sequence,
    correct_index: Sequence[int] | np.ndarray,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
) -> float:
    """The temperature that maximises the likelihood of the correct options.

    Args:
      scores: ``(n, K)`` option scores (e.g. summed log-probs of each option).
      correct_index: ``(n,)`` index of the correct option of each row.
      bounds: search range; a temperature at the upper bound means "as good as uniform".

    Returns:
      The fitted temperature (a bounded 1-D search over ``log T``). When every row ranks its
      correct option first the likelihood increases as T -> 0 and the lower bound is returned: a
      record scored with it and a summary that ranks a wrong option first then gets a large
      negative value (the calibration had no errors to learn from).

    Raises:
      ValueError: bad shapes, non-finite scores, fewer than 1 row.
    """
    s = _scores(scores, "scores")
    if s.ndim != 2 or s.shape[0] < 1:
        raise ValueError(f"scores must be (n, K) with n >= 1, got shape {s.shape}")
    c = _correct(correct_index, s.shape[0], s.shape[1])
    others = np.where(np.eye(s.shape[1], dtype=bool)[c], -np.inf, s)
    if (s[np.arange(len(c)), c] > others.max(axis=1)).all():
        # every row ranks its correct option first: the likelihood keeps rising as T -> 0, so the
        # maximum-likelihood temperature is the lower bound (a search would stop anywhere on the
        # plateau where float64 already rounds p(y*) to 1)
        return float(bounds[0])
    lo, hi = (math.log(b) for b in bounds)
    res = minimize_scalar(
        lambda lt: _nll(s, c, math.exp(lt)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-4}
    )
    return float(math.exp(res.x))


def cross_fitted_temperatures(
    scores: np.ndarray | Sequence,
    correct_index: Sequence[int] | np.ndarray,
    groups: Sequence,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
) -> np.ndarray:
    """One temperature per row, fitted on the rows of *other* groups (leave-one-group-out).

    Args:
      scores: ``(n, K)`` option scores.
      correct_index: ``(n,)`` correct option per row.
      groups: ``(n,)`` group labels (record ids): a row's temperature never sees its own group.
      bounds: see :func:`fit_temperature`.

    Returns:
      ``(n,)`` temperatures.

    Raises:
      ValueError: fewer than 2 groups (nothing to cross-fit on), or bad shapes.
    """
    s = _scores(scores, "scores")
    if s.ndim != 2:
        raise ValueError(f"scores must be (n, K), got shape {s.shape}")
    c = _correct(correct_index, s.shape[0], s.shape[1])
    g = np.asarray(groups, dtype=object)
    if g.shape != (s.shape[0],):
        raise ValueError(f"groups must have one label per row (shape ({s.shape[0]},)), got {g.shape}")
    labels = list(dict.fromkeys(g.tolist()))
    if len(labels) < 2:
        raise ValueError(
            "cross-fitting needs rows from at least 2 groups (records); got "
            f"{len(labels)}: fit one temperature with fit_temperature instead"
        )
    out = np.empty(s.shape[0])
    for lab in labels:
        mine = g == lab
        out[mine] = fit_temperature(s[~mine], c[~mine], bounds)
    return out


@dataclass
class UsableInformation:
    """Usable information about the answer, in bits.

    Attributes:
      value: mean over records of ``log2 p_T(y*|z,q) - log2 p0(y*|q)`` (bits).
      per_record: each record's value (mean over its summaries).
      h_y_given_q: cross-entropy of the null predictor ``p0``, H_V(Y|Q) (bits).
      h_y_given_zq: cross-entropy with the summary, H_V(Y|Z,Q) (bits).
      null: ``"no_summary"`` or ``"uniform"``: which null had the lower cross-entropy.
      log2_k: ``log2 K``, the most any summary can add over a uniform null.
      temperature: the temperature(s) used for the summary-conditioned scores.
      n_records, n_options: sizes.
    """

    value: float
    per_record: np.ndarray
    h_y_given_q: float
    h_y_given_zq: float
    null: str
    log2_k: float
    temperature: float | np.ndarray
    n_records: int
    n_options: int
    unit: str = field(default="bits")

    def to_dict(self) -> dict:
        """Unit-suffixed scalars for results tables."""
        return {
            "usable_info_bits": self.value,
            "h_y_given_q_bits": self.h_y_given_q,
            "h_y_given_zq_bits": self.h_y_given_zq,
            "usable_info_null": self.null,
            "usable_info_log2_k_bits": self.log2_k,
        }


def _log2_correct(scores: np.ndarray, correct: np.ndarray, temperature) -> np.ndarray:
    """``log2 p_T(y*)`` per record; ``scores`` is (R, K) or (R, M, K) (mean over M)."""
    t = np.asarray(temperature, dtype=np.float64)
    lp = option_log_probs(scores, t)
    if scores.ndim == 2:
        picked = lp[np.arange(len(correct)), correct]
    else:
        picked = np.take_along_axis(lp, correct[:, None, None].repeat(lp.shape[1], axis=1), axis=2)[..., 0]
        picked = picked.mean(axis=1)
    return picked / _LN2


def usable_information(
    option_logprobs: np.ndarray | Sequence,
    correct_index: Sequence[int] | np.ndarray,
    baseline_logprobs: np.ndarray | Sequence | None,
    temperature: float | np.ndarray = 1.0,
    baseline_temperature: float | np.ndarray | None = None,
) -> UsableInformation:
    """Predictive V-information ``I_V(Z -> Y | Q)`` from option scores, in bits.

    Args:
      option_logprobs: option scores given the summary, ``(R, K)`` (one summary per record) or
        ``(R, M, K)`` (M summaries per record; a record's value is the mean over them).
      correct_index: ``(R,)`` index of the correct option.
      baseline_logprobs: ``(R, K)`` option scores of the same predictor with no summary, or
        ``None`` for a uniform null only.
      temperature: softmax temperature of the summary-conditioned scores (scalar or ``(R,)``,
        e.g. from :func:`cross_fitted_temperatures`). Fit it on other records before reading the
        result as bits: raw summed log-probs are overconfident.
      baseline_temperature: temperature of the no-summary scores (default: ``temperature``).

    Returns:
      :class:`UsableInformation`. The null is the no-summary predictor or the uniform guess,
      whichever has the lower cross-entropy over the records (H_V is an infimum).

    Raises:
      ValueError: mismatched shapes, non-finite scores, bad indices or temperatures.
    """
    s = _scores(option_logprobs, "option_logprobs")
    if s.ndim not in (2, 3):
        raise ValueError(f"option_logprobs must be (R, K) or (R, M, K), got shape {s.shape}")
    R, K = s.shape[0], s.shape[-1]
    c = _correct(correct_index, R, K)
    t = np.asarray(temperature, dtype=np.float64)
    if t.ndim not in (0, 1) or (t.ndim == 1 and t.shape != (R,)):
        raise ValueError(f"temperature must be a scalar or one per record (shape ({R},)), got shape {t.shape}")
    with_z = _log2_correct(s, c, t)
    uniform = np.full(R, -math.log2(K))
    null, base = "uniform", uniform
    if baseline_logprobs is not None:
        b = _scores(baseline_logprobs, "baseline_logprobs")
        if b.shape != (R, K):
            raise ValueError(f"baseline_logprobs must be (R, K) = ({R}, {K}), got shape {b.shape}")
        bt = t if baseline_temperature is None else np.asarray(baseline_temperature, dtype=np.float64)
        no_z = _log2_correct(b, c, bt)
        if -no_z.mean() < -uniform.mean():
            null, base = "no_summary", no_z
    per = with_z - base
    return UsableInformation(
        value=float(per.mean()),
        per_record=per,
        h_y_given_q=float(-base.mean()),
        h_y_given_zq=float(-with_z.mean()),
        null=null,
        log2_k=math.log2(K),
        temperature=float(t) if t.ndim == 0 else t,
        n_records=R,
        n_options=K,
    )


@dataclass
class CrossFitted:
    """Per-record usable information of several settings of one predictor (cross-fitted).

    Attributes:
      bits: setting -> ``(R,)`` usable information per record (bits).
      temperature: ``(R,)`` temperature of the summary-conditioned scores per record (fitted on
        the other records, pooled over every setting).
      baseline_temperature: ``(R,)`` temperature of the no-summary scores per record.
      null: ``(R,)`` the null chosen for each record (``"no_summary"`` or ``"uniform"``), by
        cross-entropy over the *other* records.
    """

    bits: dict[str, np.ndarray]
    temperature: np.ndarray
    baseline_temperature: np.ndarray
    null: list[str]

    def record(self, setting: str, i: int) -> dict:
        """Record ``i``'s usable information under ``setting`` as row fields (bits, temperature, null)."""
        return {
            "usable_info_bits": float(self.bits[setting][i]),
            "usable_info_temperature": float(self.temperature[i]),
            "usable_info_null": self.null[i],
        }


def cross_fitted_usable_information(
    scores: Mapping[str, Sequence[np.ndarray | Sequence]],
    baseline: Sequence[np.ndarray | Sequence],
    correct_index: Sequence[int],
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
) -> CrossFitted:
    """Usable information per record for every setting of one predictor, cross-fitted by record.

    For record ``i``: the summary temperature is fitted on every summary of every setting of the
    other records; the no-summary temperature on the other records' no-summary scores; the null
    (no-summary predictor or uniform) is the one with the lower cross-entropy on the other
    records. Nothing about record ``i`` tunes the numbers record ``i`` gets.

    Args:
      scores: setting -> list over records of ``(M_i, K)`` option scores (M_i summaries).
      baseline: list over records of ``(K,)`` no-summary option scores.
      correct_index: list over records of the correct option index.
      bounds: temperature search range.

    Returns:
      :class:`CrossFitted`.

    Raises:
      ValueError: fewer than 2 records, settings whose record count differs, bad scores.
    """
    R = len(correct_index)
    if R < 2:
        raise ValueError(f"cross-fitting needs >= 2 records, got {R}")
    if len(baseline) != R:
        raise ValueError(f"baseline has {len(baseline)} records, correct_index {R}; pass one per record")
    base = _scores(np.stack([np.asarray(b, dtype=np.float64) for b in baseline]), "baseline")
    K = base.shape[1]
    c = _correct(np.asarray(correct_index, dtype=np.int64), R, K)
    pooled, owners, labels = [], [], []
    per_setting: dict[str, list[np.ndarray]] = {}
    for name, rows in scores.items():
        if len(rows) != R:
            raise ValueError(f"setting {name!r} has {len(rows)} records, expected {R}")
        arrs = []
        for i, r in enumerate(rows):
            a = _scores(np.atleast_2d(np.asarray(r, dtype=np.float64)), f"scores[{name!r}][{i}]")
            if a.shape[1] != K:
                raise ValueError(f"scores[{name!r}][{i}] has {a.shape[1]} options, the baseline {K}")
            arrs.append(a)
            pooled.append(a)
            owners.extend([i] * a.shape[0])
            labels.extend([c[i]] * a.shape[0])
        per_setting[name] = arrs
    if not pooled:
        raise ValueError("no settings to score: pass at least one setting's option scores")
    S, own, lab = np.concatenate(pooled), np.asarray(owners), np.asarray(labels)
    temps = np.array([fit_temperature(S[own != i], lab[own != i], bounds) for i in range(R)])
    idx = np.arange(R)
    base_t = np.array([fit_temperature(base[idx != i], c[idx != i], bounds) for i in range(R)])
    nulls, null_lp = [], np.empty(R)
    for i in range(R):
        others = idx != i
        ce_model = -_log2_correct(base[others], c[others], base_t[i]).mean()
        if ce_model < math.log2(K):
            nulls.append("no_summary")
            null_lp[i] = _log2_correct(base[i : i + 1], c[i : i + 1], base_t[i])[0]
        else:
            nulls.append("uniform")
            null_lp[i] = -math.log2(K)
    bits = {}
    for name, arrs in per_setting.items():
        vals = np.array([_log2_correct(a[None], c[i : i + 1], temps[i])[0] for i, a in enumerate(arrs)])
        bits[name] = vals - null_lp
    return CrossFitted(bits=bits, temperature=temps, baseline_temperature=base_t, null=nulls)
