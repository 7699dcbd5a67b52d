"""The compress stage: sample M summaries per record, or cut them from the context without an LM.

* :func:`compress_records` samples ``M`` summaries of each record's context with the paper's
  compression prompt (optionally "use EXACTLY k sentences"), recording text, token ids, length,
  sampling settings and the per-sample seed. Resumable: rows are appended to a JSONL store as
  they finish.
* :func:`extractive_summaries`: compressors that need no LM (first-k tokens, BM25 top-k
  sentences, random-k sentences, and the zero-information controls: a shared-prefix and a constant
  summary) produce the same :class:`Summary` rows, so every compressor goes through one scoring and
  prediction path; :func:`full_context_summaries` is the no-compression baseline in that form.

The summary record (:class:`Summary`, :func:`summary_text`) lives in :mod:`mi_utils.summaries`;
scoring summaries under contexts (the ``(N, M, N)`` log-prob matrix :func:`score_matrix`, proxy and
own-prompt scoring, ``conditioning``, :func:`summary_token_logprobs`) in :mod:`mi_utils.score`.
Their public names are re-exported here unchanged (plain re-exports, no deprecation warning:
``from mi_utils.compress import score_matrix`` keeps working and gives the same objects).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict

import numpy as np
from tqdm.auto import tqdm

from .backends.base import SCORER, Generator, SamplingParams, hash_ids
from .prompts import PROMPT_VERSION, compression_messages, strip_options
from .score import (
    SCORING_PROMPTS,
    hash_text,
    own_continuation,
    own_prefix,
    own_scoring_exact,
    score_matrix,
    scoring_token_pairs,
    summary_token_logprobs,
)
from .store import JsonlStore, make_key
from .summaries import Summary, summary_text

__all__ = [
    "Summary",
    "compress_records",
    "extractive_summaries",
    "full_context_summaries",
    "EXTRACTIVE",
    "CONTROLS",
    "CONSTANT_SUMMARY",
    "split_sentences",
    "summary_text",
    # re-exported from mi_utils.score (their home)
    "score_matrix",
    "scoring_token_pairs",
    "SCORING_PROMPTS",
    "own_prefix",
    "own_continuation",
    "own_scoring_exact",
    "hash_text",
    "summary_token_logprobs",
]

#: Bumped when summaries gain fields that later stages need (old stored summaries are not reused).
SUMMARY_VERSION = 2


def _summary_key(record_id: str, compressor: str, params: dict | None, sentences: int | None, M: int) -> str:
    return make_key(
        kind="summaries",
        record=record_id,
        compressor=compressor,
        sampling=params,
        sentences=sentences,
        M=M,
        prompt=PROMPT_VERSION,
        version=SUMMARY_VERSION,
    )


def compress_records(
    backend: Generator,
    records: Sequence,
    M: int,
    params: SamplingParams = SamplingParams(),
    *,
    sentences: int | None = None,
    store: str | JsonlStore | None = None,
    progress: bool = True,
) -> list[list[Summary]]:
    """Sample ``M`` summaries of each record with the compression prompt.

    Args:
      backend: the compressor, a :class:`~mi_utils.backends.base.Generator` (a local one also
        records its tokenizer name, so that self-scoring can reuse the sampled ids).
      records: objects with ``id``, ``context`` and ``query`` attributes (e.g. ``mi_utils.data.Record``).
      M: summaries per record; overrides ``params.n``.
      params: sampling settings; the default is pure sampling at temperature 1 (what the
        leave-one-out upper bound assumes).
      sentences: conciseness setting ("use EXACTLY k sentences"), or None.
      store: JSONL path or store; records already there are loaded, not regenerated.
      progress: show a progress bar.

    Returns:
      ``summaries[i][j]`` for record ``i``, sample ``j``.
    """
    if M < 1:
        raise ValueError("M (summaries per record) must be >= 1")
    params = SamplingParams(**{**params.to_dict(), "n": M})
    st = JsonlStore(store) if store is not None and not isinstance(store, JsonlStore) else store
    tokenizer = backend.tokenizer_name if SCORER in backend.roles else None
    out: list[list[Summary]] = []
    for rec in tqdm(records, desc=f"compress ({backend.model_name})", disable=not progress):
        key = _summary_key(rec.id, backend.model_name, params.to_dict(), sentences, M)
        if st is not None and key in st:
            row = st.get(key)
            out.append([Summary.from_row(s) for s in row["summaries"]])
            continue
        msgs = compression_messages(rec.context, rec.query, sentences=sentences)
        gens = backend.generate([msgs], params)[0]
        sums = [
            Summary(
                record_id=rec.id,
                sample_index=g.sample_index,
                text=g.text,
                n_tokens=g.output_tokens if g.output_tokens is not None else g.n_tokens,
                compressor=backend.model_name,
                token_ids=g.token_ids,
                sampling=params.to_dict(),
                seed=g.meta.get("seed"),
                finish_reason=g.finish_reason,
                sentences=sentences,
                stop_token=g.stop_token,
                prompt_tokens=g.prompt_tokens,
                prompt_hash=hash_ids(g.prompt_ids) if g.prompt_ids else None,
                tokenizer=tokenizer,
                sampling_effective=dict(g.effective) or None,
            )
            for g in gens
        ]
        if st is not None:
            st.append({"key": key, "record_id": rec.id, "summaries": [asdict(s) for s in sums]})
        out.append(sums)
    return out


# --------------------------------------------------------------------------- extractive
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


def _first_k(text: str, query: str, k: int, tokenizer, rng) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:k]
    return tokenizer.decode(ids)


def _bm25_top_k(text: str, query: str, k: int, tokenizer, rng) -> str:
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


def _random_k(text: str, query: str, k: int, tokenizer, rng) -> str:
    sents = split_sentences(text)
    keep = sorted(rng.sample(range(len(sents)), min(k, len(sents))))
    return " ".join(sents[i] for i in keep)


_PER_RECORD: dict[str, Callable] = {
    "first_k": _first_k,  # first k tokens
    "bm25_top_k": _bm25_top_k,  # top-k sentences by BM25 against the query
    "random_k": _random_k,  # k random sentences (M different draws)
}
# plus two zero-information controls (true MI 0): "shared_prefix", the token prefix common to all records
# (a header they share), and "constant", one fixed text for every record (any data set)
CONSTANT_SUMMARY = "No information."
CONTROLS = ("shared_prefix", "constant")
EXTRACTIVE = (*_PER_RECORD, *CONTROLS)


def extractive_summaries(
    records: Sequence, method: str, k: int, tokenizer, *, M: int = 1, seed: int = 0
) -> list[list[Summary]]:
    """Summaries from an LM-free compressor, in the same shape as :func:`compress_records`.

    Args:
      records: objects with ``id``, ``context``, ``query``.
      method: one of :data:`EXTRACTIVE`.
      k: tokens (``first_k``) or sentences (``bm25_top_k``, ``random_k``); ignored by
        the controls: ``shared_prefix`` keeps the longest token prefix shared by *all* records,
        ``constant`` is :data:`CONSTANT_SUMMARY` for every record (zero-information controls: their
        true information about which record they came from is 0).
      tokenizer: used for ``first_k`` and to count tokens.
      M: samples per record; deterministic methods repeat the same text (only ``random_k`` varies).
      seed: for ``random_k``.
    """
    if method not in EXTRACTIVE:
        raise ValueError(f"unknown extractive method {method!r}; choose from {sorted(EXTRACTIVE)}")
    if k < 1:
        raise ValueError("k must be >= 1")
    name = f"{method}:{k}" if method not in CONTROLS else method
    if method == "constant":
        texts = {r.id: CONSTANT_SUMMARY for r in records}
    elif method == "shared_prefix":
        ids = [tokenizer(r.context, add_special_tokens=False)["input_ids"] for r in records]
        n = 0
        while all(len(x) > n for x in ids) and len({x[n] for x in ids}) == 1:
            n += 1
        if n == 0:
            raise ValueError(
                "the records share no common prefix; the shared_prefix control needs one "
                "(use method 'constant', the same text for every record, as the zero-information control)"
            )
        texts = {r.id: tokenizer.decode(ids[0][:n]) for r in records}
    out = []
    for rec in records:
        row = []
        for j in range(M):
            rng = random.Random(f"{seed}:{rec.id}:{j}")
            text = (
                texts[rec.id] if method in CONTROLS else _PER_RECORD[method](rec.context, rec.query, k, tokenizer, rng)
            )
            n_tok = len(tokenizer(text, add_special_tokens=False)["input_ids"])
            row.append(
                Summary(
                    record_id=rec.id,
                    sample_index=j,
                    text=text,
                    n_tokens=n_tok,
                    compressor=name,
                    seed=seed if method == "random_k" else None,
                )
            )
        out.append(row)
    return out


def full_context_summaries(records: Sequence, tokenizer) -> list[list[Summary]]:
    """The no-compression baseline: each record's whole context as its one summary (compressor ``"full"``).

    ``n_tokens`` counts the context in ``tokenizer`` (the reference tokenizer of LM-free methods).
    """
    return [
        [Summary(r.id, 0, r.context, len(tokenizer(r.context, add_special_tokens=False)["input_ids"]), "full")]
        for r in records
    ]
