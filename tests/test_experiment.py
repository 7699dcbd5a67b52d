"""The experiment runner: the end-to-end smoke run, resuming after an interruption (configs: test_config.py)."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from mi_utils.experiment import (
    MI_REQUIRED,
    REQUIRED_NUMERIC,
    ROW_COLUMNS,
    ModelCache,
    _Runner,
    make_backend,
    parse_config,
    run,
)

from conftest import REPO, smoke_config
from fakes import FakeLM as FakeBackend
from fakes import WordTokenizer as FakeTokenizer
from fakes import fake_model_cache as _fake_cache
from fakes import fake_records as _records
from fakes import write_tiny_llama_config as _write_tiny_llama_config
from tolerances import close, tolerance

SMOLLM = "smollm2-135m-instruct"
GOLDEN = REPO / "tests" / "golden"  # configs/smoke.yaml's tables before the runner was refactored (README there)


# =========================================================================== end to end
class CountingBackend:
    """Delegates to a real backend and counts the work it does (prompts generated, pairs scored)."""

    def __init__(self, inner, counts: dict):
        self._inner, self.counts = inner, counts
        self.fail_on_score_call: int | None = None

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def generate(self, prompts, params):
        out = self._inner.generate(prompts, params)
        self.counts["generate"] += len(prompts)
        return out

    def score(self, pairs, **kw):
        self.counts["score_calls"] += 1
        if self.fail_on_score_call is not None and self.counts["score_calls"] >= self.fail_on_score_call:
            self.fail_on_score_call = None
            raise KeyboardInterrupt("simulated interruption while scoring")
        out = self._inner.score(pairs, **kw)
        self.counts["pairs"] += len(pairs)
        return out


@pytest.fixture
def counting(hf_backend):
    """A ModelCache whose SmolLM2 is the session's model behind a counting wrapper."""
    counts = {"generate": 0, "pairs": 0, "score_calls": 0, "loads": 0}
    wrapper = CountingBackend(hf_backend, counts)

    def factory(spec):
        counts["loads"] += 1
        return wrapper if (spec.model, spec.backend) == (SMOLLM, "hf") else make_backend(spec)

    return (lambda: ModelCache(factory)), counts, wrapper


@pytest.mark.slow
def test_smoke_config_end_to_end(tmp_path, counting):
    """configs/smoke.yaml with a self-scoring scorer beside its proxy scorer."""
    new_cache, counts, _ = counting
    data = smoke_config()
    data["scorers"].append(
        {"model": SMOLLM, "name": "smollm2-own", "backend": "hf", "dtype": "float32", "prompt": "own"}
    )
    cfg = parse_config(data)
    res = run(cfg, out_dir=tmp_path, progress=False, models=new_cache())
    df = res.rows
    assert res.rows_path.exists() and res.summary_path.exists() and res.timings_path.exists()
    missing = set(ROW_COLUMNS) - set(df.columns)
    assert not missing, f"missing columns: {sorted(missing)}"
    scored_settings = [s for s in cfg.settings() if s.score_mi]
    assert len(df) == cfg.N * (2 * len(scored_settings) + len(cfg.settings()) - len(scored_settings))
    assert not df[list(REQUIRED_NUMERIC)].isna().any().any(), df[list(REQUIRED_NUMERIC)].isna().sum()
    scored = df[df.mi_scored.astype(bool)]
    assert set(scored.compressor) == {"shared_prefix", "bm25_top1", "smollm2"}
    assert not scored[list(MI_REQUIRED)].isna().any().any()
    assert (scored.mi_bits <= scored.mi_ceiling_bits + 1e-9).all()
    assert np.allclose(scored.mi_ceiling_bits, math.log2(cfg.N))
    assert set(scored.mi_estimand) == {"I(X;Z|Q)"}  # one question shared by every record
    # per-record contributions average to the set-level estimate
    for _, g in scored.groupby(["compressor", "scorer"]):
        assert g.mi_context_bits.mean() == pytest.approx(g.mi_bits.iloc[0], abs=1e-9)
    # kinds, families and the bound flag: an upper bound only for the LM summaries, self-scored
    kinds = df.drop_duplicates("compressor").set_index("compressor")
    assert kinds.loc["shared_prefix", "compressor_kind"] == "control"
    assert kinds.loc["shared_prefix", "compressor_family"] == "control"
    assert kinds.loc["bm25_top1", "compressor_family"] == "extractive"
    assert kinds.loc["bm25_top1", "compressor_params"] == 0
    assert kinds.loc["smollm2", "compressor_family"] == "smollm2"
    lm = df[df.compressor_kind == "lm"]
    assert lm.sampling_is_pure.all() and all(e["top_k"] == 0 for e in lm.sampling_effective)
    assert lm[lm.scorer == "smollm2-own"].upper_is_bound.all()
    assert not lm[lm.scorer == "smollm2"].upper_is_bound.any()
    assert not df[df.compressor_kind != "lm"].upper_is_bound.any()
    own = lm[lm.scorer == "smollm2-own"]
    assert (own.mi_upper_bits >= own.mi_bits - 1e-9).all()
    assert (own.summary_tokens_scorer <= own.summary_tokens + 1).all()  # the sampled ids (+ the stop token)
    assert (df[df.compressor_kind == "lm"].flops_compressor > 0).all()
    assert (df[df.compressor_kind != "lm"].flops_compressor == 0).all()
    assert (df.cost_usd == 0).all() and df.correct.notna().all()
    # the zero-information control reads at most 0 with one shared question (Jensen), 0 inside its
    # interval; BM25 does at least as well
    summ = res.summary[res.summary.scorer.isin(["smollm2", None]) | res.summary.scorer.isna()]
    summ = summ.set_index("compressor")
    assert summ.loc["shared_prefix", "mi_bits"] <= 1e-12
    assert summ.loc["shared_prefix", "mi_ci_low_bits"] <= 0 <= summ.loc["shared_prefix", "mi_ci_high_bits"]
    assert summ.loc["bm25_top1", "mi_bits"] > summ.loc["shared_prefix", "mi_bits"]
    assert summ.loc["bm25_top1", "accuracy"] >= summ.loc["shared_prefix", "accuracy"]
    assert summ.loc["full", "summary_tokens"] > summ.loc["smollm2", "summary_tokens"]
    # usable information about the answer: on every multiple-choice row, cross-fitted, with the
    # no-summary pass recorded beside it
    assert df.usable_info_bits.notna().all() and np.isfinite(df.usable_info_bits.astype(float)).all()
    assert (df.usable_info_temperature > 0).all()
    assert set(df.usable_info_null) <= {"no_summary", "uniform"}
    assert df.baseline_correct.notna().all()
    assert all(len(o) == len(t) for o, t in zip(df.option_logprobs, df.summary_texts))
    assert all(len(b) == 5 for b in df.baseline_option_logprobs)
    assert "usable_info_bits" in res.summary.columns
    timings = json.loads(res.timings_path.read_text())["runs"][-1]
    assert {"preflight", "generation", "scoring", "prediction", "usable_information"} <= set(timings["stages_s"])
    assert counts["generate"] == cfg.N  # one prompt per record (M samples each)
    # the proxy-scored rows are those of configs/smoke.yaml: unchanged since the golden run
    assert_same_as_golden(res.rows_path, res.summary, skip_scorer="smollm2-own")


def _same(a, b, where: str, column: str = "") -> None:
    """Equal values; floats within the column's tolerance (tests/tolerances.py: float32 differs between CPUs)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a.keys() ^ b.keys())} differ"
        for k in a:
            _same(a[k], b[k], f"{where}.{k}", column or k)
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{where}: {len(a)} items, golden has {len(b)}"
        for n, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{n}]", column)
    elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        rel, abs_ = tolerance(column)
        assert close(a, b, column), f"{where}: {a!r} != golden {b!r} (tolerance rel {rel:g}, abs {abs_:g})"
    else:
        assert a == b and type(a) is type(b), f"{where}: {a!r} != golden {b!r}"


def assert_same_as_golden(rows_path, summary: pd.DataFrame, skip_scorer: str | None = None) -> None:
    """Every row and summary line of configs/smoke.yaml equals tests/golden/ (same keys, texts, numbers)."""
    golden = [json.loads(line) for line in (GOLDEN / "smoke_rows.jsonl").read_text().splitlines()]
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    rows = {r["key"]: r for r in rows if r["scorer"] != skip_scorer or skip_scorer is None}
    assert sorted(rows) == sorted(g["key"] for g in golden), "row keys differ from the golden run"
    for g in golden:
        mine = dict(rows[g["key"]])
        # added since the golden run: no refinement in smoke.yaml, every row of round 1; no setting is
        # expanded (no sentence counts, no rounds), so each is its own base; the synthetic records have no type
        assert "round" not in g and mine.pop("round") == 1
        assert "compressor_base" not in g and mine.pop("compressor_base") == g["compressor"]
        assert "item_type" not in g and mine.pop("item_type") is None
        _same(mine, g, f"row {g['compressor']}/{g['record_id']}")
    order = ["compressor", "predictor", "scorer"]
    assert (summary["round"] == 1).all()
    assert (summary["compressor_base"] == summary["compressor"]).all()
    summary = summary.drop(columns=["round", "compressor_base"])
    mine = summary[summary.scorer != skip_scorer] if skip_scorer else summary
    mine = mine.sort_values(order).reset_index(drop=True)
    ref = pd.read_csv(GOLDEN / "smoke_summary.csv").sort_values(order).reset_index(drop=True)
    round_trip = pd.read_csv(io.StringIO(mine.to_csv(index=False)))  # the types summary.csv gives back
    assert list(round_trip.columns) == list(ref.columns), "summary columns differ from the golden run"
    assert len(round_trip) == len(ref), "summary lines differ from the golden run"
    for n, (mine_line, ref_line) in enumerate(zip(round_trip.to_dict("records"), ref.to_dict("records"))):
        _same(mine_line, ref_line, f"summary line {n} ({ref_line['compressor']}/{ref_line['scorer']})")


def _tiny_config(tmp_path) -> dict:
    cfg = smoke_config()
    cfg.update(name="tiny", N=2, M=1, n_boot=0, output_dir=str(tmp_path))
    cfg["compressors"] = [
        {"method": "shared_prefix"},
        {"method": "bm25_top_k", "k": 2},
        {"model": SMOLLM, "name": "smollm2", "max_new_tokens": 8},
    ]
    return cfg


def _table(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("key").reset_index(drop=True)


@pytest.mark.slow
def test_interrupted_run_resumes_without_redoing_work(tmp_path, counting, monkeypatch):
    new_cache, counts, wrapper = counting
    cfg = parse_config(_tiny_config(tmp_path))

    # reference: one uninterrupted run
    ref = run(cfg, out_dir=tmp_path / "ref", progress=False, models=new_cache())
    ref_work = dict(counts)
    assert len(ref.rows) == 6 and ref_work["generate"] == 2

    # 1) interrupted while scoring (after the first context's scores are stored)
    for k in counts:
        counts[k] = 0
    wrapper.fail_on_score_call = 2
    with pytest.raises(KeyboardInterrupt):
        run(cfg, out_dir=tmp_path / "b", progress=False, models=new_cache())
    assert counts["generate"] == 2 and not (tmp_path / "b" / "rows.jsonl").exists()

    # 2) interrupted while writing rows (predictions and usable information done), after 3 rows
    real_row = _Runner.make_row
    calls = {"n": 0}

    def flaky(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt("simulated interruption while writing rows")
        return real_row(self, *a, **kw)

    monkeypatch.setattr(_Runner, "make_row", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, out_dir=tmp_path / "b", progress=False, models=new_cache())
    monkeypatch.setattr(_Runner, "make_row", real_row)
    partial = (tmp_path / "b" / "rows.jsonl").read_text().splitlines()
    assert len(partial) == 3

    # a crash in the middle of writing a row leaves a truncated last line
    with open(tmp_path / "b" / "rows.jsonl", "a") as f:
        f.write(partial[0][: len(partial[0]) // 2])

    # 3) the rerun finishes: same table, and no generation, scoring or prediction was done twice
    with pytest.warns(UserWarning, match="truncated last line"):
        res = run(cfg, out_dir=tmp_path / "b", progress=False, models=new_cache())
    assert res.timings["rows_reused"] == 3 and res.timings["rows_written"] == 3
    assert counts["generate"] == ref_work["generate"]
    assert counts["pairs"] == ref_work["pairs"]
    pd.testing.assert_frame_equal(_table(res.rows), _table(ref.rows))
    assert (tmp_path / "b" / "rows.jsonl").read_text().splitlines()[:3] == partial

    # 4) a finished run is skipped without loading any model
    before = dict(counts)
    again = run(cfg, out_dir=tmp_path / "b", progress=False, models=new_cache())
    assert counts == before and again.timings["rows_written"] == 0
    pd.testing.assert_frame_equal(_table(again.rows), _table(ref.rows))
    pd.testing.assert_frame_equal(again.summary, ref.summary)
    runs = json.loads((tmp_path / "b" / "timings.json").read_text())["runs"]
    assert [r["rows_written"] for r in runs] == [0, 3, 3, 0]
    assert [r["error"] is not None for r in runs] == [True, True, False, False]


# ======================================================= free form, perplexity, API costs (no model)
@pytest.mark.parametrize("judge", [True, False], ids=["judge", "normalized_match"])
def test_generate_free_form_perplexity_and_api_costs(tmp_path, monkeypatch, judge):
    from mi_utils import data

    monkeypatch.setitem(data.DATASETS, "fake_free", lambda **kw: _records("free_form"))
    monkeypatch.setitem(data.DATASETS, "fake_ppl", lambda **kw: _records("perplexity"))
    _write_tiny_llama_config(tmp_path)
    cfg = parse_config(
        {
            "name": "fake",
            "N": 4,
            "M": 2,
            "n_boot": 0,
            "tokenizer": "fake-tok",
            "datasets": [{"name": "fake_free"}, {"name": "fake_ppl"}],
            "compressors": [
                {"method": "shared_prefix"},
                {"method": "first_k", "k": 3},
                {"model": "fake-lm", "hf_config": str(tmp_path / "config.json"), "max_new_tokens": 8},
                {"method": "full"},
            ],
            "predictors": [
                {"model": "fake-pred", "mode": "generate", "hf_config": str(tmp_path / "config.json")},
                {"model": "gpt-4o-mini", "backend": "openai", "mode": "generate"},
            ],
            "scorers": [{"model": "fake-lm", "hf_config": str(tmp_path / "config.json")}],
            **({"judge": {"model": "fake-judge", "hf_config": str(tmp_path / "config.json")}} if judge else {}),
        }
    )
    tok = FakeTokenizer()
    cache = ModelCache(
        lambda spec: FakeBackend(spec.model, tok, api=spec.backend == "openai", judge=spec.model == "fake-judge")
    )
    cache._tokenizers["fake-tok"] = tok
    res = run(cfg, out_dir=tmp_path / "out", progress=False, models=cache)
    df = res.rows
    free, ppl = df[df.task == "free_form"], df[df.task == "perplexity"]
    # free form: both predictors, every setting; perplexity: the API predictor cannot score, so it is left out
    assert len(free) == 4 * 4 * 2 and set(free.predictor) == {"fake-pred-generate", "gpt-4o-mini-generate"}
    assert len(ppl) == 4 * 4 and set(ppl.predictor) == {"fake-pred-generate"}
    assert ppl.perplexity.notna().all() and (ppl.perplexity >= 1).all() and ppl.correct.isna().all()
    if judge:  # the judge (a fake that always agrees) decides free-form correctness
        assert free.correct.all()
    else:  # normalised match: the LM summary copies the fact, the control only the shared header
        by = free.groupby("compressor").correct.mean()
        assert by["fake-lm"] == 1.0 and by["shared_prefix"] == 0.0
    api = free[free.predictor_backend == "openai"]
    per_call = 100 / 1e6 * 0.15 + 10 / 1e6 * 0.60
    assert (
        np.allclose(api.cost_usd, per_call * api.M) and (free[free.predictor_backend != "openai"].cost_usd == 0).all()
    )
    lm = df[df.compressor_kind == "lm"]
    assert (lm.flops_compressor > 0).all() and lm.compressor_params.gt(0).all()
    assert lm.sampling_is_pure.all()
    assert not lm.upper_is_bound.any()  # the compressor's model, pure sampling, but a proxy prompt: no bound
    assert set(df.mi_estimand.dropna()) == {"I(X;Z|Q)"}  # one question for every record
    assert (df.judge_unparsed == 0).all()
    assert df.predictor_params[df.predictor_backend == "openai"].isna().all()  # an API model: unknown
    assert not df[list(REQUIRED_NUMERIC)].isna().any().any()
    assert (df[df.mi_scored.astype(bool)].mi_bits <= df[df.mi_scored.astype(bool)].mi_ceiling_bits + 1e-9).all()
    assert set(res.summary.dataset) == {"fake_free", "fake_ppl"}


# ================================================ estimates that mean what they say (no model)
def _fake_config(tmp_path, **over) -> dict:
    _write_tiny_llama_config(tmp_path)
    hf = str(tmp_path / "config.json")
    cfg = {
        "name": "fake",
        "N": 4,
        "M": 2,
        "n_boot": 0,
        "tokenizer": "fake-tok",
        "datasets": [{"name": "fake_free"}],
        "compressors": [{"method": "shared_prefix"}, {"model": "fake-lm", "hf_config": hf, "max_new_tokens": 8}],
        "predictors": [{"model": "fake-pred", "mode": "generate", "hf_config": hf}],
        "scorers": [{"model": "fake-lm", "hf_config": hf}],
    }
    cfg.update(over)
    return cfg


@pytest.fixture
def fake_data(monkeypatch):
    from mi_utils import data

    monkeypatch.setitem(data.DATASETS, "fake_free", lambda **kw: _records("free_form"))

    def per_record(**kw):  # the same records, each asked its own question
        return [
            dataclasses_replace(r, query=f"What are the first three words of report {i}?")
            for i, r in enumerate(_records("free_form"))
        ]

    monkeypatch.setitem(data.DATASETS, "fake_own_q", per_record)


def dataclasses_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


@pytest.mark.parametrize("policy", ["match", "wrong", "error"])
def test_unparsed_judge_verdicts_follow_the_policy(tmp_path, fake_data, policy):
    hf = str(tmp_path / "config.json")
    cfg = parse_config(_fake_config(tmp_path, judge={"model": "fake-judge", "hf_config": hf, "unparsed": policy}))
    cache = _fake_cache(judge_reply="I would rather not say.")
    if policy == "error":
        with pytest.raises(ValueError, match=r"states no verdict: 'I would rather not say\.'; set judge\.unparsed"):
            run(cfg, out_dir=tmp_path / "out", progress=False, models=cache)
        return
    df = run(cfg, out_dir=tmp_path / "out", progress=False, models=cache).rows
    assert (df.judge_unparsed == df.M).all()  # every verdict unparsed, and counted
    by = df.groupby("compressor").correct.mean()
    if policy == "wrong":
        assert not df.correct.any()
    else:  # decided by normalized_match: the LM summary copies the fact, the control does not
        assert by["fake-lm"] == 1.0 and by["shared_prefix"] == 0.0


def test_unreadable_model_config_fails_before_any_work(tmp_path, fake_data):
    counts: dict = {}
    cfg = _fake_config(tmp_path)
    cfg["predictors"] = [{"model": "fake-pred", "mode": "generate"}]  # no hf_config: offline, unknown name
    with pytest.raises(
        ValueError,
        match=r"predictors\[0\]: the config of model 'fake-pred' \(hf\) cannot be read.*"
        r"set hf_config",
    ):
        run(parse_config(cfg), out_dir=tmp_path / "out", progress=False, models=_fake_cache(counts))
    assert not (tmp_path / "out" / "stores").exists() and not (tmp_path / "out" / "rows.jsonl").exists()
    # an explicit parameter count is enough for a predictor (its FLOPs are not computed), not for a compressor
    cfg["predictors"][0]["params"] = 1e6
    res = run(parse_config(cfg), out_dir=tmp_path / "ok", progress=False, models=_fake_cache())
    assert (res.rows.predictor_params == 1e6).all() and res.rows.flops_compressor.notna().all()
    cfg["compressors"][1] = {"model": "fake-lm", "params": 1e6}
    with pytest.raises(ValueError, match=r"compressors\[1\]: the config of model 'fake-lm'"):
        run(parse_config(cfg), out_dir=tmp_path / "bad", progress=False, models=_fake_cache())


def test_flops_convention_of_the_runner(tmp_path, fake_data):
    """``flops_convention`` reaches the rows: TINY_LLAMA has 2 layers, 4 heads, d_attn = hidden_size = 64."""
    out = tmp_path / "out"
    text = run(parse_config(_fake_config(tmp_path)), out_dir=out, progress=False, models=_fake_cache()).rows
    cfg = parse_config(_fake_config(tmp_path, flops_convention="authors_code"))
    code_run = run(cfg, out_dir=out, progress=False, models=_fake_cache())
    code = code_run.rows
    assert code_run.timings["rows_written"] == len(code) > 0  # its own rows, not the paper_text ones reused
    for rows, width in ((text, 64), (code, 4)):  # d_attn; the head count
        lm = rows[rows.compressor_kind == "lm"]
        # the fake's M summaries of a record are alike: (2 P + 2 * 2 layers * n_ctx * width) * n_out
        expected = (2 * lm.compressor_params + 2 * 2 * lm.compressor_prompt_tokens * width) * lm.summary_tokens
        assert len(lm) > 0 and np.allclose(lm.flops_compressor, expected, rtol=1e-12)
        assert (rows[rows.compressor_kind != "lm"].flops_compressor == 0).all()
    lm_text, lm_code = (r.flops_compressor[r.compressor_kind == "lm"].to_numpy() for r in (text, code))
    assert (lm_code < lm_text).all()  # the same rows, each cheaper under the authors' code


def test_preflight_checks_the_roles_of_built_backends(tmp_path, fake_data):
    """A factory that hands a generation-only backend to a scorer is refused before any work."""
    cfg = parse_config(_fake_config(tmp_path))
    tok = FakeTokenizer()
    cache = ModelCache(lambda spec: FakeBackend(spec.model, tok, api=spec.model == "fake-lm"))
    cache._tokenizers["fake-tok"] = tok
    with pytest.raises(ValueError, match=r"cannot score prompts for compressors\[1\]"):
        run(cfg, out_dir=tmp_path / "out", progress=False, models=cache)
    assert not (tmp_path / "out" / "stores").exists()


def test_upper_is_bound_only_for_self_scoring_pure_samples(tmp_path, fake_data):
    hf = str(tmp_path / "config.json")
    cfg = _fake_config(
        tmp_path,
        scorers=[
            {"model": "fake-lm", "hf_config": hf, "name": "proxy"},
            {"model": "fake-lm", "hf_config": hf, "name": "own", "prompt": "own"},
        ],
    )
    cfg["compressors"].append(
        {"model": "fake-lm", "name": "hot", "hf_config": hf, "max_new_tokens": 8, "temperature": 0.7}
    )
    df = run(parse_config(cfg), out_dir=tmp_path / "out", progress=False, models=_fake_cache()).rows
    lm = df[df.compressor_kind == "lm"]
    bound = lm.groupby(["compressor", "scorer"]).upper_is_bound.all().to_dict()
    assert bound == {
        ("fake-lm", "own"): True,
        ("fake-lm", "proxy"): False,
        ("hot", "own"): False,
        ("hot", "proxy"): False,
    }
    assert not df[df.compressor_kind != "lm"].upper_is_bound.any()
    assert lm.set_index("compressor").sampling_is_pure.groupby(level=0).all().to_dict() == {
        "fake-lm": True,
        "hot": False,
    }
    own = df[(df.scorer == "own") & (df.compressor == "fake-lm")]
    proxy = df[(df.scorer == "proxy") & (df.compressor == "fake-lm")]
    assert set(own.scorer_prompt) == {"own"} and set(proxy.scorer_prompt) == {"proxy"}
    # own-prompt continuations are the sampled ids plus the stop token: one more than the summary
    assert (own.summary_tokens_scorer == own.summary_tokens + 1).all()
    # the rate is per compressor token, whatever the scorer
    assert np.allclose(
        lm.mi_per_token_bits, lm.mi_bits / lm.groupby(["compressor", "scorer"]).summary_tokens.transform("mean")
    )


@pytest.mark.parametrize(
    "conditioning, label", [("shared", "held at the summary's own question"), ("paired", "I(X,Q;Z)")]
)
def test_mi_estimand_says_what_per_record_questions_estimate(tmp_path, fake_data, conditioning, label, caplog):
    one = run(
        parse_config(_fake_config(tmp_path, conditioning=conditioning)),
        out_dir=tmp_path / "one",
        progress=False,
        models=_fake_cache(),
    ).rows
    assert set(one.mi_estimand.dropna()) == {"I(X;Z|Q)"}  # a question shared by every record
    cfg = _fake_config(tmp_path, conditioning=conditioning, datasets=[{"name": "fake_own_q"}])
    with caplog.at_level("WARNING", logger="mi_utils.experiment"):
        own = run(parse_config(cfg), out_dir=tmp_path / "own", progress=False, models=_fake_cache()).rows
    (estimand,) = set(own.mi_estimand.dropna())
    assert label in estimand and estimand != "I(X;Z|Q)"
    assert "not I(X;Z|Q)" in caplog.text


def test_param_count_reads_architectures_the_formula_does_not_know(tmp_path):
    """A served GPT-2-style model: its parameter count (for rows and FLOPs) comes from its config on empty weights."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from mi_utils.config import ModelSpec
    from mi_utils.costs import model_config_of, param_count

    tiny = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=128)
    (tmp_path / "config.json").write_text(json.dumps(tiny.to_dict()))
    spec = ModelSpec(model="tiny-gpt2", backend="vllm", urls=["http://127.0.0.1:9"], hf_config=str(tmp_path))
    real = sum(p.numel() for p in GPT2LMHeadModel(tiny).parameters())
    assert param_count(spec, model_config_of(spec)) == real
    assert param_count(ModelSpec(model="tiny-gpt2", params=5e6), None) == 5e6


def test_a_scorer_scores_only_the_compressors_it_names(tmp_path, fake_data):
    """``scorers[].compressors``: a self-scorer scores only its own compressor; rows exist only where scored."""
    hf = str(tmp_path / "config.json")
    cfg = _fake_config(
        tmp_path,
        scorers=[
            {"model": "fake-lm", "hf_config": hf, "name": "proxy"},
            {"model": "fake-lm", "hf_config": hf, "name": "own", "prompt": "own", "compressors": ["fake-lm"]},
        ],
    )
    cfg["compressors"].append({"method": "constant"})
    df = run(parse_config(cfg), out_dir=tmp_path / "out", progress=False, models=_fake_cache()).rows
    pairs = set(zip(df.compressor, df.scorer))
    assert pairs == {
        ("shared_prefix", "proxy"),
        ("constant", "proxy"),
        ("fake-lm", "proxy"),
        ("fake-lm", "own"),
    }
    assert len(df) == 4 * len(pairs)  # N rows per (setting, scorer); no unscored rows for the own scorer
    own = df[df.scorer == "own"]
    assert own.upper_is_bound.all() and own.mi_bits.notna().all()
    # the constant control is one text for every record: its estimate is at most 0 (Jensen)
    const = df[df.compressor == "constant"]
    assert set(const.compressor_kind) == {"control"} and (const.mi_bits <= 1e-12).all()
    assert all(t == ["No information."] for t in const.summary_texts)


def test_scorer_compressors_must_name_scored_settings(tmp_path, fake_data):
    cfg = _fake_config(tmp_path)
    cfg["scorers"][0]["compressors"] = ["fake-llm"]
    with pytest.raises(ValueError, match=r"scorers\[0\]\.compressors.*names \['fake-llm'\], which no compressor has"):
        parse_config(cfg)
    cfg["scorers"][0]["compressors"] = []
    with pytest.raises(ValueError, match=r"scorers\[0\]\.compressors.*is empty"):
        parse_config(cfg)
    cfg["compressors"].append({"method": "full"})
    cfg["scorers"][0]["compressors"] = ["full"]
    with pytest.raises(ValueError, match=r"selects no setting whose MI is scored"):
        parse_config(cfg)


def test_the_runner_does_not_import_the_analysis_layer():
    """The runner orders stages; the usable-information estimator it needs lives beside the
    estimators (``mi_utils.information``), so importing it loads no ``mi_utils.analysis`` module."""
    import subprocess
    import sys

    code = "import sys, mi_utils.experiment; print(sorted(m for m in sys.modules if m.startswith('mi_utils.analysis')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
