"""scripts/run_tiers.py (what `make test` runs): the tiers cover every test exactly once."""

from __future__ import annotations

import importlib.util
import itertools
import re

import tomllib

from conftest import REPO


def _run_tiers():
    spec = importlib.util.spec_from_file_location("run_tiers", REPO / "scripts" / "run_tiers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _holds(expr: str, marked: dict[str, bool]) -> bool:
    """A pytest marker expression (and/or/not over marker names) on one combination of markers."""
    words = re.findall(r"\w+", expr)
    assert set(words) <= {"and", "or", "not", *marked}, expr
    return eval(" ".join(w if w in ("and", "or", "not") else str(marked[w]) for w in words))


def test_tiers_partition_every_marker_combination():
    tiers = _run_tiers()
    ini = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    markers = sorted(m.split(":")[0] for m in ini["markers"])
    assert markers == ["integration", "notebook", "slow"]
    for values in itertools.product([False, True], repeat=len(markers)):
        marked = dict(zip(markers, values))
        hits = [t for t, expr in tiers.TIERS.items() if _holds(expr, marked)]
        assert len(hits) == 1, (marked, hits)
    assert [t for group in tiers.PLAN for t in group] == list(tiers.TIERS)


def test_make_targets_use_the_tier_script():
    make = (REPO / "Makefile").read_text()
    assert "TIERS := $(BIN)/python scripts/run_tiers.py" in make
    for target, tier in [("test-unit", "unit"), ("test-slow", "slow"), ("test-notebooks", "notebook")]:
        recipe = make.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
        assert f"$(TIERS) {tier}" in recipe
    assert "$(TIERS)\n" in make.split("\ntest:", 1)[1]


def test_the_unit_tier_alone_spreads_over_the_cores_unless_told(monkeypatch):
    tiers = _run_tiers()
    monkeypatch.setattr(tiers.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(tiers.importlib.util, "find_spec", lambda name: object() if name == "xdist" else None)
    cmd = tiers._command("unit", ["-k", "config"], parallel=True)
    assert cmd[cmd.index("-n") + 1] == "2" and cmd[-2:] == ["-k", "config"]
    for chosen in (["-n", "0"], ["-n0"], ["-p", "no:xdist"], ["--pdb"]):  # the caller's choice stands
        assert "-n" not in tiers._command("unit", chosen, parallel=True)[: -len(chosen)]
    assert "-n" not in tiers._command("slow", [], parallel=True)  # model tiers keep one process
    assert "-n" not in tiers._command("unit", [], parallel=False)  # side by side: one core each already
    monkeypatch.setattr(tiers.os, "cpu_count", lambda: 1)
    assert "-n" not in tiers._command("unit", [], parallel=True)
    monkeypatch.setattr(tiers.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(tiers.importlib.util, "find_spec", lambda name: None)  # no pytest-xdist installed
    assert "-n" not in tiers._command("unit", [], parallel=True)
