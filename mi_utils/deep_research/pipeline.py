"""The Deep Research run: plan -> retrieve -> extract -> synthesise -> judge, every task under every setting.

:func:`run_deep_research` runs tasks x settings. Per task, one plan (:func:`~mi_utils.deep_research.plan.make_plan`)
and one retrieval per query (:func:`search`, ``sources_per_query`` sources each cut at
``max_source_chars``) are shared by every setting; per setting, the compressor's extractions
(:func:`~mi_utils.deep_research.extract.extract`) and the predictor's report
(:func:`~mi_utils.deep_research.synthesise.synthesise`), or, for the baseline (``compressor=None``),
the report from the raw sources. With a judge, reports are rated with RACE
(:mod:`mi_utils.deep_research.race`; pairwise against the reference setting's report).

Every stage's output goes to a JSONL store keyed on everything that determines it
(:mod:`mi_utils.deep_research.cache`), so an interrupted run redoes nothing: a plan, a retrieval,
an extraction, a report or a judge verdict already in the store is read back, never recomputed (or
paid for) again. One run uses a store at a time: it holds ``<store>.lock``
(:func:`mi_utils.locking.file_lock`) while it runs, and a second run on the same store (another
notebook kernel) stops at once with :class:`~mi_utils.locking.LockedError`, naming the process that
holds it.

The cached report and verdict stages are module functions, :func:`cached_report` and
:func:`cached_verdicts` (with :func:`baseline_synthesis_inputs`, the baseline's messages and citable inputs),
so :mod:`~mi_utils.deep_research.trust` writes and reads its control reports and verdicts exactly as a run does.

Costs: the plan's cost is counted in every setting's total (each setting would need its own plan);
judge costs are kept apart from the pipeline's (``judge_cost_usd``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..backends.base import Backend
from ..locking import file_lock
from ..prompts import DR_PROMPT_VERSION, baseline_messages, synthesis_messages
from ..store import JsonlStore, make_key
from .cache import StageCache, judge_key, model_id, plan_key, report_key, retrieval_key, short_hash
from .calls import CallRecord, Pricing
from .config import DeepResearchConfig, Setting
from .extract import Extraction, extract, kept_findings
from .plan import Plan, make_plan
from .race import CriterionRating, RaceJudge, RaceRating, aggregate
from .retrieval import Retriever, Source
from .summary import summarise
from .synthesise import Report, synthesise
from .tasks import ResearchTask

__all__ = [
    "search",
    "retrieve",
    "baseline_synthesis_inputs",
    "cached_report",
    "cached_verdicts",
    "DeepResearchResult",
    "run_deep_research",
]


def search(retriever: Retriever, query: str, k: int, max_chars: int | None = None) -> list[Source]:
    """At most ``k`` sources for one query, each cut at ``max_chars`` (``chars_total`` keeps the full length)."""
    sources = list(retriever.search(query, k))[:k]
    for s in sources:
        s.chars_total = max(s.chars_total, len(s.text))
        if max_chars is not None and len(s.text) > max_chars:
            s.text = s.text[:max_chars]
    return sources


def retrieve(retriever: Retriever, plan: Plan, k: int, max_chars: int | None = None) -> list[list[Source]]:
    """:func:`search` for every plan item, in plan order."""
    return [search(retriever, item.query, k, max_chars) for item in plan.items]


def baseline_synthesis_inputs(task_prompt: str, plan: Plan, flat: Sequence[Source]) -> tuple[list[dict], list[dict]]:
    """The baseline's ``(synthesis messages, citable inputs)``: the report is written from the raw sources ``flat``."""
    messages = baseline_messages(task_prompt, plan, flat)
    inputs = [{"n": n, "source_id": s.id, "title": s.title, "url": s.url} for n, s in enumerate(flat, 1)]
    return messages, inputs


def cached_report(
    cache: StageCache,
    predictor: Backend,
    task: ResearchTask,
    plan: Plan,
    setting: str,
    messages: list[dict],
    inputs: list[dict],
    config: DeepResearchConfig,
    pricing: Pricing,
) -> Report:
    """The report ``predictor`` writes from ``messages`` for ``setting``: read back when ``cache`` holds its
    :func:`~mi_utils.deep_research.cache.report_key`, else synthesised and stored (a ``kind="report"`` row)."""
    key = report_key(predictor, messages, config)
    row = cache.get(key)
    if row is None:
        report = synthesise(predictor, task, plan, setting, messages, inputs, config, pricing)
        cache.put({"key": key, "kind": "report", "task_id": task.id, "setting": setting, "report": report.to_dict()})
    else:
        report = Report.from_dict(row["report"])
        report.setting = setting
    return report


def cached_verdicts(
    cache: StageCache,
    judge: RaceJudge,
    task: ResearchTask,
    setting: str,
    report: str,
    reference: str | None,
    *,
    progress: bool = False,
) -> list[CriterionRating]:
    """The judge's verdict on every criterion of ``task`` for ``report`` (pairwise against ``reference`` when
    given): each read back when ``cache`` holds its :func:`~mi_utils.deep_research.cache.judge_key`, else rated
    and stored (a ``kind="judge"`` row), so a verdict two callers share is made once."""
    out = []
    for c in tqdm(task.criteria.criteria, desc=f"judge {setting}", disable=not progress, leave=False):
        key = judge_key(judge, task.prompt, report, c, reference)
        row = cache.get(key)
        if row is None:
            v = judge.rate(task.prompt, report, c, reference)
            cache.put({"key": key, "kind": "judge", "task_id": task.id, "setting": setting, "verdict": v.to_dict()})
        else:
            v = CriterionRating.from_dict(row["verdict"])
        out.append(v)
    return out


@dataclass
class DeepResearchResult:
    """What :func:`run_deep_research` returns.

    Attributes:
      rows: one row per (task, setting): status, costs, tokens, seconds per stage, extraction
        rate, citations, RACE ratings (``pandas.DataFrame``).
      calls: one row per model call, with ``task_id`` and ``setting`` (the plan's calls appear
        once per setting, as they are counted in each setting's cost).
      plans: ``{task_id: Plan}``.
      sources: ``{task_id: [[Source per query]]}``.
      extractions: ``{(task_id, setting): [Extraction]}``.
      reports: ``{(task_id, setting): Report}``.
      scores: ``{(task_id, setting): RaceRating}``.
      store_path: the JSONL store.
      n_written: rows appended by this run (0 when everything was read back).
      seconds: wall-clock seconds of this run.
    """

    rows: Any
    calls: Any
    plans: dict
    sources: dict
    extractions: dict
    reports: dict
    scores: dict
    store_path: Path
    n_written: int
    seconds: float

    def summary(self, reference: str = "baseline"):
        """:func:`summarise` of :attr:`rows`."""
        return summarise(self.rows, reference=reference)


def _stage_sums(calls: Sequence[CallRecord], prefix: str) -> dict:
    return {
        f"cost_{prefix}_usd": sum(c.cost_usd for c in calls),
        f"tokens_in_{prefix}": sum(c.input_tokens for c in calls),
        f"tokens_out_{prefix}": sum(c.output_tokens for c in calls),
        f"seconds_{prefix}": sum(c.seconds for c in calls),
        f"calls_{prefix}": len(calls),
    }


def run_deep_research(
    tasks: Sequence[ResearchTask],
    *,
    predictor: Backend,
    settings: Sequence[Setting],
    retriever: Retriever,
    store: str | Path | JsonlStore,
    config: DeepResearchConfig | None = None,
    pricing: Pricing | None = None,
    judge: RaceJudge | None = None,
    reference: str | None = "baseline",
    progress: bool = True,
) -> DeepResearchResult:
    """Run the pipeline on every task under every setting; rate the reports; keep everything in ``store``.

    For each task: one plan (shared by all settings, as the predictor and seed are the same),
    one retrieval per query (shared), then per setting the extractions (compressor settings) and the
    report. With a ``judge`` and a task rubric, reports are rated on every criterion:

    * with a ``reference`` setting (RACE's relative form): every other setting's report is judged
      *pairwise* against the reference setting's report; its ``race_total`` is its own total in
      those comparisons and ``race_relative`` is ``target / (target + reference)``. The reference's
      ``race_total`` is the mean of its totals over the comparisons it took part in (its
      ``race_relative`` is 0.5 by definition), so every total comes from the same prompt form.
      The judge calls are counted with the compared setting.
    * without one (or when the reference has no report), each report is judged alone (absolute form).

    A failed plan gives each setting a row with ``status="plan_failed"`` and the plan's cost. An
    exception in one setting (a server error, a context overflow) gives ``status="error"`` with the
    message, is not stored (a rerun tries again) and does not stop the run; ``KeyboardInterrupt``
    stops it, and what was finished stays in the store.

    Args:
      tasks: the research tasks.
      predictor: plans and writes (a cloud API or a local stand-in).
      settings: pipeline configurations; ids must be unique.
      retriever: where sources come from.
      store: JSONL file (or store) for every stage's output; reused across runs.
      config: pipeline settings (default: the paper's).
      pricing: costs (default: :class:`Pricing` with the default price table).
      judge: RACE judge, or ``None`` for no rating.
      reference: the setting whose report is the pairwise reference (``None``: absolute ratings only).
      progress: progress bars.

    Returns:
      A :class:`DeepResearchResult`.

    Raises:
      ValueError: duplicate setting ids, or an unknown ``reference``.
      PriceNotFoundError: a model that would be charged has no price (checked before any call).
      LockedError: another run (another process or notebook kernel) is using ``store``; its lock is
        ``<store>.lock`` (:func:`mi_utils.locking.file_lock`) and the message names the holder.
    """
    ids = [s.id for s in settings]
    if len(set(ids)) != len(ids) or not ids:
        raise ValueError(f"setting ids must be unique and non-empty, got {ids}")
    if reference is not None and judge is not None and reference not in ids:
        raise ValueError(f"reference setting {reference!r} is not among the settings {ids}")
    store = store if isinstance(store, JsonlStore) else JsonlStore(store)
    with file_lock(store.path):  # one run per store: a second kernel on it stops here, naming this one
        return _run_locked(tasks, predictor, settings, retriever, store, config, pricing, judge, reference, progress)


def _run_locked(tasks, predictor, settings, retriever, store, config, pricing, judge, reference, progress):
    """:func:`run_deep_research`'s body, with the store's lock held."""
    import pandas as pd

    t_start = time.perf_counter()
    run = _Run(
        predictor,
        retriever,
        config or DeepResearchConfig(),
        pricing or Pricing(),
        judge,
        progress,
        StageCache(store),
    )
    run.check_prices(settings)
    outer = tqdm(tasks, desc="tasks", disable=not progress)
    for task in outer:
        plan = run.plan(task)
        srcs = run.sources(task, plan) if plan.ok else []
        task_rows = []
        for setting in settings:
            outer.set_postfix_str(f"{task.id} / {setting.id}")
            task_rows.append(run.setting_row(task, plan, srcs, setting))
        if judge is not None and task.criteria is not None:
            run.judge_task(task, task_rows, reference)
        run.rows += task_rows
    run.store_results(reference)
    return DeepResearchResult(
        pd.DataFrame(run.rows),
        pd.DataFrame(run.call_rows),
        run.plans,
        run.sources_by_task,
        run.extractions,
        run.reports,
        run.scores,
        run.cache.store.path,
        run.cache.n_written,
        time.perf_counter() - t_start,
    )


@dataclass
class _Run:
    """The state of one :func:`run_deep_research` call and its stages."""

    predictor: Backend
    retriever: Retriever
    config: DeepResearchConfig
    pricing: Pricing
    judge: RaceJudge | None
    progress: bool
    cache: StageCache
    rows: list = field(default_factory=list)
    call_rows: list = field(default_factory=list)
    plans: dict = field(default_factory=dict)
    sources_by_task: dict = field(default_factory=dict)
    extractions: dict = field(default_factory=dict)
    reports: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)

    def check_prices(self, settings: Sequence[Setting]) -> None:
        self.pricing.check("predictor", self.predictor.model_name)
        for s in settings:
            if s.compressor is not None:
                self.pricing.check("compressor", s.compressor.model_name)
        if self.judge is not None:
            self.pricing.check("judge", self.judge.model)

    def _calls(self, task_id: str, setting: str, calls: Iterable[CallRecord]) -> None:
        self.call_rows += [{"task_id": task_id, "setting": setting, **c.to_dict()} for c in calls]

    # ------------------------------------------------------------------ stages
    def plan(self, task: ResearchTask) -> Plan:
        key = plan_key(self.predictor, task, self.config)
        row = self.cache.get(key)
        if row is None:
            plan = make_plan(self.predictor, task, self.config, self.pricing)
            self.cache.put({"key": key, "kind": "plan", "task_id": task.id, "plan": plan.to_dict()})
        else:
            plan = Plan.from_dict(row["plan"])
        self.plans[task.id] = plan
        return plan

    def sources(self, task: ResearchTask, plan: Plan) -> list[list[Source]]:
        out = []
        for item in plan.items:
            key = retrieval_key(self.retriever, item.query, self.config)
            row = self.cache.get(key)
            if row is None:
                found = search(self.retriever, item.query, self.config.sources_per_query, self.config.max_source_chars)
                self.cache.put(
                    {
                        "key": key,
                        "kind": "retrieval",
                        "retriever": self.retriever.name,
                        "query": item.query,
                        "sources": [s.to_dict() for s in found],
                    }
                )
            else:
                found = [Source.from_dict(d) for d in row["sources"]]
            out.append(found)
        self.sources_by_task[task.id] = out
        return out

    def setting_row(self, task: ResearchTask, plan: Plan, srcs: list[list[Source]], setting: Setting) -> dict:
        """One setting on one task: its extractions and report, as a results row (``status`` ok / plan_failed / error)."""
        flat = [s for group in srcs for s in group]
        base = self._row_base(task, plan, setting, n_sources=len(flat))
        if not plan.ok:
            return self._plan_failed_row(task, plan, setting, base)
        try:
            exs, kept, messages, inputs = self._synthesis_inputs(task, plan, srcs, flat, setting)
            report = cached_report(
                self.cache, self.predictor, task, plan, setting.id, messages, inputs, self.config, self.pricing
            )
        except Exception as e:
            return {**base, "status": "error", "error": f"{type(e).__name__}: {e}"[:500]}
        self.extractions[(task.id, setting.id)] = exs
        self.reports[(task.id, setting.id)] = report
        return self._ok_row(task, plan, setting, base, exs, kept, report)

    def _row_base(self, task: ResearchTask, plan: Plan, setting: Setting, *, n_sources: int) -> dict:
        """The columns every row has: who ran what, and how the plan went."""
        return {
            "task_id": task.id,
            "setting": setting.id,
            "family": setting.family,
            "compressor": setting.compressor.model_name if setting.compressor is not None else None,
            "predictor": self.predictor.model_name,
            "retriever": self.retriever.name,
            "judge": self.judge.name if self.judge else None,
            "seed": self.config.seed,
            "prompt_version": DR_PROMPT_VERSION,
            "n_queries": len(plan.items),
            "plan_complete": plan.complete,
            "plan_fallback": plan.fallback,
            "plan_task_query": plan.task_query,
            "plan_attempts": plan.attempts,
            "plan_error": plan.error,
            "n_sources": n_sources,
        }

    def _plan_failed_row(self, task: ResearchTask, plan: Plan, setting: Setting, base: dict) -> dict:
        """A failed plan: the setting ran nothing else, and pays for the plan."""
        self._calls(task.id, setting.id, plan.calls)
        row = {
            **base,
            "status": "plan_failed",
            "error": plan.error,
            **_stage_sums(plan.calls, "plan"),
            **_stage_sums([], "extract"),
            **_stage_sums([], "synthesise"),
        }
        return {**row, "api_cost_usd": row["cost_plan_usd"]}

    def _synthesis_inputs(
        self, task: ResearchTask, plan: Plan, srcs: list[list[Source]], flat: list[Source], setting: Setting
    ) -> tuple[list[Extraction], list[Extraction], list[dict], list[dict]]:
        """``(extractions, kept findings, synthesis messages, citable inputs)``; the baseline reads the raw sources."""
        if setting.compressor is None:
            return [], [], *baseline_synthesis_inputs(task.prompt, plan, flat)
        exs = extract(
            setting.compressor, task, plan, srcs, self.config, self.pricing, cache=self.cache, progress=self.progress
        )
        kept = kept_findings(exs, self.config.keep_unmarked)
        messages = synthesis_messages(task.prompt, plan, kept)
        inputs = [{"n": n, "source_id": e.source_id, "title": e.title, "url": e.url} for n, e in enumerate(kept, 1)]
        return exs, kept, messages, inputs

    def _ok_row(
        self,
        task: ResearchTask,
        plan: Plan,
        setting: Setting,
        base: dict,
        exs: list[Extraction],
        kept: list[Extraction],
        report: Report,
    ) -> dict:
        """A finished setting: costs, tokens and seconds per stage, extraction rate, citations."""
        ex_calls = [e.call for e in exs]
        self._calls(task.id, setting.id, [*plan.calls, *ex_calls, report.call])
        n_rel = sum(e.relevant is True for e in exs)
        row = {
            **base,
            "status": "ok",
            "error": None,
            **_stage_sums(plan.calls, "plan"),
            **_stage_sums(ex_calls, "extract"),
            **_stage_sums([report.call], "synthesise"),
            "n_extractions": len(exs),
            "n_relevant": n_rel,
            "extraction_rate": n_rel / len(exs) if exs else None,
            "n_unparsed": sum(e.relevant is None for e in exs),
            "n_findings": len(kept),
            "report_chars": len(report.text),
            "report_tokens": report.call.output_tokens,
            "report_finish": report.call.finish_reason,
            "n_citations": len(report.cited),
            "n_invalid_citations": len(report.invalid_citations),
        }
        row["api_cost_usd"] = row["cost_plan_usd"] + row["cost_extract_usd"] + row["cost_synthesise_usd"]
        return row

    # ------------------------------------------------------------------- judge
    def judge_task(self, task: ResearchTask, task_rows: list[dict], reference: str | None) -> None:
        """Rate every finished setting's report of one task into its row (pairwise against ``reference`` when it has one)."""
        weights = dict(task.criteria.dimension_weights)
        ok = {r["setting"]: r for r in task_rows if r["status"] == "ok"}
        ref = self.reports.get((task.id, reference)) if reference in ok else None
        compared = [sid for sid in ok if ref is not None and sid != reference]
        alone = [sid for sid in ok if sid not in compared and not (sid == reference and compared)]
        for sid in compared + alone:
            self._judge_setting(task, sid, ok[sid], weights, ref.text if sid in compared else None)
        if compared:
            self._reference_scores(task, ok[reference], [self.scores[(task.id, sid)] for sid in compared], weights)

    def _judge_setting(self, task: ResearchTask, sid: str, row: dict, weights: dict, reference: str | None) -> None:
        """One setting's report: its RACE rating and the judge's calls and costs, into ``row``."""
        judge = self.judge
        report = self.reports[(task.id, sid)].text
        verdicts = cached_verdicts(self.cache, judge, task, sid, report, reference, progress=self.progress)
        rating = RaceRating(task.id, judge.name, verdicts, weights)
        self.scores[(task.id, sid)] = rating
        row.update(rating.to_row())
        calls = [
            CallRecord(
                "judge",
                "judge",
                judge.model,
                v.input_tokens,
                v.output_tokens,
                v.seconds,
                *self.pricing.cost("judge", judge.model, v.input_tokens, v.output_tokens),
            )
            for v in verdicts
        ]
        row.update(
            {
                "judge_cost_usd": sum(c.cost_usd for c in calls),
                "judge_seconds": sum(c.seconds for c in calls),
                "judge_tokens_in": sum(c.input_tokens for c in calls),
                "judge_tokens_out": sum(c.output_tokens for c in calls),
            }
        )
        self._calls(task.id, sid, calls)

    @staticmethod
    def _reference_scores(task: ResearchTask, row: dict, ref_scores: list[RaceRating], weights: dict) -> None:
        """The reference's scores: its side of every comparison, averaged (its judge calls are counted with the others)."""
        totals = [s.reference_total for s in ref_scores if s.reference_total is not None]
        row["race_total"] = float(np.mean(totals)) if totals else None
        for d in weights:
            vals = [s.reference_dimensions.get(d) for s in ref_scores if s.reference_dimensions]
            vals = [v for v in vals if v is not None]
            row[f"race_{d}"] = float(np.mean(vals)) if vals else None
        as_target = [
            dataclasses.replace(c, rating=c.reference_rating, reference_rating=None)
            for s in ref_scores
            for c in s.criteria
        ]
        row.update(
            {
                "race_relative": 0.5,
                "race_comparisons": len(ref_scores),
                "race_coverage": aggregate(as_target, weights)["coverage"],
                "race_unscored": sum(c.rating is None for c in as_target),
                "judge_cost_usd": 0.0,
                "judge_seconds": 0.0,
                "judge_tokens_in": 0,
                "judge_tokens_out": 0,
            }
        )

    # ----------------------------------------------------------------- results
    def store_results(self, reference: str | None) -> None:
        """Append one ``kind="result"`` row per finished (task, setting) (errors are not stored)."""
        run_settings = {
            "config": self.config.to_dict(),
            "pricing": self.pricing.to_dict(),
            "reference": reference,
            "judge": self.judge.settings() if self.judge else None,
        }
        for row in self.rows:
            if row["status"] == "error":
                continue
            rep = self.reports.get((row["task_id"], row["setting"]))
            key = make_key(
                kind="result",
                task=row["task_id"],
                setting=row["setting"],
                predictor=model_id(self.predictor),
                compressor=row["compressor"],
                retriever=row["retriever"],
                run=short_hash(run_settings),
                plan=short_hash(self.plans[row["task_id"]].to_dict()),
                report=short_hash(rep.text) if rep else None,
            )
            row["result_key"] = key
            self.cache.put({"key": key, "kind": "result", **row})
