"""The summary record: what a compressor writes (:mod:`mi_utils.compress`) and what the scoring
(:mod:`mi_utils.score`) and prediction (:mod:`mi_utils.predict`) stages read.

:class:`Summary` is one summary ``z_ij`` with everything later stages need (text, sampled ids, stop
token, sampling settings, prompt hash); :func:`summary_text` reads the text of a summary given as a
:class:`Summary`, a str or anything with a str ``.text``. Both are re-exported by
:mod:`mi_utils.compress`, where users import them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .backends.base import sampling_is_pure
from .prompts import PROMPT_VERSION

__all__ = ["Summary", "summary_text"]


@dataclass
class Summary:
    """One summary z_ij of record i (sample j).

    Attributes:
      n_tokens: summary tokens: the compressor's generated tokens without the stop token (LM), or
        tokens of the reference tokenizer (LM-free methods). The rate ``mi_per_token_bits`` divides by it.
      token_ids: the sampled ids (LM compressors), in the tokenizer ``tokenizer`` names.
      sampling: the settings asked for; ``sampling_effective`` what the engine applied (see
        :func:`mi_utils.backends.base.sampling_is_pure`). ``None`` for LM-free methods.
      finish_reason, stop_token: ``"stop"`` with the end-of-sequence id that ended the sample, or
        ``"length"`` (``max_new_tokens`` reached; no stop token).
      prompt_tokens, prompt_hash: length and hash of the compressor's prompt ids (FLOPs, and the
        check that self-scoring rebuilds exactly that prompt).
      tokenizer: the compressor's tokenizer name (its ids are reused only by a scorer with the same).
    """

    record_id: str
    sample_index: int
    text: str
    n_tokens: int
    compressor: str
    token_ids: list[int] = field(default_factory=list)
    sampling: dict | None = None
    seed: int | None = None
    finish_reason: str = "stop"
    sentences: int | None = None
    prompt_version: str = PROMPT_VERSION
    stop_token: int | None = None
    prompt_tokens: int | None = None
    prompt_hash: str | None = None
    tokenizer: str | None = None
    sampling_effective: dict | None = None

    @property
    def sampling_is_pure(self) -> bool:
        """Whether the engine applied pure ancestral sampling (False for LM-free methods)."""
        return sampling_is_pure(self.sampling_effective)

    def to_row(self, key: str) -> dict:
        return {"key": key, **asdict(self)}

    @classmethod
    def from_row(cls, row: dict) -> Summary:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in row.items() if k in names})


def summary_text(summary: Any) -> str:
    """The text of a summary: a :class:`Summary`, a str, or anything with a str ``.text``.

    Raises:
      TypeError: for anything else.
    """
    if isinstance(summary, str):
        return summary
    text = getattr(summary, "text", None)
    if isinstance(text, str):
        return text
    raise TypeError(f"expected a Summary or a str, got {type(summary).__name__}")
