"""The real CPU grid (configs/grid_cpu.yaml): the committed table is this config's, and the config runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from mi_utils.__main__ import main
from mi_utils.analysis import configurations, load_table, one_scorer
from mi_utils.analysis.tables import CPU_RESULTS_PATH
from mi_utils.data.synthetic import SHARED_QUERY
from mi_utils.experiment import ROW_COLUMNS, load_config

from conftest import REPO, assert_committed_run_of

CONFIG = REPO / "configs" / "grid_cpu.yaml"


def test_grid_cpu_config_has_two_families_in_every_role():
    cfg = load_config(CONFIG)
    models = {"smollm2-135m-instruct", "gemma3-270m"}
    assert {c.model for c in cfg.compressors if c.method is None} == models
    assert {p.model for p in cfg.predictors} == models and {s.model for s in cfg.scorers} == models
    assert all(p.mode == "choice" for p in cfg.predictors)
    assert {s.kind for s in cfg.settings()} == {"control", "extractive", "lm", "full"}
    assert {s.sentences for s in cfg.settings() if s.kind == "lm"} == {None, 1}
    assert [d.name for d in cfg.datasets] == ["synthetic_clinical_shared"]


def test_committed_cpu_table_is_this_configs_run():
    """The notebooks' real numbers come from configs/grid_cpu.yaml as committed, every row complete."""
    assert_committed_run_of(CONFIG, CPU_RESULTS_PATH.parent)
    rows, label = load_table("cpu")
    assert "CPU" in label
    settings = load_config(CONFIG).settings()
    N = load_config(CONFIG).N
    scored = [s for s in settings if s.score_mi]
    # one row per (record, setting, predictor, scorer); the unscored 'full' setting has no scorer
    assert len(rows) == N * 2 * (2 * len(scored) + (len(settings) - len(scored)))
    assert set(rows["query"]) == {SHARED_QUERY}
    assert rows["usable_info_bits"].notna().all() and np.isfinite(rows["usable_info_bits"]).all()
    s = rows[rows["mi_scored"].astype(bool)]
    assert (s["mi_bits"] <= s["mi_ceiling_bits"] + 1e-9).all()
    assert np.allclose(s["mi_ceiling_bits"], math.log2(N))


def test_configurations_count_each_answer_once():
    rows, _ = load_table("cpu")
    one = one_scorer(rows)
    assert one["scorer"].dropna().nunique() == 1
    conf = configurations(one)
    assert (conf["n_records"] == load_config(CONFIG).N).all()
    assert ((conf["accuracy"] >= 0) & (conf["accuracy"] <= 1)).all()


@pytest.mark.slow
def test_grid_cpu_runs_end_to_end_on_two_records(tmp_path):
    """The README command on a tiny slice: both families as compressor, predictor and scorer."""
    data = yaml.safe_load(CONFIG.read_text())
    data.update(M=1, n_boot=20, output_dir=str(tmp_path))
    for c in data["compressors"]:
        if "model" in c:
            c["max_new_tokens"] = 4
    small = tmp_path / "grid_cpu.yaml"
    small.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    assert main(["run", str(small), "--limit", "2", "--out", str(out), "--quiet"]) == 0
    df = load_table(out / "rows.jsonl")[0]
    needed = {
        "dataset",
        "record_id",
        "compressor",
        "compressor_kind",
        "compressor_family",
        "compressor_params",
        "sentences",
        "predictor",
        "predictor_params",
        "scorer",
        "correct",
        "summary_tokens",
        "mi_bits",
        "mi_ci_low_bits",
        "mi_ci_high_bits",
        "mi_ceiling_bits",
        "mi_per_token_bits",
        "flops_compressor",
        "usable_info_bits",
        "usable_info_temperature",
        "usable_info_null",
        "baseline_correct",
    }
    assert needed <= set(ROW_COLUMNS) and not needed - set(df.columns)
    assert set(df["predictor"]) == {"smollm2-choice", "gemma3-choice"}
    assert set(df["scorer"].dropna()) == {"smollm2", "gemma3"}
    assert set(df["compressor_family"]) == {"control", "extractive", "smollm2", "gemma3", "full"}
    assert df["usable_info_bits"].notna().all()
    assert (df[df.compressor_kind == "lm"]["flops_compressor"] > 0).all()
    assert not pd.isna(df[df.compressor_kind == "lm"]["compressor_params"]).any()
    assert len(df) == 2 * 2 * (2 * 8 + 1)
