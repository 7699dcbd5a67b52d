"""Every numbered notebook executes headless (papermill) in its SMOKE setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from mi_utils.__main__ import execute_notebook, notebook_paths

from conftest import REPO

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
    """03's set-up cells (parameters, imports, config) resolve paths from the package, not from notebooks/:
    run in a fresh interpreter from a folder that is neither the repository root nor notebooks/."""
    import os
    import subprocess
    import sys

    nb = REPO / "notebooks" / "03_compressor_predictor_sweep.ipynb"
    script = (
        "import json, sys; cells = [''.join(c['source']) for c in json.load(open(sys.argv[1]))['cells'] "
        "if c['cell_type'] == 'code']\n"
        "for smoke in (False, True):\n"
        "    ns = {}; exec(cells[0], ns); ns['SMOKE'] = smoke; exec(cells[1], ns)\n"
        "    print(ns['config_path'], ns['out'], flush=True)\n"
    )
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script, str(nb)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line.split() for line in out.stdout.splitlines() if line.startswith(str(REPO))]
    assert [Path(c) for c, _ in lines] == [REPO / "configs" / "default.yaml", REPO / "configs" / "smoke.yaml"]
    assert [Path(o) for _, o in lines] == [REPO / "results" / "default", REPO / "results" / "smoke"]
