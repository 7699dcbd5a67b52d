"""Grading predictions: multiple-choice accuracy, free-form judging, reference perplexity.

* Multiple choice: :func:`mc_correct` (the chosen option's text equals the reference answer) is
  the one multiple-choice correctness rule (the predictor and the runner use it), and
  :func:`accuracy`.
* Free form: :func:`normalized_match` is the cheap, offline default (lower-case, punctuation and
  articles stripped, numbers compared with rounding tolerance: ``"$1,577 million"`` matches
  ``"1577"`` and ``"1.58 billion"``). :func:`judge_free_form` is the paper's LLM-as-judge
  (gpt-4o-mini at temperature 0 there) through *any* backend with ``generate``; it is never
  needed offline.
* Query-agnostic tasks (WildChat, FineWeb): :func:`reference_perplexity` is the perplexity of the
  reference answer under a scorer model that reads only the summary and the query.
* The no-compression baseline: :func:`truncate_context` fits the raw context into a predictor's
  window, warning when it has to cut.
* One record's grading in the runner (stores passed in; verdicts and perplexities are stored and
  reused on resume): :func:`judge_answers` (the judge's verdicts, its ``unparsed`` policy and API
  cost) and :func:`perplexity_outcome` (the reference perplexity row fields).

Errors are loud: empty inputs, non-finite log-probs and unparsed verdicts raise or are marked,
never turned into a silent NaN.

The text normaliser :func:`normalize_text` and the judge-reply parser :func:`parse_verdict` live in
:mod:`mi_utils.answers` (with the rest of the parsing of model output) and are re-exported here.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .answers import normalize_text, parse_verdict
from .backends.base import SCORER, Generator, SamplingParams, Scorer, require_role
from .backends.registry import backend_entry
from .prompts import JUDGE_PROMPT, PROMPT_VERSION, choice_prediction_prefix
from .store import JsonlStore, make_key
from .summaries import summary_text

__all__ = [
    "mc_correct",
    "accuracy",
    "normalize_text",
    "normalized_match",
    "token_f1",
    "JUDGE_PROMPT",
    "DEFAULT_JUDGE_PARAMS",
    "JudgeResult",
    "parse_verdict",
    "judge_free_form",
    "judge_many",
    "perplexity",
    "reference_token_pairs",
    "reference_logprobs",
    "reference_perplexity",
    "reference_perplexities",
    "ContextTruncatedWarning",
    "truncate_context",
    "judge_answers",
    "perplexity_outcome",
]


# ================================================================================ accuracy
def mc_correct(index: int | None, record) -> bool:
    """Whether option ``index`` of a multiple-choice record is its reference answer.

    Compares option *text* (``record.options[index] == record.answer``), so duplicated options
    count as correct wherever they sit. ``None`` (no parsable answer) is wrong.

    Raises:
      ValueError: the record is not multiple choice, or ``index`` is out of range.
    """
    options = getattr(record, "options", None)
    if not options:
        raise ValueError(
            f"record {getattr(record, 'id', '?')!r} has no options; mc_correct is for multiple choice "
            "(use normalized_match or judge_free_form for free-form answers)"
        )
    if index is None:
        return False
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
        raise ValueError(f"index must be an int option position or None, got {index!r}")
    if not 0 <= index < len(options):
        raise ValueError(f"index {index} is out of range for record {record.id!r} with {len(options)} options")
    return options[int(index)] == record.answer


def accuracy(values: Iterable[bool | int | None]) -> float:
    """Fraction of correct predictions.

    Args:
      values: booleans (or 0/1) — one per prediction.

    Raises:
      ValueError: no values (accuracy of nothing is undefined: check the records were loaded),
        a ``None`` (an unparsed judge verdict: decide how to count it, e.g. ``bool(r.correct)``,
        or drop it), or a value that is not a boolean.
    """
    vals = list(values)
    if not vals:
        raise ValueError("accuracy() got no values; there is nothing to grade (empty record list?)")
    n_none = sum(v is None for v in vals)
    if n_none:
        raise ValueError(
            f"{n_none} of {len(vals)} values are None (unparsed verdicts or predictions); count them "
            "explicitly as wrong (`bool(v)`) or drop them before calling accuracy()"
        )
    out = []
    for v in vals:
        if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer, float)) and v in (0, 1)):
            out.append(bool(v))
        else:
            raise ValueError(f"accuracy() takes booleans (or 0/1), got {v!r}")
    return float(np.mean(out))


# ===================================================================== normalised matching
_SCALES = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "mm": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "tn": 1e12,
}
_NUM_RE = re.compile(
    r"(?<![\w.])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s*(?P<scale>thousand|millions?|billions?|trillion|mn|mm|bn|tn|k|m|b)\b)?"
    r"(?P<pct>\s*(?:%|percent\b))?",
    re.IGNORECASE,
)
# words that may sit around a number in a purely numeric answer
_NUMERIC_FILLER = {
    "usd",
    "us",
    "dollars",
    "dollar",
    "eur",
    "euro",
    "euros",
    "gbp",
    "pounds",
    "percent",
    "approximately",
    "about",
    "around",
    "roughly",
    "approx",
    "of",
    "total",
} | set(_SCALES)


@dataclass(frozen=True)
class _Number:
    value: float  # the written mantissa ("1,577 million" -> 1577.0)
    scale: float  # 1e6 for "million"; 1.0 when no scale word
    decimals: int
    sig: int  # significant digits written

    @property
    def full(self) -> float:
        return self.value * self.scale

    def half_ulp(self, scaled: bool) -> float:
        return 0.5 * 10.0 ** (-self.decimals) * (self.scale if scaled else 1.0)


def _numbers(text: str) -> list[_Number]:
    out = []
    for m in _NUM_RE.finditer(unicodedata.normalize("NFKC", text)):
        digits = m["num"].replace(",", "")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        sig = len(digits.replace(".", "").lstrip("0")) or 1
        scale = _SCALES.get((m["scale"] or "").lower(), 1.0)
        out.append(_Number(float(digits), scale, decimals, sig))
    return out


def _close(a: float, b: float, ua: float, ub: float, sig_a: int, sig_b: int, rel_tol: float) -> bool:
    # rounding tolerance of the less precise number, if it was written with >= 2 significant digits
    tol_r = max((ua, sig_a), (ub, sig_b))
    tol = tol_r[0] if tol_r[1] >= 2 else 0.0
    return abs(a - b) <= tol + rel_tol * max(abs(a), abs(b)) + 1e-12


def _numbers_match(p: _Number, r: _Number, rel_tol: float) -> bool:
    if _close(p.full, r.full, p.half_ulp(True), r.half_ulp(True), p.sig, r.sig, rel_tol):
        return True
    if p.scale == 1.0 or r.scale == 1.0:  # "1577" for "$1,577 million": units left implicit
        return _close(p.value, r.value, p.half_ulp(False), r.half_ulp(False), p.sig, r.sig, rel_tol)
    return False


def _is_numeric_answer(text: str) -> bool:
    """True when the text is one number with only currency, scale or percent words around it."""
    if len(_numbers(text)) != 1:
        return False
    rest = _NUM_RE.sub(" ", unicodedata.normalize("NFKC", text))
    words = normalize_text(rest.replace("$", " ").replace("€", " ").replace("£", " ")).split()
    return all(w in _NUMERIC_FILLER for w in words)


def normalized_match(prediction: str | None, reference: str, *, contains: bool = True, rel_tol: float = 1e-6) -> bool:
    """Cheap, LM-free correctness check for free-form answers (the offline default).

    Rules, in order:

    1. equal after :func:`normalize_text`;
    2. a numeric reference (one number plus only currency / scale / percent words, e.g.
       ``"$1,577 million"``) matches when any number in the prediction equals it, with the
       scale word applied (``"1.577 billion"``) or left implicit (``"1577"``), within the
       rounding of the less precise of the two when that one has at least two significant
       digits (``"1.58 billion"`` matches, ``"2 billion"`` does not), plus ``rel_tol``;
    3. with ``contains=True``: the normalised reference appears as whole words in the
       normalised prediction (``"the dose is 50 mg twice daily"`` matches ``"50 mg twice
       daily"``); a yes/no/true/false reference must instead be the prediction's first word.

    Lenient by design (like SQuAD's normalised match); use :func:`judge_free_form` where a
    paraphrase or a contradiction around the right words matters.

    Args:
      prediction: the predicted answer (``None`` counts as wrong).
      reference: the reference answer.
      contains: allow rule 3.
      rel_tol: extra relative tolerance for numbers.

    Raises:
      ValueError: an empty reference (nothing to match against).
    """
    if not isinstance(reference, str) or not normalize_text(reference):
        raise ValueError(f"reference {reference!r} is empty after normalisation; nothing to match against")
    if prediction is None or not isinstance(prediction, str):
        return False
    p, r = normalize_text(prediction), normalize_text(reference)
    if not p:
        return False
    if p == r:
        return True
    if _is_numeric_answer(reference):
        (rn,) = _numbers(reference)
        if any(_numbers_match(pn, rn, rel_tol) for pn in _numbers(prediction)):
            return True
    if contains:
        if r in {"yes", "no", "true", "false"}:
            return p.split()[0] == r
        return re.search(r"(?<!\S)" + re.escape(r) + r"(?!\S)", p) is not None
    return False


def token_f1(prediction: str | None, reference: str) -> float:
    """SQuAD-style token F1 between normalised prediction and reference (0 for ``None``).

    Raises:
      ValueError: an empty reference.
    """
    ref = normalize_text(reference).split() if isinstance(reference, str) else []
    if not ref:
        raise ValueError(f"reference {reference!r} is empty after normalisation; token F1 is undefined")
    pred = normalize_text(prediction).split() if isinstance(prediction, str) else []
    if not pred:
        return 0.0
    common: dict[str, int] = {}
    for t in pred:
        common[t] = common.get(t, 0) + 1
    overlap = 0
    for t in ref:
        if common.get(t, 0) > 0:
            overlap += 1
            common[t] -= 1
    if overlap == 0:
        return 0.0
    prec, rec = overlap / len(pred), overlap / len(ref)
    return 2 * prec * rec / (prec + rec)


# ===================================================================================== judge
#: The paper judged at temperature 0; greedy here, with room for the one-sentence reason.
DEFAULT_JUDGE_PARAMS = SamplingParams(temperature=0.0, max_new_tokens=128)


@dataclass
class JudgeResult:
    """An LLM judge's verdict.

    Attributes:
      correct: the verdict; ``None`` when it could not be parsed (see ``parse_error``).
      reason: the judge's reason (or why no judge was asked).
      raw: the judge's raw reply (``""`` when no judge was asked).
      parse_error: why the verdict could not be read, else ``None``.
      judge: the judge's model name.
      meta: the generation's metadata (seed, ...).
      prompt_tokens, output_tokens: the judge call's token counts (cost accounting; 0 when no
        judge was asked).
    """

    correct: bool | None
    reason: str | None = None
    raw: str = ""
    parse_error: str | None = None
    judge: str = ""
    meta: dict = field(default_factory=dict)
    prompt_tokens: int = 0
    output_tokens: int = 0


def judge_many(
    judge_backend: Generator,
    items: Sequence[tuple[str, str, str | None]],
    params: SamplingParams = DEFAULT_JUDGE_PARAMS,
    *,
    prompt: str = JUDGE_PROMPT,
    system: str | None = None,
) -> list[JudgeResult]:
    """:func:`judge_free_form` for many ``(query, reference, prediction)`` triples, one ``generate`` call."""
    if params.n != 1:
        raise ValueError(f"a judge gives one verdict per item (params.n={params.n}); set n=1")
    for name in ("query", "reference", "prediction"):
        if "{" + name + "}" not in prompt:
            raise ValueError(f"the judge prompt must contain the {{{name}}} field")
    name = judge_backend.model_name
    results: list[JudgeResult | None] = [None] * len(items)
    prompts, where = [], []
    for k, (query, reference, prediction) in enumerate(items):
        if prediction is None or not str(prediction).strip():
            results[k] = JudgeResult(
                False, "no prediction was parsed; counted as wrong without asking the judge", judge=name
            )
            continue
        content = prompt.format(query=query, reference=reference, prediction=prediction)
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
        prompts.append(msgs)
        where.append(k)
    if prompts:
        gens = judge_backend.generate(prompts, params)
        if len(gens) != len(prompts):
            raise RuntimeError(f"{name}.generate returned {len(gens)} results for {len(prompts)} prompts")
        for k, g in zip(where, gens):
            text = g[0].text if g else ""
            correct, reason, err = parse_verdict(text)
            results[k] = JudgeResult(
                correct,
                reason,
                text,
                err,
                name,
                dict(g[0].meta) if g else {},
                int(g[0].prompt_tokens or 0) if g else 0,
                int(g[0].output_tokens or 0) if g else 0,
            )
    return results  # type: ignore[return-value]


def judge_free_form(
    judge_backend: Generator,
    query: str,
    reference: str,
    prediction: str | None,
    params: SamplingParams = DEFAULT_JUDGE_PARAMS,
    *,
    prompt: str = JUDGE_PROMPT,
    system: str | None = None,
) -> JudgeResult:
    """Ask an LLM judge whether a free-form prediction matches the reference.

    The paper used gpt-4o-mini at temperature 0 (e.g. ``OpenAIChatBackend("gpt-4o-mini")``);
    any backend with ``generate`` works (a local model, vLLM, an OpenAI-compatible server).
    Offline, use :func:`normalized_match` instead.

    Args:
      judge_backend: the judge.
      query: the question.
      reference: the reference answer.
      prediction: the predicted answer; ``None`` or empty is wrong without a judge call.
      params: sampling; default greedy, 128 new tokens.
      prompt: a template with ``{query}``, ``{reference}`` and ``{prediction}`` that asks for
        ``{"correct": true/false, "reason": ...}``.
      system: optional system message.

    Returns:
      A :class:`JudgeResult`; ``correct`` is ``None`` when the reply could not be parsed.
    """
    return judge_many(judge_backend, [(query, reference, prediction)], params, prompt=prompt, system=system)[0]


# ================================================================================ perplexity
def perplexity(logprobs: Sequence[float] | np.ndarray) -> float:
    """``exp(-mean(logprobs))`` of per-token log-probs (nats).

    Raises:
      ValueError: no tokens, non-finite values (a scorer overflow: use float32/bfloat16), or a
        positive log-prob (negative log-likelihoods passed by mistake?).
    """
    try:
        lp = np.asarray(logprobs, dtype=np.float64).ravel()
    except (TypeError, ValueError) as e:
        raise ValueError(f"perplexity() takes one flat sequence of per-token log-probs ({e})") from e
    if lp.size == 0:
        raise ValueError("perplexity() got no log-probs; the scored continuation has no tokens")
    if not np.all(np.isfinite(lp)):
        raise ValueError("log-probs contain NaN or inf; check the scorer (float16 overflow? use float32 or bfloat16)")
    if np.any(lp > 1e-6):
        raise ValueError("log-probs must be <= 0 (nats); were negative log-likelihoods passed?")
    return float(math.exp(-lp.mean()))


def _reference_pair(
    scorer: Scorer, summary: Any, query: str, answer: str, prefix_fn: Callable[[str, str], str]
) -> tuple[list[int], list[int]]:
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError("the reference answer is empty; there are no tokens to score")
    require_role(scorer, SCORER, "reference perplexity")
    prefix = list(scorer.bos_ids) + list(scorer.encode(prefix_fn(summary_text(summary), query)))
    cont = list(scorer.encode(" " + answer.strip()))
    return prefix, cont


def reference_token_pairs(
    scorer: Scorer,
    summaries: Sequence[Any],
    query: str,
    answer: str,
    *,
    prefix_fn: Callable[[str, str], str] = choice_prediction_prefix,
) -> list[tuple[list[int], list[int]]]:
    """``(prefix, continuation)`` ids for scoring ``answer`` after each summary and the query.

    The prefix is ``BOS? + prefix_fn(summary, query)`` (default: the choice-mode prompt ending in
    ``"Answer:"``); the continuation is ``" " + answer`` tokenised on its own, so the answer's
    tokens are identical whatever the summary.
    """
    return [_reference_pair(scorer, s, query, answer, prefix_fn) for s in summaries]


def reference_logprobs(
    scorer,
    summary: Any,
    query: str,
    answer: str,
    *,
    prefix_fn: Callable[[str, str], str] = choice_prediction_prefix,
) -> np.ndarray:
    """Per-token log-probs (nats) of the reference answer given the summary and query."""
    (pair,) = reference_token_pairs(scorer, [summary], query, answer, prefix_fn=prefix_fn)
    return np.asarray(scorer.score([pair])[0], dtype=np.float64)


def reference_perplexity(
    scorer,
    summary: Any,
    query: str,
    answer: str,
    *,
    prefix_fn: Callable[[str, str], str] = choice_prediction_prefix,
) -> float:
    """Perplexity of the reference answer under ``scorer`` given only the summary and query.

    The paper's metric for query-agnostic compression (WildChat, FineWeb): the lower it is, the
    more of what the answer needs the summary kept.

    Args:
      scorer: a local scorer (``encode``, ``score``, ``bos_ids``).
      summary: the summary Z (``Summary`` or str).
      query: the query or instruction.
      answer: the reference text Y.
      prefix_fn: builds the text before the answer from ``(summary, query)``.

    Returns:
      ``exp(-mean log p(y_t | summary, query, y_<t))``.
    """
    return perplexity(reference_logprobs(scorer, summary, query, answer, prefix_fn=prefix_fn))


def reference_perplexities(
    scorer,
    summaries: Sequence[Any],
    query: str,
    answer: str,
    *,
    prefix_fn: Callable[[str, str], str] = choice_prediction_prefix,
) -> np.ndarray:
    """:func:`reference_perplexity` for several summaries of one record, in one ``score`` call."""
    pairs = reference_token_pairs(scorer, summaries, query, answer, prefix_fn=prefix_fn)
    if not pairs:
        return np.empty(0, dtype=np.float64)
    return np.array([perplexity(lp) for lp in scorer.score(pairs)], dtype=np.float64)


# ============================================================================ no compression
class ContextTruncatedWarning(UserWarning):
    """The raw context did not fit the predictor's limit and was cut."""


def truncate_context(
    tokenizer, text: str, max_tokens: int, *, side: Literal["head", "tail"] = "head"
) -> tuple[str, bool]:
    """Fit a raw context into ``max_tokens`` tokens for the no-compression baseline.

    Args:
      tokenizer: a transformers tokenizer (a scorer's ``.tokenizer``).
      text: the context.
      max_tokens: the token budget (leave room for the prompt and the answer yourself).
      side: ``"head"`` keeps the beginning, ``"tail"`` the end.

    Returns:
      ``(text, truncated)``; ``text`` is unchanged when it fits. When cut, a
      :class:`ContextTruncatedWarning` names the context's length and the limit.

    Raises:
      ValueError: ``max_tokens < 1`` or an unknown ``side``.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if side not in ("head", "tail"):
        raise ValueError(f"side must be 'head' or 'tail', got {side!r}")
    if not callable(tokenizer):
        raise TypeError(
            f"tokenizer must be a transformers tokenizer (e.g. a scorer's .tokenizer), got {type(tokenizer).__name__}"
        )

    def encode(s: str) -> list[int]:
        return list(tokenizer(s, add_special_tokens=False)["input_ids"])

    decode = tokenizer.decode
    ids = encode(text)
    n = len(ids)
    if n <= max_tokens:
        return text, False
    keep = max_tokens
    for _ in range(8):  # re-encoding decoded text can merge/split tokens: shrink until it fits
        cut = ids[:keep] if side == "head" else ids[n - keep :]
        out = decode(cut)
        m = len(encode(out))
        if m <= max_tokens:
            break
        keep -= m - max_tokens
    warnings.warn(
        f"context of {n} tokens exceeds the limit of {max_tokens} tokens; keeping the "
        f"{'first' if side == 'head' else 'last'} {max_tokens} (the no-compression predictor sees "
        f"{100 * max_tokens / n:.0f}% of it)",
        ContextTruncatedWarning,
        stacklevel=2,
    )
    return out, True


# ======================================================================= one record's grading
# The runner's grading of one record (stores and settings passed in, no runner state): the
# judge's verdicts on free-form answers, and the reference perplexity of query-agnostic records.
def judge_answers(
    judge_backend: Generator, judge, rec, answers: list, store: JsonlStore, prices
) -> tuple[list[bool], int, float]:
    """Judge each free-form answer of a record (stored); unparsed verdicts follow the judge's policy.

    Args:
      judge_backend: the judge model (any backend with ``generate``).
      judge: its config (:class:`mi_utils.config.JudgeConfig`: ``key_dict()``, ``model``,
        ``backend``, ``max_new_tokens`` and the ``unparsed`` policy ``match`` / ``wrong`` / ``error``).
      rec: the record (``id``, ``query``, ``answer``).
      answers: the parsed answers, one per summary.
      store: the prediction store; the verdicts are reused from it when they are there.
      prices: a :class:`mi_utils.costs.PriceTable` for the judge's API cost.

    Returns:
      ``(correct per answer, number of unparsed verdicts, the judge's API cost in USD)``.

    Raises:
      ValueError: a verdict could not be read and the policy is ``error``.
    """
    params = dataclasses.replace(DEFAULT_JUDGE_PARAMS, max_new_tokens=judge.max_new_tokens)
    key = make_key(
        kind="judge",
        record=rec.id,
        judge=judge.key_dict(),
        query=rec.query,
        reference=rec.answer,
        answers=answers,
        params=params.to_dict(),
        prompt=PROMPT_VERSION,
        version=2,
    )
    row = store.get(key) if key in store else None
    if row is None:
        res = judge_many(judge_backend, [(rec.query, rec.answer, a) for a in answers], params)
        row = {
            "key": key,
            "record_id": rec.id,
            "verdicts": [r.correct for r in res],
            "replies": [r.raw for r in res],
            "errors": [r.parse_error for r in res],
            "usage": [[r.prompt_tokens or 0, r.output_tokens or 0] for r in res],
        }
        store.append(row)
    correct, unparsed = [], 0
    for a, verdict, reply in zip(answers, row["verdicts"], row["replies"]):
        if verdict is None:
            unparsed += 1
            if judge.unparsed == "error":
                raise ValueError(
                    f"the judge's reply for record {rec.id!r} (answer {a!r}) states no verdict: "
                    f"{reply[:200]!r}; set judge.unparsed to 'match' or 'wrong' to count such replies"
                )
            verdict = bool(a) and normalized_match(a, rec.answer) if judge.unparsed == "match" else False
        correct.append(bool(verdict))
    tokens = np.sum(row["usage"], axis=0) if row["usage"] else (0, 0)
    cost = prices.cost(judge.model, int(tokens[0]), int(tokens[1]), local=not backend_entry(judge.backend).priced)
    return correct, unparsed, cost


def perplexity_outcome(backend: Scorer, rec, texts: list[str], store: JsonlStore, pred) -> dict:
    """Perplexity of a record's reference answer given each summary (stored), averaged.

    Args:
      backend: the predictor, a scorer.
      rec: the record (``id``, ``query``, ``answer``, ``dataset``).
      texts: the summaries' texts.
      store: the prediction store; the perplexities are reused from it when they are there.
      pred: the predictor's config (``id``, ``backend``, ``key_dict()``).

    Returns:
      the row fields ``perplexity`` (mean over summaries), ``cost_usd`` (0) and ``answers`` (None).

    Raises:
      ValueError: the predictor's backend has no scorer role (a chat API cannot score a given continuation).
    """
    entry = backend_entry(pred.backend)
    if SCORER not in entry.roles:
        raise ValueError(
            f"predictor {pred.id!r} (backend {pred.backend!r}) is not a scorer and cannot score the reference "
            f"of perplexity task records ({rec.dataset!r}){entry.note}; use a local or vLLM predictor for them"
        )
    key = make_key(
        kind="perplexity",
        record=rec.id,
        predictor=pred.key_dict(),
        query=rec.query,
        answer=rec.answer,
        summaries=texts,
        prompt=PROMPT_VERSION,
    )
    row = store.get(key) if key in store else None
    if row is None:
        row = {
            "key": key,
            "record_id": rec.id,
            "perplexity": reference_perplexities(backend, texts, rec.query, rec.answer).tolist(),
        }
        store.append(row)
    return {"perplexity": float(np.mean(row["perplexity"])), "cost_usd": 0.0, "answers": None}
