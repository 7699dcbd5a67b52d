"""The compress stage: sample M summaries per record, or cut them from the context without an LM.

* :func:`compress_records` samples ``M`` summaries of each record's context with the paper's
  compression prompt (optionally "use EXACTLY k sentences"), recording text, token ids, length,
  sampling settings and the per-sample seed. Resumable: rows are appended to a JSONL store as
  they finish.
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
from .prompts import PROMPT_VERSION, compression_messages
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


def __getattr__(name: str) -> tuple[str, ...]:
    """``EXTRACTIVE`` (every registered extractive and control method) and ``CONTROLS`` (the
    controls), read from :data:`mi_utils.extractive.METHODS` at each access."""
    if name == "EXTRACTIVE":
        return method_names("extractive", "control")
    if name == "CONTROLS":
        return method_names("control")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
