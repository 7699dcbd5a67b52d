"""One way to save figures, one colour per model family, shared styles."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "FAMILY_COLORS",
    "family_color",
    "figures_dir",
    "forest_plot",
    "savefig",
    "use_style",
    "size_label",
    "title_with_source",
    "lines_vs_size",
    "rate_distortion_panel",
    "labelled_points",
    "importance_bars",
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


def family_color(family: str) -> str:
    """Colour of a model family (``"other"``'s colour for unknown families)."""
    return FAMILY_COLORS.get(family, FAMILY_COLORS["other"])


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
        raise ValueError(f"forest_plot: expected the result of mi_utils.analysis.meta_analysis; "
                         f"the object lacks {missing}")
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
    diamond = Polygon([(lo, 0.0), (est, 0.3), (hi, 0.0), (est, -0.3)], closed=True, facecolor="#D55E00",
                      edgecolor="#D55E00", zorder=3, gid="pooled")
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


# ------------------------------------------------------------------------------------------------
# Figure helpers of the analysis notebooks (04-06): the matplotlib boilerplate lives here, once.
def size_label(params: float) -> str:
    """``1.5e9 -> "1.5B"``, ``1.35e8 -> "135M"``."""
    if params >= 1e9:
        return f"{params / 1e9:.3g}B"
    return f"{params / 1e6:.3g}M"


def title_with_source(ax, title: str, source: str) -> None:
    """Set ``title`` with the table's source on a second line ("simulated" shows when it is)."""
    ax.set_title(f"{title}\n[{source}]", fontsize=10)


def lines_vs_size(ax, frame, y: str, *, size: str = "compressor_params", group: str = "compressor_family",
                  ylabel: str | None = None, colors: dict | None = None,
                  linestyle: str = "-", marker: str = "o", label_prefix: str = "") -> None:
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
        ax.errorbar(sub[size], sub["mean"], yerr=half, color=color, ls=linestyle, marker=marker, capsize=2,
                    label=f"{label_prefix}{name}")
    ax.set_xscale("log")
    ticks = sorted(stats[size].unique())
    ax.set_xticks(ticks, [size_label(t) for t in ticks], fontsize=8, rotation=45)
    ax.minorticks_off()
    ax.set_ylabel(ylabel or y)


def rate_distortion_panel(ax, points, fits: dict, *, rate: str = "mi_per_token_bits", distortion: str = "distortion",
                          group: str = "predictor", colors: dict | None = None, xlabel: str | None = None) -> None:
    """Rate-distortion points per group and their fitted ``D(R) = C exp(-b R) + D0`` curves.

    Args:
      ax: matplotlib Axes.
      points: one line per configuration (``rate``, ``distortion``, ``group`` columns).
      fits: group value -> fitted object with ``predict(rate)`` (e.g. ``RateDistortionFit``).
      rate, distortion, group: column names.
      colors: optional ``{group value: colour}`` (default: a sequential palette).
      xlabel: x label (default: bits per summary token).
    """
    import matplotlib as mpl
    import numpy as np

    groups = list(dict.fromkeys(points[group]))
    cmap = mpl.colormaps["viridis"]
    for n, g in enumerate(groups):
        sub = points[points[group] == g]
        color = (colors or {}).get(g, cmap(n / max(1, len(groups) - 1) * 0.85))
        ax.scatter(sub[rate], sub[distortion], color=color, s=28, label=str(g), zorder=3)
        if g in fits:
            grid = np.linspace(min(0.0, float(sub[rate].min())), float(points[rate].max()) * 1.05, 200)
            ax.plot(grid, fits[g].predict(grid), color=color, lw=1.5)
    ax.set_xlabel(xlabel or "rate: I(X;Z|Q) per summary token (bits / token)")
    ax.set_ylabel("distortion: 1 - accuracy")
    ax.set_ylim(-0.02, 1.02)


def labelled_points(ax, frame, x: str, y: str, *, label: str = "compressor", family: str = "compressor_family",
                    size: float = 50, marker: str = "o", fontsize: int = 7) -> None:
    """One dot per row of ``frame`` coloured by family, labelled with ``label`` (slanted)."""
    for _, r in frame.iterrows():
        ax.scatter(r[x], r[y], s=size, color=family_color(str(r[family])), marker=marker, zorder=3)
        ax.annotate(str(r[label]), (r[x], r[y]), fontsize=fontsize, xytext=(3, 4), textcoords="offset points",
                    rotation=25)


def importance_bars(ax, ranked, *, value: str = "lr_chi2", label: str = "factor") -> None:
    """Horizontal bars of factor importance (most important on top), p-values as text."""
    import numpy as np

    r = ranked.iloc[::-1]
    y = np.arange(len(r))
    ax.barh(y, r[value], color="#0072B2")
    ax.set_yticks(y, r[label])
    for yi, (v, p) in enumerate(zip(r[value], r["p_value"])):
        ax.annotate(f"p={p:.1e}", (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel("likelihood-ratio chi-square of dropping the factor")
