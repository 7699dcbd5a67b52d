"""RACE-style rating of research reports (DeepResearch Bench's criteria, any judge model).

DeepResearch Bench (Du et al. 2025, arXiv 2506.11763) scores a report with **RACE**: per task, four
dimensions (comprehensiveness, insight, instruction following, readability) with task-specific
weights, and per dimension a list of weighted criteria. A judge rates every criterion from 0 to 10
for the target report *and* a reference report; a dimension's rating is the weight-averaged
criterion rating, the total is the dimension-weighted sum, and the final RACE score is relative:
``target_total / (target_total + reference_total)`` (0.5 = on par with the reference).

This module implements that arithmetic (:func:`aggregate`, :class:`RaceRating`), reads the
benchmark's criteria (:func:`load_race_criteria`, :class:`RaceCriteria`), and rates with any
generator backend as judge (:class:`RaceJudge`, :func:`rate_report`), in two forms:

* **absolute** (no reference): the judge rates the report alone on each criterion; the total
  (0-10) is the number to compare across pipelines that were judged by the same judge;
* **pairwise** (``reference=`` a report): the judge sees both reports (target as "Report 1",
  reference as "Report 2") and rates each on each criterion; :attr:`RaceRating.relative` is the
  official ``target / (target + reference)`` form. In the offline demo the uncompressed baseline's
  report plays the reference.

**What differs from the official scorer** (so numbers here are not DeepResearch Bench scores):

1. *No reference articles.* The benchmark's expert reference articles were not available; the
   pairwise form takes whatever reference report you pass (the baseline pipeline's report in the
   demo), so relative ratings measure "against our baseline", not "against the benchmark's reference".
2. *Judge model.* The official scorer uses a Gemini model (Gemini-2.5-Pro in later versions); here
   any :class:`~mi_utils.backends.base.Backend` judges: a hosted API model
   (:class:`~mi_utils.backends.OpenAIChatBackend`, e.g. gpt-4o-mini) or, offline, a packaged model.
   Ratings from different judges are not comparable, and a 135M-parameter judge is close to noise.
3. *One call per criterion.* The official prompt asks for all criteria of all dimensions in one
   JSON reply; here each criterion is a separate call (pairwise: two calls, one per report), which
   small judges can follow and which makes every rating traceable to one reply. Expect more judge
   tokens than the official scorer (the report is re-read per criterion).
4. *Log-probability mode* (``mode="logprob"``, local scorers only): instead of parsing a generated
   number, the judge's expected rating ``sum_k k * p(k)`` over the replies ``"0/10" .. "10/10"``
   (G-Eval style). It always yields a rating, which tiny offline judges otherwise rarely do.
5. *Weights.* The task's dimension and criterion weights are used as given. A criterion the judge
   gave no readable rating is left out of its dimension's weighted mean (the official scorer does
   the same); a dimension with no rated criterion is left out of the total and the remaining
   dimension weights are renormalised (the official scorer counts it as 0). ``coverage`` reports
   the share of the total weight that was rated.
6. *Reports are cut* at ``max_report_chars`` before judging (recorded in ``truncated``).

Judge replies are data: parsed with ``json`` and regular expressions, never executed.

Words: the benchmark calls a judge's 0-10 mark a "score"; in this package *score* means an LM's
log-probability (the score stage), so the judge's mark is a **rating** here (:class:`CriterionRating`,
:class:`RaceRating`, :func:`rate_report`, :meth:`RaceJudge.rate`, :func:`parse_rating`; the ``race_*``
row columns keep their names). The old names (``CriterionScore``, ``RaceScore``, ``score_report``,
``parse_score``, ``RaceJudge.score``, the ``score`` / ``reference_score`` fields) still work and warn
once with the new name; stored verdicts with the old keys still load.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from .._warn import warn_once
from ..answers import extract_json_objects
from ..backends.base import Backend, SamplingParams

__all__ = [
    "DIMENSIONS",
    "RACE_PROMPT_VERSION",
    "Criterion",
    "RaceCriteria",
    "load_race_criteria",
    "CriterionRating",
    "RaceRating",
    "aggregate",
    "parse_rating",
    "RaceJudge",
    "rate_report",
    "token_counts",
]

DIMENSIONS: tuple[str, ...] = ("comprehensiveness", "insight", "instruction_following", "readability")
RACE_PROMPT_VERSION = "race-v1"

_DIM_LABEL = {
    "comprehensiveness": "comprehensiveness",
    "insight": "insight and depth",
    "instruction_following": "instruction following",
    "readability": "readability",
}


# =============================================================================== criteria
@dataclass(frozen=True)
class Criterion:
    """One weighted criterion of one dimension."""

    dimension: str
    text: str
    weight: float
    explanation: str = ""


@dataclass(frozen=True)
class RaceCriteria:
    """A task's RACE rubric: dimension weights and weighted criteria per dimension.

    Attributes:
      task_id: the task's id (a string; DeepResearch Bench's ints are converted).
      prompt: the task text the rubric was written for.
      dimension_weights: ``{dimension: weight}`` over :data:`DIMENSIONS` (sum about 1).
      criteria: every criterion, dimension by dimension.
    """

    task_id: str
    prompt: str
    dimension_weights: dict
    criteria: tuple[Criterion, ...]

    def __post_init__(self) -> None:
        unknown = set(self.dimension_weights) - set(DIMENSIONS)
        unknown |= {c.dimension for c in self.criteria} - set(DIMENSIONS)
        if unknown:
            raise ValueError(f"task {self.task_id}: unknown RACE dimensions {sorted(unknown)}; known: {DIMENSIONS}")
        bad = [d for d, w in self.dimension_weights.items() if not (isinstance(w, (int, float)) and w >= 0)]
        bad += [c.text[:40] for c in self.criteria if not (isinstance(c.weight, (int, float)) and c.weight >= 0)]
        if bad:
            raise ValueError(f"task {self.task_id}: weights must be numbers >= 0 ({bad})")
        if not self.criteria:
            raise ValueError(f"task {self.task_id}: no criteria")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RaceCriteria:
        """From DeepResearch Bench's ``criteria.jsonl`` format (``id``, ``prompt``, ``dimension_weight``,
        ``criterions: {dimension: [{criterion, explanation, weight}]}``)."""
        crits = []
        for dim in DIMENSIONS:
            for c in (d.get("criterions") or {}).get(dim, []) or []:
                crits.append(
                    Criterion(
                        dim, str(c["criterion"]).strip(), float(c["weight"]), str(c.get("explanation") or "").strip()
                    )
                )
        extra = set(d.get("criterions") or {}) - set(DIMENSIONS)
        if extra:
            raise ValueError(f"task {d.get('id')}: unknown RACE dimensions {sorted(extra)}")
        return cls(
            str(d["id"]),
            str(d.get("prompt") or ""),
            {k: float(v) for k, v in dict(d["dimension_weight"]).items()},
            tuple(crits),
        )

    def to_dict(self) -> dict:
        """DeepResearch Bench's format (inverse of :meth:`from_dict`)."""
        return {
            "id": self.task_id,
            "prompt": self.prompt,
            "dimension_weight": dict(self.dimension_weights),
            "criterions": {
                dim: [
                    {"criterion": c.text, "explanation": c.explanation, "weight": c.weight}
                    for c in self.criteria
                    if c.dimension == dim
                ]
                for dim in DIMENSIONS
                if any(c.dimension == dim for c in self.criteria)
            },
        }

    def dimension(self, dim: str) -> list[Criterion]:
        return [c for c in self.criteria if c.dimension == dim]


def load_race_criteria(path=None, *, ids: Iterable[Any] | None = None) -> dict[str, RaceCriteria]:
    """DeepResearch Bench's RACE criteria, ``{task id (str): RaceCriteria}``.

    Reads ``criteria.jsonl`` through :func:`mi_utils.data.paths.find_data_file` (``path=``,
    ``$MI_UTILS_DATA_DIR/deepresearch_bench/``, ``$MI_UTILS_TEAM_DATA/deepresearch_bench/``).

    Args:
      path: explicit file or folder.
      ids: keep these task ids only.

    Raises:
      DataNotFoundError: the file is not found.
    """
    import json

    from ..data.paths import find_data_file, not_found_error

    found, searched = find_data_file("deepresearch_bench", ["criteria.jsonl"], path)
    if found is None:
        raise not_found_error(
            "deepresearch_bench",
            searched,
            "Get data/criteria_data/criteria.jsonl (and data/prompt_data/query.jsonl) from "
            "https://github.com/Ayanami0730/deep_research_bench into <data dir>/deepresearch_bench/.",
        )
    keep = {str(i) for i in ids} if ids is not None else None
    out = {}
    with open(found, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                c = RaceCriteria.from_dict(json.loads(line))
                if keep is None or c.task_id in keep:
                    out[c.task_id] = c
    return out


# =============================================================================== ratings
def _deprecated(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn once per session that ``old`` is now ``new`` (``stacklevel`` as for ``warnings.warn`` here)."""
    warn_once(f"race:{old}", f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel)


#: Old field names of stored verdicts -> the new ones (read by :meth:`CriterionRating.from_dict`).
_OLD_FIELDS = {"score": "rating", "reference_score": "reference_rating"}


@dataclass
class CriterionRating:
    """The judge's verdict on one criterion (for the target and, pairwise, the reference report).

    Attributes:
      dimension, criterion, weight: the criterion.
      rating: the target report's rating in [0, 10] (``None``: no readable rating).
      reference_rating: the reference report's rating (pairwise form only).
      method: how the rating was read: ``"logprob"``, ``"json"``, ``"fraction"`` (``7/10``),
        ``"regex"`` (``score: 7``, a leading number) or ``"none"``.
      parse_error: why no rating (or no reference rating) was read.
      raw: the judge's replies (target, then reference), cut at 500 characters each.
      distribution: logprob mode: ``p(0..10)`` of the target's rating.
      input_tokens, output_tokens, seconds: summed over the judge calls of this criterion.
      truncated: a report was cut at the judge's ``max_report_chars``.
    """

    dimension: str
    criterion: str
    weight: float
    rating: float | None
    reference_rating: float | None = None
    method: str = "none"
    parse_error: str | None = None
    raw: list = field(default_factory=list)
    distribution: list | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    truncated: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CriterionRating:
        """A verdict from :meth:`to_dict`; one stored with the old keys (``score``, ``reference_score``) too."""
        old = [k for k in _OLD_FIELDS if k in d and _OLD_FIELDS[k] not in d]
        if old:
            _deprecated("a verdict with the keys " + ", ".join(repr(k) for k in old), "'rating', 'reference_rating'")
            d = {_OLD_FIELDS.get(k, k) if k in old else k: v for k, v in d.items()}
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def score(self) -> float | None:
        """Deprecated: :attr:`rating`."""
        _deprecated("CriterionRating.score", "CriterionRating.rating")
        return self.rating

    @property
    def reference_score(self) -> float | None:
        """Deprecated: :attr:`reference_rating`."""
        _deprecated("CriterionRating.reference_score", "CriterionRating.reference_rating")
        return self.reference_rating


def _weighted(pairs: Sequence[tuple[float, float]]) -> float | None:
    tw = sum(w for w, _ in pairs)
    return sum(w * s for w, s in pairs) / tw if tw > 0 else None


def aggregate(ratings: Sequence[CriterionRating], dimension_weights: Mapping[str, float]) -> dict:
    """RACE arithmetic over criterion ratings.

    Per dimension d: ``s_d = sum_c w_c s_c / sum_c w_c`` over the criteria of d with a rating.
    Total: ``sum_d W_d s_d / sum_d W_d`` over the dimensions with a rating (with every dimension
    rated and ``sum W_d = 1`` this is the official ``sum_d W_d s_d``). Pairwise (when criteria
    carry ``reference_rating``): the same over the criteria where *both* ratings exist, for target
    and reference, and ``relative = t / (t + r)`` overall and per dimension.

    Returns:
      ``{"dimensions", "total", "coverage", "reference_dimensions", "reference_total",
      "relative", "relative_dimensions", "n_scored", "n_criteria"}`` (``n_scored``: criteria with a
      rating); ``coverage`` is the share of the total weight (``sum_d W_d * rated criterion weight of d
      / criterion weight of d``, over ``sum_d W_d``) that was rated.
    """
    dims: dict[str, float | None] = {}
    ref_dims: dict[str, float | None] = {}
    rel_dims: dict[str, float | None] = {}
    cov_num = 0.0
    pairwise = any(s.reference_rating is not None for s in ratings)
    for d in DIMENSIONS:
        mine = [s for s in ratings if s.dimension == d]
        if not mine:
            continue
        dims[d] = _weighted([(s.weight, s.rating) for s in mine if s.rating is not None])
        all_w = sum(s.weight for s in mine)
        if all_w > 0:
            cov_num += dimension_weights.get(d, 0.0) * sum(s.weight for s in mine if s.rating is not None) / all_w
        if pairwise:
            both = [s for s in mine if s.rating is not None and s.reference_rating is not None]
            t = _weighted([(s.weight, s.rating) for s in both])
            r = _weighted([(s.weight, s.reference_rating) for s in both])
            ref_dims[d] = r
            rel_dims[d] = t / (t + r) if t is not None and r is not None and t + r > 0 else None

    def total(values: Mapping[str, float | None]) -> float | None:
        return _weighted([(dimension_weights.get(d, 0.0), v) for d, v in values.items() if v is not None])

    w_dims = sum(dimension_weights.get(d, 0.0) for d in dims)
    out = {
        "dimensions": dims,
        "total": total(dims),
        "coverage": cov_num / w_dims if w_dims > 0 else 0.0,
        "reference_dimensions": ref_dims if pairwise else None,
        "reference_total": None,
        "relative": None,
        "relative_dimensions": rel_dims if pairwise else None,
        "n_scored": sum(s.rating is not None for s in ratings),
        "n_criteria": len(ratings),
    }
    if pairwise:
        # target and reference over the same criteria: those where both were rated
        both = [s for s in ratings if s.rating is not None and s.reference_rating is not None]
        t_dims = {d: _weighted([(s.weight, s.rating) for s in both if s.dimension == d]) for d in dims}
        t, r = total(t_dims), total(ref_dims)
        out["reference_total"] = r
        out["relative"] = t / (t + r) if t is not None and r is not None and t + r > 0 else None
    return out


@dataclass
class RaceRating:
    """A report's RACE rating: per-criterion verdicts and their aggregate (:func:`aggregate`)."""

    task_id: str
    judge: str
    criteria: list[CriterionRating]
    dimension_weights: dict
    dimensions: dict = field(init=False)
    total: float | None = field(init=False)
    coverage: float = field(init=False)
    reference_total: float | None = field(init=False)
    reference_dimensions: dict | None = field(init=False)
    relative: float | None = field(init=False)
    relative_dimensions: dict | None = field(init=False)

    def __post_init__(self) -> None:
        agg = aggregate(self.criteria, self.dimension_weights)
        self.dimensions = agg["dimensions"]
        self.total = agg["total"]
        self.coverage = agg["coverage"]
        self.reference_total = agg["reference_total"]
        self.reference_dimensions = agg["reference_dimensions"]
        self.relative = agg["relative"]
        self.relative_dimensions = agg["relative_dimensions"]

    def to_row(self) -> dict:
        """Flat columns: ``race_total``, ``race_<dim>``, ``race_coverage``, ``race_relative``, ``race_relative_<dim>``, ..."""
        row: dict[str, Any] = {
            "race_total": self.total,
            "race_coverage": self.coverage,
            "race_unscored": sum(c.rating is None for c in self.criteria),
            "race_reference_total": self.reference_total,
            "race_relative": self.relative,
        }
        for d in DIMENSIONS:
            row[f"race_{d}"] = self.dimensions.get(d)
            row[f"race_relative_{d}"] = (self.relative_dimensions or {}).get(d)
        return row

    @property
    def input_tokens(self) -> int:
        return sum(c.input_tokens for c in self.criteria)

    @property
    def output_tokens(self) -> int:
        return sum(c.output_tokens for c in self.criteria)

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.criteria)


# =============================================================================== parsing
_FRACTION = re.compile(r"(?<![\d.])(\d{1,2}(?:\.\d+)?)\s*(?:/|out of)\s*10(?![\d])", re.I)
_LABELLED = re.compile(r"score\W{0,3}(?:is|of|=|:)?\s*(\d{1,2}(?:\.\d+)?)(?![\d])", re.I)
_LEADING = re.compile(r"^\W{0,3}(\d{1,2}(?:\.\d+)?)(?![\d.]*\s*%)(?!\d)")


def parse_rating(text: str) -> tuple[float | None, str, str | None]:
    """Read a 0-10 rating from a judge's reply (the prompt asks for a "score", the benchmark's word).

    In order: a JSON object with a ``score`` key; ``7/10`` or ``7 out of 10``; ``score: 7``;
    a number at the very start of the reply. Values outside [0, 10] are rejected.

    Returns:
      ``(rating, method, error)``; ``rating`` is ``None`` when nothing valid was found.
    """
    if not isinstance(text, str) or not text.strip():
        return None, "none", "empty reply"
    text = text[:20_000]
    for obj in extract_json_objects(text):
        for k, v in obj.items():
            if isinstance(k, str) and k.strip().lower() in ("score", "rating"):
                try:
                    val = float(v)
                except (TypeError, ValueError):
                    continue
                if 0 <= val <= 10:
                    return val, "json", None
                return None, "json", f"score {val} is outside [0, 10]"
    for rx, method in ((_FRACTION, "fraction"), (_LABELLED, "regex"), (_LEADING, "regex")):
        m = rx.search(text)
        if m:
            val = float(m.group(1))
            if 0 <= val <= 10:
                return val, method, None
            return None, method, f"score {val} is outside [0, 10]"
    return None, "none", f"no score in the reply {text[:80]!r}"


# =============================================================================== judge
RACE_JUDGE_PROMPT = """You are an expert judge of research reports. Score the report below on one criterion.

Research task:
{task}

Criterion ({dimension}): {criterion}
{explanation}

Report:
<<<
{report}
>>>

How well does the report meet this criterion? 0 means not at all, 10 means perfectly. Reply with the score only, in the form "<score>/10"."""

RACE_PAIR_PROMPT = """You are an expert judge of research reports. Two reports were written for the same research task. Score Report {which} on one criterion, using the other report as a point of comparison.

Research task:
{task}

Criterion ({dimension}): {criterion}
{explanation}

Report 1:
<<<
{report_1}
>>>

Report 2:
<<<
{report_2}
>>>

How well does Report {which} meet this criterion? 0 means not at all, 10 means perfectly. Reply with the score of Report {which} only, in the form "<score>/10"."""


def token_counts(gen) -> tuple[int, int]:
    """(input, output) tokens of one :class:`~mi_utils.backends.base.Generation`.

    The API's ``meta["usage"]`` when present (hosted APIs return no token ids), else the
    generation's ``prompt_tokens`` / ``output_tokens`` when the backend records them, else the
    lengths of ``prompt_ids`` and ``token_ids``. (Belongs beside ``Generation`` in
    :mod:`mi_utils.backends.base`.)
    """
    usage = gen.meta.get("usage") if isinstance(gen.meta, dict) else None
    if usage:
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    n_in, n_out = getattr(gen, "prompt_tokens", None), getattr(gen, "output_tokens", None)
    if n_in is not None and n_out is not None:
        return int(n_in), int(n_out)
    return len(gen.prompt_ids), len(gen.token_ids)


class RaceJudge:
    """A judge model rating reports criterion by criterion.

    Args:
      backend: any generator backend (``mode="generate"``), or a local scorer with ``encode``,
        ``encode_chat`` and ``score`` (``mode="logprob"``: HFBackend, VLLMBackend, SGLangBackend).
      mode: ``"generate"`` (the judge writes ``"<score>/10"``, parsed by :func:`parse_rating`) or
        ``"logprob"`` (expected rating under the judge's distribution over ``"0/10" .. "10/10"``,
        scored by the backend).
      params: sampling for ``generate`` (default greedy, 16 new tokens).
      max_report_chars: reports are cut at this many characters before judging.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        mode: Literal["generate", "logprob"] = "generate",
        params: SamplingParams = SamplingParams(temperature=0.0, max_new_tokens=16),
        max_report_chars: int = 30_000,
    ) -> None:
        if mode not in ("generate", "logprob"):
            raise ValueError(f"mode must be 'generate' or 'logprob', got {mode!r}")
        if max_report_chars < 1:
            raise ValueError("max_report_chars must be >= 1")
        roles = getattr(backend, "roles", None)  # declared by every backend of the package
        if mode == "logprob" and roles is not None and "scorer" not in roles:
            raise TypeError(
                f"{type(backend).__name__} ({backend.model_name}) is not a scorer (roles {sorted(roles)}): "
                "mode='logprob' needs prompt log-probs; use mode='generate' for chat APIs"
            )
        self.backend = backend
        self.mode = mode
        self.params = params
        self.max_report_chars = max_report_chars

    @property
    def model(self) -> str:
        return self.backend.model_name

    @property
    def name(self) -> str:
        return f"{self.backend.model_name}:{self.mode}"

    def settings(self) -> dict:
        """Everything that determines a verdict besides the inputs (for results keys)."""
        return {
            "judge": self.backend.model_name,
            "dtype": getattr(self.backend, "dtype", None),
            "mode": self.mode,
            "params": self.params.to_dict() if self.mode == "generate" else None,
            "max_report_chars": self.max_report_chars,
            "prompt_version": RACE_PROMPT_VERSION,
        }

    def _cut(self, report: str) -> tuple[str, bool]:
        return (report, False) if len(report) <= self.max_report_chars else (report[: self.max_report_chars], True)

    def messages(
        self, task_prompt: str, report: str, criterion: Criterion, reference: str | None = None, which: int = 1
    ) -> tuple[list[dict], bool]:
        """The judge's chat prompt for one criterion (pairwise: for Report ``which``), and whether a report was cut."""
        rep, cut = self._cut(report)
        common = {
            "task": task_prompt.strip(),
            "dimension": _DIM_LABEL.get(criterion.dimension, criterion.dimension),
            "criterion": criterion.text,
            "explanation": criterion.explanation,
        }
        if reference is None:
            return [{"role": "user", "content": RACE_JUDGE_PROMPT.format(report=rep, **common)}], cut
        ref, cut2 = self._cut(reference)
        return [
            {"role": "user", "content": RACE_PAIR_PROMPT.format(report_1=rep, report_2=ref, which=which, **common)}
        ], cut or cut2

    def _ask(self, messages: list[dict]) -> dict:
        t0 = time.perf_counter()
        if self.mode == "logprob":
            try:
                prefix = list(self.backend.encode_chat(messages))
                conts = [list(self.backend.encode(f"{k}/10")) for k in range(11)]
            except (AttributeError, NotImplementedError) as e:
                raise TypeError(
                    f"{type(self.backend).__name__} cannot judge in mode='logprob' (it needs encode, encode_chat "
                    f"and score: a local scorer); use mode='generate' for chat APIs ({e})"
                ) from None
            lps = self.backend.score([(prefix, c) for c in conts])
            logp = np.array([float(np.sum(lp)) for lp in lps])
            p = np.exp(logp - logp.max())
            p /= p.sum()
            return {
                "rating": float(np.dot(np.arange(11), p)),
                "method": "logprob",
                "error": None,
                "raw": None,
                "distribution": p.round(6).tolist(),
                "in": len(prefix) + sum(len(c) for c in conts),
                "out": 0,
                "s": time.perf_counter() - t0,
            }
        gens = self.backend.generate([messages], self.params)
        g = gens[0][0]
        rating, method, err = parse_rating(g.text)
        n_in, n_out = token_counts(g)
        return {
            "rating": rating,
            "method": method,
            "error": err,
            "raw": g.text[:500],
            "distribution": None,
            "in": n_in,
            "out": n_out,
            "s": time.perf_counter() - t0,
        }

    def rate(
        self, task_prompt: str, report: str, criterion: Criterion, reference: str | None = None
    ) -> CriterionRating:
        """Rate one criterion: absolute (one call) or, with ``reference``, pairwise (two calls)."""
        msgs, cut = self.messages(task_prompt, report, criterion, reference, which=1)
        a = self._ask(msgs)
        asks = [a]
        ref_rating = None
        if reference is not None:
            msgs2, _ = self.messages(task_prompt, report, criterion, reference, which=2)
            b = self._ask(msgs2)
            asks.append(b)
            ref_rating = b["rating"]
        errors = [f"{'reference' if i else 'target'}: {x['error']}" for i, x in enumerate(asks) if x["error"]]
        return CriterionRating(
            dimension=criterion.dimension,
            criterion=criterion.text,
            weight=criterion.weight,
            rating=a["rating"],
            reference_rating=ref_rating,
            method=a["method"],
            parse_error="; ".join(errors) or None,
            raw=[x["raw"] for x in asks if x["raw"] is not None],
            distribution=a["distribution"],
            input_tokens=sum(x["in"] for x in asks),
            output_tokens=sum(x["out"] for x in asks),
            seconds=sum(x["s"] for x in asks),
            truncated=cut,
        )

    def score(
        self, task_prompt: str, report: str, criterion: Criterion, reference: str | None = None
    ) -> CriterionRating:
        """Deprecated: :meth:`rate` (*score* means an LM's log-probability in this package)."""
        _deprecated("RaceJudge.score", "RaceJudge.rate")
        return self.rate(task_prompt, report, criterion, reference)


def rate_report(
    judge: RaceJudge,
    criteria: RaceCriteria,
    report: str,
    *,
    reference: str | None = None,
    task_prompt: str | None = None,
    progress: bool = False,
) -> RaceRating:
    """Rate a report on every criterion of a task (pairwise when ``reference`` is given).

    Args:
      judge: the :class:`RaceJudge`.
      criteria: the task's rubric.
      report: the report to rate.
      reference: a reference report (pairwise form), or ``None``.
      task_prompt: the task text shown to the judge (default ``criteria.prompt``).
      progress: show a progress bar over criteria.
    """
    from tqdm.auto import tqdm

    prompt = task_prompt if task_prompt is not None else criteria.prompt
    ratings = [
        judge.rate(prompt, report, c, reference)
        for c in tqdm(criteria.criteria, desc="judge", disable=not progress, leave=False)
    ]
    return RaceRating(criteria.task_id, judge.name, ratings, dict(criteria.dimension_weights))


#: Old public names -> new ones: still importable, warning once with the new name.
_RENAMED = {
    "CriterionScore": "CriterionRating",
    "RaceScore": "RaceRating",
    "parse_score": "parse_rating",
    "score_report": "rate_report",
}


def __getattr__(name: str) -> Any:
    if name in _RENAMED:
        _deprecated(f"mi_utils.deep_research.race.{name}", _RENAMED[name])
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
