"""Style primitives of the notebooks' figures: files, colours, figures sized per panel, axes, reference lines.

* **style and files**: :func:`use_style`, :func:`figures_dir`, :func:`savefig` (PNG + PDF into ``figures/``),
  :func:`finish` (tight layout, save, show);
* **colours**: :data:`FAMILY_COLORS` / :func:`family_color` (one colour per model family in every figure),
  :func:`sequential_colors` (a viridis ramp over ordered values such as model sizes);
* **figures and axes**: :func:`panel` / :func:`panels` (figures sized per panel), :func:`title_with_source`,
  :func:`size_label`, :data:`COMPRESSOR_SIZE`, :func:`contexts_axis`, :func:`plain_log_axis`;
* **reference lines**: :func:`ceiling_line` (the ``log2 N`` ceiling of the MI estimate),
  :func:`saturation_marks` (:data:`mi_utils.estimators.SATURATION_THRESHOLD` of the ceiling),
  :func:`chance_and_control` (accuracy floors).

No data-specific drawing here: :mod:`~mi_utils.plotting.marks` and :mod:`~mi_utils.plotting.figures` build on
these, never the reverse. matplotlib and seaborn are imported when a helper runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..paths import figures_dir as _figures_path

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
    """``$MI_UTILS_FIGURES``, else the clone's ``figures/``, else ``./figures`` (created if missing)."""
    path = _figures_path()
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
        from ..estimators import SATURATION_THRESHOLD  # numpy only: no model code

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
