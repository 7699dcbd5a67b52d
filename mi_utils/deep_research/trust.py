"""How far a RACE judge can be trusted: does it rate a report from the right sources above controls?

A judge that gives every report about the same rating cannot rank pipelines. This module measures
that on the reports of a finished :func:`~mi_utils.deep_research.pipeline.run_deep_research` run:
for every task the judge rates three reports written for the same task,

* ``right_sources``: the reference setting's report (the baseline: the predictor read the task's
  own retrieved sources);
* ``random_sources``: a report the same predictor writes with the same prompt and plan, but from the
  sources retrieved for *another* task of the run (:func:`donor_tasks`) - fluent, on the wrong subject;
* ``degenerate``: the task text repeated (:func:`degenerate_report`) - no information at all;

and :func:`trust_counts` counts, per comparison, how often the first report is rated above, level
with, or below the control, per task (RACE total) and per criterion. The random-source reports and
the verdicts go to the run's store through the pipeline's own cached stages
(:func:`~mi_utils.deep_research.pipeline.cached_report`, :func:`~mi_utils.deep_research.pipeline.cached_verdicts`:
the same keys and rows), so a rerun reads them back.

Everything here is evaluation of the judge: no cost of it counts in the pipeline's API cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..backends.base import Backend
from ..locking import file_lock
from ..store import JsonlStore
from .cache import StageCache
from .calls import Pricing
from .config import DeepResearchConfig
from .pipeline import baseline_synthesis_inputs, cached_report, cached_verdicts
from .race import RaceJudge, RaceRating
from .tasks import ResearchTask

__all__ = ["CONTROLS", "COMPARISONS", "degenerate_report", "donor_tasks", "judge_trust", "trust_counts"]

CONTROLS: tuple[str, ...] = ("right_sources", "random_sources", "degenerate")
COMPARISONS: tuple[tuple[str, str], ...] = (
    ("right_sources", "random_sources"),
    ("right_sources", "degenerate"),
    ("random_sources", "degenerate"),
)


def degenerate_report(task_prompt: str, repeats: int = 3) -> str:
    """The no-information control: the task text ``repeats`` times, one paragraph each."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    return "\n\n".join([task_prompt.strip()] * repeats)


def donor_tasks(task_ids: Sequence[str]) -> dict[str, str]:
    """``{task: the task whose sources its random-source report reads}``: the previous task in run order
    (the first task: the second), so adding tasks to a run never changes an earlier task's donor."""
    ids = list(task_ids)
    if len(ids) < 2:
        raise ValueError(f"the random-source control needs at least 2 tasks with sources, got {ids}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"task ids repeat: {ids}")
    return {t: ids[i - 1] if i else ids[1] for i, t in enumerate(ids)}


def judge_trust(
    tasks: Sequence[ResearchTask],
    result,
    *,
    predictor: Backend,
    judge: RaceJudge,
    config: DeepResearchConfig,
    pricing: Pricing,
    store: str | Path | None = None,
    reference: str = "baseline",
):
    """Rate the right-source, random-source and degenerate reports of every task with ``judge``.

    Args:
      tasks: the run's tasks (with rubrics); tasks without a finished ``reference`` report are skipped.
      result: the run's :class:`~mi_utils.deep_research.pipeline.DeepResearchResult` (or any object with
        its ``reports``, ``sources``, ``plans`` and ``store_path``, e.g. several task-by-task runs merged).
      predictor, config, pricing: those of the run (the random-source report is written like the baseline's).
      judge: the judge to check (ratings are absolute: no reference report).
      store: the run's store (default ``result.store_path``); held locked while this runs.
      reference: the setting whose report is the right-source one.

    Returns:
      ``(reports, criteria)``: ``pandas.DataFrame`` s, one row per (task, control) with ``race_total``,
      ``race_<dim>``, ``source_task``, ``report_chars``, ``synth_seconds``, ``judge_seconds`` and the
      report ``text``; and one row per (task, control, criterion) with its ``rating``.
    """
    import pandas as pd

    ready = [t for t in tasks if (t.id, reference) in result.reports and t.criteria is not None]
    donors = donor_tasks([t.id for t in ready])
    path = Path(store) if store is not None else Path(result.store_path)
    rep_rows, crit_rows = [], []
    with file_lock(path):
        cache = StageCache(JsonlStore(path))
        for task in ready:
            reports = {
                "right_sources": (result.reports[(task.id, reference)].text, task.id, 0.0),
                "random_sources": _random_report(
                    cache, task, result, donors[task.id], predictor=predictor, config=config, pricing=pricing
                ),
                "degenerate": (degenerate_report(task.prompt), None, 0.0),
            }
            for control, (text, source_task, synth_s) in reports.items():
                verdicts = cached_verdicts(cache, judge, task, control, text, None)
                rating = RaceRating(task.id, judge.name, verdicts, dict(task.criteria.dimension_weights))
                row = rating.to_row()
                rep_rows.append(
                    {
                        "task_id": task.id,
                        "control": control,
                        "source_task": source_task,
                        "judge": judge.name,
                        "report_chars": len(text),
                        "synth_seconds": synth_s,
                        "judge_seconds": sum(v.seconds for v in verdicts),
                        "race_total": row["race_total"],  # first of the race_* columns (the CSV order)
                        **{k: v for k, v in row.items() if k.startswith("race_") and "relative" not in k},
                        "text": text,
                    }
                )
                crit_rows += [
                    {
                        "task_id": task.id,
                        "control": control,
                        "criterion": i,
                        "dimension": v.dimension,
                        "weight": v.weight,
                        "rating": v.rating,
                    }
                    for i, v in enumerate(verdicts)
                ]
    return pd.DataFrame(rep_rows), pd.DataFrame(crit_rows)


def _random_report(cache, task, result, donor, *, predictor, config, pricing) -> tuple[str, str, float]:
    """The report written for ``task`` from ``donor``'s sources: ``(text, donor, seconds)`` (read back when stored)."""
    plan = result.plans[task.id]
    flat = [s for group in result.sources[donor] for s in group]
    messages, inputs = baseline_synthesis_inputs(task.prompt, plan, flat)
    report = cached_report(cache, predictor, task, plan, "random_sources", messages, inputs, config, pricing)
    return report.text, donor, report.call.seconds


def trust_counts(reports, criteria, tol: float = 1e-6):
    """Per comparison ``(first, second)`` of :data:`COMPARISONS`: how often ``first`` is rated above, level, below.

    Args:
      reports: :func:`judge_trust`'s per-report table (``task_id``, ``control``, ``race_total``).
      criteria: its per-criterion table (``task_id``, ``control``, ``criterion``, ``rating``; a table
        written before the rename, with ``score``, is read too).
      tol: ratings closer than this count as level.

    Returns:
      One row per (comparison, level): ``level`` is ``"task"`` (RACE totals) or ``"criterion"``;
      ``n`` pairs with both ratings, ``above``, ``level``, ``below``, ``share_above`` (``above / n``)
      and ``mean_gap`` (mean of first - second); both are empty (NaN in the frame) when ``n`` is 0,
      i.e. when a control is missing, never a number.
    """
    import numpy as np
    import pandas as pd

    out = []
    for unit, table, keys, col in (
        ("task", reports, ["task_id"], "race_total"),
        ("criterion", criteria.rename(columns={"score": "rating"}), ["task_id", "criterion"], "rating"),
    ):
        wide = table.pivot_table(index=keys, columns="control", values=col, aggfunc="first")
        for first, second in COMPARISONS:
            if first not in wide or second not in wide:
                gap = pd.Series(dtype=float)
            else:
                gap = (wide[first] - wide[second]).dropna()
            n = len(gap)
            out.append(
                {
                    "comparison": f"{first} > {second}",
                    "unit": unit,
                    "n": n,
                    "above": int((gap > tol).sum()),
                    "level": int((gap.abs() <= tol).sum()),
                    "below": int((gap < -tol).sum()),
                    "share_above": float((gap > tol).mean()) if n else None,
                    "mean_gap": float(np.mean(gap)) if n else None,
                }
            )
    return pd.DataFrame(out)
