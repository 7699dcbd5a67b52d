"""What identifies a configuration in a rows table: the key columns, grouping by them, the base setting.

* :data:`CONFIG_COLUMNS`: the one list of columns that identify a configuration (one point of a
  rate-distortion plot, one line of ``summary.csv``). :func:`mi_utils.results.summarize` and
  :func:`mi_utils.analysis.configurations` both group through :func:`group_configurations`, by the
  columns of the list a table has, so they cannot drift apart. A missing value (no sentence count,
  no scorer) is a group of its own, never a dropped row.
* ``compressor_base``: the id a config gives a compressor before the runner expands it into settings.
  The runner names a sentence-count variant ``<id>-<k>sent`` and a refinement round ``<id>-round<r>``
  (both: ``<id>-<k>sent-round<r>``); ``compressor_base`` is ``<id>`` for all of them, and equal to
  ``compressor`` for a plain setting and an LM-free method. :func:`base_setting` recovers it from a
  row's ``compressor``, ``sentences`` and ``round``; :func:`with_compressor_base` fills the column in
  tables written before it existed, so figures group by the column and never parse names.
* :func:`upgrade_rows`: the one upgrade of rows written before ``round`` and ``compressor_base``
  existed; the runner's table (a resumed run mixes old and new rows) and
  :func:`mi_utils.analysis.load_results` both call it, so ``summary.csv`` and
  :func:`mi_utils.analysis.configurations` group such a table alike.

It imports only the standard library (it works on the DataFrames it is given) and nothing of the
package, so the analysis layer reads it without model code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "CONFIG_COLUMNS",
    "configuration_keys",
    "group_configurations",
    "base_setting",
    "with_compressor_base",
    "upgrade_rows",
]

#: Columns that identify a configuration (those a table has): ``summary.csv`` and
#: :func:`mi_utils.analysis.configurations` group by them.
# fmt: off
CONFIG_COLUMNS: tuple[str, ...] = (
    "dataset", "task", "compressor", "compressor_base", "compressor_kind", "compressor_family", "compressor_model",
    "compressor_params", "sentences", "round", "temperature", "top_k", "top_p", "sampling_is_pure", "predictor",
    "predictor_family", "predictor_params", "predictor_mode", "predictor_rule", "scorer", "scorer_family",
    "scorer_params", "scorer_prompt", "N", "M", "seed", "conditioning", "mi_estimand", "upper_is_bound",
    "prompt_version",
)
# fmt: on


def configuration_keys(columns: Iterable[str], by: Sequence[str] | None = None) -> list[str]:
    """The configuration columns (``by``, default :data:`CONFIG_COLUMNS`) that ``columns`` holds, in order."""
    have = set(columns)
    return [c for c in (CONFIG_COLUMNS if by is None else by) if c in have]


def group_configurations(df: Any, by: Sequence[str] | None = None) -> tuple[list[str], Any]:
    """``df`` grouped by its configuration columns: ``(keys, groupby)``.

    Groups keep the table's order (``sort=False``) and missing values (``dropna=False``: rows
    without a sentence count or a scorer are configurations too).

    Args:
      df: a rows table (DataFrame).
      by: the configuration columns (default :data:`CONFIG_COLUMNS`); those ``df`` lacks are skipped.

    Raises:
      ValueError: ``df`` has none of the columns.
    """
    keys = configuration_keys(df.columns, by)
    if not keys:
        raise ValueError(
            f"none of the configuration columns {list(CONFIG_COLUMNS if by is None else by)} is in the table; "
            "pass a runner rows table (rows.jsonl) or name its columns with by="
        )
    return keys, df.groupby(keys, sort=False, dropna=False)


def _count(value: Any) -> int | None:
    """An integer setting value (sentences, round) or ``None`` when missing."""
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else int(v)


def base_setting(compressor: Any, sentences: Any = None, round: Any = None) -> str | None:
    """The config's compressor id of a setting: ``compressor`` without the runner's expansion suffixes.

    ``"x-3sent"`` (``sentences`` 3) -> ``"x"``, ``"x-round2"`` (``round`` 2) -> ``"x"``,
    ``"x-3sent-round2"`` -> ``"x"``; a suffix is removed only when it matches the row's own
    ``sentences`` / ``round``, so a name that merely ends like one (``"x-3sent"`` without a sentence
    count, ``"x-refine"``) is its own base. ``None`` when ``compressor`` is missing.
    """
    if compressor is None or (isinstance(compressor, float) and math.isnan(compressor)):
        return None
    name = str(compressor)
    r, k = _count(round), _count(sentences)
    if r is not None and name.endswith(f"-round{r}"):
        name = name.removesuffix(f"-round{r}")
    if k is not None and name.endswith(f"-{k}sent"):
        name = name.removesuffix(f"-{k}sent")
    return name


def with_compressor_base(rows: Any) -> Any:
    """``rows`` with ``compressor_base`` filled where it is missing (the same table when nothing is).

    An upgrade for tables written before the runner wrote the column (every committed table before
    it): the value is :func:`base_setting` of the row's ``compressor``, ``sentences`` and ``round``.
    A new column goes right after ``compressor``; a table without ``compressor`` is returned as it is.
    """
    if "compressor" not in rows.columns:
        return rows
    have = rows["compressor_base"] if "compressor_base" in rows.columns else None
    missing = have.isna() if have is not None else None
    if have is not None and not missing.any():
        return rows
    n = len(rows)
    sentences = rows["sentences"] if "sentences" in rows.columns else [None] * n
    rounds = rows["round"] if "round" in rows.columns else [None] * n
    derived = [base_setting(c, s, r) for c, s, r in zip(rows["compressor"], sentences, rounds)]
    out = rows.copy()
    if have is None:
        out.insert(out.columns.get_loc("compressor") + 1, "compressor_base", derived)
    else:
        out["compressor_base"] = [d if m else h for h, d, m in zip(have, derived, missing)]
    return out


def upgrade_rows(rows: Any) -> Any:
    """A rows table with the columns later runners write filled for rows written before them.

    ``round``: a missing value is 1 (refinement rounds came with the column, so an older row is
    the first and only round); ``compressor_base``: :func:`with_compressor_base`. A table without
    ``compressor`` (not a rows table) is returned as it is; so is a table with nothing to fill.
    """
    if "compressor" not in rows.columns:
        return rows
    if "round" in rows.columns and rows["round"].isna().any():
        rows = rows.copy()
        rows["round"] = rows["round"].fillna(1).astype(int)
    return with_compressor_base(rows)
