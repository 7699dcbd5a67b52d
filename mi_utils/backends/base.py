"""The backend contract: every engine (transformers, vLLM, SGLang) generates and scores.

Token ids are the currency. ``score`` takes ``(prefix_ids, continuation_ids)`` pairs and
returns, for each pair, the log-probability (nats) of every continuation token given the prefix
and the earlier continuation tokens. The tokenisation seam is the caller's business
(:func:`mi_utils.prompts` builds both halves), so all backends score exactly the same tokens.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = ["SamplingParams", "Generation", "Backend", "Message", "check_pairs", "derive_seed", "encode_chat_with"]

Message = dict  # {"role": "user" | "system" | "assistant", "content": str}


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings, recorded with every summary.

    The defaults are *pure* ancestral sampling (temperature 1, no top-k, no top-p): only then is
    the sampling distribution the one the scorer evaluates, which the leave-one-out upper bound
    needs. transformers would otherwise apply ``top_k=50`` silently, so it is set explicitly.
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
        """True when samples come from the model's own distribution (T=1, no truncation)."""
        return self.temperature == 1.0 and self.top_k == 0 and self.top_p == 1.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Generation:
    """One sampled completion."""

    text: str
    token_ids: list[int]
    prompt_ids: list[int]
    sampling: SamplingParams
    sample_index: int = 0  # j in 0..n-1
    finish_reason: str = "length"  # "stop" (EOS) or "length"
    meta: dict = field(default_factory=dict)

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)


@runtime_checkable
class Backend(Protocol):
    """What the pipeline needs from an engine."""

    model_name: str

    def generate(self, prompts: Sequence[Sequence[Message]], params: SamplingParams) -> list[list[Generation]]:
        """Sample ``params.n`` completions for each chat prompt (list of messages)."""
        ...

    def score(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[np.ndarray]:
        """Per-token log-probs (nats, float64 arrays) of each continuation given its prefix."""
        ...

    def encode_chat(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of a chat prompt, ending with the assistant turn's opening."""
        ...


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


def encode_chat_with(tokenizer, messages: Sequence[Message]) -> list[int]:
    """Chat-template token ids ending with the assistant turn's opening.

    Every backend sends the same prompt tokens. Base models without a chat template (Gemma 3
    270M) get the messages joined by blank lines, with the tokenizer's special tokens (BOS).
    """
    if getattr(tokenizer, "chat_template", None) is None:
        text = "\n\n".join(m["content"] for m in messages) + "\n\n"
        return [int(t) for t in tokenizer(text, add_special_tokens=True)["input_ids"]]
    out = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
    if isinstance(out, dict) or hasattr(out, "keys"):
        out = out["input_ids"]
    return [int(t) for t in out]
