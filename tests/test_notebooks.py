"""Every numbered notebook executes headless (papermill) in its SMOKE setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from mi_utils.__main__ import execute_notebook, notebook_paths

from conftest import REPO, notebook_setup_from

# 08 runs once in tests/test_your_documents.py, which also opens its views in a headless browser
NOTEBOOKS = [p for p in notebook_paths(REPO / "notebooks") if p.stem != "08_your_documents"]


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_setting(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MI_UTILS_FIGURES", str(tmp_path / "figures"))
    out = execute_notebook(path, tmp_path / "out", {"SMOKE": True}, timeout=1200)
    assert out.exists()
    assert any((tmp_path / "figures").glob("*.png")), f"{path.name} saved no figure"


def test_sweep_notebook_finds_its_config_from_any_working_directory(tmp_path):
    """03's set-up cells (parameters, imports, config) resolve paths from the package, not from notebooks/."""
    nb = REPO / "notebooks" / "03_compressor_predictor_sweep.ipynb"
    got = notebook_setup_from(nb, tmp_path, [{"SMOKE": False}, {"SMOKE": True}], ["config_path", "out"])
    assert [[Path(c), Path(o)] for c, o in got] == [
        [REPO / "configs" / "default.yaml", REPO / "results" / "default"],
        [REPO / "configs" / "smoke.yaml", REPO / "results" / "smoke"],
    ]
