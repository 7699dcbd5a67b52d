"""Where the package finds its files: the clone, the bundled data, committed results, notebooks, figures.

Every other module asks this one; none computes a path from its own ``__file__``.

The package runs in two layouts:

* **a clone** (``pip install -e .``, or ``PYTHONPATH`` pointing at the checkout): the package is
  ``<root>/mi_utils`` beside ``<root>/pyproject.toml``, and its bundled inputs are the repository's
  ``<root>/data/`` folder (the one copy in git);
* **a wheel** (``pip install mi_utils-*.whl``): there is no clone; the build (``setup.py``) copies the
  same inputs from ``data/`` into the package as ``mi_utils/_data/`` (:data:`BUNDLED_PATTERNS` says which
  files), and they are read from there.

:func:`bundled_data_dir` picks ``mi_utils/_data/`` when it exists, else the clone's ``data/``. The bundled
inputs are the synthetic benchmark, the public-domain passages, the Deep Research tasks, the paper's
reported numbers, the committed result tables ``data/results/<name>/`` (their ``rows.jsonl``,
``summary.csv``, ``config.json``, ``timings.json`` and other tables, never the git-ignored ``stores/``)
and the planner's CPU rates and check (``data/throughput_cpu.yaml``, ``data/plan_ratios.csv``);
a table committed later under ``data/results/<name>/`` is found (:func:`committed_results`) and packaged
without a code change.

Outputs never go into the package: results runs write under the working directory (``results/``,
the configs' ``output_dir``), figures to ``$MI_UTILS_FIGURES``, else the clone's ``figures/``, else
``./figures``. Things only a clone has (the notebooks, ``configs/``, ``.venv-vllm``) are found through
:func:`repo_root`, which is ``None`` outside a clone.

Real data sets (FinanceBench, LongHealth, DeepResearch Bench, ...) are never bundled: they are read from the
team data folder, :func:`team_data_dir` (``$MI_UTILS_TEAM_DATA``, default ``<clone>/../shared/data``). Its
older names, ``$MI_UTILS_SHARED_DATA`` and ``shared_data_dir()``, still work and warn once with the new one.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "PACKAGE_DIR",
    "PACKAGED_DATA",
    "BUNDLED_PATTERNS",
    "FIGURES_ENV",
    "TEAM_DATA_ENV",
    "repo_root",
    "require_repo_root",
    "bundled_data_dir",
    "bundled_file",
    "committed_results_dir",
    "committed_results",
    "notebooks_dir",
    "figures_dir",
    "team_data_dir",
]

#: The installed (or checked-out) ``mi_utils`` package folder.
PACKAGE_DIR: Path = Path(__file__).resolve().parent

#: The package-data folder that holds the bundled inputs in a wheel (absent in a clone).
PACKAGED_DATA = "_data"

#: Files of ``data/`` that ship in the wheel (globs relative to ``data/``; ``setup.py`` applies them). A
#: table's ``stores/`` sits one level deeper than ``results/*/*`` and is never matched.
BUNDLED_PATTERNS: tuple[str, ...] = (
    "README.md",
    "*.jsonl",
    "*.csv",
    "*.yaml",
    "results/*/*.jsonl",
    "results/*/*.csv",
    "results/*/*.json",
)

FIGURES_ENV = "MI_UTILS_FIGURES"
#: The team data folder's variable: the read-only folder of real data sets beside the checkout.
TEAM_DATA_ENV = "MI_UTILS_TEAM_DATA"
#: Its older name, still read when ``$MI_UTILS_TEAM_DATA`` is unset (with a warning naming the new one).
SHARED_DATA_ENV = "MI_UTILS_SHARED_DATA"


def repo_root() -> Path | None:
    """The clone's root, or ``None`` when the package is installed from a wheel (no clone around it)."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "data").is_dir() else None


def require_repo_root(what: str) -> Path:
    """The clone's root; outside a clone, a :class:`FileNotFoundError` saying that ``what`` needs one.

    Args:
        what: what needs the clone, for the message (``"the notebooks"``).
    """
    root = repo_root()
    if root is None:
        raise FileNotFoundError(
            f"{what} live in the repository, not in the installed package (mi_utils is installed at "
            f"{PACKAGE_DIR}, outside a clone): clone the repository and `pip install -e .` there"
        )
    return root


def bundled_data_dir() -> Path:
    """The folder of the bundled inputs: ``mi_utils/_data/`` in a wheel, else the clone's ``data/``.

    Never raises: outside both layouts it returns the (missing) package-data folder, and the reader of a
    file there reports it missing.
    """
    packaged = PACKAGE_DIR / PACKAGED_DATA
    if packaged.is_dir():
        return packaged
    root = repo_root()
    return root / "data" if root is not None else packaged


def bundled_file(name: str) -> Path:
    """A bundled input by its name under ``data/`` (``"paper_reported.csv"``); it may not exist."""
    return bundled_data_dir() / name


def committed_results_dir() -> Path:
    """``data/results/`` (in a wheel, ``mi_utils/_data/results/``): the committed result tables."""
    return bundled_data_dir() / "results"


def committed_results() -> dict[str, Path]:
    """Every committed result table, ``{name: folder}`` for each ``data/results/<name>/`` holding ``rows.jsonl``."""
    folder = committed_results_dir()
    return {p.parent.name: p.parent for p in sorted(folder.glob("*/rows.jsonl"))}


def notebooks_dir() -> Path:
    """The clone's ``notebooks/`` folder.

    Raises:
        FileNotFoundError: outside a clone (a wheel install); the message says to clone the repository
            or to pass the folder (``python -m mi_utils notebooks --notebooks <clone>/notebooks``).
    """
    root = repo_root()
    if root is None or not (root / "notebooks").is_dir():
        raise FileNotFoundError(
            f"the notebooks are not installed with the package (mi_utils is at {PACKAGE_DIR}, outside a clone): "
            "clone the repository and run from there, or pass the folder: "
            "`python -m mi_utils notebooks --notebooks <clone>/notebooks`"
        )
    return root / "notebooks"


def figures_dir() -> Path:
    """Where figures go: ``$MI_UTILS_FIGURES``, else the clone's ``figures/``, else ``./figures`` (not created)."""
    env = os.environ.get(FIGURES_ENV)
    if env:
        return Path(env).expanduser()
    root = repo_root()
    return root / "figures" if root is not None else Path.cwd() / "figures"


def team_data_dir() -> Path | None:
    """The team data folder: ``$MI_UTILS_TEAM_DATA``, default ``<clone>/../shared/data`` (may not exist).

    ``None`` outside a clone when neither variable is set. The older ``$MI_UTILS_SHARED_DATA`` is read when
    ``$MI_UTILS_TEAM_DATA`` is unset, and when both are set and differ the new one wins; either case warns
    once (a ``FutureWarning``, shown by default: the variable is the user's to rename), saying which folder
    is read. Both set to the same folder: no warning.
    """
    env = _team_data_env()
    if env:
        return Path(env).expanduser()
    root = repo_root()
    return root.parent / "shared" / "data" if root is not None else None


def shared_data_dir() -> Path | None:
    """Deprecated name of :func:`team_data_dir` (warns once)."""
    from ._warn import warn_once  # here, not at the top: setup.py runs this file alone (stdlib imports only)

    warn_once(
        "paths:shared_data_dir",
        "shared_data_dir() is deprecated; use team_data_dir() (mi_utils.paths, also in mi_utils.data)",
        DeprecationWarning,
        stacklevel=2,
    )
    return team_data_dir()


def _team_data_env() -> str | None:
    """``$MI_UTILS_TEAM_DATA``, else the deprecated ``$MI_UTILS_SHARED_DATA`` (warning once); ``None``: neither."""
    new, old = os.environ.get(TEAM_DATA_ENV), os.environ.get(SHARED_DATA_ENV)
    if not old:
        return new or None
    from ._warn import warn_once  # not at the top: setup.py runs this file alone

    if not new:
        message = f"${SHARED_DATA_ENV} is deprecated: set ${TEAM_DATA_ENV} instead (reading {old} for now)"
        warn_once(f"paths:env:{old}", message, FutureWarning, stacklevel=3)
        return old
    if new != old:
        message = (
            f"${TEAM_DATA_ENV}={new} and the deprecated ${SHARED_DATA_ENV}={old} are both set and differ: "
            f"${TEAM_DATA_ENV} wins; unset ${SHARED_DATA_ENV}"
        )
        warn_once(f"paths:env:{old}:{new}", message, FutureWarning, stacklevel=3)
    return new
