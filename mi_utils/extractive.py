"""LM-free compressors by name: one public registry of extractive methods, controls and ``full``.

:data:`METHODS` maps a config's ``method:`` value to an :class:`ExtractiveMethod`: the function
that cuts one summary per record from the records' contexts, its kind (``extractive``: it picks
from each context; ``control``: zero information about the record by construction; ``full``: the
whole context, the no-compression baseline), whether it takes ``k`` and whether its summaries
are random draws (``M`` different ones per record). The config validates ``method:`` and ``k``
against it, a setting's kind, id and sample count come from it, and the runner calls
:func:`extractive_summaries` for every LM-free setting.

A method function takes ``(records, k, tokenizer, rngs)`` and returns one text per record:
``records`` have ``id``, ``context``, ``query``; ``k`` is ``None`` for methods without one;
``tokenizer`` is the run's reference tokenizer (a Hugging Face tokenizer); ``rngs[i]`` is record
``i``'s :class:`random.Random` for this draw (seeded by run seed, record id and sample index).
Adding a method is that function plus one :func:`register_method` line (the register / look-up
checks and messages are :class:`mi_utils.registry.Registry`'s).

The project's methods: ``first_k`` (first ``k`` tokens), ``bm25_top_k`` (the ``k`` sentences
BM25 ranks highest against the query, in document order), ``random_k`` (``k`` random sentences),
the controls ``shared_prefix`` (the token prefix all records share) and ``constant``
(:data:`CONSTANT_SUMMARY` for every record), and ``full``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .prompts import strip_options
from .registry import Registry
from .summaries import Summary

__all__ = [
    "CONSTANT_SUMMARY",
    "KINDS",
    "METHODS",
    "ExtractiveMethod",
    "extractive_summaries",
    "full_context_summaries",
    "method_entry",
    "method_names",
    "register_method",
    "split_sentences",
]

#: Kinds of LM-free methods (a setting's ``kind``; LM compressors are ``lm``).
KINDS = ("extractive", "control", "full")
#: The ``constant`` control's text.
CONSTANT_SUMMARY = "No information."

MethodFn = Callable[[Sequence, "int | None", Any, Sequence[random.Random]], list[str]]


@dataclass(frozen=True)
class ExtractiveMethod:
    """One registered LM-free method (see the module docstring for ``fn``'s signature)."""

    name: str
    fn: MethodFn
    kind: str
    takes_k: bool
    sampled: bool = False

    def compressor(self, k: int | None) -> str:
        """The ``compressor`` of its summaries: ``name:k`` (``first_k:32``) or the name."""
        return f"{self.name}:{k}" if self.takes_k else self.name

    def setting_id(self, k: int | None) -> str:
        """A setting's default id: the name without ``_k`` plus ``k`` (``first32``), else the name."""
        return f"{self.name.removesuffix('_k')}{k}" if self.takes_k else self.name


#: Every registered method, by name, in registration order (a dict).
METHODS: Registry[ExtractiveMethod] = Registry(
    "method",
    adder="mi_utils.extractive.register_method",
    label="extractive method",
    listing="choose from",
    sort=True,
    reserved=("lm",),
)


def register_method(
    name: str, fn: MethodFn, *, kind: str, takes_k: bool, sampled: bool = False, replace: bool = False
) -> ExtractiveMethod:
    """Register method ``name``: ``fn(records, k, tokenizer, rngs) -> texts``, its kind (one of
    :data:`KINDS`), whether the config must give ``k`` and whether its draws differ (``M`` of them).

    Raises:
      ValueError: an empty or taken name (``replace=True`` redefines one), a name ``lm``, an unknown
        kind, or ``fn`` not callable.
    """
    METHODS.check_name(name, replace=replace)
    if kind not in KINDS:
        raise ValueError(f"method {name!r}: kind must be one of {list(KINDS)}, got {kind!r}")
    if not callable(fn):
        raise ValueError(f"method {name!r}: fn must be callable (records, k, tokenizer, rngs) -> texts")
    return METHODS.add(name, ExtractiveMethod(name, fn, kind, bool(takes_k), bool(sampled)), replace=replace)


def method_names(*kinds: str) -> tuple[str, ...]:
    """Registered names (of the given kinds; all when none is given), in registration order."""
    return tuple(n for n, m in METHODS.items() if not kinds or m.kind in kinds)


def method_entry(name: str) -> ExtractiveMethod:
    """The entry of ``name``.

    Raises:
      ValueError: not registered (the message lists the registered names).
    """
    return METHODS.lookup(name)


def extractive_summaries(
    records: Sequence, method: str, k: int | None, tokenizer, *, M: int = 1, seed: int = 0
) -> list[list[Summary]]:
    """Summaries from an LM-free method, in the shape of :func:`mi_utils.compress.compress_records`.

    Args:
      records: objects with ``id``, ``context``, ``query``.
      method: a name in :data:`METHODS`.
      k: tokens (``first_k``) or sentences (``bm25_top_k``, ``random_k``); ignored by methods that
        take none (the controls, ``full``).
      tokenizer: the reference tokenizer (``first_k``, ``shared_prefix``, token counts).
      M: samples per record; a deterministic method repeats its text (only sampled ones vary).
      seed: seeds the draws of sampled methods (``random_k``); recorded on their summaries.

    Raises:
      ValueError: an unknown method, or ``k`` missing or below 1 for a method that takes it.
    """
    m = method_entry(method)
    if m.takes_k and (k is None or k < 1):
        raise ValueError(f"k must be >= 1 for method {method!r}, got {k!r}")
    k = k if m.takes_k else None
    draws: list[list[str]] = []
    for j in range(M if m.sampled else 1):
        texts = m.fn(records, k, tokenizer, [random.Random(f"{seed}:{r.id}:{j}") for r in records])
        if len(texts) != len(records):
            raise ValueError(f"method {method!r} returned {len(texts)} texts for {len(records)} records")
        draws.append(texts)
    out = []
    for i, rec in enumerate(records):
        row = []
        for j in range(M):
            text = draws[j if m.sampled else 0][i]
            row.append(
                Summary(
                    record_id=rec.id,
                    sample_index=j,
                    text=text,
                    n_tokens=len(tokenizer(text, add_special_tokens=False)["input_ids"]),
                    compressor=m.compressor(k),
                    seed=seed if m.sampled else None,
                )
            )
        out.append(row)
    return out


def full_context_summaries(records: Sequence, tokenizer) -> list[list[Summary]]:
    """The no-compression baseline: each record's whole context as its one summary (compressor ``"full"``).

    ``n_tokens`` counts the context in ``tokenizer`` (the reference tokenizer of LM-free methods).
    """
    return extractive_summaries(records, "full", None, tokenizer)


# ------------------------------------------------------------------------ sentences
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_ABBREV = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|Sr|Jr|No|vs|e\.g|i\.e|approx|Fig)|\b[A-Z])\.$")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences on terminal punctuation and newlines.

    A split after a common abbreviation or an initial ("Mr.", "Dr.", "J.") is undone.
    """
    parts: list[str] = []
    for block in re.split(r"\n+", text):
        pieces = [s.strip() for s in _SENT.split(block) if s.strip()]
        for piece in pieces:
            if parts and parts[-1] is not None and _ABBREV.search(parts[-1]) and not block.startswith(piece):
                parts[-1] = parts[-1] + " " + piece
            else:
                parts.append(piece)
    return parts


# -------------------------------------------------------------------------- methods
def first_k(records: Sequence, k: int, tokenizer, rngs) -> list[str]:
    """The first ``k`` tokens of each context."""
    return [tokenizer.decode(tokenizer(r.context, add_special_tokens=False)["input_ids"][:k]) for r in records]


def _bm25_one(text: str, query: str, k: int) -> str:
    import bm25s

    sents = split_sentences(text)
    if len(sents) <= k:
        return " ".join(sents)
    corpus = bm25s.tokenize(sents, stopwords="en", show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    q = bm25s.tokenize([strip_options(query)], stopwords="en", show_progress=False)
    docs, _ = retriever.retrieve(q, k=k, show_progress=False)
    keep = sorted(int(d) for d in np.asarray(docs)[0])  # shown in document order
    return " ".join(sents[i] for i in keep)


def bm25_top_k(records: Sequence, k: int, tokenizer, rngs) -> list[str]:
    """The ``k`` sentences of each context BM25 ranks highest against its query, in document order."""
    return [_bm25_one(r.context, r.query, k) for r in records]


def random_k(records: Sequence, k: int, tokenizer, rngs) -> list[str]:
    """``k`` random sentences of each context (one draw per ``rngs``), in document order."""
    out = []
    for r, rng in zip(records, rngs):
        sents = split_sentences(r.context)
        keep = sorted(rng.sample(range(len(sents)), min(k, len(sents))))
        out.append(" ".join(sents[i] for i in keep))
    return out


def shared_prefix(records: Sequence, k: None, tokenizer, rngs) -> list[str]:
    """The longest token prefix common to *all* contexts (a header they share), for every record."""
    ids = [tokenizer(r.context, add_special_tokens=False)["input_ids"] for r in records]
    n = 0
    while all(len(x) > n for x in ids) and len({x[n] for x in ids}) == 1:
        n += 1
    if n == 0:
        raise ValueError(
            "the records share no common prefix; the shared_prefix control needs one "
            "(use method 'constant', the same text for every record, as the zero-information control)"
        )
    return [tokenizer.decode(ids[0][:n])] * len(records)


def constant(records: Sequence, k: None, tokenizer, rngs) -> list[str]:
    """:data:`CONSTANT_SUMMARY` for every record (any data set)."""
    return [CONSTANT_SUMMARY] * len(records)


def full(records: Sequence, k: None, tokenizer, rngs) -> list[str]:
    """Each record's whole context (no compression)."""
    return [r.context for r in records]


register_method("first_k", first_k, kind="extractive", takes_k=True)
register_method("bm25_top_k", bm25_top_k, kind="extractive", takes_k=True)
register_method("random_k", random_k, kind="extractive", takes_k=True, sampled=True)
register_method("shared_prefix", shared_prefix, kind="control", takes_k=False)
register_method("constant", constant, kind="control", takes_k=False)
register_method("full", full, kind="full", takes_k=False)
