"""Results tables in, DataFrames out: :func:`load_results` and :func:`paper_reported`.

* :func:`load_results` reads what the experiment runner writes (``rows.jsonl``, one row per
  record and configuration, or ``summary.csv``, one line per configuration), from a file or a
  results folder, filling ``compressor_base`` in rows tables written before the runner wrote it;
  :func:`load_table` names the committed tables and the simulated one.
* :func:`configurations`: one line per configuration, grouped by
  :data:`~mi_utils.config_columns.CONFIG_COLUMNS` as ``summary.csv`` is (``CONFIG_KEYS`` here).
* :func:`paper_reported` reads ``data/paper_reported.csv``: every number the paper states
  (ratios, correlations, costs, settings), one row each, with a stable ``key``, its ``unit``,
  the ``claim`` in words and the ``section`` it comes from. These are the targets the
  notebooks compare against (the paper reports ratios and orderings, not absolute values).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from ..config_columns import CONFIG_COLUMNS, group_configurations, upgrade_rows
from ..paths import bundled_file, committed_results, committed_results_dir

__all__ = [
    "PAPER_REPORTED_PATH",
    "LADDER_RESULTS_PATHS",
    "CPU_RESULTS_PATH",
    "CONFIG_KEYS",
    "ESTIMATE_KEYS",
    "configurations",
    "with_rate",
    "load_results",
    "load_table",
    "paper_reported",
    "one_scorer",
]

#: Where :func:`paper_reported` reads from (``data/``, or the wheel's copy: :mod:`mi_utils.paths`).
PAPER_REPORTED_PATH: Path = bundled_file("paper_reported.csv")

#: The real CPU grid (``configs/grid_cpu.yaml``) as it was run for the notebooks.
CPU_RESULTS_PATH: Path = committed_results_dir() / "grid_cpu" / "rows.jsonl"

#: The real Qwen2.5-Coder ladder (``configs/ladder_<task>_cpu.yaml``), one table per task, as run for the notebooks.
LADDER_RESULTS_PATHS: dict[str, Path] = {
    task: committed_results_dir() / f"ladder_{task}_cpu" / "rows.jsonl" for task in ("synthetic", "financebench")
}

_HOW_TO = (
    "produce one with `python -m mi_utils run configs/<name>.yaml` (it writes "
    "<output_dir>/rows.jsonl and summary.csv), or use mi_utils.analysis.simulate_grid() for a "
    "simulated table"
)


def load_results(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a results table written by the experiment runner.

    Args:
      path: a ``rows.jsonl`` file (JSON lines), a ``summary.csv`` file (any ``.csv``), or a
        results folder holding ``rows.jsonl``.

    Returns:
      The table as a DataFrame. A rows table (JSON lines) written before the runner wrote
      ``round`` and ``compressor_base`` gets them here as the runner's own table does
      (:func:`mi_utils.config_columns.upgrade_rows`: round 1; the setting's name without the runner's
      ``-<k>sent`` / ``-round<r>`` suffixes), so figures group by the column and a resumed run's mixed
      table groups as its ``summary.csv``; a CSV is read as written. JSON lines are
      read without type guessing beyond JSON's own
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
            raise FileNotFoundError(
                f"load_results: folder {str(p)!r} has no rows.jsonl (the run has not written "
                f"rows yet; pass its summary.csv explicitly if you want that); {_HOW_TO}"
            )
        p = rows
    suffix = p.suffix.lower()
    if suffix not in (".jsonl", ".json", ".csv"):
        raise ValueError(
            f"load_results: {str(p)!r} is not a .jsonl or .csv results table; pass rows.jsonl, "
            "summary.csv or the results folder"
        )
    if p.stat().st_size == 0 or not p.read_text(encoding="utf-8").strip():
        raise ValueError(
            f"load_results: {str(p)!r} is empty (the run wrote no rows yet); rerun or resume it "
            "with `python -m mi_utils run configs/<name>.yaml`"
        )
    if suffix == ".csv":
        return pd.read_csv(p)
    # no date parsing: pandas 3 skips it under dtype=False (and deprecates convert_dates);
    # pandas 2 needs convert_dates=False
    kwargs = {} if int(pd.__version__.split(".")[0]) >= 3 else {"convert_dates": False}
    df = pd.read_json(p, lines=True, dtype=False, **kwargs)
    for col in df.columns:  # JSON null in an object column (e.g. sentences) reads back as None, not NaN
        if df[col].dtype == object:
            df[col] = df[col].where(df[col].notna(), None)
    return upgrade_rows(df)


def paper_reported() -> pd.DataFrame:
    """The numbers the paper reports (``data/paper_reported.csv``).

    Returns:
      A DataFrame with columns ``key`` (stable snake_case id, unique), ``value`` (a float, or a
      string for non-numeric facts such as ``factor_importance_order``), ``unit``, ``claim``
      and ``section``. Ratios are stated as "larger / smaller" in the direction of the claim
      (e.g. ``qwen25_7b_vs_1p5b_token_ratio`` = tokens of 1.5B / tokens of 7B = 4.6); gains
      and changes are fractions (0.60 = +60%).

    Raises:
      FileNotFoundError: the CSV is missing from ``data/`` (a clone) or ``mi_utils/_data/`` (a wheel);
        the message names the expected path.
    """
    if not PAPER_REPORTED_PATH.is_file():
        raise FileNotFoundError(
            f"paper_reported: {str(PAPER_REPORTED_PATH)!r} not found; it ships with the "
            "repository (data/paper_reported.csv) and in the wheel: restore it with git, or reinstall mi_utils"
        )
    df = pd.read_csv(PAPER_REPORTED_PATH, dtype=str, keep_default_na=False)

    def parse(v: str) -> float | str:
        try:
            return float(v)
        except ValueError:
            return v

    df["value"] = pd.Series([parse(v) for v in df["value"]], index=df.index, dtype=object)
    return df


def load_table(
    source: str | os.PathLike[str] = "simulated", *, seed: int = 0, smoke: bool = False, **simulate: object
) -> tuple[pd.DataFrame, str]:
    """The table a notebook analyses, and a label for titles.

    Args:
      source: ``"simulated"`` (:func:`~mi_utils.analysis.simulate.simulate_grid` on the paper's
        grid), ``"cpu"`` (the committed run of ``configs/grid_cpu.yaml``: two packaged model
        families on this repository's synthetic task), ``"ladder"`` (the committed runs of
        ``configs/ladder_synthetic_cpu.yaml`` and ``configs/ladder_financebench_cpu.yaml``, one table:
        Qwen2.5-Coder 0.5B and 1.5B beside SmolLM2-135M on two tasks), ``"refine"`` (the committed run of
        ``configs/refine_synthetic_cpu.yaml``: three compress-and-refine rounds, one ``round`` per row), a
        path to a ``rows.jsonl`` / results
        folder (e.g. a run of ``configs/paper_grid.yaml`` on GPU servers), or the name of a committed table
        (a folder of ``data/results/``, e.g. ``"grid_cpu"``; :func:`mi_utils.paths.committed_results`), which
        an existing path of that name shadows.
      seed: seed of the simulated table.
      smoke: a small simulated table (CI).
      **simulate: overrides passed to ``simulate_grid`` (e.g. ``studies="all"`` for the side studies of
        the paper's other figures); a table read from a file is what the file holds.

    Returns:
      ``(rows, label)``; the label says "simulated" for simulated tables.

    Raises:
      FileNotFoundError: the CPU table or the path is missing (the message says how to make it and lists
        the committed tables).
    """
    if str(source) == "simulated":
        from .simulate import simulate_grid

        params = {"n_questions": 20, **simulate} if smoke else dict(simulate)
        return simulate_grid(seed, **params), "simulated (paper's grid)"
    if str(source) == "cpu":
        if not CPU_RESULTS_PATH.exists():
            raise FileNotFoundError(
                f"{CPU_RESULTS_PATH} is missing: run `python -m mi_utils run configs/grid_cpu.yaml "
                f"--out {CPU_RESULTS_PATH.parent}` to produce it"
            )
        return with_rate(load_results(CPU_RESULTS_PATH)), "CPU grid (SmolLM2-135M, Gemma 3 270M)"
    if str(source) == "ladder":
        present = {t: p for t, p in LADDER_RESULTS_PATHS.items() if p.exists()}
        if not present:
            raise FileNotFoundError(
                "no ladder table: run `make ladder`, then `python -m mi_utils run configs/ladder_<task>_cpu.yaml "
                f"--out data/results/ladder_<task>_cpu` for a task in {sorted(LADDER_RESULTS_PATHS)}"
            )
        for t, p in LADDER_RESULTS_PATHS.items():
            if t not in present:
                warnings.warn(
                    f"load_table('ladder'): {p} is missing, so the {t} task is left out; produce it with "
                    f"`python -m mi_utils run configs/ladder_{t}_cpu.yaml --out {p.parent}`",
                    stacklevel=2,
                )
        rows = pd.concat([load_results(p) for p in present.values()], ignore_index=True)
        return with_rate(rows), "real CPU ladder"
    if str(source) == "refine":  # the committed compress-and-refine run: its rows carry `round`
        source = "refine_synthetic_cpu"
    path = Path(source)
    if not path.exists():
        committed = committed_results()
        if str(source) not in committed:
            raise FileNotFoundError(
                f"load_table: {str(source)!r} is neither a results table or folder nor a committed table "
                f"(committed: {sorted(committed)}; also 'simulated', 'cpu', 'ladder', 'refine'); {_HOW_TO}"
            )
        path = committed[str(source)]
    return with_rate(load_results(path)), path.parent.name if path.is_file() else path.name


#: What identifies one MI estimate in a runner table (the rate's denominator is averaged over it):
#: a sentence-count instruction and a refinement round are settings of their own.
ESTIMATE_KEYS: tuple[str, ...] = ("dataset", "seed", "compressor", "sentences", "round", "scorer")


def with_rate(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with ``mi_per_token_bits`` (the rate) derived from the table's own columns.

    The rate is ``mi_bits`` divided by the mean ``summary_tokens`` (tokens the compressor
    generated, in its own tokenizer) of the estimate's records: one value per (data set, seed,
    compressor setting, sentence count, round, scorer; those present). Deriving it here makes every
    table, whichever runner version wrote it (an early one divided by the scorer's token count), use the one
    definition the notebooks state.

    Raises:
      ValueError: the table lacks ``mi_bits`` or ``summary_tokens``.
    """
    missing = [c for c in ("mi_bits", "summary_tokens") if c not in rows.columns]
    if missing:
        raise ValueError(f"with_rate: the table has no {missing} column(s); it is not a runner results table")
    out = rows.copy()
    keys = [c for c in ESTIMATE_KEYS if c in out.columns]
    tokens = pd.to_numeric(out["summary_tokens"], errors="coerce")
    by = [out[k].astype(str) for k in keys]  # a missing setting (no sentence count) is a group of its own
    mean_tokens = tokens.groupby(by, dropna=False).transform("mean") if keys else tokens.mean()
    out["mi_per_token_bits"] = pd.to_numeric(out["mi_bits"], errors="coerce") / mean_tokens
    return out


def one_scorer(rows: pd.DataFrame, scorer: str | None = None) -> pd.DataFrame:
    """Rows of one proxy scorer (predictions repeat once per scorer; count each answer once).

    The runner writes one row per (record, compressor, predictor, scorer), so a record's
    correctness appears once per scorer. Analyses of correctness keep one scorer's rows (and
    the unscored rows, such as the no-compression baseline).

    Args:
      rows: a results table.
      scorer: the scorer to keep (default: the first one in the table).
    """
    if "scorer" not in rows.columns or rows["scorer"].nunique(dropna=True) <= 1:
        return rows
    keep = scorer if scorer is not None else rows["scorer"].dropna().iloc[0]
    if keep not in set(rows["scorer"].dropna()):
        raise ValueError(f"scorer {keep!r} is not in the table; it has {sorted(rows['scorer'].dropna().unique())}")
    return rows[rows["scorer"].isna() | (rows["scorer"] == keep)]


#: The columns that identify a configuration: :data:`mi_utils.config_columns.CONFIG_COLUMNS`, the list
#: ``summary.csv`` groups by too (this name is kept for code that imports it from here).
CONFIG_KEYS: tuple[str, ...] = CONFIG_COLUMNS

#: The per-row columns :func:`configurations` averages (those the table has); the MI columns are
#: set-level, one value per configuration, so their mean is that value.
_MEANS: tuple[str, ...] = (
    "correct",
    "summary_tokens",
    "mi_bits",
    "mi_ci_low_bits",
    "mi_ci_high_bits",
    "mi_per_token_bits",
    "mi_ceiling_bits",
    "usable_info_bits",
    "perplexity",
    "flops_compressor",
)


def configurations(rows: pd.DataFrame, by: tuple[str, ...] | list[str] | None = None) -> pd.DataFrame:
    """One line per configuration: the means the figures plot.

    Groups as ``summary.csv`` does (:func:`mi_utils.config_columns.group_configurations`): by the
    configuration columns the table has, in the table's order, a missing value (no sentence count,
    no scorer) being a group of its own. A sentence-count instruction (``sentences``) and a
    refinement round (``round``) are configurations of their own.

    Args:
      rows: a results table (runner rows or a simulated table).
      by: the configuration columns (default: those of :data:`CONFIG_KEYS`, i.e.
        :data:`~mi_utils.config_columns.CONFIG_COLUMNS`, present).

    Returns:
      A DataFrame with the ``by`` columns, ``n_records``, ``accuracy`` (mean of ``correct``),
      ``distortion`` (1 - accuracy), and the mean of each of ``summary_tokens``, ``mi_bits``,
      ``mi_ci_low_bits``, ``mi_ci_high_bits``, ``mi_per_token_bits``, ``mi_ceiling_bits``,
      ``usable_info_bits``, ``perplexity``, ``flops_compressor`` that the table has.

    Raises:
      ValueError: no ``correct`` column, or none of the ``by`` columns.
    """
    if "correct" not in rows.columns:
        raise ValueError("the table has no 'correct' column; configurations() summarises accuracy")
    df = rows.copy()
    df["correct"] = pd.to_numeric(df["correct"].map(lambda v: None if v is None else float(v)), errors="coerce")
    means = [c for c in _MEANS if c in df.columns]
    for c in means:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    _, groups = group_configurations(df, by)
    out = groups.agg(n_records=("correct", "size"), **{c: (c, "mean") for c in means}).reset_index()
    out = out.rename(columns={"correct": "accuracy"})
    out.insert(out.columns.get_loc("accuracy") + 1, "distortion", 1.0 - out["accuracy"])
    return out
