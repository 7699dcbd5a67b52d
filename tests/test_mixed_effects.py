"""mixed_effects' maximum-likelihood fit: agreement with references, bad input, interval coverage.

The fast tests check the fit against references whose answer is known: the plain logistic GLM
(statsmodels) where the question SD is exactly 0, and a brute-force marginal likelihood
(trapezoid rule on a fine grid, no Gauss-Hermite) whose maximum, and curvature there, the fit
must reproduce. The slow test simulates the model the function is used on and counts how often
the 95% intervals cover the true fixed effects.
"""

from __future__ import annotations

import itertools
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from mi_utils.analysis.mixed import mixed_effects
from mi_utils.analysis.simulate import SIMULATION_DEFAULTS, simulate_grid

FAMILY = "compressor_family"
FACTORS = (FAMILY, "compressor_params", "predictor_params")


def _identical_questions(n_questions: int = 30) -> pd.DataFrame:
    """Every question has the same answers on the same 36 configurations.

    No question differs from another, so the ML question SD is exactly 0 (a mixture over
    intercept shifts cannot beat the best single intercept) and the fit is the plain GLM.
    """
    rng = np.random.default_rng(11)
    configs = list(itertools.product(["a", "b", "c"], [1e9, 2e9, 4e9, 8e9], [1e9, 8e9, 70e9]))
    fam = {"a": 0.0, "b": -0.8, "c": 0.5}
    eta = np.array([0.2 + fam[f] + 0.3 * np.log2(s / 1e9) + 0.1 * np.log2(p / 1e9) for f, s, p in configs])
    y = rng.random(len(configs)) < expit(eta)
    rows = [
        {"record_id": f"q{q}", "dataset": "d", FAMILY: f, "compressor_params": s, "predictor_params": p, "correct": c}
        for q in range(n_questions)
        for (f, s, p), c in zip(configs, y)
    ]
    df = pd.DataFrame(rows)
    assert df.groupby(FAMILY)["correct"].nunique().min() == 2  # no separation by family
    return df


def test_zero_question_sd_agrees_with_logistic_glm():
    import statsmodels.api as sm

    df = _identical_questions()
    with pytest.warns(UserWarning, match="boundary"):
        res = mixed_effects(df, factors=FACTORS, groups=("record_id",), cross_check=False, variational=False)
    assert res.boundary and res.component_sd("question") == 0.0
    assert res.fixed["interval"].eq("wald95_ml_boundary").all() and "boundary" in res.interval

    fam = df[FAMILY].to_numpy()
    X = np.column_stack(
        [
            np.ones(len(df)),
            (fam == "b").astype(float),
            (fam == "c").astype(float),
            np.log2(df["compressor_params"] / 1e9),
            np.log2(df["predictor_params"] / 1e9),
        ]
    )
    glm = sm.GLM(df["correct"].astype(float).to_numpy(), X, family=sm.families.Binomial()).fit(tol=1e-12)
    se = np.asarray(glm.bse)
    # agreement to 1e-3 of a standard error: far below the sampling noise, far above rounding
    np.testing.assert_array_less(np.abs(res.fixed["estimate"].to_numpy() - glm.params), 1e-3 * se)
    np.testing.assert_array_less(np.abs(res.fixed["se"].to_numpy() - se), 1e-3 * se)
    assert res.loglik == pytest.approx(glm.llf, rel=1e-9)


def _small_clustered(seed: int = 3, n_questions: int = 25, per: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    q = np.repeat(np.arange(n_questions), per)
    dose = rng.choice([1.0, 2.0, 4.0, 8.0], size=q.size)
    arm = rng.choice(["ctl", "trt"], size=q.size)
    u = rng.normal(0.0, 1.0, n_questions)
    eta = -0.3 + 0.4 * np.log2(dose) + 0.7 * (arm == "trt") + u[q]
    y = rng.random(q.size) < expit(eta)
    return pd.DataFrame({"record_id": [f"q{i}" for i in q], "dose": dose, "arm": arm, "correct": y})


def _brute_loglik(theta: np.ndarray, y: np.ndarray, X: np.ndarray, q: np.ndarray) -> float:
    """Marginal log-likelihood by the trapezoid rule on z in [-9, 9] (2001 points)."""
    beta, sigma = theta[:-1], theta[-1]
    z = np.linspace(-9.0, 9.0, 2001)
    eta = (X @ beta)[:, None] + sigma * z[None, :]
    ll_rows = y[:, None] * eta - np.logaddexp(0.0, eta)
    per_cluster = (q[None, :] == np.arange(q.max() + 1)[:, None]).astype(float) @ ll_rows
    log_f = per_cluster - 0.5 * z**2 - 0.5 * np.log(2 * np.pi)
    top = log_f.max(axis=1, keepdims=True)
    return float(np.sum(top[:, 0] + np.log(np.trapezoid(np.exp(log_f - top), z, axis=1))))


def test_ml_fit_is_the_maximum_of_a_brute_force_likelihood():
    df = _small_clustered()
    res = mixed_effects(df, factors=("dose", "arm"), groups=("record_id",), cross_check=False, variational=False)
    assert not res.boundary
    y = df["correct"].astype(float).to_numpy()
    X = np.column_stack([np.ones(len(df)), np.log2(df["dose"]), (df["arm"] == "trt").astype(float)])
    q = pd.factorize(df["record_id"], sort=True)[0]
    theta = np.concatenate([res.fixed["estimate"].to_numpy(), [res.component_sd("question")]])
    f = lambda t: _brute_loglik(t, y, X, q)
    # the same likelihood (11-node adaptive quadrature against a 2001-point grid)
    assert res.loglik == pytest.approx(f(theta), abs=1e-5)
    # its maximum and curvature: numerical gradient and Hessian of the brute-force likelihood
    k, h = theta.size, 1e-3
    eye = np.eye(k) * h
    grad = np.array([(f(theta + e) - f(theta - e)) / (2 * h) for e in eye])
    hess = np.array(
        [
            [(f(theta + a + b) - f(theta + a - b) - f(theta - a + b) + f(theta - a - b)) / (4 * h * h) for b in eye]
            for a in eye
        ]
    )
    cov = np.linalg.inv(-hess)
    se_ref = np.sqrt(np.diag(cov))
    # the Newton step to the brute-force maximum is under 1e-3 of a standard error
    np.testing.assert_array_less(np.abs(cov @ grad), 1e-3 * se_ref)
    np.testing.assert_allclose(res.fixed["se"].to_numpy(), se_ref[:-1], rtol=1e-3)
    sd_row = res.variance_components.query("method == 'ml'").iloc[0]
    assert sd_row["ci_low"] < res.component_sd("question") < sd_row["ci_high"]


def test_result_says_which_interval():
    df = _small_clustered()
    res = mixed_effects(df, factors=("dose", "arm"), groups=("record_id",), cross_check=False)
    fixed = res.fixed
    assert list(fixed.columns[:5]) == ["term", "estimate", "sd", "ci_low", "ci_high"]
    assert {"se", "z", "p_value", "interval", "vb_estimate", "vb_sd", "vb_ci_low", "vb_ci_high"} <= set(fixed)
    assert fixed["interval"].eq("wald95_ml").all()
    assert fixed.attrs["interval"] == res.interval and res.interval.startswith("95% Wald interval")
    np.testing.assert_array_equal(fixed["sd"], fixed["se"])  # deprecated alias
    np.testing.assert_allclose(fixed["ci_high"] - fixed["estimate"], 1.959963984540054 * fixed["se"])
    assert "maximum likelihood" in res.method and "fit_vb" in res.vb_method
    assert sorted(res.variance_components["method"]) == ["bayes_vb", "ml"]


def test_bad_input_is_named_with_its_fix():
    df = _small_clustered()
    kw = {"factors": ("dose", "arm"), "groups": ("record_id",), "cross_check": False, "variational": False}
    with pytest.raises(ValueError, match="single question.*more questions"):
        mixed_effects(df[df["record_id"] == "q0"], **kw)
    bad = df.copy()
    bad.loc[bad.index[3], "dose"] = np.nan
    with pytest.raises(ValueError, match="'dose' is missing in 1 of .*filter"):
        mixed_effects(bad, **kw)
    bad = df.copy()
    bad.loc[bad.index[3], "record_id"] = None
    with pytest.raises(ValueError, match="grouping column 'record_id' is missing.*filter"):
        mixed_effects(bad, **kw)
    with pytest.raises(ValueError, match="both outcomes"):
        mixed_effects(df.assign(correct=True), **kw)
    bad = df.copy()
    bad.loc[bad["arm"] == "trt", "correct"] = True
    with pytest.raises(ValueError, match="separation.*drop those rows or merge"):
        mixed_effects(bad, **kw)
    agree = df.copy()  # every question's answers agree: the question SD runs off to infinity
    agree["correct"] = agree["record_id"].str[1:].astype(int) % 2 == 0
    with pytest.raises(ValueError, match="maximum-likelihood fit failed.*answers all agree"):
        mixed_effects(agree, **kw)
    two = df.assign(dataset=np.where(df["arm"] == "trt", "x", "y"))
    with pytest.raises(ValueError, match="collinear with the factors"):
        mixed_effects(two, factors=("dose", "arm"), cross_check=False, variational=False)
    with pytest.warns(UserWarning, match="only 6 questions"):
        mixed_effects(df[df["record_id"].isin([f"q{i}" for i in range(6)])], **kw)


def test_dataset_is_a_sum_to_zero_fixed_effect():
    df = simulate_grid(2, link="glm", n_questions=25, predictors=["llama-1b", "llama-405b"])
    res = mixed_effects(df, reference={FAMILY: "qwen2.5"}, cross_check=False, variational=False)
    eff = res.dataset_effects
    assert eff["term"].tolist() == ["dataset[S.financebench]", "dataset[S.longhealth]"]
    assert eff["estimate"].sum() == pytest.approx(0.0, abs=1e-12)
    assert eff["se"].iloc[0] == pytest.approx(eff["se"].iloc[1])
    assert res.n_groups == {"question": 50, "dataset": 2}


# ------------------------------------------------------------------------------ coverage
COVERAGE_REPS = 300


@pytest.mark.slow
def test_wald_intervals_cover_the_true_fixed_effects():
    """95% intervals of every fixed effect cover the truth >= 90% of the time.

    300 tables from the simulator's exact logistic mixed model (``link="glm"``): 2 data sets x
    60 questions (question SD 1, no data-set effect, so the sum-to-zero intercept is ``beta0``),
    10 compressors of 3 families x 2 predictors: 2400 answers, 120 questions per table. Under
    90% in 300 replications has probability 1e-4 for an interval whose true coverage is 95%,
    0.02 at 93% (Wald intervals of a GLMM's intercept run slightly short with ~100 clusters).
    """
    p = SIMULATION_DEFAULTS
    truth = {
        "Intercept": p["beta0"],
        f"{FAMILY}[T.llama3]": p["beta_family"]["llama3"],
        f"{FAMILY}[T.gemma3]": p["beta_family"]["gemma3"],
        "log2(compressor_params / 1e9)": p["beta_csize"],
        "log2(predictor_params / 1e9)": p["beta_psize"],
    }
    covered = dict.fromkeys(truth, 0)
    start = time.perf_counter()
    for rep in range(COVERAGE_REPS):
        df = simulate_grid(
            1000 + rep, link="glm", sd_question=1.0, sd_dataset=0.0, predictors=["llama-1b", "llama-405b"]
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no boundary fit, no warning of any kind
            res = mixed_effects(
                df, factors=FACTORS, reference={FAMILY: "qwen2.5"}, cross_check=False, variational=False
            )
        fixed = res.fixed.set_index("term")
        for term, value in truth.items():
            covered[term] += bool(fixed.loc[term, "ci_low"] <= value <= fixed.loc[term, "ci_high"])
    coverage = {term: c / COVERAGE_REPS for term, c in covered.items()}
    print(f"\ncoverage of 95% Wald intervals over {COVERAGE_REPS} tables ({time.perf_counter() - start:.1f} s):")
    for term, c in coverage.items():
        print(f"  {term:32s} {c:.3f}")
    assert all(c >= 0.90 for c in coverage.values()), coverage
