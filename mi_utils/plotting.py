"""One way to save figures, one colour per model family, shared styles."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FAMILY_COLORS", "family_color", "figures_dir", "forest_plot", "savefig", "use_style"]

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


def savefig(fig, name: str, *, formats: tuple[str, ...] = ("png",)) -> Path:
    """Save ``fig`` as ``figures/<name>.<fmt>`` and return the first path written.

    Args:
      fig: a matplotlib Figure.
      name: file stem, conventionally prefixed with the notebook number (``"02_mi_vs_n"``).
      formats: file formats; png by default, add ``"pdf"`` for papers.
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
