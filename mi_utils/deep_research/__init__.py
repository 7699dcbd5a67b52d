"""A simplified Deep Research pipeline: plan -> retrieve -> compress -> synthesise (the paper's application).

The paper (arXiv 2512.21720, "Deep Research") lets a large *predictor* (GPT-4o) plan a research
task and write the report, while a small local *compressor* reads every retrieved source and
extracts what matters for its query; the predictor then reads the extractions instead of the raw
sources. With a Qwen-2.5-3B compressor that kept 99% of the uncompressed pipeline's RACE score at
26% of its API cost. This package makes that experiment runnable on the generator contract of
:mod:`mi_utils.backends` and the price table of :mod:`mi_utils.costs`. One concept per module:

* :mod:`.tasks`: research tasks (DeepResearch Bench, ``PAPER_TASK_IDS``, the bundled tasks) and
  their local documents;
* :mod:`.config`: :class:`DeepResearchConfig` (the paper's defaults) and :class:`Setting`;
* :mod:`.calls`: one :class:`CallRecord` per model call, priced by :class:`Pricing`;
* :mod:`.plan`: stage 1, the predictor's (query, sub-task) plan, repaired or retried;
* :mod:`.retrieval`: stage 2's sources: the ``Retriever`` protocol, offline BM25, a web-search adapter;
* :mod:`.extract`: stage 3, the compressor's extraction per (query, source);
* :mod:`.synthesise`: stage 4, the predictor's report and its citations;
* :mod:`.race`: RACE-style report rating (DeepResearch Bench's rubrics, any judge model);
* :mod:`.cache`: the resumable store's keys;
* :mod:`.pipeline`: :func:`run_deep_research`, tasks x settings with a judge, resumable;
* :mod:`.summary`: :func:`summarise`, one line per setting;
* :mod:`.trust`: how far a judge can be trusted (right-source against random-source and degenerate
  reports, counted);
* :mod:`.table`: a run's committed table read back (``scripts/deep_research_offline.py`` writes it).

The prompt templates live with the others in :mod:`mi_utils.prompts` (``DR_PROMPT_VERSION`` goes
into every key, so changing a prompt never mixes old and new results). Nothing else in
``mi_utils`` imports this package; it uses backends, prompts, prices, data, paths, store, locking
and answers. The old flat modules ``mi_utils.retrieval`` and ``mi_utils.race`` are deprecated shims
over :mod:`.retrieval` and :mod:`.race`.

Model output is data: plans, extractions, reports and verdicts are parsed with ``json`` and
regular expressions, never executed. API keys live in environment variables only (see the
backends and :mod:`.retrieval`); nothing here stores or logs them.
"""

from __future__ import annotations

from ..prompts import (  # noqa: F401  (the templates: importable from here, as from the flat module)
    DR_PROMPT_VERSION,
    EXTRACTION_PROMPT,
    PLAN_PROMPT,
    PLAN_REPAIR_PROMPT,
    SYNTHESIS_PROMPT,
    baseline_messages,
    extraction_messages,
    plan_messages,
    synthesis_messages,
)
from .calls import CallRecord, Pricing
from .config import DeepResearchConfig, Setting
from .extract import Extraction, extract, parse_extraction
from .pipeline import DeepResearchResult, retrieve, run_deep_research, search
from .plan import Plan, PlanItem, make_plan, parse_plan
from .race import Criterion, CriterionRating, RaceCriteria, RaceJudge, RaceRating  # noqa: F401  (as the flat module had)
from .retrieval import Document, Retriever, Source  # noqa: F401
from .summary import summarise
from .synthesise import Report, synthesise
from .tasks import (
    BUNDLED_TASKS_PATH,
    PAPER_TASK_IDS,
    ResearchTask,
    load_deepresearch_bench,
    load_research_tasks,
    task_documents,
)

# The flat module's public names (``from mi_utils.deep_research import ...`` keeps working); the
# prompt templates and the retrieval / RACE types it imported stay importable from here too.
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


def __getattr__(name: str):
    """The RACE types' old names (``CriterionScore``, ``RaceScore``): still importable, warning once."""
    if name in ("CriterionScore", "RaceScore"):
        from . import race

        new = race._RENAMED[name]
        race._deprecated(f"{__name__}.{name}", new)  # the name the user typed, attributed to their line
        return getattr(race, new)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
