"""The design matrix shared by :mod:`~mi_utils.analysis.factors` and :mod:`~mi_utils.analysis.mixed`.

No formula engine: a factor whose name ends in ``_params`` or whose dtype is numeric enters as
``log2`` of its value (``_params`` columns in billions, ``log2(x / 1e9)``, so the intercept is a
1B model; coefficients are per doubling either way); any other factor enters as treatment-coded
categories, the reference level being the first in sorted order unless ``reference`` names
another. The response is a boolean or 0/1 column; rows without one are dropped (warned).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._util import as_columns, require_columns

DEFAULT_FACTORS: tuple[str, ...] = ("compressor_family", "compressor_params", "predictor_params")
DEFAULT_GROUPS: tuple[str, ...] = ("record_id", "dataset")
_Z95 = 1.959963984540054


@dataclass
class _Factor:
    """One factor's columns in the design matrix."""

    name: str
    kind: str  # numeric | categorical
    columns: list[int]
    terms: list[str]
    reference: str | None = None


@dataclass
class _Design:
    y: np.ndarray
    X: np.ndarray
    terms: list[str]
    factors: list[_Factor]
    frame: pd.DataFrame  # the rows used (after dropping missing responses)


def _as_frame(rows: Any, fn: str) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        df = rows
    elif isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)):
        df = pd.DataFrame(list(rows))
    else:
        raise ValueError(
            f"{fn}: rows must be a pandas DataFrame (or a list of row dicts), got "
            f"{type(rows).__name__}; load the table with mi_utils.analysis.load_results"
        )
    if len(df) == 0:
        raise ValueError(f"{fn}: the table has no rows; pass a non-empty results table")
    return df


def _response(df: pd.DataFrame, response: str, fn: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows with a response, and the response as 0/1 floats."""
    if not isinstance(response, str):
        raise ValueError(f"{fn}: response must be a column name, got {response!r}")
    require_columns(df, [response], fn)
    s = df[response]
    missing = s.isna().to_numpy()
    if missing.any():
        warnings.warn(
            f"{fn}: dropped {int(missing.sum())} of {len(df)} rows with a missing {response!r} "
            "(e.g. rows without a predictor)",
            stacklevel=3,
        )
        df = df.loc[~missing]
        s = df[response]
    if len(df) == 0:
        raise ValueError(f"{fn}: no row has a value in {response!r}; pass rows with outcomes")
    values = s.astype(object).to_numpy()
    y = np.empty(len(values))
    for i, v in enumerate(values):
        if (
            isinstance(v, (bool, np.bool_))
            or isinstance(v, (int, float, np.integer, np.floating))
            and float(v) in (0.0, 1.0)
        ):
            y[i] = float(v)
        else:
            raise ValueError(
                f"{fn}: response {response!r} must be boolean or 0/1, found {v!r}; "
                f"convert it (e.g. rows[{response!r}] > 0.5) or pick a binary column"
            )
    if y.min() == y.max():
        raise ValueError(
            f"{fn}: every row has {response}={bool(y[0])}; a logistic model needs both "
            "outcomes, pass more rows or another response"
        )
    return df, y


def _is_numeric(name: str, s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s):
        return False
    return name.endswith("_params") or pd.api.types.is_numeric_dtype(s)


def _design(
    rows: Any, response: str, factors: Sequence[str] | str, fn: str, reference: Mapping[str, Any] | None = None
) -> _Design:
    """The response and an intercept + factor design matrix, validated."""
    df = _as_frame(rows, fn)
    names = as_columns(factors, "factors")
    if not names:
        raise ValueError(f"{fn}: give at least one factor, e.g. factors={list(DEFAULT_FACTORS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{fn}: factors {names} name a column twice; list each factor once")
    if response in names:
        raise ValueError(f"{fn}: the response {response!r} is also listed as a factor; remove it from factors")
    require_columns(df, names, fn)
    reference = dict(reference or {})
    unknown = [k for k in reference if k not in names]
    if unknown:
        raise ValueError(
            f"{fn}: reference names {unknown}, which are not factors {names}; "
            "give reference levels of categorical factors only"
        )
    df, y = _response(df, response, fn)

    cols: list[np.ndarray] = [np.ones(len(df))]
    terms = ["Intercept"]
    out: list[_Factor] = []
    for name in names:
        s = df[name]
        n_missing = int(s.isna().sum())
        if n_missing:
            raise ValueError(
                f"{fn}: factor {name!r} is missing in {n_missing} of {len(df)} rows; filter "
                f"them out first (e.g. rows[rows[{name!r}].notna()])"
            )
        if _is_numeric(name, s):
            try:
                x = pd.to_numeric(s.astype(object), errors="raise").to_numpy(dtype=float)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"{fn}: factor {name!r} must hold numbers (a size factor enters as log2); "
                    f"convert it or pass it as a string column ({exc})"
                ) from exc
            if not np.all(np.isfinite(x)) or np.any(x <= 0):
                bad = x[~(np.isfinite(x) & (x > 0))][:3].tolist()
                raise ValueError(
                    f"{fn}: size factor {name!r} enters as log2 and needs positive values, found "
                    f"{bad}; filter the rows (e.g. rows[rows.compressor_kind == 'lm'] drops "
                    "LM-free compressors with 0 parameters)"
                )
            if name in reference:
                raise ValueError(
                    f"{fn}: reference given for numeric factor {name!r}; only categorical "
                    "factors have a reference level"
                )
            if np.unique(x).size < 2:
                raise ValueError(
                    f"{fn}: factor {name!r} has a single value ({x[0]:g}); its effect cannot be "
                    "estimated: drop it from factors or add rows with other values"
                )
            scale, label = (1e9, f"log2({name} / 1e9)") if name.endswith("_params") else (1.0, f"log2({name})")
            cols.append(np.log2(x / scale))
            terms.append(label)
            out.append(_Factor(name, "numeric", [len(cols) - 1], [label]))
        else:
            values = s.astype(str).to_numpy()
            levels = sorted(set(values))
            if len(levels) < 2:
                raise ValueError(
                    f"{fn}: factor {name!r} has a single level ({levels[0]!r}); its effect cannot "
                    "be estimated: drop it from factors or add rows with other levels"
                )
            ref = str(reference.get(name, levels[0]))
            if ref not in levels:
                raise ValueError(f"{fn}: reference level {ref!r} of {name!r} is not among its levels {levels}")
            idx, labels = [], []
            for level in levels:
                if level == ref:
                    continue
                cols.append((values == level).astype(float))
                labels.append(f"{name}[T.{level}]")
                idx.append(len(cols) - 1)
            terms.extend(labels)
            out.append(_Factor(name, "categorical", idx, labels, reference=ref))
    X = np.column_stack(cols)
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        raise ValueError(
            f"{fn}: the factors {names} are collinear in these rows (design rank {rank} < "
            f"{X.shape[1]} columns), e.g. one factor is determined by another; drop one of them"
        )
    return _Design(y=y, X=X, terms=terms, factors=out, frame=df)
