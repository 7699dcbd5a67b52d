"""Tests for mi_utils.analysis.information: usable (predictive V-) information with calibration.

Every number below is either written out by hand (``math.log2`` / ``math.exp`` of the scores) or
is a property the estimator must have (cross-fitting really leaves the record out, a useless
summary reads ~0 bits, calibration removes the scale of overconfident scores).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mi_utils.analysis.information import (
    TEMPERATURE_BOUNDS,
    UsableInformation,
    cross_fitted_temperatures,
    cross_fitted_usable_information,
    fit_temperature,
    option_log_probs,
    usable_information,
)

E = math.e


def _log_softmax_by_hand(row, t):
    """ln softmax(row / t), element by element."""
    z = sum(math.exp(v / t) for v in row)
    return [v / t - math.log(z) for v in row]


def _log2_sigmoid(x):
    """log2 of the probability of option 0 in a 2-option softmax with score gap x."""
    return -math.log2(1.0 + math.exp(-x))


# ------------------------------------------------------------------------------------------
# option_log_probs
# ------------------------------------------------------------------------------------------


def test_option_log_probs_scalar_temperature_matches_hand_log_softmax():
    s = [[2.0, 0.0, -1.0], [0.5, 1.5, 0.5]]
    for t in (1.0, 0.5, 3.0):
        got = option_log_probs(np.array(s), t)
        want = [_log_softmax_by_hand(r, t) for r in s]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.exp(got).sum(-1), 1.0, atol=1e-12)


def test_option_log_probs_per_row_temperature():
    s = [[2.0, 0.0, -1.0], [0.5, 1.5, 0.5]]
    got = option_log_probs(np.array(s), np.array([0.5, 4.0]))
    want = [_log_softmax_by_hand(s[0], 0.5), _log_softmax_by_hand(s[1], 4.0)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_option_log_probs_per_row_temperature_on_three_axes():
    s = np.arange(12, dtype=float).reshape(2, 3, 2)
    got = option_log_probs(s, np.array([1.0, 2.0]))
    for r, t in ((0, 1.0), (1, 2.0)):
        for m in range(3):
            np.testing.assert_allclose(got[r, m], _log_softmax_by_hand(s[r, m].tolist(), t), atol=1e-12)


@pytest.mark.parametrize("t", [0.0, -1.0, float("nan"), float("inf"), np.array([1.0, 0.0])])
def test_option_log_probs_rejects_bad_temperature(t):
    with pytest.raises(ValueError, match="temperature must be positive and finite"):
        option_log_probs(np.zeros((2, 3)), t)


# ------------------------------------------------------------------------------------------
# usable_information on hand-computed cases (R=2, K=2)
# ------------------------------------------------------------------------------------------

S = np.array([[2.0, 0.0], [0.5, 1.5]])
Y = np.array([0, 0])
# log2 p(y*) at T=1, by hand
LP0 = math.log2(math.exp(2.0) / (math.exp(2.0) + 1.0))
LP1 = math.log2(math.exp(0.5) / (math.exp(0.5) + math.exp(1.5)))


def test_usable_information_uniform_null_by_hand():
    base = np.array([[0.0, 1.0], [0.0, 0.0]])
    # no-summary cross-entropy = (log2(1+e) + 1) / 2 = 1.447 bits > log2 2 = 1 -> uniform null
    ce_no_z = (math.log2(1.0 + E) + 1.0) / 2.0
    assert ce_no_z > 1.0
    ui = usable_information(S, Y, base, temperature=1.0)
    assert isinstance(ui, UsableInformation)
    assert ui.null == "uniform"
    np.testing.assert_allclose(ui.per_record, [LP0 + 1.0, LP1 + 1.0], atol=1e-12)
    assert ui.value == pytest.approx((LP0 + LP1) / 2.0 + 1.0, abs=1e-12)
    assert ui.h_y_given_zq == pytest.approx(-(LP0 + LP1) / 2.0, abs=1e-12)
    assert ui.h_y_given_q == pytest.approx(1.0, abs=1e-12)
    assert ui.value == pytest.approx(ui.h_y_given_q - ui.h_y_given_zq, abs=1e-12)
    assert ui.log2_k == 1.0 and ui.n_records == 2 and ui.n_options == 2 and ui.unit == "bits"
    assert ui.temperature == 1.0
    d = ui.to_dict()
    assert d["usable_info_bits"] == ui.value and d["usable_info_null"] == "uniform"
    assert d["usable_info_log2_k_bits"] == 1.0


def test_usable_information_no_summary_null_by_hand():
    base = np.array([[1.0, 0.0], [1.0, 0.0]])
    no_z = math.log2(E / (1.0 + E))  # 0.45 bits of cross-entropy < 1 -> the no-summary null wins
    ui = usable_information(S, Y, base, temperature=1.0)
    assert ui.null == "no_summary"
    np.testing.assert_allclose(ui.per_record, [LP0 - no_z, LP1 - no_z], atol=1e-12)
    assert ui.value == pytest.approx((LP0 + LP1) / 2.0 - no_z, abs=1e-12)
    assert ui.h_y_given_q == pytest.approx(-no_z, abs=1e-12)
    assert ui.h_y_given_zq == pytest.approx(-(LP0 + LP1) / 2.0, abs=1e-12)


def test_usable_information_tie_with_uniform_keeps_uniform_null():
    # all-zero baseline scores: cross-entropy exactly log2 K -> not strictly better -> uniform
    ui = usable_information(S, Y, np.zeros((2, 2)), temperature=1.0)
    assert ui.null == "uniform"


def test_usable_information_temperature_and_baseline_temperature_by_hand():
    base = np.array([[1.0, 0.0], [1.0, 0.0]])
    # summary at T=2, baseline at T=0.5
    lp = [_log2_sigmoid(2.0 / 2.0), _log2_sigmoid(-1.0 / 2.0)]
    nz = _log2_sigmoid(1.0 / 0.5)  # CE = 0.19 bits < 1 -> no-summary null
    ui = usable_information(S, Y, base, temperature=2.0, baseline_temperature=0.5)
    assert ui.null == "no_summary"
    np.testing.assert_allclose(ui.per_record, [lp[0] - nz, lp[1] - nz], atol=1e-12)
    # per-record temperatures (baseline defaults to the same per-record temperatures)
    ui = usable_information(S, Y, base, temperature=np.array([2.0, 0.5]))
    want_z = [_log2_sigmoid(2.0 / 2.0), _log2_sigmoid(-1.0 / 0.5)]
    want_0 = [_log2_sigmoid(1.0 / 2.0), _log2_sigmoid(1.0 / 0.5)]
    assert ui.null == "no_summary"
    np.testing.assert_allclose(ui.per_record, np.subtract(want_z, want_0), atol=1e-12)
    np.testing.assert_array_equal(ui.temperature, [2.0, 0.5])


def test_summary_identical_to_baseline_gives_zero_with_no_summary_null():
    base = np.array([[3.0, 0.0, 1.0], [0.0, 2.0, 0.5], [1.0, 1.0, 4.0]])
    y = np.array([0, 1, 2])
    ui = usable_information(base, y, base, temperature=1.3)
    assert ui.null == "no_summary"
    assert ui.value == 0.0
    np.testing.assert_array_equal(ui.per_record, 0.0)
    assert ui.h_y_given_q == ui.h_y_given_zq


def test_three_axis_input_averages_log2_p_over_summaries():
    s3 = np.array([[[2.0, 0.0], [0.0, 2.0]], [[1.0, 0.0], [3.0, 0.0]]])
    y = np.array([0, 1])
    r0 = (_log2_sigmoid(2.0) + _log2_sigmoid(-2.0)) / 2.0  # mean of log2 p, not log2 of mean p
    r1 = (_log2_sigmoid(-1.0) + _log2_sigmoid(-3.0)) / 2.0
    ui = usable_information(s3, y, None, temperature=1.0)
    assert ui.null == "uniform"
    np.testing.assert_allclose(ui.per_record, [r0 + 1.0, r1 + 1.0], atol=1e-12)
    # log2 of the mean probability would be different for record 0 (0.5 -> 0 bits)
    assert abs((r0 + 1.0) - 0.0) > 0.5
    # one summary repeated M times equals the (R, K) form
    ui2 = usable_information(np.repeat(S[:, None, :], 4, axis=1), Y, None)
    ui1 = usable_information(S, Y, None)
    np.testing.assert_allclose(ui2.per_record, ui1.per_record, atol=1e-12)


def test_value_never_exceeds_log2_k_with_uniform_null():
    rng = np.random.default_rng(0)
    for _ in range(200):
        r, k = int(rng.integers(2, 9)), int(rng.integers(2, 7))
        m = int(rng.integers(1, 4))
        s = rng.normal(0, rng.uniform(0.1, 30), (r, m, k))
        y = rng.integers(0, k, r)
        t = float(rng.uniform(0.05, 10))
        ui = usable_information(s, y, None, temperature=t)
        assert ui.null == "uniform"
        assert ui.value <= math.log2(k) + 1e-12
        assert (ui.per_record <= math.log2(k) + 1e-12).all()
        # a baseline that the uniform guess beats never changes the answer
        worse = np.zeros((r, k))
        worse[np.arange(r), y] = -50.0
        assert usable_information(s, y, worse, temperature=t).value == pytest.approx(ui.value, abs=1e-12)


def test_perfectly_confident_correct_summary_gives_log2_k():
    k = 4
    y = np.array([0, 3, 1, 2, 2])
    s = np.zeros((5, k))
    s[np.arange(5), y] = 100.0
    ui = usable_information(s, y, np.zeros((5, k)), temperature=1.0)
    assert ui.null == "uniform"
    assert ui.value == pytest.approx(math.log2(k), abs=1e-12)
    assert ui.h_y_given_zq == pytest.approx(0.0, abs=1e-12)
    assert ui.h_y_given_q == pytest.approx(2.0, abs=1e-12)


def test_baseline_none_uses_uniform_null():
    ui = usable_information(S, Y, None, temperature=1.0)
    assert ui.null == "uniform"
    assert ui.h_y_given_q == 1.0
    assert ui.value == pytest.approx((LP0 + LP1) / 2.0 + 1.0, abs=1e-12)


# ------------------------------------------------------------------------------------------
# usable_information: bad inputs
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"option_logprobs": np.zeros(3)}, r"must be \(R, K\) or \(R, M, K\)"),
        ({"option_logprobs": np.zeros((2, 1, 1, 2))}, r"must be \(R, K\) or \(R, M, K\)"),
        ({"option_logprobs": np.zeros((2, 1))}, "K >= 2 options"),
        ({"correct_index": [0, 0, 1]}, r"one entry per record \(shape \(2,\)\)"),
        ({"correct_index": [0, 2]}, r"must lie in \[0, 1\]"),
        ({"correct_index": [-1, 0]}, r"must lie in \[0, 1\]"),
        ({"correct_index": [0.0, 1.0]}, "integer option indices"),
        ({"option_logprobs": np.array([[0.0, np.nan], [0.0, 0.0]])}, r"non-finite value at index \(0, 1\)"),
        ({"option_logprobs": np.array([[0.0, 1.0], [-np.inf, 0.0]])}, r"non-finite value at index \(1, 0\)"),
        ({"baseline_logprobs": np.array([[0.0, 1.0], [np.nan, 0.0]])}, "baseline_logprobs has a non-finite"),
        ({"baseline_logprobs": np.zeros((3, 2))}, r"baseline_logprobs must be \(R, K\) = \(2, 2\)"),
        ({"baseline_logprobs": np.zeros((2, 3))}, r"baseline_logprobs must be \(R, K\) = \(2, 2\)"),
        ({"temperature": np.ones(3)}, "temperature must be a scalar or one per record"),
        ({"temperature": np.ones((2, 2))}, "temperature must be a scalar or one per record"),
        ({"temperature": 0.0}, "temperature must be positive"),
        ({"temperature": float("nan")}, "temperature must be positive"),
        ({"baseline_temperature": -1.0}, "temperature must be positive"),
    ],
)
def test_usable_information_bad_inputs(kwargs, match):
    args = {"option_logprobs": S, "correct_index": Y, "baseline_logprobs": np.zeros((2, 2)), "temperature": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        usable_information(**args)


# ------------------------------------------------------------------------------------------
# fit_temperature
# ------------------------------------------------------------------------------------------


def _calibrated_sample(rng, n, k, scale=1.5):
    logits = rng.normal(0, scale, (n, k))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    u = rng.random((n, 1))
    y = (u > np.cumsum(p, axis=1)).sum(1)  # inverse-CDF draw from softmax(logits)
    return logits, np.minimum(y, k - 1)


@pytest.mark.parametrize("alpha", [0.5, 3.0, 10.0])
def test_fit_temperature_recovers_the_scale(alpha):
    rng = np.random.default_rng(0)
    logits, y = _calibrated_sample(rng, 4000, 4)
    t = fit_temperature(logits * alpha, y)
    assert abs(t / alpha - 1.0) < 0.10, (alpha, t)


def test_fit_temperature_wide_margin_goes_to_small_temperature():
    rng = np.random.default_rng(1)
    n, k = 200, 4
    y = rng.integers(0, k, n)
    s = rng.normal(0, 1, (n, k))
    s[np.arange(n), y] = s.max(1) + 5.0
    t = fit_temperature(s, y)
    assert t < 0.2
    assert np.exp(option_log_probs(s, t)[np.arange(n), y]).min() > 1 - 1e-12
    # Honest about the bound: with a huge margin the data are perfectly separated, the
    # likelihood is exactly 1 in float64 below some T (a flat plateau), and the MLE (T -> 0,
    # i.e. the lower bound) is not identified: the search returns some T on the plateau.
    s[np.arange(n), y] = s.max(1) + 50.0
    t = fit_temperature(s, y)
    assert TEMPERATURE_BOUNDS[0] <= t < 1.0
    lp = option_log_probs(s, t)[np.arange(n), y]
    assert (lp == 0.0).all()  # correct option has probability 1 at the fitted T
    assert (option_log_probs(s, TEMPERATURE_BOUNDS[0])[np.arange(n), y] == 0.0).all()


def test_fit_temperature_noise_goes_to_near_uniform():
    rng = np.random.default_rng(0)
    n, k = 4000, 4
    s = rng.normal(0, 1, (n, k))
    y = rng.integers(0, k, n)
    t = fit_temperature(s, y)
    assert t > 100.0
    p = np.exp(option_log_probs(s, t))
    assert np.abs(p - 1.0 / k).max() < 0.01
    # anti-informative scores: the best T would be negative; the fit stops at the upper bound
    logits, y2 = _calibrated_sample(rng, 2000, k)
    t2 = fit_temperature(-logits, y2)
    assert t2 > 0.99 * TEMPERATURE_BOUNDS[1]
    assert t2 <= TEMPERATURE_BOUNDS[1]


def test_fit_temperature_bad_inputs():
    with pytest.raises(ValueError, match=r"scores must be \(n, K\)"):
        fit_temperature(np.zeros((2, 3, 4)), [0, 1])
    with pytest.raises(ValueError, match="one entry per record"):
        fit_temperature(np.zeros((2, 3)), [0])
    with pytest.raises(ValueError, match="non-finite"):
        fit_temperature(np.array([[0.0, np.nan]]), [0])


# ------------------------------------------------------------------------------------------
# cross_fitted_temperatures
# ------------------------------------------------------------------------------------------


def test_cross_fitted_temperatures_exclude_the_rows_own_group():
    rng = np.random.default_rng(2)
    logits, y = _calibrated_sample(rng, 90, 4)
    s = logits * 2.0
    groups = np.repeat(["a", "b", "c"], 30)
    t = cross_fitted_temperatures(s, y, groups)
    assert t.shape == (90,)
    for g in "abc":  # one temperature per group, equal to a fit on the other groups
        assert np.unique(t[groups == g]).size == 1
        assert t[groups == g][0] == fit_temperature(s[groups != g], y[groups != g])
    s2 = s.copy()
    s2[groups == "b"] *= 25.0  # perturb only group b's scores
    t2 = cross_fitted_temperatures(s2, y, groups)
    np.testing.assert_array_equal(t2[groups == "b"], t[groups == "b"])
    assert not np.allclose(t2[groups == "a"], t[groups == "a"])
    assert not np.allclose(t2[groups == "c"], t[groups == "c"])


def test_cross_fitted_temperatures_needs_two_groups():
    s = np.zeros((4, 3))
    with pytest.raises(ValueError, match="at least 2 groups"):
        cross_fitted_temperatures(s, [0, 1, 2, 0], ["r"] * 4)
    with pytest.raises(ValueError, match="one label per row"):
        cross_fitted_temperatures(s, [0, 1, 2, 0], ["r", "s"])


# ------------------------------------------------------------------------------------------
# cross_fitted_usable_information
# ------------------------------------------------------------------------------------------

R_, M_, K_ = 40, 3, 5


def _setup(seed=1):
    rng = np.random.default_rng(seed)
    y = np.arange(R_) % K_
    base = rng.normal(0, 1, (R_, K_))
    noise = [rng.normal(0, 1, (M_, K_)) for _ in range(R_)]
    informative = [rng.normal(0, 1, (M_, K_)) + 2.0 * np.eye(K_)[y[i]] for i in range(R_)]
    return y, base, noise, informative


def test_cross_fitting_a_record_never_tunes_its_own_temperature_or_null():
    y, base, _, inf = _setup()
    cf = cross_fitted_usable_information({"inf": inf}, list(base), list(y))
    assert cf.temperature.shape == (R_,) and cf.baseline_temperature.shape == (R_,)
    assert len(cf.null) == R_ and set(cf.null) <= {"uniform", "no_summary"}
    i = 7
    inf2 = [a.copy() for a in inf]
    inf2[i] = inf2[i] * 10.0 + 3.0 * np.eye(K_)[y[i]]
    base2 = base.copy()
    base2[i] = base2[i] * 10.0
    cf2 = cross_fitted_usable_information({"inf": inf2}, list(base2), list(y))
    # record i's own temperature, baseline temperature and null are unchanged ...
    assert cf2.temperature[i] == cf.temperature[i]
    assert cf2.baseline_temperature[i] == cf.baseline_temperature[i]
    assert cf2.null[i] == cf.null[i]
    # ... its bits change only through its own scores: recompute them by hand
    t = cf.temperature[i]
    lp = option_log_probs(inf2[i], t)[:, y[i]].mean() / math.log(2)
    if cf.null[i] == "uniform":
        null = -math.log2(K_)
    else:
        null = option_log_probs(base2[i], cf.baseline_temperature[i])[y[i]] / math.log(2)
    assert cf2.bits["inf"][i] == pytest.approx(lp - null, abs=1e-12)
    assert cf2.bits["inf"][i] != pytest.approx(cf.bits["inf"][i], abs=1e-3)
    # the other records' temperatures do see record i (it is in their training rows)
    others = np.arange(R_) != i
    assert not np.allclose(cf2.temperature[others], cf.temperature[others])


def test_cross_fitted_uninformative_reads_zero_and_informative_positive():
    y, base, noise, inf = _setup()
    copy = [np.repeat(base[i][None], M_, axis=0) for i in range(R_)]
    log2k = math.log2(K_)
    for name, rows in (("copy", copy), ("noise", noise)):
        cf = cross_fitted_usable_information({name: rows}, list(base), list(y))
        assert abs(cf.bits[name].mean()) < 0.1, (name, cf.bits[name].mean())
    # a summary that repeats the baseline gets the baseline's own temperature: exactly 0 bits
    # whenever the null is the no-summary predictor
    cf = cross_fitted_usable_information({"copy": copy}, list(base), list(y))
    np.testing.assert_allclose(cf.temperature, cf.baseline_temperature, rtol=1e-12)
    cf = cross_fitted_usable_information({"inf": inf}, list(base), list(y))
    v = cf.bits["inf"].mean()
    assert 0.5 < v <= log2k + 0.05, v
    # pooled settings: one temperature per record for the whole predictor, bits per setting
    cf = cross_fitted_usable_information({"inf": inf, "noise": noise}, list(base), list(y))
    assert set(cf.bits) == {"inf", "noise"}
    assert cf.bits["inf"].mean() > cf.bits["noise"].mean() + 0.5


def test_cross_fitted_calibration_removes_overconfidence():
    y, base, _, inf = _setup()
    log2k = math.log2(K_)
    scaled = [20.0 * a for a in inf]
    cf1 = cross_fitted_usable_information({"s": inf}, list(base), list(y))
    cf20 = cross_fitted_usable_information({"s": scaled}, list(20.0 * base), list(y))
    bits = cf20.bits["s"]
    assert 0.0 < bits.mean() <= log2k
    uniform = np.array(cf20.null) == "uniform"
    assert uniform.any()
    assert (bits[uniform] <= log2k + 1e-9).all()
    # the fitted summary temperatures absorb the factor 20; the bits are those of the raw scale
    np.testing.assert_allclose(cf20.temperature / cf1.temperature, 20.0, rtol=1e-3)
    np.testing.assert_allclose(bits, cf1.bits["s"], atol=1e-3)
    # uncalibrated (T = 1), the same scores give per-record "bits" far below anything sensible
    raw = usable_information(np.stack(scaled), y, 20.0 * base, temperature=1.0)
    assert raw.per_record.min() < -10.0
    assert bits.min() > raw.per_record.min() + 5.0


def test_cross_fitted_bad_inputs():
    y, base, noise, _ = _setup()
    with pytest.raises(ValueError, match=">= 2 records"):
        cross_fitted_usable_information({"a": noise[:1]}, list(base[:1]), [0])
    with pytest.raises(ValueError, match="baseline has 39 records, correct_index 40"):
        cross_fitted_usable_information({"a": noise}, list(base[:-1]), list(y))
    with pytest.raises(ValueError, match="setting 'a' has 39 records, expected 40"):
        cross_fitted_usable_information({"a": noise[:-1]}, list(base), list(y))
    bad = [a.copy() for a in noise]
    bad[3][1, 2] = np.nan
    with pytest.raises(ValueError, match=r"scores\['a'\]\[3\] has a non-finite value at index \(1, 2\)"):
        cross_fitted_usable_information({"a": bad}, list(base), list(y))
    bad_base = base.copy()
    bad_base[5, 0] = np.inf
    with pytest.raises(ValueError, match="baseline has a non-finite"):
        cross_fitted_usable_information({"a": noise}, list(bad_base), list(y))
    wrong_k = [a.copy() for a in noise]
    wrong_k[2] = np.zeros((M_, K_ + 1))
    with pytest.raises(ValueError, match=r"scores\['a'\]\[2\] has 6 options, the baseline 5"):
        cross_fitted_usable_information({"a": wrong_k}, list(base), list(y))
    with pytest.raises(ValueError, match="no settings to score"):
        cross_fitted_usable_information({}, list(base), list(y))
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\]"):
        cross_fitted_usable_information({"a": noise}, list(base), [5] + list(y[1:]))


def test_analysis_information_re_exports_the_estimator():
    """The estimator's home is ``mi_utils.information`` (beside the estimators); the analysis module
    gives the very same objects, so analysis code keeps its imports."""
    import mi_utils.analysis as analysis
    import mi_utils.analysis.information as old
    import mi_utils.information as new

    for name in new.__all__:
        assert getattr(old, name) is getattr(new, name), name
    assert analysis.cross_fitted_usable_information is new.cross_fitted_usable_information


def test_cross_fitted_record_gives_the_row_fields():
    cf = cross_fitted_usable_information({"a": [[[1.0, 0.0]], [[0.0, 2.0]], [[3.0, 0.0]]]}, [[0.0, 0.0]] * 3, [0, 1, 0])
    assert cf.record("a", 1) == {
        "usable_info_bits": float(cf.bits["a"][1]),
        "usable_info_temperature": float(cf.temperature[1]),
        "usable_info_null": cf.null[1],
    }
