"""The score stage: every summary under every context, the ``(N, M, N)`` log-prob matrix.

:func:`score_matrix` scores every summary under every context, summing log-probs over summary
tokens only, and returns the ``(N, M, N)`` array that :func:`mi_utils.estimators.estimate_mi`
takes. Two scoring prompts (:data:`SCORING_PROMPTS`):

* ``prompt="proxy"`` (the paper's proxy scorer): the scoring prompt
  (:func:`~mi_utils.prompts.scoring_prefix`) with the summary text as continuation
  (:func:`scoring_token_pairs`). Any LM can be the critic; the estimate is then a lower bound and
  the leave-one-out value is *not* a bound.
* ``prompt="own"`` (self-scoring, as the paper did with Qwen-3 compressors' own log-probs): the
  compressor's own chat prompt (:func:`own_prefix`: :func:`~mi_utils.prompts.compression_messages`
  through the chat template, with the summary's conciseness setting) and, for summaries this
  scorer's tokenizer produced, the sampled token ids themselves plus the end-of-sequence token that
  stopped them (:func:`own_continuation`). When the scorer is the compressor's model and the
  sampling was pure, the scores are then the sampling probabilities and the leave-one-out value is
  an upper bound (:func:`own_scoring_exact` says for which summaries that holds; the whole rule is
  :func:`mi_utils.estimators.upper_is_bound`).

Prefix reuse: the summaries scored under context ``x_l`` share one prefix per question; each prefix
is encoded once (cached here), and one ``scorer.score`` call per context lets a backend reuse its
prefill across the continuations (:mod:`mi_utils.backends.hf` does).

What the two ``conditioning`` choices estimate (``q_i`` is record ``i``'s question):

* ``"shared"`` scores ``z_ij`` under ``(x_l, q_i)``, the question of the summary's own record, for
  every context ``l``. When every record has the same question this is the paper's
  ``I(X;Z|Q)``. When each record has its own question (one that depends on its context), it is
  **not** ``I(X;Z|Q)``: the contrast pairs ``q_i`` with contexts it was never asked about, so a
  summary scores higher under its own context partly because the question fits that context
  (the per-record synthetic questions name the patient, which gives a zero-information control a
  positive reading). It measures how much better ``z`` fits ``x_i`` than other contexts *with the
  question held at* ``q_i``.
* ``"paired"`` scores ``z_ij`` under ``(x_l, q_l)`` (each context with its own question, as the
  authors' code does). With per-record questions this estimates information about the
  *(context, question) pair*, ``I(X,Q;Z) = I(Q;Z) + I(X;Z|Q)``: a summary that merely restates its
  question scores as informative. With one shared question it equals ``"shared"``.

Neither equals ``I(X;Z|Q)`` when the question depends on the context; a benchmark whose records
share one question (``synthetic_clinical_shared``) is the clean case.

:func:`summary_token_logprobs` is the per-token view of one summary's score, for notebooks. The
public names are re-exported by :mod:`mi_utils.compress` (their earlier home).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from .backends.base import SCORER, Scorer, hash_ids, require_role
from .prompts import PROMPT_VERSION, compression_messages, scoring_continuation, scoring_prefix
from .store import JsonlStore, make_key
from .summaries import Summary, summary_text

__all__ = [
    "SCORING_PROMPTS",
    "score_matrix",
    "scoring_token_pairs",
    "own_prefix",
    "own_continuation",
    "own_scoring_exact",
    "hash_text",
    "summary_token_logprobs",
]

#: ``"proxy"``: the paper's scoring prompt; ``"own"``: the compressor's own prompt (self-scoring).
SCORING_PROMPTS = ("proxy", "own")


def scoring_token_pairs(
    scorer: Scorer, contexts: Sequence[str], queries: Sequence[str], summaries: Sequence[Sequence[str | Summary]]
):
    """Token ids of the proxy scoring prompt for every context and every summary.

    The prefix is ``BOS? + scoring_prefix(x_l, q)``; the continuation is ``" " + z`` tokenised on
    its own, so the summary's tokens are identical under every context.

    Returns:
      ``(prefix, continuations)``: ``prefix(l, q)`` gives the ids for context ``l`` and query
      index ``q``; ``continuations[i][j]`` the ids of summary ``j`` of context ``i``.
    """
    require_role(scorer, SCORER, "MI scoring")
    bos = list(scorer.bos_ids)
    conts = [[scorer.encode(scoring_continuation(summary_text(z))) for z in row] for row in summaries]
    for i, row in enumerate(conts):
        for j, c in enumerate(row):
            if not c:
                raise ValueError(f"summary ({i}, {j}) is empty after tokenisation; there is nothing to score")
    prefix_cache: dict[tuple[int, int], list[int]] = {}

    def prefix(l: int, qi: int) -> list[int]:
        if (l, qi) not in prefix_cache:
            prefix_cache[(l, qi)] = bos + scorer.encode(scoring_prefix(contexts[l], queries[qi]))
        return prefix_cache[(l, qi)]

    return prefix, conts


def own_prefix(scorer: Scorer, context: str, query: str, sentences: int | None) -> list[int]:
    """The compressor's own prompt ids for ``(context, query)`` (self-scoring prefix)."""
    return scorer.encode_chat(compression_messages(context, query, sentences=sentences))


def _exact_ids(scorer: Scorer, z) -> bool:
    return (
        isinstance(z, Summary)
        and z.sampling is not None
        and z.tokenizer is not None
        and z.tokenizer == scorer.tokenizer_name
        and (bool(z.token_ids) or z.stop_token is not None)
    )


def own_continuation(scorer: Scorer, z: str | Summary) -> list[int]:
    """The continuation ids of a summary under self-scoring.

    A summary this scorer's tokenizer sampled (an LM summary whose ``tokenizer`` is the scorer's
    ``tokenizer_name``) is scored as sampled: its ``token_ids`` plus its ``stop_token`` when it
    stopped (a length-capped sample has none, and its probability is that of the prefix it is).
    Any other summary (LM-free methods, another tokenizer's samples) is re-encoded from text and
    closed with the scorer's first EOS id: a valid critic, but not the sampling probability.
    """
    if _exact_ids(scorer, z):
        stop = [int(z.stop_token)] if z.finish_reason == "stop" and z.stop_token is not None else []
        return [int(t) for t in z.token_ids] + stop
    return scorer.encode(summary_text(z).strip()) + list(scorer.eos_ids[:1])


def own_scoring_exact(
    scorer: Scorer, contexts: Sequence[str], queries: Sequence[str] | str, summaries: Sequence[Sequence[str | Summary]]
) -> np.ndarray:
    """``(N, M)`` booleans: is ``z_ij`` self-scored with exactly the ids and prompt it was sampled with?

    True when :func:`own_continuation` reuses the sampled ids and the rebuilt own prompt for the
    summary's own record and question has the hash the compressor recorded (same chat template,
    same tokenizer). Whether the scores are then the *sampling* probabilities also needs the
    scorer's weights to be the compressor's and pure sampling; the runner checks those.
    """
    N = len(contexts)
    queries = [queries] * N if isinstance(queries, str) else list(queries)
    out = np.zeros((N, len(summaries[0]) if N else 0), dtype=bool)
    for i, row in enumerate(summaries):
        for j, z in enumerate(row):
            if _exact_ids(scorer, z) and z.prompt_hash is not None:
                out[i, j] = hash_ids(own_prefix(scorer, contexts[i], queries[i], z.sentences)) == z.prompt_hash
    return out


def _summary_fingerprint(z, prompt: str):
    if prompt == "proxy" or not isinstance(z, Summary):
        return summary_text(z)
    return [z.text, list(z.token_ids), z.stop_token, z.finish_reason, z.sentences, z.tokenizer]


def _check_inputs(scorer, contexts, queries, summaries, conditioning: str, prompt: str) -> list[str]:
    """:func:`score_matrix`'s argument checks; returns one query per context."""
    N = len(contexts)
    if N < 2:
        raise ValueError("need at least 2 contexts to contrast a summary's own context with others")
    if len(summaries) != N or len({len(r) for r in summaries}) != 1:
        raise ValueError(f"summaries must be an N x M nested list with N={N} rows of equal length")
    if isinstance(queries, str):
        queries = [queries] * N
    if len(queries) != N:
        raise ValueError(f"need one query per context ({N}) or a single shared query string")
    if conditioning not in ("shared", "paired"):
        raise ValueError("conditioning must be 'shared' or 'paired'")
    if prompt not in SCORING_PROMPTS:
        raise ValueError(f"prompt must be one of {list(SCORING_PROMPTS)}, got {prompt!r}")
    require_role(scorer, SCORER, "MI scoring")
    return queries


def _prefixes_and_continuations(scorer, contexts, queries, summaries, prompt: str):
    """``(prefix_of, continuations)`` of a scoring prompt: ``prefix_of(l, qi, z)`` the (cached) prefix
    ids for context ``l``, query ``qi`` and summary ``z``; ``continuations[i][j]`` the ids scored."""
    if prompt == "proxy":
        proxy_prefix, conts = scoring_token_pairs(scorer, contexts, queries, summaries)

        def prefix_of(l: int, qi: int, z) -> list[int]:
            return proxy_prefix(l, qi)

        return prefix_of, conts
    conts = [[own_continuation(scorer, z) for z in row] for row in summaries]
    own_cache: dict[tuple[int, int, int | None], list[int]] = {}

    def prefix_of(l: int, qi: int, z) -> list[int]:
        k = (l, qi, z.sentences if isinstance(z, Summary) else None)
        if k not in own_cache:
            own_cache[k] = own_prefix(scorer, contexts[l], queries[qi], k[2])
        return own_cache[k]

    return prefix_of, conts


def score_matrix(
    scorer: Scorer,
    contexts: Sequence[str],
    queries: Sequence[str] | str,
    summaries: Sequence[Sequence[str | Summary]],
    *,
    conditioning: str = "shared",
    prompt: str = "proxy",
    store: str | JsonlStore | None = None,
    tag: str = "",
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``logp[i, j, l] = log p(z_ij | x_l, q)`` summed over summary tokens, in nats.

    Args:
      scorer: a :class:`~mi_utils.backends.base.Scorer` (in process or on a server).
      contexts: the N contexts ``x_l``.
      queries: one query for all (``str``) or one per context.
      summaries: ``summaries[i][j]``, summary ``j`` of context ``i`` (``N x M``): text or
        :class:`Summary` (``prompt="own"`` needs :class:`Summary` objects to reuse sampled ids).
      conditioning: ``"shared"`` scores ``z_ij`` under ``(x_l, q_i)``; ``"paired"`` under
        ``(x_l, q_l)``. What each estimates when the records' questions differ: module docstring.
      prompt: ``"proxy"`` (the paper's scoring prompt, summary text as continuation) or ``"own"``
        (self-scoring: the compression prompt with the summary's conciseness setting, continuation
        from :func:`own_continuation`).
      store: optional JSONL store; rows (one per context ``l``, every summary's score under it)
        are appended as they finish and reused on restart. ``tag`` must then identify the scorer
        setup beyond its name (backend, dtype).
      progress: show a progress bar.

    Returns:
      ``(logp, lengths)``: ``(N, M, N)`` float64 log-probs and ``(N, M)`` scored token counts
      (the continuations: proxy ``" " + text`` in the scorer's tokens; own: ids plus stop token).

    Raises:
      ValueError: fewer than 2 contexts, a ragged ``summaries``, a bad ``conditioning`` or
        ``prompt``, or a summary that tokenises to nothing.
    """
    queries = _check_inputs(scorer, contexts, queries, summaries, conditioning, prompt)
    N, M = len(contexts), len(summaries[0])
    st = JsonlStore(store) if store is not None and not isinstance(store, JsonlStore) else store
    prefix_of, conts = _prefixes_and_continuations(scorer, contexts, queries, summaries, prompt)
    logp = np.empty((N, M, N), dtype=np.float64)
    lengths = np.array([[len(c) for c in row] for row in conts], dtype=np.int64)
    scorer_name = scorer.model_name
    summaries_hash = hash_text(repr([[_summary_fingerprint(z, prompt) for z in r] for r in summaries]))
    # One unit of work (and one stored row) per context l: every summary scored under x_l. With
    # one query for all contexts, or paired conditioning, all its pairs share a single prefix
    # (N prefills in total); with a different query per record, N^2 prefills are unavoidable.
    for l in tqdm(range(N), desc=f"score ({scorer_name})", disable=not progress):
        key = make_key(
            kind="scores",
            tag=tag,
            scorer=scorer_name,
            l=l,
            conditioning=conditioning,
            summaries=summaries_hash,
            contexts=[hash_text(c) for c in contexts],
            queries=[hash_text(q) for q in queries],
            prompt=PROMPT_VERSION,
            **({} if prompt == "proxy" else {"scoring_prompt": prompt}),
        )
        row = st.get(key) if st is not None and key in st else None
        if row is not None:
            logp[:, :, l] = np.asarray(row["logp"], dtype=np.float64)
            continue
        pairs = [
            (prefix_of(l, i if conditioning == "shared" else l, summaries[i][j]), conts[i][j])
            for i in range(N)
            for j in range(M)
        ]
        scores = scorer.score(pairs)
        logp[:, :, l] = np.array([float(np.sum(s)) for s in scores]).reshape(N, M)
        if st is not None:
            st.append({"key": key, "l": l, "logp": logp[:, :, l].tolist()})
    return logp, lengths


def hash_text(text: str) -> str:
    """Short content hash used in store keys."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def summary_token_logprobs(scorer, context: str, query: str, summary: str):
    """Per-token view of ``log p(z | x, q)`` for one summary: a table for notebooks.

    Returns:
      a pandas DataFrame with columns ``token`` (decoded piece), ``token_id`` and ``logprob``
      (nats), one row per summary token.
    """
    import pandas as pd

    prefix, conts = scoring_token_pairs(scorer, [context], [query], [[summary]])
    ids = conts[0][0]
    (lp,) = scorer.score([(prefix(0, 0), ids)])
    pieces = [scorer.tokenizer.decode([t]) for t in ids]
    return pd.DataFrame({"token": pieces, "token_id": ids, "logprob": lp})
