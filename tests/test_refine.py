"""Compress-and-refine rounds (``rounds:`` on an LM compressor; the paper's Fig. 18).

Round 1 is the plain compression; round r > 1 rewrites round r-1's summary (:func:`mi_utils.compress.
refine_records`). Each round is a setting of its own, scored, predicted and resumed like any other, and
every row records its ``round``. Checked with fake models (tests/fakes.py), then on the committed run of
``configs/refine_synthetic_cpu.yaml`` and, in the slow tier, the README's command on real Qwen weights.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from test_experiment import _fake_config, fake_data  # noqa: F401  (the fixture, used by name)

from mi_utils.analysis import load_table
from mi_utils.compress import refine_records
from mi_utils.config import parse_config
from mi_utils.experiment import load_config, run
from mi_utils.prompts import REFINE_PROMPT_VERSION, refinement_messages

from conftest import REPO, assert_committed_run_of, predict_with_qwen_small, run_config_on_qwen_small
from fakes import WordTokenizer, fake_model_cache, fake_records


def _refine_config(tmp_path, rounds: int = 3) -> dict:
    cfg = _fake_config(tmp_path)
    cfg["compressors"][1]["rounds"] = rounds
    return cfg


def _table(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("key").reset_index(drop=True)


def test_three_rounds_end_to_end(tmp_path, fake_data):  # noqa: F811
    cfg = parse_config(_refine_config(tmp_path))
    assert [(s.id, s.round, s.previous) for s in cfg.settings()][1:] == [
        ("fake-lm-round1", 1, None),
        ("fake-lm-round2", 2, "fake-lm-round1"),
        ("fake-lm-round3", 3, "fake-lm-round2"),
    ]
    res = run(cfg, out_dir=tmp_path / "out", progress=False, models=fake_model_cache())
    df = res.rows
    assert df.groupby(["compressor", "round"]).size().to_dict() == {
        ("fake-lm-round1", 1): 4,
        ("fake-lm-round2", 2): 4,
        ("fake-lm-round3", 3): 4,
        ("shared_prefix", 1): 4,  # a setting that is not refined is of round 1
    }
    # round r refines round r-1's summary of the same record and chain (the fake appends " Again.")
    lm = df[df.compressor_kind == "lm"].set_index(["round", "record_id"])
    for rec in fake_records("free_form"):
        texts = {r: lm.loc[(r, rec.id), "summary_texts"] for r in (1, 2, 3)}
        assert texts[1] == [rec.answer + "."] * 2
        assert texts[2] == [t + " Again." for t in texts[1]] and texts[3] == [t + " Again." for t in texts[2]]
    # every round is scored and predicted: its own MI estimate, accuracy, lengths and FLOPs
    assert lm.mi_scored.all() and lm.mi_bits.notna().all() and lm.correct.notna().all()
    assert (lm.flops_compressor > 0).all()
    tokens = lm.groupby(level="round").summary_tokens.mean()
    assert tokens[1] < tokens[2] < tokens[3]
    # the refinement prompt holds the context and the previous summary: round 2 reads more tokens
    prompt = lm.groupby(level="round").compressor_prompt_tokens.mean()
    assert prompt[2] > prompt[1]
    assert list(res.summary.sort_values("round")["round"]) == [1, 1, 2, 3]
    assert res.summary.set_index("compressor").loc["fake-lm-round3", "round"] == 3


def test_rounds_one_is_todays_setting(tmp_path, fake_data):  # noqa: F811
    """``rounds: 1`` (the default) keeps the setting, its id and its row keys as they were."""
    plain = parse_config(_fake_config(tmp_path))
    explicit = parse_config(_refine_config(tmp_path, rounds=1))
    assert plain.settings() == explicit.settings()
    (s,) = [s for s in explicit.settings() if s.kind == "lm"]
    assert (s.id, s.round, s.previous) == ("fake-lm", 1, None) and "round" not in s.key_dict()


def test_resume_after_an_interrupted_refinement(tmp_path, fake_data):  # noqa: F811
    cfg = parse_config(_refine_config(tmp_path))
    tok = WordTokenizer()  # one for the three runs: the fake scores depend on the ids, given in order seen
    ref = run(cfg, out_dir=tmp_path / "ref", progress=False, models=fake_model_cache(tokenizer=tok))

    calls: list[int] = []
    cache = fake_model_cache(tokenizer=tok)
    lm = cache.get(cfg.compressors[1])
    generate = lm.generate

    def failing(prompts, params):  # the compressor stops in round 3, after its first record
        calls.append(len(prompts))
        content = prompts[0][-1]["content"]
        if "Current summary:" in content and "Again." in content and calls.count(2) > 4 + 1:
            raise KeyboardInterrupt  # round 3's second record (after round 2's four and round 3's first)
        return generate(prompts, params)

    lm.generate = failing
    with pytest.raises(KeyboardInterrupt):
        run(cfg, out_dir=tmp_path / "out", progress=False, models=cache)
    assert not (tmp_path / "out" / "rows.jsonl").exists() or not (tmp_path / "out" / "rows.jsonl").read_text()

    # the rerun generates only round 3's three missing records: the rest comes from the stores
    again_calls: list[int] = []
    cache2 = fake_model_cache(tokenizer=tok)
    lm2 = cache2.get(cfg.compressors[1])
    generate2 = lm2.generate
    lm2.generate = lambda prompts, params: again_calls.append(len(prompts)) or generate2(prompts, params)
    res = run(cfg, out_dir=tmp_path / "out", progress=False, models=cache2)
    compress_calls = [n for n in again_calls if n == 2]  # refinements send M = 2 prompts (one per chain)
    assert len(compress_calls) == 3, again_calls
    pd.testing.assert_frame_equal(_table(res.rows), _table(ref.rows))
    pd.testing.assert_frame_equal(res.summary, ref.summary)


def test_refinement_keys_follow_the_previous_summaries(tmp_path, fake_data):  # noqa: F811
    """A refined summary is stored under the texts it refined: new round-1 texts are refined anew."""
    from mi_utils.backends.base import SamplingParams
    from mi_utils.compress import compress_records
    from mi_utils.store import JsonlStore

    tok = WordTokenizer()
    cache = fake_model_cache()
    backend = cache.factory(parse_config(_fake_config(tmp_path)).compressors[1])
    backend.tokenizer = tok
    recs = fake_records("free_form")[:2]
    first = compress_records(backend, recs, 2, SamplingParams(), progress=False)
    store = JsonlStore(tmp_path / "refine.jsonl")
    second = refine_records(backend, recs, first, SamplingParams(), round=2, store=store, progress=False)
    assert [[z.sample_index for z in row] for row in second] == [[0, 1], [0, 1]]
    assert len(store) == 2
    refine_records(backend, recs, first, SamplingParams(), round=2, store=store, progress=False)
    assert len(store) == 2  # reused
    other = copy.deepcopy(first)
    other[0][0].text = "something else."
    third = refine_records(backend, recs, other, SamplingParams(), round=2, store=store, progress=False)
    assert len(store) == 3 and third[0][0].text == "something else. Again."
    with pytest.raises(ValueError, match="round must be >= 2"):
        refine_records(backend, recs, first, round=1, progress=False)
    with pytest.raises(ValueError, match="previous holds summaries of 1 records, records has 2"):
        refine_records(backend, recs, first[:1], round=2, progress=False)


def test_refinement_prompt():
    query = "Which?\nChoose the correct answer from the following options:\nA. x"
    (msg,) = refinement_messages("The text.", query, "Old summary.", sentences=2)
    assert msg["role"] == "user"
    content = msg["content"]
    assert "Text:\nThe text." in content and "Current summary:\nOld summary." in content
    assert (
        "A. x" not in content
        and "Question:\nWhich?\n" in content
        and content.endswith("EXACTLY 2 sentences. Your summary:")
    )
    assert REFINE_PROMPT_VERSION


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rounds": 0}, r"compressors\[1\]\.rounds must be >= 1 \(1 = compress once, no refinement\), got 0"),
        ({"rounds": "3"}, r"compressors\[1\]\.rounds must be an integer, got '3'"),
        ({"rounds": 2.0}, r"compressors\[1\]\.rounds must be an integer, got 2.0"),
    ],
)
def test_bad_rounds_name_the_field(tmp_path, fake_data, change, message):  # noqa: F811
    cfg = _fake_config(tmp_path)
    cfg["compressors"][1].update(change)
    with pytest.raises(ValueError, match=message):
        parse_config(cfg)


def test_rounds_apply_to_lm_compressors_and_proxy_scorers(tmp_path, fake_data):  # noqa: F811
    cfg = _fake_config(tmp_path)
    cfg["compressors"][0]["rounds"] = 2
    with pytest.raises(ValueError, match=r"compressors\[0\]\.rounds applies only to LM compressors"):
        parse_config(cfg)
    cfg = _refine_config(tmp_path)
    cfg["scorers"].append(
        {"model": "fake-lm", "name": "own", "prompt": "own", "hf_config": cfg["scorers"][0]["hf_config"]}
    )
    with pytest.raises(
        ValueError,
        match=r"scorers\[1\] \(prompt 'own'\) would score the refined rounds \['fake-lm-round2', 'fake-lm-round3'\].*"
        r"name round-1 settings in its 'compressors'",
    ):
        parse_config(cfg)
    cfg["scorers"][1]["compressors"] = ["fake-lm-round1"]  # self-scoring round 1 only is fine
    parse_config(cfg)


# ============================================================== the committed run (configs/refine_synthetic_cpu.yaml)
REFINE_CONFIG = REPO / "configs" / "refine_synthetic_cpu.yaml"
REFINE_TABLE = REPO / "data" / "results" / "refine_synthetic_cpu"


def test_committed_refine_table_is_this_configs_run():
    if not (REFINE_TABLE / "summary.csv").exists():  # summary.csv is written when the run ends
        pytest.skip("the compress-and-refine table is not committed yet")
    assert_committed_run_of(REFINE_CONFIG, REFINE_TABLE)
    cfg = load_config(REFINE_CONFIG)
    (lm,) = cfg.compressors
    assert lm.rounds == 3 and lm.model == "qwen2.5-coder-0.5b-instruct" and cfg.threads == 1
    rows, label = load_table("refine")
    assert label == "refine_synthetic_cpu"
    assert len(rows) == cfg.N * lm.rounds  # one predictor, one scorer
    assert rows.groupby("round").size().to_dict() == {1: cfg.N, 2: cfg.N, 3: cfg.N}
    assert set(rows["compressor"]) == {f"qwen0.5b-round{r}" for r in (1, 2, 3)}
    assert rows["mi_scored"].all() and set(rows["mi_estimand"]) == {"I(X;Z|Q)"}
    assert (rows["mi_bits"] <= rows["mi_ceiling_bits"] + 1e-9).all()
    assert np.allclose(rows["mi_ceiling_bits"], math.log2(cfg.N))
    assert rows["correct"].notna().all() and rows["usable_info_bits"].notna().all()
    assert (rows["flops_compressor"] > 0).all() and set(rows["M"]) == {cfg.M}
    summary = pd.read_csv(REFINE_TABLE / "summary.csv")
    assert sorted(summary["round"]) == [1, 2, 3]


@pytest.mark.slow
def test_refine_command_runs_on_real_qwen_weights(tmp_path):
    """The README's `python -m mi_utils run configs/refine_synthetic_cpu.yaml`, on two records with short summaries."""
    df = run_config_on_qwen_small(REFINE_CONFIG, tmp_path, predict_with_qwen_small)
    assert df.groupby("round").size().to_dict() == {1: 2, 2: 2, 3: 2}
    assert df["mi_bits"].notna().all() and df["correct"].notna().all()
    assert (
        df["compressor_prompt_tokens"][df["round"] > 1] > df["compressor_prompt_tokens"][df["round"] == 1].max()
    ).all()
