"""Stage 1, the plan: the predictor writes (search query, sub-task) pairs and a synthesis strategy.

:func:`make_plan` asks with :func:`mi_utils.prompts.plan_messages`; a reply that cannot be read is
repaired by :func:`parse_plan` (lenient JSON, then ``query:`` lines, then a numbered list) and
otherwise retried with a corrective turn (:func:`mi_utils.prompts.plan_repair_messages`), at most
``max_plan_attempts`` times. A plan that still fails has ``ok=False`` (the run marks the task
``"plan_failed"``, its cost counted), unless ``plan_fallback="task"`` searches with the task text.
Replies are data: parsed with ``json`` and regular expressions, never executed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..answers import extract_json_objects
from ..backends.base import Backend
from ..prompts import plan_messages, plan_repair_messages
from .calls import CallRecord, Pricing, call_model, with_seed
from .config import DeepResearchConfig
from .tasks import ResearchTask

__all__ = ["PlanItem", "Plan", "parse_plan", "make_plan"]


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


def ci_get(d: Mapping, keys: Sequence[str]) -> Any:
    """The value of the first of ``keys`` in ``d``, keys compared case-insensitively (``None``: none there)."""
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
        strategy = strategy or _clean(ci_get(obj, _STRATEGY_KEYS))
        lst = ci_get(obj, _LIST_KEYS)
        if isinstance(lst, list):
            for it in lst:
                if isinstance(it, dict):
                    pairs.append((_clean(ci_get(it, _QUERY_KEYS)), _clean(ci_get(it, _SUBTASK_KEYS))))
                else:
                    pairs.append((_clean(it), ""))
        elif ci_get(obj, _QUERY_KEYS) is not None:
            pairs.append((_clean(ci_get(obj, _QUERY_KEYS)), _clean(ci_get(obj, _SUBTASK_KEYS))))
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
        params = with_seed(config.plan_params, config.seed * 1000 + attempt)
        text, call = call_model(
            predictor, messages, params, stage="plan", role="predictor", pricing=pricing, attempt=attempt
        )
        raw.append(text[:4000])
        calls.append(call)
        items, strategy, error = parse_plan(text, n)
        if len(items) > len(best[0]) or attempt == 0:
            best = (items, strategy, error)
        if len(best[0]) == n:
            break
        messages = plan_repair_messages(task.prompt, n, text[:2000], error or "it was not valid JSON")
    items, strategy, error = best
    ok = len(items) >= max(1, need)
    task_item = PlanItem(task.prompt[:300], task.prompt)
    record = dict(n_requested=n, attempts=len(calls), error=error, raw=raw, calls=calls)
    if not ok and config.plan_fallback == "task":
        return Plan(task.id, [task_item], "", ok=True, fallback=True, **record)
    if ok and config.task_query and task_item.query.lower() not in {i.query.lower() for i in items}:
        return Plan(task.id, items + [task_item], strategy, ok=True, task_query=True, **record)
    return Plan(task.id, items, strategy, ok=ok, **record)
