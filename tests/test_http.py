"""The shared HTTP layer (:mod:`mi_utils.backends.http`) against fake servers on 127.0.0.1 (no real network).

What every server and API backend gets from :class:`ServerPool`: retries with backoff on
connection errors, timeouts, 408/409/429 and 5xx; ``Retry-After`` honoured (seconds or an HTTP
date) up to a cap; failover over replicas; the key read at request time and never shown; one
error hierarchy under :class:`ServerError`.
"""

from __future__ import annotations

import email.utils
import logging
import time

import pytest

from mi_utils.backends.http import (
    AuthenticationError,
    MissingAPIKeyError,
    ModelNotServedError,
    RequestRejectedError,
    ServerError,
    ServerPool,
    ServerUnavailableError,
    redact_keys,
    retry_after_seconds,
)
from mi_utils.backends.vllm import find_free_port

from fakes import JSONServer

KEY = "sk-pool-SECRETSECRET-0123456789"
ENV = "MI_UTILS_TEST_POOL_KEY"


def dead_url() -> str:
    return f"http://127.0.0.1:{find_free_port()}"


def pool(urls, **kw) -> ServerPool:
    kw.setdefault("backoff", 0.001)
    return ServerPool(urls, **kw)


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(ENV, KEY)
    return KEY


def test_one_hierarchy():
    for cls in (ServerUnavailableError, ModelNotServedError, MissingAPIKeyError, RequestRejectedError):
        assert issubclass(cls, ServerError)
    assert issubclass(AuthenticationError, RequestRejectedError)
    from mi_utils.backends import openai_chat, sglang, vllm
    from mi_utils.deep_research.retrieval import WebSearchError

    assert vllm.ServerError is sglang.ServerError is openai_chat.OpenAIChatError is ServerError
    assert issubclass(WebSearchError, ServerError)


def test_429_then_success():
    with JSONServer([(429, {"error": {"message": "rate limited"}}), (503, None)]) as srv:
        assert pool(srv.url).post("/v1/x", {"a": 1}) == {"ok": True, "path": "/v1/x"}
    assert len(srv.posts("/v1/x")) == 3


@pytest.mark.parametrize("status", [408, 409, 500, 502])
def test_retryable_statuses(status):
    with JSONServer([(status, {"error": "try again"})]) as srv:
        assert pool(srv.url).get("/health")["ok"] is True
    assert len(srv.requests) == 2


def test_retry_after_seconds_is_honoured():
    with JSONServer([(429, {"error": "slow down"}, {"Retry-After": "1"})]) as srv:
        t = time.perf_counter()
        pool(srv.url, max_retries=1).get("/x")
        waited = time.perf_counter() - t
    assert 0.9 <= waited < 5 and len(srv.requests) == 2


def test_retry_after_http_date_is_honoured():
    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: waits 1 to 2 s
    with JSONServer([(503, {"error": "maintenance"}, {"Retry-After": when})]) as srv:
        t = time.perf_counter()
        pool(srv.url, max_retries=1).get("/x")
        waited = time.perf_counter() - t
    assert 0.5 <= waited < 5


def test_retry_after_is_capped(monkeypatch):
    waits = []
    monkeypatch.setattr("mi_utils.backends.http.time.sleep", waits.append)  # record the waits, do not wait
    with JSONServer([(429, {"error": "slow down"}, {"Retry-After": "3600"})]) as srv:
        pool(srv.url, max_retries=1, max_backoff=0.05).get("/x")
    assert waits == [0.05]  # the server asked for an hour; the pool's cap wins


def test_retry_delay_backoff_and_parsing():
    p = pool("http://127.0.0.1:1", backoff=0.5, max_backoff=3.0)
    assert [p.retry_delay(a) for a in range(4)] == [0.5, 1.0, 2.0, 3.0]
    assert retry_after_seconds("7") == 7.0 and retry_after_seconds("-3") == 0.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    assert retry_after_seconds(past) == 0.0


def test_401_raises_auth_error_without_retrying(key):
    echo = {"error": {"message": f"Incorrect API key provided: {KEY[:10]}***{KEY[-4:]} ({KEY})"}}
    with JSONServer([(401, echo)]) as srv:
        p = pool(srv.url, api_key_env=ENV, max_retries=5)
        with pytest.raises(AuthenticationError, match=f"HTTP 401.*{ENV}") as ei:
            p.post("/v1/x", {})
    assert ei.value.status == 401 and len(srv.requests) == 1
    assert srv.requests[0][3]["Authorization"] == f"Bearer {KEY}"
    assert KEY not in str(ei.value) and "SECRET" not in str(ei.value)


def test_other_4xx_rejected_without_retrying():
    with JSONServer([(404, {"detail": "Not Found"})]) as srv:
        with pytest.raises(RequestRejectedError, match="HTTP 404.*Not Found") as ei:
            pool(srv.url, max_retries=5).get("/nope")
    assert ei.value.status == 404 and not isinstance(ei.value, AuthenticationError) and len(srv.requests) == 1


def test_key_never_in_messages_logs_or_repr(key, caplog):
    with JSONServer([(503, {"error": {"message": f"overloaded; your key {KEY}"}})] * 2) as srv:
        p = pool(srv.url, api_key_env=ENV, max_retries=1)
        with caplog.at_level(logging.DEBUG), pytest.raises(ServerUnavailableError, match="after 2 attempts") as ei:
            p.get("/x")
    assert ei.value.status == 503
    assert KEY not in str(ei.value) and KEY not in caplog.text and "overloaded" in caplog.text
    with pytest.raises(ServerUnavailableError, match="ConnectionError") as ei:
        pool(dead_url(), api_key_env=ENV, max_retries=0).get("/x")
    assert KEY not in str(ei.value)
    explicit = pool("http://127.0.0.1:1", api_key="sk-explicit-SECRET-99999")
    assert "SECRET" not in repr(explicit) and "SECRET" not in str(vars(explicit))
    assert "SECRET" not in redact_keys("Bearer abc.def-SECRET and sk-other-SECRET-1", [])


def test_key_read_at_request_time_and_required(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with JSONServer() as srv:
        p = pool(srv.url, api_key_env=ENV, require_api_key=True, kind="Test")
        with pytest.raises(MissingAPIKeyError, match=ENV):
            p.get("/x")
        assert srv.requests == []  # nothing sent without the key
        monkeypatch.setenv(ENV, "sk-first-000000")
        p.get("/x")
        monkeypatch.setenv(ENV, "sk-second-111111")
        p.get("/x")
        optional = pool(srv.url, api_key_env="MI_UTILS_TEST_UNSET_KEY")
        optional.get("/x")
    sent = [r.headers.get("Authorization") for r in srv.requests]
    assert sent == ["Bearer sk-first-000000", "Bearer sk-second-111111", None]


def test_failover_to_the_second_replica():
    with JSONServer() as live:
        p = pool([dead_url(), live.url], max_retries=1)
        assert [p.get("/x")["ok"] for _ in range(4)] == [True] * 4
    assert len(live.requests) == 4  # requests that started on the dead replica moved on


def test_failover_on_5xx_and_round_robin():
    with JSONServer([(503, {"error": "busy"})]) as sick, JSONServer() as well:
        p = pool([sick.url, well.url], max_retries=1, concurrency=1)
        assert p.get("/x")["ok"] is True  # sick answered 503, well answered the retry
        assert (len(sick.requests), len(well.requests)) == (1, 1)
        p.get("/x")
        p.get("/x")
        assert (len(sick.requests), len(well.requests)) == (2, 2)  # round-robin afterwards


def test_pinned_url_does_not_fail_over():
    with JSONServer() as live:
        dead = dead_url()
        p = pool([dead, live.url], max_retries=2)
        with pytest.raises(ServerUnavailableError, match=f"no model server answered at {dead}"):
            p.get("/x", url=dead)
    assert live.requests == []


def test_non_json_success_is_a_server_error():
    with JSONServer([(200, None)]) as srv, pytest.raises(ServerError, match="non-JSON") as ei:
        pool(srv.url).get("/x")
    assert ei.value.status == 200 and len(srv.requests) == 1


def test_strip_v1_only_when_asked():
    assert pool("127.0.0.1:8000/v1/").urls == ["http://127.0.0.1:8000"]
    assert pool("https://api.example.com/v1", strip_v1=False).urls == ["https://api.example.com/v1"]


def test_unsendable_request_is_a_server_error():
    import requests

    class Redirecting:
        def get(self, url, **kw):
            raise requests.TooManyRedirects("Exceeded 30 redirects.")

    with pytest.raises(ServerError, match="could not be requested: TooManyRedirects"):
        pool("http://127.0.0.1:1", session=Redirecting(), max_retries=3).get("/x")
