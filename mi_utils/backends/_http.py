"""Shared plumbing of the HTTP backends (vLLM, SGLang): a pool of servers, retries, errors.

Only ``requests`` and the standard library are imported here, so the HTTP backends stay cheap to
import; tokenizers are loaded lazily by the backends themselves.

What :class:`ServerPool` does for every request:

* spreads requests round-robin over several server URLs (data-parallel replicas of one model);
* retries connection errors, timeouts, HTTP 429 and 5xx with exponential backoff, moving to the
  next replica on each retry (a dead replica does not stall the run while another answers);
* turns an HTTP 4xx into :class:`RequestRejectedError` carrying the server's own message (no
  retry: the same request would be rejected again);
* runs many requests at once on a thread pool (:meth:`ServerPool.map`), keeping input order.

API keys: passed as ``Authorization: Bearer ...`` and kept only in the session headers; they are
never logged, never put in exception messages and never copied into results.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Sequence, TypeVar

import requests

from .base import bos_ids_of, derive_seed, encode_chat_with, encode_with  # noqa: F401  (re-exported)

__all__ = [
    "ServerError",
    "ServerUnavailableError",
    "ModelNotServedError",
    "RequestRejectedError",
    "ServerPool",
    "normalize_urls",
    "derive_seed",
    "resolve_api_key",
    "load_chat_tokenizer",
    "encode_chat_with",
    "LocalTokenizerMixin",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class ServerError(RuntimeError):
    """A model server could not serve a request."""


class ServerUnavailableError(ServerError):
    """No server answered (connection refused, timeout, or 5xx after all retries)."""


class ModelNotServedError(ServerError):
    """The server answers but does not serve the requested model name."""


class RequestRejectedError(ServerError):
    """The server rejected a request with an HTTP 4xx; the message is the server's own."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def normalize_urls(urls: str | Sequence[str]) -> list[str]:
    """Base URLs without trailing ``/`` or ``/v1``; ``host:port`` gets ``http://``.

    A single string may hold several URLs separated by commas (handy in environment variables).
    """
    if isinstance(urls, str):
        urls = [u for u in urls.split(",")]
    out = []
    for u in urls:
        u = u.strip().rstrip("/")
        if not u:
            continue
        if "://" not in u:
            u = "http://" + u
        if u.endswith("/v1"):
            u = u[: -len("/v1")]
        out.append(u)
    if not out:
        raise ValueError("no server URL given; pass urls='http://127.0.0.1:8000' (or a list of replicas)")
    return out


def resolve_api_key(api_key: str | None, api_key_env: str | None) -> str | None:
    """The explicit key, else the named environment variable's value, else ``None``."""
    if api_key:
        return api_key
    if api_key_env:
        return os.environ.get(api_key_env) or None
    return None


def _server_message(resp: requests.Response) -> str:
    """The human-readable error text of a server response (OpenAI, FastAPI or plain)."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:2000] or resp.reason
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
        for key in ("message", "detail"):
            if body.get(key):
                return str(body[key])
    return str(body)[:2000]


class ServerPool:
    """Round-robin HTTP client over replicas of one model server.

    Args:
      urls: base URLs (``http://host:port``), a comma-separated string, or a list.
      timeout: seconds for one request (connect and read).
      max_retries: extra attempts after the first on connection errors, timeouts, 429 and 5xx.
      backoff: first retry delay in seconds; doubles on each retry (capped at 30 s).
      concurrency: requests in flight at once in :meth:`map`.
      api_key: bearer token, sent as ``Authorization`` header; never logged.
      start_hint: appended to "server down" errors (how to start the server).
      kind: server kind named in errors ("vLLM", "SGLang").
    """

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        timeout: float = 600.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        concurrency: int = 8,
        api_key: str | None = None,
        start_hint: str = "",
        kind: str = "model",
    ) -> None:
        self.urls = normalize_urls(urls)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.concurrency = max(1, int(concurrency))
        self.start_hint = start_hint
        self.kind = kind
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._rr = itertools.count()
        self._rr_lock = threading.Lock()
        self._local = threading.local()

    def __repr__(self) -> str:  # no headers: they may hold the API key
        return f"ServerPool(urls={self.urls!r}, concurrency={self.concurrency})"

    # ------------------------------------------------------------------ basics
    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.headers.update(self._headers)
            s.trust_env = False  # never route localhost servers through an HTTP proxy
            self._local.session = s
        return s

    def _next_index(self) -> int:
        with self._rr_lock:
            return next(self._rr) % len(self.urls)

    def down_message(self, url: str, err: BaseException | str) -> str:
        reason = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
        msg = f"no {self.kind} server answered at {url} ({reason})"
        if self.start_hint:
            msg += f"; start one with: {self.start_hint}"
        return msg

    # ----------------------------------------------------------------- request
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
          path: path below the base URL, e.g. ``"/v1/completions"``.
          payload: JSON body for POST.
          url: pin the request to this replica (no failover); default: round-robin.
          retries: override ``max_retries`` for this request.

        Raises:
          ServerUnavailableError: every attempt failed to connect, timed out or got a 5xx.
          RequestRejectedError: the server answered 4xx (message included).
        """
        retries = self.max_retries if retries is None else retries
        start = self.urls.index(url) if url is not None and url in self.urls else self._next_index()
        last: str | BaseException = "no attempt"
        last_url = url or self.urls[start]
        for attempt in range(retries + 1):
            base = url if url is not None else self.urls[(start + attempt) % len(self.urls)]
            last_url = base
            try:
                resp = self._session().request(method, base + path, json=payload, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as e:
                last = e
            else:
                if resp.status_code < 400:
                    try:
                        return resp.json()
                    except ValueError as e:
                        raise ServerError(f"{base}{path} answered non-JSON: {resp.text[:500]!r}") from e
                if resp.status_code == 429 or resp.status_code >= 500:
                    last = f"HTTP {resp.status_code}: {_server_message(resp)}"
                else:
                    raise RequestRejectedError(
                        f"{base}{path} rejected the request (HTTP {resp.status_code}): {_server_message(resp)}",
                        status=resp.status_code,
                    )
            if attempt < retries:
                delay = min(30.0, self.backoff * (2**attempt))
                log.warning("%s%s failed (%s); retry %d/%d in %.1fs", base, path, last, attempt + 1, retries, delay)
                time.sleep(delay)
        if isinstance(last, str) and last.startswith("HTTP"):
            raise ServerUnavailableError(f"{last_url}{path} kept failing after {retries + 1} attempts: {last}")
        raise ServerUnavailableError(self.down_message(last_url, last))

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, payload: dict, **kw: Any) -> Any:
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


# ------------------------------------------------------------------ tokenizers
def load_chat_tokenizer(spec: Any, candidates: Sequence[str] = ()) -> tuple[Any, str | None]:
    """A tokenizer from ``spec`` (object, packaged name, hub id or path) or from candidates.

    Args:
      spec: a tokenizer object (returned as is), a name/path for :func:`mi_utils.models.load_tokenizer`,
        or ``None`` to try ``candidates`` (e.g. the served model name, the server's model path).

    Returns:
      ``(tokenizer, source)``: the name or path it was loaded from (``None`` for an object), or
      ``(None, None)`` when ``spec`` is ``None`` and no candidate loads.
    """
    if spec is not None and not isinstance(spec, (str, os.PathLike)):
        return spec, None
    from ..models import load_tokenizer

    if spec is not None:
        return load_tokenizer(str(spec)), str(spec)
    for name in candidates:  # the served name (often a hub id), then the server's model path
        if not name:
            continue
        try:
            return load_tokenizer(name), name
        except Exception as e:  # noqa: BLE001 - a served name need not be loadable; try the next
            log.debug("tokenizer candidate %r failed: %s", name, e)
    return None, None


class LocalTokenizerMixin:
    """The scorer half of a server backend: the served model's tokenizer, run locally.

    Prompts go to the server as token ids, so encoding, BOS handling and chat templates are those
    of the in-process backend. A subclass sets ``model_name``, ``_tokenizer_spec`` and implements
    ``_tokenizer_candidates()`` (names/paths to try when no tokenizer was given).
    """

    model_name: str
    _tokenizer_spec: Any = None
    _tokenizer: Any = None
    _tokenizer_source: str | None = None
    _eos_cache: list[int] | None = None
    _kind: str = "server"

    def _tokenizer_candidates(self) -> list[str]:  # pragma: no cover - overridden
        return [self.model_name]

    @property
    def tokenizer(self):
        """The local tokenizer (loaded on first use)."""
        if self._tokenizer is None:
            cands = self._tokenizer_candidates()
            tok, source = load_chat_tokenizer(self._tokenizer_spec, candidates=cands)
            if tok is None:
                raise ValueError(
                    f"{type(self).__name__} needs the served model's tokenizer (prompts are sent as token ids and "
                    f"scored locally tokenised): pass tokenizer= (a packaged name such as 'smollm2-135m-instruct', "
                    f"a hub id or a local folder); none of {[c for c in cands if c]} could be loaded here"
                )
            self._tokenizer, self._tokenizer_source = tok, source
        return self._tokenizer

    @property
    def tokenizer_name(self) -> str:
        """Where the tokenizer came from (a packaged name, hub id or path); the model name for an object."""
        self.tokenizer
        return self._tokenizer_source or self.model_name

    @property
    def bos_ids(self) -> list[int]:
        """Ids a plain-text prompt must start with."""
        return bos_ids_of(self.tokenizer)

    @property
    def eos_ids(self) -> list[int]:
        """EOS ids: the model's ``generation_config.json`` ones (first: the end of an assistant turn),
        then the tokenizer's."""
        if self._eos_cache is None:
            from ..models import generation_eos_ids

            ids: list[int] = []
            for source in (self._tokenizer_source, *self._tokenizer_candidates()):
                if source and (os.path.isdir(source) or source == self._tokenizer_source or _packaged(source)):
                    ids = generation_eos_ids(source)
                    if ids:
                        break
            eos = self.tokenizer.eos_token_id
            if eos is not None and int(eos) not in ids:
                ids.append(int(eos))
            if not ids:
                raise ValueError(f"the tokenizer of {self.model_name!r} defines no EOS token")
            self._eos_cache = ids
        return list(self._eos_cache)

    def encode(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids of ``text`` (no special tokens unless ``special``)."""
        return encode_with(self.tokenizer, text, special=special)

    def encode_chat(self, messages) -> list[int]:
        """Token ids of a chat prompt, ending with the assistant turn's opening."""
        return encode_chat_with(self.tokenizer, messages)


def _packaged(name: str) -> bool:
    from ..models import PACKAGED

    return name in PACKAGED
