"""Notebook 08's interactive views of a ranking: controls that pick the compressor, the document and the
summary, and three views that follow them.

The views are ordinary rich outputs, so they render wherever a notebook is shown, widget JavaScript or
not (a static HTML export, a notebook viewer, CI without a network):

* the ranking table as HTML (:func:`ranking_html`), the chosen compressor's row marked;
* the chosen summary as coloured text (:func:`token_html`): each token's share of the summary's pointwise
  information about its document (:func:`mi_utils.rank.token_information`), blue for tokens that point
  to the summary's own document, orange for tokens that point away from it, the value in each token's
  tooltip;
* a PNG (:func:`figure_png`): MI against the number of documents with the ``log2 n`` ceiling for every
  compressor (:func:`mi_utils.plotting.saturation_panel`), beside the chosen compressor's per-document
  information with the chosen document marked.

:meth:`Explorer.show` displays the controls (``ipywidgets`` dropdowns) and then each view with a
``display_id``; a change of a control recomputes the views and updates those outputs in place
(``update_display_data``), so a live kernel follows the reader while an executed notebook (papermill)
keeps the default views as plain outputs. The controls themselves need the widget JavaScript to show.
"""

from __future__ import annotations

import html
import io
import math
from typing import Any

import numpy as np

__all__ = ["token_html", "ranking_html", "figure_png", "Explorer"]

_POSITIVE = (0, 114, 178)  # blue: the token points to the summary's own document
_NEGATIVE = (230, 159, 0)  # orange: it points to other documents


def token_html(tokens, bits, *, scale: float | None = None, caption: str = "") -> str:
    """A summary as coloured tokens: ``<span class="mi-token">`` each, shaded by its information.

    Args:
      tokens: decoded pieces (in order; their concatenation is the summary).
      bits: one value per token (:func:`mi_utils.rank.token_pointwise_information`).
      scale: the value shown at full colour (default: the largest absolute value, at least 1 bit).
      caption: a line above the text (escaped).

    Raises:
      ValueError: ``tokens`` and ``bits`` differ in length, or a value is not finite.
    """
    values = np.asarray(bits, dtype=float)
    if len(tokens) != len(values):
        raise ValueError(f"{len(tokens)} tokens but {len(values)} values: pass one value per token")
    if not np.isfinite(values).all():
        raise ValueError("a token's information is not finite: the scores must be real log-probabilities")
    top = scale or max(1.0, float(np.abs(values).max(initial=0.0)))
    spans = []
    for piece, v in zip(tokens, values):
        rgb = _POSITIVE if v >= 0 else _NEGATIVE
        alpha = min(1.0, abs(v) / top)
        spans.append(
            f'<span class="mi-token" title="{html.escape(repr(piece))}: {v:+.2f} bits" '
            f'style="background-color: rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha:.2f})">{html.escape(piece)}</span>'
        )
    head = f'<div class="mi-caption">{html.escape(caption)}</div>' if caption else ""
    legend = (
        f'<div class="mi-legend" style="font-size: 0.8em">colour: bits about the document, full at +/-{top:.1f}; '
        '<span style="background-color: rgba(0, 114, 178, 0.6)">points to its document</span> '
        '<span style="background-color: rgba(230, 159, 0, 0.6)">points away</span></div>'
    )
    body = "".join(spans)
    return (
        f'<div class="mi-tokens">{head}<div style="white-space: pre-wrap; line-height: 1.6">{body}</div>{legend}</div>'
    )


def ranking_html(table, highlight: str | None = None, *, digits: int = 3) -> str:
    """The ranking table (:func:`mi_utils.rank.ranking_table`) as HTML, ``highlight``'s row marked."""
    cols = [
        "rank",
        "compressor",
        "mi_bits",
        "mi_ci_low_bits",
        "mi_ci_high_bits",
        "mi_ceiling_bits",
        "mi_saturation",
        "summary_tokens",
        "bits_per_token",
        "flops_per_summary",
    ]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks {missing}: pass mi_utils.rank.ranking_table's output")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = []
    for _, row in table[cols].iterrows():
        cells = "".join(f"<td>{_cell(row[c], digits)}</td>" for c in cols)
        mark = (
            ' class="mi-selected" style="font-weight: bold; background-color: #e8f1f8"'
            if row["compressor"] == highlight
            else ""
        )
        rows.append(f"<tr{mark}>{cells}</tr>")
    return f'<table class="mi-ranking"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}g}" if abs(value) >= 1e4 else f"{value:.{digits}f}"
    return html.escape(str(value))


def figure_png(fig, dpi: int = 90) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


class Explorer:
    """Controls and views over a :class:`mi_utils.rank.Ranking` (module docstring).

    Args:
      ranking: the ranking; scorer: its scorer (token views are scored on demand, then kept).
      curves: ``{compressor: saturation_curve}`` (default: computed from the ranking's scores).
    """

    def __init__(self, ranking, scorer, curves: dict | None = None) -> None:
        from .rank import saturation_curve

        self.ranking, self.scorer = ranking, scorer
        self.curves = curves or {c: saturation_curve(lp, seed=ranking.settings.seed) for c, lp in ranking.logp.items()}
        self._tokens: dict[tuple, Any] = {}

    def tokens(self, compressor: str, document: int, sample: int = 0):
        """:func:`mi_utils.rank.token_information` of one summary (scored once, then reused)."""
        from .rank import token_information

        key = (compressor, document, sample)
        if key not in self._tokens:
            z = self.ranking.summaries[compressor][document][sample]
            self._tokens[key] = token_information(
                self.scorer, self.ranking.contexts, self.ranking.settings.query, z.text, document
            )
        return self._tokens[key]

    def views(self, compressor: str, document: int, sample: int = 0) -> dict[str, Any]:
        """The three views for a choice: ``{"table": HTML, "tokens": HTML, "plot": Image}``."""
        from IPython.display import HTML, Image

        from .estimators import pointwise_mi
        from .plotting import panels, saturation_panel

        r = self.ranking
        if compressor not in r.summaries:
            raise ValueError(f"unknown compressor {compressor!r}; ranked: {list(r.summaries)}")
        tok = self.tokens(compressor, document, sample)
        rec = r.records[document]
        caption = f"{compressor}, summary {sample} of {rec.id!r}: {tok['bits'].sum():+.2f} bits about its document"
        per_doc = pointwise_mi(r.logp[compressor]).mean(axis=1) / math.log(2)
        fig, (left, right) = panels(2, size=(5.2, 3.6))
        saturation_panel(left, self.curves, highlight=compressor)
        left.set_title("Where the estimate saturates")
        colors = ["C3" if i == document else "0.6" for i in range(len(per_doc))]
        right.bar(range(len(per_doc)), per_doc, color=colors)
        right.set_xticks(range(len(per_doc)), [x.id for x in r.records], rotation=45, ha="right", fontsize=7)
        right.set(ylabel="pointwise MI [bits]", title=f"{compressor}: per document")
        return {
            "table": HTML(ranking_html(r.table, compressor)),
            "tokens": HTML(token_html(list(tok["token"]), tok["bits"], caption=caption)),
            "plot": Image(data=figure_png(fig), format="png"),
        }

    def show(self, compressor: str | None = None, document: int = 0, sample: int = 0):
        """Display the controls and the views (defaults: the top-ranked compressor, the first document)."""
        import ipywidgets as w
        from IPython.display import display

        r = self.ranking
        compressor = compressor or str(r.table["compressor"].iloc[0])
        pick_c = w.Dropdown(options=list(r.table["compressor"]), value=compressor, description="compressor")
        pick_d = w.Dropdown(
            options=[(x.id, i) for i, x in enumerate(r.records)], value=document, description="document"
        )
        pick_s = w.Dropdown(options=self._samples(compressor), value=sample, description="summary")
        controls = w.HBox([pick_c, pick_d, pick_s])
        display(controls)
        handles = {k: display(v, display_id=True) for k, v in self.views(compressor, document, sample).items()}

        def update(change) -> None:
            if change["owner"] is pick_c:
                before = pick_s.value
                pick_s.options = self._samples(pick_c.value)
                if pick_s.value != before:  # the sample was reset: that change's own call has drawn the views
                    return
            for k, v in self.views(pick_c.value, pick_d.value, pick_s.value or 0).items():
                handles[k].update(v)

        for control in (pick_c, pick_d, pick_s):
            control.observe(update, names="value")
        return controls

    def _samples(self, compressor: str) -> list[int]:
        return list(range(len(self.ranking.summaries[compressor][0])))
