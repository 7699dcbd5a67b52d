"""Cloud predictor / judge over an OpenAI-compatible Chat Completions API (gpt-4o, gpt-4o-mini, ...).

``POST {base_url}/chat/completions`` with the chat messages, ``temperature``, ``top_p``,
``max_tokens`` (or ``max_completion_tokens``), ``n`` and ``seed``. Works against api.openai.com
and any server speaking the same dialect (vLLM, SGLang, llama.cpp, LiteLLM proxies).

What a chat API cannot do (a genuine limitation, not a missing feature):

* **no scoring** -- Chat Completions returns log-probs of *generated* tokens only, never of a given
  prompt/continuation, so :meth:`OpenAIChatBackend.score` raises. Mutual-information estimates
  and reference perplexities need a scorer that does: :class:`~mi_utils.backends.hf.HFBackend`,
  ``VLLMBackend`` or ``SGLangBackend``.
* **no local tokenizer** -- the server applies its own chat template and tokenizer, so
  :meth:`OpenAIChatBackend.encode_chat` raises and :class:`~mi_utils.backends.base.Generation`
  objects carry empty ``token_ids`` / ``prompt_ids``. Token counts come from the API's ``usage``
  instead (in ``Generation.meta["usage"]``, see :func:`total_usage`).

Requests go through the shared HTTP layer (:class:`mi_utils.backends.http.ServerPool`): retries
with exponential backoff on connection errors, timeouts, 408/409/429 and 5xx, ``Retry-After``
honoured up to ``max_backoff``, and one error hierarchy (every failure is a
:class:`~mi_utils.backends.http.ServerError`). The API key is read from an environment variable
(``api_key_env``) at *request* time and sent as an ``Authorization: Bearer`` header. It is never
stored on the object and never appears in ``repr``, logs, results, metadata or exception messages
(server messages are redacted before they are shown).

The error names this module used to define stay importable from here: ``OpenAIChatError`` is
:class:`~mi_utils.backends.http.ServerError` and ``ServiceUnavailableError`` is
:class:`~mi_utils.backends.http.ServerUnavailableError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .base import Generation, Message, SamplingParams
from .http import (
    AuthenticationError,
    MissingAPIKeyError,
    RequestRejectedError,
    ServerError,
    ServerPool,
    ServerUnavailableError,
)
from .registry import BACKEND_ROLES

__all__ = [
    "OpenAIChatBackend",
    "OpenAIChatError",
    "MissingAPIKeyError",
    "AuthenticationError",
    "RequestRejectedError",
    "ServiceUnavailableError",
    "total_usage",
]

OpenAIChatError = ServerError  # the names this backend used before the shared HTTP layer
ServiceUnavailableError = ServerUnavailableError


def _checked_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must look like 'https://api.openai.com/v1', got {base_url!r}")
    return base_url.rstrip("/")


def total_usage(generations: Sequence[Generation] | Sequence[Sequence[Generation]]) -> dict[str, int]:
    """Summed API token usage of generations from :class:`OpenAIChatBackend`.

    Each request's usage is stored once, on its first sample (``sample_index == 0``), so summing
    over all generations counts every request exactly once.

    Returns:
      ``{"prompt_tokens": ..., "completion_tokens": ..., "total_tokens": ..., "requests": ...}``;
      feed the first two to :func:`mi_utils.costs.api_cost`.
    """
    flat: list[Generation] = []
    for g in generations:
        flat.extend(g if isinstance(g, (list, tuple)) else [g])
    out = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "requests": 0}
    for g in flat:
        u = g.meta.get("usage") if isinstance(g.meta, dict) else None
        if not u:
            continue
        out["requests"] += 1
        for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
            out[k] += int(u.get(k) or 0)
    return out


class OpenAIChatBackend:
    """Generation through an OpenAI-compatible Chat Completions endpoint (a generator only).

    Args:
      model: the API's model name (``"gpt-4o-mini"``, ``"gpt-4o"``, a served local model name).
      base_url: API root including the version, e.g. ``https://api.openai.com/v1`` or
        ``http://127.0.0.1:8000/v1`` (``/chat/completions`` is appended).
      api_key_env: name of the environment variable holding the key, read at each request;
        ``None`` sends no ``Authorization`` header (local servers without auth).
      timeout: seconds per HTTP request (connect and read).
      max_retries: extra attempts after the first on connection errors, timeouts, 408/409/429
        and 5xx, with exponential backoff (``Retry-After`` is honoured up to ``max_backoff``).
      backoff: first retry delay in seconds; doubles on each retry.
      max_backoff: cap on one delay, seconds.
      concurrency: prompts in flight at once in :meth:`generate` (results keep input order).
      max_tokens_field: ``"max_tokens"`` (accepted by every compatible server and by gpt-4o) or
        ``"max_completion_tokens"`` (required by OpenAI's reasoning models).
      extra_body: extra JSON fields merged into every request (e.g. ``{"top_k": 20}`` for vLLM).

    Attributes:
      model_name: ``model``.
      pool: the shared :class:`~mi_utils.backends.http.ServerPool` every request goes through.
      roles: ``{"generator"}``: no scorer role (no prompt log-probs, no local tokenizer).
    """

    roles = BACKEND_ROLES["openai"]

    @classmethod
    def from_spec(cls, spec: Any) -> OpenAIChatBackend:
        """The backend a config's :class:`~mi_utils.config.ModelSpec` names (``model``, and
        ``base_url`` / ``api_key_env`` when set)."""
        kw = {"base_url": spec.base_url} if spec.base_url else {}
        if spec.api_key_env:
            kw["api_key_env"] = spec.api_key_env
        return cls(spec.model, **kw)

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str | None = "OPENAI_API_KEY",
        *,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        concurrency: int = 4,
        max_tokens_field: str = "max_tokens",
        extra_body: dict | None = None,
    ) -> None:
        if not model:
            raise ValueError("model must be a non-empty model name, e.g. 'gpt-4o-mini'")
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise ValueError("max_tokens_field must be 'max_tokens' or 'max_completion_tokens'")
        if max_retries < 0 or timeout <= 0 or concurrency < 1:
            raise ValueError("max_retries >= 0, timeout > 0 and concurrency >= 1 are required")
        self.model_name = model
        self.max_tokens_field = max_tokens_field
        self.extra_body = dict(extra_body or {})
        self.pool = ServerPool(
            _checked_base_url(base_url),
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
            concurrency=concurrency,
            api_key_env=api_key_env,
            require_api_key=api_key_env is not None,
            missing_key_hint="or pass api_key_env=None for a local server without authentication",
            kind="Chat Completions",
            strip_v1=False,  # the version is part of an API root (.../v1, .../v1beta/openai)
            honour_env=True,  # cloud APIs may sit behind a proxy; loopback servers never do
        )

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``https://api.openai.com/v1`` (settable)."""
        return self.pool.urls[0]

    @base_url.setter
    def base_url(self, value: str) -> None:
        self.pool.urls = [_checked_base_url(value)]

    @property
    def api_key_env(self) -> str | None:
        """The environment variable read for the key at each request; ``None``: no ``Authorization`` (settable)."""
        return self.pool.api_key_env

    @api_key_env.setter
    def api_key_env(self, value: str | None) -> None:
        self.pool.api_key_env = value
        self.pool.require_api_key = value is not None

    timeout = property(lambda self: self.pool.timeout, doc="Seconds per HTTP request.")
    max_retries = property(lambda self: self.pool.max_retries, doc="Extra attempts after the first.")
    backoff = property(lambda self: self.pool.backoff, doc="First retry delay, seconds.")
    max_backoff = property(lambda self: self.pool.max_backoff, doc="Cap on one retry delay, seconds.")
    concurrency = property(lambda self: self.pool.concurrency, doc="Requests in flight in generate.")

    def __repr__(self) -> str:
        return (
            f"OpenAIChatBackend(model={self.model_name!r}, base_url={self.base_url!r}, "
            f"api_key_env={self.api_key_env!r})"
        )

    # ------------------------------------------------------------- limitations
    def encode_chat(self, messages: Sequence[Message]) -> list[int]:
        """Not available: a remote chat API applies its own template and tokenizer server-side.

        Raises:
          NotImplementedError: always. Use the ``usage`` counts in ``Generation.meta`` for token
            accounting, or a local tokenizer of the same model family for estimates.
        """
        raise NotImplementedError(
            f"{self.model_name} is served through a remote Chat Completions API, which applies its own "
            "chat template and tokenizer and exposes no local tokenizer; use Generation.meta['usage'] "
            "for token counts, or a local backend (HFBackend, VLLMBackend) when token ids are needed"
        )

    def score(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list:
        """Not available: Chat Completions returns no log-probs for given prompt tokens.

        The API's ``logprobs`` option covers *generated* tokens only, so ``log p(continuation |
        prefix)`` cannot be computed. Mutual-information estimates and reference perplexities need
        a scorer that exposes prompt log-probs: a local :class:`~mi_utils.backends.hf.HFBackend`,
        or a vLLM / SGLang server (``VLLMBackend``, ``SGLangBackend``).

        Raises:
          NotImplementedError: always.
        """
        raise NotImplementedError(
            f"{self.model_name} via a Chat Completions API cannot score text: chat APIs return no "
            "log-probs for prompt tokens. Use a local or vLLM/SGLang scorer (HFBackend, VLLMBackend, "
            "SGLangBackend) for mutual information and perplexity; use this backend for generation only"
        )

    # ---------------------------------------------------------------- requests
    def _complete(self, payload: dict) -> dict:
        """POST one Chat Completions request through the shared pool; the body must hold ``choices``."""
        body = self.pool.post("/chat/completions", payload)
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise ServerError(
                f"{self.base_url}/chat/completions answered without a 'choices' list: "
                f"{self.pool.redact(str(body)[:300])!r}"
            )
        return body

    def _payload(self, messages: Sequence[Message], params: SamplingParams) -> dict:
        payload: dict[str, Any] = {
            "model": self.model_name,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": params.temperature,
            self.max_tokens_field: params.max_new_tokens,
            "n": params.n,
            "seed": params.seed,
        }
        if params.top_p < 1.0:
            payload["top_p"] = params.top_p
        payload.update(self.extra_body)
        return payload

    def _one(self, messages: Sequence[Message], params: SamplingParams) -> list[Generation]:
        body = self._complete(self._payload(messages, params))
        choices = sorted(body["choices"], key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
        if len(choices) != params.n:
            raise ServerError(f"asked for n={params.n} completions, the API returned {len(choices)}")
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        usage = {k: int(v) for k, v in (usage or {}).items() if k.endswith("_tokens") and isinstance(v, int)} or None
        # the API applies its own defaults to what is not sent (no top_k at all): recorded as sent
        effective = {
            "do_sample": params.temperature > 0,
            "temperature": float(params.temperature),
            "top_p": float(params.top_p),
        }
        gens = []
        for j, c in enumerate(choices):
            msg = c.get("message") or {}
            content = msg.get("content")
            meta = {
                "backend": "openai_chat",
                "model": body.get("model", self.model_name),
                "request_id": body.get("id"),
                "seed": params.seed,
                "system_fingerprint": body.get("system_fingerprint"),
                "usage": usage if j == 0 else None,  # per request: counted once (see total_usage)
            }
            if msg.get("refusal"):
                meta["refusal"] = msg["refusal"]
            gens.append(
                Generation(
                    text=(content or "").strip() if isinstance(content, str) else "",
                    token_ids=[],
                    prompt_ids=[],
                    sampling=params,
                    sample_index=j,
                    finish_reason=str(c.get("finish_reason") or "stop"),
                    meta=meta,
                    # per request, on sample 0 only: sums over samples count each request once
                    prompt_tokens=(usage or {}).get("prompt_tokens") if j == 0 else 0,
                    output_tokens=(usage or {}).get("completion_tokens") if j == 0 else 0,
                    effective=dict(effective),
                )
            )
        return gens

    def generate(self, prompts: Sequence[Sequence[Message]], params: SamplingParams) -> list[list[Generation]]:
        """``params.n`` completions for each chat prompt (one request per prompt).

        ``temperature``, ``n``, ``seed`` (best-effort determinism on OpenAI) and ``max_new_tokens``
        are sent; ``top_p`` when below 1. The Chat Completions API has no ``top_k``: a non-zero
        ``top_k`` raises (put it in ``extra_body`` for servers that accept it). Up to
        ``concurrency`` requests run at once; results keep the order of ``prompts``.

        Returns:
          ``gens[i][j]``: text, empty ``token_ids``/``prompt_ids``, API ``finish_reason``, and
          ``meta`` with the request's ``usage`` on sample 0 (see :func:`total_usage`).

        Raises:
          ServerError: any failure; in particular :class:`~mi_utils.backends.http.MissingAPIKeyError`
            (the key variable is unset), :class:`~mi_utils.backends.http.AuthenticationError` (HTTP
            401/403), :class:`~mi_utils.backends.http.RequestRejectedError` (other 4xx) and
            :class:`~mi_utils.backends.http.ServerUnavailableError` (retries exhausted).
        """
        if params.top_k != 0 and "top_k" not in self.extra_body:
            raise ValueError(
                f"top_k={params.top_k}: the Chat Completions API has no top_k; use top_k=0 "
                "(or extra_body={'top_k': k} on a server that accepts it, such as vLLM)"
            )
        prompts = [list(p) for p in prompts]
        for i, p in enumerate(prompts):
            if not p or not all(isinstance(m, dict) and "role" in m and "content" in m for m in p):
                raise ValueError(f"prompt {i} must be a non-empty list of {{'role', 'content'}} messages")
        if not prompts:
            return []
        self.pool.auth_headers()  # fail fast on a missing key, before any thread starts
        return self.pool.map(lambda p: self._one(p, params), prompts)
