"""The run's resumable store: one key per stage output, and the store read once into memory.

Every stage output (plan, retrieval, extraction, report, judge verdict, result row) is appended to a
:class:`~mi_utils.store.JsonlStore` under a key built from everything that determines it (models and
dtypes, sampling settings, seed, inputs, ``DR_PROMPT_VERSION``), so an interrupted run redoes
nothing and a changed prompt or setting never reuses an old output. :class:`StageCache` indexes the
store's rows by key and appends new ones under a lock (threads putting the same key write it once).
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from ..backends.base import Backend
from ..prompts import DR_PROMPT_VERSION
from ..store import JsonlStore, make_key
from .config import DeepResearchConfig
from .plan import PlanItem
from .race import Criterion, RaceJudge
from .retrieval import Retriever, Source
from .tasks import ResearchTask

__all__ = [
    "short_hash",
    "model_id",
    "plan_key",
    "retrieval_key",
    "extraction_key",
    "report_key",
    "judge_key",
    "StageCache",
]


def short_hash(obj: Any) -> str:
    """16 hex digits of the SHA-256 of a string, or of an object's sorted JSON."""
    blob = obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def model_id(backend: Backend) -> dict:
    """A backend in keys: its model name and dtype."""
    return {"model": backend.model_name, "dtype": getattr(backend, "dtype", None)}


def plan_key(predictor: Backend, task: ResearchTask, config: DeepResearchConfig) -> str:
    return make_key(
        kind="plan",
        task=task.id,
        prompt=short_hash(task.prompt),
        predictor=model_id(predictor),
        params=config.plan_params.to_dict(),
        n=config.n_queries,
        min=config.min_queries,
        attempts=config.max_plan_attempts,
        fallback=config.plan_fallback,
        task_query=config.task_query,
        seed=config.seed,
        version=DR_PROMPT_VERSION,
    )


def retrieval_key(retriever: Retriever, query: str, config: DeepResearchConfig) -> str:
    return make_key(
        kind="retrieval",
        retriever=retriever.name,
        query=query,
        k=config.sources_per_query,
        max_chars=config.max_source_chars,
    )


def extraction_key(
    compressor: Backend, task: ResearchTask, item: PlanItem, source: Source, config: DeepResearchConfig
) -> str:
    return make_key(
        kind="extraction",
        compressor=model_id(compressor),
        params=config.extract_params.to_dict(),
        seed=config.seed,
        task=short_hash(task.prompt),
        query=item.query,
        subtask=item.subtask,
        source=source.id,
        text=short_hash(source.text),
        title=source.title,
        version=DR_PROMPT_VERSION,
    )


def report_key(predictor: Backend, messages: list[dict], config: DeepResearchConfig) -> str:
    return make_key(
        kind="report",
        predictor=model_id(predictor),
        params=config.synth_params.to_dict(),
        seed=config.seed,
        messages=short_hash(messages),
        version=DR_PROMPT_VERSION,
    )


def judge_key(judge: RaceJudge, task_prompt: str, report: str, criterion: Criterion, reference: str | None) -> str:
    return make_key(
        kind="judge",
        judge=judge.settings(),
        task=short_hash(task_prompt),
        report=short_hash(report),
        reference=short_hash(reference) if reference is not None else None,
        criterion=short_hash([criterion.dimension, criterion.text, criterion.explanation, criterion.weight]),
    )


class StageCache:
    """The run's store with an in-memory index (the file is read once).

    ``put`` checks and appends under one lock, so threads that put the same key write it once.
    """

    def __init__(self, store: JsonlStore) -> None:
        self.store = store
        self.rows: dict[str, dict] = {r["key"]: r for r in store.rows() if "key" in r}
        self.n_written = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        return self.rows.get(key)

    def put(self, row: dict) -> None:
        with self._lock:
            if row["key"] in self.rows:
                return
            self.store.append(row)
            self.rows[row["key"]] = row
            self.n_written += 1
