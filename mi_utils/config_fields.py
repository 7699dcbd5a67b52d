"""The parts every config section is built from: the error, the field types, the section base, the messages.

What lives here: :class:`ConfigError` (a bad value, named by its field), the annotated field types
that check a value with the project's message before pydantic's own check (``Backend`` and
``Method`` against the registries :mod:`mi_utils.backends.registry` and :mod:`mi_utils.extractive`,
read at validation time so that later registrations count), :class:`Section` (the base of every section: strict types,
unknown keys refused with a "did you mean" hint), :func:`error_lines` (pydantic's errors as one line
per bad field, named by its path) and the id helpers :func:`short_name` / :func:`slug`. The
sections themselves are in :mod:`mi_utils.config_specs` (where a model runs) and
:mod:`mi_utils.config` (the experiment); everything is importable from :mod:`mi_utils.config`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from .backends.registry import backend_names
from .costs import FLOPS_CONVENTIONS
from .extractive import method_names
from .score import SCORING_PROMPTS

__all__ = [
    "ConfigError",
    "Section",
    "error_lines",
    "type_name",
    "short_name",
    "slug",
    "one_of",
    "at_least",
    "open_unit",
    "DTYPES",
    "UNPARSED_POLICIES",
    "MODES",
    "RULES",
    "TASKS",
    "Backend",
    "Dtype",
    "Mode",
    "Rule",
    "Method",
    "Conditioning",
    "FlopsConvention",
    "ScoringPrompt",
    "Unparsed",
    "Task",
    "Urls",
    "NewTokens",
    "AtLeastTwo",
    "PositiveOrNull",
    "Seeds",
]

DTYPES = ("float32", "bfloat16", "float16", "auto")
UNPARSED_POLICIES = ("match", "wrong", "error")
MODES = ("choice", "generate")
RULES = ("sum", "mean")
TASKS = ("multiple_choice", "free_form", "perplexity")


class ConfigError(ValueError):
    """A bad value, named relative to the section that found it (``field`` may be empty)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}" if field else message)
        self.field, self.message = field, message


# ------------------------------------------------------------------ field types
def one_of(values: Sequence[str], say: str | None = None) -> BeforeValidator:
    """A literal's check with the project's message (runs before pydantic's own literal check)."""

    def check(value: Any) -> Any:
        if value not in values:
            raise ConfigError("", f"must be {say or f'one of {list(values)}'}, got {value!r}")
        return value

    return BeforeValidator(check)


def _as_list(value: Any) -> Any:
    """A single value where a list is expected (``urls: http://...``, ``seeds: 0``) is a list of one."""
    return [value] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value


def _registered(names: Callable[[], Sequence[str]], where: str) -> BeforeValidator:
    """A name checked against a registry at validation time; the message lists the registered names."""

    def check(value: Any) -> Any:
        allowed = list(names())
        if value not in allowed:
            raise ConfigError("", f"must be one of {allowed} (registered in {where}), got {value!r}")
        return value

    return BeforeValidator(check)


Backend = Annotated[str, _registered(backend_names, "mi_utils.backends.registry")]
Dtype = Annotated[
    Literal["float32", "bfloat16", "float16", "auto"], one_of(DTYPES, "float32, bfloat16, float16 or auto")
]
Mode = Annotated[Literal["choice", "generate"], one_of(MODES)]
Rule = Annotated[Literal["sum", "mean"], one_of(RULES)]
Method = Annotated[str, _registered(method_names, "mi_utils.extractive")]
Conditioning = Annotated[Literal["shared", "paired"], one_of(("shared", "paired"), "'shared' or 'paired'")]
FlopsConvention = Annotated[
    Literal[FLOPS_CONVENTIONS],  # type: ignore[valid-type]
    one_of(FLOPS_CONVENTIONS, "'paper_text' or 'authors_code'"),
]
ScoringPrompt = Annotated[Literal[tuple(SCORING_PROMPTS)], one_of(tuple(SCORING_PROMPTS))]  # type: ignore[valid-type]
Unparsed = Annotated[Literal["match", "wrong", "error"], one_of(UNPARSED_POLICIES)]
Task = Annotated[
    Literal["multiple_choice", "free_form", "perplexity"], one_of(TASKS, "multiple_choice, free_form or perplexity")
]


def at_least(low: float, note: str = "") -> AfterValidator:
    """A lower bound with the project's message (``None`` passes: optional fields say so in ``note``)."""

    def check(value: Any) -> Any:
        if value is not None and value < low:
            raise ConfigError("", f"must be >= {low}{note}, got {value}")
        return value

    return AfterValidator(check)


def open_unit(value: float) -> float:
    if not 0 < value <= 1:
        raise ConfigError("", f"must be in (0, 1] (1 = off), got {value}")
    return value


Urls = Annotated[list[str] | None, BeforeValidator(_as_list)]
NewTokens = Annotated[int, at_least(1)]
AtLeastTwo = Annotated[int, at_least(2, " (the estimator contrasts N >= 2 contexts)")]
PositiveOrNull = Annotated[int | None, at_least(1, " or null")]
Seeds = Annotated[list[int], BeforeValidator(_as_list)]


def short_name(model: str) -> str:
    """The last path component of a model name (``Qwen/Qwen2.5-7B`` -> ``Qwen2.5-7B``)."""
    return model.rstrip("/").split("/")[-1] if model else ""


def slug(text: str) -> str:
    """A file-name-safe form of ``text``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


class Section(BaseModel):
    """A config section: strict types, unknown keys refused with a "did you mean" hint."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=False)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ConfigError("", f"must be a mapping of keys to values, got {type_name(data)}")
        fields = sorted(cls.model_fields)
        for key in data:
            if key not in cls.model_fields:
                hint = difflib.get_close_matches(str(key), fields, n=1)
                raise ConfigError(
                    str(key),
                    "is not a known key" + (f" (did you mean {hint[0]!r}?)" if hint else "") + f"; allowed: {fields}",
                )
        return data


def error_lines(e: ValidationError) -> str:
    """Every error pydantic found, one line each, in the project's words."""
    return "\n".join(_message(err) for err in e.errors())


_TYPE_WORDS = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping of keys to values",
}


_UNION_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "lax-or-strict", "json-or-python"}


def _message(err: dict) -> str:
    """One pydantic error as ``path message``, in the project's words."""
    loc = [
        p
        for p in err["loc"]
        if isinstance(p, int)
        or not (p.startswith("function-") or "[" in p or p in _UNION_TAGS or (p[:1].isupper() and p.endswith("Config")))
    ]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, ConfigError):
        field = ".".join(x for x in (path, cause.field) if x)
        text = cause.message
        return f"{field}{text}" if text.startswith("[") else f"{field} {text}".strip()
    value = err.get("input")
    if err["type"] == "missing":
        return f"{path} is required"
    if err["type"] in _TYPE_WORDS:
        if value is None:
            return f"{path} must not be null"
        got = type_name(value) if isinstance(value, (dict, list)) else repr(value)
        return f"{path} {_TYPE_WORDS[err['type']]}, got {got}"
    return f"{path}: {err['msg']}" if path else err["msg"]


def type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string"}.get(type(value), type(value).__name__)
