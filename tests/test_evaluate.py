"""Evaluation: accuracy, normalised matching, LLM judge parsing, perplexity, truncation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mi_utils.backends.base import Generation, SamplingParams
from mi_utils.data.records import Record
from mi_utils.evaluate import (
    JUDGE_PROMPT,
    ContextTruncatedWarning,
    accuracy,
    judge_free_form,
    judge_many,
    mc_correct,
    normalize_text,
    normalized_match,
    parse_verdict,
    perplexity,
    reference_perplexities,
    reference_perplexity,
    reference_token_pairs,
    token_f1,
    truncate_context,
)
from mi_utils.prompts import choice_prediction_prefix

MC = Record(id="m", context="c", query="q", answer="b", options=("a", "b", "c"), task="multiple_choice")


# --------------------------------------------------------------------------- accuracy
def test_mc_correct():
    assert mc_correct(1, MC) is True
    assert mc_correct(0, MC) is False
    assert mc_correct(None, MC) is False
    assert mc_correct(np.int64(1), MC) is True
    with pytest.raises(ValueError, match="out of range"):
        mc_correct(3, MC)
    with pytest.raises(ValueError):
        mc_correct(True, MC)
    with pytest.raises(ValueError, match="no options"):
        mc_correct(0, Record(id="f", context="c", query="q", answer="a"))


def test_accuracy():
    assert accuracy([True, False, True, True]) == 0.75
    assert accuracy(np.array([1, 0])) == 0.5
    assert accuracy(x for x in [True]) == 1.0
    with pytest.raises(ValueError, match="no values"):
        accuracy([])
    with pytest.raises(ValueError, match="None"):
        accuracy([True, None])
    with pytest.raises(ValueError, match="booleans"):
        accuracy([0.3])


# ------------------------------------------------------------------- normalised match
def test_normalize_text_keeps_numbers_whole():
    assert normalize_text("The  Answer: 1,577.5 (approx.)!") == "answer 1577.5 approx"
    assert normalize_text("An apple, a day") == "apple day"


def test_normalize_text_option_mode_keeps_inner_punctuation_and_articles():
    keep = {"drop_punctuation": False, "drop_articles": False}
    assert normalize_text(' "The  C++ Book." ', **keep) == "the c++ book"
    assert normalize_text("1,577.5!", **keep) == "1,577.5"
    assert normalize_text("C++") == normalize_text("C") == "c"  # the default mode merges them


@pytest.mark.parametrize(
    "prediction, reference",
    [
        ("Paris", "paris."),
        ("The dose is 50 mg twice daily.", "50 mg twice daily"),
        ("1577", "$1,577 million"),
        ("$1,577 million", "1577"),
        ("1.577 billion dollars", "$1,577 million"),
        ("about 1.58 billion", "$1,577 million"),
        ("USD 1,577M", "$1,577 million"),
        ("12.5%", "12.5 percent"),
        ("Yes, it was.", "yes"),
        ("0.50", "0.5"),
    ],
)
def test_normalized_match_positive(prediction, reference):
    assert normalized_match(prediction, reference)


@pytest.mark.parametrize(
    "prediction, reference",
    [
        ("London", "Paris"),
        ("1578", "$1,577 million"),
        ("2 billion", "$1,577 million"),
        ("1,600 million", "$1,577 million"),
        ("15775", "1,577.5"),
        ("No, not yes", "yes"),
        ("", "Paris"),
        (None, "Paris"),
        ("50 mg once daily", "50 mg twice daily"),
    ],
)
def test_normalized_match_negative(prediction, reference):
    assert not normalized_match(prediction, reference)


def test_normalized_match_options():
    assert not normalized_match("The capital is Paris", "Paris", contains=False)
    assert normalized_match("1577.9", "1577", rel_tol=1e-3)
    with pytest.raises(ValueError, match="empty"):
        normalized_match("x", " ... ")


def test_token_f1():
    assert token_f1("the cat sat", "cat sat") == 1.0
    assert token_f1("cat", "cat sat") == pytest.approx(2 / 3)
    assert token_f1(None, "x") == 0.0
    with pytest.raises(ValueError):
        token_f1("x", "")


# ------------------------------------------------------------------------------ judge
class FakeJudge:
    model_name = "fake-judge"
    roles = frozenset({"generator"})

    def __init__(self, replies):
        self.replies = list(replies)
        self.prompts = []
        self.params = None

    def generate(self, prompts, params):
        self.prompts.extend(prompts)
        self.params = params
        return [
            [
                Generation(
                    text=self.replies.pop(0),
                    token_ids=[],
                    prompt_ids=[],
                    sampling=params,
                    meta={"usage": {"prompt_tokens": 10, "completion_tokens": 3}},
                )
            ]
            for _ in prompts
        ]


@pytest.mark.parametrize(
    "reply, verdict",
    [
        ('{"correct": true, "reason": "same number"}', True),
        ('```json\n{"correct": false, "reason": "wrong year"}\n```', False),
        ("{'correct': 'yes', 'reason': 'ok'}", True),
        ('{"is_correct": 0}', False),
        ('{"verdict": "Incorrect"}', False),
        ('Verdict follows. "correct": true, "reason": "cut off', True),
        ("Correct. The figures agree.", True),
        ("Incorrect - it names another drug.", False),
        ("not correct", False),
        ("No, it names another drug.", False),
        ("YES", True),
    ],
)
def test_parse_verdict(reply, verdict):
    correct, _, err = parse_verdict(reply)
    assert correct is verdict and err is None


@pytest.mark.parametrize(
    "reply", ["", "I cannot decide.", "No idea.", "Correct answer unclear", '{"correct": "maybe"}', '{"reason": "x"}']
)
def test_parse_verdict_unparsable(reply):
    correct, _, err = parse_verdict(reply)
    assert correct is None and err


def test_judge_free_form_with_fake_backend():
    judge = FakeJudge(['{"correct": true, "reason": "1577 million matches"}'])
    r = judge_free_form(judge, "Revenue?", "$1,577 million", "1.577 billion")
    assert r.correct is True and r.reason == "1577 million matches" and r.parse_error is None
    assert r.judge == "fake-judge" and r.meta["usage"]["prompt_tokens"] == 10
    content = judge.prompts[0][0]["content"]
    assert "Revenue?" in content and "$1,577 million" in content and "1.577 billion" in content
    assert judge.params.temperature == 0


def test_judge_many_skips_missing_predictions_and_marks_unparsed():
    judge = FakeJudge(["no idea", '{"correct": false, "reason": "no"}'])
    rs = judge_many(judge, [("q1", "r1", "p1"), ("q2", "r2", None), ("q3", "r3", "p3")], system="You are strict.")
    assert len(judge.prompts) == 2 and judge.prompts[0][0] == {"role": "system", "content": "You are strict."}
    assert rs[0].correct is None and rs[0].parse_error and rs[0].raw == "no idea"
    assert rs[1].correct is False and rs[1].raw == "" and "no prediction" in rs[1].reason
    assert rs[2].correct is False
    with pytest.raises(ValueError, match="reference"):
        judge_many(judge, [("q", "r", "p")], prompt="{query} {prediction}")
    with pytest.raises(ValueError, match="n=1"):
        judge_many(judge, [("q", "r", "p")], SamplingParams(n=2))


def test_judge_prompt_braces_in_inputs_are_safe():
    judge = FakeJudge(['{"correct": true}'])
    judge_free_form(judge, "q {x}", "{reference}", "{'a': 1}")
    assert "{reference}" in judge.prompts[0][0]["content"] and "{'a': 1}" in judge.prompts[0][0]["content"]
    assert "{query}" in JUDGE_PROMPT


# ------------------------------------------------------------------------- perplexity
def test_perplexity():
    assert perplexity([math.log(0.5)] * 3) == pytest.approx(2.0)
    assert perplexity(np.array([0.0])) == 1.0
    with pytest.raises(ValueError, match="no log-probs"):
        perplexity([])
    with pytest.raises(ValueError, match="NaN or inf"):
        perplexity([-1.0, float("nan")])
    with pytest.raises(ValueError, match="<= 0"):
        perplexity([1.2, 0.3])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-50, max_value=0), min_size=1, max_size=50))
def test_perplexity_is_finite_and_at_least_one(lps):
    p = perplexity(lps)
    assert np.isfinite(p) and p >= 1.0 - 1e-12


class CharScorer:
    model_name = "char"
    roles = frozenset({"scorer"})
    bos_ids = [1]

    def encode(self, text, special=False):
        return [ord(c) + 10 for c in text]

    def score(self, pairs):
        self.pairs = pairs
        return [np.full(len(c), -0.5) for _, c in pairs]


def test_reference_token_pairs_and_perplexity_with_fake_scorer():
    sc = CharScorer()
    (pair,) = reference_token_pairs(sc, ["sum"], "q", " ans ")
    assert pair == ([1] + sc.encode(choice_prediction_prefix("sum", "q")), sc.encode(" ans"))
    assert reference_perplexity(sc, "sum", "q", "ans") == pytest.approx(math.exp(0.5))
    ppl = reference_perplexities(sc, ["a", "b"], "q", "ans")
    assert ppl.shape == (2,) and len(sc.pairs) == 2
    with pytest.raises(ValueError, match="empty"):
        reference_perplexity(sc, "s", "q", "  ")
    with pytest.raises(TypeError, match="cannot score prompts for reference perplexity"):
        reference_perplexity(FakeJudge([]), "s", "q", "a")


# ------------------------------------------------------------------------- truncation
class CharTokenizer:
    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


class FakeBackend:
    tokenizer = CharTokenizer()


def test_truncate_context_fits_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert truncate_context(CharTokenizer(), "short", 10) == ("short", False)


def test_truncate_context_warns_with_lengths():
    with pytest.warns(ContextTruncatedWarning, match=r"context of 26 tokens exceeds the limit of 10"):
        text, cut = truncate_context(FakeBackend().tokenizer, "abcdefghijklmnopqrstuvwxyz", 10)
    assert (text, cut) == ("abcdefghij", True)
    with pytest.warns(ContextTruncatedWarning, match="last 5"):
        assert truncate_context(CharTokenizer(), "abcdefghij", 5, side="tail") == ("fghij", True)
    with pytest.raises(ValueError):
        truncate_context(CharTokenizer(), "x", 0)
    with pytest.raises(TypeError, match="tokenizer"):
        truncate_context(object(), "x", 3)


# ------------------------------------------------------------------- real model (slow)
@pytest.mark.slow
def test_reference_perplexity_lower_when_summary_has_the_answer(hf_backend):
    query = "What dose of metoprolol was the patient prescribed?"
    summaries = [
        "The patient was prescribed metoprolol 50 mg twice daily.",
        "The patient was seen in clinic on a Tuesday.",
    ]
    informed, blind = reference_perplexities(hf_backend, summaries, query, "50 mg twice daily")
    assert 1.0 < informed < blind


@pytest.mark.slow
def test_truncate_context_real_tokenizer(hf_backend):
    text = "The patient was admitted with chest pain. " * 40
    with pytest.warns(ContextTruncatedWarning):
        out, cut = truncate_context(hf_backend.tokenizer, text, 50)
    assert cut and len(hf_backend.encode(out)) <= 50 and text.startswith(out.strip()[:30])
