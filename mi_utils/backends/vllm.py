"""vLLM backend: generation and scoring over vLLM's OpenAI-compatible HTTP API.

Token ids are the currency here too: prompts are tokenised *locally* with the served model's
tokenizer (``tokenizer=`` or the model name; chat template included) and sent to
``/v1/completions`` as token-id lists, so the server never re-tokenises and scores exactly the
tokens :mod:`mi_utils.prompts` built. The backend fills both roles (generator and scorer):
``encode``, ``bos_ids``, ``eos_ids`` and ``encode_chat`` are local, ``generate`` and ``score`` remote.

Scoring (``score``)
    ``POST /v1/completions`` with ``prompt = prefix + continuation`` (token ids), ``max_tokens=1``
    and the vLLM extension ``prompt_logprobs=0``. The response's ``choices[i].prompt_logprobs`` is a
    list with one entry per prompt token: ``None`` for the first token, then a dict
    ``{"<token id>": {"logprob": float, "rank": int, "decoded_token": str}}`` that always holds the
    actual token (plus the top-k when ``prompt_logprobs=k>0``). The continuation's entries are
    positions ``P .. P+C-1``. vLLM computes these from the raw logits (``logprobs_mode`` default
    ``raw_logprobs``), so they are the model's own distribution whatever the sampling settings.
    Several pairs go in one request (``prompt`` as a list of token-id lists).

Generation (``generate``)
    One request per chat prompt with ``n`` samples, ``seed`` (vLLM gives sample ``j`` the seed
    ``seed + j``), ``temperature``/``top_k``/``top_p`` set explicitly (``top_k=-1`` = off, accepted by
    old and new vLLM) and the model's own generation-config defaults overridden
    (``repetition_penalty=1``, ``min_p=0``...; vLLM applies them otherwise), and
    ``return_token_ids=true`` for the sampled ids. The sent settings are recorded in
    ``Generation.effective``. Like :class:`~mi_utils.backends.hf.HFBackend`, a trailing EOS is cut
    from ``token_ids`` (and kept in ``stop_token``) and the text is the local decode of those ids
    (special tokens skipped, stripped).

Servers
    :func:`launch_vllm_server` (in :mod:`mi_utils.backends.vllm_server`, importable from here too)
    starts a real server from a separate virtual environment and stops it on exit. On a GPU machine
    any ``vllm`` install works the same: ``python -m vllm.entrypoints.openai.api_server --model <path>
    --served-model-name <name>``; pass several URLs to spread work over replicas.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import SamplingParams, derive_seed, explicit_sampling_fields
from .http import ModelNotServedError, RequestRejectedError, ServerError, ServerUnavailableError
from .registry import BACKEND_ROLES
from .server import ServerBackend
from .vllm_server import (  # the launcher's names, importable from here as before
    DEFAULT_VLLM_PYTHON,
    VLLMServer,
    find_free_port,
    launch_vllm_server,
    vllm_server_command,
)

__all__ = [
    "VLLMBackend",
    "VLLMServer",
    "DEFAULT_VLLM_PYTHON",
    "find_free_port",
    "launch_vllm_server",
    "vllm_server_command",
    "ServerError",
    "ServerUnavailableError",
    "ModelNotServedError",
    "RequestRejectedError",
]

log = logging.getLogger(__name__)


def _start_hint(model: str) -> str:
    return (
        f"python -m vllm.entrypoints.openai.api_server --model <model path or hub id> "
        f"--served-model-name {model} --port 8000 (CPU: `bash scripts/setup_vllm.sh`, then "
        f"mi_utils.backends.vllm.launch_vllm_server or `python scripts/vllm_server.py`)"
    )


class VLLMBackend(ServerBackend):
    """Generation and scoring against one or more vLLM OpenAI-compatible servers (both roles).

    Args:
      urls: base URL(s) of the server(s): ``"http://127.0.0.1:8000"``, a comma-separated string or
        a list (data-parallel replicas of the same model; requests go round-robin).
      model: the served model name (``--served-model-name``; the model path when not set).
      tokenizer: tokenizer object, or a packaged name / hub id / local path for
        :func:`mi_utils.models.load_tokenizer`: the served model's tokenizer, run locally for
        ``encode``, ``encode_chat``, BOS/EOS and decoding (``score`` on given ids needs none). When
        ``None`` the backend tries ``model`` and then the server's model path (``/v1/models`` ``root``).
      timeout: seconds per HTTP request.
      max_retries: retries (with exponential backoff, moving to the next replica) on connection
        errors, timeouts, 408/409/429 and 5xx; see :class:`mi_utils.backends.http.ServerPool`.
      backoff: first retry delay in seconds (doubles on each retry, capped at 30 s; a longer
        ``Retry-After`` is honoured up to that cap).
      concurrency: HTTP requests in flight at once.
      score_batch_size: scoring pairs per request.
      api_key: bearer token; defaults to the environment variable named by ``api_key_env``.
        Never logged nor stored in results.
      api_key_env: environment variable holding the key (``VLLM_API_KEY``), read at each request.
      check_server: query ``/v1/models`` on every URL now, failing early with a clear message when
        a server is down or serves another model.

    Raises:
      ServerError: the base of every failure below (see :mod:`mi_utils.backends.http`).
      ServerUnavailableError: a server did not answer (the message says how to start one).
      ModelNotServedError: a server answers but serves other models (they are listed).
    """

    backend_name = "vllm"
    roles = BACKEND_ROLES["vllm"]
    _kind = "vLLM"

    def __init__(
        self,
        urls: str | Sequence[str],
        model: str,
        tokenizer: Any = None,
        *,
        timeout: float = 600.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        concurrency: int = 8,
        score_batch_size: int = 8,
        api_key: str | None = None,
        api_key_env: str | None = "VLLM_API_KEY",
        check_server: bool = True,
    ) -> None:
        self.max_model_len: int | None = None
        self.model_root: str | None = None
        pool = dict(timeout=timeout, max_retries=max_retries, backoff=backoff, concurrency=concurrency)
        pool.update(api_key=api_key, api_key_env=api_key_env, start_hint=_start_hint(model))
        self._connect(urls, model, tokenizer, score_batch_size, pool, check_server=check_server)

    # ------------------------------------------------------------------ server
    def check_servers(self) -> None:
        """Ask every replica which models it serves; fail clearly on a mismatch or a dead server."""
        lens = []
        for url in self.pool.urls:
            body = self.pool.get("/v1/models", url=url, retries=1)
            cards = body.get("data", []) if isinstance(body, dict) else []
            served = [c.get("id") for c in cards]
            card = next((c for c in cards if c.get("id") == self.model_name), None)
            if card is None:
                raise ModelNotServedError(
                    f"the vLLM server at {url} serves {served}, not {self.model_name!r}; pass "
                    f"model={served[0]!r} if that is the model you want, or restart the server with "
                    f"--served-model-name {self.model_name}"
                    if served
                    else f"the vLLM server at {url} lists no models at /v1/models"
                )
            if card.get("max_model_len"):
                lens.append(int(card["max_model_len"]))
            self.model_root = self.model_root or card.get("root")
        self.max_model_len = min(lens) if lens else None

    # --------------------------------------------------------------- tokenizer
    def _tokenizer_candidates(self) -> list[str]:
        return [self.model_name, self.model_root or ""]

    def _check_len(self, n_tokens: int, what: str, extra: int = 1) -> None:
        if self.max_model_len is not None and n_tokens + extra > self.max_model_len:
            raise ValueError(
                f"{what} has {n_tokens} tokens (+{extra} to generate), more than the server's "
                f"max_model_len={self.max_model_len}; shorten it or restart vLLM with a larger --max-model-len"
            )

    # ----------------------------------------------------------------- scoring
    def _score_chunk(self, chunk: list[tuple[list[int], list[int]]]) -> list[np.ndarray]:
        payload = {
            "model": self.model_name,
            "prompt": [p + c for p, c in chunk],
            "max_tokens": 1,
            "temperature": 0.0,
            "prompt_logprobs": 0,
        }
        body = self.pool.post("/v1/completions", payload)
        choices = sorted(body.get("choices", []), key=lambda ch: ch.get("index", 0))
        if len(choices) != len(chunk):
            raise ServerError(f"vLLM returned {len(choices)} choices for {len(chunk)} scoring prompts")
        return [_continuation_logprobs(ch.get("prompt_logprobs"), p, c) for ch, (p, c) in zip(choices, chunk)]

    # -------------------------------------------------------------- generation
    @staticmethod
    def sampling_fields(params: SamplingParams) -> dict:
        """Every distribution-changing sampling field sent to vLLM (recorded as ``effective``).

        vLLM fills fields a request leaves out from the model's ``generation_config`` (``--generation-config
        auto``), so all of them are sent: the asked temperature/top-k/top-p and neutral penalties.
        """
        return explicit_sampling_fields(params, min_tokens_field="min_tokens")

    def _request_samples(self, ids: list[int], params: SamplingParams) -> tuple[int, list[dict]]:
        # ``temperature=0`` is greedy: vLLM refuses ``n>1`` then, so one completion is requested and
        # repeated ``n`` times (all greedy samples are identical anyway).
        greedy = params.temperature == 0
        seed = derive_seed(params.seed, ids)
        payload = {
            "model": self.model_name,
            "prompt": ids,
            "n": 1 if greedy else params.n,
            "max_tokens": params.max_new_tokens,
            **self.sampling_fields(params),
            "seed": seed,
            "return_token_ids": True,
            "skip_special_tokens": True,
        }
        body = self.pool.post("/v1/completions", payload)
        choices = sorted(body.get("choices", []), key=lambda ch: ch.get("index", 0))
        if greedy and choices:
            choices = [choices[0]] * params.n
        if len(choices) != params.n:
            raise ServerError(f"vLLM returned {len(choices)} completions, {params.n} were asked for")
        return seed, choices

    def _parse_sample(self, item: dict, eos: set[int]) -> tuple[list[int], str, int | None]:
        toks = item.get("token_ids")
        if toks is None:
            raise ServerError(
                "this vLLM server does not return generated token ids (`return_token_ids`, "
                "vLLM >= 0.10.2); upgrade vLLM"
            )
        toks = [int(t) for t in toks]
        reason = item.get("finish_reason") or "length"
        stop = None
        if reason == "stop" and toks and (toks[-1] in eos or item.get("stop_reason") == toks[-1]):
            toks, stop = toks[:-1], toks[-1]
        return toks, reason, stop

    def _sample_seed(self, seed: int, j: int, params: SamplingParams) -> int | None:
        return seed if params.temperature == 0 else seed + j


def _continuation_logprobs(prompt_logprobs: Any, prefix: list[int], cont: list[int]) -> np.ndarray:
    """Pick the continuation's actual-token log-probs out of vLLM's ``prompt_logprobs`` list."""
    P, C = len(prefix), len(cont)
    if not isinstance(prompt_logprobs, list):
        raise ServerError(
            "vLLM returned no prompt_logprobs; the server must support the `prompt_logprobs` "
            "extension of /v1/completions (vLLM >= 0.4)"
        )
    if len(prompt_logprobs) != P + C:
        raise ServerError(f"vLLM returned {len(prompt_logprobs)} prompt log-probs for a {P + C}-token prompt")
    out = np.empty(C, dtype=np.float64)
    for k, tid in enumerate(cont):
        entry = prompt_logprobs[P + k] or {}
        lp = entry.get(str(tid), entry.get(tid))  # JSON keys are strings
        if lp is None:
            raise ServerError(f"vLLM's prompt log-probs at position {P + k} lack the actual token {tid}: {entry}")
        out[k] = float(lp["logprob"] if isinstance(lp, dict) else lp)
    return out
