"""Notebooks 04-06 on a user's own rows.jsonl (README, "Scaling out", step 4), and the rate they use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mi_utils.__main__ import execute_notebook
from mi_utils.analysis import simulate_grid, with_rate

from conftest import REPO


def test_with_rate_divides_each_estimate_by_its_mean_compressor_tokens():
    rows = pd.DataFrame(
        {
            "dataset": ["d"] * 4,
            "seed": [0] * 4,
            "compressor": ["a", "a", "b", "b"],
            "scorer": ["s"] * 4,
            "mi_bits": [2.0, 2.0, 1.0, 1.0],
            "summary_tokens": [10.0, 30.0, 5.0, 5.0],
            "mi_per_token_bits": [9.9, 9.9, 9.9, 9.9],  # whatever an older runner stored
        }
    )
    out = with_rate(rows)
    assert np.allclose(out["mi_per_token_bits"], [0.1, 0.1, 0.2, 0.2])
    assert (rows["mi_per_token_bits"] == 9.9).all()  # the input is not modified
    with pytest.raises(ValueError, match="summary_tokens"):
        with_rate(rows.drop(columns="summary_tokens"))


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("name", ["04_scaling_laws", "05_rate_distortion", "06_meta_analysis"])
def test_analysis_notebook_reads_a_users_rows_jsonl(name, tmp_path, monkeypatch):
    rows = tmp_path / "grid" / "rows.jsonl"
    rows.parent.mkdir()
    simulate_grid(1, n_questions=12).to_json(rows, orient="records", lines=True)
    monkeypatch.setenv("MI_UTILS_FIGURES", str(tmp_path / "figures"))
    out = execute_notebook(
        REPO / "notebooks" / f"{name}.ipynb", tmp_path / "out", {"TABLE": str(rows), "SMOKE": True}, timeout=600
    )
    assert out.exists() and any((tmp_path / "figures").glob("*.png"))
