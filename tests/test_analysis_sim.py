"""Simulated grid, factor importance, mixed effects and the paper's numbers (mi_utils.analysis).

Recovery checks: the simulator's parameters are known, so the fits must find them within the
stated tolerances. Everything here is numpy / pandas / statsmodels only and fast.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mi_utils.analysis.factors import MixedEffectsResult, mixed_effects, rank_factors
from mi_utils.analysis.simulate import ROW_COLUMNS, SIMULATION_DEFAULTS, simulate_grid
from mi_utils.analysis.tables import load_results, paper_reported

REPO = Path(__file__).resolve().parents[1]
FAMILY = "compressor_family"
REF = {FAMILY: "qwen2.5"}


def _ratio(df: pd.DataFrame, col: str, num: str, den: str, by: str = "compressor") -> float:
    means = df.groupby(by)[col].mean()
    return float(means[num] / means[den])


# ------------------------------------------------------------------------------ simulate_grid
def test_simulate_deterministic_and_seeded():
    a = simulate_grid(0, n_questions=5)
    b = simulate_grid(0, n_questions=5)
    pd.testing.assert_frame_equal(a, b)
    c = simulate_grid(1, n_questions=5)
    assert not np.array_equal(a["correct"].to_numpy(), c["correct"].to_numpy())
    assert not np.allclose(a["summary_tokens"], c["summary_tokens"])


def test_simulate_columns_and_invariants():
    df = simulate_grid(3, n_questions=8)
    assert tuple(df.columns) == ROW_COLUMNS
    assert len(df) == 2 * 10 * 4 * 8
    assert df["simulated"].map(lambda v: v is True or v is np.True_).all()
    assert (df["run"] == "simulated").all() and (df["compressor_kind"] == "lm").all()
    assert df["sentences"].map(lambda v: v is None).all()
    ceiling = math.log2(100)
    assert np.allclose(df["mi_ceiling_bits"], ceiling)
    assert (df["mi_bits"] <= ceiling + 1e-12).all() and (df["mi_bits"] >= 0).all()
    assert (df["mi_context_bits"] <= ceiling + 1e-9).all()
    assert df["correct"].dtype == bool
    assert set(df["compressor_family"]) == {"qwen2.5", "llama3", "gemma3"}
    # mi_per_token_bits = mi_bits / mean summary_tokens of the configuration; the record
    # contributions average to mi_bits
    keys = ["dataset", "compressor", "predictor"]
    g = df.groupby(keys).agg(
        mi=("mi_bits", "first"),
        rate=("mi_per_token_bits", "first"),
        tok=("summary_tokens", "mean"),
        ctx=("mi_context_bits", "mean"),
    )
    assert np.allclose(g["rate"], g["mi"] / g["tok"])
    assert np.allclose(g["ctx"], g["mi"])
    assert df.groupby(keys)["mi_bits"].nunique().eq(1).all()
    # FLOPs: 2 * params * tokens * (1 + overhead)
    expected = 2 * df["compressor_params"] * df["summary_tokens"] * (1 + SIMULATION_DEFAULTS["flops_overhead"])
    assert np.allclose(df["flops_compressor"], expected)
    assert (df["cost_usd"] == 0).all()
    # usable information increases with accuracy (over configurations)
    cfg = df.groupby(keys).agg(acc=("correct", "mean"), use=("usable_info_bits", "mean"))
    assert cfg["acc"].corr(cfg["use"], method="spearman") > 0.8
    # question ids unique within a data set, shared across compressors and predictors
    assert df.groupby(["dataset", "compressor", "predictor"])["record_id"].nunique().eq(8).all()


def test_simulate_grid_matches_paper_grid_yaml():
    cfg = yaml.safe_load((REPO / "configs" / "paper_grid.yaml").read_text())
    yaml_compressors = {c["model"] for c in cfg["compressors"] if "model" in c}
    yaml_predictors = {p["name"]: p["model"] for p in cfg["predictors"] if p.get("backend") != "openai"}
    df = simulate_grid(0, n_questions=1)
    assert set(df["compressor_model"]) == yaml_compressors
    assert set(df["predictor"]) == set(yaml_predictors)
    assert {m["name"]: m["model"] for m in SIMULATION_DEFAULTS["predictors"]} == yaml_predictors
    assert int(df["N"].iloc[0]) == cfg["N"] and int(df["M"].iloc[0]) == cfg["M"]
    assert set(df["dataset"]) == {"longhealth", "financebench"}


def test_simulate_rejects_bad_params():
    with pytest.raises(ValueError, match="unknown parameter.*nonsense.*allowed"):
        simulate_grid(0, nonsense=1)
    with pytest.raises(ValueError, match="link"):
        simulate_grid(0, link="probit")
    with pytest.raises(ValueError, match="beta_family"):
        simulate_grid(0, beta_family={"qwen2.5": 0.0})
    with pytest.raises(ValueError, match="unknown compressor"):
        simulate_grid(0, compressors=["qwen2.5-70b"])
    with pytest.raises(ValueError, match="n_questions"):
        simulate_grid(0, n_questions=0)


def test_simulate_subset_and_custom_models():
    df = simulate_grid(
        0,
        n_questions=4,
        compressors=["qwen2.5-1.5b", "qwen2.5-7b"],
        predictors=[{"name": "tiny", "family": "llama3", "model": "x/tiny", "params": 5e8}],
        datasets=["longhealth"],
    )
    assert set(df["compressor"]) == {"qwen2.5-1.5b", "qwen2.5-7b"} and set(df["predictor"]) == {"tiny"}
    assert len(df) == 2 * 4


def test_default_trends_follow_the_paper():
    """Defaults reproduce the paper's ratios (tolerances: accuracy 1.6 +- 0.25, others +- 20%)."""
    df = simulate_grid(0, n_questions=400)
    q7, q15 = "qwen2.5-7b", "qwen2.5-1.5b"
    acc = _ratio(df, "correct", q7, q15)
    tokens = _ratio(df, "summary_tokens", q15, q7)
    bits_per_token = _ratio(df, "mi_per_token_bits", q7, q15)
    flops_change = _ratio(df, "flops_compressor", q7, q15) - 1
    assert abs(acc - 1.6) < 0.25, acc
    assert abs(tokens / 4.6 - 1) < 0.2, tokens
    assert abs(bits_per_token / 5.5 - 1) < 0.2, bits_per_token
    assert abs(flops_change - 0.013) < 0.1, flops_change
    lh, fb = df[df["dataset"] == "longhealth"], df[df["dataset"] == "financebench"]
    comp_gain = _ratio(lh, "correct", q7, q15) - 1
    pred_gain_lh = _ratio(lh, "correct", "llama-405b", "llama-70b", by="predictor") - 1
    pred_gain_fb = _ratio(fb, "correct", "llama-405b", "llama-70b", by="predictor") - 1
    assert abs(comp_gain - 0.60) < 0.25, comp_gain
    assert abs(pred_gain_lh - 0.12) < 0.08, pred_gain_lh
    assert abs(pred_gain_fb - 0.01) < 0.06, pred_gain_fb
    assert comp_gain > 3 * pred_gain_lh  # compressor scaling dominates predictor scaling
    # factor importance: family > compressor size > predictor size
    ranked = rank_factors(simulate_grid(0))
    assert ranked["factor"].tolist() == ["compressor_family", "compressor_params", "predictor_params"]


def test_distortion_mode_mean_accuracy_is_one_minus_D():
    """With no random effects and no family effect, E[accuracy] = 1 - C exp(-b R) - D0."""
    p = SIMULATION_DEFAULTS
    fam0 = dict.fromkeys(p["beta_family"], 0.0)
    df = simulate_grid(
        2,
        n_questions=1500,
        sd_question=0.0,
        sd_dataset=0.0,
        beta_family=fam0,
        predictors=["llama-8b"],
        datasets=["longhealth"],
        usable_sd=0.0,
    )
    cfg = df.groupby("compressor").agg(
        acc=("correct", "mean"), rate=("mi_per_token_bits", "first"), use=("usable_info_bits", "mean")
    )
    d0 = p["d0"]["longhealth"] - p["d1"]["longhealth"] * math.log2(8)
    expected = 1 - (p["C"] * np.exp(-p["b"] * cfg["rate"]) + d0)
    se = np.sqrt(expected * (1 - expected) / 1500)
    assert (np.abs(cfg["acc"] - expected) < 4 * se).all()
    # usable information is exactly linear in the success probability when its noise is off
    k = p["n_options"]
    assert np.allclose(cfg["use"], math.log2(k) * (expected - 1 / k) / (1 - 1 / k))


def test_distortion_mode_recovered_by_rate_distortion_fit():
    """fit_rate_distortion on one (data set, predictor) recovers C, b and D0 (tolerances below)."""
    rd = pytest.importorskip("mi_utils.analysis.rate_distortion")
    p = SIMULATION_DEFAULTS
    fam0 = dict.fromkeys(p["beta_family"], 0.0)
    df = simulate_grid(
        4,
        n_questions=2000,
        sd_question=0.0,
        sd_dataset=0.0,
        beta_family=fam0,
        predictors=["llama-70b"],
        datasets=["longhealth"],
    )
    cfg = df.groupby("compressor").agg(acc=("correct", "mean"), rate=("mi_per_token_bits", "first"))
    fit = rd.fit_rate_distortion(cfg["rate"].to_numpy(), 1 - cfg["acc"].to_numpy(), n_boot=0, seed=0)
    d0 = p["d0"]["longhealth"] - p["d1"]["longhealth"] * math.log2(70)
    assert abs(fit.C - p["C"]) < 0.1, fit.C
    assert abs(fit.b / p["b"] - 1) < 0.35, fit.b
    assert abs(fit.D0 - d0) < 0.06, fit.D0


# ------------------------------------------------------------------------------- rank_factors
@pytest.fixture(scope="module")
def glm_rows() -> pd.DataFrame:
    """GLM mode, no random effects: an exact logistic model with known coefficients."""
    return simulate_grid(7, link="glm", n_questions=100, sd_question=0.0, sd_dataset=0.0)


def test_rank_factors_recovers_glm_coefficients(glm_rows):
    p = SIMULATION_DEFAULTS
    ranked = rank_factors(glm_rows, reference=REF)
    assert list(ranked.columns[:9]) == [
        "factor",
        "kind",
        "lr_chi2",
        "df",
        "p_value",
        "std_effect",
        "coef",
        "se",
        "rank",
    ]
    assert ranked["factor"].tolist() == ["compressor_family", "compressor_params", "predictor_params"]
    assert ranked["rank"].tolist() == [1, 2, 3]
    assert ranked["df"].tolist() == [2, 1, 1]
    assert (ranked["p_value"] < 1e-6).all()
    row = ranked.set_index("factor")
    assert row.loc["compressor_family", "coef"] is None and row.loc["compressor_family", "std_effect"] > 0
    # |estimate - truth| < 3 SE for every coefficient of the true model
    for factor, true in (("compressor_params", p["beta_csize"]), ("predictor_params", p["beta_psize"])):
        est, se = row.loc[factor, "coef"], row.loc[factor, "se"]
        assert abs(est - true) < 3 * se, (factor, est, true, se)
        assert math.isclose(row.loc[factor, "std_effect"], est * np.std(np.log2(glm_rows[factor] / 1e9)), rel_tol=1e-9)
    coefs = {c["term"]: c for c in ranked.attrs["coefficients"]}
    for fam in ("llama3", "gemma3"):
        c = coefs[f"compressor_family[T.{fam}]"]
        assert abs(c["estimate"] - p["beta_family"][fam]) < 3 * c["se"], (fam, c)
    assert abs(coefs["Intercept"]["estimate"] - p["beta0"]) < 3 * coefs["Intercept"]["se"]
    assert ranked.attrs["reference"] == REF and ranked.attrs["n_obs"] == len(glm_rows)


def test_rank_factors_null_effect_has_large_p_value():
    df = simulate_grid(11, link="glm", n_questions=60, beta_psize=0.0, sd_question=0.0, sd_dataset=0.0)
    row = rank_factors(df).set_index("factor")
    assert row.loc["predictor_params", "p_value"] > 0.01
    assert row.loc["predictor_params", "rank"] == 3
    assert row.loc["compressor_params", "p_value"] < 1e-6


def test_rank_factors_validation(glm_rows):
    with pytest.raises(ValueError, match="not_a_column"):
        rank_factors(glm_rows, factors=("compressor_family", "not_a_column"))
    with pytest.raises(ValueError, match="'predictor_params' has a single value"):
        rank_factors(glm_rows[glm_rows["predictor"] == "llama-8b"])
    one_family = glm_rows[glm_rows[FAMILY] == "qwen2.5"]
    with pytest.raises(ValueError, match="'compressor_family' has a single level"):
        rank_factors(one_family)
    with pytest.raises(ValueError, match="boolean or 0/1"):
        rank_factors(glm_rows, response="summary_tokens")
    zero = glm_rows.copy()
    zero.loc[zero.index[:5], "compressor_params"] = 0.0
    with pytest.raises(ValueError, match="positive"):
        rank_factors(zero)
    with pytest.raises(ValueError, match="DataFrame"):
        rank_factors("rows.jsonl")


def test_rank_factors_drops_missing_response_with_warning(glm_rows):
    df = glm_rows.copy()
    df["correct"] = df["correct"].astype(object)
    df.loc[df.index[:10], "correct"] = None
    with pytest.warns(UserWarning, match="dropped 10"):
        ranked = rank_factors(df)
    assert ranked.attrs["n_obs"] == len(df) - 10


# ------------------------------------------------------------------------------ mixed_effects
@pytest.fixture(scope="module")
def mixed_fit() -> tuple[MixedEffectsResult, pd.DataFrame]:
    """200 questions (100 per data set) x 10 compressors x 2 predictors, sd_question = 1."""
    df = simulate_grid(
        5, link="glm", n_questions=100, predictors=["llama-1b", "llama-405b"], sd_question=1.0, sd_dataset=0.3
    )
    return mixed_effects(df, reference=REF), df


def test_mixed_effects_recovers_fixed_effects_and_question_sd(mixed_fit):
    res, df = mixed_fit
    p = SIMULATION_DEFAULTS
    assert isinstance(res, MixedEffectsResult)
    assert res.n_obs == len(df) and res.n_groups == {"question": 200, "dataset": 2}
    assert list(res.fixed.columns[:5]) == ["term", "estimate", "sd", "ci_low", "ci_high"]
    assert res.fixed["interval"].eq("wald95_ml").all() and not res.boundary
    # tolerances (absolute, logit scale): slopes 0.08 / 0.03, family effects 0.3, intercept 0.5
    assert abs(res.estimate("log2(compressor_params / 1e9)") - p["beta_csize"]) < 0.08
    assert abs(res.estimate("log2(predictor_params / 1e9)") - p["beta_psize"]) < 0.03
    for fam in ("llama3", "gemma3"):
        assert abs(res.estimate(f"compressor_family[T.{fam}]") - p["beta_family"][fam]) < 0.3
    assert abs(res.estimate("Intercept") - p["beta0"]) < 0.5
    # the question random-intercept SD within 30% (ML; the variational fit's too)
    assert abs(res.component_sd("question") / 1.0 - 1) < 0.3
    assert abs(res.component_sd("question", method="bayes_vb") / 1.0 - 1) < 0.3
    assert set(res.variance_components["component"]) == {"question", "dataset", "residual"}
    # linear-probability cross-check: same signs, dataset as a fixed effect
    lin = res.linear.set_index("term")["estimate"]
    assert lin["log2(compressor_params / 1e9)"] > 0 and lin["compressor_family[T.llama3]"] < 0
    assert "dataset[T.longhealth]" in lin.index
    assert res.component_sd("question", method="mixedlm") > 0
    assert "maximum likelihood" in res.method and "fit_vb" in res.vb_method and "MixedLM" in res.linear_method
    with pytest.raises(KeyError, match="terms"):
        res.estimate("nope")


def test_mixed_effects_single_dataset_drops_component():
    df = simulate_grid(
        1,
        link="glm",
        n_questions=40,
        datasets=["longhealth"],
        compressors=["qwen2.5-1.5b", "qwen2.5-7b", "llama3-1b", "llama3-8b"],
        predictors=["llama-1b", "llama-405b"],
    )
    with pytest.warns(UserWarning, match="single 'dataset'"):
        res = mixed_effects(df, cross_check=False)
    vc = res.variance_components
    assert list(zip(vc["component"], vc["method"])) == [("question", "ml"), ("question", "bayes_vb")]
    assert res.dataset_effects.empty and "no data-set term" in res.method
    assert "dataset" not in res.n_groups and res.linear.empty and res.linear_method == ""


def test_mixed_effects_validation(glm_rows):
    with pytest.raises(ValueError, match="groups"):
        mixed_effects(glm_rows, groups=("record_id", "dataset", "seed"))
    with pytest.raises(ValueError, match="nope"):
        mixed_effects(glm_rows, groups=("nope",))
    with pytest.raises(ValueError, match="n_iter"):
        mixed_effects(glm_rows, n_iter=0)


# ----------------------------------------------------------------------------------- tables
def test_paper_reported_values():
    df = paper_reported()
    assert list(df.columns) == ["key", "value", "unit", "claim", "section"]
    assert df["key"].is_unique
    v = dict(zip(df["key"], df["value"]))
    expected = {
        "qwen25_7b_vs_1p5b_accuracy_ratio": 1.6,
        "qwen25_7b_vs_1p5b_token_ratio": 4.6,
        "qwen25_7b_vs_1p5b_bits_per_token_ratio": 5.5,
        "qwen25_7b_vs_1p5b_bits_per_token_ratio_camera_ready": 5.4,
        "qwen25_7b_vs_1p5b_flops_change": 0.013,
        "longhealth_compressor_gain_1p5b_to_7b": 0.60,
        "longhealth_predictor_gain_70b_to_405b": 0.12,
        "financebench_predictor_gain_70b_to_405b": 0.01,
        "longhealth_7_8b_vs_1_1p5b_accuracy_ratio": 3.1,
        "financebench_7_8b_vs_1_1p5b_accuracy_ratio": 2.6,
        "perplexity_mi_r": -0.84,
        "perplexity_mi_r2": 0.71,
        "dr_qwen25_3b_race_fraction": 0.99,
        "dr_qwen25_3b_cost_fraction": 0.26,
        "dr_qwen25_14b_race_gain": 0.023,
        "dr_qwen25_14b_cost_fraction": 0.281,
        "compressor_error_wrong_answer_fraction": 0.363,
        "compressor_error_no_answer_fraction": 0.333,
        "compressor_error_missing_details_fraction": 0.304,
        "seeds_per_experiment": 5,
        "gpt4o_price_input_usd_per_1m": 2.50,
        "gpt4o_price_output_usd_per_1m": 10.00,
        "dr_n_tasks": 20,
    }
    for key, value in expected.items():
        assert isinstance(v[key], float) and math.isclose(v[key], value), key
    assert v["factor_importance_order"] == "compressor_family > compressor_size > predictor_size"
    assert df["claim"].str.len().gt(10).all() and df["section"].str.len().gt(2).all()
    errors = [v[k] for k in v if k.startswith("compressor_error_")]
    assert math.isclose(sum(errors), 1.0, abs_tol=1e-9)


def test_load_results_round_trip(tmp_path):
    df = simulate_grid(0, n_questions=3)
    df.to_json(tmp_path / "rows.jsonl", orient="records", lines=True)
    for path in (tmp_path, tmp_path / "rows.jsonl", str(tmp_path / "rows.jsonl")):
        back = load_results(path)
        pd.testing.assert_frame_equal(back, df, check_dtype=False)
        assert back["sentences"].map(lambda x: x is None).all()
        assert back["correct"].dtype == bool
    summary = df.groupby(["compressor", "predictor"], as_index=False)["correct"].mean()
    summary.to_csv(tmp_path / "summary.csv", index=False)
    pd.testing.assert_frame_equal(load_results(tmp_path / "summary.csv"), summary, check_dtype=False)


def test_load_results_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="mi_utils run") as info:
        load_results(tmp_path / "missing" / "rows.jsonl")
    assert "simulate_grid" in str(info.value)
    with pytest.raises(FileNotFoundError, match="mi_utils run"):
        load_results(tmp_path)  # a folder without rows.jsonl
    (tmp_path / "rows.jsonl").write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_results(tmp_path / "rows.jsonl")
    (tmp_path / "x.parquet").write_text("x")
    with pytest.raises(ValueError, match="jsonl"):
        load_results(tmp_path / "x.parquet")


def test_no_heavy_imports():
    import subprocess
    import sys

    code = (
        "import sys, mi_utils.analysis as a; a.simulate_grid; a.rank_factors; a.mixed_effects; "
        "a.load_results; a.paper_reported; assert 'torch' not in sys.modules; "
        "assert 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_simulated_perplexity_falls_with_mi_like_the_paper():
    """Fig. 6 right: per configuration, Llama compressors, Pearson r near -0.84 (R^2 0.71)."""
    from mi_utils.analysis import configurations, partial_correlation, simulate_grid

    conf = configurations(simulate_grid(0))
    llama = conf[conf["compressor_family"] == "llama3"]
    r = partial_correlation(llama, "mi_bits", "perplexity", method=("pearson",)).iloc[0]
    assert -0.95 < r["r"] < -0.7
    assert (conf["perplexity"] > 1).all()


def test_analysis_imports_no_model_code():
    """Every analysis module (and the plotting helpers) runs on tables alone: no torch, no transformers."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, importlib, mi_utils.analysis as a, mi_utils.plotting; "
        "[importlib.import_module('mi_utils.analysis.' + m) for m in "
        "('scaling', 'rate_distortion', 'correlation', 'factors', 'meta', 'information', 'simulate', 'tables')]; "
        "[importlib.import_module('mi_utils.plotting.' + m) for m in ('style', 'marks', 'figures')]; "
        "[getattr(a, n) for n in a.__all__]; "
        "bad = [m for m in ('torch', 'transformers', 'mi_utils.backends', 'mi_utils.experiment') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


# ------------------------------------------------------------------------------ side studies
@pytest.fixture(scope="module")
def studies_table():
    return simulate_grid(0, studies="all")


def test_side_studies_leave_the_main_grid_unchanged(studies_table):
    main = simulate_grid(0)
    head = studies_table.iloc[: len(main)].reset_index(drop=True)
    pd.testing.assert_frame_equal(main, head.astype(main.dtypes.to_dict()), check_exact=True)
    one = simulate_grid(0, studies=["main", "refine"])
    refine = one.iloc[len(main) :].reset_index(drop=True)
    also = studies_table[studies_table["compressor"].str.endswith("-refine")].reset_index(drop=True)
    pd.testing.assert_frame_equal(refine, also.astype(refine.dtypes.to_dict()))  # each study: its own stream
    assert tuple(studies_table.columns) == ROW_COLUMNS
    assert (main["round"] == 1).all() and main["item_type"].map(lambda v: v is None).all()


def test_sentences_study_trades_information_for_length(studies_table):
    s = studies_table[studies_table["sentences"].notna()]
    assert set(s["sentences"]) == {3, 6, 9} and set(s["dataset"]) == {"longhealth", "financebench"}
    assert set(s["compressor_family"]) == {"qwen2.5", "llama3"} and set(s["predictor"]) == {"llama-70b"}
    by_k = s.groupby("sentences").agg(tokens=("summary_tokens", "mean"), mi=("mi_bits", "mean"))
    assert by_k["tokens"].is_monotonic_increasing and by_k["mi"].is_monotonic_increasing
    ratio = by_k.loc[9, "tokens"] / by_k.loc[3, "tokens"]
    assert ratio == pytest.approx(3.0, rel=0.05)  # length is k sentences of sentence_tokens
    assert s["compressor"].str.endswith("sent").all()  # instructed settings are settings of their own


def test_qasper_moe_and_query_agnostic_studies(studies_table):
    q = studies_table[studies_table["dataset"] == "qasper"]
    assert set(q["compressor_family"]) == {"qwen2.5", "llama3", "qwen3"}
    moe = studies_table[studies_table["compressor"] == "qwen3-30b-a3b"]
    active = moe["flops_compressor"] / (2 * moe["summary_tokens"] * (1 + SIMULATION_DEFAULTS["flops_overhead"]))
    assert np.allclose(active, 3.32091008e9)  # costs.active_params of Qwen3-30B-A3B's config
    assert (moe["compressor_params"] == 30.5e9).all()
    qa = studies_table[studies_table["task"] == "perplexity"]
    assert set(qa["dataset"]) == {"fineweb", "wildchat"}
    assert qa["correct"].map(lambda v: v is None).all() and qa["usable_info_bits"].map(lambda v: v is None).all()
    fw = qa[qa["dataset"] == "fineweb"]
    assert (fw["item_type"] == "creative").mean() == pytest.approx(0.6)
    conf = fw.groupby(["item_type", "compressor"]).agg(mi=("mi_bits", "first"), ppl=("perplexity", "mean"))
    r = {k: conf.loc[k]["mi"].corr(conf.loc[k]["ppl"]) for k in ("extractive", "creative")}
    assert r["extractive"] < -0.7 and r["extractive"] < r["creative"]  # creative items track MI more weakly


def test_refinement_mi_saturates_after_two_rounds(studies_table):
    ref = studies_table[studies_table["compressor"].str.endswith("-refine")]
    mi = ref.groupby("round")["mi_bits"].mean()
    assert list(mi.index) == [1, 2, 3, 4]
    gain = SIMULATION_DEFAULTS["refine_gain"]
    assert mi[2] - mi[1] > 0.7 * gain and abs(mi[4] - mi[3]) < 0.15 * gain


def test_side_study_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown studies.*'fig5'"):
        simulate_grid(0, studies=["fig5"])
    with pytest.raises(ValueError, match="study_predictor 'llama-70b' is not among the predictors"):
        simulate_grid(0, studies="all", predictors=["llama-1b"])
    with pytest.raises(ValueError, match="sentence_counts must be positive integers"):
        simulate_grid(0, studies=["sentences"], sentence_counts=[0, 3])
