"""Compressor runs: sample M summaries per record, and score them under a proxy model.

Two stages, both resumable (rows are appended to a JSONL file as they finish):

* :func:`compress_records` samples ``M`` summaries of each record's context with the paper's
  compression prompt (optionally "use EXACTLY k sentences"), recording text, token ids, length,
  sampling settings and the per-sample seed.
* :func:`score_matrix` scores every summary under every context, summing log-probs over summary
  tokens only, and returns the ``(N, M, N)`` array that :func:`mi_utils.estimators.estimate_mi`
  takes. Two scoring prompts:

  - ``prompt="proxy"`` (the paper's proxy scorer): the scoring prompt
    (:func:`~mi_utils.prompts.scoring_prefix`) with the summary text as continuation. Any LM can be
    the critic; the estimate is then a lower bound and the leave-one-out value is *not* a bound.
  - ``prompt="own"`` (self-scoring, as the paper did with Qwen-3 compressors' own log-probs): the
    compressor's own chat prompt (:func:`~mi_utils.prompts.compression_messages` through the chat
    template, with the summary's conciseness setting) and, for summaries this scorer's tokenizer
    produced, the sampled token ids themselves plus the end-of-sequence token that stopped them.
    When the scorer is the compressor's model and the sampling was pure, the scores are then the
    sampling probabilities and the leave-one-out value is an upper bound
    (:func:`own_scoring_exact` says for which summaries that holds).

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

Extractive compressors that need no LM (first-k tokens, BM25 top-k sentences, random-k sentences,
a shared-prefix zero-information control) produce the same :class:`Summary` rows, so every
compressor goes through one scoring and prediction path.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .backends.base import SCORER, Generator, SamplingParams, Scorer, hash_ids, require_role, sampling_is_pure
from .prompts import PROMPT_VERSION, compression_messages, scoring_continuation, scoring_prefix, strip_options
from .store import JsonlStore, make_key

__all__ = [
    "Summary",
    "compress_records",
    "extractive_summaries",
    "EXTRACTIVE",
    "CONTROLS",
    "CONSTANT_SUMMARY",
    "split_sentences",
    "summary_text",
    "score_matrix",
    "scoring_token_pairs",
    "SCORING_PROMPTS",
    "own_prefix",
    "own_continuation",
    "own_scoring_exact",
]

#: ``"proxy"``: the paper's scoring prompt; ``"own"``: the compressor's own prompt (self-scoring).
SCORING_PROMPTS = ("proxy", "own")

#: Bumped when summaries gain fields that later stages need (old stored summaries are not reused).
SUMMARY_VERSION = 2


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


# ------------------------------------------------------------------------------- scoring
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
    N = len(contexts)
    if N < 2:
        raise ValueError("need at least 2 contexts to contrast a summary's own context with others")
    if len(summaries) != N or len({len(r) for r in summaries}) != 1:
        raise ValueError(f"summaries must be an N x M nested list with N={N} rows of equal length")
    M = len(summaries[0])
    if isinstance(queries, str):
        queries = [queries] * N
    if len(queries) != N:
        raise ValueError(f"need one query per context ({N}) or a single shared query string")
    if conditioning not in ("shared", "paired"):
        raise ValueError("conditioning must be 'shared' or 'paired'")
    if prompt not in SCORING_PROMPTS:
        raise ValueError(f"prompt must be one of {list(SCORING_PROMPTS)}, got {prompt!r}")
    require_role(scorer, SCORER, "MI scoring")
    st = JsonlStore(store) if store is not None and not isinstance(store, JsonlStore) else store
    if prompt == "proxy":
        proxy_prefix, conts = scoring_token_pairs(scorer, contexts, queries, summaries)

        def prefix_of(l: int, qi: int, z) -> list[int]:
            return proxy_prefix(l, qi)
    else:
        conts = [[own_continuation(scorer, z) for z in row] for row in summaries]
        own_cache: dict[tuple[int, int, int | None], list[int]] = {}

        def prefix_of(l: int, qi: int, z) -> list[int]:
            k = (l, qi, z.sentences if isinstance(z, Summary) else None)
            if k not in own_cache:
                own_cache[k] = own_prefix(scorer, contexts[l], queries[qi], k[2])
            return own_cache[k]

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
