"""A simplified Deep Research pipeline: plan -> retrieve -> compress -> synthesise (the paper's application).

The paper (arXiv 2512.21720, "Deep Research") lets a large *predictor* (GPT-4o) plan a research
task and write the report, while a small local *compressor* reads every retrieved source and
extracts what matters for its query; the predictor then reads the extractions instead of the raw
sources. With a Qwen-2.5-3B compressor that kept 99% of the uncompressed pipeline's RACE score at
26% of its API cost. This module makes that experiment runnable on the generator contract of
:mod:`mi_utils.backends` and the price table of :mod:`mi_utils.costs`:

1. **Plan** (:func:`make_plan`): the predictor writes ``n_queries`` (search query, sub-task) pairs
   and a synthesis strategy as JSON. A reply that cannot be read is repaired (lenient JSON, then
   ``query:`` lines, then a numbered list) and otherwise retried with a corrective turn, at most
   ``max_plan_attempts`` times; a plan that still fails makes the task *failed* (status
   ``"plan_failed"``, its cost counted), never a crash of the run. Two options off by default help
   tiny offline planners: ``plan_fallback="task"`` (search with the task text when no plan can be
   read) and ``task_query=True`` (search with the task text as one more query).
2. **Retrieve** (:func:`retrieve`): any :class:`~mi_utils.retrieval.Retriever` (offline BM25 over
   a local collection, or a web search provider), ``sources_per_query`` sources per query, each cut
   at ``max_source_chars`` characters (8,000 in the paper).
3. **Extract** (:func:`extract`): the compressor reads one source for one (query, sub-task) and
   replies with JSON ``{"explanation", "relevant"}``; sources run concurrently
   (``compressor_concurrency``) on backends that serve parallel requests.
4. **Synthesise** (:func:`synthesise`): the predictor writes the report from the extractions
   marked relevant, citing them by number.
5. **Baseline** (a :class:`Setting` with ``compressor=None``): the predictor reads the raw
   (truncated) sources instead.

:func:`run_deep_research` runs tasks x settings, optionally scores every report with RACE
(:mod:`mi_utils.race`; pairwise against the reference setting's report), and appends every stage's
output to a JSONL store (:class:`~mi_utils.store.JsonlStore`) keyed on everything that determines
it, so an interrupted run redoes nothing: a plan, a retrieval, an extraction, a report or a judge
verdict already in the store is read back, never recomputed (or paid for) again. One run uses a
store at a time: it holds ``<store>.lock`` (:func:`mi_utils.locking.file_lock`) while it runs, and a
second run on the same store (another notebook kernel) stops at once with
:class:`~mi_utils.locking.LockedError`, naming the process that holds it.

Costs. Every model call is a :class:`CallRecord` (stage, role, model, input/output tokens, seconds,
USD). :class:`Pricing` turns tokens into dollars with a :class:`~mi_utils.costs.PriceTable`:
calls of a *free role* (the compressor, as in the paper) cost 0, and a local model can be
*priced as* a cloud model (``priced_as={"smollm2-135m-instruct": "gpt-4o"}``) so that the offline
demo's cost axis has the shape of the real one. The plan's cost is counted in every setting's
total (each setting would need its own plan); judge costs are kept apart from the pipeline's.

Model output is data: plans, extractions, reports and verdicts are parsed with ``json`` and
regular expressions, never executed. API keys live in environment variables only (see the
backends and :mod:`mi_utils.retrieval`); nothing here stores or logs them.

The prompts below belong with the others in :mod:`mi_utils.prompts` and should move there;
``DR_PROMPT_VERSION`` goes into every key, so changing a prompt never mixes old and new results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .answers import extract_json_objects, parse_bool
from .backends.base import Backend, SamplingParams
from .costs import PriceTable, default_price_table
from .locking import file_lock
from .race import Criterion, CriterionScore, RaceCriteria, RaceJudge, RaceScore, aggregate, token_counts
from .retrieval import Document, Retriever, Source
from .store import JsonlStore, make_key

__all__ = [
    "DR_PROMPT_VERSION",
    "PAPER_TASK_IDS",
    "BUNDLED_TASKS_PATH",
    "ResearchTask",
    "load_research_tasks",
    "load_deepresearch_bench",
    "task_documents",
    "CallRecord",
    "Pricing",
    "PlanItem",
    "Plan",
    "Extraction",
    "Report",
    "Setting",
    "DeepResearchConfig",
    "DeepResearchResult",
    "parse_plan",
    "parse_extraction",
    "plan_messages",
    "extraction_messages",
    "synthesis_messages",
    "baseline_messages",
    "make_plan",
    "search",
    "retrieve",
    "extract",
    "synthesise",
    "run_deep_research",
    "summarise",
]

DR_PROMPT_VERSION = "dr-v1"

#: The 20 English DeepResearch Bench tasks the paper ran (5 runs each).
PAPER_TASK_IDS: tuple[int, ...] = (54, 55, 57, 59, 63, 64, 66, 68, 70, 76, 77, 81, 83, 88, 90, 92, 96, 97, 98, 99)

BUNDLED_TASKS_PATH = Path(__file__).resolve().parents[1] / "data" / "deep_research_tasks.jsonl"


# =============================================================================== tasks
@dataclass
class ResearchTask:
    """A research task, with its RACE rubric when it has one.

    Attributes:
      id: task id (string).
      prompt: the research task as the user states it.
      criteria: the RACE rubric (:class:`~mi_utils.race.RaceCriteria`), or ``None``.
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
    ``$MI_UTILS_SHARED_DATA/deepresearch_bench/``). These are web tasks: run them with a
    :class:`~mi_utils.retrieval.WebSearchRetriever`. ``ids=PAPER_TASK_IDS`` selects the paper's 20.

    Args:
      language: ``"en"``, ``"zh"`` or ``None`` for both.
      ids: keep these task ids, in this order.
      path: explicit file or folder.
    """
    from .data.paths import find_data_file, not_found_error
    from .race import load_race_criteria

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
    (:func:`mi_utils.retrieval.text_folder_documents`).
    """
    from .retrieval import financebench_documents, passage_documents

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


# =============================================================================== calls and costs
@dataclass
class CallRecord:
    """One model call: who, what it cost in tokens, seconds and dollars.

    Attributes:
      stage: ``"plan"``, ``"extract"``, ``"synthesise"`` or ``"judge"``.
      role: ``"predictor"``, ``"compressor"`` or ``"judge"``.
      model: the backend's model name.
      input_tokens, output_tokens: from the API's ``usage`` or the token ids (:func:`mi_utils.race.token_counts`).
      seconds: wall-clock seconds of the call.
      cost_usd: USD under the run's :class:`Pricing`.
      priced_as: the price-table entry used (``None``: free, a free role or a local model).
      finish_reason: ``"stop"`` or ``"length"`` (generation only).
      attempt: 0-based attempt (plan retries).
    """

    stage: str
    role: str
    model: str
    input_tokens: int
    output_tokens: int
    seconds: float
    cost_usd: float = 0.0
    priced_as: str | None = None
    finish_reason: str | None = None
    attempt: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CallRecord:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Pricing:
    """USD per call: a price table, local models priced as cloud ones, free roles.

    Args:
      table: USD per 1M input / output tokens (default :func:`mi_utils.costs.default_price_table`:
        gpt-4o 2.50 / 10.00, packaged models local and free).
      priced_as: ``{model: price-table name}``, e.g. ``{"smollm2-135m-instruct": "gpt-4o"}`` to
        price a local stand-in as the cloud predictor it replaces.
      free_roles: roles whose calls cost 0 (default the compressor: local, as in the paper).

    A call costs 0 when its role is free, or when its model (after ``priced_as``) is marked local
    in the table; otherwise ``table.cost(name, input_tokens, output_tokens)``.
    """

    table: PriceTable = field(default_factory=default_price_table)
    priced_as: dict = field(default_factory=dict)
    free_roles: tuple = ("compressor",)

    def price_name(self, role: str, model: str) -> str | None:
        """The price-table entry a call is charged at (``None``: free)."""
        if role in self.free_roles:
            return None
        name = self.priced_as.get(model, model)
        return None if self.table.is_local(name) else name

    def cost(self, role: str, model: str, input_tokens: int, output_tokens: int) -> tuple[float, str | None]:
        """``(usd, price name)`` of one call.

        Raises:
          PriceNotFoundError: the model has no price and is neither local nor of a free role.
        """
        name = self.price_name(role, model)
        if name is None:
            if input_tokens < 0 or output_tokens < 0:
                raise ValueError("token counts must be >= 0")
            return 0.0, None
        return self.table.cost(name, input_tokens, output_tokens), name

    def check(self, role: str, model: str) -> None:
        """Fail before any call when ``model`` in ``role`` has no price."""
        self.cost(role, model, 0, 0)

    def to_dict(self) -> dict:
        return {
            "prices": self.table.to_dict(),
            "priced_as": dict(self.priced_as),
            "free_roles": sorted(self.free_roles),
        }


def _call(
    backend: Backend,
    messages: list[dict],
    params: SamplingParams,
    *,
    stage: str,
    role: str,
    pricing: Pricing,
    attempt: int = 0,
) -> tuple[str, CallRecord]:
    t0 = time.perf_counter()
    gens = backend.generate([messages], params)
    seconds = time.perf_counter() - t0
    if len(gens) != 1 or not gens[0]:
        raise RuntimeError(f"{type(backend).__name__}.generate returned {len(gens)} results for 1 prompt")
    g = gens[0][0]
    n_in, n_out = token_counts(g)
    cost, name = pricing.cost(role, backend.model_name, n_in, n_out)
    return g.text, CallRecord(
        stage, role, backend.model_name, n_in, n_out, round(seconds, 4), cost, name, g.finish_reason, attempt
    )


# =============================================================================== prompts
PLAN_PROMPT = """You are the planner of a research assistant. Plan the research for the task below.

Task:
{task}

Write exactly {n} web search queries. Pair each query with the sub-task it serves: what the search should find out. Then give a short strategy for combining the findings into a report.

Respond ONLY with a JSON object in this format:
{{"queries": [{{"query": "<search query>", "subtask": "<what to find out>"}}], "strategy": "<how to combine the findings>"}}"""

PLAN_REPAIR_PROMPT = """Your reply could not be used: {problem}. Reply again with ONLY the JSON object, with exactly {n} items in "queries", each with a "query" and a "subtask"."""

EXTRACTION_PROMPT = """You are helping with a research task. Extract from the source below the facts that matter for the search query and the sub-task: figures, names, dates and statements, as the source gives them. Do not add anything the source does not say.

Research task:
{task}

Search query: {query}
Sub-task: {subtask}

Source: {title}
<<<
{text}
>>>

Respond ONLY with a JSON object in this format:
{{"explanation": "<the relevant facts from the source; empty if there are none>", "relevant": true or false}}"""

SYNTHESIS_PROMPT = """You are writing a research report.

Task:
{task}

Research plan:
{plan}
Strategy: {strategy}

{kind}, numbered:
{items}

Write a well-structured report that answers the task using the {kind_lower} above. Cite the {kind_lower} you use by their numbers in square brackets, e.g. [1] or [2][3]; never cite a number that is not listed. If they do not cover part of the task, say so."""


def plan_messages(task: str, n_queries: int) -> list[dict]:
    """The planner's prompt: ``n_queries`` (query, sub-task) pairs and a strategy, as JSON."""
    return [{"role": "user", "content": PLAN_PROMPT.format(task=task.strip(), n=n_queries)}]


def extraction_messages(task: str, query: str, subtask: str, source: Source) -> list[dict]:
    """The compressor's prompt for one source (its text already cut to the budget)."""
    return [
        {
            "role": "user",
            "content": EXTRACTION_PROMPT.format(
                task=task.strip(), query=query, subtask=subtask, title=source.title, text=source.text
            ),
        }
    ]


def _plan_text(plan: Plan) -> str:
    return "\n".join(f"{i + 1}. {it.query} - {it.subtask}" for i, it in enumerate(plan.items))


def _synthesis_prompt(task: str, plan: Plan, kind: str, kind_lower: str, items: str) -> list[dict]:
    content = SYNTHESIS_PROMPT.format(
        task=task.strip(),
        plan=_plan_text(plan),
        strategy=plan.strategy or "-",
        kind=kind,
        kind_lower=kind_lower,
        items=items,
    )
    return [{"role": "user", "content": content}]


def synthesis_messages(task: str, plan: Plan, findings: Sequence[Extraction]) -> list[dict]:
    """The predictor's prompt from the compressor's findings, numbered from 1."""
    items = "\n".join(f"[{n}] ({e.title}) {e.text.strip()}" for n, e in enumerate(findings, 1))
    return _synthesis_prompt(task, plan, "Findings from the sources", "findings", items or "(no relevant findings)")


def baseline_messages(task: str, plan: Plan, sources: Sequence[Source]) -> list[dict]:
    """The baseline's prompt: the raw (truncated) sources, numbered from 1."""
    items = "\n\n".join(f"[{n}] {s.title}\n<<<\n{s.text}\n>>>" for n, s in enumerate(sources, 1))
    return _synthesis_prompt(task, plan, "Sources", "sources", items or "(no sources found)")


# =============================================================================== plan
@dataclass
class PlanItem:
    """One (search query, sub-task) pair."""

    query: str
    subtask: str


@dataclass
class Plan:
    """The predictor's research plan.

    Attributes:
      task_id: the task.
      items: the (query, sub-task) pairs used (at most ``n_requested``).
      strategy: the synthesis strategy ("" when the reply had none).
      ok: the plan is usable (at least ``min_queries`` pairs).
      n_requested: pairs asked for.
      attempts: replies requested (first try plus repairs).
      error: why the last attempt fell short (``None`` when complete).
      raw: every reply, cut at 4,000 characters.
      calls: one :class:`CallRecord` per attempt.
      fallback: the planner failed and ``plan_fallback="task"`` put the task itself in as the
        only query (``ok`` is then True, ``complete`` False, ``error`` keeps the planner's failure).
      task_query: ``config.task_query`` added the task text as one more query (the last item).
    """

    task_id: str
    items: list[PlanItem]
    strategy: str
    ok: bool
    n_requested: int
    attempts: int
    error: str | None = None
    raw: list = field(default_factory=list)
    calls: list = field(default_factory=list)
    fallback: bool = False
    task_query: bool = False

    @property
    def complete(self) -> bool:
        """The planner delivered all ``n_requested`` pairs (a fallback or the added task query aside)."""
        return self.ok and not self.fallback and len(self.items) - self.task_query == self.n_requested

    def to_dict(self) -> dict:
        d = asdict(self)
        d["calls"] = [c.to_dict() if isinstance(c, CallRecord) else c for c in self.calls]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        return cls(
            task_id=d["task_id"],
            items=[PlanItem(**i) for i in d["items"]],
            strategy=d.get("strategy", ""),
            ok=bool(d["ok"]),
            n_requested=int(d["n_requested"]),
            attempts=int(d["attempts"]),
            error=d.get("error"),
            raw=list(d.get("raw") or []),
            calls=[CallRecord.from_dict(c) for c in d.get("calls") or []],
            fallback=bool(d.get("fallback", False)),
            task_query=bool(d.get("task_query", False)),
        )


_QUERY_KEYS = ("query", "search_query", "search query", "q", "search")
_SUBTASK_KEYS = ("subtask", "sub_task", "sub-task", "sub task", "task", "goal", "purpose")
_LIST_KEYS = ("queries", "plan", "searches", "search_queries", "steps", "items")
_STRATEGY_KEYS = ("strategy", "synthesis_strategy", "synthesis strategy", "synthesis")


def _ci(d: Mapping, keys: Sequence[str]) -> Any:
    low = {str(k).strip().lower(): v for k, v in d.items()}
    for k in keys:
        if k in low:
            return low[k]
    return None


def _clean(s: Any) -> str:
    if not isinstance(s, (str, int, float)):
        return ""
    return re.sub(r"\s+", " ", str(s)).strip().strip("\"'`*").strip().rstrip(",").strip()


def _usable_query(q: str) -> bool:
    """Not a placeholder copied from the prompt, not a list header ("2 web search queries:"), not empty."""
    return (
        len(q) >= 3
        and not ("<" in q and ">" in q)
        and not q.endswith(":")
        and q.lower() not in {"search query", "query", "what to find out"}
    )


_LINE_QUERY = re.compile(r"""(?im)^[\s\-*\d.)#]*["']?(?:search[\s_]*)?query(?:[\s_]*\d+)?["']?\s*[:=]\s*(.+)$""")
_LINE_ITEM = re.compile(r"""(?m)^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+(.{3,200}?)\s*$""")
_LINE_SUBTASK = re.compile(r"""(?im)^[\s\-*\d.)#]*["']?sub[\s_-]*task(?:[\s_]*\d+)?["']?\s*[:=]\s*(.+)$""")


def parse_plan(text: str, n_queries: int) -> tuple[list[PlanItem], str, str | None]:
    """Read (query, sub-task) pairs and a strategy from a planner's reply. Never raises; never evaluates.

    Looks for JSON objects anywhere in the reply (code fences, prose around, trailing commas and
    single quotes are tolerated, see :func:`mi_utils.answers.extract_json_objects`): a list under
    ``queries`` (or ``plan``, ``searches``, ...) of objects with ``query`` / ``subtask`` (or strings),
    or loose objects with a ``query`` key. When no JSON pair is found, ``query: ...`` and
    ``subtask: ...`` lines are paired in order (a cut-off JSON reply often still has them), and
    failing those, the items of a numbered or bulleted list are taken as queries.
    Placeholders copied from the prompt (``<search query>``) and repeated queries are dropped;
    a missing sub-task defaults to the query; pairs beyond ``n_queries`` are dropped.

    Returns:
      ``(items, strategy, error)``; ``error`` says why fewer than ``n_queries`` pairs were found.
    """
    if not isinstance(text, str) or not text.strip():
        return [], "", "empty reply"
    pairs: list[tuple[str, str]] = []
    strategy = ""
    for obj in extract_json_objects(text):
        strategy = strategy or _clean(_ci(obj, _STRATEGY_KEYS))
        lst = _ci(obj, _LIST_KEYS)
        if isinstance(lst, list):
            for it in lst:
                if isinstance(it, dict):
                    pairs.append((_clean(_ci(it, _QUERY_KEYS)), _clean(_ci(it, _SUBTASK_KEYS))))
                else:
                    pairs.append((_clean(it), ""))
        elif _ci(obj, _QUERY_KEYS) is not None:
            pairs.append((_clean(_ci(obj, _QUERY_KEYS)), _clean(_ci(obj, _SUBTASK_KEYS))))
    if not any(_usable_query(q) for q, _ in pairs):
        qs = [_clean(m) for m in _LINE_QUERY.findall(text)]
        subs = [_clean(m) for m in _LINE_SUBTASK.findall(text)]
        pairs = [(q, subs[i] if i < len(subs) else "") for i, q in enumerate(qs)]
        if not any(_usable_query(q) for q, _ in pairs):  # a plain numbered list of queries
            pairs = [(_clean(m), "") for m in _LINE_ITEM.findall(text)]
        if not strategy:
            m = re.search(r"""(?im)["']?strategy["']?\s*[:=]\s*(.+)$""", text)
            strategy = _clean(m.group(1)) if m else ""
    items: list[PlanItem] = []
    seen: set[str] = set()
    for q, s in pairs:
        if not _usable_query(q) or q.lower() in seen:
            continue
        seen.add(q.lower())
        items.append(PlanItem(q[:300], (s if _usable_query(s) else q)[:500]))
    items = items[:n_queries]
    if not items:
        return (
            [],
            strategy,
            (
                f"no usable (search query, sub-task) pair: no JSON list of queries, no 'query:' lines, "
                f"no numbered list; {n_queries} requested"
            ),
        )
    if len(items) < n_queries:
        return items, strategy, f"{len(items)} usable (search query, sub-task) pairs, {n_queries} requested"
    return items, strategy, None


def make_plan(predictor: Backend, task: ResearchTask, config: DeepResearchConfig, pricing: Pricing) -> Plan:
    """Ask the predictor for a plan; repair or retry at most ``config.max_plan_attempts`` times.

    Attempt 0 is the plan prompt; each later attempt adds the previous reply and a corrective
    turn naming the problem (so greedy decoding also changes its answer), with the seed advanced.
    The best parse (most pairs) is kept. The plan is ``ok`` when it has ``n_queries`` pairs, or, after
    the last attempt, at least ``min_queries`` (default: all ``n_queries``). Otherwise the plan
    fails (``ok=False``: the task fails), unless ``config.plan_fallback == "task"``, which searches
    with the task text itself (``fallback=True``; a degraded mode for demos with tiny planners).
    """
    n = config.n_queries
    need = config.min_queries if config.min_queries is not None else n
    messages = plan_messages(task.prompt, n)
    best: tuple[list[PlanItem], str, str | None] = ([], "", "no attempt")
    raw, calls = [], []
    for attempt in range(config.max_plan_attempts):
        params = _with_seed(config.plan_params, config.seed * 1000 + attempt)
        text, call = _call(
            predictor, messages, params, stage="plan", role="predictor", pricing=pricing, attempt=attempt
        )
        raw.append(text[:4000])
        calls.append(call)
        items, strategy, error = parse_plan(text, n)
        if len(items) > len(best[0]) or attempt == 0:
            best = (items, strategy, error)
        if len(best[0]) == n:
            break
        messages = plan_messages(task.prompt, n) + [
            {"role": "assistant", "content": text[:2000]},
            {"role": "user", "content": PLAN_REPAIR_PROMPT.format(problem=error or "it was not valid JSON", n=n)},
        ]
    items, strategy, error = best
    ok = len(items) >= max(1, need)
    task_item = PlanItem(task.prompt[:300], task.prompt)
    record = dict(n_requested=n, attempts=len(calls), error=error, raw=raw, calls=calls)
    if not ok and config.plan_fallback == "task":
        return Plan(task.id, [task_item], "", ok=True, fallback=True, **record)
    if ok and config.task_query and task_item.query.lower() not in {i.query.lower() for i in items}:
        return Plan(task.id, items + [task_item], strategy, ok=True, task_query=True, **record)
    return Plan(task.id, items, strategy, ok=ok, **record)


def _with_seed(params: SamplingParams, seed: int) -> SamplingParams:
    return dataclasses.replace(params, seed=int(seed))


# =============================================================================== retrieve
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


class _HasCall:
    """Round-trips a stage output whose ``call`` field is a :class:`CallRecord` through plain dicts."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["call"] = self.call.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        names = cls.__dataclass_fields__
        kw = {k: v for k, v in d.items() if k in names}
        kw["call"] = CallRecord.from_dict(d["call"])
        return cls(**kw)


# =============================================================================== extract
@dataclass
class Extraction(_HasCall):
    """The compressor's reading of one source for one (query, sub-task).

    Attributes:
      query_index: the plan item.
      source_id, title, url: the source.
      text: the extracted facts (the reply's ``explanation``; the whole reply when unparsed).
      relevant: the reply's ``relevant`` (``None``: not readable).
      method: ``"json"``, ``"regex"`` (fields read from broken JSON) or ``"none"``.
      parse_error: why the reply could not be fully read.
      input_chars: characters of source text the compressor saw.
      call: the :class:`CallRecord`.
      raw: the compressor's reply, cut at 4,000 characters.
    """

    query_index: int
    source_id: str
    title: str
    url: str | None
    text: str
    relevant: bool | None
    method: str
    parse_error: str | None
    input_chars: int
    call: CallRecord
    raw: str = ""


_RELEVANT_TRUE = frozenset({"true", "yes", "y", "1", "relevant"})
_RELEVANT_FALSE = frozenset({"false", "no", "n", "0", "irrelevant", "not relevant", "none"})


_RELEVANT_RE = re.compile(r"""["']?relevant["']?\s*[:=]\s*["']?(true|false|yes|no)\b""", re.I)
_EXPLANATION_RE = re.compile(r"""["']?explanation["']?\s*[:=]\s*"((?:[^"\\]|\\.)*)("|$)""", re.I | re.S)


def parse_extraction(text: str) -> tuple[str, bool | None, str, str | None]:
    """Read ``{"explanation", "relevant"}`` from a compressor's reply. Never raises; never evaluates.

    JSON anywhere in the reply first; then the two fields from broken JSON (``"relevant": true``,
    ``"explanation": "..."`` cut off by the token limit); otherwise the whole reply is the text and
    ``relevant`` is ``None``.

    Returns:
      ``(text, relevant, method, error)``.
    """
    if not isinstance(text, str) or not text.strip():
        return "", None, "none", "empty reply"
    for obj in extract_json_objects(text):
        expl, rel = _ci(obj, ("explanation", "facts", "extraction")), _ci(obj, ("relevant", "is_relevant", "relevance"))
        if expl is None and rel is None:
            continue
        relevant = parse_bool(rel, _RELEVANT_TRUE, _RELEVANT_FALSE)
        body = expl if isinstance(expl, str) else (json.dumps(expl, ensure_ascii=False) if expl is not None else "")
        err = None if relevant is not None else f"'relevant' is not a boolean ({rel!r})"
        return _unplaceholder(body.strip(), err, "json", relevant)
    m_rel, m_exp = _RELEVANT_RE.search(text), _EXPLANATION_RE.search(text)
    if m_rel or m_exp:
        relevant = parse_bool(m_rel.group(1), _RELEVANT_TRUE, _RELEVANT_FALSE) if m_rel else None
        body = m_exp.group(1).replace('\\"', '"').replace("\\n", "\n").strip() if m_exp else ""
        err = "malformed JSON; fields read with regular expressions" + ("" if m_rel else ", no 'relevant'")
        return _unplaceholder(body, err, "regex", relevant)
    return text.strip()[:4000], None, "none", "no JSON object with 'explanation' / 'relevant'"


def _unplaceholder(
    body: str, err: str | None, method: str, relevant: bool | None
) -> tuple[str, bool | None, str, str | None]:
    """Drop an explanation that is the prompt's placeholder copied back (small models do this)."""
    if body.startswith("<") and "relevant facts from the source" in body.lower():
        return "", relevant, method, "; ".join(x for x in (err, "the explanation is the prompt's placeholder") if x)
    return body, relevant, method, err


def _extract_one(
    compressor: Backend,
    task: ResearchTask,
    item: PlanItem,
    qi: int,
    source: Source,
    config: DeepResearchConfig,
    pricing: Pricing,
) -> Extraction:
    msgs = extraction_messages(task.prompt, item.query, item.subtask, source)
    text, call = _call(
        compressor,
        msgs,
        _with_seed(config.extract_params, config.seed),
        stage="extract",
        role="compressor",
        pricing=pricing,
    )
    body, relevant, method, err = parse_extraction(text)
    return Extraction(
        qi, source.id, source.title, source.url, body, relevant, method, err, len(source.text), call, text[:4000]
    )


def extract(
    compressor: Backend,
    task: ResearchTask,
    plan: Plan,
    sources: Sequence[Sequence[Source]],
    config: DeepResearchConfig,
    pricing: Pricing,
    *,
    cache: _Cache | None = None,
    progress: bool = False,
) -> list[Extraction]:
    """The compressor's extraction for every (plan item, source), in plan order.

    With ``config.compressor_concurrency > 1`` the calls run in a thread pool (for servers and
    APIs that serve parallel requests; keep 1 for an in-process model). With a ``cache`` (the
    run's store) finished extractions are read back and new ones written as they complete.
    """
    jobs = [(qi, item, s) for qi, (item, srcs) in enumerate(zip(plan.items, sources)) for s in srcs]
    keys = [_extraction_key(compressor, task, item, s, config) for _, item, s in jobs]
    out: list[Extraction | None] = [None] * len(jobs)
    todo = []
    for j, key in enumerate(keys):
        row = cache.get(key) if cache is not None else None
        if row is not None:
            out[j] = Extraction.from_dict(row["extraction"])
        else:
            todo.append(j)
    bar = tqdm(
        total=len(todo), desc=f"extract ({compressor.model_name})", disable=not progress or not todo, leave=False
    )

    def done(j: int, ex: Extraction) -> None:
        out[j] = ex
        if cache is not None:
            cache.put(
                {
                    "key": keys[j],
                    "kind": "extraction",
                    "task_id": task.id,
                    "compressor": compressor.model_name,
                    "extraction": ex.to_dict(),
                }
            )
        bar.update()

    try:
        if config.compressor_concurrency <= 1:
            for j in todo:
                qi, item, s = jobs[j]
                done(j, _extract_one(compressor, task, item, qi, s, config, pricing))
        else:
            with ThreadPoolExecutor(max_workers=config.compressor_concurrency) as pool:
                futs = {
                    pool.submit(_extract_one, compressor, task, jobs[j][1], jobs[j][0], jobs[j][2], config, pricing): j
                    for j in todo
                }
                for fut in as_completed(futs):
                    done(futs[fut], fut.result())
    finally:
        bar.close()
    return out  # type: ignore[return-value]


def _kept(extractions: Sequence[Extraction], keep_unmarked: bool) -> list[Extraction]:
    return [e for e in extractions if e.text.strip() and (e.relevant is True or (keep_unmarked and e.relevant is None))]


# =============================================================================== synthesise
@dataclass
class Report(_HasCall):
    """The predictor's report.

    Attributes:
      task_id, setting: which task and pipeline setting.
      text: the report.
      inputs: what the report could cite, numbered from 1: ``[{"n", "source_id", "title", "url"}]``.
      cited: the valid citation numbers used, sorted.
      invalid_citations: cited numbers that are not among the inputs.
      call: the :class:`CallRecord`.
    """

    task_id: str
    setting: str
    text: str
    inputs: list
    cited: list
    invalid_citations: list
    call: CallRecord


_CITE = re.compile(r"\[(\d{1,3}(?:\s*[,;–-]\s*\d{1,3})*)\]")


def _citations(text: str, n_inputs: int) -> tuple[list[int], list[int]]:
    nums: set[int] = set()
    for m in _CITE.finditer(text):
        for part in re.split(r"\s*[,;]\s*", m.group(1)):
            if re.fullmatch(r"\d+\s*[–-]\s*\d+", part):
                a, b = (int(x) for x in re.split(r"\s*[–-]\s*", part))
                if 0 < b - a < 50:
                    nums.update(range(a, b + 1))
                    continue
            if part.strip().isdigit():
                nums.add(int(part))
    return sorted(x for x in nums if 1 <= x <= n_inputs), sorted(x for x in nums if not 1 <= x <= n_inputs)


def synthesise(
    predictor: Backend,
    task: ResearchTask,
    plan: Plan,
    setting: str,
    messages: list[dict],
    inputs: list[dict],
    config: DeepResearchConfig,
    pricing: Pricing,
) -> Report:
    """One synthesis call: the predictor writes the report from ``messages`` (findings or raw sources)."""
    text, call = _call(
        predictor,
        messages,
        _with_seed(config.synth_params, config.seed),
        stage="synthesise",
        role="predictor",
        pricing=pricing,
    )
    cited, invalid = _citations(text, len(inputs))
    return Report(task.id, setting, text.strip(), inputs, cited, invalid, call)


# =============================================================================== the run
@dataclass
class Setting:
    """One pipeline configuration: a compressor, or none (the baseline reads raw sources).

    Attributes:
      id: name in results (``"baseline"``, ``"smollm2"``, ``"qwen2.5-3b"``, ...).
      compressor: the compressor backend; ``None`` for the no-compression baseline.
      family: model family for plot colours (``"qwen2.5"``, ``"gemma3"``, ...).
    """

    id: str
    compressor: Backend | None = None
    family: str = ""


@dataclass
class DeepResearchConfig:
    """Pipeline settings; the defaults are the paper's.

    Attributes:
      n_queries: (query, sub-task) pairs in the plan (8).
      sources_per_query: sources retrieved per query (10).
      max_source_chars: characters of a source the compressor (or baseline predictor) reads (8,000).
      min_queries: accept a plan with at least this many pairs after the last attempt
        (``None``: exactly ``n_queries``, the paper's requirement).
      max_plan_attempts: plan replies requested at most (first try plus repairs).
      plan_fallback: ``"fail"`` (a plan that still fails fails the task, as the issue and the
        paper's pipeline require) or ``"task"`` (search with the task text as the one query;
        rows say ``plan_fallback=True``).
      task_query: also search with the task text itself, as one more query after the planner's
        (its sub-task is the whole task). Off in the paper; the offline demo turns it on so that a
        tiny planner's unusable queries still leave sources to read.
      keep_unmarked: also pass extractions whose ``relevant`` flag was unreadable to the
        synthesis (the paper passes only those marked relevant).
      plan_params, extract_params, synth_params: sampling (paper: predictor T=0.6 up to 16,000
        tokens, compressor T=0.7 up to 2,000).
      compressor_concurrency: extraction calls in flight at once (1 for in-process models).
      seed: run seed (the paper ran 5 runs per task).
    """

    n_queries: int = 8
    sources_per_query: int = 10
    max_source_chars: int = 8000
    min_queries: int | None = None
    max_plan_attempts: int = 3
    plan_fallback: str = "fail"
    task_query: bool = False
    keep_unmarked: bool = False
    plan_params: SamplingParams = SamplingParams(temperature=0.6, max_new_tokens=2000)
    extract_params: SamplingParams = SamplingParams(temperature=0.7, max_new_tokens=2000)
    synth_params: SamplingParams = SamplingParams(temperature=0.6, max_new_tokens=16000)
    compressor_concurrency: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_queries < 1 or self.sources_per_query < 1 or self.max_source_chars < 1:
            raise ValueError("n_queries, sources_per_query and max_source_chars must be >= 1")
        if self.min_queries is not None and not 1 <= self.min_queries <= self.n_queries:
            raise ValueError(f"min_queries must be in [1, n_queries={self.n_queries}] or None")
        if self.plan_fallback not in ("fail", "task"):
            raise ValueError(f"plan_fallback must be 'fail' or 'task', got {self.plan_fallback!r}")
        if self.max_plan_attempts < 1 or self.compressor_concurrency < 1:
            raise ValueError("max_plan_attempts and compressor_concurrency must be >= 1")
        for name in ("plan_params", "extract_params", "synth_params"):
            if getattr(self, name).n != 1:
                raise ValueError(f"{name}.n must be 1 (one reply per call)")

    def to_dict(self) -> dict:
        d = asdict(self)
        for name in ("plan_params", "extract_params", "synth_params"):
            d[name] = getattr(self, name).to_dict()
        return d


def _hash(obj: Any) -> str:
    blob = obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _model_id(backend: Backend) -> dict:
    return {"model": backend.model_name, "dtype": getattr(backend, "dtype", None)}


def _plan_key(predictor: Backend, task: ResearchTask, config: DeepResearchConfig) -> str:
    return make_key(
        kind="plan",
        task=task.id,
        prompt=_hash(task.prompt),
        predictor=_model_id(predictor),
        params=config.plan_params.to_dict(),
        n=config.n_queries,
        min=config.min_queries,
        attempts=config.max_plan_attempts,
        fallback=config.plan_fallback,
        task_query=config.task_query,
        seed=config.seed,
        version=DR_PROMPT_VERSION,
    )


def _retrieval_key(retriever: Retriever, query: str, config: DeepResearchConfig) -> str:
    return make_key(
        kind="retrieval",
        retriever=retriever.name,
        query=query,
        k=config.sources_per_query,
        max_chars=config.max_source_chars,
    )


def _extraction_key(
    compressor: Backend, task: ResearchTask, item: PlanItem, source: Source, config: DeepResearchConfig
) -> str:
    return make_key(
        kind="extraction",
        compressor=_model_id(compressor),
        params=config.extract_params.to_dict(),
        seed=config.seed,
        task=_hash(task.prompt),
        query=item.query,
        subtask=item.subtask,
        source=source.id,
        text=_hash(source.text),
        title=source.title,
        version=DR_PROMPT_VERSION,
    )


def _report_key(predictor: Backend, messages: list[dict], config: DeepResearchConfig) -> str:
    return make_key(
        kind="report",
        predictor=_model_id(predictor),
        params=config.synth_params.to_dict(),
        seed=config.seed,
        messages=_hash(messages),
        version=DR_PROMPT_VERSION,
    )


def _judge_key(judge: RaceJudge, task_prompt: str, report: str, criterion: Criterion, reference: str | None) -> str:
    return make_key(
        kind="judge",
        judge=judge.settings(),
        task=_hash(task_prompt),
        report=_hash(report),
        reference=_hash(reference) if reference is not None else None,
        criterion=_hash([criterion.dimension, criterion.text, criterion.explanation, criterion.weight]),
    )


class _Cache:
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


@dataclass
class DeepResearchResult:
    """What :func:`run_deep_research` returns.

    Attributes:
      rows: one row per (task, setting): status, costs, tokens, seconds per stage, extraction
        rate, citations, RACE scores (``pandas.DataFrame``).
      calls: one row per model call, with ``task_id`` and ``setting`` (the plan's calls appear
        once per setting, as they are counted in each setting's cost).
      plans: ``{task_id: Plan}``.
      sources: ``{task_id: [[Source per query]]}``.
      extractions: ``{(task_id, setting): [Extraction]}``.
      reports: ``{(task_id, setting): Report}``.
      scores: ``{(task_id, setting): RaceScore}``.
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
    """Run the pipeline on every task under every setting; score the reports; keep everything in ``store``.

    For each task: one plan (shared by all settings, as the predictor and seed are the same),
    one retrieval per query (shared), then per setting the extractions (compressor settings) and the
    report. With a ``judge`` and a task rubric, reports are scored on every criterion:

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
      judge: RACE judge, or ``None`` for no scoring.
      reference: the setting whose report is the pairwise reference (``None``: absolute scores only).
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
        _Cache(store),
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
    cache: _Cache
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
        key = _plan_key(self.predictor, task, self.config)
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
            key = _retrieval_key(self.retriever, item.query, self.config)
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

    def report(
        self, task: ResearchTask, plan: Plan, setting: Setting, messages: list[dict], inputs: list[dict]
    ) -> Report:
        key = _report_key(self.predictor, messages, self.config)
        row = self.cache.get(key)
        if row is None:
            report = synthesise(self.predictor, task, plan, setting.id, messages, inputs, self.config, self.pricing)
            self.cache.put(
                {"key": key, "kind": "report", "task_id": task.id, "setting": setting.id, "report": report.to_dict()}
            )
        else:
            report = Report.from_dict(row["report"])
            report.setting = setting.id
        return report

    def setting_row(self, task: ResearchTask, plan: Plan, srcs: list[list[Source]], setting: Setting) -> dict:
        flat = [s for group in srcs for s in group]
        base = {
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
            "n_sources": len(flat),
        }
        if not plan.ok:
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
        try:
            if setting.compressor is not None:
                exs = extract(
                    setting.compressor,
                    task,
                    plan,
                    srcs,
                    self.config,
                    self.pricing,
                    cache=self.cache,
                    progress=self.progress,
                )
                kept = _kept(exs, self.config.keep_unmarked)
                messages = synthesis_messages(task.prompt, plan, kept)
                inputs = [
                    {"n": n, "source_id": e.source_id, "title": e.title, "url": e.url} for n, e in enumerate(kept, 1)
                ]
            else:
                exs, kept = [], []
                messages = baseline_messages(task.prompt, plan, flat)
                inputs = [{"n": n, "source_id": s.id, "title": s.title, "url": s.url} for n, s in enumerate(flat, 1)]
            report = self.report(task, plan, setting, messages, inputs)
        except Exception as e:
            return {**base, "status": "error", "error": f"{type(e).__name__}: {e}"[:500]}
        self.extractions[(task.id, setting.id)] = exs
        self.reports[(task.id, setting.id)] = report
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
    def _verdicts(self, task: ResearchTask, setting: str, report: str, reference: str | None) -> list[CriterionScore]:
        judge = self.judge
        out = []
        for c in tqdm(task.criteria.criteria, desc=f"judge {setting}", disable=not self.progress, leave=False):
            key = _judge_key(judge, task.prompt, report, c, reference)
            row = self.cache.get(key)
            if row is None:
                v = judge.score(task.prompt, report, c, reference)
                self.cache.put(
                    {"key": key, "kind": "judge", "task_id": task.id, "setting": setting, "verdict": v.to_dict()}
                )
            else:
                v = CriterionScore.from_dict(row["verdict"])
            out.append(v)
        return out

    def judge_task(self, task: ResearchTask, task_rows: list[dict], reference: str | None) -> None:
        judge = self.judge
        weights = dict(task.criteria.dimension_weights)
        ok = {r["setting"]: r for r in task_rows if r["status"] == "ok"}
        ref = self.reports.get((task.id, reference)) if reference in ok else None
        compared = [sid for sid in ok if ref is not None and sid != reference]
        alone = [sid for sid in ok if sid not in compared and not (sid == reference and compared)]
        for sid in compared + alone:
            row = ok[sid]
            verdicts = self._verdicts(
                task, sid, self.reports[(task.id, sid)].text, ref.text if sid in compared else None
            )
            score = RaceScore(task.id, judge.name, verdicts, weights)
            self.scores[(task.id, sid)] = score
            row.update(score.to_row())
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
        if compared:  # the reference's scores: its side of every comparison, averaged
            ref_scores = [self.scores[(task.id, sid)] for sid in compared]
            row = ok[reference]
            totals = [s.reference_total for s in ref_scores if s.reference_total is not None]
            row["race_total"] = float(np.mean(totals)) if totals else None
            for d in weights:
                vals = [s.reference_dimensions.get(d) for s in ref_scores if s.reference_dimensions]
                vals = [v for v in vals if v is not None]
                row[f"race_{d}"] = float(np.mean(vals)) if vals else None
            as_target = [
                dataclasses.replace(c, score=c.reference_score, reference_score=None)
                for s in ref_scores
                for c in s.criteria
            ]
            row.update(
                {
                    "race_relative": 0.5,
                    "race_comparisons": len(ref_scores),
                    "race_coverage": aggregate(as_target, weights)["coverage"],
                    "race_unscored": sum(c.score is None for c in as_target),
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
                predictor=_model_id(self.predictor),
                compressor=row["compressor"],
                retriever=row["retriever"],
                run=_hash(run_settings),
                plan=_hash(self.plans[row["task_id"]].to_dict()),
                report=_hash(rep.text) if rep else None,
            )
            row["result_key"] = key
            self.cache.put({"key": key, "kind": "result", **row})


def summarise(rows, reference: str = "baseline"):
    """One line per setting: tasks, failures, mean API cost and RACE score, and both as fractions of the reference.

    Columns: ``n_tasks``, ``n_ok``, ``n_failed``, ``api_cost_usd`` (mean per task, failed tasks
    included: their money is spent), ``cost_fraction`` (of the reference setting's mean cost),
    ``race_total`` (mean absolute score, 0-10, over scored tasks), ``score_fraction`` (of the
    reference's mean ``race_total``), ``race_relative`` (mean pairwise score against the
    reference; 0.5 = parity), ``extraction_rate`` (mean share of sources marked relevant),
    ``report_tokens``, ``seconds`` (pipeline seconds per task).
    """
    import numpy as np
    import pandas as pd

    df = rows.copy()
    for col in ("race_total", "race_relative", "extraction_rate", "report_tokens"):
        if col not in df:
            df[col] = np.nan
    secs = [c for c in ("seconds_plan", "seconds_extract", "seconds_synthesise") if c in df]
    df["seconds"] = df[secs].fillna(0).sum(axis=1) if secs else np.nan
    g = df.groupby("setting", sort=False)
    out = pd.DataFrame(
        {
            "n_tasks": g.size(),
            "n_ok": g["status"].apply(lambda s: int((s == "ok").sum())),
            "n_failed": g["status"].apply(lambda s: int((s != "ok").sum())),
            "api_cost_usd": g["api_cost_usd"].mean() if "api_cost_usd" in df else np.nan,
            "race_total": g["race_total"].apply(lambda s: pd.to_numeric(s, errors="coerce").mean()),
            "race_relative": g["race_relative"].apply(lambda s: pd.to_numeric(s, errors="coerce").mean()),
            "extraction_rate": g["extraction_rate"].apply(lambda s: pd.to_numeric(s, errors="coerce").mean()),
            "report_tokens": g["report_tokens"].apply(lambda s: pd.to_numeric(s, errors="coerce").mean()),
            "seconds": g["seconds"].mean(),
        }
    )
    if reference in out.index:
        ref_cost, ref_score = out.loc[reference, "api_cost_usd"], out.loc[reference, "race_total"]
        out["cost_fraction"] = out["api_cost_usd"] / ref_cost if ref_cost and ref_cost > 0 else np.nan
        out["score_fraction"] = out["race_total"] / ref_score if ref_score and ref_score > 0 else np.nan
    else:
        out["cost_fraction"] = np.nan
        out["score_fraction"] = np.nan
    cols = [
        "n_tasks",
        "n_ok",
        "n_failed",
        "api_cost_usd",
        "cost_fraction",
        "race_total",
        "score_fraction",
        "race_relative",
        "extraction_rate",
        "report_tokens",
        "seconds",
    ]
    return out[cols]
