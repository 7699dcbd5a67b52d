"""Fits of mi_utils.analysis: scaling, rate-distortion, (partial) correlation, meta-analysis, forest plot."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mi_utils.analysis.correlation import partial_correlation
from mi_utils.analysis.meta import MetaAnalysisResult, meta_analysis, per_group_slopes
from mi_utils.analysis.rate_distortion import RateDistortionFit, fit_rate_distortion
from mi_utils.analysis.scaling import ScalingFit, fit_scaling, scaling_ratios

# --------------------------------------------------------------------------- fit_scaling

SIZES = [0.5e9, 1e9, 2e9, 4e9]
FAMILIES = ["qwen2.5", "llama3", "gemma3"]


def _scaling_table(
    slope: float = 0.1, n_records: int = 40, record_sd: float = 0.1, noise_sd: float = 0.05, seed: int = 3
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for fam in FAMILIES:
        rec_eff = rng.normal(0, record_sd, n_records)
        for r in range(n_records):
            for s in SIZES:
                rows.append(
                    dict(
                        compressor_family=fam,
                        record_id=f"r{r}",
                        compressor_params=s,
                        metric=0.2 + slope * np.log2(s / 1e9) + rec_eff[r] + rng.normal(0, noise_sd),
                    )
                )
    return pd.DataFrame(rows)


def test_fit_scaling_recovers_known_slope_with_intervals():
    df = _scaling_table()
    out = fit_scaling(df, "metric", n_boot=200, seed=0)
    assert list(out["group"]) == sorted(FAMILIES)
    assert {
        "compressor_family",
        "slope",
        "intercept",
        "slope_low",
        "slope_high",
        "intercept_low",
        "intercept_high",
        "n_sizes",
        "n_rows",
        "metric",
    } <= set(out.columns)
    for _, row in out.iterrows():
        assert abs(row.slope - 0.1) < 0.02
        assert row.slope_low < 0.1 < row.slope_high
        assert row.slope_low < row.slope < row.slope_high
        # metric = 0.2 + 0.1 * (log2(size) - log2(1e9)): intercept at log2(size) = 0
        true_icpt = 0.2 - 0.1 * np.log2(1e9)
        assert row.intercept_low < true_icpt < row.intercept_high
        assert row.n_sizes == 4 and row.n_rows == 160 and row.n_units == 40 and row.metric == "metric"
    # the slope is the ordinary least-squares slope on log2(size)
    g = df[df.compressor_family == "llama3"]
    slope, icpt = np.polyfit(np.log2(g.compressor_params), g.metric, 1)
    row = out.set_index("group").loc["llama3"]
    assert row.slope == pytest.approx(slope, rel=1e-10)
    assert row.intercept == pytest.approx(icpt, rel=1e-10)
    fit = out.attrs["fits"][0]
    assert isinstance(fit, ScalingFit)
    assert fit.predict([1e9])[0] == pytest.approx(fit.intercept + fit.slope * np.log2(1e9))


def test_fit_scaling_bootstrap_is_deterministic_for_a_seed():
    df = _scaling_table()
    a = fit_scaling(df, "metric", n_boot=200, seed=7)
    b = fit_scaling(df, "metric", n_boot=200, seed=7)
    c = fit_scaling(df, "metric", n_boot=200, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["slope_low"], c["slope_low"])
    # a group's interval does not depend on the other groups in the table
    only = fit_scaling(df[df.compressor_family == "gemma3"], "metric", n_boot=200, seed=7)
    assert only["slope_low"].iloc[0] == a.set_index("group").loc["gemma3", "slope_low"]


def test_fit_scaling_resamples_records_together():
    # strong per-record offsets, every record at every size: the offsets cancel from the slope only
    # when a record's rows are resampled together, so record resampling gives a much narrower slope
    # interval than row resampling (which treats the offsets as noise)
    df = _scaling_table(record_sd=0.5, noise_sd=0.02)
    df["unit"] = df.compressor_family + "/" + df.record_id
    by_record = fit_scaling(df, "metric", by=None, n_boot=200, unit="unit")
    by_row = fit_scaling(df, "metric", by=None, n_boot=200, unit=None)
    w_rec = (by_record.slope_high - by_record.slope_low).iloc[0]
    w_row = (by_row.slope_high - by_row.slope_low).iloc[0]
    assert w_rec < w_row / 5
    for out in (by_record, by_row):
        assert out.slope_low.iloc[0] < 0.1 < out.slope_high.iloc[0]
    assert by_record["group"].iloc[0] == "all" and by_record["n_units"].iloc[0] == 120


def test_fit_scaling_skips_single_size_group_with_warning():
    df = _scaling_table()
    one = pd.DataFrame(
        dict(compressor_family="smollm2", record_id=["a", "b"], compressor_params=1.7e9, metric=[0.1, 0.2])
    )
    df = pd.concat([df, one], ignore_index=True)
    with pytest.warns(UserWarning, match="smollm2"):
        out = fit_scaling(df, "metric", n_boot=50)
    assert "smollm2" not in set(out["group"])
    assert len(out) == 3
    with pytest.raises(ValueError, match="no group can be fitted"):
        fit_scaling(one, "metric", n_boot=50)


def test_fit_scaling_bad_input():
    df = _scaling_table(n_records=5)
    bad = df.copy()
    bad.loc[0, "compressor_params"] = 0.0
    with pytest.raises(ValueError, match="non-positive"):
        fit_scaling(bad, "metric", n_boot=10)
    bad.loc[0, "compressor_params"] = -1e9
    with pytest.raises(ValueError, match="non-positive"):
        fit_scaling(bad, "metric", n_boot=10)
    with pytest.raises(ValueError, match="not in the table"):
        fit_scaling(df, "nope", n_boot=10)
    with pytest.raises(ValueError, match="n_boot"):
        fit_scaling(df, "metric", n_boot=0)


def test_fit_scaling_drops_missing_metric_with_warning_and_accepts_bool():
    df = _scaling_table(n_records=10)
    df["correct"] = (df["metric"] > 0.2).astype(object)
    df.loc[:4, "correct"] = None
    with pytest.warns(UserWarning, match="dropped 5 of"):
        out = fit_scaling(df, "correct", by=["compressor_family"], n_boot=20)
    assert out["n_rows"].sum() == len(df) - 5


# --------------------------------------------------------------------------- scaling_ratios


def _grid_table() -> pd.DataFrame:
    """qwen2.5 at 1.5B / 3B / 7B, llama3 at 1B / 8B, two predictors (8B, 70B), 25 records per cell."""
    acc = {  # (compressor size, predictor size) -> number correct of 25
        ("qwen2.5", 1.5e9, 8e9): 5,
        ("qwen2.5", 1.5e9, 70e9): 10,
        ("qwen2.5", 3e9, 8e9): 7,
        ("qwen2.5", 3e9, 70e9): 11,
        ("qwen2.5", 7e9, 8e9): 10,
        ("qwen2.5", 7e9, 70e9): 14,
        ("llama3", 1e9, 8e9): 10,
        ("llama3", 1e9, 70e9): 10,
        ("llama3", 8e9, 8e9): 15,
        ("llama3", 8e9, 70e9): 20,
    }
    tokens = {1.5e9: 460.0, 3e9: 200.0, 7e9: 100.0, 1e9: 300.0, 8e9: 150.0}
    bits = {1.5e9: 0.1, 3e9: 0.3, 7e9: 0.55, 1e9: 0.2, 8e9: 0.3}
    rows = []
    for (fam, cs, ps), k in acc.items():
        for r in range(25):
            rows.append(
                dict(
                    compressor_family=fam,
                    compressor_params=cs,
                    predictor_params=ps,
                    record_id=r,
                    correct=r < k,
                    summary_tokens=tokens[cs],
                    mi_per_token_bits=bits[cs],
                    flops_compressor=cs * 1000.0,
                )
            )
    # unscored rows at 7B (correct None) and a baseline without a size
    for _ in range(2):
        rows.append(
            dict(
                compressor_family="qwen2.5",
                compressor_params=7e9,
                predictor_params=8e9,
                record_id=99,
                correct=None,
                summary_tokens=100.0,
                mi_per_token_bits=0.55,
                flops_compressor=7e12,
            )
        )
    rows.append(
        dict(
            compressor_family="extractive",
            compressor_params=np.nan,
            predictor_params=8e9,
            record_id=0,
            correct=True,
            summary_tokens=50.0,
            mi_per_token_bits=0.0,
            flops_compressor=0.0,
        )
    )
    return pd.DataFrame(rows)


def test_scaling_ratios_hand_computed():
    out = scaling_ratios(_grid_table())
    assert list(out.columns[:3]) == ["kind", "axis", "family"]
    ratios = out[out.kind == "compressor_ratio"].set_index(["family", "metric"])
    q = ratios.loc["qwen2.5"]
    assert q.loc["correct", "small"] == 1.5e9 and q.loc["correct", "large"] == 7e9
    assert q.loc["correct", "value"] == pytest.approx(0.48 / 0.3, abs=1e-12)  # 1.6x accuracy
    assert q.loc["correct", "value"] == pytest.approx(1.6)
    assert q.loc["summary_tokens", "value"] == pytest.approx(100 / 460)
    assert 1 / q.loc["summary_tokens", "value"] == pytest.approx(4.6)  # "4.6x fewer tokens"
    assert q.loc["mi_per_token_bits", "value"] == pytest.approx(5.5)
    assert q.loc["flops_compressor", "value"] == pytest.approx(7 / 1.5)
    # None scores do not count; the other metrics see the two extra rows
    assert (q.loc["correct", "n_small"], q.loc["correct", "n_large"]) == (50, 50)
    assert q.loc["summary_tokens", "n_large"] == 52
    ll = ratios.loc["llama3"]
    assert ll.loc["correct", "value"] == pytest.approx(0.7 / 0.4)
    assert "extractive" not in set(out.family)

    gains = out[out.kind == "relative_gain"].set_index(["family", "axis"])
    assert gains.loc[("qwen2.5", "compressor"), "value"] == pytest.approx(0.48 / 0.3 - 1)
    # predictor axis: averaged over the three compressor sizes
    small = np.mean([5, 7, 10]) / 25
    large = np.mean([10, 11, 14]) / 25
    assert gains.loc[("qwen2.5", "predictor"), "value"] == pytest.approx(large / small - 1)
    assert gains.loc[("qwen2.5", "predictor"), "small"] == 8e9
    assert gains.loc[("llama3", "predictor"), "value"] == pytest.approx(0.6 / 0.5 - 1)
    assert gains.loc[("llama3", "compressor"), "value"] == pytest.approx(0.7 / 0.4 - 1)


def test_scaling_ratios_chosen_sizes_and_errors():
    df = _grid_table()
    with pytest.warns(UserWarning, match="llama3"):
        out = scaling_ratios(df, metric_cols=["correct"], small=1.6e9, large=3.1e9)
    r = out[(out.kind == "compressor_ratio")].set_index("family").loc["qwen2.5"]
    assert (r.small, r.large) == (1.5e9, 3e9)
    assert r.value == pytest.approx((18 / 50) / 0.3)
    with pytest.raises(ValueError, match="no compressor family"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaling_ratios(df, small=2.5e9, large=3.5e9)
    with pytest.raises(ValueError, match="not in the table"):
        scaling_ratios(df.drop(columns="flops_compressor"))
    out = scaling_ratios(
        df.drop(columns=["flops_compressor", "predictor_params"]), metric_cols=["correct"], predictor_col=None
    )
    assert set(out.axis) == {"compressor"}
    bad = df.copy()
    bad.loc[0, "compressor_params"] = -1.0
    with pytest.raises(ValueError, match="non-positive"):
        scaling_ratios(bad)


# --------------------------------------------------------------------------- rate-distortion


def _rd(C=0.6, b=1.5, D0=0.1):
    return lambda r: C * np.exp(-b * np.asarray(r)) + D0


def test_fit_rate_distortion_recovers_known_curve():
    rng = np.random.default_rng(0)
    rate = np.linspace(0, 3, 20)
    dist = _rd()(rate) + rng.normal(0, 0.01, rate.size)
    fit = fit_rate_distortion(rate, dist, n_boot=200, seed=0)
    assert isinstance(fit, RateDistortionFit)
    assert pytest.approx(0.6, rel=0.1) == fit.C
    assert fit.b == pytest.approx(1.5, rel=0.1)
    assert abs(fit.D0 - 0.1) < 0.03
    for name, truth in (("C", 0.6), ("b", 1.5), ("D0", 0.1)):
        lo, hi = fit.ci[name]
        assert lo < truth < hi, name
    assert fit.n == 20 and fit.r2 > 0.99
    grid = np.array([0.0, 0.5, 4.0])
    np.testing.assert_allclose(fit.predict(grid), fit.C * np.exp(-fit.b * grid) + fit.D0)
    d = fit.to_dict()
    assert d["C"] == fit.C and d["b_low"] == fit.ci["b"][0] and d["n"] == 20
    # deterministic for a seed
    again = fit_rate_distortion(rate, dist, n_boot=200, seed=0)
    assert again.ci == fit.ci


def test_fit_rate_distortion_exact_curve_and_offset_rates():
    rate = np.linspace(0, 3, 12)
    fit = fit_rate_distortion(rate, _rd()(rate), n_boot=0)
    assert fit.r2 > 0.999 and fit.ci == {}
    assert (fit.C, fit.b, fit.D0) == pytest.approx((0.6, 1.5, 0.1), rel=1e-5)
    # rates far from zero (and slightly negative ones) are handled
    rate2 = np.linspace(-0.05, 0.5, 10)
    f2 = fit_rate_distortion(rate2, _rd(0.5, 4.0, 0.2)(rate2), n_boot=0)
    assert (f2.C, f2.b, f2.D0) == pytest.approx((0.5, 4.0, 0.2), rel=1e-5)
    # weights: a zero-weight outlier does not move the fit
    d = _rd()(rate)
    d[3] = 0.95
    w = np.ones_like(rate)
    w[3] = 0
    f3 = fit_rate_distortion(rate, d, n_boot=0, weights=w)
    assert (f3.C, f3.b, f3.D0) == pytest.approx((0.6, 1.5, 0.1), rel=1e-5)


def test_fit_rate_distortion_constraints_hold():
    rate = np.linspace(0, 3, 15)
    rising = 0.2 + 0.1 * rate  # distortion growing with rate: no decaying curve fits
    fit = fit_rate_distortion(rate, rising, n_boot=50)
    assert fit.C >= 0 and fit.b >= 0 and 0 <= fit.D0 <= 1
    assert fit.C == 0 or fit.b == 0
    # the best flat line is the mean
    np.testing.assert_allclose(fit.predict(rate), rising.mean(), atol=1e-6)
    assert np.all(fit.boot[:, 0] >= 0) and np.all(fit.boot[:, 1] >= 0)
    assert np.all((fit.boot[:, 2] >= 0) & (fit.boot[:, 2] <= 1))
    # a floor the data would put below 0 is held at 0
    low = 0.8 * np.exp(-1.0 * rate) - 0.05
    low = np.clip(low, 0, None) + np.linspace(0, 0.001, rate.size)
    f = fit_rate_distortion(rate, low, n_boot=0)
    assert 0 <= f.D0 <= 1 and f.C >= 0 and f.b >= 0


@pytest.mark.parametrize(
    "rate, dist, match",
    [
        ([0.1, 0.2], [0.5, 0.4], "at least 3"),
        ([0.1, np.nan, 0.3], [0.5, 0.4, 0.3], "NaN"),
        ([0.1, 0.2, 0.3], [0.5, np.inf, 0.3], "infinite"),
        ([0.1, 0.2, 0.3, 0.4], [0.5, 0.4, 0.3], "points but distortion has"),
        ([0.2, 0.2, 0.2, 0.2], [0.5, 0.4, 0.3, 0.2], "all rates are equal"),
        ([0.1, 0.2, 0.1, 0.2], [0.5, 0.4, 0.3, 0.2], "only 2 distinct rates"),
        ([0.1, 0.2, 0.3], [0.5, 0.7, 1.3], r"\[0, 1\]"),
    ],
)
def test_fit_rate_distortion_bad_input(rate, dist, match):
    with pytest.raises(ValueError, match=match):
        fit_rate_distortion(rate, dist, n_boot=10)


@pytest.fixture
def fresh_rd_warnings(monkeypatch):
    """The session-once warnings of rate_distortion start unseen (whatever ran before)."""
    from mi_utils import _warn

    monkeypatch.setattr(_warn, "WARNED", set())


@pytest.mark.parametrize("level", [0.0, 0.1, 1 / 3, 0.7, 1.0])
@pytest.mark.parametrize("offset", [0.0, 5.0, 50.0])
def test_fit_rate_distortion_flat_data_give_the_canonical_form(level, offset):
    rate = offset + np.geomspace(0.01, 1.0, 8)
    dist = 1 - (1 - np.full(8, level))  # equal values, as accuracies computed from counts arrive
    w = np.arange(1.0, 9.0)
    for weights in (None, w):
        fit = fit_rate_distortion(rate, dist, n_boot=50, weights=weights)
        assert (fit.C, fit.b) == (0.0, 0.0) and fit.flat
        # the mean of equal numbers: exact up to the rounding of one weighted sum
        assert pytest.approx(dist.mean(), abs=1e-15) == fit.D0
        assert fit.D_rate_min == fit.D0
        assert np.isnan(fit.r2)  # zero variance: nothing to explain
        assert "flat data" in fit.notes[0]
        assert np.all(fit.boot[:, :2] == 0) and np.all(fit.boot[:, 2] == fit.boot[:, 3])
        np.testing.assert_array_equal(fit.predict([0.0, offset, 100.0]), fit.D0)
    # nearly flat: float noise far below any accuracy difference
    noisy = np.full(8, 0.3) + np.random.default_rng(0).normal(0, 1e-12, 8)
    fit = fit_rate_distortion(rate, noisy, n_boot=0)
    assert (fit.C, fit.b, fit.flat) == (0.0, 0.0, True) and np.isnan(fit.r2)


def test_fit_rate_distortion_no_decay_is_flat_with_r2_zero():
    rate = np.linspace(0.0, 3.0, 9)
    rising = 0.2 + 0.05 * rate
    fit = fit_rate_distortion(rate, rising, n_boot=0)
    assert (fit.C, fit.b, fit.flat) == (0.0, 0.0, True)
    assert pytest.approx(rising.mean(), abs=1e-15) == fit.D0
    assert fit.r2 == 0.0  # the flat line explains nothing, exactly
    assert fit.notes == ("no decay: the best curve is flat (C = b = 0, D0 = the mean, r2 = 0)",)
    # a curve that varies keeps r2 = 1 - SSE / SST of the reported parameters
    d = _rd()(rate) + np.array([0.01, -0.01] * 4 + [0.0])
    f = fit_rate_distortion(rate, d, n_boot=0)
    sse = np.sum((f.predict(rate) - d) ** 2)
    assert f.r2 == pytest.approx(1 - sse / np.sum((d - d.mean()) ** 2), abs=1e-9)
    assert not f.flat and f.notes == ()


def test_fit_rate_distortion_few_rates_have_no_intervals_and_warn_once(fresh_rd_warnings):
    rate3, d3 = [0.5, 1.0, 2.0, 2.0], [0.5, 0.3, 0.25, 0.26]
    with pytest.warns(UserWarning, match="fewer than 5 distinct rates") as rec:
        fit = fit_rate_distortion(rate3, d3, n_boot=200)
    assert len(rec) == 1
    assert fit.n_rates == 3 and fit.n == 4 and fit.ci == {} and len(fit.boot) == 0
    assert "only 3 distinct rates: 3 parameters interpolate them; no bootstrap intervals" in fit.notes
    with pytest.raises(ValueError, match="no bootstrap replicates"):
        fit.predict_band([1.0])
    # shown once per session: the next few-rate fit says it in its notes only
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f4 = fit_rate_distortion([5.0, 6.0, 7.0, 8.0], [0.5, 0.3, 0.25, 0.24], n_boot=200)
    assert f4.ci == {} and f4.n_rates == 4 and "leave 1 degree(s) of freedom" in f4.notes[0]
    # the threshold is a parameter (>= 3): with 3 allowed, 4 rates get intervals
    f4i = fit_rate_distortion([5.0, 6.0, 7.0, 8.0], [0.5, 0.3, 0.25, 0.24], n_boot=200, min_rates_ci=3)
    assert set(f4i.ci) == {"C", "b", "D0", "D_rate_min"} and not any("distinct rates:" in n for n in f4i.notes)
    with pytest.raises(ValueError, match="min_rates_ci"):
        fit_rate_distortion(rate3, d3, min_rates_ci=2)
    with pytest.raises(ValueError, match="only 2 distinct rates"):
        fit_rate_distortion([0.1, 0.1, 0.2, 0.2], [0.5, 0.4, 0.3, 0.3])


def test_rate_distortion_warning_ignored_by_a_filter_is_not_spent(fresh_rd_warnings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_rate_distortion([0.5, 1.0, 2.0], [0.5, 0.3, 0.25], n_boot=0)
    with pytest.warns(UserWarning, match="once per session"):
        fit_rate_distortion([0.5, 1.0, 2.0], [0.5, 0.3, 0.25], n_boot=0)


def test_fit_rate_distortion_counts_resamples_with_fewer_than_3_rates():
    rate = np.array([0.0, 0.5, 1.0, 1.5, 3.0])
    dist = _rd()(rate) + np.array([0.01, -0.01, 0.005, 0.0, -0.005])
    n_boot = 300
    fit = fit_rate_distortion(rate, dist, n_boot=n_boot, seed=3)
    # the same draws as the fit: how many resamples have fewer than 3 distinct rates
    rng = np.random.default_rng(3)
    expected = sum(len(np.unique(rate[rng.integers(0, 5, size=5)])) < 3 for _ in range(n_boot))
    assert expected > 0 and fit.boot_dropped == expected and len(fit.boot) == n_boot - expected
    assert f"{expected} of {n_boot} bootstrap resamples had < 3 distinct rates (dropped)" in fit.notes
    d = fit.to_dict()
    assert d["boot_dropped"] == expected and d["boot_kept"] == n_boot - expected and d["n_rates"] == 5


def test_fit_rate_distortion_reports_the_curve_at_the_smallest_rate():
    C, b, D0 = 0.6, 1.5, 0.1
    rate = np.linspace(1.0, 4.0, 12)  # away from 0: C is an extrapolation by exp(1.5 * 1) = 4.5
    dist = _rd(C, b, D0)(rate) + np.random.default_rng(2).normal(0, 0.002, rate.size)
    fit = fit_rate_distortion(rate, dist, n_boot=200, seed=0)
    assert fit.rate_min == 1.0
    assert fit.D_rate_min == pytest.approx(float(fit.predict(1.0)), rel=1e-10)
    assert fit.D_rate_min == pytest.approx(_rd(C, b, D0)(1.0), abs=0.01)  # noise sd 0.002
    # C is the curve's amplitude at rate 0: (D_rate_min - D0) exp(b rate_min)
    assert pytest.approx((fit.D_rate_min - fit.D0) * np.exp(fit.b * 1.0), rel=1e-9) == fit.C
    assert any(n.startswith("C extrapolated from rate_min = 1") for n in fit.notes)
    lo, hi = fit.ci["D_rate_min"]
    assert 0 <= lo < _rd(C, b, D0)(1.0) < hi <= 1
    assert hi - lo < 0.05  # pinned by the data, unlike C's interval
    assert fit.ci["C"][1] / fit.ci["C"][0] > hi / lo
    t = fit.to_dict()
    assert t["D_rate_min"] == fit.D_rate_min and t["rate_min"] == 1.0 and "C extrapolated" in t["notes"]
    # rates from 0: no extrapolation note
    near = fit_rate_distortion(rate - 1.0, dist, n_boot=0)
    assert pytest.approx(near.D_rate_min - near.D0, rel=1e-10) == near.C and near.notes == ()


def test_fit_rate_distortion_step_has_unbounded_b():
    rate = np.array([0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    dist = np.array([0.8, 0.2, 0.21, 0.19, 0.2, 0.2, 0.21])  # all the drop between the first two rates
    fit = fit_rate_distortion(rate, dist, n_boot=200, seed=0)
    assert any(n.startswith("a step") for n in fit.notes)
    assert fit.ci["b"][1] == np.inf and np.isfinite(fit.ci["b"][0])
    assert fit.ci["D0"][0] <= fit.D0 <= fit.ci["D0"][1] <= 1


def test_fit_rate_distortion_groups_say_which_fits_rest_on_few_rates(fresh_rd_warnings):
    from mi_utils.analysis import fit_rate_distortion_groups

    rates = np.linspace(0, 3, 8)
    pts = pd.concat(
        [
            pd.DataFrame({"predictor": "many", "mi_per_token_bits": rates, "distortion": _rd()(rates) + 0.002}),
            pd.DataFrame({"predictor": "three", "mi_per_token_bits": [0.1, 1.0, 2.0], "distortion": [0.6, 0.3, 0.2]}),
            pd.DataFrame({"predictor": "flat", "mi_per_token_bits": rates, "distortion": 0.4}),
            pd.DataFrame({"predictor": "two", "mi_per_token_bits": [0.1, 0.1, 2.0], "distortion": [0.6, 0.5, 0.2]}),
        ]
    )
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for _ in range(3):  # a notebook fitting many panels
            fits, table = fit_rate_distortion_groups(pts, "predictor", n_boot=100, seed=0)
    assert [str(w.message) for w in rec if "distinct rates" in str(w.message)] == [str(rec[0].message)]
    assert len(rec) == 1
    assert table.attrs["skipped"] == ["two"]  # 2 distinct rates: b is not identified
    t = table.set_index("predictor")
    assert list(table.columns[:7]) == [
        "predictor",
        "points",
        "rates",
        "rate_min",
        "D_rate_min",
        "D_rate_min_low",
        "D_rate_min_high",
    ]
    assert {"C_low", "b_high", "D0_low", "r2", "flat", "boot_kept", "boot_dropped", "notes"} <= set(table.columns)
    assert t.loc["many", "notes"] == "" and t.loc["many", "boot_kept"] + t.loc["many", "boot_dropped"] == 100
    assert t.loc["three", "rates"] == 3 and np.isnan(t.loc["three", "b_low"]) and t.loc["three", "boot_kept"] == 0
    assert "only 3 distinct rates" in t.loc["three", "notes"]
    assert t.loc["flat", "flat"] and (t.loc["flat", "C"], t.loc["flat", "b"]) == (0.0, 0.0)
    assert np.isnan(t.loc["flat", "r2"]) and t.loc["flat", "D0"] == pytest.approx(0.4, abs=1e-15)
    assert t.loc["many", "D_rate_min"] == pytest.approx(fits["many"].predict(0.0)[()], rel=1e-10)


# --------------------------------------------------------------------------- partial correlation


def test_partial_correlation_removes_a_common_cause():
    rng = np.random.default_rng(1)
    z = rng.normal(size=2000)
    df = pd.DataFrame({"x": z + rng.normal(size=2000), "y": z + rng.normal(size=2000), "z": z})
    out = partial_correlation(df, "x", "y", covariates=["z"])
    assert set(zip(out.method, out.kind)) == {
        ("pearson", "raw"),
        ("pearson", "partial"),
        ("spearman", "raw"),
        ("spearman", "partial"),
    }
    t = out.set_index(["method", "kind"])
    for m in ("pearson", "spearman"):
        assert t.loc[(m, "raw"), "r"] > 0.4
        assert t.loc[(m, "raw"), "p_value"] < 1e-10
        assert abs(t.loc[(m, "partial"), "r"]) < 0.1
        assert t.loc[(m, "partial"), "ci_low"] < 0 < t.loc[(m, "partial"), "ci_high"]
    assert t.loc[("pearson", "partial"), "covariates"] == "z"
    assert t.loc[("pearson", "raw"), "r2"] == pytest.approx(t.loc[("pearson", "raw"), "r"] ** 2)


def test_partial_correlation_matches_scipy_and_formula():
    rng = np.random.default_rng(2)
    n = 60
    z = rng.normal(size=n)
    x = 0.5 * z + rng.normal(size=n)
    y = -0.3 * z + 0.4 * x + rng.normal(size=n)
    df = pd.DataFrame({"x": x, "y": y, "z": z})
    t = partial_correlation(df, "x", "y", covariates="z").set_index(["method", "kind"])
    pr = stats.pearsonr(x, y)
    assert t.loc[("pearson", "raw"), "r"] == pytest.approx(pr.statistic, abs=1e-12)
    assert t.loc[("pearson", "raw"), "p_value"] == pytest.approx(pr.pvalue, rel=1e-8)
    sr = stats.spearmanr(x, y)
    assert t.loc[("spearman", "raw"), "r"] == pytest.approx(sr.statistic, abs=1e-12)
    assert t.loc[("spearman", "raw"), "p_value"] == pytest.approx(sr.pvalue, rel=1e-8)

    def formula(a, b, c):
        rab, rac, rbc = np.corrcoef(a, b)[0, 1], np.corrcoef(a, c)[0, 1], np.corrcoef(b, c)[0, 1]
        return (rab - rac * rbc) / np.sqrt((1 - rac**2) * (1 - rbc**2))

    r_p = formula(x, y, z)
    assert t.loc[("pearson", "partial"), "r"] == pytest.approx(r_p, abs=1e-12)
    rk = [stats.rankdata(v) for v in (x, y, z)]
    assert t.loc[("spearman", "partial"), "r"] == pytest.approx(formula(*rk), abs=1e-12)
    # Fisher z interval with n - 3 - k and t-test p-value with n - 2 - k degrees of freedom
    half = stats.norm.ppf(0.975) / np.sqrt(n - 3 - 1)
    assert t.loc[("pearson", "partial"), "ci_low"] == pytest.approx(np.tanh(np.arctanh(r_p) - half))
    assert t.loc[("pearson", "partial"), "ci_high"] == pytest.approx(np.tanh(np.arctanh(r_p) + half))
    tt = r_p * np.sqrt((n - 3) / (1 - r_p**2))
    assert t.loc[("pearson", "partial"), "p_value"] == pytest.approx(2 * stats.t.sf(abs(tt), n - 3))


def test_partial_correlation_bootstrap_nan_and_errors():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(size=50), "z": rng.normal(size=50)})
    df["y"] = df.x + rng.normal(size=50)
    df.loc[[0, 1, 2], "x"] = np.nan
    with pytest.warns(UserWarning, match="dropped 3 of 50"):
        out = partial_correlation(df, "x", "y", method="pearson", n_boot=200, seed=4)
    assert list(out.kind) == ["raw"] and out.n.iloc[0] == 47 and out.ci_method.iloc[0] == "bootstrap"
    assert out.ci_low.iloc[0] < out.r.iloc[0] < out.ci_high.iloc[0]
    with pytest.warns(UserWarning):
        again = partial_correlation(df, "x", "y", method="pearson", n_boot=200, seed=4)
    pd.testing.assert_frame_equal(out, again)
    small = df.dropna().iloc[:4]
    with pytest.raises(ValueError, match="need at least 5"):
        partial_correlation(small, "x", "y", covariates=["z"])
    with pytest.raises(ValueError, match="unknown method"):
        partial_correlation(df.dropna(), "x", "y", method="kendall")
    const = df.dropna().assign(c=1.0)
    with pytest.raises(ValueError, match="constant"):
        partial_correlation(const, "x", "c")
    collinear = df.dropna().assign(w=lambda d: 2 * d.x + 1)
    with pytest.raises(ValueError, match="linear function of the covariates"):
        partial_correlation(collinear, "x", "y", covariates=["w"], method="pearson")


# --------------------------------------------------------------------------- meta-analysis


def test_meta_analysis_recovers_mean_and_tau2():
    rng = np.random.default_rng(5)
    k, se = 40, 0.05
    true = rng.normal(0.3, 0.1, k)
    eff = true + rng.normal(0, se, k)
    tab = pd.DataFrame({"label": [f"d{i}" for i in range(k)], "effect": eff, "se": se})
    res = meta_analysis(tab)
    assert isinstance(res, MetaAnalysisResult) and res.k == k and res.method == "dl"
    assert abs(res.estimate - 0.3) < 0.05
    assert res.ci_low < res.estimate < res.ci_high
    assert res.ci_high - res.ci_low == pytest.approx(2 * stats.norm.ppf(0.975) * res.se)
    assert 0.01 / 3 < res.tau2 < 0.01 * 3
    assert 0.5 < res.i2 < 1 and res.q_p_value < 1e-6
    # DerSimonian-Laird by hand
    w = np.full(k, 1 / se**2)
    mu_fe = np.sum(w * eff) / w.sum()
    q = np.sum(w * (eff - mu_fe) ** 2)
    tau2 = max(0.0, (q - (k - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    assert res.q == pytest.approx(q) and res.tau2 == pytest.approx(tau2)
    assert res.fixed_estimate == pytest.approx(mu_fe)
    w_re = 1 / (se**2 + tau2)
    assert res.estimate == pytest.approx(np.sum(w_re * eff) / (w_re * k))
    assert res.table["weight"].sum() == pytest.approx(1.0)
    assert list(res.table.columns[:6]) == ["label", "effect", "se", "ci_low", "ci_high", "weight"]
    # Paule-Mandel: the generalised Q at tau2 equals k - 1
    pm = meta_analysis(tab, method="pm")
    wp = np.full(k, 1 / (se**2 + pm.tau2))
    mu = np.sum(wp * eff) / wp.sum()
    assert np.sum(wp * (eff - mu) ** 2) == pytest.approx(k - 1, abs=1e-6)
    assert abs(pm.estimate - 0.3) < 0.05
    reml = meta_analysis(tab, method="reml")
    assert 0.01 / 3 < reml.tau2 < 0.01 * 3 and abs(reml.estimate - 0.3) < 0.05 and reml.tau2_se > 0
    # equal variances: the REML estimate solves sum((y - mean)^2) / (k - 1) = se^2 + tau^2 exactly
    assert reml.tau2 == pytest.approx(np.var(eff, ddof=1) - se**2, rel=1e-8)


def test_meta_analysis_homogeneous_and_input_forms():
    ses = np.array([0.05, 0.1, 0.2])
    res = meta_analysis([("a", 0.2, 0.05), ("b", 0.2, 0.1), ("c", 0.2, 0.2)])
    assert res.tau2 == 0 and res.i2 == 0
    assert res.estimate == pytest.approx(0.2, abs=1e-15)
    # spread smaller than the sampling error: tau2 truncated at 0, estimate = inverse-variance mean
    eff = np.array([0.20, 0.21, 0.19])
    for method in ("dl", "pm", "reml"):
        r = meta_analysis({"a": (eff[0], ses[0]), "b": (eff[1], ses[1]), "c": (eff[2], ses[2])}, method=method)
        assert r.tau2 == 0 and r.i2 == 0 and r.i2_tau2 == 0 and r.i2_q == 0 and r.h2 == 1
        w = 1 / ses**2
        assert r.estimate == pytest.approx(np.sum(w * eff) / w.sum(), abs=1e-14)
        assert r.estimate == pytest.approx(r.fixed_estimate, abs=1e-14)
        assert r.se == pytest.approx(np.sqrt(1 / w.sum()))
    as_df = meta_analysis(
        pd.DataFrame({"study": ["a", "b", "c"], "d": eff, "s": ses}), effect="d", se="s", label="study"
    )
    as_list = meta_analysis(list(zip("abc", eff, ses)))
    assert as_df.to_dict() == pytest.approx(as_list.to_dict(), nan_ok=True)
    assert "tau^2" in str(as_df)


@pytest.mark.parametrize(
    "effects, kw, match",
    [
        ([("a", 0.1, 0.1)], {}, "at least 2"),
        ([("a", 0.1, 0.1), ("b", 0.2, 0.0)], {}, "> 0"),
        ([("a", 0.1, 0.1), ("b", 0.2, -0.1)], {}, "> 0"),
        ([("a", 0.1, 0.1), ("b", 0.2, np.nan)], {}, "finite"),
        ([("a", 0.1, 0.1), ("b", np.inf, 0.1)], {}, "effects must be finite"),
        ([("a", 0.1, 0.1), ("a", 0.2, 0.1)], {}, "duplicate"),
        ([("a", 0.1, 0.1), ("b", 0.2, 0.1)], {"method": "ml"}, "method"),
        ("abc", {}, "effects must be"),
    ],
)
def test_meta_analysis_bad_input(effects, kw, match):
    with pytest.raises(ValueError, match=match):
        meta_analysis(effects, **kw)


# dat.bcg of R's metafor (Colditz et al. 1994, JAMA 271:698): BCG vaccine trials,
# (trial, tpos, tneg, cpos, cneg) = tuberculosis cases / non-cases, vaccinated and control arms
BCG = [
    ("Aronson 1948", 4, 119, 11, 128),
    ("Ferguson & Simes 1949", 6, 300, 29, 274),
    ("Rosenthal et al 1960", 3, 228, 11, 209),
    ("Hart & Sutherland 1977", 62, 13536, 248, 12619),
    ("Frimodt-Moller et al 1973", 33, 5036, 47, 5761),
    ("Stein & Aronson 1953", 180, 1361, 372, 1079),
    ("Vandiviere et al 1973", 8, 2537, 10, 619),
    ("TPT Madras 1980", 505, 87886, 499, 87892),
    ("Coetzee & Berjak 1968", 29, 7470, 45, 7232),
    ("Rosenthal et al 1961", 17, 1699, 65, 1600),
    ("Comstock et al 1974", 186, 50448, 141, 27197),
    ("Comstock & Webster 1969", 5, 2493, 3, 2338),
    ("Comstock et al 1976", 27, 16886, 29, 17825),
]


def _bcg_log_rr() -> list[tuple[str, float, float]]:
    """Log risk ratios and their standard errors, as metafor's escalc(measure="RR")."""
    out = []
    for trial, tpos, tneg, cpos, cneg in BCG:
        yi = np.log(tpos / (tpos + tneg)) - np.log(cpos / (cpos + cneg))
        vi = 1 / tpos - 1 / (tpos + tneg) + 1 / cpos - 1 / (cpos + cneg)
        out.append((trial, yi, np.sqrt(vi)))
    return out


def test_meta_analysis_matches_metafor_on_dat_bcg():
    """metafor's documented rma() output on dat.bcg, log risk ratios, to its printed precision."""
    studies = _bcg_log_rr()
    assert studies[0][1] == pytest.approx(-0.8893, abs=5e-5)  # escalc: yi of Aronson 1948
    assert studies[0][2] ** 2 == pytest.approx(0.3256, abs=5e-5)  # and its vi
    reml = meta_analysis(studies, method="reml")
    # rma(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg, measure="RR")  (method="REML")
    assert reml.tau2 == pytest.approx(0.3132, abs=5e-5)
    assert reml.tau2_se == pytest.approx(0.1664, abs=5e-5)
    assert reml.estimate == pytest.approx(-0.7145, abs=5e-5)
    assert reml.se == pytest.approx(0.1798, abs=5e-5)
    assert (reml.ci_low, reml.ci_high) == pytest.approx((-1.0669, -0.3622), abs=5e-5)
    assert 100 * reml.i2_tau2 == pytest.approx(92.22, abs=5e-3)
    assert reml.h2 == pytest.approx(12.86, abs=5e-3)
    assert reml.q == pytest.approx(152.2330, abs=5e-5) and reml.k == 13
    assert reml.i2 == reml.i2_tau2
    # the Q-based I^2 is the estimator-free (Q - df) / Q
    assert reml.i2_q == pytest.approx((reml.q - 12) / reml.q, rel=1e-10)
    # method="DL": tau^2 0.3088, I^2 92.12%, H^2 12.69 (tau^2-based and Q-based I^2 coincide)
    dl = meta_analysis(studies, method="dl")
    assert dl.tau2 == pytest.approx(0.3088, abs=5e-5)
    assert 100 * dl.i2_tau2 == pytest.approx(92.12, abs=5e-3) and dl.h2 == pytest.approx(12.69, abs=5e-3)
    assert dl.i2_tau2 == pytest.approx(dl.i2_q, rel=1e-10)
    # method="PM": tau^2 0.3181
    pm = meta_analysis(studies, method="pm")
    assert pm.tau2 == pytest.approx(0.3181, abs=5e-5)
    assert pm.i2_tau2 > pm.i2_q  # tau^2 above DL's: the tau^2-based I^2 is above the Q-based one
    for r in (dl, pm, reml):
        assert r.s2 == pytest.approx(
            12
            * sum(1 / s**2 for _, _, s in studies)
            / (sum(1 / s**2 for _, _, s in studies) ** 2 - sum(1 / s**4 for _, _, s in studies)),
            rel=1e-10,
        )
        assert r.i2_tau2 == pytest.approx(r.tau2 / (r.tau2 + r.s2), rel=1e-10)
        d = r.to_dict()
        assert {"i2_tau2", "i2_q", "h2", "s2", "tau2_se", "iterations"} <= set(d) and "i2" not in d


def test_meta_analysis_iterative_estimators_converge_tightly():
    studies = _bcg_log_rr()
    y = np.array([s[1] for s in studies])
    v = np.array([s[2] for s in studies]) ** 2
    pm = meta_analysis(studies, method="pm")
    # Paule-Mandel: the generalised Q equals k - 1 at the estimate (dQ/dtau^2 ~ -500 here)
    w = 1 / (v + pm.tau2)
    mu = np.sum(w * y) / w.sum()
    assert np.sum(w * (y - mu) ** 2) == pytest.approx(12, abs=1e-7)
    # statsmodels, told to converge as tightly, gives the same root
    from statsmodels.stats.meta_analysis import combine_effects

    sm = combine_effects(y, v, method_re="pm", atol=1e-13, maxiter=1000)
    assert pm.tau2 == pytest.approx(float(sm.tau2), rel=1e-8)

    # REML: the restricted likelihood is maximal at the estimate
    def neg_restricted_loglik(t):
        w = 1 / (v + t)
        mu = np.sum(w * y) / w.sum()
        return 0.5 * (np.sum(np.log(v + t)) + np.log(w.sum()) + np.sum(w * (y - mu) ** 2))

    from scipy.optimize import minimize_scalar

    best = minimize_scalar(neg_restricted_loglik, bounds=(0, 2), method="bounded", options={"xatol": 1e-10})
    reml = meta_analysis(studies, method="reml")
    assert reml.tau2 == pytest.approx(best.x, abs=1e-7)
    # tol is passed through: a loose tolerance stops earlier and further from the root
    loose = meta_analysis(studies, method="reml", tol=1e-1)
    assert loose.iterations < reml.iterations and abs(loose.tau2 - reml.tau2) > 1e-9
    with pytest.warns(RuntimeWarning, match="did not converge"):
        meta_analysis(studies, method="reml", maxiter=1)
    with pytest.raises(ValueError, match="tol"):
        meta_analysis(studies, tol=0)
    with pytest.raises(ValueError, match="maxiter"):
        meta_analysis(studies, method="pm", maxiter=0)


def test_per_group_slopes_match_ols():
    from statsmodels.regression.linear_model import OLS

    rng = np.random.default_rng(6)
    rows = []
    for ds, slope in (("hotpot", 0.05), ("finance", 0.1), ("wild", 0.0)):
        for r in range(15):
            off = rng.normal(0, 0.2)
            for s in (1e9, 3e9, 7e9):
                rows.append(
                    dict(
                        dataset=ds,
                        record_id=f"{ds}{r}",
                        compressor_params=s,
                        correct=0.4 + slope * np.log2(s) / 10 + off + rng.normal(0, 0.1),
                    )
                )
    df = pd.DataFrame(rows)
    out = per_group_slopes(df, unit=None).set_index("label")
    clus = per_group_slopes(df).set_index("label")
    assert set(out.index) == {"hotpot", "finance", "wild"}
    for ds, g in df.groupby("dataset"):
        x = np.log2(g.compressor_params.to_numpy())
        y = g.correct.to_numpy()
        coef, cov = np.polyfit(x, y, 1, cov=True)
        assert out.loc[ds, "effect"] == pytest.approx(coef[0], rel=1e-10)
        assert out.loc[ds, "se"] == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-8)
        X = np.column_stack([np.ones_like(x), x])
        fit = OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(g.record_id)[0]})
        assert clus.loc[ds, "effect"] == pytest.approx(fit.params[1], rel=1e-10)
        assert clus.loc[ds, "se"] == pytest.approx(fit.bse[1], rel=1e-8)
    assert (clus.se_type == "cluster").all() and (clus.n_units == 15).all()
    res = meta_analysis(clus.reset_index())
    assert res.k == 3
    with pytest.warns(UserWarning, match="skipped"):
        extra = pd.concat(
            [df, pd.DataFrame(dict(dataset="one", record_id=["z"], compressor_params=[1e9], correct=[1.0]))]
        )
        assert "one" not in set(per_group_slopes(extra)["label"])


# --------------------------------------------------------------------------- forest plot and imports


def test_forest_plot_draws_one_marker_per_study():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from mi_utils.plotting import forest_plot

    res = meta_analysis([(f"s{i}", 0.1 * i, 0.05 + 0.01 * i) for i in range(5)])
    fig = forest_plot(res, title="slope per doubling")
    try:
        assert isinstance(fig, Figure)
        ax = fig.axes[0]
        studies = [c for c in ax.collections if c.get_gid() == "studies"]
        assert len(studies) == 1 and len(studies[0].get_offsets()) == 5
        sizes = studies[0].get_sizes()
        assert np.argmax(sizes) == np.argmax(res.table["weight"].to_numpy())
        assert len([p for p in ax.patches if p.get_gid() == "pooled"]) == 1
        assert ax.get_xlabel() == "effect"
        assert "I^2" in ax.get_title() and "slope per doubling" in ax.get_title()
        assert any(line.get_linestyle() == "--" and np.allclose(line.get_xdata(), 0) for line in ax.lines)
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="meta_analysis"):
        forest_plot(object())


def test_fit_rate_distortion_groups_fits_each_group_and_skips_thin_ones():
    from mi_utils.analysis import fit_rate_distortion_groups

    rng = np.random.default_rng(0)
    rates = np.linspace(0, 3, 12)
    frames = [
        pd.DataFrame(
            {
                "predictor": p,
                "mi_per_token_bits": rates,
                "distortion": 0.6 * np.exp(-1.5 * rates) + d0 + rng.normal(0, 0.005, rates.size),
            }
        )
        for p, d0 in (("small", 0.3), ("large", 0.1))
    ]
    frames.append(pd.DataFrame({"predictor": "thin", "mi_per_token_bits": [0.1, 0.2], "distortion": [0.5, 0.4]}))
    fits, table = fit_rate_distortion_groups(pd.concat(frames), "predictor", n_boot=50, seed=0)
    assert set(fits) == {"small", "large"} and table.attrs["skipped"] == ["thin"]
    t = table.set_index("predictor")
    assert t.loc["small", "D0"] == pytest.approx(0.3, abs=0.03) and t.loc["large", "D0"] == pytest.approx(0.1, abs=0.03)
    assert {"D0_low", "D0_high", "r2", "points"} <= set(table.columns)
    with pytest.raises(ValueError, match="no group"):
        fit_rate_distortion_groups(frames[-1], "predictor")
    with pytest.raises(ValueError, match="not in the table"):
        fit_rate_distortion_groups(frames[0], "scorer")


def test_length_baseline_partials_length_out():
    from mi_utils.analysis import length_baseline

    rng = np.random.default_rng(1)
    length = rng.normal(size=400)
    mi = length + rng.normal(scale=0.5, size=400)
    acc = length + rng.normal(scale=0.5, size=400)  # accuracy depends on length only
    out = length_baseline(
        pd.DataFrame({"summary_tokens": length, "mi_bits": mi, "mi_per_token_bits": mi / 2, "accuracy": acc})
    )
    mi_rows = out[(out["x"] == "mi_bits") & (out["method"] == "pearson")].set_index("kind")
    assert mi_rows.loc["raw", "r"] > 0.6 and abs(mi_rows.loc["partial", "r"]) < 0.15
    assert out["question"].iloc[0] == "length only"


# ============================================================== compressor vs predictor scaling
def _ladder_rows() -> pd.DataFrame:
    """Two compressor and two predictor sizes of one family, four records; correctness typed by hand."""
    correct = {  # (compressor, predictor) -> records r0..r3
        (1, 1): [0, 0, 1, 0],
        (3, 1): [1, 1, 1, 0],
        (1, 3): [0, 1, 1, 0],
        (3, 3): [1, 1, 1, 1],
    }
    rows = [
        {
            "dataset": "d",
            "record_id": f"r{i}",
            "compressor_family": "fam",
            "compressor_params": c,
            "predictor_params": p,
            "correct": bool(v),
        }
        for (c, p), vals in correct.items()
        for i, v in enumerate(vals)
    ]
    rows.append(
        {
            "dataset": "d",
            "record_id": "r0",
            "compressor_family": "other",
            "compressor_params": 9,
            "predictor_params": 1,
            "correct": True,
        }
    )
    return pd.DataFrame(rows)


def test_scaling_gains_are_paired_differences_over_records():
    from mi_utils.analysis import scaling_gains

    g = scaling_gains(_ladder_rows(), family="fam", n_boot=2000, seed=1).set_index(["axis", "fixed"])
    # compressor 1 -> 3 with predictor 1: 0.25 -> 0.75; with predictor 3: 0.5 -> 1.0
    assert g.loc[("compressor", 1), ["mean_from", "mean_to", "change"]].tolist() == [0.25, 0.75, 0.5]
    assert g.loc[("compressor", 3), "change"] == 0.5 and g.loc[("compressor", 3), "relative"] == 1.0
    # predictor 1 -> 3 with compressor 1: 0.25 -> 0.5; with compressor 3: 0.75 -> 1.0
    assert g.loc[("predictor", 1), "change"] == 0.25 and g.loc[("predictor", 3), "change"] == 0.25
    assert (g["n_records"] == 4).all()
    # paired per-record differences of compressor 1 -> 3 at predictor 1 are [1, 1, 0, 0]: the bootstrap
    # mean lies in [0, 1] and its interval covers the observed 0.5
    lo, hi = g.loc[("compressor", 1), ["ci_low", "ci_high"]]
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    # predictor 1 -> 3 at compressor 3: differences [0, 0, 0, 1]
    assert g.loc[("predictor", 3), "ci_low"] == 0.0


def test_scaling_gains_refuses_what_cannot_scale():
    from mi_utils.analysis import scaling_gains

    with pytest.raises(ValueError, match="no rows of family 'nope'; families in the table: \\['fam', 'other'\\]"):
        scaling_gains(_ladder_rows(), family="nope")
    with pytest.raises(ValueError, match="one compressor size and one predictor size"):
        scaling_gains(_ladder_rows(), family="other")
    no_ci = scaling_gains(_ladder_rows(), family="fam", n_boot=0)
    assert no_ci["ci_low"].isna().all() and len(no_ci) == 4


def test_compressor_or_predictor_is_the_swapped_pair():
    from mi_utils.analysis import compressor_or_predictor, scaling_gains

    rows = _ladder_rows()
    res = compressor_or_predictor(rows, family="fam", n_boot=500)
    # large compressor + small predictor: [1,1,1,0] = 0.75; small compressor + large predictor: [0,1,1,0] = 0.5
    assert (res["large_compressor"], res["large_predictor"], res["difference"]) == (0.75, 0.5, 0.25)
    assert res["sizes"] == (1, 3, 1, 3) and res["n_records"] == 4 and 0.0 <= res["ci_low"] <= res["ci_high"]
    # it equals the mean compressor-step gain minus the mean predictor-step gain
    g = scaling_gains(rows, family="fam", n_boot=0).groupby("axis")["change"].mean()
    assert res["difference"] == pytest.approx(g["compressor"] - g["predictor"], abs=1e-12)
    with pytest.raises(ValueError, match="needs two compressor and two predictor sizes"):
        compressor_or_predictor(rows, family="other")
