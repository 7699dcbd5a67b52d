"""Token counts without a model, for the planner (:mod:`mi_utils.planning`).

What lives here: :func:`offline_tokenizer` (a model's tokenizer when it can be read on this machine
without a download: a prepared packaged model, a local folder, or a hub id in the local Hugging Face
cache), :data:`CHARS_PER_TOKEN` (the estimate used otherwise, as
:func:`mi_utils.data.records.approx_token_count`), and the planner's counter over either
(``TokenCounter``), its never-loading cache (``tokenizers=False``) and a character-chunk stand-in
tokenizer for the LM-free compressors (``CharTokenizer``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .models import PACKAGED, local_source

__all__ = ["CHARS_PER_TOKEN", "NO_TOKENIZERS", "CharTokenizer", "TokenCounter", "offline_tokenizer"]

#: Characters per token when no tokenizer can be read offline (:func:`mi_utils.data.records.approx_token_count`).
CHARS_PER_TOKEN = 4.0


@functools.lru_cache(maxsize=32)
def offline_tokenizer(name: str) -> tuple[Any | None, str]:
    """The tokenizer of ``name`` when it can be read here without a download, and how it was found.

    Returns:
      ``(tokenizer, "tokenizer of NAME")`` or ``(None, reason)``; the planner then counts
      :data:`CHARS_PER_TOKEN` characters per token.
    """
    source, found = local_source(name), f"tokenizer of {name}"
    like = PACKAGED[name].tokenizer_like if name in PACKAGED else None
    if source is None and like is not None and local_source(like) is not None:  # the same ids (models.py says so)
        source, found = local_source(like), f"tokenizer of {like} (the same as {name}'s)"
    if source is None:
        why = "not prepared here (make models)" if name in PACKAGED else "not on this machine"
        return None, f"{name}: {why}; ~{CHARS_PER_TOKEN:g} characters per token"
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(source), found
    except Exception as e:
        return None, f"{name}: tokenizer unreadable ({type(e).__name__}); ~{CHARS_PER_TOKEN:g} characters per token"


class _NoTokenizers(dict):
    """A tokenizer cache that never loads one (``plan(..., tokenizers=False)``)."""

    def __missing__(self, name: str) -> tuple[None, str]:
        return None, f"{name}: tokenizers not read (tokenizers=False); ~{CHARS_PER_TOKEN:g} characters per token"


NO_TOKENIZERS = _NoTokenizers()


class TokenCounter:
    """Token counts in one model's tokenizer, or :data:`CHARS_PER_TOKEN` characters per token."""

    def __init__(self, name: str, cache: dict) -> None:
        if name not in cache and not isinstance(cache, _NoTokenizers):
            cache[name] = offline_tokenizer(name)
        self.tok, self.how = cache[name]

    @property
    def exact(self) -> bool:
        return self.tok is not None

    def text(self, text: str) -> int:
        if self.tok is None:
            return math.ceil(len(text) / CHARS_PER_TOKEN)
        from .backends.base import encode_with

        return len(encode_with(self.tok, text))

    def bos(self) -> int:
        if self.tok is None:
            return 0
        from .backends.base import bos_ids_of

        return len(bos_ids_of(self.tok))

    def chat(self, messages: Sequence[Mapping[str, str]]) -> int:
        if self.tok is None:  # the template's markup: a few tokens per message
            return sum(self.text(m["content"]) + 4 for m in messages) + 2
        from .backends.base import encode_chat_with

        return len(encode_chat_with(self.tok, messages))


class CharTokenizer:
    """A stand-in tokenizer for LM-free summaries when none can be read: one "token" per
    :data:`CHARS_PER_TOKEN` characters (``first_k`` then cuts at that many characters)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.pieces: list[str] = []

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
        step, out = int(CHARS_PER_TOKEN), []
        for i in range(0, len(text), step):
            piece = text[i : i + step]
            if piece not in self.ids:
                self.ids[piece] = len(self.pieces)
                self.pieces.append(piece)
            out.append(self.ids[piece])
        return {"input_ids": out}

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.pieces[i] for i in ids)
