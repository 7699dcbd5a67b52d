"""Finding a data set's files: the data roots, file lookup, and the optional Hugging Face fallback.

The folders themselves (the clone, the bundled ``data/``, the team data folder) come from
:mod:`mi_utils.paths`; this module searches them. Lookup order for a data set's files (first hit wins):

1. an explicit ``path=`` argument (a file, or a folder holding the expected file names);
2. ``$MI_UTILS_DATA_DIR/<subdir>/`` (e.g. ``$MI_UTILS_DATA_DIR/financebench/``);
3. the team data folder's ``<subdir>/``: ``$MI_UTILS_TEAM_DATA``, default ``<repo>/../shared/data`` (the
   team's read-only copies; nothing there is committed to this repository; no default outside a clone;
   the older ``$MI_UTILS_SHARED_DATA`` is still read, with a warning).

If nothing is found and the optional ``datasets`` package is installed, loaders that have a
Hugging Face source try it (network needed); otherwise they raise
:class:`~mi_utils.data.records.DataNotFoundError` explaining where to get the data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..paths import SHARED_DATA_ENV as SHARED_DATA_ENV  # the old variable's name (deprecated)
from ..paths import TEAM_DATA_ENV, bundled_data_dir, repo_root, team_data_dir
from ..paths import shared_data_dir as shared_data_dir  # deprecated: use team_data_dir
from .records import DataNotFoundError

__all__ = [
    "DATA_DIR_ENV",
    "TEAM_DATA_ENV",
    "repo_root",
    "bundled_data_dir",
    "team_data_dir",
    "data_roots",
    "find_data_file",
    "hf_load_dataset",
    "not_found_error",
]

DATA_DIR_ENV = "MI_UTILS_DATA_DIR"


def data_roots() -> list[Path]:
    """Folders searched for data sets, in order: ``$MI_UTILS_DATA_DIR``, then the team data folder (if any)."""
    roots = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        roots.append(Path(env).expanduser())
    team = team_data_dir()
    if team is not None:
        roots.append(team)
    return roots


def find_data_file(
    subdir: str, filenames: Sequence[str], path: str | Path | None = None
) -> tuple[Path | None, list[Path]]:
    """Locate the first existing file among ``filenames``.

    Args:
        subdir: The data set's folder name under a data root (``"financebench"``).
        filenames: Candidate file names, most preferred first.
        path: Explicit file or folder. A file is returned as is; in a folder both
            ``path/<name>`` and ``path/<subdir>/<name>`` are tried. No data roots are searched
            when ``path`` is given.

    Returns:
        ``(found, searched)``: the file (``None`` if absent) and every location tried.

    Raises:
        DataNotFoundError: If ``path`` is given but does not exist.
    """
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p, [p]
        if not p.exists():
            raise DataNotFoundError(f"{p} does not exist (passed as path=)")
        folders = [p, p / subdir]
    else:
        folders = [root / subdir for root in data_roots()]
    searched = [folder / name for folder in folders for name in filenames]
    return next((c for c in searched if c.is_file()), None), searched


def hf_load_dataset(repo_id: str, **kwargs: Any) -> tuple[Any | None, str]:
    """Try ``datasets.load_dataset(repo_id, **kwargs)``; never raises.

    ``datasets`` is imported lazily: it is an optional extra, not a dependency.

    Args:
        repo_id: Hugging Face data set id.
        **kwargs: Passed to ``datasets.load_dataset`` (``split=``, ``streaming=``, ...).

    Returns:
        ``(dataset, "")`` on success, else ``(None, reason)``.
    """
    try:
        import datasets
    except ImportError:
        return None, "the optional `datasets` package is not installed (pip install datasets)"
    try:
        return datasets.load_dataset(repo_id, **kwargs), ""
    except Exception as e:  # network down, hub unreachable, gated repo, ...
        return None, f"datasets.load_dataset({repo_id!r}) failed: {type(e).__name__}: {e}"


def not_found_error(
    name: str,
    searched: Sequence[Path],
    how_to_get: str,
    hf_reason: str | None = None,
    subdir: str | None = None,
) -> DataNotFoundError:
    """Build the standard "data set not found" error.

    Args:
        name: Data set name.
        searched: Locations that were tried.
        how_to_get: Where to download the files and what to call them.
        hf_reason: Why the Hugging Face fallback did not work (``None``: there is none).
        subdir: The folder name under a data root (default: ``name``).

    Returns:
        The error, for the caller to raise.
    """
    tried = "\n".join(f"  - {p}" for p in searched) or "  (nothing)"
    hf = f"\nHugging Face fallback: {hf_reason}" if hf_reason else ""
    return DataNotFoundError(
        f"{name} data not found. Looked for:\n{tried}{hf}\n{how_to_get}\n"
        f"Point the loader at the files with path=..., or set ${DATA_DIR_ENV} to a folder that "
        f"contains a `{subdir or name}/` sub-folder."
    )
