"""The scorer half of the server backends (vLLM, SGLang): the served model's tokenizer, run locally.

Prompts go to a server as token ids, so encoding, BOS/EOS handling and chat templates are those of
the in-process backend. :class:`LocalTokenizerMixin` gives a server backend ``tokenizer``,
``encode``, ``encode_chat``, ``bos_ids`` and ``eos_ids``; :func:`load_chat_tokenizer` finds the
tokenizer (an object, a packaged name, a hub id or a local folder, or the server's own model
names). HTTP itself lives in :mod:`mi_utils.backends.http`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from .base import bos_ids_of, encode_chat_with, encode_with

__all__ = ["LocalTokenizerMixin", "load_chat_tokenizer"]

log = logging.getLogger(__name__)


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
        except Exception as e:
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
        _ = self.tokenizer  # loads it, which records where it came from
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
