"""Notebook 08's views (mi_utils.explore) on a ranking of fake models: coloured tokens, the ranking table, the plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from types import SimpleNamespace

import pytest

from mi_utils.data import load_text_folder
from mi_utils.explore import Explorer, ranking_html, token_html
from mi_utils.plotting import panels, saturation_panel
from mi_utils.rank import DOCUMENT_QUERY, rank_documents, saturation_curve

from fakes import RANK_TINY_LLAMA, rank_fakes, rank_settings, write_documents


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    lms, cache = rank_fakes()
    records = load_text_folder(write_documents(tmp_path_factory.mktemp("docs")), DOCUMENT_QUERY)
    res = rank_documents(
        records,
        rank_settings(compressors=("copier", "constant")),
        None,
        models=cache(),
        cost_inputs=lambda spec: (RANK_TINY_LLAMA, 1000.0),
        progress=False,
    )
    return res, lms["fake-scorer"]


def test_token_html_shades_each_token_and_escapes_text():
    page = token_html(["<b>", " x"], [2.0, -1.0], caption="a & b")
    assert page.count('class="mi-token"') == 2
    assert "&lt;b&gt;" in page and "<b>" not in page.replace("<b>", "", 0) and "a &amp; b" in page
    assert "rgba(0, 114, 178, 1.00)" in page and "rgba(230, 159, 0, 0.50)" in page  # blue full, orange half
    with pytest.raises(ValueError, match="one value per token"):
        token_html(["a"], [1.0, 2.0])
    with pytest.raises(ValueError, match="not finite"):
        token_html(["a"], [float("nan")])


def test_views_follow_the_choice(ranked):
    res, scorer = ranked
    explorer = Explorer(res, scorer)
    views = explorer.views("copier", 1, 1)
    assert set(views) == {"table", "tokens", "plot"}
    assert views["table"].data.count('class="mi-selected"') == 1 and "copier" in views["table"].data
    z = res.summaries["copier"][1][1]
    assert views["tokens"].data.count('class="mi-token"') == len(scorer.encode(" " + z.text))
    assert "summary 1 of &#x27;doc1&#x27;" in views["tokens"].data
    assert views["plot"].data[:8] == b"\x89PNG\r\n\x1a\n"
    other = explorer.views("constant", 2)
    assert "summary 0 of &#x27;doc2&#x27;" in other["tokens"].data
    with pytest.raises(ValueError, match="unknown compressor"):
        explorer.views("nobody", 0)
    assert ranking_html(res.table).count("<tr") == 1 + len(res.table)


def test_saturation_panel_draws_every_curve_under_the_ceiling(ranked):
    res, _ = ranked
    curves = {c: saturation_curve(lp) for c, lp in res.logp.items()}
    fig, (ax,) = panels(1)
    saturation_panel(ax, curves, highlight="copier")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["ceiling log2 n", "copier", "constant"] and ax.get_xlabel().startswith("n (documents")
    with pytest.raises(ValueError, match="no saturation curves"):
        saturation_panel(ax, {})


def test_a_new_compressor_redraws_the_views_once(ranked, monkeypatch):
    """Switching to a compressor with fewer summaries resets the sample: the views are drawn once, for it."""
    pytest.importorskip("ipywidgets")
    res, scorer = ranked
    explorer = Explorer(res, scorer)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: SimpleNamespace(update=lambda v: None))
    drawn = []
    real = explorer.views
    monkeypatch.setattr(explorer, "views", lambda c, d, s=0: drawn.append((c, d, s)) or real(c, d, s))
    controls = explorer.show("copier", 1, 1)
    pick_c, pick_d, pick_s = controls.children
    drawn.clear()
    pick_c.value = "constant"  # one summary: the sample goes from 1 to 0
    assert drawn == [("constant", 1, 0)]
    pick_d.value = 0
    assert drawn == [("constant", 1, 0), ("constant", 0, 0)]
