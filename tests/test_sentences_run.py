"""The committed real run of the paper's conciseness instructions (configs/sentences_synthetic_cpu.yaml, Fig. 5).

Qwen2.5-Coder 0.5B told to use exactly 3, 6 or 9 sentences; the table is what notebook 04's real Fig. 5 draws.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mi_utils.analysis import load_table, one_scorer
from mi_utils.experiment import load_config

from conftest import REPO, assert_committed_run_of, predict_with_qwen_small, run_config_on_qwen_small

CONFIG = REPO / "configs" / "sentences_synthetic_cpu.yaml"
TABLE = REPO / "data" / "results" / "sentences_synthetic_cpu"


def test_committed_sentences_table_is_this_configs_run():
    assert_committed_run_of(CONFIG, TABLE)
    cfg = load_config(CONFIG)
    (lm,) = cfg.compressors
    assert lm.sentences == [3, 6, 9] and lm.model == "qwen2.5-coder-0.5b-instruct" and cfg.threads == 1
    rows, label = load_table("sentences_synthetic_cpu")
    assert label == "sentences_synthetic_cpu"
    assert len(rows) == cfg.N * 3  # one predictor, one scorer, three instructions
    assert rows.groupby("sentences").size().to_dict() == {3: cfg.N, 6: cfg.N, 9: cfg.N}
    assert set(rows["compressor"]) == {f"qwen0.5b-{k}sent" for k in (3, 6, 9)}
    assert rows["mi_scored"].all() and set(rows["mi_estimand"]) == {"I(X;Z|Q)"}
    assert (rows["mi_bits"] <= rows["mi_ceiling_bits"] + 1e-9).all()
    assert np.allclose(rows["mi_ceiling_bits"], math.log2(cfg.N))
    assert rows["correct"].notna().all() and (rows["flops_compressor"] > 0).all()
    summary = pd.read_csv(TABLE / "summary.csv")
    assert sorted(summary["sentences"]) == [3, 6, 9]


def test_real_fig5_draws_from_the_committed_table():
    from mi_utils.plotting import conciseness_figure

    rows, source = load_table("sentences_synthetic_cpu")
    fig = conciseness_figure(one_scorer(rows), source=source)
    assert "(real)" in fig.axes[0].get_title() and fig.axes[0].get_xlabel() == "instructed sentences"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["qwen0.5b"]
    pytest.importorskip("matplotlib.pyplot").close(fig)


@pytest.mark.slow
def test_sentences_command_runs_on_real_qwen_weights(tmp_path):
    """The README's `python -m mi_utils run configs/sentences_synthetic_cpu.yaml`, on two records, short summaries."""
    df = run_config_on_qwen_small(CONFIG, tmp_path, predict_with_qwen_small)
    assert df.groupby("sentences").size().to_dict() == {3: 2, 6: 2, 9: 2}
    assert df["mi_bits"].notna().all() and df["correct"].notna().all()
