"""Deprecated: retrieval moved to :mod:`mi_utils.deep_research.retrieval`.

This shim re-exports that module's public names (the same objects) and warns once on import.
Import from ``mi_utils.deep_research.retrieval`` (or ``mi_utils.deep_research``) instead.
"""

from __future__ import annotations

import warnings

from .deep_research.retrieval import *  # noqa: F403
from .deep_research.retrieval import __all__  # noqa: F401

warnings.warn(
    "mi_utils.retrieval is deprecated; import from mi_utils.deep_research.retrieval",
    DeprecationWarning,
    stacklevel=2,
)
