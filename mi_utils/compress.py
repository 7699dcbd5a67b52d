"""The compress stage: sample M summaries per record, or cut them from the context without an LM.

* :func:`compress_records` samples ``M`` summaries of each record's context with the paper's
  compression prompt (optionally "use EXACTLY k sentences"), recording text, token ids, length,
  sampling settings and the per-sample seed. Resumable: rows are appended to a JSONL store as
  they finish.
* :func:`refine_records` is round ``r > 1`` of a compress-and-refine loop (the paper's Fig. 18):
  each of a record's ``M`` summaries of round ``r-1`` is rewritten from the context, the question
  and that summary (:func:`mi_utils.prompts.refinement_messages`, our prompt), one new sample per
  chain; resumable the same way.
* The compressors that need no LM (first-k tokens, BM25 top-k sentences, random-k sentences, the
  zero-information controls and the ``full`` baseline) live in :mod:`mi_utils.extractive`, their
  registry; :func:`extractive_summaries` gives the same :class:`Summary` rows, so every compressor
  goes through one scoring and prediction path. Its names are re-exported here, as are
  ``EXTRACTIVE`` (extractive and control method names) and ``CONTROLS`` (control names), read
  from the registry at each access.

The summary record (:class:`Summary`, :func:`summary_text`) lives in :mod:`mi_utils.summaries`;
scoring summaries under contexts (the ``(N, M, N)`` log-prob matrix :func:`score_matrix`, proxy and
own-prompt scoring, ``conditioning``, :func:`summary_token_logprobs`) in :mod:`mi_utils.score`.
Their public names are re-exported here unchanged (plain re-exports, no deprecation warning:
``from mi_utils.compress import score_matrix`` keeps working and gives the same objects).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from tqdm.auto import tqdm

from .backends.base import SCORER, Generator, SamplingParams, hash_ids
from .extractive import CONSTANT_SUMMARY, extractive_summaries, full_context_summaries, method_names, split_sentences
from .prompts import PROMPT_VERSION, REFINE_PROMPT_VERSION, compression_messages, refinement_messages
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


def __getattr__(name: str) -> tuple[str, ...]:
    """``EXTRACTIVE`` (every registered extractive and control method) and ``CONTROLS`` (the
    controls), read from :data:`mi_utils.extractive.METHODS` at each access."""
    if name == "EXTRACTIVE":
        return method_names("extractive", "control")
    if name == "CONTROLS":
        return method_names("control")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
