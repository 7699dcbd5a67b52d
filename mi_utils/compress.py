"""The compress stage: sample M summaries per record, or cut them from the context without an LM.

* :func:`compress_records` samples ``M`` summaries of each record's context with the paper's
  compression prompt (optionally "use EXACTLY k sentences"), recording text, token ids, length,
  sampling settings and the per-sample seed. Resumable: rows are appended to a JSONL store as
  they finish.
* :func:`refine_records` is round ``r > 1`` of a compress-and-refine loop (the paper's Fig. 18):
  each of a record's ``M`` summaries of round ``r-1`` is rewritten from the context, the question
  and that summary (:func:`mi_utils.prompts.refinement_messages`, our prompt), one new sample per
  chain; resumable the same way.
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
from .prompts import PROMPT_VERSION, REFINE_PROMPT_VERSION, compression_messages, refinement_messages, strip_options
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
    "refine_records",
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
    out: list[list[Summary]] = []
    for rec in tqdm(records, desc=f"compress ({backend.model_name})", disable=not progress):
        key = _summary_key(rec.id, backend.model_name, params.to_dict(), sentences, M)
        if st is not None and key in st:
            row = st.get(key)
            out.append([Summary.from_row(s) for s in row["summaries"]])
            continue
        msgs = compression_messages(rec.context, rec.query, sentences=sentences)
        sums = [
            _summary(backend, rec.id, g, g.sample_index, params, sentences) for g in backend.generate([msgs], params)[0]
        ]
        if st is not None:
            st.append({"key": key, "record_id": rec.id, "summaries": [asdict(s) for s in sums]})
        out.append(sums)
    return out


def _summary(backend: Generator, record_id: str, g, index: int, params: SamplingParams, sentences) -> Summary:
    """A :class:`Summary` of one generation (``index``: its sample, the chain in a refinement)."""
    return Summary(
        record_id=record_id,
        sample_index=index,
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
        tokenizer=backend.tokenizer_name if SCORER in backend.roles else None,
        sampling_effective=dict(g.effective) or None,
    )


def refine_records(
    backend: Generator,
    records: Sequence,
    previous: Sequence[Sequence[Summary]],
    params: SamplingParams = SamplingParams(),
    *,
    round: int,
    sentences: int | None = None,
    store: str | JsonlStore | None = None,
    progress: bool = True,
) -> list[list[Summary]]:
    """Round ``round`` (> 1) of a compress-and-refine loop: rewrite each previous summary.

    Each record's ``j``-th summary of the previous round is the ``j``-th chain: the compressor
    sees the context, the question and that summary (:func:`mi_utils.prompts.refinement_messages`)
    and samples one new summary with ``params`` (``params.n`` is ignored; the per-prompt seed comes
    from the run seed and the prompt, which holds the previous summary, as in round 1).

    Args:
      backend: the compressor (the model that wrote ``previous``).
      records: objects with ``id``, ``context`` and ``query``.
      previous: ``previous[i][j]``, round ``round - 1``'s summaries of record ``i``.
      params: sampling settings (as round 1's).
      round: this round's number (>= 2); it keys the store, with the previous summaries' texts.
      sentences: the conciseness setting, as in round 1.
      store: JSONL path or store; records already there are loaded, not regenerated.
      progress: show a progress bar.

    Returns:
      ``summaries[i][j]``: record ``i``'s chain ``j`` after this round.
    """
    if round < 2:
        raise ValueError(f"round must be >= 2 (round 1 is compress_records), got {round}")
    if len(previous) != len(records):
        raise ValueError(f"previous holds summaries of {len(previous)} records, records has {len(records)}")
    params = SamplingParams(**{**params.to_dict(), "n": 1})
    st = JsonlStore(store) if store is not None and not isinstance(store, JsonlStore) else store
    out: list[list[Summary]] = []
    for rec, prev in tqdm(
        list(zip(records, previous)), desc=f"refine round {round} ({backend.model_name})", disable=not progress
    ):
        key = make_key(
            kind="refinement",
            record=rec.id,
            compressor=backend.model_name,
            sampling=params.to_dict(),
            sentences=sentences,
            round=round,
            previous=[hash_text(z.text) for z in prev],
            prompt=PROMPT_VERSION,
            refine_prompt=REFINE_PROMPT_VERSION,
            version=SUMMARY_VERSION,
        )
        if st is not None and key in st:
            out.append([Summary.from_row(s) for s in st.get(key)["summaries"]])
            continue
        prompts = [refinement_messages(rec.context, rec.query, z.text, sentences=sentences) for z in prev]
        gens = backend.generate(prompts, params)
        sums = [_summary(backend, rec.id, g[0], j, params, sentences) for j, g in enumerate(gens)]
        if st is not None:
            st.append({"key": key, "record_id": rec.id, "round": round, "summaries": [asdict(s) for s in sums]})
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
