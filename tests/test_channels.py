"""Tests for mi_utils.channels, and the estimators checked against exact MI."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from scipy.special import logsumexp

from mi_utils.channels import GaussianChannel, SymmetricChannel, as_rng, sweep
from mi_utils.estimators import SaturationWarning, estimate_mi

FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None)


def _mean_estimates(channel, n: int, m: int, repeats: int, seed: int) -> tuple[float, float]:
    """Mean (value, upper) in nats over independent draws."""
    rng = np.random.default_rng(seed)
    values, uppers = [], []
    for _ in range(repeats):
        est = estimate_mi(channel.sample_logp(n, m, rng), unit="nats", n_boot=0, warn=False)
        values.append(est.value)
        uppers.append(est.upper)
    return float(np.mean(values)), float(np.mean(uppers))


# ------------------------------------------------------------------------------------------
# exact MI
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("K", [2, 3, 8, 50])
def test_symmetric_endpoints(K):
    assert SymmetricChannel(K, 0.0).mi() == pytest.approx(math.log(K), rel=1e-12)
    assert SymmetricChannel(K, 0.0).mi("bits") == pytest.approx(math.log2(K), rel=1e-12)
    assert SymmetricChannel(K, 1.0).mi() == pytest.approx(0.0, abs=1e-12)


@FAST
@given(st.integers(2, 20), st.floats(0.0, 1.0))
def test_symmetric_mi_matches_joint_table(K, eps):
    ch = SymmetricChannel(K, eps)
    cond = np.full((K, K), eps / K) + (1 - eps) * np.eye(K)  # p(z | x), rows x
    joint = cond / K
    pz = joint.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log(joint / (pz[None, :] / K)), 0.0)
    assert ch.mi() == pytest.approx(terms.sum(), abs=1e-10)
    # likelihood rows are normalised distributions over z
    z = np.arange(K).reshape(1, K)
    lik = np.exp(ch.log_likelihood(z, np.arange(K)))[0]  # (K z-values, K contexts)
    np.testing.assert_allclose(lik.sum(axis=0), 1.0, rtol=1e-12)


def test_symmetric_mi_decreases_with_noise():
    mis = [SymmetricChannel(6, e).mi() for e in np.linspace(0, 1, 11)]
    assert all(a > b for a, b in zip(mis, mis[1:]))


@pytest.mark.parametrize("snr, dim", [(0.5, 1), (3.0, 1), (1.0, 3)])
def test_gaussian_mi_matches_monte_carlo(snr, dim):
    ch = GaussianChannel(snr, dim)
    rng = np.random.default_rng(0)
    n = 200_000
    x = ch.sample_contexts(n, rng)
    z = ch.sample_summaries(x, 1, rng)[:, 0, :]
    var = 1.0 / snr
    log_cond = stats.norm.logpdf(z, loc=x, scale=math.sqrt(var)).sum(axis=1)
    log_marg = stats.norm.logpdf(z, scale=math.sqrt(1.0 + var)).sum(axis=1)
    pmi = log_cond - log_marg
    se = pmi.std() / math.sqrt(n)
    assert ch.mi() == pytest.approx(pmi.mean(), abs=5 * se)
    assert ch.mi() == pytest.approx(0.5 * dim * math.log1p(snr), rel=1e-12)


def test_gaussian_mi_matches_numeric_integration():
    snr = 2.0
    ch = GaussianChannel(snr)
    s = 1.0 / math.sqrt(snr)
    sz = math.sqrt(1.0 + 1.0 / snr)

    def h(scale: float) -> float:  # differential entropy by quadrature
        f = lambda t: -stats.norm.pdf(t, scale=scale) * stats.norm.logpdf(t, scale=scale)
        return integrate.quad(f, -12 * scale, 12 * scale)[0]

    assert ch.mi() == pytest.approx(h(sz) - h(s), abs=1e-8)  # I = h(Z) - h(Z|X)


def test_gaussian_log_likelihood_is_a_density():
    ch = GaussianChannel(1.5)
    x = np.array([[0.3]])
    val, _ = integrate.quad(lambda t: math.exp(ch.log_likelihood(np.array([[[t]]]), x)[0, 0, 0]), -20, 20)
    assert val == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("mi, dim, unit", [(0.5, 1, "nats"), (6.0, 4, "nats"), (3.0, 2, "bits")])
def test_gaussian_from_mi_roundtrip(mi, dim, unit):
    ch = GaussianChannel.from_mi(mi, dim=dim, unit=unit)
    assert ch.mi(unit) == pytest.approx(mi, rel=1e-12)
    assert ch.dim == dim


# ------------------------------------------------------------------------------------------
# sampling
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ch", [SymmetricChannel(5, 0.4), GaussianChannel(2.0, dim=3)])
def test_sample_logp_shape_and_determinism(ch):
    a = ch.sample_logp(7, 3, 42)
    b = ch.sample_logp(7, 3, np.random.default_rng(42))
    assert a.shape == (7, 3, 7) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(np.diagonal(a, axis1=0, axis2=2)).all()
    assert not np.isnan(a).any()


def test_symmetric_noiseless_off_diagonal_neg_inf():
    ch = SymmetricChannel(1000, 0.0)
    logp = ch.sample_logp(6, 2, 0)
    idx = np.arange(6)
    assert (np.diagonal(logp, axis1=0, axis2=2) == 0.0).all()
    off = logp.copy()
    off[idx, :, idx] = 0.0
    assert set(np.unique(off)) <= {0.0, -np.inf}
    est = estimate_mi(logp, n_boot=10, warn=False)  # -inf off the diagonal is legal
    assert math.isfinite(est.value)


def test_symmetric_copy_rate():
    ch = SymmetricChannel(4, 0.6)
    rng = np.random.default_rng(1)
    x = ch.sample_contexts(20_000, rng)
    z = ch.sample_summaries(x, 5, rng)
    rate = (z == x[:, None]).mean()
    assert rate == pytest.approx(ch.p_match, abs=0.01)
    assert set(np.unique(x)) == set(range(4))


def test_gaussian_log_likelihood_matches_scipy():
    ch = GaussianChannel(0.7, dim=2)
    rng = np.random.default_rng(2)
    x = ch.sample_contexts(4, rng)
    z = ch.sample_summaries(x, 3, rng)
    got = ch.log_likelihood(z, x)
    want = stats.norm.logpdf(z[:, :, None, :], loc=x[None, None], scale=ch.sigma).sum(-1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_as_rng():
    g = np.random.default_rng(0)
    assert as_rng(g) is g
    assert isinstance(as_rng(3), np.random.Generator)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SymmetricChannel(1, 0.1), "K must be an integer >= 2"),
        (lambda: SymmetricChannel(4, 1.5), r"eps must be a probability in \[0, 1\]"),
        (lambda: SymmetricChannel(4, -0.1), r"eps must be a probability"),
        (lambda: GaussianChannel(0.0), "snr must be a finite number > 0"),
        (lambda: GaussianChannel(float("inf")), "snr must be a finite number > 0"),
        (lambda: GaussianChannel(1.0, dim=0), "dim must be an integer >= 1"),
        (lambda: GaussianChannel.from_mi(0.0), "mi must be > 0"),
        (lambda: SymmetricChannel(4, 0.1).sample_logp(0, 2), "n must be an integer >= 1"),
        (lambda: SymmetricChannel(4, 0.1).sample_logp(3, 0), "m must be an integer >= 1"),
        (lambda: sweep(GaussianChannel(1.0), [1, 4]), "each N must be an integer >= 2"),
    ],
)
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ------------------------------------------------------------------------------------------
# estimators against the truth
# ------------------------------------------------------------------------------------------

BOUND_CHANNELS = [
    SymmetricChannel(8, 0.5),  # I = 0.54 nats
    SymmetricChannel(4, 0.3),  # I = 0.61 nats
    GaussianChannel(1.0),  # I = 0.35 nats
    GaussianChannel(3.0),  # I = 0.69 nats
]


@pytest.mark.parametrize("ch", BOUND_CHANNELS, ids=lambda c: c.label)
@pytest.mark.parametrize("n", [8, 16])
def test_lower_le_truth_le_upper(ch, n):
    # True MI well below log N (2.08 / 2.77 nats); 200 repetitions average out the noise.
    value, upper = _mean_estimates(ch, n=n, m=4, repeats=200, seed=n)
    truth = ch.mi()
    assert value <= truth <= upper


@pytest.mark.parametrize("ch", [SymmetricChannel(4, 0.3), GaussianChannel(3.0)], ids=lambda c: c.label)
def test_value_approaches_truth_as_n_grows(ch):
    truth = ch.mi()
    small, _ = _mean_estimates(ch, n=8, m=4, repeats=100, seed=11)
    large, large_upper = _mean_estimates(ch, n=256, m=4, repeats=20, seed=12)
    assert abs(truth - large) < abs(truth - small)
    assert abs(truth - large) < 0.05  # nats; truth ~0.6-0.7, log 256 = 5.5
    assert abs(large_upper - truth) < 0.05  # the sandwich closes too


def test_saturation_when_truth_exceeds_log_n():
    ch = GaussianChannel.from_mi(8.0, dim=4)  # 8 nats >> log 16 = 2.77 nats
    with pytest.warns(SaturationWarning):
        est = estimate_mi(ch.sample_logp(16, 4, 0), unit="nats", n_boot=0)
    assert est.value <= est.ceiling
    assert est.value < ch.mi() - 4.0  # badly underestimates: it is capped
    assert est.saturation > 0.9


def test_no_saturation_warning_in_low_mi_regime():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate_mi(GaussianChannel(1.0).sample_logp(64, 4, 0), n_boot=50)


def test_bootstrap_interval_covers_truth_usually():
    # Nominal 90% percentile interval; with N=128 its bias is small. Check rough coverage.
    ch = GaussianChannel(1.0)
    rng = np.random.default_rng(5)
    hits = 0
    trials = 40
    for t in range(trials):
        est = estimate_mi(ch.sample_logp(128, 4, rng), unit="nats", n_boot=300, ci_level=0.9, seed=t)
        hits += est.ci[0] <= ch.mi() <= est.ci[1]
    assert hits >= 0.7 * trials


# ------------------------------------------------------------------------------------------
# sweep
# ------------------------------------------------------------------------------------------


def test_sweep_rows_and_determinism():
    ch = SymmetricChannel(4, 0.3)
    rows = sweep(ch, [4, 8], repeats=3, n_samples=2, seed=1, unit="bits")
    assert len(rows) == 6
    assert [r["n"] for r in rows] == [4, 4, 4, 8, 8, 8]
    r = rows[0]
    for key in ("channel", "n", "repeat", "true_mi_bits", "log_n_bits", "mi_bits", "mi_upper_bits", "mi_saturation"):
        assert key in r
    assert r["true_mi_bits"] == pytest.approx(ch.mi("bits"))
    assert r["log_n_bits"] == pytest.approx(2.0)
    assert rows == sweep(ch, [4, 8], repeats=3, n_samples=2, seed=1, unit="bits")
    with_ci = sweep(ch, [4], repeats=2, n_samples=2, seed=1, n_boot=20)
    assert all(r["mi_ci_low_bits"] <= r["mi_bits"] <= r["mi_ci_high_bits"] for r in with_ci)


def test_sweep_suppresses_saturation_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = sweep(GaussianChannel.from_mi(8.0, dim=4), [8], repeats=2, n_samples=2, seed=0)
    assert all(r["mi_saturation"] > 0.9 for r in rows)


def test_logsumexp_sanity_against_channel_marginal():
    # For the symmetric channel p(z) = 1/K; the estimator's denominator approximates it.
    ch = SymmetricChannel(3, 0.5)
    logp = ch.sample_logp(2000, 1, 3)
    log_marg = logsumexp(logp, axis=2) - math.log(2000)
    assert np.exp(log_marg).mean() == pytest.approx(1 / 3, abs=0.01)
