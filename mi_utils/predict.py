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

Over the ``M`` summaries of a record, predictions are combined by majority :func:`vote`, as in
the paper. :func:`predict_choice_records` runs the choice mode over a data set.

Model output is data. :func:`parse_answer` only ever uses ``json`` and regular expressions on
it; nothing is evaluated or executed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
from tqdm.auto import tqdm

from .backends.base import SCORER, Generation, Generator, SamplingParams, Scorer, require_role
from .prompts import PROMPT_VERSION, choice_prediction_prefix, prediction_messages
from .store import JsonlStore, make_key

__all__ = [
    "RULES",
    "ChoiceScores",
    "choice_token_pairs",
    "choose_option",
    "vote",
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
]

Rule = Literal["sum", "mean"]
RULES: tuple[str, ...] = ("sum", "mean")

#: Greedy decoding with room for the JSON explanation and answer.
DEFAULT_PREDICTION_PARAMS = SamplingParams(temperature=0.0, max_new_tokens=256)

_LETTERS = "ABCDEFGHIJ"
_MAX_PARSE_CHARS = 100_000  # longer model outputs are cut before parsing (bounded work)
_MAX_JSON_STARTS = 200  # at most this many "{" positions are tried as JSON starts


def summary_text(summary: Any) -> str:
    """The text of a summary: a :class:`~mi_utils.compress.Summary`, a str, or anything with ``.text``.

    Raises:
      TypeError: for anything else.
    """
    if isinstance(summary, str):
        return summary
    text = getattr(summary, "text", None)
    if isinstance(text, str):
        return text
    raise TypeError(f"expected a Summary or a str, got {type(summary).__name__}")


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
    def from_dict(cls, d: dict) -> "ChoiceScores":
        """Inverse of :meth:`to_dict`."""
        return cls(
            options=tuple(d["options"]),
            sum_logprobs=np.asarray(d["sum_logprobs"], dtype=np.float64),
            mean_logprobs=np.asarray(d["mean_logprobs"], dtype=np.float64),
            n_tokens=np.asarray(d["n_tokens"], dtype=np.int64),
            chosen={k: int(v) for k, v in d["chosen"].items()},
        )


def choice_token_pairs(backend: Scorer, summary: Any, query: str,
                       options: Sequence[str]) -> tuple[list[int], list[list[int]]]:
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


def vote(choices: Sequence[int | None], tiebreak_scores: Sequence[np.ndarray] | None = None) -> int | None:
    """Majority vote over the predictions from a record's M summaries (the paper's aggregation).

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


@dataclass
class PredictionResult:
    """A record's prediction from its M summaries.

    Attributes:
      record_id: the record.
      rule: ``"sum"`` or ``"mean"``, the scoring rule used for the per-summary choices.
      choices: the option chosen from each summary.
      prediction: the majority vote (:func:`vote`, ties by summed scores).
      correct: ``options[prediction] == answer`` (None when the record has no answer options).
      per_summary_correct: correctness of each summary's own choice.
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
    def from_row(cls, row: dict) -> "PredictionResult":
        names = cls.__dataclass_fields__
        d = {k: v for k, v in row.items() if k in names}
        d["scores"] = [ChoiceScores.from_dict(s) for s in d.get("scores", [])]
        return cls(**d)


def _is_correct(index: int | None, record) -> bool:
    return index is not None and record.options[index] == record.answer


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
        key = make_key(kind="choice", record=rec.id, predictor=name, query=rec.query, options=list(rec.options),
                       summaries=texts, prompt=PROMPT_VERSION)
        row = st.get(key) if st is not None and key in st else None
        scores = [ChoiceScores.from_dict(s) for s in row["scores"]] if row is not None else _choose_many(
            backend, texts, rec.query, rec.options)
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
                correct=_is_correct(pred, rec),
                per_summary_correct=[_is_correct(c, rec) for c in choices],
                scores=scores,
                predictor=name,
            )
        )
    return out


# ============================================================================ answer parsing
@dataclass
class ParsedAnswer:
    """What could be read from a predictor's reply.

    Attributes:
      answer: the answer text (``None`` when none was found).
      index: the option index for multiple choice (``None`` when free form or unmatched).
      explanation: the ``"explanation"`` field when the reply was JSON.
      method: how the answer was found: ``"json"``, ``"regex"`` (an ``answer: ...`` line or a
        malformed JSON field), ``"raw"`` (the whole reply) or ``"none"``.
      parse_error: why parsing was incomplete (no answer, or no option matched); ``None`` when
        the answer (and, for multiple choice, the option) was read unambiguously.
    """

    answer: str | None
    index: int | None = None
    explanation: str | None = None
    method: str = "none"
    parse_error: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing went wrong parsing."""
        return self.parse_error is None


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_PARSE_CHARS else text[:_MAX_PARSE_CHARS]


def extract_json_objects(text: str) -> list[dict]:
    """Every JSON object found anywhere in ``text`` (code fences, prose around it are fine).

    Tries ``json`` decoding at each ``{``; an object that fails is retried once after
    conservative repairs (trailing commas removed; single quotes turned into double quotes
    when the object has no double quotes). Nested objects inside a decoded one are not
    reported separately. Only ``json.loads``-style decoding is used.
    """
    text = _clip(text)
    dec = json.JSONDecoder()
    found: list[dict] = []
    pos, tries = 0, 0
    while tries < _MAX_JSON_STARTS:
        start = text.find("{", pos)
        if start < 0:
            break
        tries += 1
        obj, end = _decode_at(dec, text, start)
        if isinstance(obj, dict):
            found.append(obj)
            pos = end
        else:
            pos = start + 1
    return found


def _decode_at(dec: json.JSONDecoder, text: str, start: int) -> tuple[Any, int]:
    try:
        return dec.raw_decode(text, start)
    except (ValueError, RecursionError):
        pass
    span = _balanced_span(text, start)
    if span is None:
        return None, start + 1
    chunk = text[start:span]
    repaired = re.sub(r",\s*([}\]])", r"\1", chunk)
    if '"' not in repaired:
        repaired = repaired.replace("'", '"')
    repaired = re.sub(r"\b(True|False|None)\b", lambda m: {"True": "true", "False": "false", "None": "null"}[m[1]], repaired)
    try:
        return json.loads(repaired), span
    except (ValueError, RecursionError):
        return None, start + 1


def _balanced_span(text: str, start: int) -> int | None:
    """End (exclusive) of the brace-balanced block starting at ``text[start] == "{"``."""
    depth, quote, esc = 0, None, False
    for i in range(start, min(len(text), start + 20_000)):
        ch = text[i]
        if quote:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            # an apostrophe inside a word ("patient's") does not open a string
            if ch == "'" and i > 0 and text[i - 1].isalnum():
                continue
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _value_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, list) and len(v) == 1:
        return _value_text(v[0])
    return json.dumps(v, ensure_ascii=False)


def _get_ci(d: dict, key: str) -> tuple[bool, Any]:
    for k, v in d.items():
        if isinstance(k, str) and k.strip().lower() == key:
            return True, v
    return False, None


# "answer": "...", 'answer': '...', answer: ..., final answer = ..., the answer is ...
_FIELD_RE = re.compile(
    r"""["']?(?:final[\s_]+)?answer["']?\s*(?:[:=]|\bis\b:?)\s*(?P<q>["']?)(?P<val>[^\n]*)""",
    re.IGNORECASE,
)


def _regex_answer(text: str) -> str | None:
    for m in _FIELD_RE.finditer(text):
        val, q = m["val"], m["q"]
        if q:
            end = val.find(q)
            # closing quote found: take up to it; otherwise a truncated reply, take the line
            val = val[:end] if end >= 0 else val
        val = val.strip().rstrip(",}").strip().strip("\"'`*").strip()
        if val:
            return val
    return None


def _norm(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).casefold()
    s = re.sub(r"\s+", " ", s)
    return s.strip(" \t\n\"'`*.,;:!?")


_LETTER_PATTERNS = (
    # the whole answer is a letter: "B", "(B)", "B.", "B)", "[B]", "Option B", "Choice (c)", "Answer: B"
    re.compile(r"^(?:(?:the\s+)?(?:correct\s+)?(?:answer|option|choice)\s*(?:is\s*)?[:=]?\s*)?[\(\[]?([A-J])[\)\]]?\s*[.:)]?$", re.I),
)
# a letter leading option text: "B. 50 mg", "(B) 50 mg", "B) 50 mg", "Option B: 50 mg"
_LEAD_RE = re.compile(r"^(?:(?i:option|choice)\s+)?(?:\(([A-J])\)|([A-J])\s*[.):]|([A-J])\s+-)\s*(?P<rest>.+)$", re.S)
_LEAD_OPTION_RE = re.compile(r"^(?i:option|choice)\s+\(?([A-Ja-j])\)?(?![\w'])\s*[.:)-]?\s*(?P<rest>.*)$", re.S)
# a letter referred to inside prose: "the answer is (B)", "option C is correct"
_INLINE_RE = re.compile(
    r"(?:\(([A-J])\)|\b(?i:option|choice|answer(?:\s+is)?)\s*:?\s*\(?([A-J])\)?(?![\w'])|\b([A-J])\)(?=\s|$))"
)


def _letter_index(letter: str, k: int) -> int | None:
    i = _LETTERS.index(letter.upper())
    return i if i < k else None


def _text_match(a: str, normed: Sequence[str], options: Sequence[str]) -> tuple[int | None, str | None]:
    """Match normalised answer text to normalised options: exact, contained, or containing."""
    exact = [i for i, o in enumerate(normed) if o == a]
    if len(exact) == 1:
        return exact[0], None
    if exact:
        return None, f"answer matches several identical options {exact}"
    if not a:
        return None, None
    compact = [i for i, o in enumerate(normed) if o.replace(" ", "") == a.replace(" ", "")]
    if len(compact) == 1:  # "50mg" == "50 mg"
        return compact[0], None
    # option text inside the answer: the longest one, if every other hit is part of it
    inside = [i for i, o in enumerate(normed) if o and re.search(r"(?<!\w)" + re.escape(o) + r"(?!\w)", a)]
    if inside:
        longest = max(inside, key=lambda i: len(normed[i]))
        if all(normed[j] in normed[longest] for j in inside) and sum(normed[j] == normed[longest] for j in inside) == 1:
            return longest, None
        return None, f"answer mentions several options {[options[i] for i in inside]}"
    if len(a) >= 3:
        containing = [i for i, o in enumerate(normed) if re.search(r"(?<!\w)" + re.escape(a) + r"(?!\w)", o)]
        if len(containing) == 1:
            return containing[0], None
        if len(containing) > 1:
            return None, f"answer is part of several options {[options[i] for i in containing]}"
    return None, None


def match_option(answer: str, options: Sequence[str]) -> tuple[int | None, str | None]:
    """Map an answer to an option index.

    In order: a bare letter ("B", "(B)", "B.", "Option C", "answer: b"); a letter leading option
    text ("B. 50 mg", capital letters only; rejected when the text names a *different* option); the option text
    (case-, space- and edge-punctuation-insensitive); the longest option contained in the
    answer, or the only option containing the answer (at least 3 characters), when unique; a
    letter named inside prose ("the answer is (C)") when exactly one is named.

    Returns:
      ``(index, None)`` on success, ``(None, reason)`` otherwise.
    """
    k = len(options)
    if k == 0:
        return None, "no options to match against"
    raw = answer.strip()
    if not raw:
        return None, "empty answer"
    normed = [_norm(o) for o in options]
    a = _norm(raw)

    for pat in _LETTER_PATTERNS:
        m = pat.match(raw.strip().strip("*`\"'").strip())
        if m:
            i = _letter_index(m[1], k)
            if i is None:
                return None, f"letter {m[1].upper()} is out of range for {k} options"
            return i, None

    if a in normed:
        return _text_match(a, normed, options)

    for rx in (_LEAD_OPTION_RE, _LEAD_RE):
        m = rx.match(raw)
        if m:
            letter = next(g for g in m.groups()[:-1] if g)
            i = _letter_index(letter, k)
            if i is None:
                break  # "J. Smith" with 4 options: not a letter; try the text
            others = {next(g for g in x.groups() if g).upper() for x in _INLINE_RE.finditer(m["rest"])}
            others = {x for x in others if x != letter.upper() and _letter_index(x, k) is not None}
            if others:
                return None, f"answer names several option letters {sorted(others | {letter.upper()})}"
            hit, _ = _text_match(_norm(m["rest"]), normed, options)
            if hit is not None and hit != i:
                return None, (
                    f"letter {letter.upper()} conflicts with the text after it, which names option "
                    f"{_LETTERS[hit]} ({options[hit]!r})"
                )
            return i, None

    hit, why = _text_match(a, normed, options)
    if hit is not None:
        return hit, None
    if why is not None:
        return None, why

    letters = {next(g for g in m.groups() if g).upper() for m in _INLINE_RE.finditer(raw)}
    letters = {x for x in letters if _letter_index(x, k) is not None}
    if len(letters) == 1:
        return _letter_index(letters.pop(), k), None
    if len(letters) > 1:
        return None, f"answer names several option letters {sorted(letters)}"
    return None, f"answer {raw[:80]!r} matches no option letter or option text"


def parse_answer(text: str, options: Sequence[str] | None = None) -> ParsedAnswer:
    """Read the answer from a predictor's reply. Never raises on any string; never evaluates it.

    Looks, in order, for a JSON object with an ``"answer"`` key anywhere in the text (code
    fences and prose around it are fine; trailing commas and single quotes are tolerated), then
    an ``answer: ...`` / ``answer = ...`` / ``the answer is ...`` line (this also recovers a JSON
    reply cut off by ``max_new_tokens``), then, for multiple choice only, the whole reply. For
    free form the whole stripped reply is returned as ``method="raw"`` *with* a ``parse_error``
    saying so. For multiple choice the answer is mapped to an option by :func:`match_option`;
    when that fails ``index`` is ``None`` and ``parse_error`` says why (no silent guess).

    Args:
      text: the model's reply.
      options: the answer options for multiple choice, else ``None``.

    Returns:
      A :class:`ParsedAnswer`.
    """
    if not isinstance(text, str):
        return ParsedAnswer(None, parse_error=f"reply is not a string ({type(text).__name__})")
    text = _clip(text)
    if not text.strip():
        return ParsedAnswer(None, parse_error="empty reply")

    answer, explanation, method, note = None, None, "none", None
    for obj in extract_json_objects(text):
        has, val = _get_ci(obj, "answer")
        if has:
            answer = _value_text(val)
            _, expl = _get_ci(obj, "explanation")
            explanation = _value_text(expl)
            method = "json"
            if answer is None or answer == "":
                note = "the JSON 'answer' field is empty or null"
            break
    if method == "none":
        answer = _regex_answer(text)
        if answer is not None:
            method = "regex"
    if method == "none":
        answer, method = text.strip(), "raw"
        if not options:
            note = "no JSON 'answer' field or 'answer:' line; the whole reply is taken as the answer"

    if not options:
        return ParsedAnswer(answer or None, None, explanation, method, note)
    if not answer:
        return ParsedAnswer(answer or None, None, explanation, method, note or "no answer found")
    index, why = match_option(answer, options)
    if index is None and method == "raw":
        why = f"no JSON 'answer' field or 'answer:' line, and the reply itself does not name an option ({why})"
    return ParsedAnswer(answer, index, explanation, method, why)


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
