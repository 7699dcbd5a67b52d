"""scripts/bf16_vs_fp32_scoring.py: the float32 twins it adds and the table it prints (no model)."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
import yaml

from conftest import REPO

_spec = importlib.util.spec_from_file_location("bf16_check", REPO / "scripts" / "bf16_vs_fp32_scoring.py")
bf16_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bf16_check)


def test_every_bf16_scorer_gets_a_float32_twin():
    data = yaml.safe_load((REPO / "configs" / "ladder_synthetic_cpu.yaml").read_text())
    twins = bf16_check.fp32_twins(data)
    names = [s.get("name") for s in twins["scorers"]]
    assert names == ["smollm2", "qwen0.5b-own", "qwen0.5b-own-fp32"]
    own, fp32 = twins["scorers"][1:]
    assert fp32 == {**own, "dtype": "float32", "name": "qwen0.5b-own-fp32"}
    assert data["scorers"][1]["dtype"] == "bfloat16" and len(data["scorers"]) == 2  # the input is not changed
    with pytest.raises(ValueError, match="no bfloat16 scorer"):
        bf16_check.fp32_twins({"scorers": [{"model": "m", "dtype": "float32"}]})


def test_compare_puts_each_estimate_beside_its_float32_interval():
    def row(comp, scorer, dtype, mi, lo, hi):
        return {
            "dataset": "d",
            "compressor": comp,
            "scorer": scorer,
            "scorer_dtype": dtype,
            "mi_bits": mi,
            "mi_ci_low_bits": lo,
            "mi_ci_high_bits": hi,
            "mi_upper_bits": mi + 1,
        }

    rows = pd.DataFrame(
        [
            row("a", "own", "bfloat16", 1.00, 0.8, 1.2),
            row("a", "own-fp32", "float32", 1.05, 0.9, 1.1),
            row("b", "own", "bfloat16", 2.00, 1.9, 2.1),
            row("b", "own-fp32", "float32", 1.50, 1.4, 1.6),
            row("a", "proxy", "float32", 0.70, 0.6, 0.8),  # float32 already: not compared
        ]
    )
    t = bf16_check.compare(pd.concat([rows, rows]))  # the runner repeats estimates per predictor
    assert t[["compressor", "bf16_bits", "fp32_bits", "inside_fp32_interval"]].values.tolist() == [
        ["a", 1.0, 1.05, True],
        ["b", 2.0, 1.5, False],
    ]
    assert t["difference"].round(12).tolist() == [-0.05, 0.5]
