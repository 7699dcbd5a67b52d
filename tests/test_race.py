"""RACE rating: criteria loading, the weighted arithmetic (hand-computed), rating parsing, judges on fakes,
the old (score) names."""

from __future__ import annotations

import numpy as np
import pytest

from mi_utils import _warn
from mi_utils.backends.base import Generation
from mi_utils.deep_research.race import (
    DIMENSIONS,
    Criterion,
    CriterionRating,
    RaceCriteria,
    RaceJudge,
    RaceRating,
    aggregate,
    load_race_criteria,
    parse_rating,
    rate_report,
)

from conftest import team_data_dir

WEIGHTS = {"comprehensiveness": 0.4, "insight": 0.3, "instruction_following": 0.2, "readability": 0.1}


def _cs(dim, w, s, r=None):
    return CriterionRating(dimension=dim, criterion=f"{dim}-{w}", weight=w, rating=s, reference_rating=r)


def test_aggregate_matches_a_hand_computation():
    scores = [
        _cs("comprehensiveness", 0.75, 8.0),
        _cs("comprehensiveness", 0.25, 4.0),  # 7.0
        _cs("insight", 1.0, 5.0),  # 5.0
        _cs("instruction_following", 0.5, 10.0),
        _cs("instruction_following", 0.5, 6.0),  # 8.0
        _cs("readability", 1.0, 9.0),  # 9.0
    ]
    agg = aggregate(scores, WEIGHTS)
    assert agg["dimensions"] == pytest.approx(
        {"comprehensiveness": 7.0, "insight": 5.0, "instruction_following": 8.0, "readability": 9.0}
    )
    assert agg["total"] == pytest.approx(0.4 * 7 + 0.3 * 5 + 0.2 * 8 + 0.1 * 9)  # 6.8
    assert agg["coverage"] == pytest.approx(1.0)
    assert agg["relative"] is None and agg["reference_total"] is None


def test_missing_scores_drop_out_and_dimension_weights_renormalise():
    scores = [
        _cs("comprehensiveness", 0.75, 8.0),
        _cs("comprehensiveness", 0.25, None),  # 8.0, 3/4 of its weight scored
        _cs("insight", 1.0, None),  # unscored dimension
        _cs("instruction_following", 1.0, 6.0),
        _cs("readability", 1.0, 9.0),
    ]
    agg = aggregate(scores, WEIGHTS)
    assert agg["dimensions"]["insight"] is None
    assert agg["total"] == pytest.approx((0.4 * 8 + 0.2 * 6 + 0.1 * 9) / 0.7)
    assert agg["coverage"] == pytest.approx(0.4 * 0.75 + 0.2 + 0.1)
    assert agg["n_scored"] == 3 and agg["n_criteria"] == 5


def test_pairwise_relative_is_target_over_target_plus_reference():
    scores = [
        _cs("comprehensiveness", 1.0, 6.0, 4.0),
        _cs("insight", 1.0, 3.0, 6.0),
        _cs("instruction_following", 1.0, 8.0, 8.0),
        _cs("readability", 1.0, 5.0, None),  # no reference score: left out of both sides
    ]
    agg = aggregate(scores, WEIGHTS)
    t = (0.4 * 6 + 0.3 * 3 + 0.2 * 8) / 0.9
    r = (0.4 * 4 + 0.3 * 6 + 0.2 * 8) / 0.9
    assert agg["reference_total"] == pytest.approx(r)
    assert agg["relative"] == pytest.approx(t / (t + r))
    assert agg["relative_dimensions"]["comprehensiveness"] == pytest.approx(0.6)
    assert agg["relative_dimensions"]["instruction_following"] == pytest.approx(0.5)
    assert agg["relative_dimensions"]["readability"] is None
    # the absolute total still uses every target score
    assert agg["total"] == pytest.approx(0.4 * 6 + 0.3 * 3 + 0.2 * 8 + 0.1 * 5)
    row = RaceRating("t", "j", scores, WEIGHTS).to_row()
    assert row["race_relative"] == pytest.approx(t / (t + r))
    assert set(row) >= {f"race_{d}" for d in DIMENSIONS} | {"race_total", "race_coverage", "race_unscored"}


def test_criteria_round_trip_and_validation():
    d = {
        "id": 7,
        "prompt": "p",
        "dimension_weight": {"insight": 1.0},
        "criterions": {"insight": [{"criterion": " c1 ", "explanation": "e", "weight": 1.0}]},
    }
    c = RaceCriteria.from_dict(d)
    assert c.task_id == "7" and c.criteria == (Criterion("insight", "c1", 1.0, "e"),)
    assert RaceCriteria.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown RACE dimensions"):
        RaceCriteria.from_dict({**d, "criterions": {"style": d["criterions"]["insight"]}})
    with pytest.raises(ValueError, match="weights"):
        RaceCriteria.from_dict({**d, "dimension_weight": {"insight": -1}})


@pytest.mark.skipif(
    not (team_data_dir() / "deepresearch_bench" / "criteria.jsonl").exists(),
    reason="DeepResearch Bench criteria not available",
)
def test_deepresearch_bench_criteria_load_with_weights_that_sum_to_one():
    crit = load_race_criteria()
    assert len(crit) == 100
    for c in crit.values():
        assert sum(c.dimension_weights.values()) == pytest.approx(1.0, abs=0.02)
        for dim in DIMENSIONS:
            assert sum(x.weight for x in c.dimension(dim)) == pytest.approx(1.0, abs=0.02)
    assert set(load_race_criteria(ids=[54, 99])) == {"54", "99"}


@pytest.mark.parametrize(
    "text, score, method",
    [
        ("7/10", 7.0, "fraction"),
        ("I would give it 8.5 / 10 overall.", 8.5, "fraction"),
        ('{"score": 6, "reason": "ok"}', 6.0, "json"),
        ("Score: 4", 4.0, "regex"),
        ("3", 3.0, "regex"),
        ("10/10", 10.0, "fraction"),
        ("0/10 - nothing relevant", 0.0, "fraction"),
    ],
)
def test_parse_rating_reads_common_forms(text, score, method):
    assert parse_rating(text)[:2] == (score, method)


@pytest.mark.parametrize("text", ["", "The report is good.", "12/10", '{"score": 42}', "95% of the criterion"])
def test_parse_rating_rejects_missing_or_out_of_range(text):
    s, _, err = parse_rating(text)
    assert s is None and err


class FakeGenerator:
    """Replies from a function of the prompt; usage counted like an API."""

    model_name = "fake-judge"

    def __init__(self, reply):
        self.reply = reply
        self.prompts = []

    def generate(self, prompts, params):
        out = []
        for msgs in prompts:
            self.prompts.append(msgs[-1]["content"])
            text = self.reply(msgs[-1]["content"])
            out.append(
                [Generation(text, [], [], params, meta={"usage": {"prompt_tokens": 100, "completion_tokens": 3}})]
            )
        return out


def _criteria():
    return RaceCriteria(
        "t1",
        "Write about X.",
        dict(WEIGHTS),
        tuple(Criterion(d, f"criterion {d}", 1.0, "explained") for d in DIMENSIONS),
    )


def test_generate_judge_scores_each_criterion_and_pairwise_sees_both_reports():
    def reply(prompt):
        if "Report 1:" in prompt:
            return "8/10" if "Score Report 1" in prompt else "4/10"
        if "Criterion (insight and depth)" in prompt:
            return "The report is fine."  # no score: parse failure
        return "6/10"

    backend = FakeGenerator(reply)
    judge = RaceJudge(backend, max_report_chars=10)
    res = rate_report(judge, _criteria(), "A long report text")
    assert len(backend.prompts) == 4
    by_dim = {c.dimension: c for c in res.criteria}
    assert by_dim["insight"].rating is None and by_dim["insight"].parse_error
    assert by_dim["readability"].rating == 6.0 and by_dim["readability"].truncated
    assert "A long rep" in backend.prompts[0] and "A long report" not in backend.prompts[0]
    assert res.total == pytest.approx(6.0) and res.coverage == pytest.approx(0.7)
    assert res.input_tokens == 400 and res.output_tokens == 12

    pair = rate_report(RaceJudge(FakeGenerator(reply)), _criteria(), "target", reference="reference")
    assert all(c.rating == 8.0 and c.reference_rating == 4.0 for c in pair.criteria)
    assert pair.relative == pytest.approx(8 / 12)
    assert all(c.input_tokens == 200 for c in pair.criteria)  # two calls per criterion


class FakeScorer:
    """A local scorer whose log-probs favour the continuation "7/10"."""

    model_name = "fake-scorer"

    def encode_chat(self, messages):
        return [1, 2, 3]

    def encode(self, text):
        return [100 + int(text.split("/")[0]), 99]

    def score(self, pairs):
        out = []
        for _prefix, cont in pairs:
            k = cont[0] - 100
            out.append(np.array([-abs(k - 7) * 1.0, -0.1]))
        return out

    def generate(self, prompts, params):  # pragma: no cover - not used in logprob mode
        raise AssertionError("logprob mode must not generate")


def test_logprob_judge_returns_the_expected_score_under_the_judge():
    res = rate_report(RaceJudge(FakeScorer(), mode="logprob"), _criteria(), "report")
    p = np.exp(-np.abs(np.arange(11) - 7.0))
    expected = float(np.dot(np.arange(11), p / p.sum()))
    for c in res.criteria:
        assert c.method == "logprob" and c.rating == pytest.approx(expected, abs=1e-5)
        assert sum(c.distribution) == pytest.approx(1.0, abs=1e-4)
        assert c.input_tokens == 3 + 22 and c.output_tokens == 0
    assert res.total == pytest.approx(expected, abs=1e-5)


def test_logprob_mode_refuses_chat_apis_with_a_clear_error():
    from mi_utils.backends import OpenAIChatBackend

    with pytest.raises(TypeError, match="mode='generate'"):
        RaceJudge(OpenAIChatBackend("gpt-4o-mini"), mode="logprob").rate(
            "task", "report", Criterion("insight", "c", 1.0)
        )
    with pytest.raises(ValueError):
        RaceJudge(FakeScorer(), mode="vibes")


def test_old_score_names_still_work_and_warn_once_with_the_new_name(monkeypatch):
    """*score* means log-probs in this package; RACE's marks are ratings. The old names keep working."""
    import mi_utils.deep_research as dr
    import mi_utils.deep_research.race as race

    monkeypatch.setattr(_warn, "WARNED", set())
    for old, new in race._RENAMED.items():
        with pytest.warns(DeprecationWarning, match=new):
            assert getattr(race, old) is getattr(race, new)
    with pytest.warns(
        DeprecationWarning, match=r"mi_utils\.deep_research\.RaceScore is deprecated; use RaceRating"
    ) as got:
        assert dr.RaceScore is RaceRating
    assert got[0].filename == __file__  # the user's line, so Python's default filters show it
    # a verdict stored with the old keys loads, warning once; the old fields read the new ones
    old = {"dimension": "insight", "criterion": "c", "weight": 1.0, "score": 7.0, "reference_score": 5.0}
    with pytest.warns(DeprecationWarning, match="'rating', 'reference_rating'"):
        v = CriterionRating.from_dict(old)
    assert (v.rating, v.reference_rating) == (7.0, 5.0)
    assert CriterionRating.from_dict(v.to_dict()) == v
    with pytest.warns(DeprecationWarning, match=r"CriterionRating\.rating"):
        assert v.score == 7.0
    judge = RaceJudge(FakeScorer(), mode="logprob")
    with pytest.warns(DeprecationWarning, match=r"RaceJudge\.rate"):
        assert judge.score("task", "report", Criterion("insight", "c", 1.0)).rating == pytest.approx(
            judge.rate("task", "report", Criterion("insight", "c", 1.0)).rating
        )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        race.parse_score("7/10")  # once per session: no second warning
