"""A Deep Research run's committed table on disk, read back (``scripts/deep_research_offline.py`` writes it).

The folder holds ``rows.csv``, ``summary.csv``, ``reports.jsonl``, the judge check's ``judge_trust.csv``,
``judge_trust_criteria.csv`` and ``judge_trust_counts.csv``, and ``run.json`` (models, sizes, seconds,
the tasks finished). :func:`read_table` returns them as frames, for notebook 07's figure 7.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["TABLE_FILES", "read_table"]

TABLE_FILES: tuple[str, ...] = (
    "rows.csv",
    "summary.csv",
    "reports.jsonl",
    "judge_trust.csv",
    "judge_trust_criteria.csv",
    "judge_trust_counts.csv",
    "run.json",
)


def read_table(folder: str | Path) -> dict:
    """The table in ``folder``: ``{"summary", "rows", "trust", "trust_criteria", "trust_counts", "reports", "run"}``.

    ``summary`` is indexed by setting; ``reports`` is a frame (task, setting, text); ``run`` is ``run.json``.

    Raises:
      FileNotFoundError: a file is missing (the message names it and the command that writes the table).
    """
    import pandas as pd

    folder = Path(folder)
    missing = [f for f in TABLE_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks {missing}: write the table with `python scripts/deep_research_offline.py` "
            "(the judge check needs two finished tasks)"
        )
    return {
        "summary": pd.read_csv(folder / "summary.csv", index_col="setting"),
        "rows": pd.read_csv(folder / "rows.csv"),
        "trust": pd.read_csv(folder / "judge_trust.csv"),
        "trust_criteria": pd.read_csv(folder / "judge_trust_criteria.csv").rename(
            columns={"score": "rating"}
        ),  # pre-rename tables
        "trust_counts": pd.read_csv(folder / "judge_trust_counts.csv"),
        "reports": pd.read_json(folder / "reports.jsonl", lines=True),
        "run": json.loads((folder / "run.json").read_text(encoding="utf-8")),
    }
