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
from mi_utils.backends.vllm import REPO_ROOT, VLLMBackend, launch_vllm_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "smollm2-135m-instruct"
VLLM_PYTHON = REPO_ROOT / ".venv-vllm" / "bin" / "python"
TOL = 1e-3  # nats; fp32 vLLM vs fp32 transformers agree to ~3e-5 here

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
        np.testing.assert_allclose(backend.score([(prompt, gens[0].token_ids)])[0], ref(prompt, gens[0].token_ids), atol=TOL)
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
