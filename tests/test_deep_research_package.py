"""The Deep Research package's layout: prompts byte-identical to the old flat module, old import paths.

The expected messages below were produced by the code *before* the pipeline's prompts moved to
:mod:`mi_utils.prompts` (``mi_utils/deep_research.py`` at commit a7c7190), for the fixed inputs
built in :func:`_build`; any change of a template or of how the messages are assembled fails here.
"""

from __future__ import annotations

from mi_utils.backends.base import Generation
from mi_utils.deep_research import (
    DeepResearchConfig,
    Plan,
    Pricing,
    ResearchTask,
    baseline_messages,
    extract,
    make_plan,
    synthesis_messages,
)
from mi_utils.race import Criterion, RaceJudge
from mi_utils.retrieval import Source

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
        "synthesis": synthesis_messages(task.prompt, plan, exs),
        "synthesis_empty": synthesis_messages(task.prompt, empty, []),
        "baseline": baseline_messages(task.prompt, plan, [src1, src2]),
        "baseline_empty": baseline_messages(task.prompt, empty, []),
        "judge": judge.messages(task.prompt, "Report A text.", crit)[0],
        "judge_pair_1": judge.messages(task.prompt, "Report A text." * 5, crit, reference="Report B.", which=1)[0],
        "judge_pair_2": judge.messages(task.prompt, "Report A text.", crit, reference="Report B.", which=2)[0],
    }


def test_every_prompt_is_byte_identical_to_the_old_flat_module():
    got = _build()
    assert list(got) == list(EXPECTED)
    for name, expected in EXPECTED.items():
        assert got[name] == expected, name
