"""Marks: generic drawing on one Axes (lines, points, bars), in the family colours where rows name a family.

:func:`lines_by` (one line per group), :func:`mean_lines` (mean and 95% interval of a column against another, one
line per group), :func:`lines_vs_size` (those lines against model size, one per family), :func:`labelled_points` /
:func:`annotate_points`, :func:`scatter_with_fit`, :func:`interval_bars`, :func:`share_bars`. Each takes a matplotlib ``Axes`` first and returns it
(:func:`scatter_with_fit`: the fitted line's slope and intercept; :func:`mean_lines`: the statistics it drew).

They use the primitives of :mod:`~mi_utils.plotting.style`; the paper's figures
(:mod:`~mi_utils.plotting.figures`) are built from them. numpy and pandas are imported when a helper runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .style import _decorate, family_color, size_label

__all__ = [
    "lines_by",
    "mean_lines",
    "lines_vs_size",
    "annotate_points",
    "labelled_points",
    "scatter_with_fit",
    "interval_bars",
    "share_bars",
]


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


def mean_lines(
    ax,
    frame,
    x: str,
    y: str,
    group: str,
    *,
    order: Sequence | None = None,
    colors: Mapping | None = None,
    label: Callable[[Any], str] = str,
    yerr: Callable[[Any, Any, Any], Any] | None = None,
    dropna: bool = True,
    **style,
) -> dict:
    """Mean of ``y`` (with a 95% normal interval over rows, mean +- 1.96 SE) against ``x``, one line per group.

    Args:
      ax: matplotlib Axes.
      frame: rows (one per record and configuration).
      x: the x column (one point per value).
      y: the column to average (``correct`` is read as 0/1; ``None`` and non-numbers are skipped).
      group: one line per value of this column.
      order: the groups to draw, in this order (default: every group, sorted); a group without an ``x`` is skipped.
      colors: optional ``{group value: colour}`` (a group not in it takes the colour cycle).
      label: the legend label of a group value (default ``str``).
      yerr: optional ``(group value, its rows, its stats) -> yerr`` replacing the normal interval.
      dropna: leave out points whose mean is undefined (every ``y`` missing); False keeps them (a gap).
      **style: passed to ``ax.errorbar`` (default ``marker="o"``, ``capsize=2``).

    Returns:
      ``{group value: stats}``: per ``x`` value (the index), ``mean``, ``std``, ``count`` and ``half`` (the
      interval's half-width).
    """
    import numpy as np
    import pandas as pd

    style = {"marker": "o", "capsize": 2, **style}
    groups = dict(iter(frame.groupby(group, sort=True)))
    unknown = [name for name in order or () if name not in groups]
    if unknown:
        raise ValueError(f"mean_lines: no rows with {group} in {unknown}; order lists values of the column {group!r}")
    out = {}
    for name in groups if order is None else order:
        g = groups[name]
        v = pd.to_numeric(g[y].map(lambda u: None if u is None else float(u)), errors="coerce")
        stats = v.groupby(g[x]).agg(["mean", "std", "count"])
        if stats.empty:  # no row of the group has an x: no line
            continue
        if dropna:
            stats = stats.dropna(subset=["mean"])
        stats["half"] = 1.96 * stats["std"].fillna(0.0) / np.sqrt(stats["count"].clip(lower=1))
        kw = {"color": colors[name]} if colors is not None and name in colors else {}
        err = stats["half"] if yerr is None else yerr(name, g, stats)
        ax.errorbar(stats.index, stats["mean"], yerr=err, label=label(name), **kw, **style)
        out[name] = stats
    return out


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

    def name(g) -> str:
        return f"{label_prefix}{size_label(float(g)) if group.endswith('_params') else g}"

    palette = {g: (colors or {}).get(g, family_color(str(g))) for g in frame[group].dropna().unique()}
    stats = mean_lines(ax, frame, size, y, group, colors=palette, label=name, dropna=False, ls=linestyle, marker=marker)
    ax.set_xscale("log")
    ticks = sorted({t for s in stats.values() for t in s.index})
    ax.set_xticks(ticks, [size_label(t) for t in ticks], fontsize=8, rotation=45)
    ax.minorticks_off()
    _decorate(ax, xlabel=xlabel, ylabel=ylabel or y, title=title, source=source)
    if log_y:
        ax.set_yscale("log")
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
