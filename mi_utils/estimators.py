r"""Mutual-information estimators from log-probability matrices.

The compressor LM reads a context :math:`X` (and a query :math:`Q`) and writes a summary
:math:`Z`. To estimate :math:`I(X; Z \mid Q)`, draw ``N`` contexts :math:`x_1..x_N`, sample
``M`` summaries :math:`z_{i1}..z_{iM}` from each, and score *every* summary under *every*
context. The result is one array

.. code-block:: text

    logp[i, j, l] = log p(z_ij | x_l, q)        shape (N, M, N), natural log (nats)

where ``i`` is the context the summary was sampled from, ``j`` the sample, ``l`` the context it
is scored under. The diagonal ``logp[i, j, i]`` is the summary's own context.

Estimators
----------
*Lower (the paper's estimator, InfoNCE form).* For each sample

.. math::  \hat\imath_{ij} = \log p(z_{ij}\mid x_i) - \log \tfrac1N \sum_{l=1}^N p(z_{ij}\mid x_l)

and the estimate is the mean over ``i, j``. The denominator is a Monte-Carlo estimate of the
marginal :math:`p(z\mid q)` that includes the sample's own context, so every term is at most
:math:`\log N`: the estimator **cannot exceed** ``log N`` (the *ceiling*). With the true channel
probabilities its expectation is a lower bound on the true MI, tight only when MI is well below
``log N``. With an LM as scorer it is *not* clipped: a zero-information summary typically scores
slightly negative (the fixed critic is biased downward), and that must stay visible. The
paper reports ``max(value, 0)``, available as :attr:`MIEstimate.clipped`.

*Upper (leave-one-out).* The same with the own context removed from the denominator,

.. math::  \log p(z_{ij}\mid x_i) - \log \tfrac1{N-1} \sum_{l\ne i} p(z_{ij}\mid x_l),

whose expectation is an upper bound on the MI when the scores are the true sampling
probabilities (pure ancestral sampling, temperature 1, no truncation). It comes from the same
matrix at no extra cost. It is ``+inf`` when, for some sample, every *other* context gives
probability zero (``-inf`` log-probability): nothing then bounds the information from above
at this ``N``. That is returned as ``inf``, never as NaN.

Query conditioning
------------------
The estimator math is the same for two ways of scoring; what differs is what the caller puts
in ``logp``. The choice is recorded in :attr:`MIEstimate.conditioning` so result tables say
which one was used.

* ``"shared"`` (default): the ``N`` contexts are drawn for one question ``q`` and every score
  uses it, ``logp[i, j, l] = log p(z_ij | x_l, q)``. This estimates :math:`I(X;Z\mid Q=q)`.
* ``"paired"``: the form of the authors' code, where each context comes with its own query and
  is scored with it, ``logp[i, j, l] = log p(z_ij | x_l, q_l)``. The denominator then mixes
  queries, so this estimates information about the (context, query) pair.

Input rules
-----------
Entries must be real log-probabilities: NaN and ``+inf`` are rejected. ``-inf`` (a summary the
scorer rules out) is legal off the diagonal, but not on it: a summary was sampled from its own
context, so that context cannot give it probability zero; a ``-inf`` diagonal means the scores
do not belong to the samples and raises ``ValueError``.

Cost: :math:`O(N^2 M)` time and memory (the input itself), plus :math:`O(n_{boot} N)` for the
bootstrap.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import logsumexp

__all__ = [
    "MIEstimate",
    "SaturationWarning",
    "SATURATION_THRESHOLD",
    "Unit",
    "Conditioning",
    "estimate_mi",
    "pointwise_mi",
    "loo_pointwise_mi",
    "convert",
    "validate_logp",
    "validate_lengths",
    "upper_is_bound",
]

Unit = Literal["bits", "nats"]
Conditioning = Literal["shared", "paired"]

LN2 = math.log(2.0)
SATURATION_THRESHOLD = 0.9
_UNITS = ("bits", "nats")
_CONDITIONINGS = ("shared", "paired")


class SaturationWarning(UserWarning):
    """The estimate is close to its ``log N`` ceiling, so it cannot resolve the true MI."""


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _check_unit(unit: str, name: str = "unit") -> None:
    if unit not in _UNITS:
        raise ValueError(f"{name} must be 'bits' or 'nats', got {unit!r}")


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(k) for k in np.argwhere(mask)[0])


def validate_logp(logp: Any) -> np.ndarray:
    """Check a score array and return it as float64.

    Args:
        logp: Array-like of shape ``(N, M, N)``, ``logp[i, j, l] = log p(z_ij | x_l, q)`` in nats.

    Returns:
        The array as a float64 ``np.ndarray`` (a copy only if a conversion was needed).

    Raises:
        ValueError: If the array is not numeric, has the wrong ndim or shape, has ``N < 2``
            or ``M < 1``, contains NaN or ``+inf``, or has ``-inf`` on the diagonal
            ``logp[i, j, i]``. The message names the first offending index.
    """
    try:
        arr = np.asarray(logp, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"logp must be a real numeric array of shape (N, M, N); could not convert it: {exc}") from exc
    if arr.ndim != 3 or arr.shape[0] != arr.shape[2]:
        raise ValueError(
            "logp must have shape (N, M, N): logp[i, j, l] = log p(z_ij | x_l, q), summary j "
            f"sampled from context i and scored under context l; got shape {arr.shape}"
        )
    n, m, _ = arr.shape
    if n < 2:
        raise ValueError(
            f"need at least 2 contexts; the estimator contrasts each context against the "
            f"others (got N={n}, shape {arr.shape})"
        )
    if m < 1:
        raise ValueError(f"need at least 1 summary per context (M >= 1); got shape {arr.shape}")
    nan = np.isnan(arr)
    if nan.any():
        raise ValueError(
            f"logp contains NaN at index {_first_index(nan)} ({int(nan.sum())} NaN entries in "
            "all); every summary must be scored under every context"
        )
    pos_inf = np.isposinf(arr)
    if pos_inf.any():
        raise ValueError(
            f"logp contains +inf at index {_first_index(pos_inf)}; log-probabilities are <= 0 "
            "for discrete summaries and finite for densities, so +inf is a scoring bug"
        )
    diag = np.diagonal(arr, axis1=0, axis2=2)  # (M, N): diag[j, i] = logp[i, j, i]
    bad = np.isneginf(diag)
    if bad.any():
        j, i = _first_index(bad)
        raise ValueError(
            f"logp[{i}, {j}, {i}] is -inf: summary {j} of context {i} has probability zero "
            "under its own context, which is impossible if it was sampled from it. Check that "
            "the scores line up with the samples (axis 0 = source context, axis 2 = scoring "
            "context) and that sampling used no truncation the scorer does not know about"
        )
    return arr


def validate_lengths(lengths: Any, shape: tuple[int, int]) -> np.ndarray:
    """Check summary lengths and return them as float64.

    Args:
        lengths: Array-like ``(N, M)`` of token counts, one per summary.
        shape: The expected ``(N, M)``, from ``logp.shape[:2]``.

    Returns:
        The lengths as a float64 array.

    Raises:
        ValueError: If the shape differs from ``shape`` or an entry is not finite and positive.
    """
    try:
        arr = np.asarray(lengths, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"lengths must be a numeric array of shape {shape}: {exc}") from exc
    if arr.shape != tuple(shape):
        raise ValueError(
            f"lengths must have shape (N, M) = {tuple(shape)}, one token count per summary; got shape {arr.shape}"
        )
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        idx = _first_index(bad)
        raise ValueError(f"lengths must be finite and positive (token counts); lengths{list(idx)} = {arr[idx]!r}")
    return arr


# --------------------------------------------------------------------------------------------
# pure helpers
# --------------------------------------------------------------------------------------------


def convert(value: float | np.ndarray, from_unit: Unit, to_unit: Unit) -> float | np.ndarray:
    """Convert an information quantity between nats and bits.

    Args:
        value: Scalar or array in ``from_unit`` (``inf`` stays ``inf``).
        from_unit: ``"bits"`` or ``"nats"``.
        to_unit: ``"bits"`` or ``"nats"``.

    Returns:
        The value in ``to_unit`` (1 bit = ln 2 nats).

    Raises:
        ValueError: On an unknown unit.
    """
    _check_unit(from_unit, "from_unit")
    _check_unit(to_unit, "to_unit")
    if from_unit == to_unit:
        return value
    if from_unit == "nats":
        return value / LN2
    return value * LN2


def _diagonal(logp: np.ndarray) -> np.ndarray:
    """``logp[i, j, i]`` as an ``(N, M)`` array."""
    return np.diagonal(logp, axis1=0, axis2=2).T


def pointwise_mi(logp: Any) -> np.ndarray:
    """Per-sample terms of the paper's (InfoNCE) estimator, in nats.

    ``out[i, j] = logp[i, j, i] - logsumexp_l logp[i, j, l] + log N``; every term is at most
    ``log N`` (enforced against floating-point rounding, which could otherwise put
    ``logsumexp`` an ulp below its own largest term).

    Args:
        logp: ``(N, M, N)`` log-probabilities in nats (see module docstring).

    Returns:
        ``(N, M)`` float64 array. Cost :math:`O(N^2 M)`.

    Raises:
        ValueError: On invalid input (see :func:`validate_logp`).
    """
    return _pointwise(validate_logp(logp))


def _pointwise(arr: np.ndarray) -> np.ndarray:
    """:func:`pointwise_mi` on an already validated array."""
    own = _diagonal(arr)
    lse = np.maximum(logsumexp(arr, axis=2), own)
    return own - lse + math.log(arr.shape[0])


def loo_pointwise_mi(logp: Any) -> np.ndarray:
    """Per-sample terms of the leave-one-out (upper-bound) estimator, in nats.

    ``out[i, j] = logp[i, j, i] - logsumexp_{l != i} logp[i, j, l] + log(N - 1)``. A term is
    ``+inf`` when every other context scores the sample ``-inf``.

    Args:
        logp: ``(N, M, N)`` log-probabilities in nats.

    Returns:
        ``(N, M)`` float64 array, possibly containing ``+inf`` (never NaN). Cost
        :math:`O(N^2 M)` time and one copy of ``logp`` in memory.

    Raises:
        ValueError: On invalid input (see :func:`validate_logp`).
    """
    return _loo(validate_logp(logp))


def _loo(arr: np.ndarray) -> np.ndarray:
    """:func:`loo_pointwise_mi` on an already validated array."""
    n = arr.shape[0]
    own = _diagonal(arr)
    others = arr.copy()
    idx = np.arange(n)
    others[idx, :, idx] = -np.inf
    lse = logsumexp(others, axis=2)  # -inf where every other context rules the sample out
    return own - lse + math.log(n - 1)


def _bootstrap_ci(
    per_context: np.ndarray, point: float, n_boot: int, level: float, seed: int | None
) -> tuple[float, float]:
    """Percentile bootstrap over contexts, widened to contain ``point``.

    Cost :math:`O(n_{boot} N)` time and memory.
    """
    rng = np.random.default_rng(seed)
    n = per_context.shape[0]
    idx = rng.integers(0, n, size=(n_boot, n))
    means = per_context[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(min(low, point)), float(max(high, point))


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MIEstimate:
    """Result of :func:`estimate_mi`. All information quantities are in :attr:`unit`.

    Attributes:
        value: The paper's estimator (raw, may be negative, never above ``ceiling``).
        clipped: ``max(value, 0)``, the paper's reporting convention.
        upper: Leave-one-out estimate, an upper bound in expectation when the scores are the
            true sampling probabilities; ``inf`` if some sample is ruled out by every other
            context (see :attr:`n_upper_inf`).
        ceiling: ``log N``, the largest value the estimator can return.
        saturation: ``value / ceiling``; above :data:`SATURATION_THRESHOLD` the estimate is
            pinned near its ceiling and says little about how much information there is.
        ci: Bootstrap ``(low, high)`` interval for ``value`` (resampling contexts), or ``None``
            when ``n_boot=0``.
        ci_level: Nominal coverage of ``ci``.
        per_token: ``value / mean(lengths)`` (information per summary token), or ``None``.
        per_token_upper: ``upper / mean(lengths)``, or ``None``.
        mean_length: Mean summary length in tokens, or ``None``.
        per_context: ``(N,)`` each context's mean pointwise term; ``value`` is their mean.
        per_sample: ``(N, M)`` pointwise terms (:func:`pointwise_mi` in :attr:`unit`).
        unit: ``"bits"`` or ``"nats"``.
        n_contexts: ``N``.
        n_samples: ``M`` (summaries per context).
        n_boot: Bootstrap resamples used (0 = none).
        n_upper_inf: Number of samples whose leave-one-out term is ``+inf``.
        conditioning: ``"shared"`` or ``"paired"`` query conditioning (descriptive only).
    """

    value: float
    clipped: float
    upper: float
    ceiling: float
    saturation: float
    ci: tuple[float, float] | None
    ci_level: float
    per_token: float | None
    per_token_upper: float | None
    mean_length: float | None
    per_context: np.ndarray = field(repr=False)
    per_sample: np.ndarray = field(repr=False)
    unit: Unit = "bits"
    n_contexts: int = 0
    n_samples: int = 0
    n_boot: int = 0
    n_upper_inf: int = 0
    conditioning: Conditioning = "shared"

    @property
    def saturated(self) -> bool:
        """True when :attr:`saturation` exceeds :data:`SATURATION_THRESHOLD`."""
        return self.saturation > SATURATION_THRESHOLD

    def to(self, unit: Unit) -> MIEstimate:
        """Return the same estimate expressed in ``unit``.

        Args:
            unit: ``"bits"`` or ``"nats"``.

        Returns:
            A new :class:`MIEstimate`; unit-free fields are unchanged.
        """
        _check_unit(unit)

        def c(x: Any) -> Any:
            return None if x is None else convert(x, self.unit, unit)

        def arr(x: np.ndarray) -> np.ndarray:
            out = np.asarray(c(x), dtype=np.float64).copy()
            out.setflags(write=False)
            return out

        return MIEstimate(
            value=float(c(self.value)),
            clipped=float(c(self.clipped)),
            upper=float(c(self.upper)),
            ceiling=float(c(self.ceiling)),
            saturation=self.saturation,
            ci=None if self.ci is None else (float(c(self.ci[0])), float(c(self.ci[1]))),
            ci_level=self.ci_level,
            per_token=c(self.per_token),
            per_token_upper=c(self.per_token_upper),
            mean_length=self.mean_length,
            per_context=arr(self.per_context),
            per_sample=arr(self.per_sample),
            unit=unit,
            n_contexts=self.n_contexts,
            n_samples=self.n_samples,
            n_boot=self.n_boot,
            n_upper_inf=self.n_upper_inf,
            conditioning=self.conditioning,
        )

    def to_dict(self) -> dict[str, Any]:
        """Flat scalar fields with unit-suffixed names, one row of a results table.

        Returns:
            ``{"mi_bits", "mi_clipped_bits", "mi_upper_bits", "mi_ceiling_bits",
            "mi_saturation", "mi_ci_low_bits", "mi_ci_high_bits", "mi_ci_level",
            "mi_per_token_bits", "mi_per_token_upper_bits", "mi_mean_length",
            "mi_n_contexts", "mi_n_samples", "mi_n_boot", "mi_n_upper_inf",
            "mi_conditioning"}`` (``_nats`` instead of ``_bits`` when the unit is nats).
            Missing quantities (no bootstrap, no lengths) are ``None``.
        """
        u = self.unit
        low, high = self.ci if self.ci is not None else (None, None)
        return {
            f"mi_{u}": self.value,
            f"mi_clipped_{u}": self.clipped,
            f"mi_upper_{u}": self.upper,
            f"mi_ceiling_{u}": self.ceiling,
            "mi_saturation": self.saturation,
            f"mi_ci_low_{u}": low,
            f"mi_ci_high_{u}": high,
            "mi_ci_level": self.ci_level if self.ci is not None else None,
            f"mi_per_token_{u}": self.per_token,
            f"mi_per_token_upper_{u}": self.per_token_upper,
            "mi_mean_length": self.mean_length,
            "mi_n_contexts": self.n_contexts,
            "mi_n_samples": self.n_samples,
            "mi_n_boot": self.n_boot,
            "mi_n_upper_inf": self.n_upper_inf,
            "mi_conditioning": self.conditioning,
        }


# --------------------------------------------------------------------------------------------
# main entry point
# --------------------------------------------------------------------------------------------


def estimate_mi(
    logp: Any,
    lengths: Any = None,
    *,
    unit: Unit = "bits",
    n_boot: int = 1000,
    seed: int | None = 0,
    ci_level: float = 0.95,
    conditioning: Conditioning = "shared",
    warn: bool = True,
) -> MIEstimate:
    """Estimate ``I(X; Z | Q)`` from an ``(N, M, N)`` matrix of log-probabilities.

    Args:
        logp: ``logp[i, j, l] = log p(z_ij | x_l, q)`` in nats: summary ``j`` sampled from
            context ``i`` and scored under context ``l`` (see module docstring).
        lengths: Optional ``(N, M)`` token counts of the summaries; enables ``per_token``.
        unit: ``"bits"`` (default) or ``"nats"`` for every returned quantity.
        n_boot: Bootstrap resamples for ``ci``; ``0`` disables it (``ci=None``).
        seed: Seed of the bootstrap generator (the estimate itself is deterministic).
        ci_level: Nominal coverage of the interval, in ``(0, 1)``.
        conditioning: ``"shared"`` (one query for all contexts) or ``"paired"`` (each context
            scored with its own query). Recorded only; the math is identical.
        warn: Emit :class:`SaturationWarning` when ``saturation > 0.9`` (default True).

    Returns:
        An :class:`MIEstimate`.

    Raises:
        ValueError: On bad input: shape not ``(N, M, N)``, ``N < 2``, ``M < 1``, NaN or
            ``+inf`` entries, ``-inf`` on the diagonal, ``lengths`` of the wrong shape or not
            positive, unknown ``unit`` or ``conditioning``, ``n_boot < 0``, ``ci_level``
            outside ``(0, 1)``.

    Warns:
        SaturationWarning: The estimate is within 10% of ``log N``.

    Notes:
        * The bootstrap resamples *contexts* (rows ``i`` of the per-context contributions)
          with replacement; each contribution keeps the denominator computed from all ``N``
          contexts, as in the point estimate. This captures the variance from which contexts
          were drawn and treats the denominator as fixed, so it is a little narrow for small
          ``N``. The percentile interval is widened, if needed, to contain the point estimate.
        * The ``log N`` ceiling holds exactly: rounding cannot push ``value`` above it.
        * Cost: :math:`O(N^2 M + n_{boot} N)`.
    """
    _check_estimate_args(unit, conditioning, n_boot, ci_level)
    arr = validate_logp(logp)
    n, m, _ = arr.shape
    lens = validate_lengths(lengths, (n, m)) if lengths is not None else None

    log_n = math.log(n)
    pmi = _pointwise(arr)
    loo = _loo(arr)
    per_context = pmi.mean(axis=1)
    value = min(float(per_context.mean()), log_n)  # min() only guards rounding
    n_upper_inf = int(np.isposinf(loo).sum())
    upper = math.inf if n_upper_inf else float(loo.mean())
    ci = _bootstrap_ci(per_context, value, int(n_boot), float(ci_level), seed) if n_boot else None
    nats = {"value": value, "upper": upper, "log_n": log_n, "ci": ci, "per_context": per_context, "pmi": pmi}
    result = _estimate_in(
        unit,
        nats,
        lens,
        ci_level=float(ci_level),
        n_boot=int(n_boot),
        n_upper_inf=n_upper_inf,
        conditioning=conditioning,
    )
    if warn and result.saturated:
        _warn_saturated(result)
    return result


def _check_estimate_args(unit: str, conditioning: str, n_boot: Any, ci_level: Any) -> None:
    """:func:`estimate_mi`'s settings, each refused with the fix when bad."""
    _check_unit(unit)
    if conditioning not in _CONDITIONINGS:
        raise ValueError(f"conditioning must be 'shared' or 'paired', got {conditioning!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot must be an integer >= 0 (0 disables the bootstrap), got {n_boot!r}")
    if not (isinstance(ci_level, numbers.Real) and 0.0 < float(ci_level) < 1.0):
        raise ValueError(f"ci_level must be in (0, 1), e.g. 0.95; got {ci_level!r}")


def _estimate_in(unit: str, nats: dict, lens: np.ndarray | None, **fields: Any) -> MIEstimate:
    """An :class:`MIEstimate` in ``unit`` from :func:`estimate_mi`'s quantities in nats.

    ``nats``: ``value``, ``upper``, ``log_n``, ``ci`` (or ``None``), ``per_context`` and ``pmi``;
    ``lens``: the summaries' token counts (or ``None``); ``fields``: the rest of the estimate as is.
    """

    def u(x: float) -> float:
        return float(convert(x, "nats", unit))

    def u_arr(x: np.ndarray) -> np.ndarray:
        out = np.asarray(convert(x, "nats", unit), dtype=np.float64)
        out.setflags(write=False)
        return out

    value, upper, ci, pmi = nats["value"], nats["upper"], nats["ci"], nats["pmi"]
    mean_length = float(lens.mean()) if lens is not None else None
    n, m = pmi.shape
    return MIEstimate(
        value=u(value),
        clipped=u(max(value, 0.0)),
        upper=u(upper),
        ceiling=u(nats["log_n"]),
        saturation=value / nats["log_n"],
        ci=None if ci is None else (u(ci[0]), u(ci[1])),
        per_token=None if mean_length is None else u(value) / mean_length,
        per_token_upper=None if mean_length is None else u(upper) / mean_length,
        mean_length=mean_length,
        per_context=u_arr(nats["per_context"]),
        per_sample=u_arr(pmi),
        unit=unit,
        n_contexts=n,
        n_samples=m,
        **fields,
    )


def _warn_saturated(result: MIEstimate) -> None:
    """The :class:`SaturationWarning` of an estimate near its ``log N`` ceiling."""
    unit = result.unit
    warnings.warn(
        f"MI estimate {result.value:.3g} {unit} is {result.saturation:.0%} of its ceiling "
        f"log N = {result.ceiling:.3g} {unit} (N={result.n_contexts} contexts). The estimator cannot "
        "exceed log N, so it cannot tell how much more information the summaries carry; "
        "the true MI may be much larger. Grow N (more contexts) until the estimate "
        "stops tracking log N.",
        SaturationWarning,
        stacklevel=3,
    )


# --------------------------------------------------------------------------------------------
# when the leave-one-out value is a bound
# --------------------------------------------------------------------------------------------


def upper_is_bound(
    *,
    kind: str,
    scorer_prompt: str,
    same_model: bool,
    same_dtype: bool,
    exact_ids: bool,
    pure_sampling: bool,
) -> bool:
    """Whether :attr:`MIEstimate.upper` (the leave-one-out value) is an upper bound on the MI.

    The leave-one-out estimator bounds the MI from above in expectation only when every score
    ``logp[i, j, l]`` is the log-probability with which the summary would have been *sampled*
    from context ``l`` (see the module docstring). Every condition below is needed for that; when
    any fails, the scores are a critic's and only the lower estimate keeps its meaning.

    Args:
      kind: the compressor's kind; must be ``"lm"``. Extractive methods, controls and the full
        context are not sampled from an LM distribution, so no scorer gives their sampling
        probabilities.
      scorer_prompt: must be ``"own"`` (self-scoring). The proxy prompt conditions the summary on a
        different prompt than the one it was sampled under, so its log-probs are not the sampling
        probabilities even with the compressor's weights.
      same_model: the scorer's model is the compressor's. Other weights give another distribution.
      same_dtype: the scorer's dtype is the compressor's. Another precision changes the logits, so
        the scores are not the probabilities the samples were drawn with.
      exact_ids: every summary is scored with the token ids it was sampled as (plus the stop token
        that ended it) under a rebuilt prompt whose ids hash to the compressor's
        (:func:`mi_utils.score.own_scoring_exact` true for all). Re-encoded text can tokenise
        differently, and a changed prompt is another conditional.
      pure_sampling: every summary was drawn by pure ancestral sampling as applied by the engine
        (temperature 1, no top-k / top-p / min-p truncation, no penalties:
        :func:`mi_utils.backends.base.sampling_is_pure`). Otherwise the sampling distribution is not
        the model's softmax that the scorer returns.

    Returns:
      ``True`` only when all six hold.
    """
    return bool(kind == "lm" and scorer_prompt == "own" and same_model and same_dtype and exact_ids and pure_sampling)
