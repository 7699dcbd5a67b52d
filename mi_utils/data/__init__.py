"""Data sets in one schema (:class:`Record`): loaders for the paper's benchmarks + a synthetic one.

Names for :func:`load_dataset`:

==================== ================== =============================================
name                 task               source
==================== ================== =============================================
synthetic_clinical   multiple_choice    bundled ``data/synthetic_clinical.jsonl``
synthetic_clinical_shared  multiple_choice  the same records, one question shared by all
passages             free_form          bundled ``data/public_domain_passages.jsonl``
longhealth           multiple_choice    ``longhealth/benchmark_v5.json``
longhealth_sample    free_form          ``longhealth/minions_health_*`` (1 patient)
financebench         free_form          ``financebench/*.jsonl[.gz]`` or HF
financebench_mc      multiple_choice    the same files: number answers, distractors from other filings
qasper               free_form          ``qasper/qasper-<split>-v0.3.json`` or HF
wildchat             perplexity         ``wildchat/*.jsonl|feather`` or HF (proxy QA)
fineweb              perplexity         ``fineweb/*.jsonl|feather`` or HF (proxy QA)
==================== ================== =============================================

Outside the registry, :func:`load_text_folder` (:mod:`mi_utils.data.folder`) reads a folder of the user's own
text files, one record per file, with one instruction as every record's query and no answers: documents for
ranking compressors by MI (:mod:`mi_utils.rank`), not a benchmark for ``run``.

Files are found via ``path=``, ``$MI_UTILS_DATA_DIR`` or ``$MI_UTILS_TEAM_DATA`` (see
:mod:`mi_utils.data.paths`). Nothing here imports torch or ``datasets`` at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .financebench import build_page_context, load_financebench, select_pages_around
from .financebench_mc import answer_shape, load_financebench_mc
from .fineweb import load_fineweb
from .folder import load_text_folder
from .longhealth import format_patient_texts, load_longhealth, load_longhealth_sample, parse_longhealth
from .passages import load_passages
from .paths import DATA_DIR_ENV, TEAM_DATA_ENV, data_roots, team_data_dir
from .paths import SHARED_DATA_ENV as SHARED_DATA_ENV  # the old variable's name (deprecated)
from .paths import shared_data_dir as shared_data_dir  # deprecated: use team_data_dir
from .qasper import load_qasper, parse_qasper, qasper_context
from .records import (
    TASKS,
    DataFormatError,
    DataNotFoundError,
    Record,
    approx_token_count,
    read_jsonl,
    write_jsonl,
)
from .wildchat import load_wildchat

# `synthetic` is imported lazily (PEP 562 __getattr__ below) so that
# `python -m mi_utils.data.synthetic` does not import the module twice.
_LAZY = {"HEADER", "build_synthetic_clinical", "load_synthetic", "load_synthetic_shared", "shared_question_records"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import synthetic

        return getattr(synthetic, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _load_synthetic(**kwargs: Any) -> list[Record]:
    from .synthetic import load_synthetic

    return load_synthetic(**kwargs)


def _load_synthetic_shared(**kwargs: Any) -> list[Record]:
    from .synthetic import load_synthetic_shared

    return load_synthetic_shared(**kwargs)


__all__ = [
    "DATASETS",
    "DATASET_TASKS",
    "DATA_DIR_ENV",
    "TEAM_DATA_ENV",
    "HEADER",
    "TASKS",
    "DataFormatError",
    "DataNotFoundError",
    "Record",
    "answer_shape",
    "approx_token_count",
    "build_page_context",
    "build_synthetic_clinical",
    "data_roots",
    "format_patient_texts",
    "load_dataset",
    "load_financebench",
    "load_financebench_mc",
    "load_fineweb",
    "load_longhealth",
    "load_longhealth_sample",
    "load_passages",
    "load_qasper",
    "load_synthetic",
    "load_text_folder",
    "load_synthetic_shared",
    "load_wildchat",
    "parse_longhealth",
    "parse_qasper",
    "qasper_context",
    "read_jsonl",
    "select_pages_around",
    "team_data_dir",
    "write_jsonl",
]

#: The registry: each data set's loader and the task of its records (the planner reads the task of a data
#: set whose files are not here). A new data set is one line here.
_REGISTRY: dict[str, tuple[Callable[..., list[Record]], str]] = {
    "passages": (load_passages, "free_form"),
    "synthetic_clinical": (_load_synthetic, "multiple_choice"),
    "synthetic_clinical_shared": (_load_synthetic_shared, "multiple_choice"),
    "longhealth": (load_longhealth, "multiple_choice"),
    "longhealth_sample": (load_longhealth_sample, "free_form"),
    "financebench": (load_financebench, "free_form"),
    "financebench_mc": (load_financebench_mc, "multiple_choice"),
    "qasper": (load_qasper, "free_form"),
    "wildchat": (load_wildchat, "perplexity"),
    "fineweb": (load_fineweb, "perplexity"),
}
#: name -> loader (what :func:`load_dataset` calls; tests add fakes to it).
DATASETS: dict[str, Callable[..., list[Record]]] = {name: loader for name, (loader, _) in _REGISTRY.items()}
#: name -> the task of its records, from the same table.
DATASET_TASKS: dict[str, str] = {name: task for name, (_, task) in _REGISTRY.items()}


def load_dataset(name: str, **kwargs: Any) -> list[Record]:
    """Load a data set by name.

    Args:
        name: One of :data:`DATASETS` (``"synthetic_clinical"``, ``"longhealth"``,
            ``"longhealth_sample"``, ``"financebench"``, ``"financebench_mc"``, ``"qasper"``, ``"wildchat"``,
            ``"fineweb"``). ``-`` and case are normalised.
        **kwargs: Passed to the loader (``path=``, ``limit=``, ...).

    Returns:
        The records.

    Raises:
        KeyError: On an unknown name (the message lists the known ones).
        DataNotFoundError: If the data set's files are not available.
    """
    key = name.strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise KeyError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[key](**kwargs)
