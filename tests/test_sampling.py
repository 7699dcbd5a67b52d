"""Sampling that means what it says, and self-scoring whose upper value is a bound.

* Generation never inherits a model's own ``generation_config`` (Qwen-2.5 ships
  ``repetition_penalty=1.05``, ``temperature=0.7``...): every setting is explicit and recorded, and
  ``sampling_is_pure`` is true only for the settings actually applied.
* Self-scoring (``prompt="own"``) scores the compressor's samples with its own prompt, ids and stop
  token, so the scores *are* the sampling probabilities: on a channel whose MI is known exactly
  (one-token summaries of a real model, whose whole output distribution one forward pass gives),
  the leave-one-out value bounds it from above and the paper's estimate from below.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mi_utils.backends.base import NEUTRAL_SAMPLING, SamplingParams, sampling_is_pure

from tolerances import LOGPROB_PER_TOKEN


# ------------------------------------------------------------------------------ unit
def test_sampling_is_pure_needs_every_applied_setting_neutral():
    pure = {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "repetition_penalty": 1.0, "min_p": None}
    assert sampling_is_pure(pure)
    assert sampling_is_pure({**pure, "top_k": -1})  # vLLM / SGLang spelling of "off"
    for key, bad in [
        ("temperature", 0.7),
        ("top_k", 20),
        ("top_p", 0.8),
        ("repetition_penalty", 1.05),
        ("min_p", 0.05),
        ("no_repeat_ngram_size", 3),
        ("min_new_tokens", 5),
        ("do_sample", False),
        ("presence_penalty", 0.5),
        ("typical_p", 0.9),
    ]:
        assert not sampling_is_pure({**pure, key: bad}), key
    assert not sampling_is_pure({})  # unknown settings are never assumed pure
    assert not sampling_is_pure(None)
    assert not sampling_is_pure({"temperature": 1.0, "top_p": 1.0})  # top_k not recorded
    assert SamplingParams().is_pure and not SamplingParams(top_p=0.9).is_pure


def test_transformers_defaults_table_matches_transformers():
    """What the HF backend records for a field it leaves unset is what transformers would use."""
    from transformers import GenerationConfig

    from mi_utils.backends.hf import _GEN_FIELDS, _TRANSFORMERS_DEFAULTS

    real = GenerationConfig()._get_default_generation_params()
    for k in _GEN_FIELDS:
        assert _TRANSFORMERS_DEFAULTS.get(k) == real.get(k), k
    assert set(_GEN_FIELDS) <= set(NEUTRAL_SAMPLING)


def test_server_backends_send_every_sampling_field():
    """vLLM and SGLang fill a field a request leaves out from the model's generation_config."""
    from mi_utils.backends.sglang import SGLangBackend
    from mi_utils.backends.vllm import VLLMBackend

    for backend in (VLLMBackend, SGLangBackend):
        sent = backend.sampling_fields(SamplingParams())
        assert {
            "temperature",
            "top_k",
            "top_p",
            "min_p",
            "repetition_penalty",
            "presence_penalty",
            "frequency_penalty",
        } <= set(sent)
        assert sampling_is_pure({"do_sample": True, **sent})
        assert not sampling_is_pure({"do_sample": True, **backend.sampling_fields(SamplingParams(top_k=5))})


# ------------------------------------------------------------------- real model (slow)
QWEN_LIKE = {"repetition_penalty": 1.3, "no_repeat_ngram_size": 1, "temperature": 0.7, "top_p": 0.8, "top_k": 20}


@pytest.mark.slow
def test_model_generation_defaults_are_not_inherited(hf_backend):
    """A model whose generation_config asks for penalties and truncation samples exactly as one without."""
    import torch

    msgs = [[{"role": "user", "content": "Write two sentences about the sea and the sea shore."}]]
    params = SamplingParams(max_new_tokens=24, n=2, seed=5)
    gen_cfg = hf_backend.model.generation_config
    saved = {k: getattr(gen_cfg, k, None) for k in QWEN_LIKE}
    plain = hf_backend.generate(msgs, params)[0]
    try:
        for k, v in QWEN_LIKE.items():
            setattr(gen_cfg, k, v)
        from mi_utils.backends.hf import HFBackend

        qwen_like = HFBackend(hf_backend.model, hf_backend.tokenizer)  # a model shipped with these defaults
        got = qwen_like.generate(msgs, params)[0]
        # what transformers itself resolves while the backend generates: the recorded settings
        with qwen_like._neutral_model_defaults():
            resolved, _ = qwen_like.model._prepare_generation_config(qwen_like.generation_config(params))
    finally:
        for k, v in saved.items():
            setattr(gen_cfg, k, v)
    assert [g.token_ids for g in got] == [g.token_ids for g in plain]
    # the test can fail: no_repeat_ngram_size=1, had it been applied, forbids any repeated token
    assert any(len(set(g.token_ids)) < len(g.token_ids) for g in got)
    assert qwen_like.ignored_model_defaults == QWEN_LIKE
    for g in got:
        assert g.meta["ignored_model_defaults"] == QWEN_LIKE
        assert sampling_is_pure(g.effective)
        for k, v in g.effective.items():
            assert v == getattr(resolved, k) or (getattr(resolved, k) is None and v == NEUTRAL_SAMPLING.get(k)), k
    assert resolved.top_k == 0 and resolved.repetition_penalty == 1.0 and resolved.no_repeat_ngram_size == 0
    # asked-for truncation is applied and recorded, and is not pure
    g = hf_backend.generate(msgs, SamplingParams(max_new_tokens=5, top_k=20, seed=1))[0][0]
    assert g.effective["top_k"] == 20 and not sampling_is_pure(g.effective)
    greedy = hf_backend.generate(msgs, SamplingParams(temperature=0.0, max_new_tokens=5))[0][0]
    assert greedy.effective["do_sample"] is False and not sampling_is_pure(greedy.effective)
    assert torch.get_num_threads() >= 1


CONTEXTS = [
    "Paris is the capital of France.",
    "def add(a, b):\n    return a + b",
    "1, 2, 3, 4, 5, 6, 7, 8",
    "Le chat dort sur le canapé.",
]
QUERY = "What is the text about?"


@pytest.mark.slow
def test_self_scoring_upper_value_bounds_a_known_channel(hf_backend):
    """One-token summaries of a real model: the channel's MI is exact, and the own-prompt scores are it."""
    import torch

    from mi_utils.compress import compress_records, own_prefix, own_scoring_exact, score_matrix
    from mi_utils.data import Record
    from mi_utils.estimators import estimate_mi, loo_pointwise_mi, pointwise_mi

    b = hf_backend
    N, M = len(CONTEXTS), 24
    # the exact channel: p(z | x_l) over the whole vocabulary, EOS included
    P = []
    for c in CONTEXTS:
        with torch.inference_mode():
            logits = b.model(torch.tensor([own_prefix(b, c, QUERY, None)])).logits[0, -1]
        P.append(torch.log_softmax(logits.double(), -1).numpy())
    logP = np.array(P)  # (N, V)
    prob = np.exp(logP)
    mix = np.log(prob.mean(axis=0))
    true_mi = float(np.mean([np.sum(prob[i] * (logP[i] - mix)) for i in range(N)]))
    # exact expectations of both estimators (they bracket the truth)
    idx = np.arange(N)
    e_upper = np.mean([np.sum(prob[i] * (logP[i] - np.log(prob[idx != i].mean(axis=0)))) for i in range(N)])
    e_lower = np.mean([np.sum(prob[i] * (logP[i] - np.log(prob.mean(axis=0)))) for i in range(N)])
    assert e_lower == pytest.approx(true_mi) and e_upper > true_mi + 0.05 > 0.1

    records = [
        Record(id=f"c{i}", context=c, query=QUERY, answer="x", task="free_form", dataset="toy")
        for i, c in enumerate(CONTEXTS)
    ]
    sums = compress_records(b, records, M, SamplingParams(max_new_tokens=1, seed=3), progress=False)
    assert all(z.sampling_is_pure for row in sums for z in row)
    logp, lengths = score_matrix(b, CONTEXTS, QUERY, sums, prompt="own", progress=False)
    assert own_scoring_exact(b, CONTEXTS, QUERY, sums).all()
    # the own-prompt scores are the channel's probabilities of the sampled token (or of the EOS)
    for i in range(N):
        for j, z in enumerate(sums[i]):
            tok = z.token_ids[0] if z.token_ids else z.stop_token
            assert lengths[i, j] == 1
            np.testing.assert_allclose(logp[i, j], logP[:, tok], atol=LOGPROB_PER_TOKEN)
    est = estimate_mi(logp, unit="nats", n_boot=0)
    se_up = loo_pointwise_mi(logp).std() / math.sqrt(N * M)
    se_lo = pointwise_mi(logp).std() / math.sqrt(N * M)
    print(
        f"true MI {true_mi:.3f} nats; estimate {est.value:.3f} (E {e_lower:.3f}); "
        f"upper {est.upper:.3f} (E {e_upper:.3f}); se {se_lo:.3f} / {se_up:.3f}"
    )
    assert est.upper >= true_mi - 3 * se_up  # the bound holds
    assert est.value <= true_mi + 3 * se_lo
    assert abs(est.upper - e_upper) <= 4 * se_up  # samples follow the scored distribution

    # the proxy prompt is a different critic: its scores are not the sampling probabilities
    proxy, _ = score_matrix(b, CONTEXTS, QUERY, [[z.text or "." for z in row[:2]] for row in sums], progress=False)
    assert np.abs(proxy - logp[:, :2]).max() > 0.5
