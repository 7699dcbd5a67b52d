"""The analysis figures of notebooks 04-08, each drawing one analysis' table or result.

* scaling (notebook 04): :func:`metrics_vs_size` (Fig. 2), :func:`compressor_vs_predictor_scaling` (Fig. 3);
* information (notebook 05): :func:`rate_distortion_panel` (Figs. 6, 19-20), :func:`ib_plane_panel`
  (the information-bottleneck plane);
* factors and meta-analysis (notebook 06): :func:`importance_bars` (Fig. 17), :func:`forest_plot`;
* deep research (notebook 07): :func:`cost_score_panel`;
* your documents (notebook 08): :func:`saturation_panel` (MI on subsets of the documents against ``log2 n``).

Built from :mod:`~mi_utils.plotting.marks` and :mod:`~mi_utils.plotting.style`. Panel builders take a matplotlib
``Axes`` first and return it; figure builders (:func:`metrics_vs_size`, :func:`compressor_vs_predictor_scaling`,
:func:`forest_plot`) return the ``Figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .marks import labelled_points, lines_vs_size
from .style import COMPRESSOR_SIZE, _decorate, ceiling_line, family_color, panels, sequential_colors

__all__ = [
    "metrics_vs_size",
    "compressor_vs_predictor_scaling",
    "rate_distortion_panel",
    "ib_plane_panel",
    "importance_bars",
    "forest_plot",
    "cost_score_panel",
    "saturation_panel",
]


def metrics_vs_size(
    frame,
    metrics: Sequence[tuple[str, str]],
    *,
    source: str | None = None,
    by: str = "dataset",
    title: str = "Fig. 2",
    log_y: Sequence[str] = ("summary_tokens",),
    xlabel: str = COMPRESSOR_SIZE,
    size: tuple[float, float] = (4.0, 3.2),
):
    """The paper's Fig. 2 layout: one row per ``by`` value, one :func:`lines_vs_size` panel per metric.

    Args:
      frame: rows (one per record and configuration) with ``compressor_params`` and ``compressor_family``.
      metrics: ``(column, label)`` per panel of a row.
      source: the table's source, shown under each title.
      by: one row of panels per value of this column (sorted).
      title: title prefix; a panel's title is ``"<title> · <value>: <label>"``.
      log_y: metrics drawn on a log y axis.
      xlabel: the x label of every panel.
      size: (width, height) of one panel.

    Returns:
      The Figure (legend on the first panel).
    """
    values = sorted(frame[by].unique())
    fig, axes = panels(len(values) * len(metrics), ncols=len(metrics), size=size)
    for r, value in enumerate(values):
        sub = frame[frame[by] == value]
        for c, (col, label) in enumerate(metrics):
            lines_vs_size(
                axes[r * len(metrics) + c],
                sub,
                col,
                ylabel=label,
                xlabel=xlabel,
                title=f"{title} · {value}: {label}",
                source=source,
                log_y=col in log_y,
            )
    axes[0].legend(fontsize=8)
    return fig


def compressor_vs_predictor_scaling(
    frame,
    *,
    y: str = "correct",
    ylabel: str = "accuracy",
    family: str = "",
    dataset: str = "",
    source: str | None = None,
    title: str = "Fig. 3",
    size: tuple[float, float] = (5.5, 3.8),
):
    """The paper's Fig. 3: ``y`` against compressor size (one line per predictor size) and against predictor size
    (one line per compressor size), sharing the y axis; sizes coloured along :func:`sequential_colors`.

    Args:
      frame: rows of one compressor family on one data set (``compressor_params``, ``predictor_params``, ``y``).
      y, ylabel: the metric and its label.
      family: the family's name for the left x label.
      dataset: the data set's name for the titles.
      source: the table's source, shown under each title.
      title: title prefix.
      size: (width, height) of one panel.

    Returns:
      The Figure.
    """
    fig, axes = panels(2, size=size, sharey=True)
    sides = (
        (
            "compressor_params",
            "predictor_params",
            "predictor ",
            f"compressor size ({family})",
            "scaling the compressor",
        ),
        ("predictor_params", "compressor_params", "compressor ", "predictor size", "scaling the predictor"),
    )
    for ax, (size_col, group, prefix, xlabel, what) in zip(axes, sides):
        lines_vs_size(
            ax,
            frame,
            y,
            size=size_col,
            group=group,
            colors=sequential_colors(sorted(frame[group].unique())),
            label_prefix=prefix,
            ylabel=ylabel,
            xlabel=xlabel,
            title=f"{title} · {dataset}: {what}",
            source=source,
        )
        ax.legend(fontsize=7)
    return fig


def rate_distortion_panel(
    ax,
    points,
    fits: dict,
    *,
    rate: str = "mi_per_token_bits",
    distortion: str = "distortion",
    group: str = "predictor",
    colors: dict | None = None,
    xlabel: str | None = None,
    symlog: float | None = None,
    title: str | None = None,
    source: str | None = None,
):
    """Rate-distortion points per group and their fitted ``D(R) = C exp(-b R) + D0`` curves.

    Args:
      ax: matplotlib Axes.
      points: one line per configuration (``rate``, ``distortion``, ``group`` columns).
      fits: group value -> fitted object with ``predict(rate)`` (e.g. ``RateDistortionFit``).
      rate, distortion, group: column names.
      colors: optional ``{group value: colour}`` (default: :func:`sequential_colors` in order of appearance).
      xlabel: x label (default: bits per summary token).
      symlog: a symmetric-log x axis, linear below this rate (rates near 0 stay visible).
      title, source: title, with the table's source on a second line.

    Returns:
      The Axes.
    """
    import numpy as np

    groups = list(dict.fromkeys(points[group]))
    ramp = sequential_colors(groups)
    for g in groups:
        sub = points[points[group] == g]
        color = (colors or {}).get(g, ramp[g])
        ax.scatter(sub[rate], sub[distortion], color=color, s=28, label=str(g), zorder=3)
        if g in fits:
            grid = np.linspace(min(0.0, float(sub[rate].min())), float(points[rate].max()) * 1.05, 200)
            ax.plot(grid, fits[g].predict(grid), color=color, lw=1.5)
    _decorate(
        ax,
        xlabel=xlabel or "rate: I(X;Z|Q) per summary token (bits / token)",
        ylabel="distortion: 1 - accuracy",
        title=title,
        source=source,
    )
    ax.set_ylim(-0.02, 1.02)
    if symlog is not None:
        ax.set_xscale("symlog", linthresh=symlog)
    return ax


def ib_plane_panel(
    ax,
    points,
    *,
    markers: Mapping[Any, str],
    ceiling: float,
    baselines: Mapping[Any, float] | None = None,
    x: str = "mi_bits",
    y: str = "usable_info_bits",
    by: str = "predictor",
    xlabel: str | None = None,
    ylabel: str = "usable information about the answer (bits)",
    title: str | None = None,
    source: str | None = None,
):
    """The information-bottleneck plane: information about the record (x) against usable information (y).

    One labelled dot per configuration (:func:`labelled_points`, one marker per ``by`` value), a dashed grey
    line per ``by`` value at its uncompressed baseline, the axes through 0 and the ``log2 N`` ceiling dotted.

    Args:
      ax: matplotlib Axes.
      points: one row per configuration.
      markers: ``{by value: marker}``; also the order of the legend.
      ceiling: the MI ceiling ``log2 N``.
      baselines: ``{by value: y of the full (uncompressed) record}``.
      x, y, by: columns.
      xlabel, ylabel: axis labels.
      title, source: title, with the table's source on a second line.

    Returns:
      The Axes (legend upper left).
    """
    for key, marker in markers.items():
        labelled_points(ax, points[points[by] == key], x, y, marker=marker)
        ax.scatter([], [], marker=marker, color="grey", label=f"{by} {key}")
    for key in markers:
        if baselines and key in baselines:
            ax.axhline(float(baselines[key]), color="grey", ls="--", lw=0.8)
    ax.axhline(0, color="k", lw=0.8)
    ax.axvline(0, color="k", lw=0.8)
    ceiling_line(ax, ceiling, vertical=True, legend=False)
    _decorate(ax, xlabel=xlabel or x, ylabel=ylabel, title=title, source=source)
    ax.legend(fontsize=7, loc="upper left")
    return ax


def importance_bars(
    ax, ranked, *, value: str = "lr_chi2", label: str = "factor", title: str | None = None, source: str | None = None
):
    """Horizontal bars of factor importance (most important on top), p-values as text.

    Args:
      ax: matplotlib Axes.
      ranked: the table of :func:`mi_utils.analysis.rank_factors` (``value``, ``label``, ``p_value``).
      value, label: columns of the bar length and the bar name.
      title, source: title, with the table's source on a second line.

    Returns:
      The Axes.
    """
    import numpy as np

    r = ranked.iloc[::-1]
    y = np.arange(len(r))
    ax.barh(y, r[value], color="#0072B2")
    ax.set_yticks(y, r[label])
    for yi, (v, p) in enumerate(zip(r[value], r["p_value"])):
        ax.annotate(f"p={p:.1e}", (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    _decorate(ax, xlabel="likelihood-ratio chi-square of dropping the factor", title=title, source=source)
    return ax


def cost_score_panel(
    ax,
    summary,
    score: str,
    *,
    families: Mapping[str, str],
    ylabel: str,
    top: float,
    reference: str = "baseline",
    x_max: float | None = None,
):
    """Score against API cost per task (thousandths of a USD), one labelled point per setting (notebook 07).

    Args:
      ax: matplotlib Axes.
      summary: one row per setting (index: setting id) with ``api_cost_usd`` and ``score``.
      score: the score column; settings without a score are left out.
      families: ``{setting id: model family}`` for :func:`family_color`.
      ylabel: the y label.
      top: the top of the y axis (the bottom is 0).
      reference: the setting drawn as a large star (the uncompressed baseline).
      x_max: right end of the x axis (default: 1.25 x the dearest setting).

    Returns:
      The Axes.
    """
    import pandas as pd

    for sid, r in summary.iterrows():
        if pd.isna(r[score]):
            continue
        star = sid == reference
        ax.scatter(
            r["api_cost_usd"] * 1000,
            r[score],
            s=180 if star else 70,
            marker="*" if star else "o",
            color=family_color(families.get(sid, "other")),
            zorder=3,
        )
        ax.annotate(sid, (r["api_cost_usd"] * 1000, r[score]), xytext=(5, 5), textcoords="offset points", fontsize=8)
    ax.set_xlim(0, 1.25 * summary["api_cost_usd"].max() * 1000 if x_max is None else x_max)
    ax.set_ylim(0, top)
    ax.set_xlabel("API cost per task (thousandths of a USD)")
    ax.set_ylabel(ylabel)
    return ax


def forest_plot(result, ax=None, title: str | None = None):
    """Forest plot of a random-effects meta-analysis (:func:`mi_utils.analysis.meta_analysis`).

    One row per study: a horizontal line for its confidence interval and a square whose area is
    proportional to its random-effects weight; at the bottom a diamond spanning the pooled
    estimate's interval; a dashed vertical line at 0. tau^2 and I^2 go in the title.

    Args:
      result: a ``MetaAnalysisResult`` (needs ``table``, ``estimate``, ``ci_low``, ``ci_high``,
        ``tau2``, ``i2``, ``method``).
      ax: matplotlib Axes to draw on; a new figure when None.
      title: title line above the tau^2 / I^2 line (default "Random-effects meta-analysis").

    Returns:
      The matplotlib Figure. The study squares are one scatter collection with gid ``"studies"``
      and the pooled diamond a polygon with gid ``"pooled"``.

    Raises:
      ValueError: ``result`` lacks the attributes of a meta-analysis result.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    need = ("table", "estimate", "ci_low", "ci_high", "tau2", "i2", "method")
    missing = [a for a in need if not hasattr(result, a)]
    if missing:
        raise ValueError(
            f"forest_plot: expected the result of mi_utils.analysis.meta_analysis; the object lacks {missing}"
        )
    tab = result.table
    k = len(tab)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 1.6 + 0.35 * (k + 1)))
    else:
        fig = ax.figure
    ys = list(range(k, 0, -1))
    ax.hlines(ys, tab["ci_low"], tab["ci_high"], color="0.35", linewidth=1.2)
    w = tab["weight"].to_numpy(dtype=float)
    sizes = 20.0 + 180.0 * w / max(float(w.max()), 1e-300)
    ax.scatter(tab["effect"], ys, s=sizes, marker="s", color="#0072B2", zorder=3, gid="studies")
    est, lo, hi = float(result.estimate), float(result.ci_low), float(result.ci_high)
    diamond = Polygon(
        [(lo, 0.0), (est, 0.3), (hi, 0.0), (est, -0.3)],
        closed=True,
        facecolor="#D55E00",
        edgecolor="#D55E00",
        zorder=3,
        gid="pooled",
    )
    ax.add_patch(diamond)
    ax.axvline(0.0, color="0.5", linestyle="--", linewidth=1.0)
    ax.set_yticks([*ys, 0])
    ax.set_yticklabels([*(str(v) for v in tab["label"]), f"pooled ({result.method.upper()})"])
    ax.set_ylim(-0.8, k + 0.8)
    x_lo = min(float(tab["ci_low"].min()), lo, 0.0)
    x_hi = max(float(tab["ci_high"].max()), hi, 0.0)
    pad = 0.05 * (x_hi - x_lo or 1.0)
    ax.set_xlim(x_lo - pad, x_hi + pad)
    ax.set_xlabel("effect")
    head = title if title is not None else "Random-effects meta-analysis"
    ax.set_title(f"{head}\n$\\tau^2$ = {result.tau2:.3g}, $I^2$ = {100 * result.i2:.0f}%")
    return fig


def saturation_panel(ax, curves: Mapping[str, Any], *, highlight: str | None = None, unit: str = "bits"):
    """MI against the number of documents ``n`` per compressor, with the ``log2 n`` ceiling (notebook 08).

    Args:
      ax: matplotlib Axes.
      curves: ``{compressor: frame}`` of :func:`mi_utils.rank.saturation_curve` (``n``, ``mi_bits``,
        ``mi_sd_bits``, ``ceiling_bits``).
      highlight: a compressor drawn thicker (the others thinner); None: all alike.

    Returns:
      The Axes.
    """
    if not curves:
        raise ValueError("no saturation curves to draw: pass {compressor: saturation_curve(logp)}")
    first = next(iter(curves.values()))
    ax.plot(first["n"], first["ceiling_bits"], color="k", ls=":", lw=1, label="ceiling log2 n")
    for k, (name, c) in enumerate(curves.items()):
        strong = highlight is None or name == highlight
        ax.errorbar(
            c["n"],
            c["mi_bits"],
            yerr=c["mi_sd_bits"],
            marker="o",
            ms=4 if strong else 3,
            capsize=2,
            lw=2.2 if strong else 1.0,
            alpha=1.0 if strong else 0.45,
            color=f"C{k}",
            label=name,
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(first["n"]), [str(n) for n in first["n"]])
    ax.set(xlabel="n (documents in the subset)", ylabel=f"I(X;Z) estimate [{unit}]")
    ax.legend(fontsize=8)
    return ax
