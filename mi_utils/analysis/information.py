"""Usable information about the answer (predictive V-information), for analyses over tables.

The estimator lives in :mod:`mi_utils.information`, beside :mod:`mi_utils.estimators`, so that the
runner can compute its rows' usable information without importing the analysis layer. Every name
is re-exported here unchanged (the same objects): ``from mi_utils.analysis.information import
usable_information`` keeps working.
"""

from __future__ import annotations

from ..information import (
    TEMPERATURE_BOUNDS,
    CrossFitted,
    UsableInformation,
    cross_fitted_temperatures,
    cross_fitted_usable_information,
    fit_temperature,
    option_log_probs,
    usable_information,
)

__all__ = [
    "TEMPERATURE_BOUNDS",
    "UsableInformation",
    "option_log_probs",
    "fit_temperature",
    "cross_fitted_temperatures",
    "usable_information",
    "CrossFitted",
    "cross_fitted_usable_information",
]
