"""SGLangBackend against an in-process fake of SGLang's native ``/generate`` API.

SGLang has no CPU build, so this is the only check here: the fake follows SGLang's documented
format (``GenerateReqInput``; ``meta_info.input_token_logprobs`` as ``[logprob, token_id, text]``
triples covering the input from ``logprob_start_len`` on, the first one ``None``; ``output_ids``;
``finish_reason`` dicts). It is verified against that documentation only, not a real server.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from mi_utils.backends.base import SamplingParams, derive_seed
from mi_utils.backends.sglang import (
    ModelNotServedError,
    RequestRejectedError,
    ServerUnavailableError,
    SGLangBackend,
)
from mi_utils.backends.vllm import find_free_port

from fakes import EOS, PAIRS, FakeTokenizer, JSONServer, check_local_tokenizer, check_server_scorer, expected_logprobs


def fake_logprob(context: list[int], token: int) -> float:
    return -(0.05 + ((sum(context) * 13 + len(context) * 5 + token * 11) % 89) / 10.0)


class FakeSGLang(JSONServer):
    """Threaded HTTP server speaking SGLang's native dialect; records every request.

    The first ``fail_first`` ``/generate`` requests get HTTP 500.
    """

    def __init__(self, model_path="/models/smollm2", fail_first=0, reject_seed=False):
        self.model_path = model_path
        self.reject_seed = reject_seed
        super().__init__([(500, {"error": {"message": "scheduler died"}})] * fail_first)

    def scripted(self, method, path):
        return path == "/generate"

    def answer(self, method, path, body):
        return self.next_step(method, path) or self.respond(path, body)

    def posts(self):
        return super().posts("/generate")

    def respond(self, path, body):
        if path == "/get_model_info":
            return 200, {"model_path": self.model_path, "tokenizer_path": self.model_path, "is_generation": True}
        if path != "/generate":
            return 404, {"detail": "Not Found"}
        batch = isinstance(body["input_ids"][0], list)
        inputs = body["input_ids"] if batch else [body["input_ids"]]
        sps = body.get("sampling_params") or {}
        sps = sps if isinstance(sps, list) else [sps] * len(inputs)
        starts = body.get("logprob_start_len", -1)
        starts = starts if isinstance(starts, list) else [starts] * len(inputs)
        out = []
        for b, (ids, sp, start) in enumerate(zip(inputs, sps, starts)):
            if self.reject_seed and "sampling_seed" in sp:
                return 400, {
                    "error": {"message": "SamplingParams.__init__() got an unexpected keyword argument 'sampling_seed'"}
                }
            meta = {"id": f"req{b}", "prompt_tokens": len(ids)}
            if body.get("return_logprob"):
                start = 0 if start is None or start < 0 else start
                vals = [None] + [fake_logprob(ids[:i], ids[i]) for i in range(start + 1, len(ids))]
                meta["input_token_logprobs"] = [[v, t, None] for v, t in zip(vals, ids[start:])]
                meta["output_token_logprobs"] = [[-1.0, 5, None]]
            rng = random.Random(sp.get("sampling_seed", 12345) if sp.get("temperature", 1.0) > 0 else 0)
            mx = sp.get("max_new_tokens", 128)
            k = rng.randint(1, mx)
            toks = [rng.randint(ord("a") + 10, ord("z") + 10) for _ in range(k)]
            if k < mx:
                toks.append(EOS)
                meta["finish_reason"] = {"type": "stop", "matched": EOS}
            else:
                meta["finish_reason"] = {"type": "length", "length": mx}
            meta["completion_tokens"] = len(toks)
            out.append({"text": "".join(chr(t - 10) for t in toks if t >= 10), "output_ids": toks, "meta_info": meta})
        return 200, out if batch else out[0]


@pytest.fixture
def fake():
    s = FakeSGLang()
    yield s
    s.close()


def expected(prefix, cont):
    return expected_logprobs(fake_logprob, prefix, cont)


def test_score_uses_logprob_start_len_and_reads_tail(fake):
    b = SGLangBackend(fake.url, "smollm2", score_batch_size=2)
    out = b.score(PAIRS)
    for (p, c), got in zip(PAIRS, out):
        assert got.dtype == np.float64 and got.shape == (len(c),)
        np.testing.assert_allclose(got, expected(p, c), atol=1e-12)
    posts = fake.posts()
    assert len(posts) == 3
    bodies = [r[2] for r in posts]
    first = next(bd for bd in bodies if bd["input_ids"][0] == PAIRS[0][0] + PAIRS[0][1])
    assert first["return_logprob"] is True
    assert first["logprob_start_len"] == [len(PAIRS[0][0]) - 1, len(PAIRS[1][0]) - 1]
    assert first["sampling_params"]["max_new_tokens"] == 1


def test_score_detects_misalignment(fake):
    b = SGLangBackend(fake.url)
    orig = fake.respond

    def shifted(path, body):
        code, out = orig(path, body)
        if path == "/generate":
            for it in out:
                it["meta_info"]["input_token_logprobs"] = it["meta_info"]["input_token_logprobs"][:-1]
        return code, out

    fake.respond = shifted
    with pytest.raises(Exception, match="misaligned|no log-prob|input_token_logprobs"):
        b.score([([1, 2, 3], [4, 5])])


def test_satisfies_backend_protocol(fake):
    from mi_utils.backends import BACKEND_ROLES
    from mi_utils.backends.base import Backend, Generator, Scorer

    b = SGLangBackend(fake.url, tokenizer=FakeTokenizer())
    assert isinstance(b, Backend) and isinstance(b, Scorer) and isinstance(b, Generator)
    assert b.roles == BACKEND_ROLES["sglang"] == {"generator", "scorer"}


def test_scorer_half_tokenises_locally(fake):
    """encode / BOS / EOS / chat template come from the served model's tokenizer, run here."""
    check_local_tokenizer(SGLangBackend(fake.url, tokenizer=FakeTokenizer()))


def test_server_scorer_runs_score_matrix_choice_and_perplexity(fake):
    """The scale-out path: every caller that needs a scorer works against the server backend."""
    check_server_scorer(SGLangBackend(fake.url, tokenizer=FakeTokenizer()), expected)


def test_model_check(fake):
    assert SGLangBackend(fake.url).model_name == "/models/smollm2"
    assert SGLangBackend(fake.url, "/models/smollm2").model_path == "/models/smollm2"
    with pytest.raises(ModelNotServedError, match="serves '/models/smollm2', not 'qwen'"):
        SGLangBackend(fake.url, "qwen")


def test_server_down():
    url = f"http://127.0.0.1:{find_free_port()}"
    with pytest.raises(ServerUnavailableError, match=f"no SGLang server answered at {url}.*sglang.launch_server"):
        SGLangBackend(url, backoff=0.01)


def test_retry_and_round_robin():
    a, b_ = FakeSGLang(fail_first=1), FakeSGLang()
    try:
        b = SGLangBackend([a.url, b_.url], score_batch_size=1, concurrency=1, backoff=0.01)
        out = b.score(PAIRS[:4])
        for (p, c), got in zip(PAIRS, out):
            np.testing.assert_allclose(got, expected(p, c))
        assert len(a.posts()) + len(b_.posts()) == 5  # one 500 was retried on the other replica
    finally:
        a.close()
        b_.close()


def test_generate(fake):
    tok = FakeTokenizer()
    b = SGLangBackend(fake.url, tokenizer=tok)
    params = SamplingParams(n=3, max_new_tokens=5, seed=4)
    msgs = [{"role": "user", "content": "hello"}]
    gens = b.generate([msgs], params)[0]
    ids = tok.apply_chat_template(msgs)
    body = fake.posts()[-1][2]
    assert body["input_ids"] == [ids] * 3
    seed = derive_seed(4, ids)
    assert [sp["sampling_seed"] for sp in body["sampling_params"]] == [seed, seed + 1, seed + 2]
    sp = body["sampling_params"][0]
    assert sp["top_k"] == -1 and sp["top_p"] == 1.0 and sp["temperature"] == 1.0 and sp["max_new_tokens"] == 5
    assert sp["repetition_penalty"] == 1.0 and sp["min_p"] == 0.0
    assert len(gens) == 3
    for j, g in enumerate(gens):
        assert g.sample_index == j and g.prompt_ids == ids and EOS not in g.token_ids
        assert g.text == tok.decode(g.token_ids).strip()
        assert (g.finish_reason == "length") == (len(g.token_ids) == 5)
        assert g.meta["backend"] == "sglang" and g.meta["sample_seed"] == seed + j


def test_generate_falls_back_when_seed_rejected():
    s = FakeSGLang(reject_seed=True)
    try:
        b = SGLangBackend(s.url, tokenizer=FakeTokenizer())
        gens = b.generate([[{"role": "user", "content": "x"}]], SamplingParams(n=2, max_new_tokens=3))[0]
        assert len(gens) == 2 and b.send_seed is False
        assert "sampling_seed" not in s.posts()[-1][2]["sampling_params"][0]
    finally:
        s.close()


def test_4xx_carries_message():
    s = FakeSGLang(reject_seed=True)
    try:
        b = SGLangBackend(s.url, tokenizer=FakeTokenizer(), send_seed=True)
        b.send_seed = True
        orig = s.respond
        s.respond = lambda path, body: (
            (400, {"error": {"message": "input is too long"}}) if path == "/generate" else orig(path, body)
        )
        with pytest.raises(RequestRejectedError, match="HTTP 400.*input is too long"):
            b.score([([1], [2])])
    finally:
        s.close()


# ------------------------------------------------------------------ the experiment, end to end
def _llama_config(tmp_path) -> str:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "model_type": "llama",
                "vocab_size": 300,
                "hidden_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 4,
                "intermediate_size": 128,
            }
        )
    )
    return str(path)


def test_experiment_runs_end_to_end_on_the_fake_server_and_resumes(tmp_path, monkeypatch):
    """compressor, proxy and self scorers and predictor all on SGLang (the fake), built from a config."""
    import pandas as pd

    from mi_utils import models
    from mi_utils.experiment import MI_REQUIRED, REQUIRED_NUMERIC, ROW_COLUMNS, parse_config, run

    monkeypatch.setattr(models, "load_tokenizer", lambda name: FakeTokenizer())  # the served model's tokenizer
    server = FakeSGLang()
    try:
        hf = _llama_config(tmp_path)
        spec = {
            "model": "/models/smollm2",
            "backend": "sglang",
            "urls": [server.url],
            "tokenizer": "fake-tok",
            "hf_config": hf,
        }
        cfg = parse_config(
            {
                "name": "sglang-e2e",
                "N": 3,
                "M": 2,
                "n_boot": 50,
                "datasets": [{"name": "synthetic_clinical_shared"}],
                "compressors": [{"method": "shared_prefix"}, {**spec, "name": "lm", "max_new_tokens": 6}],
                "predictors": [{**spec, "name": "pred", "mode": "choice"}],
                "scorers": [{**spec, "name": "proxy"}, {**spec, "name": "own", "prompt": "own"}],
            }
        )
        ref = run(cfg, out_dir=tmp_path / "ref", progress=False)
        df = ref.rows
        assert not set(ROW_COLUMNS) - set(df.columns)
        assert len(df) == 3 * 2 * 2  # records x settings x scorers (one predictor)
        assert not df[list(REQUIRED_NUMERIC)].isna().any().any()
        assert not df[list(MI_REQUIRED)].isna().any().any() and np.isfinite(df.mi_bits).all()
        assert set(df.compressor_backend.dropna()) == {"sglang"} and set(df.scorer_backend) == {"sglang"}
        lm = df[df.compressor_kind == "lm"]
        assert lm.sampling_is_pure.all() and (lm.flops_compressor > 0).all()
        assert lm.groupby("scorer").upper_is_bound.all().to_dict() == {"own": True, "proxy": False}
        assert set(df.mi_estimand) == {"I(X;Z|Q)"}
        gen_posts = [b for _, _, b, _ in server.posts() if isinstance(b.get("sampling_params"), list)]
        assert len(gen_posts) == 3  # one generation request per record (M samples each)

        # interrupted while scoring, then resumed: nothing generated twice, the same table
        real_score = SGLangBackend.score
        calls = {"n": 0}

        def flaky(self, pairs):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt("simulated interruption while scoring")
            return real_score(self, pairs)

        monkeypatch.setattr(SGLangBackend, "score", flaky)
        with pytest.raises(KeyboardInterrupt):
            run(cfg, out_dir=tmp_path / "b", progress=False)
        before = len(server.posts())
        res = run(cfg, out_dir=tmp_path / "b", progress=False)
        resumed = server.posts()[before:]
        assert not [b for _, _, b, _ in resumed if isinstance(b.get("sampling_params"), list)]  # no regeneration
        key = ["key"]
        pd.testing.assert_frame_equal(
            res.rows.sort_values(key).reset_index(drop=True), df.sort_values(key).reset_index(drop=True)
        )
    finally:
        server.close()
