"""Shared test settings: offline hub, deterministic threads, a shared model fixture."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

REPO = Path(__file__).resolve().parents[1]


def smoke_config() -> dict:
    """``configs/smoke.yaml`` as plain data, a fresh copy each call (the base of the config tests)."""
    import yaml

    return yaml.safe_load((REPO / "configs" / "smoke.yaml").read_text())


def team_data_dir() -> Path:
    """The team data folder of real data sets (``$MI_UTILS_TEAM_DATA``, default ``../shared/data``; may not exist)."""
    from mi_utils.paths import team_data_dir as in_the_clone

    folder = in_the_clone()
    assert folder is not None, "the tests run in a clone, where the team data folder has a default"
    return folder


def notebook_setup_from(notebook: Path, cwd: Path, runs: list[dict], names: list[str], cells: int = 2) -> list[list]:
    """A notebook's first ``cells`` code cells (parameters, set-up), run in a fresh interpreter from ``cwd``.

    Once per entry of ``runs``, whose values replace the parameters cell's (as papermill's injected cell would);
    returns, per run, ``str()`` of the variables ``names`` (``"None"`` for ``None``). Run from a folder that is
    neither the repository root nor ``notebooks/``, this shows that the cells find their paths from the package.
    """
    import json
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "cells = [''.join(c['source']) for c in json.load(open(sys.argv[1]))['cells'] if c['cell_type'] == 'code']\n"
        "for overrides in json.loads(sys.argv[2]):\n"
        "    ns = {}; exec(cells[0], ns); ns.update(overrides)\n"
        f"    for cell in cells[1:{cells}]: exec(cell, ns)\n"
        "    print('@@', json.dumps([str(ns[n]) for n in json.loads(sys.argv[3])]), flush=True)\n"
    )
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-c", script, str(notebook), json.dumps(runs), json.dumps(names)]
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return [json.loads(line[3:]) for line in out.stdout.splitlines() if line.startswith("@@ ")]


def _common(ran, now):
    """``now`` restricted to the keys ``ran`` has (config fields added since the run are ignored)."""
    if isinstance(ran, dict) and isinstance(now, dict):
        return {k: _common(ran[k], now.get(k)) for k in ran}
    if isinstance(ran, list) and isinstance(now, list) and len(ran) == len(now):
        return [_common(a, b) for a, b in zip(ran, now)]
    return now


def assert_committed_run_of(config: Path, folder: Path) -> None:
    """``folder`` holds a finished run of ``config`` as committed: its config.json and timings.json agree."""
    import json

    from mi_utils.experiment import load_config

    ran = json.loads((folder / "config.json").read_text())
    cfg = json.loads(json.dumps(load_config(config).to_dict(), default=str))
    ran.pop("output_dir"), cfg.pop("output_dir")
    assert _common(ran, cfg) == ran, f"{folder} is stale: rerun {config.name} into it (see the config's header)"
    runs = json.loads((folder / "timings.json").read_text())["runs"]
    assert runs and runs[-1]["error"] is None and runs[0]["rows_written"] > 0


@pytest.fixture(scope="session")
def hf_backend():
    """The packaged SmolLM2-135M-Instruct in float32, loaded once per session."""
    from mi_utils.backends.hf import HFBackend

    return HFBackend("smollm2-135m-instruct", dtype="float32")
