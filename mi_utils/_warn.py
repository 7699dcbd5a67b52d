"""Warnings shown once per Python session: renamed names and other once-only notes.

:func:`warn_once` is the one implementation the package uses (renamed RACE names in
:mod:`mi_utils.deep_research.race`, the renamed data-folder variable and function in
:mod:`mi_utils.paths`, the rate-distortion fit notes in :mod:`mi_utils.analysis.rate_distortion`).
A warning the active filters ignore does not count as shown: Python ignores a
``DeprecationWarning`` attributed to library code by default, and such a warning must still reach
the user the first time their own code triggers it. This module imports only the standard library.
"""

from __future__ import annotations

import warnings

__all__ = ["warn_once", "WARNED"]

#: Keys of the warnings already shown in this session (tests clear it).
WARNED: set[str] = set()


def warn_once(key: str, message: str, category: type[Warning] = UserWarning, stacklevel: int = 2) -> None:
    """``warnings.warn(message, category)`` until the warning of ``key`` has been shown once.

    Args:
      key: what makes two warnings the same one (prefix it with the module's name).
      message, category: as for :func:`warnings.warn`.
      stacklevel: as the caller would pass to :func:`warnings.warn` itself (2: the caller's caller).

    A warning the active filters ignore is not counted as shown; ``"error"`` filters raise as usual.
    """
    if key in WARNED:
        return
    with warnings.catch_warnings(record=True) as caught:  # the active filters, recorded here
        warnings.warn(message, category, stacklevel=stacklevel + 1)
    for w in caught:
        WARNED.add(key)
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
