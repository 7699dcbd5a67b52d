"""The backend contract: two roles, a *generator* and a *scorer*, and what each must provide.

* A **generator** turns chat prompts into text: ``generate(prompts, params)`` returns, per prompt,
  ``params.n`` :class:`Generation` objects with the text, the token counts (prompt and output),
  the stop token and the *effective* sampling settings the engine applied.
* A **scorer** tokenises locally (``encode``, ``encode_chat``, ``bos_ids``, ``eos_ids`` from the
  scored model's own tokenizer) and returns summed-able per-token log-probs of continuations:
  ``score(pairs)`` takes ``(prefix_ids, continuation_ids)`` pairs and returns, for each pair, the
  log-probability (nats) of every continuation token given the prefix and the earlier
  continuation tokens. Token ids are the currency, so every scorer (in process or on a server)
  scores exactly the same tokens; the tokenisation seam is the caller's business
  (:mod:`mi_utils.prompts` builds both halves).

Every backend says which roles it fills in ``roles`` (class attribute, part of both protocols):
callers check ``require_role(backend, "scorer", ...)`` instead of probing for methods, and the
experiment config refuses a backend in a role it cannot fill before any model loads
(:data:`mi_utils.backends.BACKEND_ROLES`, read from the registry :mod:`mi_utils.backends.registry`;
``BACKEND_ROLES`` stays importable from here).

Sampling settings: :class:`SamplingParams` is what the caller asks for; each backend records in
``Generation.effective`` every distribution-changing setting it actually applied (explicit values,
never a model's own ``generation_config`` defaults), and :func:`sampling_is_pure` says whether
those are pure ancestral sampling (temperature 1, no truncation, no penalties).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "explicit_sampling_fields",
    "GENERATOR",
    "SCORER",
    "SamplingParams",
    "Generation",
    "Generator",
    "Scorer",
    "Backend",
    "Message",
    "NEUTRAL_SAMPLING",
    "sampling_is_pure",
    "require_role",
    "check_pairs",
    "derive_seed",
    "encode_chat_with",
    "encode_with",
    "bos_ids_of",
    "hash_ids",
]

Message = dict  # {"role": "user" | "system" | "assistant", "content": str}

#: Role names (``backend.roles`` holds one or both).
GENERATOR = "generator"
SCORER = "scorer"

#: The value of every distribution-changing sampling setting under pure ancestral sampling.
#: ``None`` in an effective-settings dict means "not applied" (no processor), which is neutral too.
NEUTRAL_SAMPLING: dict[str, Any] = {
    "do_sample": True,
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "min_p": 0.0,
    "typical_p": 1.0,
    "top_h": None,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "no_repeat_ngram_size": 0,
    "min_length": 0,
    "min_new_tokens": 0,
    "min_tokens": 0,
    "bad_words_ids": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "sequence_bias": None,
    "guidance_scale": 1.0,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "exponential_decay_length_penalty": None,
    "num_beams": 1,
    "logit_bias": None,
}


def sampling_is_pure(effective: Mapping[str, Any] | None) -> bool:
    """Whether recorded effective settings are pure ancestral sampling.

    True only when ``temperature``, ``top_k`` and ``top_p`` were recorded and every recorded
    setting of :data:`NEUTRAL_SAMPLING` is neutral (or ``None``: not applied). Settings that do not
    change the next-token distribution (``max_new_tokens``, seeds) are ignored.

    Args:
      effective: ``Generation.effective`` (or a summary's ``sampling_effective``).

    Returns:
      ``False`` for ``None``/empty (unknown settings are never assumed pure).
    """
    if not effective or any(k not in effective for k in ("temperature", "top_k", "top_p")):
        return False
    for key, neutral in NEUTRAL_SAMPLING.items():
        if key not in effective:
            continue
        v = effective[key]
        if v is None or v == neutral:
            continue
        if key == "top_k" and v == -1:  # vLLM / SGLang spelling of "off"
            continue
        return False
    return True


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings a caller asks for (each backend records what it applied).

    The defaults are *pure* ancestral sampling (temperature 1, no top-k, no top-p): only then is
    the sampling distribution the one a self-scoring scorer evaluates, which the leave-one-out
    upper bound needs. Every backend sends these explicitly and neutralises the rest
    (repetition penalties, min-p, ...), so a model's own ``generation_config`` defaults are never
    inherited.
    """

    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1.0 = off
    max_new_tokens: int = 64
    n: int = 1  # samples per prompt
    seed: int = 0

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0 (0 = greedy)")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0 or self.n < 1 or self.max_new_tokens < 1:
            raise ValueError("top_k >= 0, n >= 1 and max_new_tokens >= 1 are required")

    @property
    def is_pure(self) -> bool:
        """True when the *requested* settings are pure sampling (T=1, no truncation)."""
        return self.temperature == 1.0 and self.top_k == 0 and self.top_p == 1.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Generation:
    """One sampled completion.

    Attributes:
      text: the completion, decoded (special tokens skipped) and stripped.
      token_ids: its token ids, without the stop token (empty for chat APIs).
      prompt_ids: the prompt's token ids (empty for chat APIs).
      sampling: the settings asked for.
      sample_index: ``j`` in ``0..n-1``.
      finish_reason: ``"stop"`` (a stop token) or ``"length"`` (``max_new_tokens`` reached).
      meta: backend details (seed, model, server text, API usage...).
      stop_token: the end-of-sequence token that ended it (``None`` when it hit the length limit
        or the backend does not say).
      prompt_tokens: tokens of the prompt (local backends: ``len(prompt_ids)``; chat APIs: the
        request's ``usage``, on sample 0 only, so that sums count each request once).
      output_tokens: generated tokens without the stop token (chat APIs: ``usage``, sample 0 only).
      effective: every distribution-changing setting the engine applied (see
        :func:`sampling_is_pure`); empty when unknown.
    """

    text: str
    token_ids: list[int]
    prompt_ids: list[int]
    sampling: SamplingParams
    sample_index: int = 0
    finish_reason: str = "length"
    meta: dict = field(default_factory=dict)
    stop_token: int | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    effective: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.prompt_tokens is None and self.prompt_ids:
            self.prompt_tokens = len(self.prompt_ids)
        if self.output_tokens is None and self.prompt_ids:
            self.output_tokens = len(self.token_ids)

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)


@runtime_checkable
class Generator(Protocol):
    """Chat in, text and token counts out (local models, inference servers, chat APIs)."""

    model_name: str
    roles: frozenset[str]

    def generate(self, prompts: Sequence[Sequence[Message]], params: SamplingParams) -> list[list[Generation]]:
        """Sample ``params.n`` completions for each chat prompt (a list of messages)."""
        ...


@runtime_checkable
class Scorer(Protocol):
    """Local tokenisation of the scored model and per-token log-probs of continuations.

    Attributes:
      tokenizer_name: what identifies the tokenizer (a packaged name, hub id or path): token ids
        recorded by another backend are reused as they are only when the names agree.
      tokenizer: the tokenizer object (``decode`` for tables).
    """

    model_name: str
    roles: frozenset[str]
    tokenizer_name: str

    @property
    def tokenizer(self) -> Any: ...

    @property
    def bos_ids(self) -> list[int]:
        """Ids a plain-text prompt must start with (Gemma's BOS; none for SmolLM2)."""
        ...

    @property
    def eos_ids(self) -> list[int]:
        """End-of-sequence ids; the first one ends an assistant turn (used to close text summaries)."""
        ...

    def encode(self, text: str) -> list[int]:
        """Token ids of plain text, without special tokens."""
        ...

    def encode_chat(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of a chat prompt, ending with the assistant turn's opening."""
        ...

    def score(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[np.ndarray]:
        """Per-token log-probs (nats, float64 arrays) of each continuation given its prefix."""
        ...


@runtime_checkable
class Backend(Generator, Scorer, Protocol):
    """A local engine that fills both roles (transformers in process, vLLM, SGLang)."""


def require_role(backend: Any, role: str, purpose: str) -> None:
    """Raise a clear error when ``backend`` does not fill ``role`` (its declared ``roles``).

    Args:
      backend: any backend (every backend declares ``roles``).
      role: :data:`GENERATOR` or :data:`SCORER`.
      purpose: what the caller wanted to do, for the message ("log-likelihood choice").

    Raises:
      TypeError: the backend does not declare ``role``.
    """
    roles = backend.roles
    if role in roles:
        return
    name = f"{type(backend).__name__} ({getattr(backend, 'model_name', '?')})"
    if role == SCORER:
        raise TypeError(
            f"{name} cannot score prompts for {purpose}: its roles are {sorted(roles)}. Chat APIs return no "
            "log-probs for prompt tokens; use a scorer (HFBackend, VLLMBackend or SGLangBackend), or for "
            "predictions generate_answer, which works with any generator"
        )
    raise TypeError(
        f"{name} cannot generate text for {purpose}: its roles are {sorted(roles)}; use a generator "
        "(HFBackend, VLLMBackend, SGLangBackend or OpenAIChatBackend)"
    )


def check_pairs(pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> None:
    """Validate scoring pairs: a non-empty prefix and a non-empty continuation each."""
    for k, (prefix, cont) in enumerate(pairs):
        if len(prefix) == 0:
            raise ValueError(
                f"pair {k}: empty prefix; the first continuation token needs a context "
                "(prepend a BOS token or a prompt)"
            )
        if len(cont) == 0:
            raise ValueError(f"pair {k}: empty continuation; there is nothing to score")


def derive_seed(seed: int, ids: Sequence[int]) -> int:
    """A per-prompt seed from the run seed and the prompt's token ids.

    A record's samples then do not depend on which other records ran in the same call or
    process, so an interrupted run that resumes regenerates nothing differently. Every backend
    uses this formula.
    """
    h = hashlib.sha256(f"{seed}:".encode() + np.asarray(ids, dtype=np.int64).tobytes()).digest()
    return int.from_bytes(h[:4], "little")


def hash_ids(ids: Sequence[int]) -> str:
    """Short content hash of a token-id list (e.g. a compressor's prompt, recorded with a summary)."""
    return hashlib.sha256(np.asarray(list(ids), dtype=np.int64).tobytes()).hexdigest()[:16]


def encode_with(tokenizer, text: str, *, special: bool = False) -> list[int]:
    """Token ids of ``text`` with a transformers tokenizer (no special tokens unless ``special``)."""
    return [int(t) for t in tokenizer(text, add_special_tokens=special)["input_ids"]]


def bos_ids_of(tokenizer) -> list[int]:
    """The ids a tokenizer puts before plain text (its BOS), without any trailing special token."""
    ids = encode_with(tokenizer, "", special=True)
    eos = tokenizer.eos_token_id
    return [t for t in ids if t != eos] if eos is not None else ids


def encode_chat_with(tokenizer, messages: Sequence[Message]) -> list[int]:
    """Chat-template token ids ending with the assistant turn's opening.

    Every backend sends the same prompt tokens. Base models without a chat template (Gemma 3
    270M) get the messages joined by blank lines, with the tokenizer's special tokens (BOS).
    """
    if getattr(tokenizer, "chat_template", None) is None:
        text = "\n\n".join(m["content"] for m in messages) + "\n\n"
        return encode_with(tokenizer, text, special=True)
    out = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
    if isinstance(out, Mapping) or hasattr(out, "keys"):
        out = out["input_ids"]
    return [int(t) for t in out]


def explicit_sampling_fields(params: SamplingParams, *, min_tokens_field: str) -> dict:
    """Every distribution-changing sampling field, stated explicitly for an inference server.

    Servers fill a field a request leaves out from the model's own ``generation_config`` (a
    Qwen-2.5 ``repetition_penalty`` would silently apply), so the asked temperature / top-k /
    top-p are sent together with neutral penalties and no minimum length. ``min_tokens_field``
    is the server's name for the minimum output length (vLLM ``min_tokens``, SGLang
    ``min_new_tokens``). The dict is also what the backend records as the applied settings.
    """
    return {
        "temperature": float(params.temperature),
        "top_p": float(params.top_p),
        "top_k": int(params.top_k) if params.top_k > 0 else -1,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        min_tokens_field: 0,
    }


def __getattr__(name: str) -> Any:
    """``BACKEND_ROLES`` lives in :mod:`mi_utils.backends.registry` (it imports this module); the old
    import path ``mi_utils.backends.base.BACKEND_ROLES`` keeps working."""
    if name == "BACKEND_ROLES":
        from .registry import BACKEND_ROLES

        return BACKEND_ROLES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
