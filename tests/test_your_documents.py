"""Notebook 08 (your documents) in its SMOKE setting: it runs headless (papermill), saves its figures, and its
views render in a real headless browser (Debian's ``chromium``) from the notebook exported to HTML.

Executed once for the module (``tests/test_notebooks.py`` leaves 08 to this file). Without chromium the browser
test is skipped, unless ``MI_UTILS_REQUIRE_BROWSER=1`` (CI, which installs it), in which case it fails. The
export points every CDN script (widget manager, require.js, MathJax) at an empty local file: CI has no network,
so the page must render from what the notebook itself holds. The views are plain HTML and PNG outputs and
render; the ipywidgets controls need the widget manager's JavaScript and do not (the page only carries their
state), which the test records as well.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from mi_utils.__main__ import execute_notebook

from conftest import REPO, notebook_setup_from

NOTEBOOK = REPO / "notebooks" / "08_your_documents.ipynb"
SMOKE_COMPRESSORS = 3  # the notebook's SMOKE candidates: one LM, first_k:32, constant


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("notebook08")
    patch = pytest.MonkeyPatch()
    patch.setenv("MI_UTILS_FIGURES", str(tmp / "figures"))
    try:
        out = execute_notebook(NOTEBOOK, tmp / "out", {"SMOKE": True}, timeout=1200)
    finally:
        patch.undo()
    return out, tmp / "figures"


def _outputs(nb: dict) -> list[dict]:
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


@pytest.mark.notebook
@pytest.mark.slow
def test_notebook_08_runs_and_saves_its_figures(executed):
    out, figures = executed
    assert {p.stem for p in figures.glob("*.png")} >= {"08_ranking", "08_saturation"}
    outputs = _outputs(json.loads(out.read_text(encoding="utf-8")))
    assert not [o for o in outputs if o["output_type"] == "error"]
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert html.count('class="mi-token"') > 0 and 'class="mi-ranking"' in html
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, "the explorer's controls were not displayed"


def test_notebook_08_puts_its_results_under_the_clone_from_any_working_directory(tmp_path):
    """08's default OUT is resolved through mi_utils.paths (the clone's results/rank), not relative to notebooks/."""
    (tmp_path / "my_docs").mkdir()
    runs = [
        {"SMOKE": False},
        {"SMOKE": False, "FOLDER": str(tmp_path / "my_docs"), "OUT": str(tmp_path / "ranks")},  # absolute: as given
        {"SMOKE": True},  # CI writes nothing
    ]
    got = notebook_setup_from(NOTEBOOK, tmp_path, runs, ["out"])
    assert got == [
        [str(REPO / "results" / "rank" / "passages")],
        [str(tmp_path / "ranks" / "my_docs")],
        ["None"],
    ]


class _Views(HTMLParser):
    """What the browser's DOM holds: coloured tokens, ranking rows, embedded PNGs, widget placeholders."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens, self.ranking_rows, self.pngs, self.widget_state, self.controls = 0, 0, 0, 0, 0
        self._in_ranking = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "span" and "mi-token" in classes and "background-color" in (a.get("style") or ""):
            self.tokens += 1
        if tag == "table" and "mi-ranking" in classes:
            self._in_ranking = True
        if tag == "tr" and self._in_ranking:
            self.ranking_rows += 1
        if tag == "img" and (a.get("src") or "").startswith("data:image/png;base64,"):
            self.pngs += 1
        if tag == "script" and a.get("type") == "application/vnd.jupyter.widget-view+json":
            self.widget_state += 1
        if tag == "select" or "widget-dropdown" in classes:
            self.controls += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_ranking = False


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        msg = "chromium is not installed: `apt-get install -y chromium` (Debian) to run the browser check"
        if os.environ.get("MI_UTILS_REQUIRE_BROWSER") == "1":
            pytest.fail(msg + " (MI_UTILS_REQUIRE_BROWSER=1 makes this a failure)")
        pytest.skip(msg)
    return path


def _export_offline(notebook, folder):
    """The executed notebook as one HTML page whose CDN scripts are an empty local file (no network)."""
    from nbconvert import HTMLExporter

    empty = folder / "empty.js"
    empty.write_text("", encoding="utf-8")
    url = empty.as_uri()
    exporter = HTMLExporter(
        jquery_url=url,
        require_js_url=url,
        mathjax_url=url,
        mermaid_js_url=url,
        mermaid_layout_elk_js_url=url,
        jupyter_widgets_base_url=folder.as_uri() + "/",
        widget_renderer_url=url,
    )
    body, _ = exporter.from_filename(str(notebook))
    page = folder / "08_your_documents.html"
    page.write_text(body, encoding="utf-8")
    return page


@pytest.mark.notebook
@pytest.mark.slow
def test_notebook_08_views_render_in_a_headless_browser(executed, tmp_path):
    chromium = _chromium()
    page = _export_offline(executed[0], tmp_path)
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    args += ["--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    done = subprocess.run([*args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "<body" in done.stdout, f"chromium failed: {done.stderr[-2000:]}"
    views = _Views()
    views.feed(done.stdout)
    assert views.tokens >= 3, "the coloured summary did not render"
    assert views.ranking_rows == 1 + SMOKE_COMPRESSORS, "the ranking table did not render"  # header + one per candidate
    assert views.pngs >= 3, "the figures did not render (two saved figures and the explorer's plot)"
    # the controls: their state is in the page, but drawing them needs the widget manager's JavaScript
    assert views.widget_state >= 1 and views.controls == 0
