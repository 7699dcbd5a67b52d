"""The judge's trust check (mi_utils.deep_research.trust) on fake models: the controls it builds, the
counts it reports, and resuming from the store."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from mi_utils.backends.base import Generation
from mi_utils.deep_research import DeepResearchConfig, Pricing, ResearchTask, Setting, run_deep_research
from mi_utils.deep_research.race import Criterion, RaceCriteria, RaceJudge
from mi_utils.deep_research.retrieval import Source
from mi_utils.deep_research.trust import COMPARISONS, degenerate_report, donor_tasks, judge_trust, trust_counts


class Fake:
    """A generator replying ``reply(prompt)``; counts its calls."""

    def __init__(self, name, reply):
        self.model_name = name
        self.reply = reply
        self.prompts: list[str] = []

    def generate(self, prompts, params):
        out = []
        for msgs in prompts:
            self.prompts.append(msgs[0]["content"])
            usage = {"prompt_tokens": 100, "completion_tokens": 10}
            out.append([Generation(self.reply(msgs[0]["content"]), [], [], params, meta={"usage": usage})])
        return out


def writer(prompt):
    if "planner of a research assistant" in prompt:
        topic = re.search(r"Research the (\w+) topic", prompt).group(1)
        return json.dumps({"queries": [{"query": topic, "subtask": f"find {topic}"}], "strategy": "s"})
    # a report that says what its sources were about
    return "Report: " + " ".join(sorted(set(re.findall(r"facts about (\w+)", prompt))))


def judge_reply(prompt):
    """Knows the subject: 9 for a report on the task's topic, 4 for one on another topic, 1 for no report."""
    topic = re.search(r"Research the (\w+) topic", prompt).group(1)
    report = prompt.split("<<<")[1]
    if "Report:" not in report:
        return "1/10"
    return "9/10" if topic in report else "4/10"


class Retriever:
    name = "fake"

    def search(self, query, k):
        return [
            Source(f"{query}#{j}", f"{query} {j}", f"facts about {query}. " * 5, 1.0, j, self.name, 0) for j in range(k)
        ]


def _task(topic):
    crit = RaceCriteria(
        topic,
        "t",
        {"comprehensiveness": 0.5, "readability": 0.5},
        (Criterion("comprehensiveness", "covers", 1.0), Criterion("readability", "reads", 1.0)),
    )
    return ResearchTask(topic, f"Research the {topic} topic.", crit)


TASKS = [_task("alpha"), _task("beta"), _task("gamma")]
CONFIG = DeepResearchConfig(n_queries=1, sources_per_query=2, max_source_chars=200)


def _run(tmp_path):
    predictor, judge_model = Fake("fake-predictor", writer), Fake("fake-judge", judge_reply)
    pricing = Pricing(priced_as={"fake-predictor": "gpt-4o", "fake-judge": "gpt-4o-mini"})
    judge = RaceJudge(judge_model)
    result = run_deep_research(
        TASKS,
        predictor=predictor,
        settings=[Setting("baseline")],
        retriever=Retriever(),
        store=tmp_path / "s.jsonl",
        config=CONFIG,
        pricing=pricing,
        judge=judge,
        reference=None,
        progress=False,
    )
    return result, predictor, judge_model, dict(judge=judge, config=CONFIG, pricing=pricing)


def test_controls_are_rated_and_counted(tmp_path):
    result, predictor, judge_model, kw = _run(tmp_path)
    n_judge = len(judge_model.prompts)
    reports, criteria = judge_trust(TASKS, result, predictor=predictor, **kw)
    assert len(reports) == 3 * 3 and len(criteria) == 3 * 3 * 2
    by = reports.set_index(["task_id", "control"])
    # the random-source report of each task reads the previous task's sources (the first: the second's)
    assert by.loc[("alpha", "random_sources"), "text"] == "Report: beta"
    assert by.loc[("gamma", "random_sources"), "source_task"] == "beta"
    assert by.loc[("alpha", "right_sources"), "text"] == result.reports[("alpha", "baseline")].text == "Report: alpha"
    assert by.loc[("beta", "degenerate"), "text"] == degenerate_report("Research the beta topic.")
    assert by.xs("right_sources", level="control")["race_total"].tolist() == pytest.approx([9.0] * 3)
    assert by.xs("random_sources", level="control")["race_total"].tolist() == pytest.approx([4.0] * 3)
    assert by.xs("degenerate", level="control")["race_total"].tolist() == pytest.approx([1.0] * 3)
    # the right-source report's verdicts are the pipeline's (read back): only the two controls were judged
    assert len(judge_model.prompts) - n_judge == 3 * 2 * 2

    counts = trust_counts(reports, criteria).set_index(["comparison", "unit"])
    for first, second in COMPARISONS:
        assert counts.loc[(f"{first} > {second}", "task"), ["n", "above", "level", "below"]].tolist() == [3, 3, 0, 0]
        assert counts.loc[(f"{first} > {second}", "criterion"), ["n", "above"]].tolist() == [6, 6]
    assert counts.loc[("right_sources > random_sources", "task"), "mean_gap"] == pytest.approx(5.0)

    # a rerun reads every report and verdict back from the store
    n_pred, n_judge = len(predictor.prompts), len(judge_model.prompts)
    again, _ = judge_trust(TASKS, result, predictor=predictor, **kw)
    assert (len(predictor.prompts), len(judge_model.prompts)) == (n_pred, n_judge)
    pd.testing.assert_series_equal(again["race_total"], reports["race_total"])


def test_a_judge_that_cannot_tell_them_apart_is_counted_level(tmp_path):
    result, predictor, _, kw = _run(tmp_path)
    kw["judge"] = RaceJudge(Fake("flat-judge", lambda p: "8/10"))
    reports, criteria = judge_trust(TASKS, result, predictor=predictor, **kw)
    counts = trust_counts(reports, criteria)
    assert (counts["above"] == 0).all() and (counts["below"] == 0).all() and (counts["level"] == counts["n"]).all()
    assert (counts["share_above"] == 0).all()


def test_trust_counts_ties_missing_ratings_and_absent_controls():
    reports = pd.DataFrame(
        {
            "task_id": ["a", "a", "b", "b", "c"],
            "control": ["right_sources", "random_sources"] * 2 + ["right_sources"],
            "race_total": [7.0, 5.0, 6.0, 6.0, 9.0],
        }
    )
    criteria = pd.DataFrame(
        {
            "task_id": ["a", "a"],
            "control": ["right_sources", "random_sources"],
            "criterion": [0, 0],
            "rating": [3.0, None],
        }
    )
    c = trust_counts(reports, criteria).set_index(["comparison", "unit"])
    # a criteria table written before "score" became "rating" counts the same
    legacy = trust_counts(reports, criteria.rename(columns={"rating": "score"})).set_index(["comparison", "unit"])
    pd.testing.assert_frame_equal(legacy, c)
    row = c.loc[("right_sources > random_sources", "task")]
    assert (row["n"], row["above"], row["level"], row["below"]) == (2, 1, 1, 0)  # task c has no random report
    assert row["share_above"] == pytest.approx(0.5) and row["mean_gap"] == pytest.approx(1.0)
    assert c.loc[("right_sources > degenerate", "task"), "n"] == 0  # no degenerate control at all
    assert pd.isna(c.loc[("right_sources > degenerate", "task"), "share_above"])
    assert c.loc[("right_sources > random_sources", "criterion"), "n"] == 0  # the missing rating drops the pair


def test_bad_inputs_name_the_fix():
    with pytest.raises(ValueError, match="at least 2 tasks"):
        donor_tasks(["only"])
    with pytest.raises(ValueError, match="repeat"):
        donor_tasks(["a", "a"])
    with pytest.raises(ValueError, match="repeats"):
        degenerate_report("x", 0)
    assert donor_tasks(["a", "b", "c"]) == {"a": "b", "b": "a", "c": "b"}
    assert donor_tasks(["a", "b"]) == {"a": "b", "b": "a"}  # adding "c" left these as they were
