"""Stage 4, synthesis: the predictor writes the report from the findings (or, in the baseline, the raw sources).

:func:`synthesise` makes one call with messages built by :func:`mi_utils.prompts.synthesis_messages`
or :func:`mi_utils.prompts.baseline_messages` and reads the report's citations (``[n]``, ``[1, 2]``,
``[2-4]``): the valid ones, and numbers that are not among the inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..backends.base import Backend
from .calls import CallRecord, HasCall, Pricing, call_model, with_seed
from .config import DeepResearchConfig
from .plan import Plan
from .tasks import ResearchTask

__all__ = ["Report", "synthesise"]


@dataclass
class Report(HasCall):
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
    text, call = call_model(
        predictor,
        messages,
        with_seed(config.synth_params, config.seed),
        stage="synthesise",
        role="predictor",
        pricing=pricing,
    )
    cited, invalid = _citations(text, len(inputs))
    return Report(task.id, setting, text.strip(), inputs, cited, invalid, call)
