"""The Deep Research package's layout: prompts byte-identical to the old flat module, old import paths, dependencies.

The expected messages below were produced by the code *before* the pipeline's prompts moved to
:mod:`mi_utils.prompts` (the flat ``mi_utils/deep_research.py`` at commit a7c7190), for the fixed
inputs built in :func:`_build`; any change of a template or of how the messages are assembled fails here.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings

import pytest

from mi_utils import prompts
from mi_utils.backends.base import Generation
from mi_utils.deep_research import DeepResearchConfig, Plan, Pricing, ResearchTask, extract, make_plan
from mi_utils.deep_research.race import Criterion, RaceJudge
from mi_utils.deep_research.retrieval import Source

from conftest import REPO

EXPECTED = {
    "plan_attempts": [
        [
            {
                "role": "user",
                "content": (
                    "You are the planner of a research assistant. Plan the research for the task below.\n"
                    "\n"
                    "Task:\n"
                    "How did Nike's revenue change in 2019?\n"
                    "\n"
                    "Write exactly 2 web search queries. Pair each query with the sub-task it serves: what the search should find out. Then give a short strategy for combining the findings into a report.\n"
                    "\n"
                    "Respond ONLY with a JSON object in this format:\n"
                    '{"queries": [{"query": "<search query>", "subtask": "<what to find out>"}], "strategy": "<how to combine the findings>"}'
                ),
            },
        ],
        [
            {
                "role": "user",
                "content": (
                    "You are the planner of a research assistant. Plan the research for the task below.\n"
                    "\n"
                    "Task:\n"
                    "How did Nike's revenue change in 2019?\n"
                    "\n"
                    "Write exactly 2 web search queries. Pair each query with the sub-task it serves: what the search should find out. Then give a short strategy for combining the findings into a report.\n"
                    "\n"
                    "Respond ONLY with a JSON object in this format:\n"
                    '{"queries": [{"query": "<search query>", "subtask": "<what to find out>"}], "strategy": "<how to combine the findings>"}'
                ),
            },
            {"role": "assistant", "content": "not json at all"},
            {
                "role": "user",
                "content": 'Your reply could not be used: no usable (search query, sub-task) pair: no JSON list of queries, no \'query:\' lines, no numbered list; 2 requested. Reply again with ONLY the JSON object, with exactly 2 items in "queries", each with a "query" and a "subtask".',
            },
        ],
    ],
    "extractions": [
        [
            {
                "role": "user",
                "content": (
                    "You are helping with a research task. Extract from the source below the facts that matter for the search query and the sub-task: figures, names, dates and statements, as the source gives them. Do not add anything the source does not say.\n"
                    "\n"
                    "Research task:\n"
                    "How did Nike's revenue change in 2019?\n"
                    "\n"
                    "Search query: nike revenue 2019\n"
                    "Sub-task: find revenue\n"
                    "\n"
                    "Source: Nike 10-K p.30\n"
                    "<<<\n"
                    "Nike revenue was $39.1 billion in fiscal 2019.\n"
                    ">>>\n"
                    "\n"
                    "Respond ONLY with a JSON object in this format:\n"
                    '{"explanation": "<the relevant facts from the source; empty if there are none>", "relevant": true or false}'
                ),
            },
        ],
        [
            {
                "role": "user",
                "content": (
                    "You are helping with a research task. Extract from the source below the facts that matter for the search query and the sub-task: figures, names, dates and statements, as the source gives them. Do not add anything the source does not say.\n"
                    "\n"
                    "Research task:\n"
                    "How did Nike's revenue change in 2019?\n"
                    "\n"
                    "Search query: nike margin\n"
                    "Sub-task: find margin\n"
                    "\n"
                    "Source: Nike 10-K p.31\n"
                    "<<<\n"
                    "Gross margin rose to 44.7%.\n"
                    ">>>\n"
                    "\n"
                    "Respond ONLY with a JSON object in this format:\n"
                    '{"explanation": "<the relevant facts from the source; empty if there are none>", "relevant": true or false}'
                ),
            },
        ],
    ],
    "synthesis": [
        {
            "role": "user",
            "content": (
                "You are writing a research report.\n"
                "\n"
                "Task:\n"
                "How did Nike's revenue change in 2019?\n"
                "\n"
                "Research plan:\n"
                "1. nike revenue 2019 - find revenue\n"
                "2. nike margin - find margin\n"
                "Strategy: compare\n"
                "\n"
                "Findings from the sources, numbered:\n"
                "[1] (Nike 10-K p.30) Revenue $39.1B.\n"
                "[2] (Nike 10-K p.31) Margin 44.7%.\n"
                "\n"
                "Write a well-structured report that answers the task using the findings above. Cite the findings you use by their numbers in square brackets, e.g. [1] or [2][3]; never cite a number that is not listed. If they do not cover part of the task, say so."
            ),
        },
    ],
    "synthesis_empty": [
        {
            "role": "user",
            "content": (
                "You are writing a research report.\n"
                "\n"
                "Task:\n"
                "How did Nike's revenue change in 2019?\n"
                "\n"
                "Research plan:\n"
                "\n"
                "Strategy: -\n"
                "\n"
                "Findings from the sources, numbered:\n"
                "(no relevant findings)\n"
                "\n"
                "Write a well-structured report that answers the task using the findings above. Cite the findings you use by their numbers in square brackets, e.g. [1] or [2][3]; never cite a number that is not listed. If they do not cover part of the task, say so."
            ),
        },
    ],
    "baseline": [
        {
            "role": "user",
            "content": (
                "You are writing a research report.\n"
                "\n"
                "Task:\n"
                "How did Nike's revenue change in 2019?\n"
                "\n"
                "Research plan:\n"
                "1. nike revenue 2019 - find revenue\n"
                "2. nike margin - find margin\n"
                "Strategy: compare\n"
                "\n"
                "Sources, numbered:\n"
                "[1] Nike 10-K p.30\n"
                "<<<\n"
                "Nike revenue was $39.1 billion in fiscal 2019.\n"
                ">>>\n"
                "\n"
                "[2] Nike 10-K p.31\n"
                "<<<\n"
                "Gross margin rose to 44.7%.\n"
                ">>>\n"
                "\n"
                "Write a well-structured report that answers the task using the sources above. Cite the sources you use by their numbers in square brackets, e.g. [1] or [2][3]; never cite a number that is not listed. If they do not cover part of the task, say so."
            ),
        },
    ],
    "baseline_empty": [
        {
            "role": "user",
            "content": (
                "You are writing a research report.\n"
                "\n"
                "Task:\n"
                "How did Nike's revenue change in 2019?\n"
                "\n"
                "Research plan:\n"
                "\n"
                "Strategy: -\n"
                "\n"
                "Sources, numbered:\n"
                "(no sources found)\n"
                "\n"
                "Write a well-structured report that answers the task using the sources above. Cite the sources you use by their numbers in square brackets, e.g. [1] or [2][3]; never cite a number that is not listed. If they do not cover part of the task, say so."
            ),
        },
    ],
    "judge": [
        {
            "role": "user",
            "content": (
                "You are an expert judge of research reports. Score the report below on one criterion.\n"
                "\n"
                "Research task:\n"
                "How did Nike's revenue change in 2019?\n"
                "\n"
                "Criterion (insight and depth): Explains why revenue changed\n"
                "Look for causes.\n"
                "\n"
                "Report:\n"
                "<<<\n"
                "Report A text.\n"
                ">>>\n"
                "\n"
                'How well does the report meet this criterion? 0 means not at all, 10 means perfectly. Reply with the score only, in the form "<score>/10".'
            ),
        },
    ],
    "judge_pair_1": [
        {
            "role": "user",
            "content": (
                "You are an expert judge of research reports. Two reports were written for the same research task. Score Report 1 on one criterion, using the other report as a point of comparison.\n"
                "\n"
                "Research task:\n"
                "How did Nike's revenue change in 2019?\n"
                "\n"
                "Criterion (insight and depth): Explains why revenue changed\n"
                "Look for causes.\n"
                "\n"
                "Report 1:\n"
                "<<<\n"
                "Report A text.Report A text.Report A tex\n"
                ">>>\n"
                "\n"
                "Report 2:\n"
                "<<<\n"
                "Report B.\n"
                ">>>\n"
                "\n"
                'How well does Report 1 meet this criterion? 0 means not at all, 10 means perfectly. Reply with the score of Report 1 only, in the form "<score>/10".'
            ),
        },
    ],
    "judge_pair_2": [
        {
            "role": "user",
            "content": (
                "You are an expert judge of research reports. Two reports were written for the same research task. Score Report 2 on one criterion, using the other report as a point of comparison.\n"
                "\n"
                "Research task:\n"
                "How did Nike's revenue change in 2019?\n"
                "\n"
                "Criterion (insight and depth): Explains why revenue changed\n"
                "Look for causes.\n"
                "\n"
                "Report 1:\n"
                "<<<\n"
                "Report A text.\n"
                ">>>\n"
                "\n"
                "Report 2:\n"
                "<<<\n"
                "Report B.\n"
                ">>>\n"
                "\n"
                'How well does Report 2 meet this criterion? 0 means not at all, 10 means perfectly. Reply with the score of Report 2 only, in the form "<score>/10".'
            ),
        },
    ],
}


class _Recorder:
    """A generator that replies from a list and records every message list it is sent."""

    model_name = "rec"

    def __init__(self, replies):
        self.replies = list(replies)
        self.messages = []

    def generate(self, prompts, params):
        out = []
        for m in prompts:
            self.messages.append(m)
            out.append([Generation(text=self.replies.pop(0), token_ids=[1], prompt_ids=[1, 2], sampling=params)])
        return out


def _build() -> dict:
    """Every prompt of the pipeline and the judge, for fixed inputs (a plan repair included)."""
    task = ResearchTask("t1", "  How did Nike's revenue change in 2019?\n")
    cfg = DeepResearchConfig(n_queries=2, max_plan_attempts=2, sources_per_query=1)
    pricing = Pricing(free_roles=("predictor", "compressor", "judge"))
    planner = _Recorder(
        [
            "not json at all",
            '{"queries": [{"query": "nike revenue 2019", "subtask": "find revenue"}, '
            '{"query": "nike margin", "subtask": "find margin"}], "strategy": "compare"}',
        ]
    )
    plan = make_plan(planner, task, cfg, pricing)
    src1 = Source(id="s1", text="Nike revenue was $39.1 billion in fiscal 2019.", title="Nike 10-K p.30", url=None)
    src2 = Source(id="s2", text="Gross margin rose to 44.7%.", title="Nike 10-K p.31", url="https://example.com/n")
    comp = _Recorder(
        ['{"explanation": "Revenue $39.1B.", "relevant": true}', '{"explanation": "Margin 44.7%.", "relevant": true}']
    )
    exs = extract(comp, task, plan, [[src1], [src2]], cfg, pricing)
    empty = Plan("t1", [], "", True, 0, 1)
    judge = RaceJudge(_Recorder([]), max_report_chars=40)
    crit = Criterion("insight", "Explains why revenue changed", 0.5, "Look for causes.")
    return {
        "plan_attempts": planner.messages,
        "extractions": comp.messages,
        "synthesis": prompts.synthesis_messages(task.prompt, plan, exs),
        "synthesis_empty": prompts.synthesis_messages(task.prompt, empty, []),
        "baseline": prompts.baseline_messages(task.prompt, plan, [src1, src2]),
        "baseline_empty": prompts.baseline_messages(task.prompt, empty, []),
        "judge": judge.messages(task.prompt, "Report A text.", crit)[0],
        "judge_pair_1": judge.messages(task.prompt, "Report A text." * 5, crit, reference="Report B.", which=1)[0],
        "judge_pair_2": judge.messages(task.prompt, "Report A text.", crit, reference="Report B.", which=2)[0],
    }


def test_every_prompt_is_byte_identical_to_the_old_flat_module():
    got = _build()
    assert list(got) == list(EXPECTED)
    for name, expected in EXPECTED.items():
        assert got[name] == expected, name


def test_the_prompts_live_in_mi_utils_prompts_and_the_version_is_unchanged():
    import mi_utils.deep_research as dr

    assert prompts.DR_PROMPT_VERSION == dr.DR_PROMPT_VERSION == "dr-v1"  # the store's keys stay valid
    for name in ("plan_messages", "extraction_messages", "synthesis_messages", "baseline_messages"):
        assert getattr(dr, name) is getattr(prompts, name)
    for name in ("PLAN_PROMPT", "PLAN_REPAIR_PROMPT", "EXTRACTION_PROMPT", "SYNTHESIS_PROMPT"):
        assert getattr(dr, name) is getattr(prompts, name)


# ============================================================================ old import paths
# ``mi_utils.deep_research.__all__`` of the flat module (commit a7c7190), typed out.
FLAT_ALL = [
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


def test_the_package_exports_every_name_the_flat_module_had():
    import mi_utils.deep_research as dr

    assert dr.__all__ == FLAT_ALL
    for name in FLAT_ALL:
        assert getattr(dr, name) is not None, name
    assert dr.BUNDLED_TASKS_PATH.is_file()  # the path still points at data/, one folder further up


@pytest.mark.parametrize("old, new", [("mi_utils.retrieval", "retrieval"), ("mi_utils.race", "race")])
def test_old_module_paths_warn_and_give_the_same_objects(old, new, monkeypatch):
    new_mod = importlib.import_module(f"mi_utils.deep_research.{new}")
    monkeypatch.delitem(sys.modules, old, raising=False)  # a fresh import: the warning is raised on import
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated; import from mi_utils\.deep_research\.{new}"):
        old_mod = importlib.import_module(old)
    assert old_mod.__all__ == new_mod.__all__ and len(old_mod.__all__) > 10
    for name in new_mod.__all__:
        assert getattr(old_mod, name) is getattr(new_mod, name), name


def test_from_imports_through_the_shims_still_work():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from mi_utils.race import RaceJudge as OldJudge
        from mi_utils.retrieval import BM25Retriever as OldBM25
    from mi_utils.deep_research.race import RaceJudge as NewJudge
    from mi_utils.deep_research.retrieval import BM25Retriever as NewBM25

    assert OldJudge is NewJudge and OldBM25 is NewBM25


# ============================================================================ dependency direction
_APP = ("mi_utils.deep_research", "mi_utils.race", "mi_utils.retrieval")


def _imports_of(path) -> set[str]:
    """Absolute names of the mi_utils modules one source file imports (relative imports resolved)."""
    rel = path.relative_to(REPO).with_suffix("")
    package = list(rel.parts[:-1])  # the package a relative import starts from
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def test_nothing_outside_the_application_imports_it():
    offenders = {}
    for path in sorted((REPO / "mi_utils").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("mi_utils/deep_research/") or rel in ("mi_utils/race.py", "mi_utils/retrieval.py"):
            continue
        hits = sorted(m for m in _imports_of(path) if m.startswith(_APP))
        if hits:
            offenders[rel] = hits
    assert offenders == {}


def test_the_runner_and_the_analysis_load_without_the_application():
    code = (
        "import sys, mi_utils.experiment, mi_utils.analysis, mi_utils.prompts, mi_utils.costs, mi_utils.store; "
        "print(sorted(m for m in sys.modules if m.startswith(('mi_utils.deep_research', 'mi_utils.race', "
        "'mi_utils.retrieval'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
