"""The paper's prompts, in one place, versioned.

Texts follow the compression, prediction and scoring prompts of arXiv 2512.21720 (appendix and
the authors' release). ``PROMPT_VERSION`` goes into every results row: change it whenever a
template changes, so old and new results are never mixed silently.

Two kinds of prompt:

* *chat* prompts (compression, prediction; and refinement, round r > 1 of a compress-and-refine
  loop, which is ours: the paper gives no text for it) are message lists, rendered by each model's
  chat template in the backend;
* the *scoring* prompt is split at the summary: :func:`scoring_prefix` gives the text before the
  summary and :func:`scoring_continuation` the summary itself. The backend tokenises the two
  halves separately and concatenates the ids, so the summary's tokens are *identical* under every
  context ``x_l``, which the estimator needs (``log p(z | x_l)`` must score the same ``z``).

The Deep Research application (:mod:`mi_utils.deep_research`) has its own templates at the end of
this module (plan, plan repair, extraction, synthesis), versioned by ``DR_PROMPT_VERSION``, which goes
into every key of its store. The builders read plans, findings and sources by attribute only
(``plan.items``, ``plan.strategy``, ``.title``, ``.text``), so this module imports nothing from the
application. The RACE judge's prompts stay with the judge (:mod:`mi_utils.deep_research.race`,
``RACE_PROMPT_VERSION``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "PROMPT_VERSION",
    "COMPRESSION_PROMPT",
    "CONCISENESS_SUFFIX",
    "PREDICTION_PROMPT",
    "PREDICTION_CHOICE_PROMPT",
    "SCORING_PROMPT",
    "JUDGE_PROMPT",
    "compression_messages",
    "REFINE_PROMPT_VERSION",
    "REFINE_PROMPT",
    "refinement_messages",
    "prediction_messages",
    "choice_prediction_prefix",
    "scoring_prefix",
    "scoring_continuation",
    "strip_options",
    "DR_PROMPT_VERSION",
    "PLAN_PROMPT",
    "PLAN_REPAIR_PROMPT",
    "EXTRACTION_PROMPT",
    "SYNTHESIS_PROMPT",
    "plan_messages",
    "plan_repair_messages",
    "extraction_messages",
    "synthesis_messages",
    "baseline_messages",
]

PROMPT_VERSION = "v1"

COMPRESSION_PROMPT = """Summarize the following text to include ONLY information needed to answer the question.
Extract the key points relevant to the question.
DO NOT ANSWER THE QUESTION DIRECTLY.

Question:
{query}

Text:
{text}

Your summary (make sure to include all important details / background information related to the *question*. **DO NOT ANSWER THE QUESTION**)"""

# The conciseness sweep of the paper appends this instruction.
CONCISENESS_SUFFIX = "\n\nSummarize the text using EXACTLY {k} sentences. Your summary:"

PREDICTION_PROMPT = """Please answer the following question based on the provided summary.
Question:
{query}

Summary:
{summary}

Please respond in the following JSON format:
{{
    "explanation": "<brief explanation of the answer. 1-2 sentences>",
    "answer": "<your final answer>"
}}

Your answer (YOU MUST ONLY RESPOND WITH THE JSON OBJECT):"""

# Log-likelihood choice mode: each option is scored as the continuation of this prefix.
PREDICTION_CHOICE_PROMPT = """Please answer the following question based on the provided summary.

Summary:
{summary}

Question:
{query}

Answer:"""

# Proxy scoring of log p(z | x, q): the summary follows this text.
SCORING_PROMPT = (
    "Instruction: Please summarize the following text with respect to the question.\n\n"
    "Here is the text: {text}\n\n"
    "Here is the question: {query}\n\n"
    "Here is the question-specific summary:"
)

# LLM-as-judge for free-form answers (the paper used gpt-4o-mini at temperature 0).
JUDGE_PROMPT = """You are grading a predicted answer to a question against a reference answer.

Question:
{query}

Reference answer:
{reference}

Predicted answer:
{prediction}

The predicted answer is correct if it conveys the same key information as the reference answer; paraphrases, different formatting, units written differently and rounding of numbers are fine. It is incorrect if it contradicts the reference, misses its key information, or hedges between several answers.

Respond ONLY with a JSON object in this format:
{{"correct": true or false, "reason": "<one sentence>"}}"""

_OPTIONS_MARKER = "Choose the correct answer from the following options:"


def strip_options(query: str) -> str:
    """The question without an appended multiple-choice block (compressors never see options)."""
    return query.split(_OPTIONS_MARKER)[0].rstrip()


def compression_messages(text: str, query: str, sentences: int | None = None) -> list[dict]:
    """Chat messages asking the compressor for a query-focused summary.

    Args:
      text: the context X.
      query: the question Q (options are stripped).
      sentences: when set, the conciseness instruction "use EXACTLY k sentences" is appended.
    """
    return _summary_messages(COMPRESSION_PROMPT, sentences, query=strip_options(query), text=text)


def _summary_messages(template: str, sentences: int | None, **fields: str) -> list[dict]:
    """One user message: ``template`` filled with ``fields``, plus the conciseness suffix when ``sentences`` is set."""
    if sentences is not None and sentences < 1:
        raise ValueError("sentences must be a positive integer or None")
    content = template.format(**fields)
    if sentences is not None:
        content += CONCISENESS_SUFFIX.format(k=sentences)
    return [{"role": "user", "content": content}]


# Compress-and-refine (the paper's Fig. 18: MI over rounds of a compress-and-refine loop). The paper
# gives no text for the refinement prompt (PAPER.md); this one is OURS: the compression prompt's
# instructions with the previous round's summary added. Its version goes into the keys of refined
# summaries only (``PROMPT_VERSION``, in every row, is unchanged by it).
REFINE_PROMPT_VERSION = "r1"

REFINE_PROMPT = """Improve a summary of the following text. The summary should include ONLY information needed to answer the question.
Keep the key points of the current summary that are relevant to the question, add the relevant details it misses, and drop what is not needed.
DO NOT ANSWER THE QUESTION DIRECTLY.

Question:
{query}

Text:
{text}

Current summary:
{summary}

Your improved summary (make sure to include all important details / background information related to the *question*. **DO NOT ANSWER THE QUESTION**)"""


def refinement_messages(text: str, query: str, summary: str, sentences: int | None = None) -> list[dict]:
    """Chat messages asking the compressor to refine its previous summary (a round > 1 of the loop).

    Args:
      text: the context X.
      query: the question Q (options are stripped).
      summary: the previous round's summary z_{r-1}.
      sentences: when set, the conciseness instruction "use EXACTLY k sentences" is appended.
    """
    return _summary_messages(REFINE_PROMPT, sentences, query=strip_options(query), text=text, summary=summary)


def format_options(options: Sequence[str]) -> str:
    letters = "ABCDEFGHIJ"
    return "\n".join(f"{letters[k]}. {opt}" for k, opt in enumerate(options))


def prediction_messages(summary: str, query: str, options: Sequence[str] | None = None) -> list[dict]:
    """Chat messages asking the predictor to answer from the summary alone."""
    q = strip_options(query)
    if options:
        q = f"{q}\n{_OPTIONS_MARKER}\n{format_options(options)}\nAnswer with the letter of the correct option."
    return [{"role": "user", "content": PREDICTION_PROMPT.format(query=q, summary=summary)}]


def choice_prediction_prefix(summary: str, query: str) -> str:
    """Text before each option in log-likelihood choice mode."""
    return PREDICTION_CHOICE_PROMPT.format(summary=summary, query=strip_options(query))


def scoring_prefix(text: str, query: str) -> str:
    """Text before the summary in the proxy scoring prompt for ``log p(z | x, q)``."""
    return SCORING_PROMPT.format(text=text, query=strip_options(query))


def scoring_continuation(summary: str) -> str:
    """The summary as a continuation: a leading space belongs to the continuation."""
    return " " + summary.strip()


# =============================================================================== Deep Research
# Goes into every key of the Deep Research store: change it whenever one of these templates changes.
DR_PROMPT_VERSION = "dr-v1"

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


def plan_repair_messages(task: str, n_queries: int, reply: str, problem: str) -> list[dict]:
    """A plan retry: the plan prompt, the unusable ``reply`` and a corrective turn naming the ``problem``."""
    return plan_messages(task, n_queries) + [
        {"role": "assistant", "content": reply},
        {"role": "user", "content": PLAN_REPAIR_PROMPT.format(problem=problem, n=n_queries)},
    ]


def extraction_messages(task: str, query: str, subtask: str, source: Any) -> list[dict]:
    """The compressor's prompt for one source (a ``Source``: ``.title``, ``.text`` already cut to the budget)."""
    return [
        {
            "role": "user",
            "content": EXTRACTION_PROMPT.format(
                task=task.strip(), query=query, subtask=subtask, title=source.title, text=source.text
            ),
        }
    ]


def _plan_text(plan: Any) -> str:
    return "\n".join(f"{i + 1}. {it.query} - {it.subtask}" for i, it in enumerate(plan.items))


def _synthesis_prompt(task: str, plan: Any, kind: str, kind_lower: str, items: str) -> list[dict]:
    content = SYNTHESIS_PROMPT.format(
        task=task.strip(),
        plan=_plan_text(plan),
        strategy=plan.strategy or "-",
        kind=kind,
        kind_lower=kind_lower,
        items=items,
    )
    return [{"role": "user", "content": content}]


def synthesis_messages(task: str, plan: Any, findings: Sequence[Any]) -> list[dict]:
    """The predictor's prompt from the compressor's findings (``Extraction``: ``.title``, ``.text``), numbered from 1.

    ``plan`` is a ``Plan`` (``.items`` with ``.query`` / ``.subtask``, ``.strategy``).
    """
    items = "\n".join(f"[{n}] ({e.title}) {e.text.strip()}" for n, e in enumerate(findings, 1))
    return _synthesis_prompt(task, plan, "Findings from the sources", "findings", items or "(no relevant findings)")


def baseline_messages(task: str, plan: Any, sources: Sequence[Any]) -> list[dict]:
    """The baseline's prompt: the raw (truncated) sources (``Source``: ``.title``, ``.text``), numbered from 1."""
    items = "\n\n".join(f"[{n}] {s.title}\n<<<\n{s.text}\n>>>" for n, s in enumerate(sources, 1))
    return _synthesis_prompt(task, plan, "Sources", "sources", items or "(no sources found)")
