"""One way to save figures, one colour per model family, shared styles."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FAMILY_COLORS", "family_color", "figures_dir", "savefig", "use_style"]

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
