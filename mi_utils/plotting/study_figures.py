"""The paper's figures drawn straight from a rows table: its side studies and the per-task figures.

Each builder takes a results table (the runner's ``rows.jsonl`` as :func:`mi_utils.analysis.load_table`
reads it, or :func:`mi_utils.analysis.simulate_grid` with ``studies="all"``), selects the rows its
figure needs, and returns the matplotlib ``Figure``; its title says *simulated* or *real* (from the
``simulated`` column). A table without a needed column, or without the rows a figure needs, raises a
``ValueError`` naming the column (or rows) and the figure.

* conciseness instructions (``sentences``): :func:`conciseness_figure` (Figs. 5, 16);
* per task: :func:`qasper_figure` (Fig. 9), :func:`information_vs_size` (Figs. 4, 15);
* query-agnostic items (``item_type``, ``perplexity``): :func:`perplexity_vs_mi_by_item` (Fig. 11),
  :func:`query_agnostic_figure` (Fig. 12);
* :func:`moe_figure` (Fig. 14): a mixture of experts against dense compressors; a compressor counts as a
  mixture of experts when its FLOPs per summary token are under half of ``2 x compressor_params`` (the
  runner counts FLOPs from the active parameters, :func:`mi_utils.costs.active_params`);
* :func:`refinement_figure` (Fig. 18): MI and accuracy over compress-and-refine rounds (``round``).

A compressor config the runner expands into several settings (``x-3sent``, ``x-round2``) is one line,
grouped by ``compressor_base`` (which :func:`~mi_utils.analysis.load_results` fills in older tables),
never by parsing setting names.

:data:`FIGURES_FROM_ROWS` maps each figure drawn from rows alone (no fitted analysis) to a builder
``(rows, source) -> Figure``: Figs. 2-5, 9, 11, 12, 14-16 and 18.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .figures import compressor_vs_predictor_scaling, metrics_vs_size
from .marks import lines_vs_size, mean_lines, scatter_with_fit
from .style import (
    COMPRESSOR_SIZE,
    _decorate,
    ceiling_line,
    family_color,
    panels,
    sequential_colors,
    size_label,
)

__all__ = [
    "FIGURES_FROM_ROWS",
    "conciseness_figure",
    "qasper_figure",
    "information_vs_size",
    "perplexity_vs_mi_by_item",
    "query_agnostic_figure",
    "moe_figure",
    "refinement_figure",
]


def _require(rows, columns: Sequence[str], figure: str) -> None:
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        hint = (
            "; a table built by hand gets compressor_base from mi_utils.config_columns.with_compressor_base"
            if "compressor_base" in missing
            else ""
        )
        raise ValueError(
            f"{figure}: the table has no column(s) {missing}; this figure needs {list(columns)} "
            f"(the runner's rows.jsonl columns, read with mi_utils.analysis.load_table){hint}"
        )


def _nonempty(rows, figure: str, what: str):
    if len(rows) == 0:
        raise ValueError(f"{figure}: the table has no {what}")
    return rows


def _kind(rows) -> str:
    """``"simulated"`` when every row says so, else ``"real"``."""
    if "simulated" in rows.columns and len(rows) and rows["simulated"].map(lambda v: v is True or v == 1).all():
        return "simulated"
    return "real"


def _plain(rows):
    """LM compressors without a sentence-count instruction, first round (the columns that exist)."""
    import pandas as pd

    keep = pd.Series(True, index=rows.index)
    if "compressor_kind" in rows.columns:
        keep &= rows["compressor_kind"] == "lm"
    if "sentences" in rows.columns:
        keep &= rows["sentences"].isna()
    if "round" in rows.columns:
        keep &= pd.to_numeric(rows["round"], errors="coerce").fillna(1) <= 1
    return rows[keep]


def _one_dataset(rows, dataset: str | None, figure: str, prefer: str = "longhealth"):
    """The rows of one data set (default: ``prefer`` when present, else the first by name)."""
    if "dataset" not in rows.columns:
        return rows, ""
    present = sorted(rows["dataset"].dropna().unique())
    if dataset is None:
        _nonempty(rows, figure, "rows to draw")
        dataset = prefer if prefer in present else present[0]
    if dataset not in present:
        raise ValueError(f"{figure}: no rows of data set {dataset!r} to draw; the table's rows here are of {present}")
    return rows[rows["dataset"] == dataset], dataset


def _with_units(rows, keys: Sequence[str]):
    """``rows`` with ``gflops`` and ``bits_per_token`` (MI over the setting's mean summary length)."""
    import pandas as pd

    out = rows.copy()
    out["gflops"] = pd.to_numeric(out["flops_compressor"], errors="coerce") / 1e9 if "flops_compressor" in out else None
    if "mi_bits" in out.columns:
        by = [out[k].astype(str) for k in keys if k in out.columns]
        tokens = pd.to_numeric(out["summary_tokens"], errors="coerce")
        mean_tokens = tokens.groupby(by, dropna=False).transform("mean")  # no sentence count: a group too
        out["bits_per_token"] = pd.to_numeric(out["mi_bits"], errors="coerce") / mean_tokens
    return out


_SETTING = ("compressor", "sentences", "round", "scorer")


def conciseness_figure(rows, *, dataset: str | None = None, source: str | None = None, title: str = "Fig. 5"):
    """Figs. 5 and 16: accuracy, GFLOPs, MI and bits per token against compressor size per sentence count.

    One line per (family, ``sentences``): colour along the sentence count, line style per family.

    Args:
      rows: a table with ``sentences`` (rows without an instruction are left out).
      dataset: the data set (default: LongHealth when it has instructed rows, else the first by name).
      source, title: the table's source and the title prefix.
    """
    need = ("sentences", "compressor_params", "compressor_family", "correct", "flops_compressor", "mi_bits")
    _require(rows, (*need, "summary_tokens"), title)
    sub = rows[rows["sentences"].notna()]
    if "compressor_kind" in sub.columns:
        sub = sub[sub["compressor_kind"] == "lm"]
    _nonempty(sub, title, "LM rows with a sentence-count instruction (column 'sentences' is empty)")
    sub, dataset = _one_dataset(sub, dataset, title)
    sub = _with_units(sub.assign(sentences=sub["sentences"].astype(float).astype(int)), _SETTING)
    counts = sorted(sub["sentences"].unique())
    colors = sequential_colors(counts)
    metrics = [
        ("correct", "accuracy"),
        ("gflops", "GFLOPs per generation"),
        ("mi_bits", "MI estimate (bits)"),
        ("bits_per_token", "bits per summary token"),
    ]
    fig, axes = panels(len(metrics), ncols=len(metrics), size=(4.0, 3.4))
    if sub["compressor_params"].nunique() == 1:  # one compressor (a real run): the sentence count is the x axis
        _require(sub, ("compressor_base",), title)
        _against_sentences(axes, sub, metrics, f"{title} ({_kind(rows)}) · {dataset}", source)
        return fig
    styles = ("-", "--", ":", "-.")
    for ax, (col, label) in zip(axes, metrics):
        for i, (fam, g) in enumerate(sub.groupby("compressor_family", sort=True)):
            lines_vs_size(
                ax,
                g,
                col,
                group="sentences",
                colors=colors,
                linestyle=styles[i % len(styles)],
                label_prefix=f"{fam} · sentences ",
                ylabel=label,
                xlabel=COMPRESSOR_SIZE,
                title=f"{title} ({_kind(rows)}) · {dataset}",
                source=source,
            )
    axes[0].legend(fontsize=7)
    return fig


def _against_sentences(axes, sub, metrics, title: str, source: str | None) -> None:
    """Each metric's mean (95% normal interval over rows) against the instructed sentence count, one line per
    compressor config (``compressor_base``: the runner's ``x-3sent``, ``x-6sent``, ... are one line ``x``)."""
    for ax, (col, label) in zip(axes, metrics):
        mean_lines(ax, sub, "sentences", col, "compressor_base")
        ax.set_xticks(sorted(sub["sentences"].unique()))
        _decorate(ax, xlabel="instructed sentences", ylabel=label, title=title, source=source)
    axes[0].legend(fontsize=7)


def qasper_figure(rows, *, dataset: str = "qasper", source: str | None = None, title: str = "Fig. 9"):
    """Fig. 9: accuracy, summary length and MI against compressor size on QASPER, one line per family."""
    _require(rows, ("dataset", "compressor_params", "compressor_family", "correct", "summary_tokens", "mi_bits"), title)
    sub, _ = _one_dataset(_plain(rows), dataset, title)
    metrics = [
        ("correct", "accuracy"),
        ("summary_tokens", "summary length (tokens)"),
        ("mi_bits", "MI estimate (bits)"),
    ]
    return metrics_vs_size(sub, metrics, source=source, by="dataset", title=f"{title} ({_kind(rows)})", size=(4.6, 3.4))


def information_vs_size(rows, *, dataset: str | None = None, source: str | None = None, title: str = "Fig. 15"):
    """Figs. 4 and 15: MI (with the ``log2 N`` ceiling) and bits per token against compressor size, per family."""
    _require(rows, ("compressor_params", "compressor_family", "mi_bits", "summary_tokens"), title)
    sub, dataset = _one_dataset(_plain(rows), dataset, title)
    sub = _with_units(sub[sub["mi_bits"].notna()], _SETTING)
    _nonempty(sub, title, f"rows with an MI estimate on {dataset}")
    info = [("mi_bits", "MI estimate (bits)"), ("bits_per_token", "bits per summary token")]
    fig = metrics_vs_size(sub, info, source=source, by="dataset", title=f"{title} ({_kind(rows)})", log_y=())
    if "mi_ceiling_bits" in sub.columns and sub["mi_ceiling_bits"].notna().any():
        ceiling_line(fig.axes[0], float(sub["mi_ceiling_bits"].max()))
    return fig


def perplexity_vs_mi_by_item(rows, *, source: str | None = None, title: str = "Fig. 11"):
    """Fig. 11: perplexity of the reference against MI, one point per (compressor, item type), a line per type.

    One panel per data set with items; the legend gives each item type's Pearson r over compressors.
    """
    import numpy as np
    import pandas as pd

    _require(rows, ("dataset", "compressor", "compressor_family", "item_type", "perplexity", "mi_bits"), title)
    sub = _plain(rows)
    sub = sub[sub["item_type"].notna() & sub["perplexity"].notna() & sub["mi_bits"].notna()]
    _nonempty(sub, title, "rows with an item_type, a perplexity and an MI estimate")
    pts = (
        sub.assign(perplexity=pd.to_numeric(sub["perplexity"]), mi_bits=pd.to_numeric(sub["mi_bits"]))
        .groupby(["dataset", "item_type", "compressor"], sort=True)[["mi_bits", "perplexity"]]
        .mean()
        .reset_index()
    )
    datasets = sorted(pts["dataset"].unique())
    fig, axes = panels(len(datasets), size=(5.0, 3.8))
    colors = {"extractive": "#0072B2", "creative": "#D55E00"}
    for ax, ds in zip(axes, datasets):
        for item, g in pts[pts["dataset"] == ds].groupby("item_type", sort=True):
            color = colors.get(item, family_color("other"))
            if len(g) >= 2 and g["mi_bits"].nunique() > 1:
                scatter_with_fit(ax, g, "mi_bits", "perplexity", color=color)
                r = float(np.corrcoef(g["mi_bits"], g["perplexity"])[0, 1])
                ax.collections[-1].set_label(f"{item} (r = {r:.2f}, {len(g)} compressors)")
            else:
                ax.scatter(g["mi_bits"], g["perplexity"], color=color, label=f"{item} ({len(g)} compressors)")
        _decorate(
            ax,
            xlabel="MI estimate (bits)",
            ylabel="perplexity of the reference",
            title=f"{title} ({_kind(rows)}) · {ds}",
            source=source,
        )
        ax.legend(fontsize=7)
    return fig


def query_agnostic_figure(rows, *, dataset: str = "fineweb", source: str | None = None, title: str = "Fig. 12"):
    """Fig. 12: perplexity per item type, summary length and GFLOPs against compressor size, one line per family."""
    need = ("dataset", "compressor_params", "compressor_family", "item_type", "perplexity", "summary_tokens")
    _require(rows, (*need, "flops_compressor"), title)
    sub, _ = _one_dataset(_plain(rows)[lambda d: d["item_type"].notna()], dataset, title)
    sub = _with_units(sub, _SETTING)
    items = sorted(sub["item_type"].unique())
    panels_ = [(f"perplexity ({item} items)", sub[sub["item_type"] == item], "perplexity", True) for item in items]
    panels_ += [
        ("summary length (tokens)", sub, "summary_tokens", True),
        ("GFLOPs per generation", sub, "gflops", False),
    ]
    fig, axes = panels(len(panels_), ncols=len(panels_), size=(4.0, 3.4))
    for ax, (label, frame, col, log_y) in zip(axes, panels_):
        lines_vs_size(
            ax,
            frame,
            col,
            ylabel=label,
            xlabel=COMPRESSOR_SIZE,
            title=f"{title} ({_kind(rows)}) · {dataset}",
            source=source,
            log_y=log_y,
        )
    axes[0].legend(fontsize=8)
    return fig


def moe_figure(rows, *, dataset: str | None = None, source: str | None = None, title: str = "Fig. 14"):
    """Fig. 14: a mixture-of-experts compressor (star, at its total size) against the dense sizes of its family.

    Accuracy, MI and GFLOPs per generation against compressor size; the star's label gives the active
    parameters the FLOPs imply (FLOPs per summary token / 2).
    """
    import numpy as np
    import pandas as pd

    need = ("compressor", "compressor_params", "compressor_family", "summary_tokens", "flops_compressor", "correct")
    _require(rows, (*need, "mi_bits"), title)
    sub = _plain(rows)
    sub = sub[pd.to_numeric(sub["compressor_params"], errors="coerce") > 0]
    per_token = pd.to_numeric(sub["flops_compressor"]) / (2.0 * pd.to_numeric(sub["summary_tokens"]))
    active = per_token.groupby(sub["compressor"]).median()
    total = sub.groupby("compressor")["compressor_params"].first().astype(float)
    moe = sorted(active.index[(active / total) < 0.5])
    if not moe:
        raise ValueError(
            f"{title}: no mixture-of-experts compressor in the table (none has FLOPs per summary token "
            "under half of 2 x compressor_params)"
        )
    if dataset is None:
        dataset = sorted(sub.loc[sub["compressor"].isin(moe), "dataset"].unique())[0] if "dataset" in sub else None
    sub, dataset = _one_dataset(sub, dataset, title)
    fams = set(sub.loc[sub["compressor"].isin(moe), "compressor_family"])
    sub = _with_units(sub[sub["compressor_family"].isin(fams)], _SETTING)
    dense, sparse = sub[~sub["compressor"].isin(moe)], sub[sub["compressor"].isin(moe)]
    metrics = [("correct", "accuracy"), ("mi_bits", "MI estimate (bits)"), ("gflops", "GFLOPs per generation")]
    fig, axes = panels(len(metrics), ncols=len(metrics), size=(4.2, 3.4))
    for ax, (col, label) in zip(axes, metrics):
        if len(dense):
            lines_vs_size(ax, dense, col, label_prefix="dense ", ylabel=label, xlabel=COMPRESSOR_SIZE)
        for name, g in sparse.groupby("compressor"):
            v = pd.to_numeric(g[col].map(lambda x: None if x is None else float(x)), errors="coerce").dropna()
            half = 1.96 * float(v.std(ddof=1)) / np.sqrt(len(v)) if len(v) > 1 else 0.0
            x = float(g["compressor_params"].iloc[0])
            ax.errorbar(
                [x], [float(v.mean())], yerr=[half], marker="*", ms=14, ls="none", capsize=2,
                color=family_color(str(g["compressor_family"].iloc[0])),
                label=f"{name} (MoE: {size_label(x)} total, ~{size_label(float(active[name]))} active)",
            )  # fmt: skip
        ax.set_xscale("log")
        ticks = sorted(sub["compressor_params"].astype(float).unique())
        ax.set_xticks(ticks, [size_label(t) for t in ticks], fontsize=8, rotation=45)
        ax.minorticks_off()
        _decorate(ax, xlabel=COMPRESSOR_SIZE, ylabel=label, title=f"{title} ({_kind(rows)}) · {dataset}",
                  source=source)  # fmt: skip
    axes[0].legend(fontsize=7)
    return fig


def refinement_figure(rows, *, dataset: str | None = None, source: str | None = None, title: str = "Fig. 18"):
    """Fig. 18: MI (and accuracy, where scored) over the rounds of a compress-and-refine loop, one line per compressor."""
    import pandas as pd

    _require(rows, ("round", "compressor", "compressor_base", "compressor_params", "mi_bits"), title)
    sub = rows[pd.to_numeric(rows["round"], errors="coerce").notna()]
    if "compressor_kind" in sub.columns:
        sub = sub[sub["compressor_kind"] == "lm"]
    if "sentences" in sub.columns:
        sub = sub[sub["sentences"].isna()]
    multi = sub.groupby("dataset")["round"].nunique() if "dataset" in sub.columns else None
    if multi is not None and dataset is None:  # the first data set with refined rows
        dataset = next(iter(sorted(multi.index[multi >= 2])), None)
    sub, dataset = _one_dataset(sub, dataset, title)
    # one line per refined chain: its config's compressor (the runner names round r of config "x" "x-round<r>",
    # with compressor_base "x"; the simulator keeps one name across the rounds)
    sub = sub.assign(round=pd.to_numeric(sub["round"]).astype(int), compressor=sub["compressor_base"].astype(str))
    sub = sub[sub.groupby("compressor")["round"].transform("nunique") >= 2]  # settings that were refined
    if sub["round"].nunique() < 2:
        raise ValueError(f"{title}: the table needs rows of at least two refinement rounds (column 'round')")
    metrics = [("mi_bits", "MI estimate (bits)")]
    if "correct" in sub.columns and sub["correct"].notna().any():
        metrics.append(("correct", "accuracy"))
    order = sub.drop_duplicates("compressor").sort_values("compressor_params")["compressor"].tolist()
    colors = sequential_colors(order)
    fig, axes = panels(len(metrics), size=(5.0, 3.6))
    own = {"mi_ci_low_bits", "mi_ci_high_bits"} <= set(sub.columns)
    for ax, (col, label) in zip(axes, metrics):
        yerr = _estimate_interval if col == "mi_bits" and own else None
        mean_lines(ax, sub, "round", col, "compressor", order=order, colors=colors, yerr=yerr)
        ax.set_xticks(sorted(sub["round"].unique()))
        _decorate(ax, xlabel="refinement round", ylabel=label, title=f"{title} ({_kind(rows)}) · {dataset}",
                  source=source)  # fmt: skip
    if "mi_ceiling_bits" in sub.columns and sub["mi_ceiling_bits"].notna().any():
        ceiling_line(axes[0], float(sub["mi_ceiling_bits"].max()), legend=False)
    axes[0].legend(fontsize=7)
    return fig


def _estimate_interval(name, g, stats):
    """The MI estimate's own interval (its bounds averaged per round) where every round has one, else the normal
    interval over rows (``stats["half"]``)."""
    import pandas as pd

    low = pd.to_numeric(g["mi_ci_low_bits"], errors="coerce").groupby(g["round"]).mean().reindex(stats.index)
    high = pd.to_numeric(g["mi_ci_high_bits"], errors="coerce").groupby(g["round"]).mean().reindex(stats.index)
    if low.notna().all() and high.notna().all():
        return [stats["mean"] - low, high - stats["mean"]]
    return stats["half"]


def _fig2(rows, source):
    _require(rows, ("dataset", "compressor_params", "compressor_family", "correct", "summary_tokens"), "Fig. 2")
    lm = _with_units(_plain(rows), _SETTING)
    lm = lm[lm["dataset"].isin(sorted(lm.loc[lm["correct"].notna(), "dataset"].unique()))]
    metrics = [
        ("correct", "accuracy"),
        ("summary_tokens", "summary length (tokens)"),
        ("gflops", "GFLOPs per generation"),
    ]
    return metrics_vs_size(lm, metrics, source=source, title=f"Fig. 2 ({_kind(rows)})")


def _fig3(rows, source):
    _require(rows, ("dataset", "compressor_params", "predictor_params", "compressor_family", "correct"), "Fig. 3")
    lm = _plain(rows)
    lm = lm[lm["correct"].notna()]
    lm, dataset = _one_dataset(lm[lm["predictor_params"].notna()], None, "Fig. 3")
    fam = lm["compressor_family"].value_counts().index[0]
    sub = lm[lm["compressor_family"] == fam]
    return compressor_vs_predictor_scaling(
        sub, family=fam, dataset=dataset, source=source, title=f"Fig. 3 ({_kind(rows)})"
    )


#: Figure name -> ``(rows, source) -> Figure``, for every figure drawn from a rows table alone.
FIGURES_FROM_ROWS: dict[str, Callable[[Any, str | None], Any]] = {
    "fig2": _fig2,
    "fig3": _fig3,
    "fig4": lambda rows, source: information_vs_size(rows, dataset="longhealth", source=source, title="Fig. 4"),
    "fig5": lambda rows, source: conciseness_figure(rows, dataset="longhealth", source=source, title="Fig. 5"),
    "fig9": lambda rows, source: qasper_figure(rows, source=source),
    "fig11": lambda rows, source: perplexity_vs_mi_by_item(rows, source=source),
    "fig12": lambda rows, source: query_agnostic_figure(rows, source=source),
    "fig14": lambda rows, source: moe_figure(rows, source=source),
    "fig15": lambda rows, source: information_vs_size(rows, dataset="financebench", source=source, title="Fig. 15"),
    "fig16": lambda rows, source: conciseness_figure(rows, dataset="financebench", source=source, title="Fig. 16"),
    "fig18": lambda rows, source: refinement_figure(rows, source=source),
}
