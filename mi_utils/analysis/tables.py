"""Results tables in, DataFrames out: :func:`load_results` and :func:`paper_reported`.

* :func:`load_results` reads what the experiment runner writes (``rows.jsonl``, one row per
  record and configuration, or ``summary.csv``, one line per configuration), from a file or a
  results folder.
* :func:`paper_reported` reads ``data/paper_reported.csv``: every number the paper states
  (ratios, correlations, costs, settings), one row each, with a stable ``key``, its ``unit``,
  the ``claim`` in words and the ``section`` it comes from. These are the targets the
  notebooks compare against (the paper reports ratios and orderings, not absolute values).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

__all__ = ["PAPER_REPORTED_PATH", "load_results", "paper_reported"]

#: Where :func:`paper_reported` reads from (the repository's ``data/`` folder).
PAPER_REPORTED_PATH: Path = Path(__file__).resolve().parents[2] / "data" / "paper_reported.csv"

_HOW_TO = ("produce one with `python -m mi_utils run configs/<name>.yaml` (it writes "
           "<output_dir>/rows.jsonl and summary.csv), or use mi_utils.analysis.simulate_grid() for a "
           "simulated table")


def load_results(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a results table written by the experiment runner.

    Args:
      path: a ``rows.jsonl`` file (JSON lines), a ``summary.csv`` file (any ``.csv``), or a
        results folder holding ``rows.jsonl``.

    Returns:
      The table as a DataFrame. JSON lines are read without type guessing beyond JSON's own
      (no date parsing, floats stay floats; ``null`` in an object column is ``None``), so a table
      written with
      ``DataFrame.to_json(orient="records", lines=True)`` reads back with the same values.

    Raises:
      FileNotFoundError: ``path`` does not exist, or a folder has no ``rows.jsonl``; the message
        says how to produce one (``python -m mi_utils run configs/<name>.yaml``) or to use
        ``simulate_grid()``.
      ValueError: the file is empty or not a ``.jsonl`` / ``.json`` / ``.csv`` file.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"load_results: no results at {str(p)!r}; {_HOW_TO}")
    if p.is_dir():
        rows = p / "rows.jsonl"
        if not rows.is_file():
            raise FileNotFoundError(f"load_results: folder {str(p)!r} has no rows.jsonl (the run has not written "
                                    f"rows yet; pass its summary.csv explicitly if you want that); {_HOW_TO}")
        p = rows
    suffix = p.suffix.lower()
    if suffix not in (".jsonl", ".json", ".csv"):
        raise ValueError(f"load_results: {str(p)!r} is not a .jsonl or .csv results table; pass rows.jsonl, "
                         "summary.csv or the results folder")
    if p.stat().st_size == 0 or not p.read_text(encoding="utf-8").strip():
        raise ValueError(f"load_results: {str(p)!r} is empty (the run wrote no rows yet); rerun or resume it "
                         "with `python -m mi_utils run configs/<name>.yaml`")
    if suffix == ".csv":
        return pd.read_csv(p)
    # no date parsing: pandas 3 skips it under dtype=False (and deprecates convert_dates);
    # pandas 2 needs convert_dates=False
    kwargs = {} if int(pd.__version__.split(".")[0]) >= 3 else {"convert_dates": False}
    df = pd.read_json(p, lines=True, dtype=False, **kwargs)
    for col in df.columns:  # JSON null in an object column (e.g. sentences) reads back as None, not NaN
        if df[col].dtype == object:
            df[col] = df[col].where(df[col].notna(), None)
    return df


def paper_reported() -> pd.DataFrame:
    """The numbers the paper reports (``data/paper_reported.csv``).

    Returns:
      A DataFrame with columns ``key`` (stable snake_case id, unique), ``value`` (a float, or a
      string for non-numeric facts such as ``factor_importance_order``), ``unit``, ``claim``
      and ``section``. Ratios are stated as "larger / smaller" in the direction of the claim
      (e.g. ``qwen25_7b_vs_1p5b_token_ratio`` = tokens of 1.5B / tokens of 7B = 4.6); gains
      and changes are fractions (0.60 = +60%).

    Raises:
      FileNotFoundError: the CSV is not beside the package (e.g. a wheel install without the
        repository's ``data/`` folder); the message names the expected path.
    """
    if not PAPER_REPORTED_PATH.is_file():
        raise FileNotFoundError(f"paper_reported: {str(PAPER_REPORTED_PATH)!r} not found; it ships with the "
                                "repository (data/paper_reported.csv): run from a checkout of the repository")
    df = pd.read_csv(PAPER_REPORTED_PATH, dtype=str, keep_default_na=False)

    def parse(v: str) -> float | str:
        try:
            return float(v)
        except ValueError:
            return v

    df["value"] = pd.Series([parse(v) for v in df["value"]], index=df.index, dtype=object)
    return df
