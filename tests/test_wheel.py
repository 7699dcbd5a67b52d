"""The package works installed from a wheel, away from the clone: bundled inputs inside, smoke rows as golden.

Builds the wheel from a copy of the sources (``pip wheel --no-deps --no-build-isolation``, offline), installs
it into a fresh virtual environment whose site-packages also sees this environment's (for the dependencies,
through a ``.pth`` line, which does not run the editable install's finder), and runs
``python -m mi_utils run configs/smoke.yaml`` from an empty working directory.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pandas as pd
import pytest

from mi_utils.paths import BUNDLED_PATTERNS

from conftest import REPO

pytestmark = pytest.mark.slow

SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "NOTICE", "mi_utils", "data")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "MI_UTILS_FIGURES")}
    return {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _run(args, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, (
        f"{proc.args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory) -> tuple[Path, Path]:
    """``(python, site-packages)`` of a fresh venv holding the built wheel and seeing this venv's dependencies."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist, venv = tmp / "src", tmp / "dist", tmp / "venv"
    src.mkdir()
    for name in SOURCES:  # a copy: the build leaves build/ and *.egg-info behind, never in the clone
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "stores", "*.lock*"))
        else:
            shutil.copy2(REPO / name, src / name)
    pip = [sys.executable, "-m", "pip"]
    _ok(_run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(src)], tmp))
    (wheel,) = dist.glob("mi_utils-*.whl")
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp))
    python = venv / "bin" / "python"
    # install first, then let the venv see the dependencies (so pip never sees the editable install)
    _ok(_run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], tmp))
    site = Path(_ok(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp)).strip())
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "_mi_utils_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    return python, site


def test_the_wheel_carries_the_bundled_inputs_byte_for_byte(wheel_python, tmp_path):
    python, site = wheel_python
    shipped = site / "mi_utils" / "_data"
    expected = sorted(
        {p.relative_to(REPO / "data") for pat in BUNDLED_PATTERNS for p in (REPO / "data").glob(pat) if p.is_file()}
    )
    assert sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file()) == expected
    assert all(filecmp.cmp(REPO / "data" / rel, shipped / rel, shallow=False) for rel in expected)
    assert any(rel.parts[0] == "results" and rel.name == "rows.jsonl" for rel in expected)
    probe = (
        "import json, sys, mi_utils, mi_utils.paths as p; from mi_utils.analysis import load_table, paper_reported; "
        "from mi_utils.data import load_dataset; "
        "print(json.dumps({'file': mi_utils.__file__, 'data': str(p.bundled_data_dir()), 'root': str(p.repo_root()), "
        "'finders': [repr(f) for f in sys.meta_path], 'tables': sorted(p.committed_results()), "
        "'grid_rows': len(load_table('cpu')[0]), 'paper': len(paper_reported()), "
        "'synthetic': len(load_dataset('synthetic_clinical')), 'passages': len(load_dataset('passages'))}))"
    )
    got = json.loads(_ok(_run([str(python), "-c", probe], tmp_path)))
    assert Path(got["file"]).is_relative_to(site), got["file"]  # the installed copy, not the clone
    assert Path(got["data"]) == shipped and got["root"] == "None"
    assert not any("editable" in f.lower() for f in got["finders"]), got["finders"]
    # load_table's tables are the folders with rows.jsonl (a Deep Research table ships its own CSVs)
    assert set(got["tables"]) == {
        rel.parts[1] for rel in expected if rel.parts[0] == "results" and rel.name == "rows.jsonl"
    }
    assert got["grid_rows"] > 0 and got["paper"] > 0 and got["synthetic"] == 32 and got["passages"] == 8


def test_notebooks_command_from_a_wheel_says_what_it_needs(wheel_python, tmp_path):
    python, _ = wheel_python
    proc = _run([str(python), "-m", "mi_utils", "notebooks", "--smoke"], tmp_path)
    assert proc.returncode == 2 and "--notebooks <clone>/notebooks" in proc.stderr, proc.stderr


def test_smoke_run_from_a_wheel_writes_the_golden_rows(wheel_python, tmp_path):
    """configs/smoke.yaml, run by the installed package from another directory, writes tests/golden's rows."""
    from test_experiment import assert_same_as_golden

    python, site = wheel_python
    cwd, out = tmp_path / "cwd", tmp_path / "out"
    cwd.mkdir()
    before = set((site / "mi_utils").rglob("*"))
    _ok(
        _run(
            [str(python), "-m", "mi_utils", "run", str(REPO / "configs" / "smoke.yaml"), "--out", str(out), "--quiet"],
            cwd,
            timeout=600,
        )
    )
    assert (out / "rows.jsonl").is_file() and (out / "timings.json").is_file()
    assert_same_as_golden(out / "rows.jsonl", pd.read_csv(out / "summary.csv"))
    written = {p for p in set((site / "mi_utils").rglob("*")) - before if "__pycache__" not in p.parts}
    assert written == set(), f"the run wrote into the installed package: {sorted(written)}"
    assert not any(p.name != "__pycache__" for p in cwd.iterdir()), sorted(cwd.iterdir())
