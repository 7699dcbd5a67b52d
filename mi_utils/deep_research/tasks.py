"""Research tasks: DeepResearch Bench's (with their RACE rubrics), the bundled ones, and their local documents.

* :func:`load_deepresearch_bench`: DeepResearch Bench's ``query.jsonl`` and ``criteria.jsonl``
  (web tasks), found through the data path settings; ``ids=PAPER_TASK_IDS`` selects the paper's 20.
* :func:`load_research_tasks`: tasks in the same format from a JSONL file (default the bundled
  ``data/deep_research_tasks.jsonl``, in a wheel too: :mod:`mi_utils.paths`), written for this
  repository's local collections.
* :func:`task_documents`: the local collection a list of tasks is about (FinanceBench filing pages,
  the bundled passages), for a :class:`~mi_utils.deep_research.retrieval.BM25Retriever`.

Files are read, never executed; no model is called here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..paths import bundled_file
from .race import RaceCriteria, load_race_criteria
from .retrieval import Document, financebench_documents, passage_documents

__all__ = [
    "PAPER_TASK_IDS",
    "BUNDLED_TASKS_PATH",
    "ResearchTask",
    "load_research_tasks",
    "load_deepresearch_bench",
    "task_documents",
]

#: The 20 English DeepResearch Bench tasks the paper ran (5 runs each).
PAPER_TASK_IDS: tuple[int, ...] = (54, 55, 57, 59, 63, 64, 66, 68, 70, 76, 77, 81, 83, 88, 90, 92, 96, 97, 98, 99)

BUNDLED_TASKS_PATH = bundled_file("deep_research_tasks.jsonl")


@dataclass
class ResearchTask:
    """A research task, with its RACE rubric when it has one.

    Attributes:
      id: task id (string).
      prompt: the research task as the user states it.
      criteria: the RACE rubric (:class:`~mi_utils.deep_research.race.RaceCriteria`), or ``None``.
      language, topic: as in DeepResearch Bench.
      collection: the local collection the task was written for (``"financebench"``,
        ``"passages"``), ``None`` for web tasks.
      documents: the collection's documents the task is about (filing names, passage ids).
    """

    id: str
    prompt: str
    criteria: RaceCriteria | None = None
    language: str = "en"
    topic: str = ""
    collection: str | None = None
    documents: tuple[str, ...] = ()


def _task_from_dict(d: Mapping[str, Any]) -> ResearchTask:
    crit = RaceCriteria.from_dict(d) if d.get("criterions") and d.get("dimension_weight") else None
    return ResearchTask(
        id=str(d["id"]),
        prompt=str(d["prompt"]).strip(),
        criteria=crit,
        language=str(d.get("language") or "en"),
        topic=str(d.get("topic") or ""),
        collection=d.get("collection"),
        documents=tuple(d.get("documents") or ()),
    )


def load_research_tasks(
    path: str | Path | None = None, *, collection: str | None = None, ids: Iterable[str] | None = None
) -> list[ResearchTask]:
    """Research tasks with RACE rubrics from a JSONL file (default: the bundled ``data/deep_research_tasks.jsonl``).

    The bundled file holds tasks written for this repository's local collections: two on the
    public-domain passages (CI smoke run) and four on FinanceBench filings. Each line has
    DeepResearch Bench's criteria fields (``dimension_weight``, ``criterions``) plus ``id``,
    ``prompt``, ``collection`` and ``documents``.

    Args:
      path: a JSONL file in that format.
      collection: keep tasks for this collection only.
      ids: keep these ids only, in this order.
    """
    p = Path(path) if path is not None else BUNDLED_TASKS_PATH
    tasks = [_task_from_dict(json.loads(line)) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    if collection is not None:
        tasks = [t for t in tasks if t.collection == collection]
    if ids is not None:
        by_id = {t.id: t for t in tasks}
        missing = [i for i in ids if str(i) not in by_id]
        if missing:
            raise KeyError(f"tasks not in {p}: {missing} (known: {sorted(by_id)})")
        tasks = [by_id[str(i)] for i in ids]
    return tasks


def load_deepresearch_bench(
    *, language: str | None = "en", ids: Iterable[int] | None = None, path: str | Path | None = None
) -> list[ResearchTask]:
    """DeepResearch Bench's tasks (``query.jsonl``) with their RACE criteria (``criteria.jsonl``).

    Found through the data path settings (``path=``, ``$MI_UTILS_DATA_DIR/deepresearch_bench/``,
    ``$MI_UTILS_TEAM_DATA/deepresearch_bench/``). These are web tasks: run them with a
    :class:`~mi_utils.deep_research.retrieval.WebSearchRetriever`. ``ids=PAPER_TASK_IDS`` selects the paper's 20.

    Args:
      language: ``"en"``, ``"zh"`` or ``None`` for both.
      ids: keep these task ids, in this order.
      path: explicit file or folder.
    """
    from ..data.paths import find_data_file, not_found_error

    found, searched = find_data_file("deepresearch_bench", ["query.jsonl"], path)
    if found is None:
        raise not_found_error(
            "deepresearch_bench",
            searched,
            "Get data/prompt_data/query.jsonl and data/criteria_data/criteria.jsonl from "
            "https://github.com/Ayanami0730/deep_research_bench into <data dir>/deepresearch_bench/.",
        )
    criteria = load_race_criteria(found.parent)
    rows = [json.loads(line) for line in found.read_text(encoding="utf-8").splitlines() if line.strip()]
    tasks = {
        str(r["id"]): ResearchTask(
            id=str(r["id"]),
            prompt=str(r["prompt"]).strip(),
            criteria=criteria.get(str(r["id"])),
            language=r.get("language", ""),
            topic=r.get("topic", ""),
        )
        for r in rows
        if language is None or r.get("language") == language
    }
    if ids is None:
        return list(tasks.values())
    missing = [i for i in ids if str(i) not in tasks]
    if missing:
        raise KeyError(f"DeepResearch Bench tasks not found (language={language!r}): {missing}")
    return [tasks[str(i)] for i in ids]


def task_documents(tasks: Sequence[ResearchTask], *, financebench_path: str | Path | None = None) -> list[Document]:
    """The local collection for ``tasks``: FinanceBench pages of the filings they name, and/or the passages.

    FinanceBench tasks contribute every page of the filings in their ``documents``; passage tasks
    contribute all bundled passages (the collection is tiny). Other collections are the caller's
    (:func:`mi_utils.deep_research.retrieval.text_folder_documents`).
    """
    docs: list[Document] = []
    filings = sorted({d for t in tasks if t.collection == "financebench" for d in t.documents})
    if filings:
        docs += financebench_documents(filings, financebench_path)
    if any(t.collection == "passages" for t in tasks):
        docs += passage_documents()
    unknown = sorted({str(t.collection) for t in tasks if t.collection not in ("financebench", "passages")})
    if unknown:
        raise ValueError(f"no local collection for tasks of collection {unknown}; build the retriever yourself")
    return docs
