"""The shared base of the model-server backends (vLLM, SGLang): :class:`ServerBackend`.

A server backend holds a :class:`~mi_utils.backends.http.ServerPool` (replicas, retries, keys), tokenises
locally (:class:`~mi_utils.backends.local_tokenizer.LocalTokenizerMixin`) and sends token ids. What is the
same for every such server lives here: ``from_spec``, the pool and scoring batch size, ``urls``, ``repr``,
``close``, ``score`` (check the pairs, chunk them, run the chunks concurrently) and ``generate`` (encode the
chat prompts, request the samples concurrently, build :class:`~mi_utils.backends.base.Generation` records
with the same ``meta``). A subclass keeps what differs: its constructor (signature and server-specific
fields), ``check_servers``, the endpoints and payloads (``_score_chunk``, ``_request_samples``), the
parsing of one sampled completion (``_parse_sample``), ``sampling_fields`` and the per-sample seed it
records (``_sample_seed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import Generation, Message, SamplingParams, check_pairs, hash_ids
from .http import ServerPool
from .local_tokenizer import LocalTokenizerMixin

__all__ = ["ServerBackend"]


class ServerBackend(LocalTokenizerMixin):
    """Generation and scoring against one or more model servers reached over HTTP (base class).

    A subclass sets ``backend_name``, ``roles`` and ``_kind`` (the server's name in messages), calls
    :meth:`_connect` from its constructor and implements ``check_servers``, ``sampling_fields``,
    ``_score_chunk``, ``_request_samples``, ``_parse_sample`` and ``_sample_seed``.
    """

    backend_name: str = "server"
    pool: ServerPool
    score_batch_size: int

    @classmethod
    def from_spec(cls, spec: Any) -> ServerBackend:
        """The backend a config's :class:`~mi_utils.config.ModelSpec` names (``urls``, ``model``,
        ``tokenizer``; default tokenizer: the served model's name)."""
        return cls(spec.urls, spec.model, tokenizer=spec.tokenizer or spec.model)

    def _connect(
        self,
        urls: str | Sequence[str],
        model: str | None,
        tokenizer: Any,
        score_batch_size: int,
        pool_options: dict[str, Any],
        *,
        check_server: bool,
    ) -> None:
        """Set what every server backend holds (the pool, model name, scoring batch, tokenizer) and, when
        ``check_server``, ask the servers what they serve (:meth:`check_servers`).

        ``pool_options`` are :class:`~mi_utils.backends.http.ServerPool`'s keyword arguments (``kind`` is
        the class's ``_kind``)."""
        self.pool = ServerPool(urls, kind=self._kind, **pool_options)
        self.model_name = model  # type: ignore[assignment]  # a subclass may fill it in from the server
        self.score_batch_size = max(1, int(score_batch_size))
        self._tokenizer_spec = tokenizer
        if check_server:
            self.check_servers()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(urls={self.pool.urls!r}, model={self.model_name!r})"

    @property
    def urls(self) -> list[str]:
        return self.pool.urls

    def check_servers(self) -> None:  # pragma: no cover - overridden
        """Ask every replica what it serves; fail clearly on a mismatch or a dead server."""
        raise NotImplementedError

    @staticmethod
    def sampling_fields(params: SamplingParams) -> dict:  # pragma: no cover - overridden
        """Every distribution-changing sampling field sent to the server (recorded as ``effective``)."""
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release beyond the HTTP sessions (kept for symmetry with other backends)."""

    def _check_len(self, n_tokens: int, what: str, extra: int = 1) -> None:
        """Refuse a prompt longer than the server's context; a server that reports its length overrides this."""

    # ----------------------------------------------------------------- scoring
    def score(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[np.ndarray]:
        """Per-token log-probs (nats, float64) of each continuation given its prefix.

        Each pair is sent as one prompt ``prefix + continuation``; ``score_batch_size`` pairs share a
        request and the pool's ``concurrency`` requests run at once.
        """
        check_pairs(pairs)
        items = [([int(t) for t in p], [int(t) for t in c]) for p, c in pairs]
        for k, (p, c) in enumerate(items):
            self._check_len(len(p) + len(c), f"scoring pair {k}")
        chunks = [items[s : s + self.score_batch_size] for s in range(0, len(items), self.score_batch_size)]
        out: list[np.ndarray] = []
        for res in self.pool.map(self._score_chunk, chunks):
            out.extend(res)
        return out

    def _score_chunk(self, chunk: list[tuple[list[int], list[int]]]) -> list[np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    # -------------------------------------------------------------- generation
    def generate(self, prompts: Sequence[Sequence[Message]], params: SamplingParams) -> list[list[Generation]]:
        """Sample ``params.n`` completions for each chat prompt (one request per prompt)."""
        encoded = [self.encode_chat(m) for m in prompts]
        for k, ids in enumerate(encoded):
            self._check_len(len(ids), f"prompt {k}", extra=params.max_new_tokens)
        eos = set(self.eos_ids)
        # HTTP in threads; tokenizer work (decode) stays on this thread
        answers = self.pool.map(lambda ids: self._request_samples(ids, params), encoded)
        return [self._to_generations(ids, params, seed, items, eos) for ids, (seed, items) in zip(encoded, answers)]

    def _request_samples(self, ids: list[int], params: SamplingParams) -> tuple[int, list[dict]]:  # pragma: no cover
        raise NotImplementedError

    def _parse_sample(self, item: dict, eos: set[int]) -> tuple[list[int], str, int | None]:  # pragma: no cover
        """One sampled completion's ``(token ids without a trailing EOS, finish reason, the cut EOS or None)``."""
        raise NotImplementedError

    def _sample_seed(self, seed: int, j: int, params: SamplingParams) -> int | None:  # pragma: no cover
        """The seed recorded for sample ``j`` of a prompt whose seed is ``seed``."""
        raise NotImplementedError

    def _to_generations(
        self, ids: list[int], params: SamplingParams, seed: int, items: list[dict], eos: set[int]
    ) -> list[Generation]:
        effective = {"do_sample": params.temperature > 0, **self.sampling_fields(params)}
        gens = []
        for j, item in enumerate(items):
            toks, reason, stop = self._parse_sample(item, eos)
            gens.append(
                Generation(
                    text=self.tokenizer.decode(toks, skip_special_tokens=True).strip(),
                    token_ids=toks,
                    prompt_ids=list(ids),
                    sampling=params,
                    sample_index=j,
                    finish_reason=reason,
                    meta={
                        "seed": seed,
                        "sample_seed": self._sample_seed(seed, j, params),
                        "backend": self.backend_name,
                        "model": self.model_name,
                        "server_text": item.get("text", ""),
                        "prompt_hash": hash_ids(ids),
                    },
                    stop_token=stop,
                    effective=dict(effective),
                )
            )
        return gens
