"""Tests for mi_utils.estimators: formulas, invariances, bounds, bootstrap, input errors."""

from __future__ import annotations

import dataclasses
import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import logsumexp

from mi_utils.estimators import (
    MIEstimate,
    SaturationWarning,
    convert,
    estimate_mi,
    loo_pointwise_mi,
    pointwise_mi,
    upper_is_bound,
)

LN2 = math.log(2.0)
FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # deterministic examples: same run every time
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------


@st.composite
def logp_arrays(draw, max_n: int = 6, max_m: int = 4, allow_neg_inf: bool = True) -> np.ndarray:
    """Valid (N, M, N) score arrays: finite diagonal, optional -inf off the diagonal."""
    n = draw(st.integers(2, max_n))
    m = draw(st.integers(1, max_m))
    arr = draw(
        hnp.arrays(
            np.float64,
            (n, m, n),
            elements=st.floats(-60.0, 5.0, allow_nan=False, allow_infinity=False),
        )
    )
    if allow_neg_inf:
        mask = draw(hnp.arrays(np.bool_, (n, m, n)))
        idx = np.arange(n)
        mask[idx, :, idx] = False  # the diagonal must stay finite
        arr = np.where(mask, -np.inf, arr)
    return arr


def _quiet(logp, lengths=None, **kw) -> MIEstimate:
    kw.setdefault("warn", False)
    return estimate_mi(logp, lengths, **kw)


def _naive_value(logp: np.ndarray) -> float:
    """Direct transcription of the paper's formula, for cross-checking."""
    n, m, _ = logp.shape
    total = 0.0
    for i in range(n):
        for j in range(m):
            total += logp[i, j, i] - logsumexp(logp[i, j, :]) + math.log(n)
    return total / (n * m)


# ------------------------------------------------------------------------------------------
# formulas on hand-made inputs
# ------------------------------------------------------------------------------------------


def test_two_context_example_by_hand():
    # N=2, M=1: sample 0 scored (log .8, log .2), sample 1 scored (log .4, log .6).
    logp = np.log(np.array([[[0.8, 0.2]], [[0.4, 0.6]]]))
    pmi = pointwise_mi(logp)
    expected = np.array([[math.log(0.8 / 0.5)], [math.log(0.6 / 0.5)]])
    np.testing.assert_allclose(pmi, expected, rtol=1e-12)
    loo = loo_pointwise_mi(logp)
    np.testing.assert_allclose(loo, np.log([[0.8 / 0.2], [0.6 / 0.4]]), rtol=1e-12)
    est = _quiet(logp, unit="nats", n_boot=0)
    assert est.value == pytest.approx(expected.mean(), rel=1e-12)
    assert est.upper == pytest.approx(loo.mean(), rel=1e-12)
    assert est.ceiling == pytest.approx(math.log(2))


@FAST
@given(logp_arrays())
def test_matches_naive_formula(logp):
    est = _quiet(logp, unit="nats", n_boot=0)
    assert est.value == pytest.approx(_naive_value(logp), rel=1e-9, abs=1e-9)
    assert est.per_context.mean() == pytest.approx(est.value, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(est.per_sample.mean(axis=1), est.per_context, rtol=1e-12)
    assert est.per_sample.shape == logp.shape[:2]
    assert est.per_context.shape == (logp.shape[0],)


def test_zero_information_gives_zero():
    logp = np.full((5, 3, 5), -7.0)
    est = _quiet(logp, unit="nats", n_boot=100)
    assert est.value == pytest.approx(0.0, abs=1e-12)
    assert est.upper == pytest.approx(0.0, abs=1e-12)
    assert est.saturation == pytest.approx(0.0, abs=1e-12)
    assert est.ci == pytest.approx((0.0, 0.0), abs=1e-12)


def test_negative_value_stays_visible_and_clipped_is_zero():
    # Each summary scores *worse* under its own context than under the others.
    n = 4
    logp = np.full((n, 2, n), -1.0)
    idx = np.arange(n)
    logp[idx, :, idx] = -3.0
    est = _quiet(logp, n_boot=0)
    assert est.value < 0
    assert est.clipped == 0.0
    assert est.to_dict()["mi_bits"] < 0


def test_perfect_discrimination_hits_ceiling_and_upper_is_inf():
    n, m = 8, 3
    logp = np.full((n, m, n), -np.inf)
    idx = np.arange(n)
    logp[idx, :, idx] = -2.0
    with pytest.warns(SaturationWarning, match="log N"):
        est = estimate_mi(logp, unit="bits", n_boot=50)
    assert est.value == pytest.approx(3.0)  # log2(8)
    assert est.saturation == pytest.approx(1.0)
    assert est.upper == math.inf
    assert est.n_upper_inf == n * m
    assert not any(isinstance(v, float) and math.isnan(v) for v in est.to_dict().values())
    assert np.isposinf(loo_pointwise_mi(logp)).all()


def test_partial_neg_inf_off_diagonal_is_finite():
    rng = np.random.default_rng(0)
    logp = rng.normal(size=(5, 2, 5))
    logp[0, 0, 3] = -np.inf
    logp[2, 1, 0] = -np.inf
    est = _quiet(logp, n_boot=20)
    assert math.isfinite(est.value) and math.isfinite(est.upper)
    assert est.n_upper_inf == 0


def test_upper_inf_for_one_sample_only():
    rng = np.random.default_rng(1)
    logp = rng.normal(size=(4, 2, 4))
    logp[1, 0, [0, 2, 3]] = -np.inf
    est = _quiet(logp, n_boot=0)
    assert est.upper == math.inf
    assert est.n_upper_inf == 1
    assert math.isfinite(est.value)


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------


@FAST
@given(logp_arrays(max_n=8))
def test_value_never_exceeds_log_n(logp):
    for unit in ("nats", "bits"):
        est = _quiet(logp, unit=unit, n_boot=0)
        assert est.value <= est.ceiling
        assert np.all(est.per_sample <= est.ceiling)
    assert np.all(pointwise_mi(logp) <= math.log(logp.shape[0]))


@FAST
@given(logp_arrays(), st.randoms(use_true_random=False))
def test_consistent_context_permutation_leaves_estimate_unchanged(logp, rnd):
    n, m, _ = logp.shape
    perm = np.array(rnd.sample(range(n), n))
    sperm = np.array(rnd.sample(range(m), m))
    permuted = logp[perm][:, :, perm][:, sperm, :]
    a = _quiet(logp, unit="nats", n_boot=0)
    b = _quiet(permuted, unit="nats", n_boot=0)
    assert b.value == pytest.approx(a.value, rel=1e-12, abs=1e-12)
    assert b.upper == pytest.approx(a.upper, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(b.per_context, a.per_context[perm], rtol=1e-12, atol=1e-12)


@FAST
@given(logp_arrays(), st.integers(0, 200))
def test_units_convert_exactly(logp, n_boot):
    lengths = np.arange(1, logp.shape[0] * logp.shape[1] + 1).reshape(logp.shape[:2])
    bits = _quiet(logp, lengths, unit="bits", n_boot=n_boot)
    nats = _quiet(logp, lengths, unit="nats", n_boot=n_boot)
    for f in ("value", "clipped", "ceiling", "per_token"):
        assert getattr(bits, f) * LN2 == pytest.approx(getattr(nats, f), rel=1e-12, abs=1e-15)
    if math.isfinite(nats.upper):
        assert bits.upper * LN2 == pytest.approx(nats.upper, rel=1e-12, abs=1e-15)
    else:
        assert bits.upper == nats.upper == math.inf
    assert bits.saturation == nats.saturation
    if n_boot:
        np.testing.assert_allclose(np.array(bits.ci) * LN2, nats.ci, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(bits.per_sample * LN2, nats.per_sample, rtol=1e-12, atol=1e-15)
    assert bits.to("nats").value == pytest.approx(nats.value, rel=1e-12, abs=1e-15)


@FAST
@given(logp_arrays(), st.integers(1, 300), st.floats(0.05, 0.99), st.integers(0, 2**31))
def test_bootstrap_interval_contains_point(logp, n_boot, level, seed):
    est = _quiet(logp, n_boot=n_boot, ci_level=level, seed=seed)
    low, high = est.ci
    assert low <= est.value <= high
    assert math.isfinite(low) and math.isfinite(high)


def test_bootstrap_is_deterministic_and_shrinks_with_n():
    rng = np.random.default_rng(3)
    small = rng.normal(size=(8, 2, 8))
    a = _quiet(small, n_boot=500, seed=7)
    b = _quiet(small, n_boot=500, seed=7)
    assert a.ci == b.ci
    big = rng.normal(size=(200, 2, 200))
    c = _quiet(big, n_boot=500, seed=7)
    assert (c.ci[1] - c.ci[0]) < (a.ci[1] - a.ci[0])


def test_n_boot_zero_disables_interval():
    est = _quiet(np.zeros((3, 1, 3)), n_boot=0)
    assert est.ci is None
    d = est.to_dict()
    assert d["mi_ci_low_bits"] is None and d["mi_ci_high_bits"] is None


# ------------------------------------------------------------------------------------------
# saturation warning
# ------------------------------------------------------------------------------------------


def _discriminating(n: int, gap: float) -> np.ndarray:
    """Own context scores 0, every other context -gap."""
    logp = np.full((n, 1, n), -gap)
    idx = np.arange(n)
    logp[idx, :, idx] = 0.0
    return logp


def test_saturation_warning_emitted_above_threshold():
    with pytest.warns(SaturationWarning, match="Grow N"):
        est = estimate_mi(_discriminating(16, 10.0), n_boot=0)
    assert est.saturation > 0.9 and est.saturated


def test_no_saturation_warning_below_threshold():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = estimate_mi(_discriminating(16, 1.0), n_boot=10)
    assert est.saturation < 0.9 and not est.saturated


def test_warn_false_suppresses():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate_mi(_discriminating(16, 10.0), n_boot=0, warn=False)


@FAST
@given(logp_arrays())
def test_warning_iff_saturation_above_point_nine(logp):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        est = estimate_mi(logp, n_boot=0)
    warned = any(issubclass(w.category, SaturationWarning) for w in rec)
    assert warned == (est.saturation > 0.9)


# ------------------------------------------------------------------------------------------
# per-token, result object
# ------------------------------------------------------------------------------------------


def test_per_token_and_to_dict_fields():
    rng = np.random.default_rng(5)
    logp = rng.normal(size=(4, 3, 4))
    lengths = rng.integers(1, 20, size=(4, 3))
    est = _quiet(logp, lengths, unit="bits", n_boot=100, conditioning="paired")
    assert est.per_token == pytest.approx(est.value / lengths.mean())
    assert est.per_token_upper == pytest.approx(est.upper / lengths.mean())
    d = est.to_dict()
    for key in (
        "mi_bits",
        "mi_clipped_bits",
        "mi_upper_bits",
        "mi_ceiling_bits",
        "mi_saturation",
        "mi_ci_low_bits",
        "mi_ci_high_bits",
        "mi_per_token_bits",
        "mi_per_token_upper_bits",
    ):
        assert key in d
    assert d["mi_conditioning"] == "paired"
    assert all(v is None or np.isscalar(v) for v in d.values())
    nd = _quiet(logp, unit="nats", n_boot=0).to_dict()
    assert "mi_nats" in nd and "mi_ceiling_nats" in nd and "mi_bits" not in nd
    assert nd["mi_per_token_nats"] is None
    assert est.n_contexts == 4 and est.n_samples == 3 and est.unit == "bits"


def test_result_is_frozen_and_arrays_read_only():
    est = _quiet(np.zeros((3, 2, 3)), n_boot=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.value = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        est.per_context[0] = 1.0
    with pytest.raises(ValueError):
        est.per_sample[0, 0] = 1.0


def test_accepts_lists_and_float32():
    logp = np.log(np.array([[[0.8, 0.2]], [[0.4, 0.6]]]))
    a = _quiet(logp.tolist(), n_boot=0)
    b = _quiet(logp.astype(np.float32), n_boot=0)
    assert a.value == pytest.approx(b.value, rel=1e-6)


def test_convert():
    assert convert(1.0, "bits", "nats") == pytest.approx(LN2)
    assert convert(LN2, "nats", "bits") == pytest.approx(1.0)
    assert convert(2.5, "bits", "bits") == 2.5
    assert convert(math.inf, "nats", "bits") == math.inf
    np.testing.assert_allclose(convert(np.array([1.0, 2.0]), "bits", "nats"), [LN2, 2 * LN2])
    with pytest.raises(ValueError, match="from_unit"):
        convert(1.0, "bans", "nats")
    with pytest.raises(ValueError, match="to_unit"):
        convert(1.0, "nats", "shannons")


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [(4,), (4, 4), (4, 2, 3), (4, 2, 4, 1), (3, 1, 2)],
)
def test_wrong_shape(shape):
    with pytest.raises(ValueError, match=r"\(N, M, N\).*got shape " + re.escape(str(shape))):
        estimate_mi(np.zeros(shape))


@pytest.mark.parametrize("n", [0, 1])
def test_too_few_contexts(n):
    with pytest.raises(ValueError, match="need at least 2 contexts; the estimator contrasts"):
        estimate_mi(np.zeros((n, 3, n)))


def test_no_samples():
    with pytest.raises(ValueError, match="M >= 1"):
        estimate_mi(np.zeros((3, 0, 3)))


def test_nan_names_index():
    logp = np.zeros((3, 2, 3))
    logp[1, 0, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN at index \(1, 0, 2\)"):
        estimate_mi(logp)
    with pytest.raises(ValueError, match="NaN"):
        pointwise_mi(logp)
    with pytest.raises(ValueError, match="NaN"):
        loo_pointwise_mi(logp)


def test_pos_inf_names_index():
    logp = np.zeros((3, 2, 3))
    logp[2, 1, 0] = np.inf
    with pytest.raises(ValueError, match=r"\+inf at index \(2, 1, 0\)"):
        estimate_mi(logp)


def test_neg_inf_on_diagonal_is_rejected():
    logp = np.zeros((3, 2, 3))
    logp[1, 1, 1] = -np.inf
    with pytest.raises(ValueError, match=r"logp\[1, 1, 1\] is -inf.*own context"):
        estimate_mi(logp)


def test_non_numeric_input():
    with pytest.raises(ValueError, match="real numeric array"):
        estimate_mi([[["a", "b"]], [["c", "d"]]])


@pytest.mark.parametrize(
    "lengths, match",
    [
        (np.ones((3, 3)), r"lengths must have shape \(N, M\) = \(3, 2\).*got shape \(3, 3\)"),
        (np.ones(6), r"got shape \(6,\)"),
        (np.zeros((3, 2)), "finite and positive"),
        (-np.ones((3, 2)), "finite and positive"),
        (np.full((3, 2), np.nan), "finite and positive"),
    ],
)
def test_bad_lengths(lengths, match):
    with pytest.raises(ValueError, match=match):
        estimate_mi(np.zeros((3, 2, 3)), lengths)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"unit": "bans"}, "unit must be 'bits' or 'nats'"),
        ({"conditioning": "joint"}, "conditioning must be 'shared' or 'paired'"),
        ({"n_boot": -1}, "n_boot must be an integer >= 0"),
        ({"n_boot": 1.5}, "n_boot must be an integer >= 0"),
        ({"ci_level": 1.0}, r"ci_level must be in \(0, 1\)"),
        ({"ci_level": 0}, r"ci_level must be in \(0, 1\)"),
    ],
)
def test_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        estimate_mi(np.zeros((3, 2, 3)), **kw)


# --------------------------------------------------------------------------------------------
# upper_is_bound: one test per condition (all six hold -> a bound; any one fails -> not)
# --------------------------------------------------------------------------------------------
BOUND = dict(kind="lm", scorer_prompt="own", same_model=True, same_dtype=True, exact_ids=True, pure_sampling=True)


def test_upper_is_bound_when_every_condition_holds():
    assert upper_is_bound(**BOUND) is True


@pytest.mark.parametrize("kind", ["extractive", "control", "full"])
def test_upper_is_not_bound_for_a_compressor_that_does_not_sample(kind):
    assert upper_is_bound(**{**BOUND, "kind": kind}) is False


def test_upper_is_not_bound_under_the_proxy_prompt():
    assert upper_is_bound(**{**BOUND, "scorer_prompt": "proxy"}) is False


def test_upper_is_not_bound_with_another_model():
    assert upper_is_bound(**{**BOUND, "same_model": False}) is False


def test_upper_is_not_bound_with_another_dtype():
    assert upper_is_bound(**{**BOUND, "same_dtype": False}) is False


def test_upper_is_not_bound_without_the_sampled_ids_and_prompt():
    assert upper_is_bound(**{**BOUND, "exact_ids": False}) is False


def test_upper_is_not_bound_after_impure_sampling():
    assert upper_is_bound(**{**BOUND, "pure_sampling": False}) is False


def test_upper_is_bound_takes_numpy_booleans_and_returns_a_bool():
    out = upper_is_bound(**{**BOUND, "exact_ids": np.bool_(True)})
    assert out is True
    with pytest.raises(TypeError):
        upper_is_bound("lm", "own", True, True, True, True)  # keywords only: the conditions are named
