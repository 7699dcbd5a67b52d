"""Small shared helpers of the fitting modules: input validation and bootstrap over units.

Private to :mod:`mi_utils.analysis` (``scaling``, ``gains``, ``rate_distortion``, ``correlation``,
``meta``, ``mixed`` and the design matrix of ``_design``).
Everything here is numpy / pandas only and raises ``ValueError`` with a message that names the
problem and the fix.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Iterator, Sequence, Sized
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "as_columns",
    "check_fitted",
    "check_level",
    "check_n_boot",
    "group_label",
    "group_rng",
    "numeric_column",
    "percentile_interval",
    "require_columns",
    "require_frame",
    "unit_codes",
    "unit_count_blocks",
]


def require_frame(df: Any, fn: str) -> pd.DataFrame:
    """Check that ``df`` is a non-empty DataFrame.

    Args:
      df: the object passed as the results table.
      fn: name of the calling function (for the message).

    Returns:
      ``df`` itself.

    Raises:
      ValueError: ``df`` is not a DataFrame or has no rows.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(
            f"{fn}: expected a pandas DataFrame, got {type(df).__name__}; "
            "load the results table first (e.g. pd.read_csv / mi_utils.analysis.load_results)"
        )
    if len(df) == 0:
        raise ValueError(f"{fn}: the table has no rows; pass a non-empty results table")
    return df


def as_columns(value: str | Sequence[str] | None, name: str) -> list[str]:
    """Normalise a column argument (str, sequence of str, or None) to a list of names.

    Args:
      value: ``None`` (no columns), one column name, or a sequence of names.
      name: the argument's name (for the message).

    Returns:
      A list of column names (empty for ``None``).

    Raises:
      ValueError: an element is not a string.
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    cols = list(value)
    bad = [c for c in cols if not isinstance(c, str)]
    if bad:
        raise ValueError(f"{name} must be a column name or a list of column names; got non-string {bad!r}")
    return cols


def require_columns(df: pd.DataFrame, cols: Sequence[str], fn: str) -> None:
    """Raise if any of ``cols`` is missing from ``df``.

    Args:
      df: the table.
      cols: column names the caller needs.
      fn: name of the calling function (for the message).

    Raises:
      ValueError: naming the missing columns and the available ones.
    """
    missing = [c for c in dict.fromkeys(cols) if c not in df.columns]
    if missing:
        raise ValueError(
            f"{fn}: column(s) {missing} not in the table (columns: {list(df.columns)}); "
            "pass the right column names as arguments"
        )


def numeric_column(df: pd.DataFrame, col: str, fn: str) -> np.ndarray:
    """A column as float64 (bool -> 0/1, None -> NaN).

    Args:
      df: the table.
      col: the column.
      fn: name of the calling function (for the message).

    Returns:
      A float64 array of the column's values.

    Raises:
      ValueError: the column holds values that are not numbers or booleans.
    """
    s = df[col]
    if s.dtype == object or isinstance(s.dtype, pd.BooleanDtype):
        s = s.astype(object).where(s.notna(), np.nan)
    try:
        return pd.to_numeric(s, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{fn}: column {col!r} must be numeric or boolean ({exc}); "
            "convert it (e.g. df[col].astype(float)) or pick another column"
        ) from exc


def check_n_boot(n_boot: Any, fn: str, minimum: int = 1) -> int:
    """Validate a number of bootstrap resamples.

    Args:
      n_boot: the value passed.
      fn: name of the calling function.
      minimum: smallest allowed value.

    Returns:
      ``n_boot`` as an int.

    Raises:
      ValueError: not an integer or below ``minimum``.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < minimum:
        raise ValueError(f"{fn}: n_boot must be an integer >= {minimum}, got {n_boot!r}")
    return int(n_boot)


def check_level(level: Any, fn: str, name: str = "ci") -> float:
    """Validate a confidence level in (0, 1).

    Raises:
      ValueError: the level is not a number strictly between 0 and 1.
    """
    try:
        lv = float(level)
    except (TypeError, ValueError):
        lv = float("nan")
    if not 0.0 < lv < 1.0:
        raise ValueError(f"{fn}: {name} must be a confidence level strictly between 0 and 1 (e.g. 0.95), got {level!r}")
    return lv


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of a 1-d sample.

    Args:
      samples: bootstrap replicates (finite).
      level: coverage of the interval.

    Returns:
      ``(low, high)``.
    """
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(np.asarray(samples, dtype=float), [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def check_fitted(fitted: Sized, skipped: Sequence[str], fn: str, *, none_fitted: str, skipped_what: str) -> None:
    """The end of a per-group fit: fail when no group was fitted, warn which groups were skipped.

    Args:
      fitted: the fitted groups (or their rows).
      skipped: why each skipped group was skipped.
      fn: name of the public function (for the messages).
      none_fitted: the error's text after ``"{fn}: "`` (what every group needs, how to fix it).
      skipped_what: the warning's text between ``"{fn}: skipped "`` and ``": {skipped}"``.

    Raises:
      ValueError: ``fitted`` is empty.
    """
    if not fitted:
        raise ValueError(f"{fn}: {none_fitted}")
    if skipped:
        # stacklevel 3: the caller of the public function that called this
        warnings.warn(f"{fn}: skipped {skipped_what}: {skipped}", stacklevel=3)


def group_label(key: Any, by: Sequence[str]) -> str:
    """A readable label of one group of a groupby (``"all"`` without grouping columns)."""
    if not by:
        return "all"
    if not isinstance(key, tuple):
        key = (key,)
    return "/".join(str(k) for k in key)


def group_rng(seed: int | None, label: str) -> np.random.Generator:
    """A generator that depends on ``seed`` and the group's label only.

    So a group's bootstrap does not change when other groups are added to or removed from the table.
    """
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(label.encode("utf-8"))])


def unit_codes(df: pd.DataFrame, unit: str | Sequence[str] | None) -> np.ndarray:
    """Integer codes ``0..G-1`` of the resampling units (one per row when ``unit`` is None)."""
    cols = as_columns(unit, "unit")
    if not cols:
        return np.arange(len(df))
    if len(cols) == 1:
        codes, _ = pd.factorize(df[cols[0]], use_na_sentinel=False)
        return np.asarray(codes)
    return df.groupby(cols, sort=False, dropna=False).ngroup().to_numpy()


def unit_count_blocks(
    n_units: int, n_boot: int, rng: np.random.Generator, max_cells: int = 2_000_000
) -> Iterator[np.ndarray]:
    """Bootstrap resamples of units as count matrices, in blocks.

    Each resample draws ``n_units`` units with replacement; it is returned as the number of times
    each unit was drawn, so statistics that are sums over rows become ``counts @ per_unit_sums``.

    Args:
      n_units: number of units.
      n_boot: number of resamples.
      rng: the generator.
      max_cells: largest block (resamples x units) held in memory at once.

    Yields:
      int arrays of shape ``(block, n_units)``; the blocks together hold ``n_boot`` rows.
    """
    block = max(1, min(n_boot, max_cells // max(n_units, 1)))
    done = 0
    while done < n_boot:
        b = min(block, n_boot - done)
        idx = rng.integers(0, n_units, size=(b, n_units))
        flat = (idx + (np.arange(b) * n_units)[:, None]).ravel()
        yield np.bincount(flat, minlength=b * n_units).reshape(b, n_units)
        done += b
