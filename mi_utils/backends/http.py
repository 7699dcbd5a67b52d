"""The one HTTP layer of every server and API client: :class:`ServerPool` and its error types.

Used by the vLLM and SGLang backends (through their base,
:class:`~mi_utils.backends.server.ServerBackend`), the Chat Completions backend
(:class:`~mi_utils.backends.openai_chat.OpenAIChatBackend`) and the Tavily web search adapter
(:class:`~mi_utils.deep_research.retrieval.TavilySearch`). Only ``requests`` and the standard library are
imported here, so clients stay cheap to import.

What :class:`ServerPool` does for every request:

* spreads requests round-robin over several base URLs (data-parallel replicas of one model);
* retries connection errors, timeouts, cut-off answers, HTTP 408, 409, 429 and 5xx with
  exponential backoff, moving to the next replica on each retry (a dead replica does not stall
  the run while another answers) and waiting at least as long as a ``Retry-After`` header asks
  (seconds or an HTTP date), capped at ``max_backoff``;
* turns HTTP 401/403 into :class:`AuthenticationError` and any other 4xx into
  :class:`RequestRejectedError`, both carrying the status and the server's own message (no retry:
  the same request would be rejected again);
* runs many calls at once on a thread pool (:meth:`ServerPool.map`), keeping input order.

Errors: every failure is a :class:`ServerError` (``except ServerError`` catches them all)::

    ServerError                    any failure; ``status`` is the last HTTP status or None
    +-- ServerUnavailableError     nothing answered: connection errors, timeouts, 408/409/429/5xx
    |                              persisted through every retry
    +-- ModelNotServedError        a server answers but serves another model
    +-- MissingAPIKeyError         the environment variable that should hold the key is unset
    +-- RequestRejectedError       HTTP 4xx: the request itself is wrong (not retried)
        +-- AuthenticationError    HTTP 401/403: the key was refused or lacks access

API keys: an explicit key, or the value of an environment variable read at *each request* (never
kept), sent as ``Authorization: Bearer ...``. Keys never appear in ``repr``, logs or exception
messages: every message this module writes goes through :meth:`ServerPool.redact`, which masks
the key (and fragments servers echo back) and anything that looks like one.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

__all__ = [
    "ServerError",
    "ServerUnavailableError",
    "ModelNotServedError",
    "MissingAPIKeyError",
    "RequestRejectedError",
    "AuthenticationError",
    "ServerPool",
    "RETRY_STATUS",
    "is_retryable_status",
    "normalize_urls",
    "redact_keys",
    "retry_after_seconds",
    "server_message",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

RETRY_STATUS = frozenset({408, 409, 429})  # plus every 5xx
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_KEYLIKE = re.compile(r"\b(sk|tvly)-[A-Za-z0-9_\-*.]{3,}")
_BEARER = re.compile(r"(Bearer\s+)[^\s'\",;]+", re.IGNORECASE)
# connection refused or reset, timeouts, an answer cut off mid-body: worth another attempt
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


# ============================================================================ errors
class ServerError(RuntimeError):
    """A server or API could not serve a request (the base of every error here).

    Attributes:
      status: the HTTP status of the last response, ``None`` when there was none.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerUnavailableError(ServerError):
    """No usable answer: connection errors, timeouts, 408/409/429 or 5xx after every retry."""


class ModelNotServedError(ServerError):
    """The server answers but does not serve the requested model name."""


class MissingAPIKeyError(ServerError):
    """The environment variable that should hold the API key is not set (nothing was sent)."""


class RequestRejectedError(ServerError):
    """HTTP 4xx other than 408/409/429: the request itself is wrong; the message is the server's own."""


class AuthenticationError(RequestRejectedError):
    """HTTP 401/403: the key was rejected or lacks access to what was asked for."""


# =========================================================================== helpers
def is_retryable_status(status: int) -> bool:
    """Whether an HTTP status is worth retrying (408, 409, 429 and every 5xx)."""
    return status in RETRY_STATUS or status >= 500


def normalize_urls(urls: str | Sequence[str], *, strip_v1: bool = True) -> list[str]:
    """Base URLs without a trailing ``/`` (nor ``/v1`` when ``strip_v1``); ``host:port`` gets ``http://``.

    A single string may hold several URLs separated by commas (handy in environment variables).

    Raises:
      ValueError: no URL was given.
    """
    if isinstance(urls, str):
        urls = urls.split(",")
    out = []
    for u in urls:
        u = u.strip().rstrip("/")
        if not u:
            continue
        if "://" not in u:
            u = "http://" + u
        if strip_v1 and u.endswith("/v1"):
            u = u[: -len("/v1")]
        out.append(u)
    if not out:
        raise ValueError("no server URL given; pass urls='http://127.0.0.1:8000' (or a list of replicas)")
    return out


def redact_keys(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each secret, fragments of it and key-like strings (``sk-...``, ``Bearer ...``) masked.

    Servers often echo part of a bad key (``"sk-abc***wxyz"``), so a secret's first 8 and last 6
    characters are masked too when it is long enough for those to identify it.
    """
    for key in secrets:
        if not key:
            continue
        text = text.replace(key, "***")
        if len(key) >= 8:
            text = text.replace(key[:8], "***").replace(key[-6:], "***")
    text = _BEARER.sub(r"\1***", text)
    return _KEYLIKE.sub(lambda m: f"{m.group(1)}-***", text)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (a number or an HTTP date); ``None`` if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def server_message(resp: Any, limit: int = 2000) -> str:
    """The human-readable error text of a response (OpenAI, FastAPI or plain body); not yet redacted."""
    text = str(getattr(resp, "text", "") or "")
    try:
        body = resp.json()
    except ValueError:
        return text.strip()[:limit] or str(getattr(resp, "reason", "") or "")
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
        for key in ("message", "detail"):
            if body.get(key):
                return str(body[key])
    return str(body)[:limit]


class _Secret:
    """An explicit API key kept out of ``repr``/``vars`` printing."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "'***'"


# ============================================================================== pool
class ServerPool:
    """Round-robin HTTP client over replicas of one server or API, with retries and one error type.

    Args:
      urls: base URLs (``http://host:port``), a comma-separated string, or a list.
      timeout: seconds for one request (connect and read).
      max_retries: extra attempts after the first on connection errors, timeouts, 408/409/429 and 5xx.
      backoff: first retry delay in seconds; doubles on each retry.
      max_backoff: cap on one delay in seconds, ``Retry-After`` included.
      concurrency: calls in flight at once in :meth:`map`.
      api_key: explicit bearer token (kept masked, never logged); wins over ``api_key_env``.
      api_key_env: environment variable holding the key, read at every request and never kept.
      require_api_key: raise :class:`MissingAPIKeyError` (before sending) when no key is found;
        otherwise requests go without ``Authorization``.
      missing_key_hint: appended to the missing-key error (what else the caller can do).
      start_hint: appended to "nothing answered" errors (how to start the server).
      kind: what is called, named in errors ("vLLM", "SGLang", "Chat Completions").
      strip_v1: drop a trailing ``/v1`` from the URLs (servers whose paths start with ``/v1``);
        ``False`` keeps the URL as given (API roots such as ``https://api.openai.com/v1``).
      honour_env: for non-loopback hosts, use ``HTTP(S)_PROXY``/``NO_PROXY`` and
        ``REQUESTS_CA_BUNDLE`` from the environment (never ``.netrc``, which would replace the
        ``Authorization`` header). Loopback servers are always reached directly.
      session: a ``requests``-like object with ``get``/``post`` used for every request as is
        (tests pass fakes); default: one ``requests.Session`` per thread.
    """

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        timeout: float = 600.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        concurrency: int = 8,
        api_key: str | None = None,
        api_key_env: str | None = None,
        require_api_key: bool = False,
        missing_key_hint: str = "",
        start_hint: str = "",
        kind: str = "model",
        strip_v1: bool = True,
        honour_env: bool = False,
        session: Any = None,
    ) -> None:
        self.urls = normalize_urls(urls, strip_v1=strip_v1)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.concurrency = max(1, int(concurrency))
        self.api_key_env = api_key_env
        self.require_api_key = require_api_key
        self.missing_key_hint = missing_key_hint
        self.start_hint = start_hint
        self.kind = kind
        self.honour_env = honour_env
        self._api_key = _Secret(api_key) if api_key else None
        self._session_override = session
        self._rr = itertools.count()
        self._rr_lock = threading.Lock()
        self._local = threading.local()

    def __repr__(self) -> str:  # no key, ever
        return f"ServerPool(urls={self.urls!r}, concurrency={self.concurrency})"

    # ------------------------------------------------------------------- keys
    def _key(self) -> str:
        if self._api_key is not None:
            return self._api_key.value
        return os.environ.get(self.api_key_env, "").strip() if self.api_key_env else ""

    def auth_headers(self) -> dict[str, str]:
        """The ``Authorization`` header, the key read now (raises :class:`MissingAPIKeyError` if required and unset)."""
        key = self._key()
        if key:
            return {"Authorization": f"Bearer {key}"}
        if self.require_api_key:
            env = self.api_key_env or "the API key variable"
            msg = (
                f"the environment variable {env} is not set (or empty); export {env}=<your key> before calling "
                f"the {self.kind} API at {self.urls[0]}"
            )
            raise MissingAPIKeyError(msg + (f", {self.missing_key_hint}" if self.missing_key_hint else ""))
        return {}

    def redact(self, text: str) -> str:
        """``text`` with the current key (and anything key-like) masked; see :func:`redact_keys`."""
        return redact_keys(text, [self._key()])

    # --------------------------------------------------------------- sessions
    def _session(self) -> Any:
        if self._session_override is not None:
            return self._session_override
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.trust_env = False  # no .netrc (it replaces our header); proxies only via honour_env
            self._local.session = s
        return s

    def _network_kwargs(self, url: str) -> dict[str, Any]:
        if self._session_override is not None or not self.honour_env:
            return {}
        if (urlsplit(url).hostname or "") in _LOOPBACK:
            return {}
        kw: dict[str, Any] = {}
        proxies = requests.utils.get_environ_proxies(url)
        if proxies:
            kw["proxies"] = proxies
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            kw["verify"] = bundle
        return kw

    def _next_index(self) -> int:
        with self._rr_lock:
            return next(self._rr) % len(self.urls)

    def down_message(self, url: str, err: BaseException | str) -> str:
        """The "nothing answered" message for ``url``, naming the fix when ``start_hint`` is set."""
        reason = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
        msg = f"no {self.kind} server answered at {url} ({reason})"
        if self.start_hint:
            msg += f"; start one with: {self.start_hint}"
        return self.redact(msg)

    def retry_delay(self, attempt: int, resp: Any = None) -> float:
        """Seconds before retry ``attempt + 1``: exponential backoff, at least ``Retry-After``, capped."""
        delay = self.backoff * (2**attempt)
        headers = getattr(resp, "headers", None) or {}
        asked = retry_after_seconds(headers.get("Retry-After"))
        if asked is not None:
            delay = max(delay, asked)
        return max(0.0, min(self.max_backoff, delay))

    # ---------------------------------------------------------------- request
    def request(
        self,
        method: str,
        path: str,
        payload: dict | None = None,
        *,
        url: str | None = None,
        retries: int | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON body.

        Args:
          method: ``"GET"`` or ``"POST"``.
          path: path below the base URL, e.g. ``"/v1/completions"`` (``""`` for the URL itself).
          payload: JSON body for POST.
          url: pin the request to this replica (no failover); default: round-robin.
          retries: override ``max_retries`` for this request.

        Raises:
          MissingAPIKeyError: a required key is not set (nothing was sent).
          AuthenticationError: HTTP 401/403 (not retried).
          RequestRejectedError: any other 4xx but 408/409/429 (not retried; server message included).
          ServerUnavailableError: every attempt failed to connect, timed out or got a retryable status.
          ServerError: a 2xx answer that is not JSON, or a request ``requests`` cannot send (bad URL).
        """
        retries = self.max_retries if retries is None else retries
        start = self.urls.index(url) if url is not None and url in self.urls else self._next_index()
        last: str | BaseException = "no attempt"
        last_url = url or self.urls[start]
        status: int | None = None
        for attempt in range(retries + 1):
            base = url if url is not None else self.urls[(start + attempt) % len(self.urls)]
            last_url, target = base, base + path
            kw: dict[str, Any] = {"timeout": self.timeout, "headers": self.auth_headers()}  # key read now
            if method.upper() == "POST":
                kw["json"] = payload
            resp = None
            try:
                resp = getattr(self._session(), method.lower())(target, **kw, **self._network_kwargs(target))
            except _TRANSIENT as e:
                last, status = e, None
            except requests.RequestException as e:  # a malformed URL, too many redirects...: retrying will not help
                raise ServerError(self.redact(f"{target} could not be requested: {type(e).__name__}: {e}")) from None
            else:
                status = int(resp.status_code)
                if status < 400:
                    return self._json(resp, target, status)
                msg = self.redact(server_message(resp))
                if status in (401, 403):
                    env = self.api_key_env
                    check = f"; check that ${env} holds a valid key with access to it" if env else ""
                    raise AuthenticationError(
                        f"{target} rejected the credentials (HTTP {status}): {msg}{check}", status
                    )
                if not is_retryable_status(status):
                    raise RequestRejectedError(f"{target} rejected the request (HTTP {status}): {msg}", status)
                last = f"HTTP {status}: {msg}"
            if attempt < retries:
                delay = self.retry_delay(attempt, resp)
                reason = last if isinstance(last, str) else f"{type(last).__name__}: {last}"
                log.warning(
                    "%s failed (%s); retry %d/%d in %.1fs", target, self.redact(reason), attempt + 1, retries, delay
                )
                time.sleep(delay)
        if isinstance(last, str):
            raise ServerUnavailableError(
                self.redact(f"{last_url}{path} kept failing after {retries + 1} attempts: {last}"), status
            )
        raise ServerUnavailableError(self.down_message(last_url, last), status)

    def _json(self, resp: Any, target: str, status: int) -> Any:
        try:
            return resp.json()
        except ValueError:
            text = self.redact(str(getattr(resp, "text", ""))[:300])
            raise ServerError(f"{target} answered HTTP {status} with non-JSON: {text!r}", status) from None

    def get(self, path: str, **kw: Any) -> Any:
        """``request("GET", path, ...)``."""
        return self.request("GET", path, **kw)

    def post(self, path: str, payload: dict, **kw: Any) -> Any:
        """``request("POST", path, payload, ...)``."""
        return self.request("POST", path, payload, **kw)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(x) for x in items]`` with up to ``concurrency`` calls in flight; order kept.

        The first exception is re-raised after the pending calls are cancelled.
        """
        items = list(items)
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as ex:
            futures = [ex.submit(fn, x) for x in items]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
