"""The Qwen2.5-Coder ladder: its two configs, the committed tables they produced, and the README command on
real weights (the 0.5B; CI installs it with ``make ladder LADDER=qwen2.5-coder-0.5b-instruct``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from mi_utils.analysis import load_table, one_scorer
from mi_utils.analysis.tables import LADDER_RESULTS_PATHS
from mi_utils.data.synthetic import SHARED_QUERY
from mi_utils.experiment import load_config
from mi_utils.models import PACKAGED

from conftest import QWEN_SMALL, REPO, assert_committed_run_of, run_config_on_qwen_small, team_data_dir

CONFIGS = {task: REPO / "configs" / f"ladder_{task}_cpu.yaml" for task in ("synthetic", "financebench")}
QWEN = (QWEN_SMALL, "qwen2.5-coder-1.5b-instruct")


@pytest.mark.parametrize("task", sorted(CONFIGS))
def test_ladder_configs_hold_one_family_at_two_sizes(task):
    cfg = load_config(CONFIGS[task])
    lm = {c.model: c for c in cfg.compressors if c.method is None}
    assert set(lm) == {*QWEN, "smollm2-135m-instruct"}
    assert {PACKAGED[m].family for m in QWEN} == {"qwen2.5"}
    assert [p.model for p in cfg.predictors] == list(QWEN) and all(p.mode == "choice" for p in cfg.predictors)
    assert {c.method for c in cfg.compressors if c.method} == {"constant", "bm25_top_k", "full"}
    assert all(lm[m].top_k == 0 and lm[m].top_p == 1.0 and lm[m].temperature == 1.0 for m in lm)  # pure sampling
    proxy, own = cfg.scorers
    assert (proxy.model, proxy.dtype, proxy.prompt, proxy.compressors) == (
        "smollm2-135m-instruct",
        "float32",
        "proxy",
        None,
    )
    # self-scoring: the compressor's model and dtype, its own summaries only
    assert (own.model, own.prompt, own.compressors) == (QWEN[0], "own", ["qwen0.5b"])
    assert own.dtype == lm[QWEN[0]].dtype
    assert cfg.threads == 1  # two runs side by side on two cores


def test_the_two_configs_differ_only_in_their_task():
    syn, fb = (yaml.safe_load(CONFIGS[t].read_text()) for t in ("synthetic", "financebench"))
    for key in ("name", "description", "datasets", "N"):
        syn.pop(key), fb.pop(key)
    assert syn == fb


def test_financebench_task_reads_the_real_filings():
    if not (team_data_dir() / "financebench" / "financebench_open_source.jsonl").is_file():
        pytest.skip("FinanceBench files are not on this machine")
    from mi_utils.data import load_dataset

    cfg = load_config(CONFIGS["financebench"])
    (ds,) = cfg.datasets
    records = load_dataset(ds.name, limit=cfg.N, **ds.kwargs)
    assert len(records) == cfg.N and all(r.task == "multiple_choice" and len(r.options) == 5 for r in records)
    assert len({r.query for r in records}) == cfg.N  # per-record questions (mi_estimand says what MI is then)


@pytest.mark.parametrize("task", sorted(CONFIGS))
def test_committed_ladder_table_is_this_configs_run(task):
    folder = LADDER_RESULTS_PATHS[task].parent
    if task == "financebench" and not LADDER_RESULTS_PATHS[task].exists():  # still running when synthetic landed
        pytest.skip("the FinanceBench ladder table is not committed yet")
    assert_committed_run_of(CONFIGS[task], folder)
    cfg = load_config(CONFIGS[task])
    rows = load_table(LADDER_RESULTS_PATHS[task])[0]
    settings = cfg.settings()
    scored = [s for s in settings if s.score_mi]
    per_record = len(cfg.predictors) * (sum(len([sc for sc in cfg.scorers if sc.scores(s)]) for s in scored) + 1)
    assert len(rows) == cfg.N * per_record  # one row per (record, setting, predictor, scorer); 'full' unscored
    s = rows[rows["mi_scored"].astype(bool)]
    assert (s["mi_bits"] <= s["mi_ceiling_bits"] + 1e-9).all() and np.allclose(s["mi_ceiling_bits"], math.log2(cfg.N))
    assert rows["usable_info_bits"].notna().all()
    own = s[s["scorer"] == "qwen0.5b-own"]
    assert set(own["compressor"]) == {"qwen0.5b"} and own["upper_is_bound"].all()
    if task == "synthetic":
        assert set(rows["query"]) == {SHARED_QUERY} and set(s["mi_estimand"]) == {"I(X;Z|Q)"}
    else:
        assert set(s["mi_estimand"]) != {"I(X;Z|Q)"}
        # the filings' text is data, never committed: the whole-context rows carry a marker instead
        full = rows[rows["compressor"] == "full"]
        assert len(full) and all(t[0].startswith("[the record's whole context") for t in full["summary_texts"])


def test_ladder_table_loads_as_one():
    present = {t for t, p in LADDER_RESULTS_PATHS.items() if p.exists()}
    assert "synthetic" in present
    names = {"synthetic": "synthetic_clinical_shared", "financebench": "financebench_mc"}
    if present == set(LADDER_RESULTS_PATHS):
        rows, label = load_table("ladder")
    else:
        with pytest.warns(UserWarning, match="is missing, so the financebench task is left out"):
            rows, label = load_table("ladder")
    assert "ladder" in label and set(rows["dataset"]) == {names[t] for t in present}
    one = one_scorer(rows)
    assert one["scorer"].dropna().nunique() == 1
    assert set(one.loc[one["compressor_kind"] == "lm", "compressor_params"]) == {
        PACKAGED[m].params for m in (*QWEN, "smollm2-135m-instruct")
    }


@pytest.mark.slow
def test_ladder_command_runs_on_real_qwen_weights(tmp_path):
    """`python -m mi_utils run configs/ladder_synthetic_cpu.yaml` on two records, with the 0.5B alone."""

    def without_the_1_5b(data):
        data["compressors"] = [c for c in data["compressors"] if c.get("model") != QWEN[1]]
        data["predictors"] = [p for p in data["predictors"] if p["model"] != QWEN[1]]

    df = run_config_on_qwen_small(CONFIGS["synthetic"], tmp_path, without_the_1_5b)
    assert set(df["predictor"]) == {"qwen0.5b-choice"} and set(df["predictor_family"]) == {"qwen2.5"}
    assert set(df["scorer"].dropna()) == {"smollm2", "qwen0.5b-own"}
    lm = df[df["compressor"] == "qwen0.5b"]
    assert (lm["compressor_params"] == PACKAGED[QWEN[0]].params).all() and (lm["flops_compressor"] > 0).all()
    assert lm.loc[lm["scorer"] == "qwen0.5b-own", "upper_is_bound"].all()
    assert df["correct"].notna().all() and df["usable_info_bits"].notna().all()
