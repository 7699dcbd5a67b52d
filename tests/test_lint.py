"""`make lint`: ruff's linter and formatter (settings in pyproject.toml) are clean on the whole repository."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import REPO


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [("check", "."), ("format", "--check", ".")], ids=["check", "format"])
def test_ruff_is_clean(args):
    res = _ruff(*args)
    assert res.returncode == 0, f"ruff {' '.join(args)} (fix with `make format`):\n{res.stdout}\n{res.stderr}"


def test_make_lint_runs_what_this_test_runs():
    make = (REPO / "Makefile").read_text()
    recipe = make.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"ruff check \.", recipe) and re.search(r"ruff format --check \.", recipe)
    assert "make lint" in (REPO / ".ci" / "run").read_text()
