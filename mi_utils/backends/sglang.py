"""SGLang backend: generation and scoring over SGLang's native ``/generate`` endpoint.

.. note::
   Verified only against SGLang's *documented* request/response format (``docs/basic_usage/
   sampling_params.md``, ``io_struct.GenerateReqInput`` and the scheduler's logprob code in
   sgl-project/sglang) through an in-process fake server in ``tests/test_sglang_backend.py``.
   SGLang has no CPU build, so no real server was run here. Check it on a GPU machine
   (``python -m sglang.launch_server --model-path <path> --port 30000``) before relying on it.

Scoring (``score``)
    ``POST /generate`` with ``input_ids = prefix + continuation``, ``return_logprob=true`` and
    ``logprob_start_len = len(prefix) - 1``, ``max_new_tokens=1``. SGLang returns
    ``meta_info.input_token_logprobs`` for the input positions from ``logprob_start_len`` on, as
    ``[logprob, token_id, text_or_null]`` triples whose first value is ``null`` (the first returned
    position has no context inside the returned window). So the last ``len(continuation)`` triples
    are the continuation's log-probs; their token ids are checked against the continuation.
    Starting at ``len(prefix) - 1`` lets the radix cache reuse the shared prefix (SGLang only
    reuses cached tokens before ``logprob_start_len``) and keeps the response small.

Generation (``generate``)
    One batched request per chat prompt holding ``n`` copies of its token ids (SGLang's docs
    discourage ``sampling_params.n > 1``), each with its own ``sampling_seed`` (``seed + j``; only
    honoured by servers started with deterministic sampling, ignored otherwise). Sampling settings
    are always sent explicitly: SGLang otherwise takes defaults from the model's
    ``generation_config.json``. ``top_k=-1`` disables top-k. The response items carry ``text``,
    ``output_ids`` and ``meta_info.finish_reason`` (``{"type": "stop", "matched": id}`` or
    ``{"type": "length", "length": n}``); a trailing matched EOS is cut from ``token_ids`` as in
    :class:`~mi_utils.backends.hf.HFBackend`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import SamplingParams, derive_seed, explicit_sampling_fields
from .http import ModelNotServedError, RequestRejectedError, ServerError, ServerUnavailableError
from .registry import BACKEND_ROLES
from .server import ServerBackend

__all__ = [
    "SGLangBackend",
    "ServerError",
    "ServerUnavailableError",
    "ModelNotServedError",
    "RequestRejectedError",
]

log = logging.getLogger(__name__)


def _start_hint() -> str:
    return "python -m sglang.launch_server --model-path <model path or hub id> --port 30000 (needs a GPU build)"


class SGLangBackend(ServerBackend):
    """Generation and scoring against one or more SGLang servers (native API; both roles).

    Verified only against SGLang's documented format with a fake server (see module docstring).

    Args:
      urls: base URL(s): ``"http://127.0.0.1:30000"``, a comma-separated string or a list of
        data-parallel replicas (round-robin).
      model: expected model (its path, the folder's name or the served name); checked against
        ``/get_model_info`` when ``check_server``. ``None`` accepts whatever is served.
      tokenizer: tokenizer object or a packaged name / hub id / local path: the served model's
        tokenizer, run locally for ``encode``, ``encode_chat``, BOS/EOS and decoding. ``None`` tries
        ``model`` and the server's ``tokenizer_path``/``model_path``.
      timeout, max_retries, backoff, concurrency: see :class:`mi_utils.backends.http.ServerPool`.
      score_batch_size: scoring pairs per request.
      api_key: bearer token (``--api-key`` of the server); defaults to ``$SGLANG_API_KEY``.
        Never logged nor stored in results.
      api_key_env: environment variable holding the key, read at each request.
      send_seed: send ``sampling_seed`` per sample (dropped automatically if the server rejects it).
      check_server: query ``/get_model_info`` on every URL now.

    Raises:
      ServerError: the base of every failure below (see :mod:`mi_utils.backends.http`).
      ServerUnavailableError: a server did not answer.
      ModelNotServedError: a server serves another model.
    """

    backend_name = "sglang"
    roles = BACKEND_ROLES["sglang"]
    _kind = "SGLang"

    def __init__(
        self,
        urls: str | Sequence[str],
        model: str | None = None,
        tokenizer: Any = None,
        *,
        timeout: float = 600.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        concurrency: int = 8,
        score_batch_size: int = 8,
        api_key: str | None = None,
        api_key_env: str | None = "SGLANG_API_KEY",
        send_seed: bool = True,
        check_server: bool = True,
    ) -> None:
        self.send_seed = send_seed
        self.model_path: str | None = None
        self.tokenizer_path: str | None = None
        pool = dict(timeout=timeout, max_retries=max_retries, backoff=backoff, concurrency=concurrency)
        pool.update(api_key=api_key, api_key_env=api_key_env, start_hint=_start_hint())
        self._connect(urls, model, tokenizer, score_batch_size, pool, check_server=check_server)
        if not self.model_name:
            self.model_name = self.model_path or "sglang"

    # ------------------------------------------------------------------ server
    def check_servers(self) -> None:
        """Ask every replica for ``/get_model_info``; fail clearly on a mismatch or a dead server."""
        for url in self.pool.urls:
            info = self.pool.get("/get_model_info", url=url, retries=1)
            path = str(info.get("model_path") or "")
            names = {path, os.path.basename(path.rstrip("/")), str(info.get("served_model_name") or "")} - {""}
            if self.model_name and self.model_name not in names:
                raise ModelNotServedError(
                    f"the SGLang server at {url} serves {path!r}, not {self.model_name!r}; pass "
                    f"model={path!r} (or model=None) if that is the model you want"
                )
            self.model_path = self.model_path or path or None
            self.tokenizer_path = self.tokenizer_path or info.get("tokenizer_path") or None

    # --------------------------------------------------------------- tokenizer
    def _tokenizer_candidates(self) -> list[str]:
        return [self.model_name, self.tokenizer_path or "", self.model_path or ""]

    # ----------------------------------------------------------------- scoring
    def _score_chunk(self, chunk: list[tuple[list[int], list[int]]]) -> list[np.ndarray]:
        payload = {
            "input_ids": [p + c for p, c in chunk],
            "sampling_params": {"max_new_tokens": 1, "temperature": 0.0},
            "return_logprob": True,
            "logprob_start_len": [max(len(p) - 1, 0) for p, _ in chunk],
            "return_text_in_logprobs": False,
        }
        body = self.pool.post("/generate", payload)
        items = body if isinstance(body, list) else [body]
        if len(items) != len(chunk):
            raise ServerError(f"SGLang returned {len(items)} results for {len(chunk)} scoring prompts")
        return [_continuation_logprobs(it, c) for it, (_, c) in zip(items, chunk)]

    # -------------------------------------------------------------- generation
    @staticmethod
    def sampling_fields(params: SamplingParams) -> dict:
        """Every distribution-changing sampling field sent to SGLang (recorded as ``effective``)."""
        return explicit_sampling_fields(params, min_tokens_field="min_new_tokens")

    def _sampling_params(self, params: SamplingParams, seed: int) -> dict:
        sp = {"max_new_tokens": params.max_new_tokens, **self.sampling_fields(params)}
        if self.send_seed:
            sp["sampling_seed"] = int(seed)
        return sp

    def _request_samples(self, ids: list[int], params: SamplingParams) -> tuple[int, list[dict]]:
        seed = derive_seed(params.seed, ids)

        def payload() -> dict:
            return {
                "input_ids": [list(ids) for _ in range(params.n)],
                "sampling_params": [self._sampling_params(params, seed + j) for j in range(params.n)],
            }

        try:
            body = self.pool.post("/generate", payload())
        except RequestRejectedError as e:
            if not (self.send_seed and "sampling_seed" in str(e)):
                raise
            log.warning("this SGLang server rejects sampling_seed; sampling without per-sample seeds")
            self.send_seed = False
            body = self.pool.post("/generate", payload())
        items = body if isinstance(body, list) else [body]
        if len(items) != params.n:
            raise ServerError(f"SGLang returned {len(items)} completions, {params.n} were asked for")
        return seed, items

    def _parse_sample(self, item: dict, eos: set[int]) -> tuple[list[int], str, int | None]:
        toks = item.get("output_ids")
        if toks is None:
            raise ServerError("SGLang's /generate response has no output_ids; upgrade SGLang")
        toks = [int(t) for t in toks]
        fr = (item.get("meta_info") or {}).get("finish_reason") or {}
        kind = fr.get("type", "length") if isinstance(fr, dict) else str(fr)
        if kind == "abort":
            raise ServerError(f"SGLang aborted the request: {fr.get('message', fr)}")
        stop = None
        if kind == "stop" and toks and (toks[-1] in eos or (isinstance(fr, dict) and fr.get("matched") == toks[-1])):
            toks, stop = toks[:-1], toks[-1]
        return toks, "stop" if kind == "stop" else "length", stop

    def _sample_seed(self, seed: int, j: int, params: SamplingParams) -> int | None:
        return seed + j if self.send_seed else None


def _continuation_logprobs(item: dict, cont: list[int]) -> np.ndarray:
    """The continuation's log-probs: the last ``len(cont)`` of ``meta_info.input_token_logprobs``."""
    meta = item.get("meta_info") or {}
    triples = meta.get("input_token_logprobs")
    C = len(cont)
    if not isinstance(triples, list) or len(triples) < C:
        raise ServerError(
            f"SGLang returned {len(triples) if isinstance(triples, list) else 'no'} input_token_logprobs "
            f"for a {C}-token continuation (is return_logprob supported?)"
        )
    tail = triples[-C:]
    out = np.empty(C, dtype=np.float64)
    for k, (trip, tid) in enumerate(zip(tail, cont)):
        lp, got = trip[0], trip[1]
        if got is not None and int(got) != tid:
            raise ServerError(
                f"SGLang's input_token_logprobs are misaligned: token {got} where {tid} was sent (position {k})"
            )
        if lp is None:
            raise ServerError(f"SGLang returned no log-prob for continuation token {k} ({tid})")
        out[k] = float(lp)
    return out
