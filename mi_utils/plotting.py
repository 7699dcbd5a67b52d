"""Figures of the notebooks: one way to save them, one colour per model family, and the drawing helpers.

What lives here, so that notebook cells stay a narrative (parameters, calls into ``mi_utils``, plots):

* **style and files**: :func:`use_style`, :func:`figures_dir`, :func:`savefig` (PNG + PDF into ``figures/``),
  :func:`finish` (tight layout, save, show);
* **colours**: :data:`FAMILY_COLORS` / :func:`family_color` (one colour per model family in every figure),
  :func:`sequential_colors` (a viridis ramp over ordered values such as model sizes);
* **figures and axes**: :func:`panel` / :func:`panels` (figures sized per panel), :func:`title_with_source`,
  :func:`size_label`, :func:`contexts_axis`, :func:`plain_log_axis`;
* **reference lines**: :func:`ceiling_line` (the ``log2 N`` ceiling of the MI estimate),
  :func:`saturation_marks` (:data:`mi_utils.estimators.SATURATION_THRESHOLD` of the ceiling),
  :func:`chance_and_control` (accuracy floors);
* **marks**: :func:`lines_by` (one line per group), :func:`lines_vs_size` (mean and interval against model size,
  one line per family), :func:`labelled_points` / :func:`annotate_points`, :func:`interval_bars`,
  :func:`share_bars`, :func:`scatter_with_fit`;
* **the analysis figures** (notebooks 04-07): :func:`metrics_vs_size` (Fig. 2),
  :func:`compressor_vs_predictor_scaling` (Fig. 3), :func:`rate_distortion_panel` (Figs. 6, 19-20),
  :func:`ib_plane_panel`, :func:`importance_bars` (Fig. 17), :func:`forest_plot`, :func:`cost_score_panel`.

Panel helpers take a matplotlib ``Axes`` first and return it; figure helpers return the ``Figure``.
Nothing here imports torch or transformers; matplotlib, numpy and pandas are imported when a helper runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "FAMILY_COLORS",
    "COMPRESSOR_SIZE",
    "family_color",
    "sequential_colors",
    "figures_dir",
    "savefig",
    "finish",
    "use_style",
    "panel",
    "panels",
    "size_label",
    "title_with_source",
    "contexts_axis",
    "plain_log_axis",
    "ceiling_line",
    "saturation_marks",
    "chance_and_control",
    "lines_by",
    "lines_vs_size",
    "metrics_vs_size",
    "compressor_vs_predictor_scaling",
    "rate_distortion_panel",
    "annotate_points",
    "labelled_points",
    "scatter_with_fit",
    "interval_bars",
    "share_bars",
    "ib_plane_panel",
    "importance_bars",
    "forest_plot",
    "cost_score_panel",
]

# One colour per model family across every figure (colour-blind-safe Okabe-Ito order).
FAMILY_COLORS = {
    "qwen2.5": "#0072B2",
    "llama3": "#D55E00",
    "gemma3": "#009E73",
    "smollm2": "#CC79A7",
    "gpt-4o": "#000000",
    "extractive": "#999999",
    "control": "#E69F00",
    "other": "#56B4E9",
}

#: The x label of the compressor-size axes of notebook 04.
COMPRESSOR_SIZE = "compressor size (parameters)"


def family_color(family: str) -> str:
    """Colour of a model family (``"other"``'s colour for unknown families)."""
    return FAMILY_COLORS.get(family, FAMILY_COLORS["other"])


def sequential_colors(values: Sequence[Any], cmap: str = "viridis", stop: float = 0.85) -> dict[Any, Any]:
    """``{value: colour}`` along a sequential colormap, in the given order (sizes: small to large).

    Args:
      values: ordered values (e.g. sorted model sizes); the first gets the colormap's start.
      cmap: matplotlib colormap name.
      stop: where on the colormap the last value lands (0.85 keeps viridis' pale yellow out).

    Returns:
      A dict of RGBA tuples keyed by value.
    """
    import matplotlib as mpl

    ramp = mpl.colormaps[cmap]
    values = list(values)
    return {v: ramp(i / max(1, len(values) - 1) * stop) for i, v in enumerate(values)}


def figures_dir() -> Path:
    """``$MI_UTILS_FIGURES`` or ``<repo>/figures`` (created if missing)."""
    env = os.environ.get("MI_UTILS_FIGURES")
    path = Path(env) if env else Path(__file__).resolve().parents[1] / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def use_style() -> None:
    """The shared matplotlib/seaborn style of the notebooks."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid")
    mpl.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "axes.spines.top": False, "axes.spines.right": False})


def savefig(fig, name: str, *, formats: tuple[str, ...] = ("png", "pdf")) -> Path:
    """Save ``fig`` as ``figures/<name>.<fmt>`` and return the first path written.

    Args:
      fig: a matplotlib Figure.
      name: file stem, conventionally prefixed with the notebook number (``"02_mi_vs_n"``).
      formats: file formats; PNG (for the README and notebooks) and PDF (for papers) by default.
    """
    if not name or "/" in name or "\\" in name:
        raise ValueError(f"figure name must be a plain file stem, got {name!r}")
    out = figures_dir()
    paths = []
    for fmt in formats:
        p = out / f"{name}.{fmt}"
        fig.savefig(p, bbox_inches="tight")
        paths.append(p)
    return paths[0]


def finish(
    fig, name: str | None = None, *, tight: bool = True, show: bool = True, formats: tuple[str, ...] = ("png", "pdf")
) -> Path | None:
    """The last lines of every figure cell: tight layout, :func:`savefig`, ``plt.show()``.

    Args:
      fig: a matplotlib Figure.
      name: file stem for :func:`savefig`; None saves nothing.
      tight: call ``fig.tight_layout()`` first.
      show: call ``plt.show()`` (in a notebook: display the figure and close it).
      formats: file formats for :func:`savefig`.

    Returns:
      The first path written, or None when ``name`` is None.
    """
    import matplotlib.pyplot as plt

    if tight:
        fig.tight_layout()
    path = savefig(fig, name, formats=formats) if name else None
    if show:
        plt.show()
    return path


def panels(
    n: int,
    *,
    ncols: int | None = None,
    size: tuple[float, float] = (5.5, 3.8),
    figsize: tuple[float, float] | None = None,
    **subplots_kw,
):
    """A figure of ``n`` panels in rows of ``ncols``, sized per panel.

    Args:
      n: number of panels (>= 1).
      ncols: panels per row (default: all in one row); unused cells of the last row are removed.
      size: (width, height) of one panel in inches; the figure is ``ncols * width`` by ``nrows * height``.
      figsize: the whole figure's size instead of ``size``.
      **subplots_kw: passed to ``plt.subplots`` (``sharey=True``, ``gridspec_kw=...``).

    Returns:
      ``(fig, axes)`` with ``axes`` a flat numpy array of ``n`` Axes in row-major order (also for ``n == 1``).

    Raises:
      ValueError: ``n`` or ``ncols`` is below 1.
    """
    import matplotlib.pyplot as plt

    ncols = n if ncols is None else ncols
    if n < 1 or ncols < 1:
        raise ValueError(f"panels needs n >= 1 and ncols >= 1, got n={n}, ncols={ncols}")
    nrows = -(-n // ncols)
    fig, grid = plt.subplots(
        nrows, ncols, figsize=figsize or (size[0] * ncols, size[1] * nrows), squeeze=False, **subplots_kw
    )
    axes = grid.ravel()
    for ax in axes[n:]:
        ax.remove()
    return fig, axes[:n]


def panel(size: tuple[float, float] = (6.4, 4.0), **subplots_kw):
    """A figure with one Axes: ``(fig, ax)`` (see :func:`panels`)."""
    fig, axes = panels(1, size=size, **subplots_kw)
    return fig, axes[0]


# ------------------------------------------------------------------------------------------------ axes and labels
def size_label(params: float) -> str:
    """``1.5e9 -> "1.5B"``, ``1.35e8 -> "135M"``."""
    if params >= 1e9:
        return f"{params / 1e9:.3g}B"
    return f"{params / 1e6:.3g}M"


def title_with_source(ax, title: str, source: str | None = None) -> None:
    """Set ``title`` with the table's source on a second line ("simulated" shows when it is)."""
    ax.set_title(title if source is None else f"{title}\n[{source}]", fontsize=10)


def _decorate(
    ax, *, xlabel: str | None = None, ylabel: str | None = None, title: str | None = None, source: str | None = None
) -> None:
    """Set whichever of the labels and the (sourced) title are given."""
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title is not None:
        title_with_source(ax, title, source)


def contexts_axis(ax, base: int = 2):
    """The x axis of an estimate against the number of contexts: log scale (base 2), labelled "N (contexts)"."""
    ax.set_xscale("log", base=base)
    ax.set_xlabel("N (contexts)")
    return ax


def plain_log_axis(ax, ticks: Sequence[float], axis: str = "x"):
    """A log-scaled axis with plain-number ticks at ``ticks`` (10, 20, 50 rather than 10^1) and no minor labels."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    getattr(ax, f"set_{axis}scale")("log")
    getattr(ax, f"set_{axis}ticks")(list(ticks))
    which = ax.xaxis if axis == "x" else ax.yaxis
    which.set_major_formatter(ScalarFormatter())
    which.set_minor_formatter(NullFormatter())
    return ax


# ------------------------------------------------------------------------------------------------ reference lines
def _style(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``overrides``; keys whose value is None are left to matplotlib's defaults."""
    return {k: v for k, v in {**defaults, **overrides}.items() if v is not None}


def ceiling_line(
    ax,
    ceiling: float,
    *,
    unit: str = "bits",
    fmt: str = ".2f",
    name: str = "log2 N",
    vertical: bool = False,
    legend: bool = True,
    **line_kw,
):
    """The ``log2 N`` ceiling of the MI estimate: a black dotted line labelled ``"log2 N = 4.00 bits"``.

    Args:
      ax: matplotlib Axes.
      ceiling: the ceiling (``mi_ceiling_bits``).
      unit: unit in the label ("" for none).
      fmt: format of the value in the label.
      name: what the label calls the line.
      vertical: a vertical line (the estimate on the x axis).
      legend: label the line for the legend.
      **line_kw: line style overrides (``color``, ``ls``, ``lw``; None: matplotlib's default).

    Returns:
      The line.
    """
    label = f"{name} = {ceiling:{fmt}}" + (f" {unit}" if unit else "") if legend else None
    draw = ax.axvline if vertical else ax.axhline
    return draw(ceiling, **_style({"color": "k", "ls": ":", "lw": 1, "label": label}, line_kw))


def saturation_marks(
    ax,
    ceiling: float = 1.0,
    *,
    threshold: float | None = None,
    vertical: bool = False,
    label: str | None = None,
    **style,
):
    """Where the MI estimate counts as saturated: from ``threshold * ceiling`` up.

    Horizontal (estimates on the y axis): a dashed line at ``threshold * ceiling``. Vertical (estimates on the
    x axis): a grey band from ``threshold * ceiling`` to ``ceiling``.

    Args:
      ax: matplotlib Axes.
      ceiling: the ceiling ``log2 N`` (1.0 on a saturation axis, estimate / log N).
      threshold: the saturation threshold; default :data:`mi_utils.estimators.SATURATION_THRESHOLD`.
      vertical: draw the band on the x axis.
      label: legend label (default names the threshold).
      **style: style overrides (``color``, ``ls``, ``lw``, ``alpha``; None: matplotlib's default).

    Returns:
      The line or band.
    """
    if threshold is None:
        from .estimators import SATURATION_THRESHOLD  # numpy only: no model code

        threshold = SATURATION_THRESHOLD
    if vertical:
        return ax.axvspan(
            threshold * ceiling, ceiling, **_style({"color": "k", "alpha": 0.08, "label": label or "saturated"}, style)
        )
    return ax.axhline(
        threshold * ceiling,
        **_style(
            {"color": "k", "lw": 1, "ls": "--", "label": label or f"{threshold:g} x ceiling (saturated above)"}, style
        ),
    )


def chance_and_control(ax, *, n_options: int, control: float | None = None, legend: bool = True):
    """Accuracy floors: chance ``1 / n_options`` (grey, dotted) and the zero-information control (dashed).

    Args:
      ax: matplotlib Axes with accuracy on the y axis.
      n_options: answer options of the task.
      control: the zero-information control's accuracy; None or NaN draws no control line.
      legend: label the lines for the legend.

    Returns:
      The Axes.
    """
    ax.axhline(
        1 / n_options, color="grey", ls=":", lw=1, **({"label": f"chance ({n_options} options)"} if legend else {})
    )
    if control is not None and control == control:
        ax.axhline(
            control,
            color=family_color("control"),
            ls="--",
            lw=1,
            **({"label": "zero-information control"} if legend else {}),
        )
    return ax


# ------------------------------------------------------------------------------------------------ marks
def lines_by(
    ax,
    frame,
    x: str,
    y: str,
    by: str,
    *,
    family: str | None = None,
    fmt: str = "o-",
    sort: bool = False,
    label_prefix: str = "",
):
    """One line of ``y`` against ``x`` per value of ``by`` (legend label: the value).

    Args:
      ax: matplotlib Axes.
      frame: the rows to draw.
      x, y: columns.
      by: one line per value of this column.
      family: a column naming each group's model family: the line takes :func:`family_color` (default: the
        colour cycle).
      fmt: matplotlib format string.
      sort: order the groups by value (default: order of appearance).
      label_prefix: legend prefix.

    Returns:
      The Axes.
    """
    for name, g in frame.groupby(by, sort=sort):
        kw = {"color": family_color(str(g[family].iloc[0]))} if family else {}
        ax.plot(g[x], g[y], fmt, label=f"{label_prefix}{name}", **kw)
    return ax


def lines_vs_size(
    ax,
    frame,
    y: str,
    *,
    size: str = "compressor_params",
    group: str = "compressor_family",
    ylabel: str | None = None,
    colors: dict | None = None,
    linestyle: str = "-",
    marker: str = "o",
    label_prefix: str = "",
    xlabel: str | None = None,
    title: str | None = None,
    source: str | None = None,
    log_y: bool = False,
):
    """Mean of ``y`` (with a 95% normal interval over rows) against model size, one line per group.

    Args:
      ax: matplotlib Axes.
      frame: rows (one per record and configuration).
      y: the column to average (``correct`` is read as 0/1).
      size: the size column (parameters); the x axis is log-scaled with "1.5B"-style ticks.
      group: one line per value of this column, coloured by :func:`family_color` (or ``colors``);
        a ``*_params`` column is labelled with sizes ("7B").
      ylabel: the y label (default ``y``).
      colors: optional ``{group value: colour}``.
      linestyle, marker, label_prefix: line style and legend prefix.
      xlabel: the x label (none by default).
      title, source: title, with the table's source on a second line (:func:`title_with_source`).
      log_y: log-scale the y axis.

    Returns:
      The Axes.
    """
    import numpy as np
    import pandas as pd

    df = frame[[group, size, y]].copy()
    df[y] = pd.to_numeric(df[y].map(lambda v: None if v is None else float(v)), errors="coerce")
    stats = df.groupby([group, size])[y].agg(["mean", "std", "count"]).reset_index()
    for g, sub in stats.groupby(group, sort=True):
        sub = sub.sort_values(size)
        half = 1.96 * sub["std"].fillna(0.0) / np.sqrt(sub["count"].clip(lower=1))
        color = (colors or {}).get(g, family_color(str(g)))
        name = size_label(float(g)) if group.endswith("_params") else str(g)
        ax.errorbar(
            sub[size],
            sub["mean"],
            yerr=half,
            color=color,
            ls=linestyle,
            marker=marker,
            capsize=2,
            label=f"{label_prefix}{name}",
        )
    ax.set_xscale("log")
    ticks = sorted(stats[size].unique())
    ax.set_xticks(ticks, [size_label(t) for t in ticks], fontsize=8, rotation=45)
    ax.minorticks_off()
    _decorate(ax, xlabel=xlabel, ylabel=ylabel or y, title=title, source=source)
    if log_y:
        ax.set_yscale("log")
    return ax


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


def _label_point(
    ax, text: Any, xy: tuple[Any, Any], *, fontsize: float, offset: tuple[float, float], rotation: float
) -> None:
    ax.annotate(str(text), xy, fontsize=fontsize, xytext=offset, textcoords="offset points", rotation=rotation)


def annotate_points(
    ax,
    frame,
    x: str,
    y: str,
    labels: Sequence[Any] | None = None,
    *,
    fontsize: float = 7,
    offset: tuple[float, float] = (3, 4),
    rotation: float = 0.0,
):
    """Write a label beside each point ``(frame[x], frame[y])`` (``labels``, default the index)."""
    for (_, r), text in zip(frame.iterrows(), frame.index if labels is None else labels):
        _label_point(ax, text, (r[x], r[y]), fontsize=fontsize, offset=offset, rotation=rotation)
    return ax


def labelled_points(
    ax,
    frame,
    x: str,
    y: str,
    *,
    label: str | None = "compressor",
    family: str = "compressor_family",
    size: float = 50,
    marker: str = "o",
    fontsize: int = 7,
    offset: tuple[float, float] = (3, 4),
    rotation: float = 25.0,
    zorder: float | None = 3,
):
    """One dot per row of ``frame`` coloured by family, labelled with ``label`` (a column; None: the index), slanted.

    Args:
      ax: matplotlib Axes.
      frame: one row per point.
      x, y: columns.
      label: the column to write beside each dot (None: the row's index).
      family: the column of model families (:func:`family_color`).
      size, marker, zorder: dot style (``zorder=None``: matplotlib's default).
      fontsize, offset, rotation: label style (offset in points).

    Returns:
      The Axes.
    """
    for idx, r in frame.iterrows():
        ax.scatter(
            r[x],
            r[y],
            s=size,
            color=family_color(str(r[family])),
            marker=marker,
            **({} if zorder is None else {"zorder": zorder}),
        )
        _label_point(
            ax, idx if label is None else r[label], (r[x], r[y]), fontsize=fontsize, offset=offset, rotation=rotation
        )
    return ax


def scatter_with_fit(ax, frame, x: str, y: str, *, color: str, s: float = 25) -> tuple[float, float]:
    """Scatter ``y`` against ``x`` with its least-squares line (black) over the observed ``x`` range.

    Returns:
      ``(slope, intercept)`` of the line.
    """
    import numpy as np

    slope, intercept = np.polyfit(frame[x], frame[y], 1)
    ax.scatter(frame[x], frame[y], color=color, s=s)
    grid = np.linspace(frame[x].min(), frame[x].max(), 50)
    ax.plot(grid, intercept + slope * grid, color="k", lw=1)
    return float(slope), float(intercept)


def interval_bars(
    ax,
    values,
    low,
    high,
    *,
    colors: Mapping | Sequence | str | None = None,
    width: float = 0.8,
    capsize: float = 3,
    label_prefix: str = "",
    rotation: float = 30,
):
    """Bars with interval error bars; one bar per row, and one bar group per column when ``values`` is a frame.

    Args:
      ax: matplotlib Axes.
      values: a Series (one bar per row) or a DataFrame (rows: x positions; columns: bars side by side, each
        labelled ``label_prefix + column`` for the legend).
      low, high: the interval ends, shaped like ``values`` (frames aligned on ``values``' index); a missing or
        infinite end draws no error bar on that side.
      colors: ``{column: colour}``, one colour per bar (a list, for a Series), or one colour.
      width: the width of one bar.
      capsize: error-bar caps.
      rotation: rotation of the x tick labels (the row index).

    Returns:
      The Axes.
    """
    import numpy as np
    import pandas as pd

    grouped = isinstance(values, pd.DataFrame)
    if not grouped:
        values, low, high = (pd.DataFrame({0: list(s)}, index=values.index) for s in (values, low, high))
    x = np.arange(len(values))
    k = values.shape[1]
    for n, col in enumerate(values.columns):
        v = values[col].to_numpy(dtype=float)
        lo = low[col].reindex(values.index).to_numpy(dtype=float)
        hi = high[col].reindex(values.index).to_numpy(dtype=float)
        err = np.abs(np.vstack([v - lo, hi - v]))
        err = np.where(np.isfinite(err), err, 0.0)
        color = colors.get(col) if isinstance(colors, Mapping) else colors
        kw = {"label": f"{label_prefix}{col}"} if grouped else {}
        ax.bar(x + (n - (k - 1) / 2) * width, v, width, yerr=err, capsize=capsize, color=color, **kw)
    ax.set_xticks(x, [str(i) for i in values.index], rotation=rotation, ha="right" if rotation else "center")
    return ax


def share_bars(
    ax, shares, *, colors: Sequence | str | None = None, ylabel: str | None = None, title: str | None = None
):
    """Bars of shares in [0, 1], one per index value, each labelled with its percentage ("n/a" when missing)."""
    import pandas as pd

    ax.bar(shares.index, shares.fillna(0), color=colors)
    for i, v in enumerate(shares):
        ax.annotate(
            "n/a" if pd.isna(v) else f"{v:.0%}",
            (i, 0 if pd.isna(v) else v),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=9,
        )
    ax.set_ylim(0, 1)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title, fontsize=10)
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
