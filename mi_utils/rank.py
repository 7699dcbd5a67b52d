r"""Rank compressors on your own documents by MI, without labels (notebook 08, ``python -m mi_utils rank``).

The paper's promise in a practitioner's hands: given a folder of documents and a few candidate
compressors, estimate for each how much its summaries say about their document, :math:`I(X;Z\mid Q)`,
and rank them, with no questions, no answers and no end-to-end sweep.

* **Query-agnostic compression.** Every document gets the same instruction :data:`DOCUMENT_QUERY` as its
  query (as FineWeb and WildChat records carry a generic instruction), passed through the paper's
  compression and scoring prompts; one shared question is the clean case of the estimator
  (:mod:`mi_utils.score`, ``conditioning="shared"``).
* **Candidates** (:func:`parse_compressor`): an LM (a packaged name, hub id or folder) sampling ``M``
  summaries per document at temperature 1, or an LM-free method of :data:`mi_utils.extractive.METHODS`
  written ``method:k`` (``first_k:32``, ``random_k:2``) or bare (``constant``, ``shared_prefix``).
* **Measures** (:func:`ranking_table`): MI with its bootstrap interval and the leave-one-out value, the
  ``log2 N`` ceiling and saturation, summary length in scorer tokens, bits per token, and the compressor's
  FLOPs per summary (:func:`mi_utils.costs.compression_flops`; 0 for LM-free ones).
* **Where the estimate saturates** (:func:`saturation_curve`): MI on subsets of ``n`` of the ``N``
  documents against the ``log2 n`` ceiling.
* **Which summary tokens carry information** (:func:`token_pointwise_information`): the pointwise term of
  one summary split over its tokens by the chain rule, so the token values sum to the summary's pointwise
  MI; :func:`token_information` scores the per-token log-probs it needs.
* **The driver** (:func:`rank_documents`): resumable like ``run``; summaries and scores go to JSONL stores
  under the output folder as they finish (a rerun reuses them), the table to ``ranking.csv``; one run per
  folder (:mod:`mi_utils.locking`). All candidates' summaries are scored in one ``(N, sum of M, N)`` matrix,
  so each document's scoring prompt is prefilled once for every candidate (one stored row per document; a
  rerun with another list of candidates scores again). Settings: :class:`RankSettings`, from a YAML file by
  :func:`load_rank_config`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from .estimators import MIEstimate, estimate_mi, validate_logp

__all__ = [
    "DOCUMENT_QUERY",
    "DEFAULT_COMPRESSORS",
    "Compressor",
    "parse_compressor",
    "RankSettings",
    "load_rank_config",
    "load_documents",
    "Ranking",
    "ranking_table",
    "saturation_curve",
    "token_pointwise_information",
    "token_information",
    "rank_documents",
]

#: The instruction every document is compressed and scored under (no labels, no user question).
DOCUMENT_QUERY = "What does this document say? Keep its key facts, names and numbers."
#: The candidates the notebook and the command compare when none are named.
DEFAULT_COMPRESSORS = ("smollm2-135m-instruct", "gemma3-270m", "first_k:32", "random_k:2", "constant")


# ------------------------------------------------------------------------------ candidates
@dataclass(frozen=True)
class Compressor:
    """One candidate: ``method`` is ``"lm"`` (``model`` samples) or an LM-free method with ``k``."""

    spec: str
    method: str
    model: str | None = None
    k: int | None = None

    @property
    def is_lm(self) -> bool:
        return self.method == "lm"


def parse_compressor(spec: str) -> Compressor:
    """A candidate from its written form: an LM-free method (``first_k:32``, ``random_k:2``, ``bm25_top_k:1``,
    ``constant``, ``shared_prefix``, ``full``: any name registered in :data:`mi_utils.extractive.METHODS`, with
    ``:k`` when it takes one), or anything else as an LM (packaged name, hub id or folder).

    Raises:
      ValueError: an empty spec, or an LM-free method without a positive integer ``k``.
    """
    from .extractive import METHODS

    spec = str(spec).strip()
    if not spec:
        raise ValueError("an empty compressor name: write a model (smollm2-135m-instruct) or first_k:32, constant, ...")
    method, _, k = spec.partition(":")
    if method in METHODS:
        if not METHODS[method].takes_k:
            if k:
                raise ValueError(f"compressor {spec!r}: {method} takes no k; write {method}")
            return Compressor(spec, method)
        if not k.isdigit() or int(k) < 1:
            raise ValueError(f"compressor {spec!r}: {method} needs a positive k, e.g. {method}:32")
        return Compressor(spec, method, k=int(k))
    return Compressor(spec, "lm", model=spec)


# ------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class RankSettings:
    """What a ranking run does (every field is a key of the YAML config; the command's flags override).

    Attributes:
      folder: the documents (text files); ``None``: the bundled public-domain passages.
      compressors: candidate specs (:func:`parse_compressor`).
      scorer: the proxy scorer (an LM: packaged name, hub id or folder); dtype: its and the LMs' dtype.
      M: summaries per document from an LM (and ``random_k``); max_new_tokens: their length limit.
      seed: sampling and bootstrap seed; n_boot: bootstrap resamples (0: no interval).
      limit: use the first ``limit`` documents; query: the instruction (default :data:`DOCUMENT_QUERY`).
    """

    folder: str | None = None
    compressors: tuple[str, ...] = DEFAULT_COMPRESSORS
    scorer: str = "smollm2-135m-instruct"
    dtype: str = "float32"
    M: int = 2
    max_new_tokens: int = 48
    seed: int = 0
    n_boot: int = 1000
    limit: int | None = None
    query: str = DOCUMENT_QUERY

    def __post_init__(self) -> None:
        object.__setattr__(self, "compressors", tuple(self.compressors))
        if not self.compressors:
            raise ValueError("no compressors: name at least one (e.g. --compressors smollm2-135m-instruct first_k:32)")
        for c in self.compressors:
            parse_compressor(c)
        if len({parse_compressor(c).spec for c in self.compressors}) != len(self.compressors):
            raise ValueError(f"compressors {list(self.compressors)} name one candidate twice: drop the repeat")
        for name in ("M", "max_new_tokens"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.n_boot < 0:
            raise ValueError(f"n_boot must be >= 0, got {self.n_boot}")
        if self.limit is not None and self.limit < 2:
            raise ValueError(f"limit must be >= 2 (MI compares a document with the others), got {self.limit}")

    def to_dict(self) -> dict:
        return {**asdict(self), "compressors": list(self.compressors)}


def load_rank_config(path: str | Path, **overrides: Any) -> RankSettings:
    """:class:`RankSettings` from a YAML file; ``overrides`` that are not ``None`` win.

    Raises:
      FileNotFoundError: no such file. ValueError: not a mapping, an unknown key (the message lists the
        known ones) or a bad value.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"rank config {p} not found: pass a YAML file such as configs/rank_passages.yaml")
    data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{p}: a rank config is a mapping of settings, got {type(data).__name__}")
    known = [f.name for f in fields(RankSettings)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{p}: unknown key(s) {unknown}; a rank config takes {known}")
    data.update({k: v for k, v in overrides.items() if v is not None})
    return RankSettings(**data)


def load_documents(folder: str | Path | None = None, *, query: str = DOCUMENT_QUERY, limit: int | None = None):
    """The documents to rank on: a folder of text files, or (``None``) the bundled passages with ``query``."""
    from .data import load_passages, load_text_folder

    if folder is not None:
        return load_text_folder(folder, query, limit=limit)
    return [replace(r, query=query, answer="") for r in load_passages(limit=limit)]


# ------------------------------------------------------------------------------ pure measures
def ranking_table(entries: Sequence[dict]) -> Any:
    """The ranking, best MI first, from per-candidate entries.

    Args:
      entries: one dict per candidate with ``compressor`` (spec), ``method``, ``estimate`` (an
        :class:`~mi_utils.estimators.MIEstimate` in bits, with lengths) and ``flops`` (``(N, M)`` FLOPs
        per summary).

    Returns:
      a DataFrame: ``rank, compressor, method, mi_bits, mi_ci_low_bits, mi_ci_high_bits, mi_upper_bits,
      mi_ceiling_bits, mi_saturation, saturated, summary_tokens, bits_per_token, flops_per_summary,
      n_documents, n_summaries``.
    """
    import pandas as pd

    rows = []
    for e in entries:
        est: MIEstimate = e["estimate"]
        if est.unit != "bits" or est.mean_length is None:
            raise ValueError(f"{e['compressor']}: the estimate must be in bits and carry summary lengths")
        low, high = est.ci if est.ci is not None else (None, None)
        rows.append(
            {
                "compressor": e["compressor"],
                "method": e["method"],
                "mi_bits": est.value,
                "mi_ci_low_bits": low,
                "mi_ci_high_bits": high,
                "mi_upper_bits": est.upper,
                "mi_ceiling_bits": est.ceiling,
                "mi_saturation": est.saturation,
                "saturated": bool(est.saturated),
                "summary_tokens": est.mean_length,
                "bits_per_token": est.per_token,
                "flops_per_summary": float(np.mean(e["flops"])),
                "n_documents": est.n_contexts,
                "n_summaries": est.n_samples,
            }
        )
    table = pd.DataFrame(rows).sort_values("mi_bits", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def saturation_curve(logp: Any, *, n_values: Sequence[int] | None = None, repeats: int = 20, seed: int = 0) -> Any:
    """MI on subsets of ``n`` documents, against the ``log2 n`` ceiling: where the estimate saturates.

    For each ``n`` the estimate (bits) is averaged over ``repeats`` random subsets of ``n`` of the ``N``
    documents (all of them when there are fewer), each summary scored only against its subset.

    Args:
      logp: ``(N, M, N)`` scores (nats). n_values: subset sizes (default ``2..N``); repeats: subsets per ``n``.

    Returns:
      a DataFrame ``n, mi_bits, mi_sd_bits, ceiling_bits, saturation, subsets``.

    Raises:
      ValueError: a bad ``logp`` or an ``n`` outside ``2..N``.
    """
    import pandas as pd

    from .estimators import _pointwise

    arr = validate_logp(logp)
    N = arr.shape[0]
    ns = list(n_values) if n_values is not None else list(range(2, N + 1))
    bad = [n for n in ns if not 2 <= n <= N]
    if bad:
        raise ValueError(f"subset sizes {bad} are outside 2..{N} (the number of documents)")
    rng = np.random.default_rng(seed)
    rows = []
    for n in ns:
        if math.comb(N, n) <= repeats:
            subsets = [list(s) for s in itertools.combinations(range(N), n)]
        else:
            subsets = [sorted(rng.choice(N, size=n, replace=False)) for _ in range(repeats)]
        values = np.array([_pointwise(arr[np.ix_(s, range(arr.shape[1]), s)]).mean() / math.log(2) for s in subsets])
        ceiling = math.log2(n)
        rows.append(
            {
                "n": n,
                "mi_bits": float(values.mean()),
                "mi_sd_bits": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "ceiling_bits": ceiling,
                "saturation": float(values.mean()) / ceiling,
                "subsets": len(subsets),
            }
        )
    return pd.DataFrame(rows)


def token_pointwise_information(token_logp: Any, source: int, *, unit: str = "bits") -> np.ndarray:
    r"""One summary's pointwise MI split over its tokens by the chain rule.

    With ``token_logp[l, t] = log p(z_t | z_<t, x_l)`` (the summary scored under every document ``l``),
    token ``t`` gets

    .. math:: \log p(z_t \mid z_{<t}, x_i) - \log \sum_l w_l(t)\, p(z_t \mid z_{<t}, x_l),
              \quad w_l(t) \propto p(z_{<t} \mid x_l),

    its log-probability under its own document ``i = source`` against the mixture of documents
    weighted by how well each explains the tokens before it. The terms sum exactly to the summary's
    pointwise term :func:`mi_utils.estimators.pointwise_mi` (the mixture telescopes to ``(1/N) sum_l
    p(z | x_l)``). A positive token told the scorer which document the summary came from.

    Returns:
      ``(T,)`` float64, in ``unit`` (``"bits"`` or ``"nats"``).

    Raises:
      ValueError: not an ``(N, T)`` array of finite-or--inf log-probs with ``N >= 2``, a bad ``source``.
    """
    from scipy.special import logsumexp

    a = np.asarray(token_logp, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
        raise ValueError(f"token_logp must be (N documents >= 2, T tokens >= 1), got shape {a.shape}")
    if np.isnan(a).any() or np.isposinf(a).any():
        raise ValueError("token_logp holds NaN or +inf: log-probabilities are <= 0 (or -inf)")
    if not 0 <= source < a.shape[0]:
        raise ValueError(f"source {source} is not a document index (0..{a.shape[0] - 1})")
    if np.isneginf(a[source]).any():
        raise ValueError(f"document {source} gives its own summary probability 0: the scores do not belong to it")
    if unit not in ("bits", "nats"):
        raise ValueError(f"unit must be 'bits' or 'nats', got {unit!r}")
    before = np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(a, axis=1)[:, :-1]], axis=1)
    mixture = logsumexp(before + a, axis=0) - logsumexp(before, axis=0)
    out = a[source] - mixture
    return out / math.log(2) if unit == "bits" else out


def token_information(scorer, contexts: Sequence[str], query: str, summary: str, source: int) -> Any:
    """Per-token information of one summary about its document ``source`` (scored under every document).

    Returns:
      a DataFrame ``token`` (decoded piece), ``token_id``, ``logprob_own`` (nats) and ``bits``
      (:func:`token_pointwise_information`), one row per summary token.
    """
    import pandas as pd

    from .score import scoring_token_pairs

    prefix, conts = scoring_token_pairs(scorer, list(contexts), [query] * len(contexts), [[summary]])
    ids = conts[0][0]
    scores = scorer.score([(prefix(l, 0), ids) for l in range(len(contexts))])
    token_logp = np.vstack([np.asarray(s, dtype=np.float64) for s in scores])
    return pd.DataFrame(
        {
            "token": [scorer.tokenizer.decode([t]) for t in ids],
            "token_id": list(ids),
            "logprob_own": token_logp[source],
            "bits": token_pointwise_information(token_logp, source),
        }
    )


# ------------------------------------------------------------------------------ the driver
@dataclass
class Ranking:
    """A ranking run's results (also on disk when it had a folder).

    Attributes:
      table: :func:`ranking_table`; records: the documents; settings: what ran.
      summaries / logp / lengths / estimates: per candidate spec, the ``N x M`` summaries, the ``(N, M, N)``
        scores, the ``(N, M)`` scored lengths and the :class:`~mi_utils.estimators.MIEstimate` (bits).
      out_dir: the results folder (``None``: nothing written); seconds: wall time.
    """

    table: Any
    records: list
    settings: RankSettings
    summaries: dict[str, list] = field(default_factory=dict)
    logp: dict[str, np.ndarray] = field(default_factory=dict)
    lengths: dict[str, np.ndarray] = field(default_factory=dict)
    estimates: dict[str, MIEstimate] = field(default_factory=dict)
    out_dir: Path | None = None
    seconds: float = 0.0

    @property
    def contexts(self) -> list[str]:
        return [r.context for r in self.records]


def _model_cost_inputs(spec) -> tuple[dict, float]:
    """An LM compressor's config and parameter count for its FLOPs, read without loading weights."""
    from .results import ModelMeta

    meta = ModelMeta.read(spec)
    return meta.config, meta.params


def _summaries_of(c: Compressor, records, settings: RankSettings, models, scorer, out: Path | None):
    """``N x M`` summaries of one candidate (LM ones through a resumable store)."""
    from .backends.base import SamplingParams
    from .compress import compress_records
    from .config import ModelSpec, slug
    from .extractive import METHODS, extractive_summaries

    if not c.is_lm:
        m = settings.M if METHODS[c.method].sampled else 1
        return extractive_summaries(records, c.method, c.k, scorer.tokenizer, M=m, seed=settings.seed), None
    spec = ModelSpec(model=c.model, dtype=settings.dtype)
    params = SamplingParams(max_new_tokens=settings.max_new_tokens, seed=settings.seed)
    store = out / "stores" / f"summaries-{slug(c.spec)}-{settings.dtype}.jsonl" if out else None
    return compress_records(models.get(spec), records, settings.M, params, store=store, progress=False), spec


def rank_documents(
    records: Sequence,
    settings: RankSettings = RankSettings(),
    out_dir: str | Path | None = None,
    *,
    models=None,
    cost_inputs: Callable[[Any], tuple[dict, float]] | None = None,
    progress: bool = True,
) -> Ranking:
    """Rank ``settings.compressors`` on ``records`` by MI (resumable when ``out_dir`` is given).

    Args:
      records: the documents (:func:`load_documents`); at least two.
      settings: candidates, scorer, ``M``, lengths, seeds.
      out_dir: results folder: ``stores/`` (summaries and scores, reused on a rerun), ``ranking.csv`` and
        ``settings.json``; ``None`` keeps everything in memory.
      models: a :class:`mi_utils.experiment.ModelCache` (tests inject fakes through its factory).
      cost_inputs: ``spec -> (config, params)`` of an LM compressor for its FLOPs (default: its config
        read without weights, :func:`mi_utils.costs.model_config_of`).
      progress: print one line per candidate.

    Raises:
      ValueError: fewer than two documents, or a candidate whose FLOPs cannot be counted.
      LockedError: another run writes ``out_dir``.
    """
    from .experiment import ModelCache
    from .locking import folder_lock

    if len(records) < 2:
        raise ValueError(f"{len(records)} document(s): MI compares a summary's document with the others, give >= 2")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with folder_lock(out) if out is not None else contextlib.nullcontext():
        if out is not None:
            (out / "settings.json").write_text(json.dumps(settings.to_dict(), indent=2) + "\n", encoding="utf-8")
        result = _rank_locked(
            records, settings, out, models or ModelCache(), cost_inputs or _model_cost_inputs, progress
        )
    result.seconds = time.perf_counter() - t0
    return result


def _rank_locked(records, settings: RankSettings, out: Path | None, models, cost_inputs, progress: bool) -> Ranking:
    """:func:`rank_documents`' body (the folder's lock held): summarise with every candidate, then score all
    their summaries in one matrix (one prefill of each document serves every candidate), then estimate."""
    from .config import ModelSpec
    from .costs import compression_flops
    from .score import score_matrix

    scorer = models.get(ModelSpec(model=settings.scorer, dtype=settings.dtype))
    result = Ranking(None, list(records), settings, out_dir=out)
    flops = {}
    for spec_text in settings.compressors:
        c, t = parse_compressor(spec_text), time.perf_counter()
        sums, spec = _summaries_of(c, records, settings, models, scorer, out)
        result.summaries[c.spec] = sums
        if spec is None:
            flops[c.spec] = np.zeros((len(records), len(sums[0])))
        else:
            cfg, n_params = cost_inputs(spec)
            ids = [r.id for r in records]
            flops[c.spec] = np.array(compression_flops(cfg, sums, ids, params=n_params, compressor=c.spec))
        if progress:
            print(
                f"[rank] {c.spec}: {len(sums[0])} summaries per document ({time.perf_counter() - t:.1f} s)", flush=True
            )
    t = time.perf_counter()
    names = list(result.summaries)
    joined = [[z for name in names for z in result.summaries[name][i]] for i in range(len(records))]
    store = out / "stores" / "scores.jsonl" if out else None
    logp, lengths = score_matrix(
        scorer, result.contexts, settings.query, joined, store=store, tag=f"rank-{settings.dtype}", progress=False
    )
    entries, start = [], 0
    for name in names:
        stop = start + len(result.summaries[name][0])
        result.logp[name], result.lengths[name] = logp[:, start:stop, :], lengths[:, start:stop]
        est = estimate_mi(
            result.logp[name], result.lengths[name], n_boot=settings.n_boot, seed=settings.seed, warn=False
        )
        result.estimates[name] = est
        entries.append(
            {"compressor": name, "method": parse_compressor(name).method, "estimate": est, "flops": flops[name]}
        )
        start = stop
    if progress:
        print(
            f"[rank] scored {logp.shape[1]} summaries per document under every document ({time.perf_counter() - t:.1f} s)"
        )
    result.table = ranking_table(entries)
    if out is not None:
        result.table.to_csv(out / "ranking.csv", index=False)
    return result
