"""Parsing model output: a predictor's reply into an answer, a judge's reply into a verdict.

What lives here:

* :func:`parse_answer` reads the answer (and, for multiple choice, the option via
  :func:`match_option`) from a predictor's reply into a :class:`ParsedAnswer`.
* :func:`parse_verdict` reads ``(correct, reason, parse_error)`` from an LLM judge's reply;
  :func:`parse_bool` reads a yes/no field (also the ``relevant`` field of :mod:`mi_utils.deep_research.extract`).
* :func:`extract_json_objects` finds the JSON objects in any reply (also used by
  :mod:`mi_utils.deep_research.race` and :mod:`mi_utils.deep_research.plan`).
* :func:`normalize_text` is the one text normaliser: free-form matching, voting over free-form
  answers and option-text matching all go through it (in the two modes its docstring names).

Model output is data: it is parsed with ``json`` and regular expressions only, never evaluated or
executed. Work is bounded on long outputs: a reply is cut to ``_MAX_PARSE_CHARS`` characters
before parsing, at most ``_MAX_JSON_STARTS`` ``{`` positions are tried as JSON starts, and a
brace-balanced block is looked for over at most ``_MAX_BLOCK_CHARS`` characters.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ParsedAnswer",
    "parse_answer",
    "match_option",
    "extract_json_objects",
    "normalize_text",
    "parse_verdict",
    "parse_bool",
]

_LETTERS = "ABCDEFGHIJ"
_MAX_PARSE_CHARS = 100_000  # longer model outputs are cut before parsing (bounded work)
_MAX_JSON_STARTS = 200  # at most this many "{" positions are tried as JSON starts
_MAX_BLOCK_CHARS = 20_000  # a brace-balanced block is looked for over at most this many characters


# ============================================================================ normalisation
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCT = set(string.punctuation) | {"\u2018", "\u2019", "\u201c", "\u201d", "\u2013", "\u2014", "\u2026"}
_EDGE_CHARS = " \t\n\"'`*.,;:!?"  # trimmed from both ends when punctuation is kept
#: :func:`normalize_text`'s option-matching mode (see there).
_OPTION_MODE: dict[str, bool] = {"drop_punctuation": False, "drop_articles": False}


def normalize_text(text: str, *, drop_punctuation: bool = True, drop_articles: bool = True) -> str:
    """The one text normaliser: Unicode NFKC, case-folded, whitespace collapsed, punctuation handled.

    Every mode NFKC-normalises, case-folds and collapses whitespace runs to one space (none at
    the ends). Two modes are in use, kept apart on purpose because merging them would change
    results:

    * the default (``drop_punctuation=True, drop_articles=True``), for free-form answers
      (:func:`mi_utils.evaluate.normalized_match`, :func:`mi_utils.evaluate.token_f1`,
      :func:`mi_utils.predict.vote_text`): every punctuation character becomes a space and the
      articles *a*, *an*, *the* are dropped, so ``"The Paris."`` and ``"paris"`` agree. Decimal
      points and thousands separators *inside numbers* are kept as numbers: ``"1,577.5"``
      becomes ``"1577.5"`` (not ``"15775"``).
    * ``drop_punctuation=False, drop_articles=False``, for option-text matching
      (:func:`match_option`): punctuation inside the text and articles are kept, so options
      such as ``"C"`` and ``"C++"``, or ``"Who"`` and ``"The Who"``, stay distinct; only
      quotes, ``*`` and sentence punctuation (``.,;:!?``) at the ends are trimmed (``"50 mg."``
      equals ``"50 mg"``).

    Other combinations of the two flags work as their names say but no caller uses them.

    Args:
      text: the text.
      drop_punctuation: turn every punctuation character into a space (numbers kept whole);
        when ``False``, trim quotes and sentence punctuation at the ends only.
      drop_articles: drop the English articles *a*, *an* and *the*.

    Returns:
      The normalised text (``""`` when nothing is left).
    """
    s = unicodedata.normalize("NFKC", text).casefold()
    if drop_punctuation:
        s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)  # thousands separators
        s = re.sub(r"(?<=\d)\.(?=\d)", "\x00", s)  # protect decimal points
        s = "".join(" " if ch in _PUNCT else ch for ch in s).replace("\x00", ".")
    if drop_articles:
        s = _ARTICLES.sub(" ", s)
    s = " ".join(s.split())
    return s if drop_punctuation else s.strip(_EDGE_CHARS)


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


_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}  # Python literals a model wrote into JSON


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
    repaired = re.sub(r"\b(True|False|None)\b", lambda m: _PY_LITERALS[m[1]], repaired)
    try:
        return json.loads(repaired), span
    except (ValueError, RecursionError):
        return None, start + 1


def _balanced_span(text: str, start: int) -> int | None:
    """End (exclusive) of the brace-balanced block starting at ``text[start] == "{"``."""
    depth, quote, esc = 0, None, False
    for i in range(start, min(len(text), start + _MAX_BLOCK_CHARS)):
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
    """A JSON field's value as answer text: strings stripped, scalars written out, ``None`` kept."""
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
    """``(found, value)`` of the first key of ``d`` equal to ``key`` ignoring case and spaces."""
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


_LETTER_PATTERNS = (
    # the whole answer is a letter: "B", "(B)", "B.", "B)", "[B]", "Option B", "Choice (c)", "Answer: B"
    re.compile(
        r"^(?:(?:the\s+)?(?:correct\s+)?(?:answer|option|choice)\s*(?:is\s*)?[:=]?\s*)?"
        r"[\(\[]?([A-J])[\)\]]?\s*[.:)]?$",
        re.I,
    ),
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
    normed = [normalize_text(o, **_OPTION_MODE) for o in options]
    a = normalize_text(raw, **_OPTION_MODE)

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
            hit, _ = _text_match(normalize_text(m["rest"], **_OPTION_MODE), normed, options)
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


# =========================================================================== judge verdicts
_TRUE = {"true", "yes", "correct", "1", "right", "y"}
_FALSE = {"false", "no", "incorrect", "0", "wrong", "n", "not correct"}


def parse_bool(value: Any, true_words: Collection[str], false_words: Collection[str]) -> bool | None:
    """A JSON field's value as a boolean, or ``None`` when it is not one.

    Args:
      value: the value: a bool, 0 or 1, or a string.
      true_words: lower-case words that mean ``True`` (e.g. ``{"true", "yes"}``).
      false_words: lower-case words that mean ``False``.

    Returns:
      The bool itself; ``bool(value)`` for 0 or 1; for a string, ``True``/``False`` when it is one
      of the words once trimmed of spaces, quotes, ``.`` and ``!`` and lower-cased; else ``None``.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        s = value.strip().strip(".!\"'").strip().lower()
        if s in true_words:
            return True
        if s in false_words:
            return False
    return None


_VERDICT_RE = re.compile(r"""["']?(?:is_)?correct["']?\s*[:=]\s*["']?(true|false|yes|no)\b""", re.IGNORECASE)
_REASON_RE = re.compile(r"""["']?reason["']?\s*[:=]\s*["']?([^"'\n}]*)""", re.IGNORECASE)


def parse_verdict(text: str) -> tuple[bool | None, str | None, str | None]:
    """Read a judge's reply: ``(correct, reason, parse_error)``.

    Accepts a JSON object anywhere in the reply with a ``correct`` (or ``is_correct`` /
    ``verdict``) field that is a boolean, 0/1 or a word (true/yes/correct, false/no/incorrect);
    then a ``correct: true`` pattern; then a reply that *starts* with such a word followed by
    punctuation or nothing (``"Correct."``, ``"No - ..."``; not ``"No idea"``). Anything else
    gives ``correct=None`` with a reason. Never evaluates the reply.
    """
    if not isinstance(text, str) or not text.strip():
        return None, None, "empty judge reply"
    text = _clip(text)
    for obj in extract_json_objects(text):
        for key in ("correct", "is_correct", "verdict"):
            has, val = _get_ci(obj, key)
            if has:
                _, reason = _get_ci(obj, "reason")
                verdict = parse_bool(val, _TRUE, _FALSE)
                if verdict is None:
                    return None, _value_text(reason), f"the judge's {key!r} field {val!r} is not a true/false verdict"
                return verdict, _value_text(reason), None
    m = _VERDICT_RE.search(text)
    if m:
        r = _REASON_RE.search(text)
        return m[1].lower() in ("true", "yes"), (r[1].strip() or None) if r else None, None
    # a bare leading verdict word: "Correct.", "No - it names another drug" (not "No idea ...")
    first = re.match(
        r"\W*(not correct|incorrect|correct|true|false|yes|no)\s*(?:$|[.,:;!)\-\u2013\u2014])",
        text.strip(),
        re.IGNORECASE,
    )
    if first:
        return parse_bool(first[1], _TRUE, _FALSE), text.strip(), None
    return None, None, f"no verdict found in the judge reply {text.strip()[:120]!r}"
