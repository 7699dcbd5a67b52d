"""Predictor: log-likelihood choice, majority vote, answer parsing, generative mode."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mi_utils.backends.base import Generation, SamplingParams
from mi_utils.compress import Summary
from mi_utils.data.records import Record
from mi_utils.predict import (
    ChoiceScores,
    choice_token_pairs,
    choose_option,
    extract_json_objects,
    generate_answer,
    generate_answers,
    match_option,
    parse_answer,
    predict_choice_records,
    predictor_texts,
    vote,
    vote_text,
)
from mi_utils.prompts import choice_prediction_prefix, prediction_messages

OPTS = ["10 mg once daily", "50 mg twice daily", "200 mg three times daily", "25 mg at night"]


# ------------------------------------------------------------------------------ fakes
class CharScorer:
    """Characters as token ids; an option scores well when its text appears in the prefix."""

    model_name = "char-scorer"
    roles = frozenset({"scorer"})
    bos_ids = [1]

    def __init__(self):
        self.calls: list[list[tuple[list[int], list[int]]]] = []

    def encode(self, text, special=False):
        return [ord(c) + 10 for c in text]

    def decode(self, ids):
        return "".join(chr(i - 10) for i in ids if i >= 10)

    def score(self, pairs):
        self.calls.append([(list(p), list(c)) for p, c in pairs])
        out = []
        for p, c in pairs:
            prefix, cont = self.decode(p), self.decode(c).strip()
            out.append(np.full(len(c), -0.1 if cont in prefix else -2.0, dtype=np.float64))
        return out


class ScriptedScorer(CharScorer):
    """Returns the given log-prob arrays, in order."""

    def __init__(self, arrays):
        super().__init__()
        self.arrays = arrays

    def score(self, pairs):
        self.calls.append(list(pairs))
        return [np.asarray(a, dtype=np.float64) for a in self.arrays[: len(pairs)]]


class FakeGenerator:
    """``generate`` returns scripted replies, one per prompt, and records the prompts."""

    model_name = "fake-gen"
    roles = frozenset({"generator"})

    def __init__(self, replies):
        self.replies = list(replies)
        self.prompts = []

    def generate(self, prompts, params):
        self.prompts.extend(prompts)
        out = []
        for _ in prompts:
            text = self.replies.pop(0)
            out.append([Generation(text=text, token_ids=[], prompt_ids=[], sampling=params, meta={"k": 1})])
        return out


# ------------------------------------------------------------------------ choice mode
def test_choice_token_pairs_shared_prefix_and_separate_seam():
    sc = CharScorer()
    prefix, conts = choice_token_pairs(sc, "S", "Q?", ["x", " y "])
    assert prefix == [1] + sc.encode(choice_prediction_prefix("S", "Q?"))
    assert conts == [sc.encode(" x"), sc.encode(" y")]


def test_choose_option_one_score_call_picks_mentioned_option():
    sc = CharScorer()
    res = choose_option(sc, "The patient takes 50 mg twice daily.", "What dose?", OPTS)
    assert len(sc.calls) == 1 and len(sc.calls[0]) == len(OPTS)
    assert len({tuple(p) for p, _ in sc.calls[0]}) == 1  # one shared prefix
    assert res.chosen == {"sum": 1, "mean": 1}
    assert res.index("sum") == 1 and res.n_tokens.tolist() == [len(" " + o) for o in OPTS]
    np.testing.assert_allclose(res.mean_logprobs, res.sum_logprobs / res.n_tokens)


def test_choose_option_sum_and_mean_can_disagree():
    # option 0: one token at -1.0 (sum -1, mean -1); option 1: four tokens at -0.5 (sum -2, mean -0.5)
    sc = ScriptedScorer([[-1.0], [-0.5] * 4])
    res = choose_option(sc, "s", "q", ["a", "bbbb"])
    assert res.chosen == {"sum": 0, "mean": 1}
    assert res.scores("mean").tolist() == [-1.0, -0.5]
    with pytest.raises(ValueError, match="unknown rule"):
        res.index("max")


def test_choose_option_accepts_summary_objects_and_round_trips():
    s = Summary(record_id="r", sample_index=0, text="Alice likes mango.", n_tokens=4, compressor="x")
    res = choose_option(CharScorer(), s, "Fruit?", ["apple", "mango"])
    assert res.index() == 1
    again = ChoiceScores.from_dict(json.loads(json.dumps(res.to_dict())))
    assert again.chosen == res.chosen and np.array_equal(again.sum_logprobs, res.sum_logprobs)


@pytest.mark.parametrize("options", [[], ["ok", "  "], "AB"])
def test_choose_option_rejects_bad_options(options):
    with pytest.raises(ValueError):
        choose_option(CharScorer(), "s", "q", options)


def test_choose_option_rejects_non_finite_scores():
    with pytest.raises(ValueError, match="non-finite"):
        choose_option(ScriptedScorer([[-1.0], [np.nan]]), "s", "q", ["a", "b"])


def test_choose_option_needs_a_local_scorer():
    with pytest.raises(TypeError, match="cannot score prompts"):
        choose_option(FakeGenerator([]), "s", "q", ["a", "b"])


# ------------------------------------------------------------------------------- vote
def test_vote_majority():
    assert vote([2, 1, 2]) == 2
    assert vote([0]) == 0


def test_vote_tie_broken_by_summed_scores():
    scores = [np.array([-1.0, -5.0]), np.array([-4.0, -2.0])]  # totals: -5 vs -7
    assert vote([0, 1], scores) == 0
    scores = [np.array([-3.0, -1.0]), np.array([-4.0, -2.0])]  # totals: -7 vs -3
    assert vote([0, 1], scores) == 1


def test_vote_remaining_tie_goes_to_lowest_index():
    assert vote([3, 1]) == 1
    assert vote([3, 1], [np.zeros(4), np.zeros(4)]) == 1


def test_vote_abstentions_and_errors():
    assert vote([None, 2, None]) == 2
    assert vote([None, None]) is None
    with pytest.raises(ValueError, match="empty"):
        vote([])
    with pytest.raises(ValueError):
        vote([True, 1])
    with pytest.raises(ValueError, match="one per summary"):
        vote([0, 1], [np.zeros(2)])


# --------------------------------------------------------------------------- vote_text
def test_vote_text_majority_over_normalised_answers():
    # "The Paris." and "paris" are one answer; the index returned is that group's first answer
    assert vote_text(["London", "The Paris.", "paris"]) == 1
    assert vote_text(["paris", "London", "PARIS!"]) == 0
    assert vote_text(["London"]) == 0


def test_vote_text_ties_go_to_the_earliest_answer():
    assert vote_text(["Rome", "Paris"]) == 0
    assert vote_text(["Rome", "Paris", "paris", "rome"]) == 0
    assert vote_text([None, "Paris", "Rome"]) == 1


def test_vote_text_empty_answers_abstain():
    assert vote_text([]) is None
    assert vote_text([None, "", "  "]) is None
    assert vote_text(["the", ".", None]) is None  # empty after normalisation
    assert vote_text([None, "", "Rome", "rome", "Paris"]) == 2
    with pytest.raises(TypeError, match="str or None"):
        vote_text(["Paris", 3])


def _inline_text_vote(answers):
    """The runner's former inline majority over normalised answers (the reference for vote_text)."""
    from collections import Counter

    from mi_utils.evaluate import normalize_text

    norm = [normalize_text(a) if a else "" for a in answers]
    counts = Counter(n for n in norm if n)
    win = max(counts, key=lambda n: (counts[n], -norm.index(n))) if counts else None
    return norm.index(win) if win is not None else None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.sampled_from(["Paris", "the paris.", "Rome", "ROME!", "", "a", "1,000", "1000", "C++", "c"]),
            st.text(max_size=6),
        ),
        max_size=7,
    )
)
def test_vote_text_matches_the_inline_majority(answers):
    assert vote_text(answers) == _inline_text_vote(answers)


def test_predict_choice_records_votes_and_stores(tmp_path):
    recs = [
        Record(id="a", context="c", query="Dose?", answer=OPTS[1], options=tuple(OPTS), task="multiple_choice"),
        Record(id="b", context="c", query="Fruit?", answer="apple", options=("apple", "mango"), task="multiple_choice"),
    ]
    sums = [
        ["50 mg twice daily it is.", "Given 50 mg twice daily.", "25 mg at night."],
        ["She likes mango.", "Nothing relevant."],  # second: all tie -> lowest index (apple)
    ]
    sc = CharScorer()
    res = predict_choice_records(sc, recs, sums, progress=False, store=tmp_path / "p.jsonl")
    assert len(sc.calls) == 2  # one score call per record
    assert [r.choices for r in res] == [[1, 1, 3], [1, 0]]
    assert res[0].prediction == 1 and res[0].correct is True
    assert res[0].per_summary_correct == [True, True, False]
    assert res[1].prediction == 1 and res[1].correct is False  # tie broken by summed scores: mango
    # restart: read from the store, no scoring
    sc2 = CharScorer()
    again = predict_choice_records(sc2, recs, sums, progress=False, store=tmp_path / "p.jsonl", rule="mean")
    assert sc2.calls == [] and [r.choices for r in again] == [[1, 1, 3], [1, 0]]
    assert json.loads(json.dumps(res[0].to_row()))["prediction"] == 1


def test_predict_choice_records_errors():
    rec = Record(id="f", context="c", query="q", answer="a")
    with pytest.raises(ValueError, match="no options"):
        predict_choice_records(CharScorer(), [rec], [["s"]], progress=False)
    with pytest.raises(ValueError, match="one list per record"):
        predict_choice_records(CharScorer(), [rec], [], progress=False)


# ---------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    "text, index",
    [
        ('{"explanation": "stated", "answer": "B"}', 1),
        ('```json\n{"explanation": "x", "answer": "C"}\n```\nHope this helps!', 2),
        ("Sure! {'answer': 'D'}", 3),
        ('{"answer": "B",}', 1),
        ('{"Answer": "(A)"}', 0),
        ('{"answer": "Option C"}', 2),
        ('{"answer": "B. 50 mg twice daily"}', 1),
        ('{"answer": "50 MG twice   daily"}', 1),
        ('{"answer": "50mg twice daily"}', 1),
        ('{"answer": ["B"]}', 1),
        ("Answer: B", 1),
        ("answer = d", 3),
        ("The answer is (C).", 2),
        ("B", 1),
        ("b)", 1),
        ("the dose is 200 mg three times daily", 2),
        ("at night", 3),
        ('{"explanation": "the patient\'s dose", "answer": "B', 1),  # cut off by max_new_tokens
    ],
)
def test_parse_answer_multiple_choice(text, index):
    p = parse_answer(text, OPTS)
    assert p.index == index, p
    assert p.parse_error is None


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "empty"),
        ("I don't know.", "matches no option"),
        ('{"answer": "F"}', "out of range"),
        ('{"answer": null}', "empty or null"),
        ('{"answer": "B. 200 mg three times daily"}', "conflicts"),
        ('{"answer": "mg"}', "matches no option"),
        ('{"answer": "daily"}', "part of several"),
        ('{"answer": "10 mg once daily or 25 mg at night"}', "several options"),
        ("The answer is (A) or (B)", "several option letters"),
    ],
)
def test_parse_answer_never_guesses(text, why):
    p = parse_answer(text, OPTS)
    assert p.index is None
    assert why in p.parse_error


def test_parse_answer_free_form():
    p = parse_answer('{"explanation": "table 3", "answer": "$1,577 million"}')
    assert (p.answer, p.explanation, p.method, p.parse_error) == ("$1,577 million", "table 3", "json", None)
    assert parse_answer('{"answer": 1577}').answer == "1577"
    assert parse_answer("Final answer: Paris\nbecause...").answer == "Paris"
    raw = parse_answer("Paris, obviously")
    assert raw.answer == "Paris, obviously" and raw.method == "raw" and "whole reply" in raw.parse_error
    assert parse_answer(None).parse_error  # type: ignore[arg-type]


def test_match_option_letters_only_in_range():
    assert match_option("E", OPTS)[0] is None
    assert match_option("E", OPTS + ["x"])[0] == 4
    assert match_option("e.g. the 50 mg twice daily one", OPTS)[0] == 1  # "e." is not a letter


def test_match_option_keeps_punctuation_and_articles_of_option_text():
    # option matching normalises in the mode that keeps inner punctuation and articles
    assert match_option("C++", ["C", "C++"]) == (1, None)
    assert match_option("Na+", ["Na", "Na+"]) == (1, None)
    assert match_option("na.", ["Na", "Na+"]) == (0, None)
    assert match_option("The Who", ["Who", "The Who"]) == (1, None)
    assert match_option('"50 mg twice daily."', OPTS) == (1, None)


def test_parsing_lives_in_answers_and_is_re_exported():
    import mi_utils.answers as answers
    import mi_utils.evaluate as evaluate
    import mi_utils.predict as predict

    for name in ("ParsedAnswer", "parse_answer", "match_option", "extract_json_objects"):
        assert getattr(predict, name) is getattr(answers, name) and name in predict.__all__
    assert evaluate.normalize_text is answers.normalize_text and evaluate.parse_verdict is answers.parse_verdict


def test_extract_json_objects_several_and_nested():
    objs = extract_json_objects('a {"x": {"y": 1}} b {"answer": "z"} {broken')
    assert objs == [{"x": {"y": 1}}, {"answer": "z"}]


_payloads = st.sampled_from(
    [
        "__import__('os').system('touch /tmp/mi_utils_pwned')",
        "{'answer': __import__('os').getcwd()}",
        '{"answer": "B"}',
        "exec('1')",
        "```python\nimport os\n```",
        "{",
        "}{",
        '{"answer": {"answer": {"answer": "C"}}}',
        "[" * 500,
        "{" * 500,
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(max_size=300), st.lists(st.one_of(st.text(max_size=20), _payloads), max_size=6).map("".join)
    ),
    options=st.one_of(st.none(), st.lists(st.text(min_size=1, max_size=15), min_size=1, max_size=6)),
)
def test_parse_answer_fuzz_never_raises_never_executes(text, options):
    calls = []

    def forbidden(*a, **k):
        calls.append(a)
        raise AssertionError("model output must never be evaluated")

    saved = builtins.eval, builtins.exec, builtins.compile
    builtins.eval = builtins.exec = builtins.compile = forbidden
    try:
        p = parse_answer(text, options)
    finally:
        builtins.eval, builtins.exec, builtins.compile = saved
    assert not calls
    assert p.index is None or (options and 0 <= p.index < len(options))
    assert p.index is not None or options is None or p.parse_error
    assert p.answer is None or isinstance(p.answer, str)


# ---------------------------------------------------------------------- generative mode
def test_generate_answer_uses_prediction_prompt_and_parses():
    gen = FakeGenerator(['{"explanation": "in summary", "answer": "B"}'])
    out = generate_answer(gen, "Metoprolol 50 mg twice daily.", "What dose?", OPTS)
    assert gen.prompts == [prediction_messages("Metoprolol 50 mg twice daily.", "What dose?", OPTS)]
    assert out.index == 1 and out.answer == "B" and out.text.startswith("{")
    assert out.generation is not None and out.generation.meta == {"k": 1}


def test_generate_answers_batches_and_rejects_n():
    gen = FakeGenerator(["Answer: A", "nonsense"])
    outs = generate_answers(gen, ["s1", "s2"], "q", ["x", "y"])
    assert [o.index for o in outs] == [0, None] and outs[1].parsed.parse_error
    with pytest.raises(ValueError, match="n=1"):
        generate_answers(gen, ["s"], "q", None, SamplingParams(n=2))


# -------------------------------------------------------------------- real model (slow)
CASES = [
    (
        "The patient was prescribed metoprolol 50 mg twice daily.",
        "What dose of metoprolol was the patient prescribed?",
        OPTS,
        1,
    ),
    (
        "The company reported total revenue of $1,577 million in fiscal 2022.",
        "What was the total revenue in fiscal 2022?",
        ["$980 million", "$1,577 million", "$2,340 million", "$3,100 million"],
        1,
    ),
    (
        "The patient is allergic to penicillin and developed a rash.",
        "Which drug is the patient allergic to?",
        ["aspirin", "penicillin", "ibuprofen", "morphine"],
        1,
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("summary, query, options, right", CASES)
def test_choose_option_real_model_reads_the_summary(hf_backend, summary, query, options, right):
    res = choose_option(hf_backend, summary, query, options)
    assert res.chosen["sum"] == right, res.sum_logprobs
    assert res.chosen["mean"] == right, res.mean_logprobs
    # the same options without the answer in the summary no longer favour it so strongly
    blind = choose_option(hf_backend, "The weather was sunny all week.", query, options)
    assert res.sum_logprobs[right] > blind.sum_logprobs[right]


@pytest.mark.slow
def test_generate_answer_real_model_smoke(hf_backend):
    out = generate_answer(
        hf_backend, CASES[0][0], CASES[0][1], OPTS, SamplingParams(temperature=0.0, max_new_tokens=24)
    )
    assert isinstance(out.text, str) and out.generation is not None and out.generation.n_tokens <= 24
    # parsed or explicitly not: never a silent guess
    assert (out.index is not None) or out.parsed.parse_error


def test_predictor_texts_cuts_in_the_reference_tokenizer_and_names_a_missing_one(monkeypatch):
    """A chat API has no tokenizer: the full-context cut counts in reference(); without one, a message."""
    from types import SimpleNamespace

    import mi_utils.predict as predict

    api = SimpleNamespace(roles=frozenset({"generator"}))
    pred = SimpleNamespace(model="gpt-x", max_context_tokens=5)
    assert predictor_texts(api, ["a b"], pred, full_context=False) == ["a b"]  # summaries: never cut
    with pytest.raises(ValueError, match="no local tokenizer.*pass reference="):
        predictor_texts(api, ["a b"], pred, full_context=True)
    seen = []
    monkeypatch.setattr(predict, "truncate_context", lambda tok, t, n: (seen.append((tok, n)) or t[:1], True))
    assert predictor_texts(api, ["a b"], pred, full_context=True, reference=lambda: "ref-tok") == ["a"]
    assert seen == [("ref-tok", 5)]
