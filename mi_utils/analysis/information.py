"""Usable information about the answer (predictive V-information), for analyses over tables.

The estimator lives in :mod:`mi_utils.information`, beside :mod:`mi_utils.estimators`, so that the
runner can compute its rows' usable information without importing the analysis layer. Every name
is re-exported here unchanged (the same objects): ``from mi_utils.analysis.information import
usable_information`` keeps working.
"""

from __future__ import annotations

from .. import information as _information
from ..information import *  # noqa: F403  (its __all__, listed once, there)

__all__ = list(_information.__all__)
