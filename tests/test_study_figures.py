"""Every figure drawn from rows alone, from a user's rows.jsonl (written here, not by the simulator)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mi_utils.analysis import load_table
from mi_utils.plotting import FIGURES_FROM_ROWS, moe_figure, refinement_figure

_SIZES = {"qwen2.5": (1.5e9, 7e9), "llama3": (1e9, 8e9), "qwen3": (4e9, 8e9)}


def _row(dataset, family, params, record, **kw):
    tokens = kw.pop("tokens", 400.0 / (params / 1e9) ** 0.5 + record)
    mi = kw.pop("mi", 1.0 + 0.3 * np.log2(params / 1e9))
    row = {
        "run": "user_grid",
        "dataset": dataset,
        "task": "multiple_choice",
        "record_id": f"{dataset}-{record}",
        "compressor": f"{family}-{params / 1e9:g}b",
        "compressor_kind": "lm",
        "compressor_family": family,
        "compressor_params": params,
        "sentences": None,
        "round": 1,
        "item_type": None,
        "predictor": "llama-8b",
        "predictor_family": "llama3",
        "predictor_params": 8e9,
        "scorer": "proxy",
        "N": 8,
        "M": 1,
        "seed": 0,
        "summary_tokens": tokens,
        "mi_bits": mi,
        "mi_ceiling_bits": 3.0,
        "correct": bool((record + int(params / 1e9)) % 3),
        "flops_compressor": 2.0 * params * tokens,
        "perplexity": float(np.exp(2.0 - 0.4 * mi + 0.05 * record)),
    }
    row.update(kw)
    return row


def _user_table() -> pd.DataFrame:
    """A small hand-made table with every dimension the figures need (as a real run's rows would have)."""
    rows = []
    for ds in ("longhealth", "financebench"):
        for fam in ("qwen2.5", "llama3"):
            for params in _SIZES[fam]:
                for pred, p_params in (("llama-8b", 8e9), ("llama-70b", 70e9)):
                    rows += [_row(ds, fam, params, r, predictor=pred, predictor_params=p_params) for r in range(4)]
                for k in (3, 6, 9):
                    name = f"{fam}-{params / 1e9:g}b-{k}s"
                    rows += [
                        _row(ds, fam, params, r, compressor=name, sentences=k, tokens=25.0 * k, mi=0.5 + 0.2 * k)
                        for r in range(4)
                    ]
    for fam in ("qwen2.5", "llama3", "qwen3"):
        rows += [_row("qasper", fam, params, r) for params in _SIZES[fam] for r in range(4)]
    for ds, items in (("fineweb", ("extractive", "creative")), ("wildchat", ("extractive",))):
        for fam in ("qwen2.5", "llama3"):
            for params in _SIZES[fam]:
                for r in range(4):
                    item = items[r % len(items)]
                    rows.append(_row(ds, fam, params, r, task="perplexity", item_type=item, correct=None))
    for params in _SIZES["qwen3"]:
        rows += [_row("longhealth", "qwen3", params, r) for r in range(4)]
    # a mixture of experts: 30B parameters, FLOPs of 3B active
    rows += [
        _row(
            "longhealth", "qwen3", 30e9, r, compressor="qwen3-30b-a3b", flops_compressor=2.0 * 3e9 * 100.0, tokens=100.0
        )
        for r in range(4)
    ]
    for rnd, mi in ((1, 1.0), (2, 1.6), (3, 1.7)):
        rows += [_row("longhealth", "qwen2.5", 7e9, r, compressor="qwen-7b-refine", round=rnd, mi=mi) for r in range(4)]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def user_rows(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "rows.jsonl"
    _user_table().to_json(path, orient="records", lines=True)
    rows, source = load_table(path)
    return rows, source


@pytest.mark.parametrize("name", sorted(FIGURES_FROM_ROWS))
def test_every_figure_draws_from_a_user_rows_jsonl(user_rows, name):
    rows, source = user_rows
    fig = FIGURES_FROM_ROWS[name](rows, source)
    try:
        titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
        assert titles and all("real" in t and "simulated" not in t for t in titles), titles
        number = name.removeprefix("fig")
        assert any(f"Fig. {number} " in t for t in titles), titles
        assert any(ax.has_data() for ax in fig.axes)
    finally:
        plt.close(fig)


def test_the_moe_is_found_from_its_flops_and_labelled_with_its_active_size(user_rows):
    rows, source = user_rows
    fig = moe_figure(rows, source=source)
    try:
        labels = fig.axes[0].get_legend_handles_labels()[1]
        assert any("qwen3-30b-a3b" in lab and "30B total" in lab and "3B active" in lab for lab in labels), labels
        assert not any("qwen2.5" in lab for lab in labels)  # only the MoE's family is drawn
    finally:
        plt.close(fig)


def test_refinement_figure_draws_the_mean_mi_per_round(user_rows):
    rows, source = user_rows
    fig = refinement_figure(rows, source=source)
    try:
        drawn = {c.get_label(): c.lines[0] for c in fig.axes[0].containers}
        assert list(drawn) == ["qwen-7b-refine"]  # only the refined setting: the others have one round
        assert np.allclose(drawn["qwen-7b-refine"].get_xdata(), [1, 2, 3])
        assert np.allclose(drawn["qwen-7b-refine"].get_ydata(), [1.0, 1.6, 1.7])
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    ("column", "name", "figure"),
    [
        ("sentences", "fig5", "Fig. 5"),
        ("item_type", "fig11", "Fig. 11"),
        ("perplexity", "fig12", "Fig. 12"),
        ("round", "fig18", "Fig. 18"),
        ("flops_compressor", "fig14", "Fig. 14"),
    ],
)
def test_a_missing_column_names_the_column_and_the_figure(user_rows, column, name, figure):
    rows, source = user_rows
    with pytest.raises(ValueError, match=rf"{figure}: the table has no column\(s\) \['{column}'\]"):
        FIGURES_FROM_ROWS[name](rows.drop(columns=[column]), source)


def test_missing_rows_say_what_is_missing(user_rows):
    rows, source = user_rows
    with pytest.raises(ValueError, match="Fig. 9: no rows of data set 'qasper'"):
        FIGURES_FROM_ROWS["fig9"](rows[rows["dataset"] != "qasper"], source)
    with pytest.raises(ValueError, match="Fig. 14: no mixture-of-experts compressor"):
        FIGURES_FROM_ROWS["fig14"](rows[rows["compressor"] != "qwen3-30b-a3b"], source)
    with pytest.raises(ValueError, match="Fig. 5: the table has no LM rows with a sentence-count instruction"):
        FIGURES_FROM_ROWS["fig5"](rows.assign(sentences=None), source)


def test_the_rate_is_per_setting_and_rows_without_a_sentence_count_keep_theirs(user_rows):
    rows, _ = user_rows
    assert rows["mi_per_token_bits"].notna().all()  # a missing sentence count is a setting, not a dropped key
    one = rows[(rows["compressor"] == "qwen-7b-refine") & (rows["round"] == 2)]
    assert np.allclose(one["mi_per_token_bits"], 1.6 / one["summary_tokens"].mean())


def test_fig18_draws_the_committed_real_refine_table():
    """The runner names round r of setting x ``x-round<r>``: the figure joins them into one chain per setting."""
    from mi_utils.analysis import one_scorer

    rows, source = load_table("refine")
    fig = refinement_figure(one_scorer(rows), source=source)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["qwen0.5b"]  # one chain (qwen0.5b-round1..3 joined), not three one-point settings
    assert [float(t) for t in fig.axes[0].get_xticks()] == [1.0, 2.0, 3.0]
    assert "(real)" in fig.axes[0].get_title()
    plt.close(fig)


def test_fig5_of_one_compressor_puts_the_sentence_count_on_the_x_axis():
    """A real run with one compressor size: x = instructed sentences, one line joining its x-3sent/6sent/9sent settings."""
    from mi_utils.analysis import one_scorer
    from mi_utils.plotting import conciseness_figure

    rows, source = load_table("simulated", studies="all")
    rows = one_scorer(rows)
    instructed = rows[rows["sentences"].notna()]
    one = instructed[instructed["compressor"].str.startswith("llama3-1b-")]
    assert sorted(one["compressor"].unique()) == ["llama3-1b-3sent", "llama3-1b-6sent", "llama3-1b-9sent"]
    fig = conciseness_figure(one, source=source)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["llama3-1b"]
    assert [float(t) for t in fig.axes[2].get_xticks()] == [3.0, 6.0, 9.0]
    assert fig.axes[2].get_xlabel() == "instructed sentences"
    plt.close(fig)


def test_figures_join_settings_by_their_base_column_not_their_names(user_rows):
    """Fig. 18 draws one line per ``compressor_base`` whatever the settings are called, and Fig. 5 of one
    compressor one line per base: the column decides, no name is parsed."""
    from mi_utils.plotting import conciseness_figure

    rows, source = user_rows
    chain = rows[rows["compressor"] == "qwen-7b-refine"]
    renamed = chain.assign(
        compressor=chain["round"].map({1: "first-pass", 2: "second-pass", 3: "third-pass"}), compressor_base="loop"
    )
    fig = refinement_figure(renamed, source=source)
    try:
        drawn = {c.get_label(): c.lines[0] for c in fig.axes[0].containers}
        assert list(drawn) == ["loop"]
        assert np.allclose(drawn["loop"].get_xdata(), [1, 2, 3])
        assert np.allclose(drawn["loop"].get_ydata(), [1.0, 1.6, 1.7])
    finally:
        plt.close(fig)
    # the same names under two bases are two chains
    split = renamed.assign(compressor_base=np.where(renamed["record_id"].str.endswith(("0", "1")), "a", "b"))
    fig = refinement_figure(split, source=source)
    try:
        assert sorted(c.get_label() for c in fig.axes[0].containers) == ["a", "b"]
    finally:
        plt.close(fig)
    one = rows[rows["compressor"].str.startswith("qwen2.5-1.5b-") & rows["sentences"].notna()]
    one = one[one["dataset"] == "longhealth"].assign(compressor_base="instructed-1.5b")
    fig = conciseness_figure(one, source=source)
    try:
        assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["instructed-1.5b"]
    finally:
        plt.close(fig)


def test_a_table_without_the_base_column_says_how_to_get_it(user_rows):
    rows, source = user_rows
    with pytest.raises(
        ValueError, match=r"Fig. 18: the table has no column\(s\) \['compressor_base'\].*with_compressor_base"
    ):
        refinement_figure(rows.drop(columns="compressor_base"), source=source)


def test_loading_fills_the_base_column_the_figures_group_by(user_rows):
    """The hand-made rows.jsonl has no compressor_base: load_table adds it (the names carry no runner suffix)."""
    rows, _ = user_rows
    assert "compressor_base" not in _user_table().columns
    assert (rows["compressor_base"] == rows["compressor"]).all()
