"""Which factors drive per-question correctness: a logistic GLM and mixed-effects models.

* :func:`rank_factors`: the paper's factor-importance analysis (Fig. 17): a logistic GLM of
  per-question correctness on compressor family, compressor size and predictor size, with a
  likelihood-ratio test and a standardised effect per factor, ranked by importance.
* :func:`mixed_effects` and :class:`MixedEffectsResult`: the same fixed effects with a random
  intercept per question; they live in :mod:`mi_utils.analysis.mixed` and are re-exported here.

Both build their design matrices with :mod:`~mi_utils.analysis._design` (no formula engine): a
factor whose name ends in ``_params`` or whose dtype is numeric enters as ``log2`` of its value
(``_params`` columns in billions, ``log2(x / 1e9)``, so the intercept is a 1B model; coefficients
are per doubling either way); any other factor enters as treatment-coded categories, the
reference level being the first in sorted order unless ``reference`` names another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._design import DEFAULT_FACTORS, DEFAULT_GROUPS, _design  # noqa: F401 (DEFAULT_GROUPS re-exported)
from .mixed import MIN_CLUSTERS, N_AGQ, MixedEffectsResult, mixed_effects  # noqa: F401 (re-exported)

__all__ = ["MixedEffectsResult", "mixed_effects", "rank_factors"]


def _fit_glm(y: np.ndarray, X: np.ndarray) -> Any:
    import statsmodels.api as sm

    return sm.GLM(y, X, family=sm.families.Binomial()).fit()


def rank_factors(
    rows: Any,
    response: str = "correct",
    factors: Sequence[str] = DEFAULT_FACTORS,
    reference: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Rank factors by their importance for per-question correctness (logistic GLM).

    Fits ``logit P(response) = intercept + sum of factor terms`` by maximum likelihood
    (statsmodels GLM, binomial family) on the per-row outcomes, then refits without each factor
    in turn. Importance is the likelihood-ratio chi-square of dropping the factor. A plain GLM
    ignores the clustering of rows by question: with question random effects its coefficients
    are population-averaged (attenuated towards 0) and its p-values optimistic; see
    :func:`mixed_effects` for the conditional model.

    Args:
      rows: the results table (runner rows or :func:`~mi_utils.analysis.simulate.simulate_grid`).
      response: a boolean or 0/1 column; rows where it is missing (None / NaN) are dropped with a
        warning.
      factors: columns to rank. Size factors (name ending in ``_params``, or a numeric dtype)
        enter as ``log2`` (coefficient per doubling); others as treatment-coded categories.
      reference: optional reference level per categorical factor (default: first sorted level).

    Returns:
      A DataFrame sorted by importance, one row per factor, columns ``factor``, ``kind``
      (``"numeric"`` / ``"categorical"``), ``lr_chi2`` (2 x log-likelihood gain of the full model
      over the model without the factor), ``df`` (its number of coefficients), ``p_value``
      (chi-square), ``std_effect`` (logit scale: for a numeric factor the coefficient times the
      SD over rows of its log2 values, signed; for a categorical factor the SD over rows of its
      fitted category effects, >= 0 — both are the SD of the factor's contribution to the linear
      predictor), ``coef`` and ``se`` (per doubling; ``None`` for categorical factors), ``rank``
      (1 = most important). ``attrs`` holds ``coefficients`` (every term's estimate, SE and
      Wald p-value, a list of dicts), ``reference`` (level per categorical factor) and ``n_obs``.

    Raises:
      ValueError: a factor or the response is not a column, the response is not binary or has a
        single outcome, a factor has a single level or missing values, a size factor has
        non-positive values, or the factors are collinear.
    """
    fn = "rank_factors"
    d = _design(rows, response, factors, fn, reference)
    from scipy import stats

    full = _fit_glm(d.y, d.X)
    beta = np.asarray(full.params)
    se = np.asarray(full.bse)
    records = []
    for f in d.factors:
        keep = [j for j in range(d.X.shape[1]) if j not in f.columns]
        reduced = _fit_glm(d.y, d.X[:, keep])
        lr = max(0.0, 2.0 * (float(full.llf) - float(reduced.llf)))
        k = len(f.columns)
        contribution = d.X[:, f.columns] @ beta[f.columns]
        if f.kind == "numeric":
            j = f.columns[0]
            std_effect = float(beta[j] * np.std(d.X[:, j]))
            coef, coef_se = float(beta[j]), float(se[j])
        else:
            std_effect = float(np.std(contribution))
            coef = coef_se = None
        records.append(
            {
                "factor": f.name,
                "kind": f.kind,
                "lr_chi2": lr,
                "df": k,
                "p_value": float(stats.chi2.sf(lr, k)),
                "std_effect": std_effect,
                "coef": coef,
                "se": coef_se,
            }
        )
    out = pd.DataFrame.from_records(records)
    out = out.sort_values("lr_chi2", ascending=False, kind="stable").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    by_factor = {r["factor"]: r for r in records}
    for c in ("coef", "se"):  # None (not NaN) for categorical factors
        out[c] = pd.Series([by_factor[f][c] for f in out["factor"]], index=out.index, dtype=object)
    pvals = np.asarray(full.pvalues)
    out.attrs["coefficients"] = [
        {"term": t, "estimate": float(beta[j]), "se": float(se[j]), "p_value": float(pvals[j])}
        for j, t in enumerate(d.terms)
    ]
    out.attrs["reference"] = {f.name: f.reference for f in d.factors if f.kind == "categorical"}
    out.attrs["n_obs"] = int(len(d.y))
    return out
