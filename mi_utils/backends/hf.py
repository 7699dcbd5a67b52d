"""In-process transformers backend: chat generation and teacher-forced scoring.

Scoring reuses the shared prefix. Estimating I(X;Z|Q) scores every summary under every context,
so each context is behind ``N*M`` continuations; re-encoding it for each one (what
lm-evaluation-harness and minicons do) wastes almost all the compute. Here each distinct prefix is
encoded once into a KV cache (``logits_to_keep=1``: its last logit predicts the first continuation
token) and every continuation behind it is scored on top of that cache:

* ``strategy="crop"`` (CPU default): one continuation at a time, then ``cache.crop(-L)`` rolls
  the cache back to the prefix.
* ``strategy="packed"``: several continuations concatenated behind the prefix in one
  forward pass, with a 4D block attention mask (each continuation sees the prefix and its own
  earlier tokens, never another continuation) and positions restarting at ``P`` for each; then
  ``cache.crop`` rolls the cache back to the prefix. One copy of the prefix K/V, large GEMMs.
  On CPU it measured level with ``crop`` (``benchmarks/scoring.py``; figures in the README).
* ``strategy="batch"`` (GPU default): ``B`` continuations right-padded behind zero-copy
  ``expand``-ed views of the prefix cache, with a 2D attention mask and explicit ``position_ids``.
* models with sliding-window attention layers (Gemma 3) cannot ``crop`` a layer whose cache was
  trimmed to the window, nor expand it into a batch (the trimmed layer no longer matches the
  batch's attention mask); they use ``strategy="copy"``: a ``deepcopy`` of the prefix cache per
  continuation, which is always correct. Asking for ``crop``, ``packed`` or ``batch`` on such a
  model raises.

``strategy="naive"`` is the plain full-sequence forward (prefix + continuation re-encoded for
every pair), the reference the golden tests compare against.

Positions are passed as ``position_ids``: transformers 5.19's Llama forward silently ignores
``cache_position``.

Generation sets every sampling field explicitly and hides the model's own ``generation_config``
while it samples: transformers otherwise fills every field left unset from it (Qwen-2.5 ships
``repetition_penalty=1.05``, ``temperature=0.7``, ``top_p=0.8``, ``top_k=20``), so the samples would
not come from the distribution the scorer evaluates. The settings actually applied are recorded
in ``Generation.effective``; the model's own defaults that were *not* applied are listed in
``meta["ignored_model_defaults"]``.
"""

from __future__ import annotations

import contextlib
import copy
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
import torch
from transformers import GenerationConfig
from transformers.cache_utils import DynamicCache

from ..models import load_model
from .base import (
    NEUTRAL_SAMPLING,
    Generation,
    Message,
    SamplingParams,
    bos_ids_of,
    check_pairs,
    derive_seed,
    encode_chat_with,
    encode_with,
    hash_ids,
)
from .registry import BACKEND_ROLES

__all__ = ["HFBackend"]

Strategy = Literal["auto", "packed", "crop", "batch", "copy", "naive"]


_SLIDING_REFUSED = ("crop", "packed", "batch")

#: GenerationConfig fields that change the next-token distribution, recorded as applied.
_GEN_FIELDS = tuple(
    k for k in NEUTRAL_SAMPLING if k not in ("presence_penalty", "frequency_penalty", "min_tokens", "logit_bias")
)
#: What transformers uses for a field left ``None`` once the model's own defaults are hidden
#: (``GenerationConfig._get_default_generation_params()``; a test keeps the two in step).
_TRANSFORMERS_DEFAULTS = {
    "do_sample": False,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "min_length": 0,
    "num_beams": 1,
}


class HFBackend:
    """Generation and scoring with a transformers causal LM (both roles: generator and scorer).

    Args:
      model: packaged name, hub id or local path (see :mod:`mi_utils.models`), or an already
        loaded model (then pass ``tokenizer`` too).
      tokenizer: required when ``model`` is a loaded model.
      dtype: weights dtype; float32 for golden comparisons, bfloat16 on GPUs.
      device_map / device: placement (see :func:`mi_utils.models.load_model`).
      strategy: scoring strategy (module docstring); ``"auto"`` picks ``copy`` for sliding-window
        models, ``batch`` on CUDA (where batching behind the cache wins), ``crop`` otherwise.
      batch_size: continuations per forward pass for ``batch`` and ``naive``.
      pack_tokens: continuation tokens per forward pass for ``packed``.

    Raises:
      ValueError: ``strategy`` is ``crop``, ``packed`` or ``batch`` for a model with
        sliding-window attention layers.
    """

    roles = BACKEND_ROLES["hf"]

    @classmethod
    def from_spec(cls, spec) -> HFBackend:
        """The backend a config's :class:`~mi_utils.config.ModelSpec` names (``model``, ``dtype``)."""
        return cls(spec.model, dtype=spec.dtype)

    def __init__(
        self,
        model="smollm2-135m-instruct",
        tokenizer=None,
        *,
        dtype: str = "float32",
        device_map=None,
        device: str | None = None,
        strategy: Strategy = "auto",
        batch_size: int = 8,
        pack_tokens: int = 512,
    ) -> None:
        if isinstance(model, str):
            self.model_name = model
            self.model, self.tokenizer = load_model(model, dtype=dtype, device_map=device_map, device=device)
        else:
            if tokenizer is None:
                raise ValueError("pass tokenizer= together with a loaded model")
            self.model, self.tokenizer = model, tokenizer
            self.model_name = getattr(model, "mi_utils_name", model.config.name_or_path)
        self.dtype = str(next(self.model.parameters()).dtype).replace("torch.", "")
        self.batch_size = batch_size
        self.pack_tokens = pack_tokens
        self.sliding_window = _has_sliding_layers(self.model.config)
        if strategy == "auto":
            strategy = "copy" if self.sliding_window else ("batch" if self.device.type == "cuda" else "crop")
        self._check_strategy(strategy)
        self.strategy: Strategy = strategy
        self.tokenizer_name = self.model_name
        self._eos = _eos_ids(self.model, self.tokenizer)
        # the model's own sampling defaults; never applied (module docstring), listed in meta
        self.ignored_model_defaults = _non_default_sampling(self.model.generation_config)

    def _check_strategy(self, strategy: str) -> None:
        if strategy in _SLIDING_REFUSED and self.sliding_window:
            raise ValueError(
                f"{self.model_name} has sliding-window attention layers: strategy {strategy!r} is not valid for "
                "them (cache.crop() cannot restore a layer trimmed to its window, and a batch cannot expand "
                "one); use strategy='copy' (or 'auto', which picks it)"
            )

    # ------------------------------------------------------------------ basics
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def bos_ids(self) -> list[int]:
        """Ids a plain-text prompt must start with (Gemma's BOS; none for SmolLM2)."""
        return bos_ids_of(self.tokenizer)

    @property
    def eos_ids(self) -> list[int]:
        """End-of-sequence ids: the model's ``generation_config`` ones first, then the tokenizer's."""
        return list(self._eos)

    def encode(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids of ``text`` (no special tokens unless ``special``)."""
        return encode_with(self.tokenizer, text, special=special)

    def encode_chat(self, messages: Sequence[Message]) -> list[int]:
        return encode_chat_with(self.tokenizer, messages)

    # -------------------------------------------------------------- generation
    def generation_config(self, params: SamplingParams) -> GenerationConfig:
        """The complete generation config for ``params``: every distribution-changing field explicit.

        Sampling: ``temperature``/``top_k``/``top_p`` as asked (``top_k=0``, ``top_p=1.0`` mean off;
        transformers would otherwise apply ``top_k=50``) and every other field of
        :data:`~mi_utils.backends.base.NEUTRAL_SAMPLING` at its neutral value. Greedy
        (``temperature=0``) leaves the sampling warpers unset.
        """
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self._eos[0]
        greedy = params.temperature == 0
        # every neutral value explicit, except min_p (0.0 would add a no-op warper; None adds none) and
        # min_length (min_new_tokens=0 already says it; transformers warns when both are set)
        fields = {
            k: v
            for k, v in NEUTRAL_SAMPLING.items()
            if k in _GEN_FIELDS and v is not None and k not in ("min_p", "min_length")
        }
        fields.update(
            do_sample=not greedy,
            temperature=None if greedy else float(params.temperature),
            top_k=None if greedy else int(params.top_k),
            top_p=None if greedy else float(params.top_p),
        )
        if greedy:
            for k in ("typical_p", "epsilon_cutoff", "eta_cutoff"):
                fields.pop(k, None)
        return GenerationConfig(
            **fields,
            max_new_tokens=params.max_new_tokens,
            num_return_sequences=params.n,
            eos_token_id=list(self._eos),
            pad_token_id=pad,
        )

    @contextlib.contextmanager
    def _neutral_model_defaults(self) -> Iterator[None]:
        """Hide the model's own generation_config (transformers fills unset fields from it)."""
        saved = self.model.generation_config
        self.model.generation_config = GenerationConfig(
            eos_token_id=saved.eos_token_id, bos_token_id=saved.bos_token_id, pad_token_id=saved.pad_token_id
        )
        try:
            yield
        finally:
            self.model.generation_config = saved

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Sequence[Message]], params: SamplingParams) -> list[list[Generation]]:
        """Sample ``params.n`` completions for each chat prompt.

        Sampling is exactly what ``params`` says (:meth:`generation_config`); the model's own
        generation defaults (repetition penalties, temperature, ...) are not inherited. Each
        :class:`Generation` records the applied settings in ``effective``, the stop token, and the
        prompt and output token counts.
        """
        cfg = self.generation_config(params)
        effective = _effective(cfg)
        eos = set(self._eos)
        results: list[list[Generation]] = []
        for messages in prompts:
            ids = self.encode_chat(messages)
            seed = derive_seed(params.seed, ids)
            torch.manual_seed(seed)
            x = torch.tensor([ids], device=self.device)
            with self._neutral_model_defaults():
                out = self.model.generate(input_ids=x, attention_mask=torch.ones_like(x), generation_config=cfg)
            gens = []
            for j, row in enumerate(out[:, len(ids) :].tolist()):
                toks, reason, stop = _cut_at_eos(row, eos)
                gens.append(
                    Generation(
                        text=self.tokenizer.decode(toks, skip_special_tokens=True).strip(),
                        token_ids=toks,
                        prompt_ids=ids,
                        sampling=params,
                        sample_index=j,
                        finish_reason=reason,
                        meta={
                            "seed": seed,
                            "backend": "hf",
                            "model": self.model_name,
                            "dtype": self.dtype,
                            "prompt_hash": hash_ids(ids),
                            "ignored_model_defaults": dict(self.ignored_model_defaults),
                        },
                        stop_token=stop,
                        effective=dict(effective),
                    )
                )
            results.append(gens)
        return results

    # ----------------------------------------------------------------- scoring
    @torch.inference_mode()
    def score(
        self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]], *, strategy: Strategy | None = None
    ) -> list[np.ndarray]:
        """Per-token log-probs (nats, float64) of each continuation given its prefix.

        Pairs that share a prefix share one prefill, whatever their order in ``pairs``.
        Cost: one forward over each distinct prefix plus one over each continuation (minus its
        last token), instead of one over prefix+continuation per pair.
        """
        check_pairs(pairs)
        strategy = strategy or self.strategy
        if strategy == "auto":
            strategy = self.strategy
        self._check_strategy(strategy)
        if strategy == "naive":
            return self._score_naive(pairs)
        groups: OrderedDict[tuple[int, ...], list[int]] = OrderedDict()
        for k, (prefix, _) in enumerate(pairs):
            groups.setdefault(tuple(prefix), []).append(k)
        out: list[np.ndarray | None] = [None] * len(pairs)
        for prefix, idx in groups.items():
            conts = [list(pairs[k][1]) for k in idx]
            for k, lp in zip(idx, self.score_behind_prefix(list(prefix), conts, strategy=strategy)):
                out[k] = lp
        return out  # type: ignore[return-value]

    @torch.inference_mode()
    def score_behind_prefix(
        self, prefix: Sequence[int], continuations: Sequence[Sequence[int]], *, strategy: Strategy | None = None
    ) -> list[np.ndarray]:
        """Score many continuations behind one prefix, encoding the prefix once."""
        strategy = strategy or self.strategy
        if strategy == "auto":
            strategy = self.strategy
        self._check_strategy(strategy)
        dev = self.device
        P = len(prefix)
        o = self.model(input_ids=torch.tensor([list(prefix)], device=dev), use_cache=True, logits_to_keep=1)
        cache = o.past_key_values
        first = torch.log_softmax(o.logits[0, -1].float(), -1)  # predicts continuation token 0
        if strategy == "batch":
            return self._score_batched(cache, P, first, continuations)
        if strategy == "packed":
            return self._score_packed(cache, P, first, continuations)
        results = []
        for cont in continuations:
            cont = list(cont)
            L = len(cont)
            lp = np.empty(L, dtype=np.float64)
            lp[0] = first[cont[0]].item()
            if L > 1:
                c = copy.deepcopy(cache) if strategy == "copy" else cache
                logits = self.model(
                    input_ids=torch.tensor([cont[:-1]], device=dev),
                    position_ids=torch.arange(P, P + L - 1, device=dev)[None],
                    past_key_values=c,
                    use_cache=True,
                ).logits[0]
                lp[1:] = _gather_logprobs(logits, cont[1:])
                if strategy == "crop":
                    cache.crop(-(L - 1))
            results.append(lp)
        return results

    def _score_packed(self, cache, P: int, first: torch.Tensor, continuations) -> list[np.ndarray]:
        dev = self.device
        conts = [list(c) for c in continuations]
        results: list[np.ndarray | None] = [None] * len(conts)
        order = list(range(len(conts)))
        k = 0
        while k < len(order):
            # greedily fill one pack with whole continuations (at least one)
            chunk, total = [], 0
            while k < len(order) and (not chunk or total + len(conts[order[k]]) - 1 <= self.pack_tokens):
                chunk.append(order[k])
                total += len(conts[order[k]]) - 1
                k += 1
            for idx in chunk:
                results[idx] = np.array([first[conts[idx][0]].item()], dtype=np.float64)
            if total == 0:
                continue
            inp, pos, spans = [], [], []
            for idx in chunk:
                body = conts[idx][:-1]
                spans.append((idx, len(inp), len(body)))
                inp.extend(body)
                pos.extend(range(P, P + len(body)))
            T = len(inp)
            mask = torch.zeros((1, 1, T, P + T), dtype=torch.bool, device=dev)
            mask[..., :P] = True
            for _, start, n in spans:
                mask[0, 0, start : start + n, P + start : P + start + n] = torch.ones(
                    n, n, dtype=torch.bool, device=dev
                ).tril()
            logits = self.model(
                input_ids=torch.tensor([inp], device=dev),
                position_ids=torch.tensor([pos], device=dev),
                attention_mask=mask,
                past_key_values=cache,
                use_cache=True,
            ).logits[0]
            cache.crop(-T)
            for idx, start, n in spans:
                if n:
                    results[idx] = np.concatenate(
                        [results[idx], _gather_logprobs(logits[start : start + n], conts[idx][1:])]
                    )
        return results  # type: ignore[return-value]

    def _score_batched(self, cache, P: int, first: torch.Tensor, continuations) -> list[np.ndarray]:
        dev = self.device
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        results: list[np.ndarray] = []
        for s in range(0, len(continuations), self.batch_size):
            chunk = [list(c) for c in continuations[s : s + self.batch_size]]
            B = len(chunk)
            lmax = max(len(c) for c in chunk)
            if lmax == 1:
                results.extend(np.array([first[c[0]].item()], dtype=np.float64) for c in chunk)
                continue
            inp = torch.full((B, lmax - 1), pad, dtype=torch.long, device=dev)
            mask = torch.zeros((B, P + lmax - 1), dtype=torch.long, device=dev)
            mask[:, :P] = 1
            for b, c in enumerate(chunk):
                inp[b, : len(c) - 1] = torch.tensor(c[:-1], device=dev)
                mask[b, P : P + len(c) - 1] = 1
            # zero-copy views of the prefix cache; DynamicLayer.update concatenates, never writes in place
            view = DynamicCache(
                ddp_cache_data=[(la.keys.expand(B, -1, -1, -1), la.values.expand(B, -1, -1, -1)) for la in cache.layers]
            )
            logits = self.model(
                input_ids=inp,
                attention_mask=mask,
                position_ids=torch.arange(P, P + lmax - 1, device=dev)[None].expand(B, -1),
                past_key_values=view,
                use_cache=True,
            ).logits
            for b, c in enumerate(chunk):
                lp = np.empty(len(c), dtype=np.float64)
                lp[0] = first[c[0]].item()
                if len(c) > 1:
                    lp[1:] = _gather_logprobs(logits[b, : len(c) - 1], c[1:])
                results.append(lp)
        return results

    def _score_naive(self, pairs) -> list[np.ndarray]:
        """Reference: the full prefix+continuation sequence re-encoded for every pair."""
        dev = self.device
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        results: list[np.ndarray] = []
        for s in range(0, len(pairs), self.batch_size):
            chunk = [(list(p), list(c)) for p, c in pairs[s : s + self.batch_size]]
            T = max(len(p) + len(c) for p, c in chunk)
            inp = torch.full((len(chunk), T), pad, dtype=torch.long, device=dev)
            mask = torch.zeros((len(chunk), T), dtype=torch.long, device=dev)
            for b, (p, c) in enumerate(chunk):
                inp[b, : len(p) + len(c)] = torch.tensor(p + c, device=dev)
                mask[b, : len(p) + len(c)] = 1
            logits = self.model(input_ids=inp, attention_mask=mask).logits
            for b, (p, c) in enumerate(chunk):
                # logits at positions P-1 .. P+L-2 predict the continuation tokens
                results.append(_gather_logprobs(logits[b, len(p) - 1 : len(p) + len(c) - 1], c))
        return results


def _gather_logprobs(logits: torch.Tensor, targets: Sequence[int]) -> np.ndarray:
    """log_softmax in float32 (upcast from bf16/fp16), gathered at the target ids."""
    lp = torch.log_softmax(logits.float(), -1)
    t = torch.tensor(list(targets), device=logits.device)[:, None]
    return lp.gather(-1, t)[:, 0].double().cpu().numpy()


def _has_sliding_layers(config) -> bool:
    cfg = getattr(config, "text_config", None) or config
    types = getattr(cfg, "layer_types", None) or []
    return any("sliding" in str(t) for t in types) or bool(getattr(cfg, "sliding_window", None) and not types)


def _eos_ids(model, tokenizer) -> list[int]:
    eos = model.generation_config.eos_token_id if model.generation_config is not None else None
    if eos is None:
        eos = tokenizer.eos_token_id
    ids = [eos] if isinstance(eos, int) else list(eos or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    if not ids:
        raise ValueError("the tokenizer defines no EOS token; generation would never stop")
    return ids


def _cut_at_eos(row: list[int], eos: set[int]) -> tuple[list[int], str, int | None]:
    """``(tokens before the first EOS, finish reason, that EOS or None)``."""
    for k, t in enumerate(row):
        if t in eos:
            return row[:k], "stop", int(t)
    return row, "length", None


def _effective(cfg: GenerationConfig) -> dict:
    """The distribution-changing settings of ``cfg`` as transformers applies them.

    ``None`` fields fall back to transformers' global defaults (the model's own defaults are hidden
    during generation), so the record is what ran: an unset ``top_k`` would read 50 here.
    """
    out = {}
    for k in _GEN_FIELDS:
        v = getattr(cfg, k, None)
        out[k] = _TRANSFORMERS_DEFAULTS.get(k) if v is None else v
    if not out["do_sample"]:  # greedy: the warpers do not run
        for k in ("temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff", "top_h"):
            out[k] = None
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}


def _non_default_sampling(gen_config) -> dict:
    """Sampling fields a model's own generation_config sets away from transformers' defaults."""
    if gen_config is None:
        return {}
    out = {}
    for k in _GEN_FIELDS:
        v = getattr(gen_config, k, None)
        if v is not None and v != _TRANSFORMERS_DEFAULTS.get(k):
            out[k] = v
    return out
