"""FinanceBench as multiple choice (``financebench_mc``): number answers, distractors from other filings.

Checkable without an LLM judge: keep the single-evidence FinanceBench questions whose gold answer
is a short number-like value (:func:`answer_shape`: ``"currency"`` like ``$1577.00``,
``"percent"`` like ``65.4%``, ``"number"`` like ``1.73``), and offer it among ``n_options - 1``
distractors drawn from the number-like answers of questions about *other* filings
(other ``doc_name``), preferring the same shape; when fewer same-shape answers exist, other
number-like answers fill the gap (``metadata["distractor_fallback"]``).

The context is the evidence page (page text when the filing's pages are local, else the
question's ``evidence_text_full_page``) widened by whole neighbouring pages up to
``max_context_tokens`` (default 900 approx tokens, for small CPU models), exactly as
:func:`~mi_utils.data.financebench.financebench_records` builds it. The query is the
FinanceBench question unchanged.

Draws are deterministic: one numpy Generator per record seeded from ``(seed, sha256(id))``
(not Python's salted ``hash()``); records are sorted by ``financebench_id`` so ``limit`` picks
the same ones on every machine.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .financebench import financebench_records, read_financebench_sources
from .records import DataFormatError, Record, approx_token_count

__all__ = [
    "DEFAULT_MC_CONTEXT_TOKENS",
    "MAX_ANSWER_CHARS",
    "SHAPES",
    "answer_shape",
    "answer_key",
    "financebench_mc_records",
    "load_financebench_mc",
]

DEFAULT_MC_CONTEXT_TOKENS = 900
MAX_ANSWER_CHARS = 40
SHAPES: tuple[str, ...] = ("currency", "percent", "number")

_CURRENCY_UNITS = {"usd", "dollars", "dollar"}
_PERCENT_UNITS = {"percent", "per cent", "percentage points", "pp"}
_SCALE_UNITS = {"million", "millions", "billion", "billions", "thousand", "thousands", "mn", "bn", "m", "b", "k"}
_OTHER_UNITS = {"times", "x"}
_UNITS = sorted(_CURRENCY_UNITS | _PERCENT_UNITS | _SCALE_UNITS | _OTHER_UNITS, key=len, reverse=True)
_NUMBER_RE = re.compile(
    r"""^\(?\s*
    (?P<sign1>[-+\u2212]?)\s*
    (?P<cur>\$|usd\s*)?\s*
    (?P<sign2>[-+\u2212]?)\s*
    (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)\s*
    (?P<pct>%)?\s*
    (?P<units>(?:(?:"""
    + "|".join(re.escape(u) for u in _UNITS)
    + r""")\b\s*){0,2})
    \)?$""",
    re.IGNORECASE | re.VERBOSE,
)


def _match(text: str) -> re.Match[str] | None:
    s = str(text).strip().rstrip(".").strip()
    if not s or len(s) > MAX_ANSWER_CHARS:
        return None
    m = _NUMBER_RE.match(s)
    if m is None or (m["sign1"] and m["sign2"]):
        return None
    return m


def answer_shape(text: str) -> str | None:
    """Classify an answer as a short number-like value.

    Tolerates thousands commas, a sign before or after ``$``, parentheses, a trailing full stop
    and up to two trailing unit words (``million``, ``bn``, ``USD``, ``percent``, ``times``, ...).

    Args:
        text: A gold answer.

    Returns:
        ``"currency"`` (``$`` or ``USD``/``dollars``), ``"percent"`` (``%`` or ``percent``),
        ``"number"`` (a plain number), or ``None`` for anything else: prose, several numbers,
        both a currency and a percent sign, or more than :data:`MAX_ANSWER_CHARS` characters.
    """
    m = _match(text)
    if m is None:
        return None
    units = set(m["units"].lower().split())
    is_cur = bool(m["cur"]) or bool(units & _CURRENCY_UNITS)
    is_pct = bool(m["pct"]) or bool(units & {"percent", "pp", "points"}) or "per cent" in m["units"].lower()
    if is_cur and is_pct:
        return None
    return "currency" if is_cur else "percent" if is_pct else "number"


def answer_key(text: str) -> str:
    """Normalised form of an option, for duplicate checks.

    Number-like answers become ``value units`` (``$1,577.00``, ``$1577`` and ``1577`` share a key);
    anything else is lower-cased with whitespace removed.

    Args:
        text: An option string.

    Returns:
        The key.
    """
    m = _match(text)
    shape = answer_shape(text)
    if m is None or shape is None:
        return re.sub(r"\s+", "", str(text).lower())
    neg = "-" if (m["sign1"] or m["sign2"]) in ("-", "\u2212") or str(text).strip().startswith("(") else ""
    value = float(m["num"].replace(",", ""))
    units = " ".join(u for u in m["units"].lower().split() if u not in _CURRENCY_UNITS | {"percent", "%"})
    return f"{neg if value else ''}{value:g} {units}".strip()


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _pick_distractors(
    answer: str,
    shape: str,
    doc: str,
    pool: Sequence[tuple[str, str, str, str]],
    k: int,
    rng: np.random.Generator,
) -> tuple[list[tuple[str, str, str, str]], bool]:
    """``k`` distractors from ``pool`` (``(answer, shape, doc_name, financebench_id)``): other filings only,
    same shape first, distinct keys; returns them and whether other shapes were needed."""
    seen = {answer_key(answer)}
    picked: list[tuple[str, str, str, str]] = []
    fallback = False
    for same in (True, False):
        cands = [p for p in pool if p[2] != doc and (p[1] == shape) == same]
        for i in rng.permutation(len(cands)):
            if len(picked) == k:
                break
            key = answer_key(cands[i][0])
            if key not in seen:
                seen.add(key)
                picked.append(cands[i])
                fallback = fallback or not same
        if len(picked) == k:
            break
    return picked, fallback


def financebench_mc_records(
    questions: Iterable[Mapping[str, Any]],
    doc_pages: Mapping[str, Sequence[str]] | None = None,
    doc_info: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    max_context_tokens: int = DEFAULT_MC_CONTEXT_TOKENS,
    count_tokens: Callable[[str], int] = approx_token_count,
    seed: int = 0,
    n_options: int = 5,
    limit: int | None = None,
) -> list[Record]:
    """Turn FinanceBench question dicts into multiple-choice records with number answers.

    Args:
        questions: FinanceBench question dicts (see
            :func:`~mi_utils.data.financebench.financebench_records`). All of them, whatever
            their number of evidence items, feed the distractor pool; only single-evidence
            questions with a number-like answer become records.
        doc_pages: ``doc_name -> page texts`` (documents absent here use the evidence page).
        doc_info: ``doc_name -> document information``.
        max_context_tokens: Token budget of the page window (the evidence page is always kept).
        count_tokens: Token counter.
        seed: Seed of the distractor draw and option order.
        n_options: Options per question (gold + ``n_options - 1`` distractors), >= 2.
        limit: Keep the first ``limit`` qualifying records in ``financebench_id`` order.

    Returns:
        ``multiple_choice`` records (``dataset="financebench_mc"``), sorted by id. Metadata: that
        of :func:`~mi_utils.data.financebench.financebench_records` plus ``answer_shape``,
        ``distractor_ids``, ``distractor_docs``, ``distractor_shapes``, ``distractor_fallback``,
        ``seed``.

    Raises:
        ValueError: On ``n_options < 2``, ``max_context_tokens < 1``, ``limit < 0``, or when
            fewer than ``n_options - 1`` distinct number-like answers from other filings exist.
        DataFormatError: If a question lacks ``financebench_id``, ``doc_name``, ``question``,
            ``answer`` or evidence.
    """
    _check_options(n_options, max_context_tokens, limit)
    qs = _checked_questions(questions)
    pool = [
        (str(q["answer"]).strip(), shape, str(q["doc_name"]), str(q["financebench_id"]))
        for q in qs
        if (shape := answer_shape(q["answer"])) is not None
    ]
    keep = [q for q in qs if answer_shape(q["answer"]) is not None and len(q.get("evidence") or []) == 1]
    if limit is not None:
        keep = keep[:limit]
    base = financebench_records(
        keep, doc_pages, doc_info, max_context_tokens=max_context_tokens, count_tokens=count_tokens
    )
    return [_mc_record(r, pool, n_options, seed) for r in base]


def _check_options(n_options: Any, max_context_tokens: Any, limit: Any) -> None:
    """:func:`financebench_mc_records`' options checked."""
    if isinstance(n_options, bool) or not isinstance(n_options, int) or n_options < 2:
        raise ValueError(f"n_options must be an integer >= 2, got {n_options!r}")
    if isinstance(max_context_tokens, bool) or not isinstance(max_context_tokens, int) or max_context_tokens < 1:
        raise ValueError(f"max_context_tokens must be an integer >= 1, got {max_context_tokens!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be None or an integer >= 0, got {limit!r}")


def _checked_questions(questions: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The question dicts sorted by ``financebench_id``, each with its keys and evidence, ids unique."""
    qs = []
    for q in questions:
        missing = [k for k in ("financebench_id", "doc_name", "question", "answer") if k not in q]
        if missing:
            raise DataFormatError(f"FinanceBench question {q.get('financebench_id', '?')}: missing key(s) {missing}")
        if not q.get("evidence"):
            raise DataFormatError(f"FinanceBench {q['financebench_id']}: no evidence items")
        qs.append(q)
    qs.sort(key=lambda q: str(q["financebench_id"]))
    ids = [str(q["financebench_id"]) for q in qs]
    if len(set(ids)) != len(ids):
        raise DataFormatError("FinanceBench questions: duplicate financebench_id")
    return qs


def _mc_record(r: Record, pool: list[tuple[str, str, str, str]], n_options: int, seed: int) -> Record:
    """One free-form FinanceBench record as a multiple-choice one: its answer among drawn distractors."""
    answer = r.answer.strip()
    shape = answer_shape(answer)
    assert shape is not None
    rng = np.random.default_rng([int(seed), _stable_int(r.id)])
    picked, fallback = _pick_distractors(answer, shape, r.metadata["doc_name"], pool, n_options - 1, rng)
    if len(picked) < n_options - 1:
        raise ValueError(
            f"FinanceBench {r.id}: only {len(picked)} distinct number-like answers from other filings, "
            f"need {n_options - 1} distractors for n_options={n_options}"
        )
    options = [answer, *(p[0] for p in picked)]
    options = [options[i] for i in rng.permutation(len(options))]
    return Record(
        id=r.id,
        context=r.context,
        query=r.query,
        answer=answer,
        options=tuple(options),
        task="multiple_choice",
        dataset="financebench_mc",
        metadata={
            **r.metadata,
            "answer_shape": shape,
            "distractor_ids": [p[3] for p in picked],
            "distractor_docs": [p[2] for p in picked],
            "distractor_shapes": [p[1] for p in picked],
            "distractor_fallback": fallback,
            "seed": int(seed),
        },
    )


def load_financebench_mc(
    path: str | Path | None = None,
    *,
    max_context_tokens: int = DEFAULT_MC_CONTEXT_TOKENS,
    seed: int = 0,
    limit: int | None = None,
    n_options: int = 5,
    hf: bool = True,
    count_tokens: Callable[[str], int] = approx_token_count,
) -> list[Record]:
    """Load FinanceBench's number-answer questions as multiple choice (``financebench_mc``).

    Args:
        path: ``financebench_open_source.jsonl`` or its folder (default: the data roots).
        max_context_tokens: Page-window budget in approx tokens (default 900).
        seed: Seed of the distractor draw and option order.
        limit: Keep the first ``limit`` qualifying records (``financebench_id`` order).
        n_options: Options per question (default 5).
        hf: Try ``PatronusAI/financebench`` via ``datasets`` when no local file is found.
        count_tokens: Token counter.

    Returns:
        Records, see :func:`financebench_mc_records`.

    Raises:
        DataNotFoundError: If no local file is found and the Hugging Face fallback fails.
    """
    questions, doc_pages, doc_info = read_financebench_sources(path, hf=hf)
    return financebench_mc_records(
        questions,
        doc_pages,
        doc_info,
        max_context_tokens=max_context_tokens,
        count_tokens=count_tokens,
        seed=seed,
        n_options=n_options,
        limit=limit,
    )
