"""VLLMBackend against an in-process fake of vLLM's OpenAI server (fast; no vLLM needed).

The fake answers ``/v1/models`` and ``/v1/completions`` in vLLM's format (``prompt_logprobs`` with
``None`` first and ``{"<id>": {"logprob", "rank", "decoded_token"}}`` dicts, ``token_ids`` with
``return_token_ids``), so the request building, response parsing, retries, round-robin and error
messages are tested here; ``test_vllm_integration.py`` checks the numbers against a real server.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from mi_utils.backends.base import SamplingParams, derive_seed
from mi_utils.backends.http import AuthenticationError, ServerError, ServerPool, normalize_urls
from mi_utils.backends.vllm import (
    ModelNotServedError,
    RequestRejectedError,
    ServerUnavailableError,
    VLLMBackend,
    find_free_port,
    vllm_server_command,
)

from fakes import EOS, PAIRS, FakeTokenizer, JSONServer, check_local_tokenizer, check_server_scorer, expected_logprobs


def fake_logprob(context: list[int], token: int) -> float:
    """A deterministic stand-in for log p(token | context)."""
    return -(0.05 + ((sum(context) * 31 + len(context) * 7 + token * 17) % 97) / 10.0)


class FakeVLLM(JSONServer):
    """A tiny threaded HTTP server speaking vLLM's dialect; records every request.

    The first ``fail_first`` requests other than ``/v1/models`` get ``fail_status`` (with
    ``fail_headers``, e.g. ``Retry-After``).
    """

    def __init__(
        self,
        served=("fake",),
        fail_first: int = 0,
        fail_status: int = 503,
        max_model_len=64,
        fail_headers: dict | None = None,
    ):
        self.served = list(served)
        self.max_model_len = max_model_len
        super().__init__([(fail_status, {"error": {"message": "engine overloaded"}}, fail_headers or {})] * fail_first)

    def scripted(self, method, path):
        return path != "/v1/models"

    def posts(self, path="/v1/completions"):
        return super().posts(path)

    # ------------------------------------------------------------- vLLM logic
    def respond(self, method, path, body):
        if path == "/v1/models":
            cards = [
                {"id": m, "object": "model", "root": "/nonexistent/" + m, "max_model_len": self.max_model_len}
                for m in self.served
            ]
            return 200, {"object": "list", "data": cards}
        if path != "/v1/completions":
            return 404, {"detail": "Not Found"}
        if body.get("model") not in self.served:
            return 404, {"error": {"message": f"The model `{body.get('model')}` does not exist.", "code": 404}}
        prompts = body["prompt"]
        if prompts and isinstance(prompts[0], int):
            prompts = [prompts]
        choices = []
        n = body.get("n", 1)
        if body.get("temperature") == 0 and n > 1:
            return 400, {"error": {"message": f"n must be 1 when using greedy sampling, got {n}."}}
        for pi, ids in enumerate(prompts):
            if len(ids) + body.get("max_tokens", 16) > self.max_model_len:
                return 400, {"error": {"message": "This model's maximum context length is exceeded"}}
            for j in range(n):
                ch = {
                    "index": pi * n + j,
                    "text": "",
                    "finish_reason": "length",
                    "stop_reason": None,
                    "token_ids": None,
                }
                if body.get("prompt_logprobs") is not None:
                    pl = [None]
                    for i in range(1, len(ids)):
                        t = ids[i]
                        # the actual token plus a decoy top-1 entry, as with prompt_logprobs=k>0
                        pl.append(
                            {
                                "99999": {"logprob": -0.01, "rank": 1, "decoded_token": "x"},
                                str(t): {"logprob": fake_logprob(ids[:i], t), "rank": 5, "decoded_token": "y"},
                            }
                        )
                    ch["prompt_logprobs"] = pl
                if body.get("return_token_ids"):
                    rng = random.Random(body.get("seed", 0) + j)
                    k = rng.randint(1, body["max_tokens"])
                    toks = [rng.randint(ord("a") + 10, ord("z") + 10) for _ in range(k)]
                    if k < body["max_tokens"]:
                        toks.append(EOS)
                        ch["finish_reason"] = "stop"
                    ch["token_ids"] = toks
                    ch["prompt_token_ids"] = ids
                    ch["text"] = "".join(chr(t - 10) for t in toks if t >= 10)
                choices.append(ch)
        return 200, {"object": "text_completion", "model": body["model"], "choices": choices}


@pytest.fixture
def fake():
    s = FakeVLLM()
    yield s
    s.close()


@pytest.fixture
def fake2():
    s = FakeVLLM()
    yield s
    s.close()


def dead_url() -> str:
    return f"http://127.0.0.1:{find_free_port()}"


def expected(prefix, cont):
    return expected_logprobs(fake_logprob, prefix, cont)


# ------------------------------------------------------------------- scoring
def test_score_reads_actual_token_from_prompt_logprobs(fake):
    b = VLLMBackend(fake.url, "fake", tokenizer=FakeTokenizer(), score_batch_size=2, concurrency=3)
    out = b.score(PAIRS)
    assert len(out) == len(PAIRS)
    for (p, c), got in zip(PAIRS, out):
        assert got.dtype == np.float64 and got.shape == (len(c),)
        np.testing.assert_allclose(got, expected(p, c), rtol=0, atol=1e-12)
    posts = fake.posts()
    assert len(posts) == 3  # 5 pairs in batches of 2 (sent concurrently: any order)
    first = [PAIRS[0][0] + PAIRS[0][1], PAIRS[1][0] + PAIRS[1][1]]
    body = next(r[2] for r in posts if r[2]["prompt"] == first)
    assert body["prompt_logprobs"] == 0 and body["max_tokens"] == 1 and body["model"] == "fake"


def test_score_validates_pairs_and_length(fake):
    b = VLLMBackend(fake.url, "fake")
    with pytest.raises(ValueError, match="empty prefix"):
        b.score([([], [1])])
    with pytest.raises(ValueError, match="max_model_len=64"):
        b.score([([1] * 60, [2] * 10)])
    assert fake.posts() == []  # rejected before any request


def test_satisfies_backend_protocol(fake):
    from mi_utils.backends import BACKEND_ROLES
    from mi_utils.backends.base import Backend, Generator, Scorer

    b = VLLMBackend(fake.url, "fake", tokenizer=FakeTokenizer())
    assert isinstance(b, Backend) and isinstance(b, Scorer) and isinstance(b, Generator)
    assert b.roles == BACKEND_ROLES["vllm"] == {"generator", "scorer"}


def test_scorer_half_tokenises_locally(fake):
    """encode / BOS / EOS / chat template come from the served model's tokenizer, run here."""
    check_local_tokenizer(VLLMBackend(fake.url, "fake", tokenizer=FakeTokenizer()))


@pytest.fixture
def roomy():
    s = FakeVLLM(max_model_len=100_000)
    yield s
    s.close()


def test_server_scorer_runs_score_matrix_choice_and_perplexity(roomy):
    """The scale-out path: every caller that needs a scorer works against the server backend."""
    check_server_scorer(VLLMBackend(roomy.url, "fake", tokenizer=FakeTokenizer()), expected)


def test_score_without_tokenizer(fake):
    """Scoring needs no tokenizer: the server root does not exist here and none is loaded."""
    b = VLLMBackend(fake.url, "fake")
    assert b.score(PAIRS[:1])[0].shape == (2,)


# ---------------------------------------------------------------- replicas
def test_round_robin_over_replicas(fake, fake2):
    b = VLLMBackend([fake.url, fake2.url], "fake", score_batch_size=1, concurrency=1)
    out = b.score(PAIRS[:4])
    assert len(fake.posts()) == 2 and len(fake2.posts()) == 2
    for (p, c), got in zip(PAIRS, out):
        np.testing.assert_allclose(got, expected(p, c))


def test_failover_to_live_replica(fake):
    b = VLLMBackend(
        [dead_url(), fake.url],
        "fake",
        check_server=False,
        score_batch_size=1,
        concurrency=1,
        max_retries=1,
        backoff=0.01,
    )
    out = b.score(PAIRS[:3])
    assert len(out) == 3 and len(fake.posts()) == 3


def test_concurrent_requests_keep_order(fake):
    b = VLLMBackend(fake.url, "fake", score_batch_size=1, concurrency=8)
    pairs = [([1, 2 + k], [3 + k, 4]) for k in range(20)]
    for (p, c), got in zip(pairs, b.score(pairs)):
        np.testing.assert_allclose(got, expected(p, c))


# ------------------------------------------------------------------ errors
def test_retries_5xx_then_succeeds():
    s = FakeVLLM(fail_first=2)
    try:
        b = VLLMBackend(s.url, "fake", max_retries=3, backoff=0.01)
        got = b.score(PAIRS[:1])[0]
        np.testing.assert_allclose(got, expected(*PAIRS[0]))
        assert len(s.posts()) == 3
    finally:
        s.close()


def test_gives_up_after_retries():
    s = FakeVLLM(fail_first=10)
    try:
        b = VLLMBackend(s.url, "fake", max_retries=2, backoff=0.01)
        with pytest.raises(ServerUnavailableError, match="HTTP 503: engine overloaded"):
            b.score(PAIRS[:1])
        assert len(s.posts()) == 3
    finally:
        s.close()


def test_4xx_is_not_retried_and_carries_server_message():
    s = FakeVLLM(fail_first=1, fail_status=400)
    try:
        b = VLLMBackend(s.url, "fake", max_retries=3)
        with pytest.raises(RequestRejectedError, match="HTTP 400.*engine overloaded") as ei:
            b.score(PAIRS[:1])
        assert ei.value.status == 400
        assert len(s.posts()) == 1
    finally:
        s.close()


def test_retry_after_is_honoured_by_vllm_pools_too(monkeypatch):
    """The shared HTTP layer waits as long as a 429's ``Retry-After`` asks (not only for chat APIs)."""
    waits = []
    monkeypatch.setattr("mi_utils.backends.http.time.sleep", waits.append)  # record the waits, do not wait
    s = FakeVLLM(fail_first=1, fail_status=429, fail_headers={"Retry-After": "1"})
    try:
        b = VLLMBackend(s.url, "fake", max_retries=2, backoff=0.001)
        np.testing.assert_allclose(b.score(PAIRS[:1])[0], expected(*PAIRS[0]))
        assert waits == [1.0] and len(s.posts()) == 2
    finally:
        s.close()


def test_401_is_an_authentication_error_and_not_retried(monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", "sk-vllm-secret-0123456789")
    s = FakeVLLM(fail_first=1, fail_status=401)
    try:
        b = VLLMBackend(s.url, "fake", max_retries=3)
        with pytest.raises(AuthenticationError, match="HTTP 401.*VLLM_API_KEY") as ei:
            b.score(PAIRS[:1])
        assert isinstance(ei.value, RequestRejectedError) and isinstance(ei.value, ServerError)
        assert ei.value.status == 401 and len(s.posts()) == 1
        assert "secret" not in str(ei.value)
    finally:
        s.close()


def test_server_down_message_names_the_fix():
    url = dead_url()
    with pytest.raises(ServerUnavailableError) as ei:
        VLLMBackend(url, "smollm2", backoff=0.01)
    msg = str(ei.value)
    assert f"no vLLM server answered at {url}" in msg
    assert "python -m vllm.entrypoints.openai.api_server" in msg and "--served-model-name smollm2" in msg


def test_model_mismatch_lists_served_models():
    s = FakeVLLM(served=("smollm2", "other"))
    try:
        with pytest.raises(ModelNotServedError, match=r"serves \['smollm2', 'other'\], not 'qwen'"):
            VLLMBackend(s.url, "qwen")
    finally:
        s.close()


def test_api_key_sent_but_never_exposed(fake, monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", "sk-secret-123")
    b = VLLMBackend(fake.url, "fake", tokenizer=FakeTokenizer())
    gens = b.generate([[{"role": "user", "content": "hi"}]], SamplingParams(n=1, max_new_tokens=4))
    assert all(r[3].get("Authorization") == "Bearer sk-secret-123" for r in fake.requests)
    assert "sk-secret" not in repr(b) and "sk-secret" not in repr(b.pool)
    assert "sk-secret" not in repr(gens)
    b2 = VLLMBackend(fake.url, "fake", api_key="explicit")
    b2.score(PAIRS[:1])
    assert fake.requests[-1][3].get("Authorization") == "Bearer explicit"


# -------------------------------------------------------------- generation
def test_generate_samples_and_records_settings(fake):
    tok = FakeTokenizer()
    b = VLLMBackend(fake.url, "fake", tokenizer=tok)
    msgs = [[{"role": "user", "content": "hello"}], [{"role": "user", "content": "bye"}]]
    params = SamplingParams(n=4, max_new_tokens=6, seed=7, top_k=0, top_p=1.0, temperature=1.0)
    out = b.generate(msgs, params)
    assert [len(g) for g in out] == [4, 4]
    posts = fake.posts()
    assert len(posts) == 2
    for m, gens in zip(msgs, out):
        ids = tok.apply_chat_template(m)
        body = next(r[2] for r in posts if r[2]["prompt"] == ids)
        assert body["n"] == 4 and body["top_k"] == -1 and body["top_p"] == 1.0 and body["temperature"] == 1.0
        assert body["seed"] == derive_seed(7, ids) and body["return_token_ids"] is True
        assert body["repetition_penalty"] == 1.0 and body["min_p"] == 0.0
        for j, g in enumerate(gens):
            assert g.sample_index == j and g.prompt_ids == ids and g.sampling is params
            assert EOS not in g.token_ids  # cut like HFBackend
            assert g.text == tok.decode(g.token_ids).strip()
            assert g.finish_reason in ("stop", "length")
            assert (g.finish_reason == "length") == (len(g.token_ids) == 6)
            assert g.meta["seed"] == derive_seed(7, ids) and g.meta["sample_seed"] == g.meta["seed"] + j
            assert g.meta["backend"] == "vllm" and g.meta["model"] == "fake"
    # same seed -> same samples
    again = b.generate(msgs, params)
    assert [[g.token_ids for g in gs] for gs in again] == [[g.token_ids for g in gs] for gs in out]


def test_generate_topk_and_greedy(fake):
    b = VLLMBackend(fake.url, "fake", tokenizer=FakeTokenizer())
    b.generate(
        [[{"role": "user", "content": "x"}]],
        SamplingParams(n=2, top_k=20, top_p=0.9, temperature=0.7, max_new_tokens=3),
    )
    body = fake.posts()[-1][2]
    assert body["top_k"] == 20 and body["top_p"] == 0.9 and body["temperature"] == 0.7
    gens = b.generate([[{"role": "user", "content": "x"}]], SamplingParams(n=3, temperature=0.0, max_new_tokens=3))[0]
    assert fake.posts()[-1][2]["n"] == 1  # vLLM refuses n>1 when greedy
    assert len(gens) == 3 and len({tuple(g.token_ids) for g in gens}) == 1


def test_generate_prompt_too_long(fake):
    b = VLLMBackend(fake.url, "fake", tokenizer=FakeTokenizer())
    with pytest.raises(ValueError, match="max_model_len"):
        b.generate([[{"role": "user", "content": "x" * 80}]], SamplingParams(max_new_tokens=4))


def test_missing_tokenizer_error_names_the_fix(fake):
    b = VLLMBackend(fake.url, "fake")
    with pytest.raises(ValueError, match="pass tokenizer="):
        b.encode_chat([{"role": "user", "content": "x"}])


# ------------------------------------------------------------------ helpers
def test_normalize_urls():
    assert normalize_urls("127.0.0.1:8000, http://h:1/v1/") == ["http://127.0.0.1:8000", "http://h:1"]
    with pytest.raises(ValueError):
        normalize_urls([])


def test_pool_map_propagates_errors():
    pool = ServerPool("http://127.0.0.1:1", concurrency=4)

    def f(x):
        if x == 3:
            raise KeyError(x)
        return x * 2

    assert pool.map(lambda x: x * 2, range(10)) == [x * 2 for x in range(10)]
    with pytest.raises(KeyError):
        pool.map(f, range(10))


def test_derive_seed_is_stable_and_prompt_specific():
    """Seeds are a pure function of (run seed, prompt ids): resumed runs resample identically."""
    assert derive_seed(0, [1, 2, 3]) == derive_seed(0, [1, 2, 3])
    assert derive_seed(0, [1, 2, 3]) != derive_seed(1, [1, 2, 3])
    assert derive_seed(0, [1, 2, 3]) != derive_seed(0, [1, 2, 4])
    # pinned: changing the formula would silently change every recorded sample's seed
    assert derive_seed(123, list(range(50))) == 2094684321


def test_server_command_shape():
    cmd = vllm_server_command("/m", python="/py", served_model_name="smollm2", port=1234)
    assert cmd[:3] == ["/py", "-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--served-model-name") + 1] == "smollm2" and "--enforce-eager" in cmd
    assert cmd[cmd.index("--dtype") + 1] == "float32" and cmd[cmd.index("--port") + 1] == "1234"


def test_launch_without_venv_says_how_to_create_it(tmp_path):
    from mi_utils.backends.vllm import launch_vllm_server

    with pytest.raises(FileNotFoundError, match="scripts/setup_vllm.sh"):
        with launch_vllm_server(tmp_path, python=tmp_path / "nope" / "python"):
            pass
