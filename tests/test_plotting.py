"""Tests for mi_utils.plotting: every helper draws on an Agg figure, labels its axes and uses the family colours."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex, to_rgba

from mi_utils import plotting
from mi_utils.estimators import SATURATION_THRESHOLD
from mi_utils.plotting import (
    FAMILY_COLORS,
    annotate_points,
    ceiling_line,
    chance_and_control,
    compressor_vs_predictor_scaling,
    contexts_axis,
    cost_score_panel,
    family_color,
    finish,
    ib_plane_panel,
    importance_bars,
    interval_bars,
    labelled_points,
    lines_by,
    lines_vs_size,
    mean_lines,
    metrics_vs_size,
    panel,
    panels,
    plain_log_axis,
    rate_distortion_panel,
    saturation_marks,
    scatter_with_fit,
    sequential_colors,
    share_bars,
    size_label,
    title_with_source,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _hex(color) -> str:
    return to_hex(to_rgba(color))


def _grid() -> pd.DataFrame:
    """Two families x two compressor sizes x two predictor sizes x two data sets x 3 questions."""
    rows = []
    for ds in ("d1", "d2"):
        for fam, sizes in (("qwen2.5", (1.5e9, 7e9)), ("llama3", (1e9, 8e9))):
            for cp in sizes:
                for pp in (8e9, 70e9):
                    for q in range(3):
                        rows.append(
                            {
                                "dataset": ds,
                                "compressor_family": fam,
                                "compressor_params": cp,
                                "predictor_params": pp,
                                "record_id": q,
                                "correct": float((q + cp > 2e9) % 2),
                                "summary_tokens": 100 - cp / 1e8 + q,
                            }
                        )
    return pd.DataFrame(rows)


def test_panels_sizes_per_panel_and_always_returns_an_array():
    fig, axes = panels(5, ncols=3, size=(4, 3.2))
    assert isinstance(axes, np.ndarray) and axes.shape == (5,)
    assert tuple(fig.get_size_inches()) == (12.0, 6.4)
    assert len(fig.axes) == 5  # the sixth cell of the 2x3 grid is removed
    fig, axes = panels(1)
    assert axes.shape == (1,)
    fig, ax = panel(size=(7, 2.8))
    assert tuple(fig.get_size_inches()) == (7.0, 2.8) and fig.axes == [ax]
    fig, axes = panels(2, figsize=(13, 3.9), sharey=True)
    assert tuple(fig.get_size_inches()) == (13.0, 3.9)
    with pytest.raises(ValueError, match="n >= 1"):
        panels(0)


def test_finish_saves_png_and_pdf(tmp_path, monkeypatch):
    monkeypatch.setenv("MI_UTILS_FIGURES", str(tmp_path))
    fig, ax = panel()
    ax.plot([0, 1], [0, 1])
    path = finish(fig, "99_test", show=False)
    assert path == tmp_path / "99_test.png" and path.exists() and (tmp_path / "99_test.pdf").exists()
    assert finish(fig, show=False) is None
    with pytest.raises(ValueError, match="plain file stem"):
        finish(fig, "a/b", show=False)


def test_sequential_colors_span_the_colormap_in_order():
    colors = sequential_colors([1e9, 7e9, 70e9])
    assert list(colors) == [1e9, 7e9, 70e9]
    ramp = matplotlib.colormaps["viridis"]
    assert colors[1e9] == ramp(0.0) and colors[70e9] == ramp(0.85)
    assert sequential_colors(["only"]) == {"only": ramp(0.0)}


def test_title_with_source_and_axes_helpers():
    fig, ax = panel()
    title_with_source(ax, "Fig. 2", "simulated")
    assert ax.get_title() == "Fig. 2\n[simulated]"
    title_with_source(ax, "no source")
    assert ax.get_title() == "no source"
    assert contexts_axis(ax) is ax
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "N (contexts)"
    fig, ax = panel()
    ax.plot([10, 500], [1, 2])
    assert plain_log_axis(ax, [10, 100]) is ax
    assert ax.get_xscale() == "log" and list(ax.get_xticks()) == [10, 100]
    assert size_label(1.5e9) == "1.5B" and size_label(1.35e8) == "135M"


def test_reference_lines_name_the_ceiling_and_the_saturation_threshold():
    fig, ax = panel()
    line = ceiling_line(ax, 4.0)
    assert line.get_label() == "log2 N = 4.00 bits" and line.get_linestyle() == ":"
    assert np.allclose(line.get_ydata(), 4.0)
    vline = ceiling_line(ax, 3.0, vertical=True, legend=False, ls="-")
    assert np.allclose(vline.get_xdata(), 3.0) and vline.get_label().startswith("_")
    sat = saturation_marks(ax, 4.0)
    assert np.allclose(sat.get_ydata(), SATURATION_THRESHOLD * 4.0)
    assert sat.get_label() == f"{SATURATION_THRESHOLD:g} x ceiling (saturated above)"
    band = saturation_marks(ax, 4.0, vertical=True)
    assert band.get_label() == "saturated"
    custom = saturation_marks(ax, threshold=0.5, label="warning", color="red", lw=None)  # None: rc default width
    assert np.allclose(custom.get_ydata(), 0.5) and _hex(custom.get_color()) == "#ff0000"
    assert custom.get_linewidth() == matplotlib.rcParams["lines.linewidth"]
    assert ceiling_line(ax, 2.0, lw=None).get_linewidth() == matplotlib.rcParams["lines.linewidth"]


def test_chance_and_control_lines():
    fig, ax = panel()
    chance_and_control(ax, n_options=5, control=0.35)
    chance, control = ax.lines
    assert np.allclose(chance.get_ydata(), 0.2) and chance.get_label() == "chance (5 options)"
    assert _hex(control.get_color()) == FAMILY_COLORS["control"].lower()
    fig, ax = panel()
    chance_and_control(ax, n_options=4, control=float("nan"), legend=False)
    assert len(ax.lines) == 1 and ax.lines[0].get_label().startswith("_")


def test_lines_by_draws_one_line_per_group_in_its_family_colour():
    frame = pd.DataFrame(
        {
            "scorer": ["b", "b", "a", "a"],
            "family": ["gemma3", "gemma3", "smollm2", "smollm2"],
            "x": [0, 1, 0, 1],
            "y": [1.0, 2.0, 3.0, 4.0],
        }
    )
    fig, ax = panel()
    assert lines_by(ax, frame, "x", "y", "scorer", family="family") is ax
    assert [line.get_label() for line in ax.lines] == ["b", "a"]  # order of appearance
    assert [_hex(line.get_color()) for line in ax.lines] == [
        FAMILY_COLORS["gemma3"].lower(),
        FAMILY_COLORS["smollm2"].lower(),
    ]
    fig, ax = panel()
    lines_by(ax, frame, "x", "y", "scorer", sort=True, label_prefix="scorer ")
    assert [line.get_label() for line in ax.lines] == ["scorer a", "scorer b"]


def test_mean_lines_draws_the_mean_and_its_normal_interval_per_group():
    frame = pd.DataFrame(
        {
            "g": ["b", "b", "b", "a", "a", "a", "a"],
            "x": [1, 1, 2, 1, 2, 2, 2],
            "y": [0.0, 1.0, None, True, 2.0, 4.0, 6.0],
        }
    )
    fig, ax = panel()
    stats = mean_lines(ax, frame, "x", "y", "g", order=["b", "a"], colors={"a": "#000000"}, label=str.upper)
    assert list(stats) == ["b", "a"]  # the order given; b at x = 2 has no y: left out
    assert list(stats["b"].index) == [1] and list(stats["a"].index) == [1, 2]
    assert np.allclose(stats["b"]["mean"], [0.5]) and np.allclose(stats["a"]["mean"], [1.0, 4.0])
    se = np.array([0.0, 2.0 / np.sqrt(3)])  # one row: no spread; three rows of SD 2
    assert np.allclose(stats["a"]["half"], 1.96 * se)
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["B", "A"] and _hex(handles[1][0].get_color()) == "#000000"
    assert np.allclose(handles[1][0].get_ydata(), [1.0, 4.0])
    kept = mean_lines(panel()[1], frame, "x", "y", "g", dropna=False)
    assert list(kept) == ["a", "b"] and np.isnan(kept["b"].loc[2, "mean"])  # sorted groups; the gap is kept
    with pytest.raises(ValueError, match="no rows with g in \\['c'\\]"):
        mean_lines(ax, frame, "x", "y", "g", order=["a", "c"])


def test_lines_vs_size_labels_axes_and_colours_families():
    grid = _grid()
    fig, ax = panel()
    out = lines_vs_size(
        ax,
        grid,
        "correct",
        ylabel="accuracy",
        xlabel="compressor size (parameters)",
        title="Fig. 2",
        source="simulated",
        log_y=True,
    )
    assert out is ax
    assert ax.get_ylabel() == "accuracy" and ax.get_xlabel() == "compressor size (parameters)"
    assert ax.get_title() == "Fig. 2\n[simulated]" and ax.get_xscale() == "log" and ax.get_yscale() == "log"
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["llama3", "qwen2.5"]
    assert [_hex(h[0].get_color()) for h in handles] == [
        FAMILY_COLORS["llama3"].lower(),
        FAMILY_COLORS["qwen2.5"].lower(),
    ]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1B", "1.5B", "7B", "8B"]


def test_metrics_vs_size_draws_one_row_per_dataset():
    metrics = [("correct", "accuracy"), ("summary_tokens", "summary length (tokens)")]
    fig = metrics_vs_size(_grid(), metrics, source="simulated")
    axes = fig.axes
    assert len(axes) == 4 and tuple(fig.get_size_inches()) == (8.0, 6.4)
    assert [ax.get_ylabel() for ax in axes] == ["accuracy", "summary length (tokens)"] * 2
    assert axes[0].get_title() == "Fig. 2 · d1: accuracy\n[simulated]"
    assert axes[3].get_title().startswith("Fig. 2 · d2: summary length")
    assert [ax.get_yscale() for ax in axes] == ["linear", "log"] * 2
    assert all(ax.get_xlabel() == plotting.COMPRESSOR_SIZE for ax in axes)
    assert axes[0].get_legend() is not None and axes[1].get_legend() is None


def test_compressor_vs_predictor_scaling_colours_sizes_sequentially():
    sub = _grid().query("dataset == 'd1' and compressor_family == 'qwen2.5'")
    fig = compressor_vs_predictor_scaling(sub, family="qwen2.5", dataset="d1", source="simulated")
    left, right = fig.axes
    assert left.get_xlabel() == "compressor size (qwen2.5)" and right.get_xlabel() == "predictor size"
    assert left.get_ylabel() == "accuracy" and "scaling the predictor" in right.get_title()
    handles, labels = left.get_legend_handles_labels()
    assert labels == ["predictor 8B", "predictor 70B"]
    ramp = sequential_colors([8e9, 70e9])
    assert [to_rgba(h[0].get_color()) for h in handles] == [ramp[8e9], ramp[70e9]]


class _Line:
    def __init__(self, b: float):
        self.b = b

    def predict(self, rate):
        return 0.5 * np.exp(-self.b * np.asarray(rate)) + 0.1


def test_rate_distortion_panel_draws_points_and_fits():
    pts = pd.DataFrame(
        {
            "predictor": ["small"] * 3 + ["large"] * 3,
            "mi_per_token_bits": [0, 0.1, 0.3] * 2,
            "distortion": [0.6, 0.4, 0.3, 0.5, 0.3, 0.2],
        }
    )
    fig, ax = panel()
    out = rate_distortion_panel(
        ax,
        pts,
        {"small": _Line(1.0)},
        symlog=0.01,
        title="Fig. 6",
        source="simulated",
        colors={"large": family_color("llama3")},
    )
    assert out is ax
    assert ax.get_ylabel() == "distortion: 1 - accuracy" and ax.get_xlabel().startswith("rate:")
    assert ax.get_xscale() == "symlog" and ax.get_title() == "Fig. 6\n[simulated]"
    assert len(ax.collections) == 2 and len(ax.lines) == 1  # one fitted curve: only "small" has a fit
    assert _hex(ax.collections[1].get_facecolor()[0]) == FAMILY_COLORS["llama3"].lower()


def test_labelled_and_annotated_points():
    frame = pd.DataFrame(
        {"compressor": ["a", "b"], "compressor_family": ["gemma3", "mystery"], "x": [1, 2], "y": [0.5, 0.7]},
        index=["first", "second"],
    )
    fig, ax = panel()
    assert labelled_points(ax, frame, "x", "y") is ax
    assert [t.get_text() for t in ax.texts] == ["a", "b"]
    assert [_hex(c.get_facecolor()[0]) for c in ax.collections] == [
        FAMILY_COLORS["gemma3"].lower(),
        FAMILY_COLORS["other"].lower(),
    ]
    fig, ax = panel()
    labelled_points(ax, frame, "x", "y", label=None, zorder=None)
    assert [t.get_text() for t in ax.texts] == ["first", "second"]
    fig, ax = panel()
    annotate_points(ax, frame, "x", "y", ["1.5B", "7B"], fontsize=6)
    assert [t.get_text() for t in ax.texts] == ["1.5B", "7B"] and ax.texts[0].get_fontsize() == 6


def test_scatter_with_fit_returns_the_line():
    frame = pd.DataFrame({"mi": [1.0, 2.0, 3.0], "ppl": [5.0, 3.0, 1.0]})
    fig, ax = panel()
    slope, intercept = scatter_with_fit(ax, frame, "mi", "ppl", color=family_color("llama3"))
    assert slope == pytest.approx(-2.0) and intercept == pytest.approx(7.0)
    assert _hex(ax.collections[0].get_facecolor()[0]) == FAMILY_COLORS["llama3"].lower()
    assert np.allclose(ax.lines[0].get_ydata(), intercept + slope * ax.lines[0].get_xdata())


def test_interval_bars_single_and_grouped():
    values = pd.Series([1.0, 2.0], index=["first48", "bm25"])
    fig, ax = panel()
    colors = [family_color("extractive"), family_color("smollm2")]
    assert interval_bars(ax, values, values - 0.5, pd.Series([np.nan, 2.5], index=values.index), colors=colors) is ax
    assert [round(p.get_height(), 6) for p in ax.patches] == [1.0, 2.0]
    assert [_hex(p.get_facecolor()) for p in ax.patches] == [c.lower() for c in colors]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["first48", "bm25"]

    mi = pd.DataFrame({"smollm2": [1.0, 2.0], "gemma3": [1.5, 2.5]}, index=["a", "b"])
    fig, ax = panel()
    interval_bars(
        ax, mi, mi - 0.1, mi + 0.1, width=0.38, label_prefix="scorer ", colors={c: family_color(c) for c in mi.columns}
    )
    _, labels = ax.get_legend_handles_labels()
    assert labels == ["scorer smollm2", "scorer gemma3"]
    xs = sorted(p.get_x() + p.get_width() / 2 for p in ax.patches)
    assert np.allclose(xs, [-0.19, 0.19, 0.81, 1.19])
    assert _hex(ax.patches[2].get_facecolor()) == FAMILY_COLORS["gemma3"].lower()


def test_share_bars_label_percentages():
    fig, ax = panel()
    shares = pd.Series([0.25, np.nan], index=["smollm2", "gemma3"])
    assert (
        share_bars(
            ax,
            shares,
            colors=[family_color("smollm2"), family_color("gemma3")],
            ylabel="share of sources marked relevant",
            title="extraction rate",
        )
        is ax
    )
    assert [t.get_text() for t in ax.texts] == ["25%", "n/a"]
    assert ax.get_ylabel() == "share of sources marked relevant" and ax.get_ylim() == (0.0, 1.0)


def test_ib_plane_panel():
    pts = pd.DataFrame(
        {
            "predictor": ["p1", "p1", "p2"],
            "compressor": ["a", "b", "a"],
            "compressor_family": ["smollm2", "extractive", "smollm2"],
            "mi_bits": [1.0, 3.9, 1.2],
            "usable_info_bits": [0.3, -0.1, 0.5],
        }
    )
    fig, ax = panel()
    out = ib_plane_panel(
        ax,
        pts,
        markers={"p1": "o", "p2": "s"},
        ceiling=4.0,
        baselines={"p1": 0.8},
        xlabel="I(X;Z|Q) about the record",
        title="IB plane",
        source="cpu",
    )
    assert out is ax
    assert ax.get_xlabel() == "I(X;Z|Q) about the record"
    assert ax.get_ylabel() == "usable information about the answer (bits)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["predictor p1", "predictor p2"]
    assert any(np.allclose(line.get_xdata(), 4.0) for line in ax.lines)  # the ceiling
    assert any(np.allclose(line.get_ydata(), 0.8) for line in ax.lines)  # p1's uncompressed baseline


def test_importance_bars_title_and_labels():
    ranked = pd.DataFrame(
        {"factor": ["compressor_family", "predictor_params"], "lr_chi2": [30.0, 5.0], "p_value": [1e-7, 0.02]}
    )
    fig, ax = panel()
    assert importance_bars(ax, ranked, title="Fig. 17", source="simulated") is ax
    assert ax.get_title() == "Fig. 17\n[simulated]"
    assert ax.get_xlabel().startswith("likelihood-ratio chi-square")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["predictor_params", "compressor_family"]


def test_cost_score_panel_colours_settings_by_family():
    summary = pd.DataFrame(
        {"api_cost_usd": [0.004, 0.001, 0.002], "race_total": [5.0, 4.0, np.nan]},
        index=["baseline", "smollm2", "gemma3"],
    )
    fig, ax = panel()
    out = cost_score_panel(
        ax,
        summary,
        "race_total",
        families={"baseline": "gpt-4o", "smollm2": "smollm2"},
        ylabel="RACE score (0-10)",
        top=10.0,
    )
    assert out is ax
    assert len(ax.collections) == 2  # gemma3 has no score
    assert [_hex(c.get_facecolor()[0]) for c in ax.collections] == [
        FAMILY_COLORS["gpt-4o"].lower(),
        FAMILY_COLORS["smollm2"].lower(),
    ]
    assert ax.get_xlim() == pytest.approx((0, 5.0)) and ax.get_ylim() == (0, 10.0)
    assert ax.get_ylabel() == "RACE score (0-10)" and ax.get_xlabel().startswith("API cost per task")


def test_every_public_name_exists_and_the_module_needs_no_model_code():
    assert all(hasattr(plotting, name) for name in plotting.__all__)
    assert "SATURATION_THRESHOLD" in plotting.__doc__ and "family" in plotting.__doc__


def test_the_package_re_exports_its_modules_and_builders_sit_on_the_primitives():
    """style <- marks <- figures <- study_figures: public names come from ``mi_utils.plotting``; no upward import."""
    import ast
    import inspect

    from mi_utils.plotting import figures, marks, study_figures, style

    modules = (style, marks, figures, study_figures)
    assert sorted(plotting.__all__) == sorted(n for m in modules for n in m.__all__)
    assert all(getattr(plotting, n) is getattr(m, n) for m in modules for n in m.__all__)
    for module, allowed in (
        (style, set()),
        (marks, {"style"}),
        (figures, {"style", "marks"}),
        (study_figures, {"style", "marks", "figures"}),
    ):
        tree = ast.parse(inspect.getsource(module))
        local = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1}
        assert local <= allowed, (module.__name__, local)
