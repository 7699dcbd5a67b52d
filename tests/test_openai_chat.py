"""OpenAIChatBackend against a fake Chat Completions server on 127.0.0.1 (no real network)."""

from __future__ import annotations

import json
import logging

import pytest

from mi_utils.backends.base import Backend, SamplingParams
from mi_utils.backends.http import (
    AuthenticationError,
    MissingAPIKeyError,
    RequestRejectedError,
    ServerError,
    ServerUnavailableError,
)
from mi_utils.backends.openai_chat import OpenAIChatBackend, total_usage
from mi_utils.evaluate import judge_free_form
from mi_utils.predict import generate_answer

from fakes import JSONServer

KEY = "sk-test-SECRETSECRET-0123456789abcdef"
ENV = "MI_UTILS_TEST_OPENAI_KEY"
MSGS = [{"role": "user", "content": "Say hi"}]


class FakeOpenAI(JSONServer):
    """Threaded HTTP server speaking a minimal Chat Completions dialect.

    ``script`` is a list of ``(status, body_or_None)`` served first, in order (``None``: a non-JSON
    body; each with ``Retry-After: retry_after`` when given); afterwards every request gets a
    normal completion whose text is ``reply`` (or ``f"reply {j}"`` for n > 1).
    """

    def __init__(self, script=(), reply="hello", retry_after=None):
        self.reply = reply
        extra = {"Retry-After": retry_after} if retry_after is not None else {}
        super().__init__([(status, payload, extra) for status, payload in script])
        self.url += "/v1"

    def respond(self, method, path, body):
        n = body.get("n", 1)
        text = self.reply if n == 1 else None
        return 200, {
            "id": "chatcmpl-1",
            "model": body["model"] + "-2024",
            "system_fingerprint": "fp_x",
            "choices": [
                {
                    "index": j,
                    "message": {"role": "assistant", "content": text or f"{self.reply} {j}"},
                    "finish_reason": "stop" if j == 0 else "length",
                }
                for j in reversed(range(n))  # out of order on purpose
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5 * n, "total_tokens": 12 + 5 * n},
        }


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(ENV, KEY)
    return KEY


def backend(url, **kw):
    kw.setdefault("backoff", 0.001)
    return OpenAIChatBackend("gpt-4o-mini", base_url=url, api_key_env=ENV, **kw)


def test_generate_sends_request_and_parses(key):
    with FakeOpenAI(reply="  hi there ") as srv:
        b = backend(srv.url)
        params = SamplingParams(temperature=0.0, max_new_tokens=7, seed=3)
        (gens,) = b.generate([MSGS], params)
    req = srv.requests[0]
    assert req.path == "/v1/chat/completions"
    assert req.headers["Authorization"] == f"Bearer {KEY}"
    body = req.body
    assert body == {"model": "gpt-4o-mini", "messages": MSGS, "temperature": 0.0, "max_tokens": 7, "n": 1, "seed": 3}
    (g,) = gens
    assert g.text == "hi there" and g.token_ids == [] and g.prompt_ids == [] and g.finish_reason == "stop"
    assert g.meta["usage"] == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    assert (g.prompt_tokens, g.output_tokens) == (12, 5)  # the generator contract: token counts out
    assert g.effective == {"do_sample": False, "temperature": 0.0, "top_p": 1.0}
    assert g.meta["model"] == "gpt-4o-mini-2024" and g.meta["seed"] == 3
    assert KEY not in json.dumps(g.meta) and KEY not in repr(g)


def test_generate_n_samples_order_and_usage_counted_once(key):
    with FakeOpenAI(reply="s") as srv:
        b = backend(srv.url, concurrency=3, max_tokens_field="max_completion_tokens")
        out = b.generate([MSGS, MSGS, MSGS], SamplingParams(n=2, top_p=0.9))
    assert len(srv.requests) == 3
    body = srv.requests[0].body
    assert body["n"] == 2 and body["top_p"] == 0.9 and body["max_completion_tokens"] == 64 and "max_tokens" not in body
    for gens in out:
        assert [g.sample_index for g in gens] == [0, 1]
        assert [g.text for g in gens] == ["s 0", "s 1"] and [g.finish_reason for g in gens] == ["stop", "length"]
        assert gens[0].meta["usage"] is not None and gens[1].meta["usage"] is None
    assert total_usage(out) == {"prompt_tokens": 36, "completion_tokens": 30, "total_tokens": 66, "requests": 3}


def test_backend_protocol_and_limitations(key):
    from mi_utils.backends import BACKEND_ROLES
    from mi_utils.backends.base import Generator, Scorer, require_role

    b = backend("http://127.0.0.1:9/v1")
    assert isinstance(b, Generator) and not isinstance(b, Scorer) and not isinstance(b, Backend)
    assert b.roles == BACKEND_ROLES["openai"] == {"generator"}
    require_role(b, "generator", "judging")
    with pytest.raises(TypeError, match="cannot score prompts for MI scoring: its roles are \\['generator'\\]"):
        require_role(b, "scorer", "MI scoring")
    with pytest.raises(NotImplementedError, match="no log-probs for prompt tokens"):
        b.score([([1], [2])])
    with pytest.raises(NotImplementedError, match="no local tokenizer"):
        b.encode_chat(MSGS)
    with pytest.raises(ValueError, match="top_k"):
        b.generate([MSGS], SamplingParams(top_k=5))


def test_key_never_in_repr_or_attributes(key):
    b = backend("http://127.0.0.1:9/v1")
    assert KEY not in repr(b) and KEY not in str(vars(b))
    assert ENV in repr(b)


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with FakeOpenAI() as srv, pytest.raises(MissingAPIKeyError, match=ENV):
        backend(srv.url).generate([MSGS], SamplingParams())
    assert srv.requests == []  # failed before sending anything


def test_no_auth_for_local_servers(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAI() as srv:
        b = OpenAIChatBackend("local", base_url=srv.url, api_key_env=None)
        assert b.generate([MSGS], SamplingParams())[0][0].text == "hello"
    assert "Authorization" not in srv.requests[0].headers


def test_key_read_at_request_time(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    b = backend("http://127.0.0.1:9/v1")  # constructing needs no key
    monkeypatch.setenv(ENV, "sk-later-key-000000")
    with FakeOpenAI() as srv:
        b.base_url = srv.url
        b.generate([MSGS], SamplingParams())
    assert srv.requests[0].headers["Authorization"] == "Bearer sk-later-key-000000"


def test_401_is_clear_and_does_not_echo_the_key(key, caplog):
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}. Also sk-test-SECR***cdef.", "type": "invalid"}}
    with FakeOpenAI(script=[(401, echo)]) as srv:
        with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as ei:
            backend(srv.url).generate([MSGS], SamplingParams())
    msg = str(ei.value)
    assert "401" in msg and ENV in msg and "Incorrect API key provided" in msg
    assert KEY not in msg and "SECRET" not in msg and KEY[:12] not in msg
    assert KEY not in caplog.text
    assert ei.value.status == 401 and len(srv.requests) == 1  # not retried


def test_retries_on_429_and_5xx_then_succeeds(key, caplog):
    script = [(429, {"error": {"message": "rate limited"}}), (503, None), (500, {"error": "boom"})]
    with FakeOpenAI(script=script, reply="ok") as srv, caplog.at_level(logging.WARNING):
        out = backend(srv.url, max_retries=3).generate([MSGS], SamplingParams())
    assert out[0][0].text == "ok" and len(srv.requests) == 4
    assert "rate limited" in caplog.text and KEY not in caplog.text


def test_retries_exhausted_gives_clear_error(key):
    with FakeOpenAI(script=[(503, {"error": {"message": f"overloaded {KEY}"}})] * 3) as srv:
        with pytest.raises(ServerUnavailableError, match="after 3 attempts.*HTTP 503") as ei:
            backend(srv.url, max_retries=2).generate([MSGS], SamplingParams())
    assert KEY not in str(ei.value) and len(srv.requests) == 3


def test_retry_after_header_is_honoured_but_capped(key, monkeypatch):
    waits = []
    monkeypatch.setattr("mi_utils.backends.http.time.sleep", waits.append)  # record the waits, do not wait
    with FakeOpenAI(script=[(429, {"error": "slow down"})], retry_after=30) as srv:
        backend(srv.url, max_retries=1, max_backoff=0.05).generate([MSGS], SamplingParams())
    assert waits == [0.05]  # 30 s asked, capped at max_backoff


def test_400_is_not_retried(key):
    with FakeOpenAI(script=[(400, {"error": {"message": "model 'gpt-5x' does not exist"}})]) as srv:
        with pytest.raises(RequestRejectedError, match="does not exist"):
            backend(srv.url).generate([MSGS], SamplingParams())
    assert len(srv.requests) == 1


def test_connection_refused_is_reported(key):
    with FakeOpenAI() as srv:
        url = srv.url
    with pytest.raises(ServerUnavailableError, match="ConnectionError") as ei:
        backend(url, max_retries=1).generate([MSGS], SamplingParams())
    assert KEY not in str(ei.value)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="base_url"):
        OpenAIChatBackend(base_url="api.openai.com")
    with pytest.raises(ValueError, match="max_tokens_field"):
        OpenAIChatBackend(max_tokens_field="tokens")


def test_as_predictor_and_judge(key):
    with FakeOpenAI(reply='{"explanation": "stated", "answer": "B"}') as srv:
        ans = generate_answer(backend(srv.url), "50 mg twice daily.", "Dose?", ["10 mg", "50 mg twice daily"])
    assert ans.index == 1
    with FakeOpenAI(reply='{"correct": true, "reason": "same"}') as srv:
        verdict = judge_free_form(backend(srv.url), "Revenue?", "$1,577 million", "1.577 billion")
    assert verdict.correct is True and verdict.judge == "gpt-4o-mini"
    assert srv.requests[0].body["temperature"] == 0.0


def test_one_error_hierarchy_and_the_old_names(key):
    """The chat backend's old error names are the shared layer's classes: ``except ServerError`` catches all."""
    from mi_utils.backends import openai_chat

    assert openai_chat.OpenAIChatError is ServerError and openai_chat.ServiceUnavailableError is ServerUnavailableError
    assert openai_chat.AuthenticationError is AuthenticationError
    assert openai_chat.MissingAPIKeyError is MissingAPIKeyError
    assert openai_chat.RequestRejectedError is RequestRejectedError
    with FakeOpenAI(script=[(401, {"error": "no"}), (400, {"error": "bad"}), (503, None), (503, None)]) as srv:
        b = backend(srv.url, max_retries=1)
        for _ in range(3):
            with pytest.raises(ServerError):
                b.generate([MSGS], SamplingParams())
    assert len(srv.requests) == 4  # 401 and 400 once each, 503 twice (one retry)
