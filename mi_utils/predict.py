"""The predictor: answer a query from a summary alone.

Two modes, both reading only the summary ``Z`` and the query ``Q`` (never the context ``X``):

* **Log-likelihood choice** (:func:`choose_option`), for multiple choice. Every option is scored
  as the continuation of one prefix, ``BOS? + choice_prediction_prefix(z, q)``, and the option
  with the highest log-likelihood wins. Each option's continuation is ``" " + option`` tokenised
  *on its own* and appended to the prefix ids, so the seam between prefix and option is the same
  for every option and every summary. All options share the prefix: one ``backend.score`` call
  (one prefill on :class:`~mi_utils.backends.hf.HFBackend`). This works even for 135M-parameter
  models that cannot follow a JSON instruction.
* **Generative** (:func:`generate_answer`), the paper's protocol: the predictor is prompted with
  :func:`~mi_utils.prompts.prediction_messages` (JSON ``{"explanation", "answer"}``) and its
  reply is parsed by :func:`parse_answer`.

Over the ``M`` summaries of a record, predictions are combined by majority vote, as in the
paper: :func:`vote` over option indices (multiple choice), :func:`vote_text` over free-form
answers. :func:`predict_choice_records` runs the choice mode over a data set; its correctness is
:func:`mi_utils.evaluate.mc_correct`.

The runner's prediction stage for one record is :func:`predict_outcome` (stores and settings are
passed in): :func:`choice_outcome` (choice, votes under both rules), :func:`generate_outcome`
(replies generated once and stored by :func:`stored_replies`, parsed, voted, graded by
:mod:`mi_utils.evaluate`), or the reference perplexity of :func:`mi_utils.evaluate.perplexity_outcome`.
Each returns the row fields of the outcome.

Parsing the replies (:func:`parse_answer`, :func:`match_option`, :func:`extract_json_objects`,
:class:`ParsedAnswer`) lives in :mod:`mi_utils.answers` and is re-exported here; model output is
data there, parsed with ``json`` and regular expressions, never evaluated or executed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from .answers import ParsedAnswer, extract_json_objects, match_option, normalize_text, parse_answer
from .backends.base import SCORER, Generation, Generator, SamplingParams, Scorer, require_role
from .backends.registry import backend_entry
from .evaluate import judge_answers, mc_correct, normalized_match, perplexity_outcome, truncate_context
from .prompts import PROMPT_VERSION, choice_prediction_prefix, prediction_messages
from .store import JsonlStore, make_key
from .summaries import summary_text

__all__ = [
    "RULES",
    "ChoiceScores",
    "choice_token_pairs",
    "choose_option",
    "vote",
    "vote_text",
    "PredictionResult",
    "predict_choice_records",
    "ParsedAnswer",
    "GeneratedAnswer",
    "parse_answer",
    "match_option",
    "extract_json_objects",
    "generate_answer",
    "generate_answers",
    "summary_text",
    "DEFAULT_PREDICTION_PARAMS",
    "choice_outcome",
    "stored_replies",
    "generate_outcome",
    "predict_outcome",
]

Rule = Literal["sum", "mean"]
RULES: tuple[str, ...] = ("sum", "mean")

#: Greedy decoding with room for the JSON explanation and answer.
DEFAULT_PREDICTION_PARAMS = SamplingParams(temperature=0.0, max_new_tokens=256)


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; use 'sum' (total log-prob) or 'mean' (per-token log-prob)")


# =============================================================================== choice mode
@dataclass
class ChoiceScores:
    """Log-likelihood of every option given one summary and the query.

    Attributes:
      options: the options, in order.
      sum_logprobs: total log-prob (nats) of each option's tokens, shape ``(K,)``.
      mean_logprobs: per-token mean log-prob of each option, shape ``(K,)``. Length-normalised:
        it does not favour short options, but it can favour options whose later tokens are
        predictable once the first is given.
      n_tokens: tokens of each option's continuation (``" " + option``), shape ``(K,)``.
      chosen: the chosen option index under each rule, ``{"sum": i, "mean": j}``; ties go to
        the lowest index (``numpy.argmax``).
    """

    options: tuple[str, ...]
    sum_logprobs: np.ndarray
    mean_logprobs: np.ndarray
    n_tokens: np.ndarray
    chosen: dict[str, int]

    def index(self, rule: Rule = "sum") -> int:
        """The chosen option index under ``rule`` (``"sum"`` or ``"mean"``)."""
        _check_rule(rule)
        return self.chosen[rule]

    def scores(self, rule: Rule = "sum") -> np.ndarray:
        """The per-option scores ``rule`` ranks by."""
        _check_rule(rule)
        return self.sum_logprobs if rule == "sum" else self.mean_logprobs

    def to_dict(self) -> dict:
        """JSON-serialisable view."""
        return {
            "options": list(self.options),
            "sum_logprobs": self.sum_logprobs.tolist(),
            "mean_logprobs": self.mean_logprobs.tolist(),
            "n_tokens": self.n_tokens.tolist(),
            "chosen": dict(self.chosen),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ChoiceScores:
        """Inverse of :meth:`to_dict`."""
        return cls(
            options=tuple(d["options"]),
            sum_logprobs=np.asarray(d["sum_logprobs"], dtype=np.float64),
            mean_logprobs=np.asarray(d["mean_logprobs"], dtype=np.float64),
            n_tokens=np.asarray(d["n_tokens"], dtype=np.int64),
            chosen={k: int(v) for k, v in d["chosen"].items()},
        )


def choice_token_pairs(
    backend: Scorer, summary: Any, query: str, options: Sequence[str]
) -> tuple[list[int], list[list[int]]]:
    """Token ids of the choice prompt: one shared prefix and one continuation per option.

    Args:
      backend: a :class:`~mi_utils.backends.base.Scorer` (``encode``, ``bos_ids``).
      summary: the summary (``Summary`` or str).
      query: the question; an appended options block is stripped.
      options: the K answer options.

    Returns:
      ``(prefix_ids, [continuation_ids per option])``; the continuation of option ``k`` is
      ``encode(" " + options[k].strip())``.

    Raises:
      ValueError: no options, or an option that is empty after stripping.
      TypeError: the backend is not a scorer (a chat API): use :func:`generate_answer`.
    """
    if isinstance(options, str) or len(options) == 0:
        raise ValueError("options must be a non-empty sequence of option strings")
    require_role(backend, SCORER, "log-likelihood choice")
    prefix = list(backend.bos_ids) + list(backend.encode(choice_prediction_prefix(summary_text(summary), query)))
    conts = []
    for k, opt in enumerate(options):
        if not isinstance(opt, str) or not opt.strip():
            raise ValueError(f"option {k} is empty or not a string ({opt!r}); every option needs text to score")
        conts.append(list(backend.encode(" " + opt.strip())))
    if not prefix:
        raise ValueError("the choice prefix encoded to no tokens; check the backend's tokenizer")
    return prefix, conts


def _choice_scores(options: Sequence[str], logprobs: Sequence[np.ndarray]) -> ChoiceScores:
    arrays = [np.asarray(lp, dtype=np.float64) for lp in logprobs]
    for k, a in enumerate(arrays):
        if a.size == 0 or not np.all(np.isfinite(a)):
            raise ValueError(
                f"option {k}: the scorer returned {'no' if a.size == 0 else 'non-finite'} log-probs; "
                "check the backend (a float16 overflow gives inf/NaN: use float32 or bfloat16)"
            )
    sums = np.array([a.sum() for a in arrays], dtype=np.float64)
    n_tok = np.array([a.size for a in arrays], dtype=np.int64)
    means = sums / n_tok
    return ChoiceScores(
        options=tuple(options),
        sum_logprobs=sums,
        mean_logprobs=means,
        n_tokens=n_tok,
        chosen={"sum": int(np.argmax(sums)), "mean": int(np.argmax(means))},
    )


def choose_option(backend, summary: Any, query: str, options: Sequence[str]) -> ChoiceScores:
    """Pick the option the predictor finds most likely after the summary and query.

    The prefix is ``backend.bos_ids + encode(choice_prediction_prefix(summary, query))`` and each
    option is scored as the continuation ``" " + option`` (tokenised separately), in a single
    ``backend.score`` call over all options.

    Args:
      backend: a local scorer (``score``, ``encode``, ``bos_ids``), e.g.
        :class:`~mi_utils.backends.hf.HFBackend`.
      summary: the summary Z (``Summary`` or str). Pass the raw context for the no-compression
        baseline (see :func:`mi_utils.evaluate.truncate_context`).
      query: the question Q.
      options: the answer options.

    Returns:
      The per-option scores and the chosen index under ``"sum"`` and ``"mean"``.
    """
    prefix, conts = choice_token_pairs(backend, summary, query, options)
    scores = backend.score([(prefix, c) for c in conts])
    return _choice_scores(options, scores)


def _choose_many(backend, summaries: Sequence[Any], query: str, options: Sequence[str]) -> list[ChoiceScores]:
    """:func:`choose_option` for several summaries of one record in a single ``score`` call."""
    pairs, spans = [], []
    for s in summaries:
        prefix, conts = choice_token_pairs(backend, s, query, options)
        spans.append((len(pairs), len(pairs) + len(conts)))
        pairs.extend((prefix, c) for c in conts)
    scores = backend.score(pairs)
    return [_choice_scores(options, scores[a:b]) for a, b in spans]


# =============================================================================== aggregation
# The two aggregation rules over a record's M predictions: ``vote`` over option indices (multiple
# choice), ``vote_text`` over free-form answer texts.
def vote(choices: Sequence[int | None], tiebreak_scores: Sequence[np.ndarray] | None = None) -> int | None:
    """Majority vote over the option indices predicted from a record's M summaries (the paper's rule).

    Ties between the most-voted options are broken by their summed scores across summaries
    (``sum_m tiebreak_scores[m][k]``; with log-probs this is the product of the likelihoods), and
    a tie that remains (or a tie with no scores) goes to the lowest option index, so the result
    is deterministic.

    Args:
      choices: the option index predicted from each summary; ``None`` (an unparsable answer)
        abstains.
      tiebreak_scores: optional per-summary score arrays over all options (e.g.
        ``ChoiceScores.scores(rule)`` for each summary), aligned with ``choices``.

    Returns:
      The winning option index, or ``None`` when every summary abstained.

    Raises:
      ValueError: ``choices`` is empty, holds a negative or non-integer index, or
        ``tiebreak_scores`` does not match it.
    """
    if len(choices) == 0:
        raise ValueError("vote() needs at least one prediction (got an empty list)")
    counts: dict[int, int] = {}
    for c in choices:
        if c is None:
            continue
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)) or c < 0:
            raise ValueError(f"choices must be non-negative option indices or None, got {c!r}")
        counts[int(c)] = counts.get(int(c), 0) + 1
    if not counts:
        return None
    top = max(counts.values())
    tied = sorted(k for k, v in counts.items() if v == top)
    if len(tied) == 1:
        return tied[0]
    if tiebreak_scores is None:
        return tied[0]
    if len(tiebreak_scores) != len(choices):
        raise ValueError(
            f"tiebreak_scores has {len(tiebreak_scores)} arrays for {len(choices)} choices; pass one per summary"
        )
    total = np.sum([np.asarray(s, dtype=np.float64) for s in tiebreak_scores], axis=0)
    if total.ndim != 1 or total.size <= max(tied):
        raise ValueError("each tiebreak_scores array must hold one score per option")
    best = max(total[k] for k in tied)
    return min(k for k in tied if total[k] == best)


def vote_text(answers: Sequence[str | None]) -> int | None:
    """Majority vote over free-form answers from a record's M summaries.

    Answers are grouped by :func:`~mi_utils.answers.normalize_text` (default mode: case,
    punctuation and articles ignored, so ``"The Paris."`` and ``"paris"`` are one answer); an
    answer that is ``None``, empty or empty after normalisation abstains. The group with the
    most answers wins; a tie goes to the group whose first answer comes earliest.

    Args:
      answers: the answer parsed from each summary's reply (``None`` when none was found).

    Returns:
      The position in ``answers`` of the first answer of the winning group (so the caller can
      report that answer's own text and correctness), or ``None`` when every answer abstained
      or ``answers`` is empty.

    Raises:
      TypeError: an answer that is neither a str nor ``None``.
    """
    first: dict[str, int] = {}
    counts: Counter[str] = Counter()
    for i, a in enumerate(answers):
        if a is not None and not isinstance(a, str):
            raise TypeError(f"answers must be str or None, got {type(a).__name__} at position {i}")
        n = normalize_text(a) if a else ""
        if n:
            first.setdefault(n, i)
            counts[n] += 1
    if not counts:
        return None
    return first[max(counts, key=lambda n: (counts[n], -first[n]))]


# ============================================================================ choice records
@dataclass
class PredictionResult:
    """A record's prediction from its M summaries.

    Attributes:
      record_id: the record.
      rule: ``"sum"`` or ``"mean"``, the scoring rule used for the per-summary choices.
      choices: the option chosen from each summary.
      prediction: the majority vote (:func:`vote`, ties by summed scores).
      correct: whether the voted option is the reference answer (:func:`mi_utils.evaluate.mc_correct`;
        ``False`` when every summary abstained).
      per_summary_correct: :func:`~mi_utils.evaluate.mc_correct` of each summary's own choice.
      scores: the full :class:`ChoiceScores` of each summary.
      predictor: the predictor's model name.
    """

    record_id: str
    rule: str
    choices: list[int]
    prediction: int | None
    correct: bool | None
    per_summary_correct: list[bool] | None
    scores: list[ChoiceScores] = field(default_factory=list)
    predictor: str = ""
    prompt_version: str = PROMPT_VERSION

    def to_row(self) -> dict:
        """JSON-serialisable row (scores included)."""
        d = asdict(self)
        d["scores"] = [s.to_dict() for s in self.scores]
        return d

    @classmethod
    def from_row(cls, row: dict) -> PredictionResult:
        names = cls.__dataclass_fields__
        d = {k: v for k, v in row.items() if k in names}
        d["scores"] = [ChoiceScores.from_dict(s) for s in d.get("scores", [])]
        return cls(**d)


def predict_choice_records(
    backend,
    records: Sequence,
    summaries: Sequence[Sequence[Any]],
    *,
    rule: Rule = "sum",
    store: str | JsonlStore | None = None,
    progress: bool = True,
) -> list[PredictionResult]:
    """Log-likelihood choice prediction for every record from each of its summaries.

    Args:
      backend: the predictor (a local scorer, see :func:`choose_option`).
      records: multiple-choice records (``id``, ``query``, ``options``, ``answer``).
      summaries: ``summaries[i]`` = the M summaries (``Summary`` or str) of ``records[i]``.
      rule: ``"sum"`` or ``"mean"`` log-prob ranks the options.
      store: optional JSONL path/store; finished records are appended and reused on restart.
        Both rules' scores are stored, so a row is valid whatever ``rule`` asks for.
      progress: show a progress bar.

    Returns:
      One :class:`PredictionResult` per record.

    Raises:
      ValueError: a record without options, a summary list of the wrong length or an empty one.
    """
    _check_rule(rule)
    if len(summaries) != len(records):
        raise ValueError(f"got {len(summaries)} summary lists for {len(records)} records; pass one list per record")
    st = JsonlStore(store) if store is not None and not isinstance(store, JsonlStore) else store
    name = backend.model_name
    out = []
    for rec, sums in tqdm(list(zip(records, summaries)), desc=f"predict ({name})", disable=not progress):
        if not getattr(rec, "options", None):
            raise ValueError(
                f"record {rec.id!r} has no options; choice prediction needs multiple choice "
                "(use generate_answer for free-form records)"
            )
        if isinstance(sums, str) or len(sums) == 0:
            raise ValueError(f"record {rec.id!r}: pass a non-empty list of summaries (got {sums!r:.60})")
        texts = [summary_text(s) for s in sums]
        key = make_key(
            kind="choice",
            record=rec.id,
            predictor=name,
            query=rec.query,
            options=list(rec.options),
            summaries=texts,
            prompt=PROMPT_VERSION,
        )
        row = st.get(key) if st is not None and key in st else None
        scores = (
            [ChoiceScores.from_dict(s) for s in row["scores"]]
            if row is not None
            else _choose_many(backend, texts, rec.query, rec.options)
        )
        if st is not None and row is None:
            st.append({"key": key, "record_id": rec.id, "scores": [s.to_dict() for s in scores]})
        choices = [s.index(rule) for s in scores]
        pred = vote(choices, [s.scores(rule) for s in scores])
        out.append(
            PredictionResult(
                record_id=rec.id,
                rule=rule,
                choices=choices,
                prediction=pred,
                correct=mc_correct(pred, rec),
                per_summary_correct=[mc_correct(c, rec) for c in choices],
                scores=scores,
                predictor=name,
            )
        )
    return out


# ============================================================================ generative mode
@dataclass
class GeneratedAnswer:
    """A predictor's reply and what was parsed from it.

    Attributes:
      text: the raw reply.
      parsed: :func:`parse_answer` of it.
      generation: the backend's :class:`~mi_utils.backends.base.Generation` (token ids, usage
        metadata, finish reason).
    """

    text: str
    parsed: ParsedAnswer
    generation: Generation | None = None

    @property
    def answer(self) -> str | None:
        return self.parsed.answer

    @property
    def index(self) -> int | None:
        return self.parsed.index


def generate_answers(
    backend: Generator,
    summaries: Sequence[Any],
    query: str,
    options: Sequence[str] | None = None,
    params: SamplingParams = DEFAULT_PREDICTION_PARAMS,
) -> list[GeneratedAnswer]:
    """:func:`generate_answer` for several summaries (e.g. a record's M), in one ``generate`` call.

    Raises:
      ValueError: ``params.n != 1`` (one reply per summary; vote over summaries instead).
    """
    if params.n != 1:
        raise ValueError(f"prediction takes one reply per summary (params.n={params.n}); set n=1")
    prompts = [prediction_messages(summary_text(s), query, options) for s in summaries]
    if not prompts:
        return []
    gens = backend.generate(prompts, params)
    if len(gens) != len(prompts) or any(len(g) == 0 for g in gens):
        raise RuntimeError(f"{type(backend).__name__}.generate returned {len(gens)} results for {len(prompts)} prompts")
    return [GeneratedAnswer(g[0].text, parse_answer(g[0].text, options), g[0]) for g in gens]


def generate_answer(
    backend: Generator,
    summary: Any,
    query: str,
    options: Sequence[str] | None = None,
    params: SamplingParams = DEFAULT_PREDICTION_PARAMS,
) -> GeneratedAnswer:
    """Ask the predictor to answer from the summary (the paper's JSON prompt) and parse the reply.

    Args:
      backend: any backend with ``generate`` (local model, vLLM, an OpenAI-compatible API).
      summary: the summary Z (``Summary`` or str).
      query: the question Q.
      options: answer options for multiple choice (listed as A, B, C... in the prompt).
      params: sampling; default greedy with 256 new tokens.

    Returns:
      The raw reply, the :class:`ParsedAnswer` and the backend's generation.
    """
    return generate_answers(backend, [summary], query, options, params)[0]


# ======================================================================= one record's outcome
# The runner's prediction stage for one record (stores and settings passed in, no runner state):
# the answers from each summary, their vote and grading, as row fields.
def choice_outcome(backend: Scorer, rec, texts: list[str], *, rule: str, store: JsonlStore | None) -> dict:
    """Log-likelihood choice from each summary, majority vote under both rules, graded by
    :func:`~mi_utils.evaluate.mc_correct`.

    Args:
      backend: the predictor, a scorer.
      rec: a multiple-choice record.
      texts: the summaries' texts (``[""]`` for the no-summary pass).
      rule: the rule the prediction uses (``correct``, ``vote_index``); the votes under both
        rules are reported too (``correct_sum``, ``correct_mean``).
      store: the prediction store (option scores are reused from it).

    Returns:
      the row fields of the prediction (with ``option_logprobs``, the summed option log-probs per summary).
    """
    (res,) = predict_choice_records(backend, [rec], [texts], rule=rule, store=store, progress=False)
    votes = {
        r: vote([sc.index(r) for sc in res.scores], [sc.scores(r) for sc in res.scores]) for r in RULES
    }  # the row reports the vote under both rules; res has rule's
    return {
        "vote_index": res.prediction,
        "vote_answer": rec.options[res.prediction] if res.prediction is not None else None,
        "correct": bool(res.correct),
        "correct_sum": mc_correct(votes["sum"], rec),
        "correct_mean": mc_correct(votes["mean"], rec),
        "per_summary_accuracy": float(np.mean(res.per_summary_correct)),
        "per_summary_correct": res.per_summary_correct,
        "answers": [rec.options[c] for c in res.choices],
        "cost_usd": 0.0,
        "option_logprobs": [sc.sum_logprobs.tolist() for sc in res.scores],
    }


def stored_replies(backend: Generator, rec, texts: list[str], store: JsonlStore, pred) -> tuple[list[str], list]:
    """The predictor's greedy replies to a record from each summary, generated once and stored.

    Returns:
      ``(replies, usage)``: one reply per summary and its ``[prompt tokens, output tokens]``.
    """
    params = SamplingParams(temperature=0.0, max_new_tokens=pred.max_new_tokens)
    key = make_key(
        kind="generate",
        record=rec.id,
        predictor=pred.key_dict(),
        query=rec.query,
        options=list(rec.options or []),
        summaries=texts,
        params=params.to_dict(),
        prompt=PROMPT_VERSION,
    )
    row = store.get(key) if key in store else None
    if row is None:
        answers = generate_answers(backend, texts, rec.query, list(rec.options) if rec.options else None, params)
        usage = [
            [int(a.generation.prompt_tokens or 0), int(a.generation.output_tokens or 0)]
            if a.generation is not None
            else [0, 0]
            for a in answers
        ]
        row = {"key": key, "record_id": rec.id, "replies": [a.text for a in answers], "usage": usage}
        store.append(row)
    return row["replies"], row["usage"]


def generate_outcome(
    backend: Generator, rec, texts: list[str], store: JsonlStore, pred, prices, *, judge=None, judge_backend=None
) -> dict:
    """Generated answers (:func:`stored_replies`), parsed, voted and graded: options by
    :func:`~mi_utils.evaluate.mc_correct`; free form by the judge (:func:`mi_utils.evaluate.judge_answers`)
    when one is given, else :func:`~mi_utils.evaluate.normalized_match`.

    Args:
      backend, rec, texts, store: the predictor, the record, the summaries' texts, the prediction store.
      pred: the predictor's config (``model``, ``backend``, ``key_dict()``, ``max_new_tokens``).
      prices: a :class:`mi_utils.costs.PriceTable` (API cost of the predictor and the judge).
      judge, judge_backend: the judge's config and model, or ``None`` (normalized match).

    Returns:
      the row fields of the prediction, with its token counts and cost.
    """
    replies, usage = stored_replies(backend, rec, texts, store, pred)
    in_tok = sum(u[0] for u in usage)
    out_tok = sum(u[1] for u in usage)
    cost = prices.cost(pred.model, in_tok, out_tok, local=not backend_entry(pred.backend).priced)
    parsed = [parse_answer(t, list(rec.options) if rec.options else None) for t in replies]
    tokens = {"predictor_input_tokens": in_tok, "predictor_output_tokens": out_tok}
    if rec.options:
        idx = [p.index for p in parsed]
        v = vote(idx)
        per = [mc_correct(i, rec) for i in idx]
        return {
            "vote_index": v,
            "vote_answer": rec.options[v] if v is not None else None,
            "correct": mc_correct(v, rec),
            "per_summary_accuracy": float(np.mean(per)),
            "per_summary_correct": per,
            "answers": [p.answer for p in parsed],
            "cost_usd": cost,
            **tokens,
        }
    answers = [p.answer for p in parsed]
    unparsed, judge_cost = 0, 0.0
    if judge is not None:
        per, unparsed, judge_cost = judge_answers(judge_backend, judge, rec, answers, store, prices)
    else:
        per = [bool(a) and normalized_match(a, rec.answer) for a in answers]
    j = vote_text(answers)
    return {
        "vote_index": j,
        "vote_answer": answers[j] if j is not None else None,
        "correct": bool(per[j]) if j is not None else False,
        "per_summary_accuracy": float(np.mean(per)),
        "per_summary_correct": per,
        "answers": answers,
        "cost_usd": cost + judge_cost,
        **tokens,
        "judge_unparsed": unparsed,
    }


def predictor_texts(
    backend, texts: list[str], pred, *, full_context: bool, reference: Callable[[], Any] | None = None
) -> list[str]:
    """What the predictor reads of a record: its summaries' texts, or, for the full-context baseline
    (``full_context``) of a predictor with ``max_context_tokens``, the context cut to that budget (head
    kept, :func:`mi_utils.evaluate.truncate_context`).

    The budget is counted in the predictor's tokenizer; a chat API has no local one, so there it is
    counted in ``reference()`` (the run's reference tokenizer).

    Raises:
      ValueError: the cut is needed, the backend has no tokenizer and no ``reference`` is given.
    """
    if not full_context or pred.max_context_tokens is None:
        return texts
    if SCORER not in backend.roles and reference is None:
        raise ValueError(
            f"predictor {pred.model!r} has no local tokenizer to count max_context_tokens in; "
            "pass reference= (a callable returning a tokenizer, e.g. the run's scorer's)"
        )
    tok = backend.tokenizer if SCORER in backend.roles else reference()
    return [truncate_context(tok, t, pred.max_context_tokens)[0] for t in texts]


def predict_outcome(
    backend, rec, texts: list[str], store: JsonlStore, pred, prices, *, dataset: str, judge=None, judge_backend=None
) -> dict:
    """One record's prediction outcome (row fields) from its summaries' texts, by task and mode:
    reference perplexity (:func:`mi_utils.evaluate.perplexity_outcome`) for ``perplexity`` records,
    else :func:`choice_outcome` (``mode: choice``) or :func:`generate_outcome`.

    Args:
      backend: the predictor; rec: the record; texts: its summaries' texts (already truncated for
        the full-context baseline); store: the prediction store.
      pred: the predictor's config (``id``, ``mode``, ``rule``, ``model``, ``backend``, ...).
      prices: a :class:`mi_utils.costs.PriceTable`.
      dataset: the data set's name (for messages).
      judge, judge_backend: the free-form judge's config and model, or ``None``.

    Raises:
      ValueError: a ``choice`` predictor on a record without options, or a chat API asked for perplexity.
    """
    if rec.task == "perplexity":
        return perplexity_outcome(backend, rec, texts, store, pred)
    if pred.mode == "choice":
        if not rec.options:
            raise ValueError(
                f"predictor {pred.id!r} is in 'choice' mode but record {rec.id!r} of {dataset!r} "
                "has no options; use mode 'generate' for free-form data"
            )
        return choice_outcome(backend, rec, texts, rule=pred.rule, store=store)
    return generate_outcome(backend, rec, texts, store, pred, prices, judge=judge, judge_backend=judge_backend)
