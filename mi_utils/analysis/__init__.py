"""Fits and statistics over results tables: pandas / numpy / scipy / statsmodels only.

Tables in, numbers (and tables) out. Nothing here imports torch, transformers or any backend:
every function runs on the runner's ``rows.jsonl`` / ``summary.csv`` or on any DataFrame with
the same columns, fast, in any notebook.

Modules (one concept each):

* :mod:`~mi_utils.analysis.tables`: read results tables, the paper's reported numbers.
* :mod:`~mi_utils.analysis.scaling`: accuracy / length / MI against model size (``fit_scaling``,
  ``scaling_ratios``, ``scaling_gains``).
* :mod:`~mi_utils.analysis.rate_distortion`: ``D(R) = C exp(-b R) + D0`` (``fit_rate_distortion``).
* :mod:`~mi_utils.analysis.correlation`: Pearson / Spearman with and without covariates
  (``partial_correlation``).
* :mod:`~mi_utils.analysis.factors`: logistic GLM factor importance (``rank_factors``) and
  mixed-effects models (``mixed_effects``).
* :mod:`~mi_utils.analysis.meta`: random-effects meta-analysis (``meta_analysis``).
* :mod:`~mi_utils.analysis.information`: usable (predictive V-) information about the answer
  (``usable_information``), with cross-fitted temperature calibration (re-exported from
  :mod:`mi_utils.information`, its home beside the estimators).
* :mod:`~mi_utils.analysis.simulate`: a simulated results table on the paper's grid
  (``simulate_grid``), every row marked ``simulated=True``; its side studies for the paper's other
  figures (conciseness, QASPER, query-agnostic items, a mixture of experts, refinement rounds) in
  :mod:`~mi_utils.analysis.simulate_studies` (``STUDIES``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "fit_scaling": "scaling",
    "scaling_ratios": "scaling",
    "scaling_gains": "scaling",
    "compressor_or_predictor": "scaling",
    "ScalingFit": "scaling",
    "fit_rate_distortion": "rate_distortion",
    "RateDistortionFit": "rate_distortion",
    "partial_correlation": "correlation",
    "length_baseline": "correlation",
    "fit_rate_distortion_groups": "rate_distortion",
    "rank_factors": "factors",
    "mixed_effects": "factors",
    "MixedEffectsResult": "factors",
    "meta_analysis": "meta",
    "per_group_slopes": "meta",
    "MetaAnalysisResult": "meta",
    "usable_information": "information",
    "UsableInformation": "information",
    "fit_temperature": "information",
    "cross_fitted_temperatures": "information",
    "cross_fitted_usable_information": "information",
    "simulate_grid": "simulate",
    "STUDIES": "simulate_studies",
    "SIMULATION_DEFAULTS": "simulate",
    "load_results": "tables",
    "paper_reported": "tables",
    "load_table": "tables",
    "one_scorer": "tables",
    "configurations": "tables",
    "with_rate": "tables",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
