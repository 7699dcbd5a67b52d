"""Deprecated: RACE scoring moved to :mod:`mi_utils.deep_research.race`.

This shim re-exports that module's public names (the same objects) and warns once on import.
Import from ``mi_utils.deep_research.race`` instead.
"""

from __future__ import annotations

import warnings

from .deep_research import race as _race
from .deep_research.race import *  # noqa: F403
from .deep_research.race import __all__  # noqa: F401

warnings.warn(
    "mi_utils.race is deprecated; import from mi_utils.deep_research.race",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str):
    return getattr(_race, name)  # the renamed RACE names (CriterionScore, ...), with their warning
