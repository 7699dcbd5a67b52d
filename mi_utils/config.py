"""Experiment configs: the YAML schema, its validation, and the compressor settings it expands to.

What lives here: the sections of a config (:class:`ExperimentConfig` with its
:class:`DatasetConfig`, :class:`CompressorConfig`, :class:`PredictorConfig`, :class:`ScorerConfig`
and :class:`JudgeConfig`, all :class:`ModelSpec` where a model runs), :func:`load_config` /
:func:`parse_config`, and :class:`CompressorSetting` (one compressor at one conciseness value: the
unit the runner compresses, scores and predicts with). Nothing here loads a model.

Parsing is pydantic's (unknown keys forbidden, strict types, literals for every enumeration),
with the project's error messages on top: every bad field is named by its path
(``compressors[2].temperature must be >= 0 (0 = greedy), got -0.5``), a misspelt key gets a
"did you mean" hint, and all the errors pydantic finds are reported at once, one per line, before
any model loads. The YAML files are plain data; :meth:`ExperimentConfig.to_dict` gives them back.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    field_validator,
    model_validator,
)

from .backends.base import BACKEND_ROLES, GENERATOR, SCORER, SamplingParams
from .compress import CONTROLS, EXTRACTIVE
from .costs import DEFAULT_PRICES, FLOPS_CONVENTIONS, PriceTable
from .models import model_family
from .score import SCORING_PROMPTS, hash_text

__all__ = [
    "ConfigError",
    "ModelSpec",
    "DatasetConfig",
    "CompressorConfig",
    "PredictorConfig",
    "ScorerConfig",
    "JudgeConfig",
    "ExperimentConfig",
    "CompressorSetting",
    "load_config",
    "parse_config",
    "short_name",
    "slug",
]

BACKENDS = tuple(BACKEND_ROLES)
SERVER_BACKENDS = ("vllm", "sglang")
DTYPES = ("float32", "bfloat16", "float16", "auto")
UNPARSED_POLICIES = ("match", "wrong", "error")
MODES = ("choice", "generate")
RULES = ("sum", "mean")
TASKS = ("multiple_choice", "free_form", "perplexity")
METHODS = (*EXTRACTIVE, "full")  # "full": no compression, the summary is the whole context
_K_METHODS = ("first_k", "bm25_top_k", "random_k")
_LM_ONLY = (
    "temperature",
    "top_k",
    "top_p",
    "max_new_tokens",
    "sentences",
    "backend",
    "dtype",
    "urls",
    "tokenizer",
    "params",
    "hf_config",
    "rounds",
)


class ConfigError(ValueError):
    """A bad value, named relative to the section that found it (``field`` may be empty)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}" if field else message)
        self.field, self.message = field, message


# ------------------------------------------------------------------ field types
def _one_of(values: Sequence[str], say: str | None = None) -> BeforeValidator:
    """A literal's check with the project's message (runs before pydantic's own literal check)."""

    def check(value: Any) -> Any:
        if value not in values:
            raise ConfigError("", f"must be {say or f'one of {list(values)}'}, got {value!r}")
        return value

    return BeforeValidator(check)


def _as_list(value: Any) -> Any:
    """A single value where a list is expected (``urls: http://...``, ``seeds: 0``) is a list of one."""
    return [value] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value


Backend = Annotated[Literal[BACKENDS], _one_of(BACKENDS)]  # type: ignore[valid-type]  (backends.base.BACKEND_ROLES)
Dtype = Annotated[
    Literal["float32", "bfloat16", "float16", "auto"], _one_of(DTYPES, "float32, bfloat16, float16 or auto")
]
Mode = Annotated[Literal["choice", "generate"], _one_of(MODES)]
Rule = Annotated[Literal["sum", "mean"], _one_of(RULES)]
Method = Annotated[Literal[METHODS], _one_of(METHODS)]  # type: ignore[valid-type]
Conditioning = Annotated[Literal["shared", "paired"], _one_of(("shared", "paired"), "'shared' or 'paired'")]
FlopsConvention = Annotated[
    Literal[FLOPS_CONVENTIONS],  # type: ignore[valid-type]
    _one_of(FLOPS_CONVENTIONS, "'paper_text' or 'authors_code'"),
]
ScoringPrompt = Annotated[Literal[tuple(SCORING_PROMPTS)], _one_of(tuple(SCORING_PROMPTS))]  # type: ignore[valid-type]
Unparsed = Annotated[Literal["match", "wrong", "error"], _one_of(UNPARSED_POLICIES)]
Task = Annotated[
    Literal["multiple_choice", "free_form", "perplexity"], _one_of(TASKS, "multiple_choice, free_form or perplexity")
]


def _at_least(low: float, note: str = "") -> AfterValidator:
    """A lower bound with the project's message (``None`` passes: optional fields say so in ``note``)."""

    def check(value: Any) -> Any:
        if value is not None and value < low:
            raise ConfigError("", f"must be >= {low}{note}, got {value}")
        return value

    return AfterValidator(check)


def _open_unit(value: float) -> float:
    if not 0 < value <= 1:
        raise ConfigError("", f"must be in (0, 1] (1 = off), got {value}")
    return value


Urls = Annotated[list[str] | None, BeforeValidator(_as_list)]
NewTokens = Annotated[int, _at_least(1)]
AtLeastTwo = Annotated[int, _at_least(2, " (the estimator contrasts N >= 2 contexts)")]
PositiveOrNull = Annotated[int | None, _at_least(1, " or null")]
Seeds = Annotated[list[int], BeforeValidator(_as_list)]


def short_name(model: str) -> str:
    """The last path component of a model name (``Qwen/Qwen2.5-7B`` -> ``Qwen2.5-7B``)."""
    return model.rstrip("/").split("/")[-1] if model else ""


def slug(text: str) -> str:
    """A file-name-safe form of ``text``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


class _Section(BaseModel):
    """A config section: strict types, unknown keys refused with a "did you mean" hint."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=False)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ConfigError("", f"must be a mapping of keys to values, got {_type_name(data)}")
        fields = sorted(cls.model_fields)
        for key in data:
            if key not in cls.model_fields:
                hint = difflib.get_close_matches(str(key), fields, n=1)
                raise ConfigError(
                    str(key),
                    "is not a known key" + (f" (did you mean {hint[0]!r}?)" if hint else "") + f"; allowed: {fields}",
                )
        return data


# ====================================================================== sections
class ModelSpec(_Section):
    """Where a model runs.

    Attributes:
      model: packaged name (``smollm2-135m-instruct``), hub id or local path; for servers the
        served model name.
      backend: ``hf`` (in process), ``vllm`` / ``sglang`` (HTTP servers at ``urls``) or
        ``openai`` (a chat API: generation only, no scoring).
      dtype: weights dtype of an ``hf`` model (recorded for the others).
      urls: server base URLs (``vllm``/``sglang``; several = replicas).
      tokenizer: the served model's tokenizer for servers (a packaged name, hub id or local
        folder; default: ``model``): prompts are tokenised locally with it.
      base_url: API base URL (``openai``; default OpenAI's).
      api_key_env: environment variable holding the API key (``openai``).
      params: parameter count; default: the packaged registry, the loaded model or its config.
      hf_config: ``config.json`` path, folder or hub id for FLOPs (default: ``model``).
      name: a short id for tables (default: the model's last path component).
    """

    model: str = ""
    backend: Backend = "hf"
    dtype: Dtype = "float32"
    urls: Urls = None
    tokenizer: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    params: float | None = None
    hf_config: str | None = None
    name: str | None = None

    @property
    def id(self) -> str:
        """Short id used in tables."""
        return self.name or short_name(self.model)

    def cache_key(self) -> tuple:
        """What makes two specs the same loaded model."""
        return (self.backend, self.model, self.dtype, tuple(self.urls or ()), self.tokenizer, self.base_url)

    def key_dict(self) -> dict:
        """The parts of the spec that determine outputs (for store and row keys)."""
        return {"backend": self.backend, "model": self.model, "dtype": self.dtype}

    def check_model(self, *, needs: Sequence[str] = (), role: str = "") -> None:
        """Check the spec; ``needs``: the backend roles this use requires, ``role``: its name in messages.

        Raises:
          ConfigError: naming the field.
        """
        if not self.model.strip():
            raise ConfigError("model", "is required (a packaged name, hub id, path or served model name)")
        missing = [r for r in needs if r not in BACKEND_ROLES[self.backend]]
        if missing:
            able = [b for b in BACKENDS if all(r in BACKEND_ROLES[b] for r in needs)]
            why = (
                " (a chat API returns no log-probs for prompt tokens and has no local tokenizer)"
                if self.backend == "openai"
                else ""
            )
            raise ConfigError(
                "backend",
                f"{self.backend!r} cannot be {role}: it is a "
                f"{'/'.join(sorted(BACKEND_ROLES[self.backend]))} only{why}; use one of {able}",
            )
        if self.backend in SERVER_BACKENDS and not self.urls:
            raise ConfigError("urls", f"is required for backend {self.backend!r} (server base URLs)")
        if self.backend not in SERVER_BACKENDS and self.urls:
            raise ConfigError("urls", f"is only for vllm/sglang backends, not {self.backend!r}")
        if self.params is not None and self.params <= 0:
            raise ConfigError("params", f"must be > 0 (a parameter count), got {self.params!r}")
        if self.name is not None and not self.name.strip():
            raise ConfigError("name", "must be a non-empty string")


class DatasetConfig(_Section):
    """A data set: :func:`mi_utils.data.load_dataset` name, loader kwargs, and N.

    Attributes:
      name: data set name (``synthetic_clinical``, ``longhealth``, ``financebench``, ...).
      kwargs: keyword arguments for the loader (``path=``, ...).
      limit: N for this data set (the first ``limit`` records are the contexts of one MI
        estimate); default: the config's ``N``.
    """

    name: str = ""
    kwargs: dict = {}
    limit: Annotated[int | None, _at_least(2, " (the estimator contrasts N >= 2 contexts)")] = None

    @property
    def id(self) -> str:
        """Name plus a hash of the loader kwargs (store folder name)."""
        suffix = f"-{hash_text(json.dumps(self.kwargs, sort_keys=True, default=str))[:8]}" if self.kwargs else ""
        return f"{slug(self.name)}{suffix}"

    @property
    def key(self) -> str:
        """The name as :data:`mi_utils.data.DATASETS` spells it."""
        return self.name.strip().lower().replace("-", "_")

    @model_validator(mode="after")
    def _check(self) -> DatasetConfig:
        from .data import DATASETS

        if self.key not in DATASETS:
            raise ConfigError("name", f"must be one of {sorted(DATASETS)}, got {self.name!r}")
        return self


class CompressorConfig(ModelSpec):
    """An LM compressor (``model:``) or an LM-free one (``method:``).

    LM compressors sample with :class:`~mi_utils.backends.base.SamplingParams`; ``sentences`` is
    the conciseness setting ("use EXACTLY k sentences"), one value or a list of values (each one
    a separate setting; ``null`` = the plain prompt).

    ``method`` is one of ``first_k`` (first ``k`` tokens), ``bm25_top_k`` / ``random_k``
    (``k`` sentences), ``shared_prefix`` / ``constant`` (zero-information controls: the token
    prefix all records share; one fixed text for every record) or ``full`` (no compression: the whole context, for the predictor; its MI is
    not scored by default because it always sits at the ``log N`` ceiling).

    ``rounds`` (LM compressors) makes a compress-and-refine loop (the paper's Fig. 18): round 1 is
    the compression above, round ``r > 1`` gives the compressor the context, the question and its
    round ``r-1`` summary (:func:`mi_utils.prompts.refinement_messages`) and keeps the new summary;
    each of the ``M`` samples is its own chain. Every round is a setting of its own, with the id
    ``<id>-round<r>`` (``rounds: 1``, the default, is today's single setting, id unchanged).

    Attributes:
      score_mi: score this setting's summaries for MI (default: True, except ``full``).
      rounds: compress-and-refine rounds (LM compressors; default 1 = no refinement).
    """

    temperature: Annotated[float, _at_least(0, " (0 = greedy)")] = 1.0
    top_k: Annotated[int, _at_least(0, " (0 = off)")] = 0
    top_p: Annotated[float, AfterValidator(_open_unit)] = 1.0
    max_new_tokens: NewTokens = 64
    sentences: Any = None
    method: Method | None = None
    k: int | None = None
    score_mi: bool | None = None
    rounds: Annotated[int, _at_least(1, " (1 = compress once, no refinement)")] = 1

    @field_validator("sentences")
    @classmethod
    def _sentences(cls, value: Any) -> Any:
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ConfigError("", "must be null, a positive integer or a non-empty list of them")
        for n, v in enumerate(values):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                where = f"[{n}]" if isinstance(value, list) else ""
                raise ConfigError("", f"{where} must be null or an integer >= 1, got {v!r}".lstrip())
        if len(set(values)) != len(values):
            raise ConfigError("", f"lists a value twice: {values}")
        return value

    @model_validator(mode="after")
    def _check(self) -> CompressorConfig:
        given = self.model_fields_set
        has_model, has_method = bool("model" in given and self.model), self.method is not None
        if has_model == has_method:
            raise ConfigError(
                "", f"needs exactly one of 'model' (an LM compressor) or 'method' (extractive: one of {list(METHODS)})"
            )
        if has_method:
            bad = [k for k in _LM_ONLY if k in given]
            if bad:
                raise ConfigError(
                    bad[0], f"applies only to LM compressors (with 'model'), not to method {self.method!r}"
                )
            if self.method in _K_METHODS and (self.k is None or self.k < 1):
                raise ConfigError("k", f"must be an integer >= 1 for method {self.method!r}")
            if self.method not in _K_METHODS and self.k is not None:
                raise ConfigError("k", f"does not apply to method {self.method!r}")
            return self
        if "k" in given:
            raise ConfigError("k", "applies only to extractive methods; for sampling use top_k")
        self.check_model(
            needs=(GENERATOR, SCORER), role="a compressor (summary token ids and lengths come from its local tokenizer)"
        )
        return self

    @property
    def kind(self) -> str:
        """``lm``, ``extractive``, ``control`` (shared_prefix, constant) or ``full``."""
        if self.method is None:
            return "lm"
        if self.method in CONTROLS:
            return "control"
        return "full" if self.method == "full" else "extractive"

    def settings(self) -> list[CompressorSetting]:
        """One :class:`CompressorSetting` per conciseness value."""
        if self.method is not None:
            auto = {"first_k": f"first{self.k}", "bm25_top_k": f"bm25_top{self.k}", "random_k": f"random{self.k}"}
            sid = self.name or auto.get(self.method, self.method)
            return [
                CompressorSetting(
                    sid, self.kind, self, None, self.score_mi if self.score_mi is not None else self.method != "full"
                )
            ]
        values = self.sentences if isinstance(self.sentences, list) else [self.sentences]
        score = True if self.score_mi is None else self.score_mi
        out = []
        for v in values:
            sid = self.id if v is None else f"{self.id}-{v}sent"
            if self.rounds == 1:
                out.append(CompressorSetting(sid, "lm", self, v, score))
                continue
            for r in range(1, self.rounds + 1):  # round r refines round r-1 (the setting before it)
                prev = f"{sid}-round{r - 1}" if r > 1 else None
                out.append(CompressorSetting(f"{sid}-round{r}", "lm", self, v, score, round=r, previous=prev))
        return out


class PredictorConfig(ModelSpec):
    """A predictor: answers from a summary alone.

    Attributes:
      mode: ``choice`` (log-likelihood over the options; local scorers only) or ``generate``
        (the paper's JSON prompt, parsed; any backend, API models included).
      rule: ``sum`` or ``mean`` log-prob ranks the options (``choice``); the row reports both.
      max_new_tokens: reply budget (``generate``).
      max_context_tokens: fit the raw context of the ``full`` baseline into this many tokens
        (head kept); ``None`` = no truncation.
      tasks: the record tasks this predictor answers (``multiple_choice``, ``free_form``,
        ``perplexity``); default: every task it can do. ``choice`` mode cannot answer free form,
        and a chat API cannot score a reference text for perplexity; data sets whose task no
        predictor handles get MI rows with an empty predictor.
    """

    mode: Mode = "choice"
    rule: Rule = "sum"
    max_new_tokens: NewTokens = 256
    max_context_tokens: PositiveOrNull = None
    tasks: list[Task] | None = None

    def handles(self, task: str) -> bool:
        """Whether this predictor answers records of ``task``."""
        if self.tasks is not None:
            return task in self.tasks
        if task == "free_form":
            return self.mode == "generate"
        if task == "perplexity":
            return self.backend != "openai"
        return True

    @property
    def id(self) -> str:
        return self.name or f"{short_name(self.model)}-{self.mode}"

    def needs(self) -> tuple[str, ...]:
        """Backend roles this predictor uses: a scorer for ``choice`` mode, a generator for ``generate``
        (and a scorer too when ``tasks`` lists ``perplexity``)."""
        if self.mode == "choice":
            return (SCORER,)
        return (GENERATOR, SCORER) if self.tasks is not None and "perplexity" in self.tasks else (GENERATOR,)

    @model_validator(mode="after")
    def _check(self) -> PredictorConfig:
        if self.mode == "choice" and self.backend == "openai":
            raise ConfigError(
                "mode",
                "'choice' needs log-probs of the options; chat APIs (backend openai) "
                "cannot score prompts: use mode 'generate'",
            )
        self.check_model(
            needs=self.needs(),
            role=f"a {self.mode}-mode predictor"
            + (" that scores perplexity references" if len(self.needs()) == 2 else ""),
        )
        if self.tasks is not None and "free_form" in self.tasks and self.mode == "choice":
            raise ConfigError("tasks", "mode 'choice' cannot answer free_form records (no options)")
        if self.tasks is not None and "perplexity" in self.tasks and self.backend == "openai":
            raise ConfigError("tasks", "a chat API (backend openai) cannot score perplexity references")
        return self


class ScorerConfig(ModelSpec):
    """A scorer: the LM whose log-probs ``log p(z | x_l, q)`` feed the MI estimate.

    Attributes:
      prompt: ``proxy`` (the paper's scoring prompt; any LM is a valid critic, the estimate a
        lower bound) or ``own`` (self-scoring: the compression prompt through the chat template,
        the sampled ids and their stop token; see :mod:`mi_utils.score`). Only ``own`` with the
        compressor's own ``model`` and ``dtype`` and pure sampling makes ``mi_upper_bits`` an upper
        bound (``upper_is_bound``).
      compressors: score only these compressors' summaries: setting ids (``qwen05``, ``qwen05-s1``) or
        a compressor's ``name`` (all its settings); default: every scored setting. A self-scoring
        scorer usually names its own compressor, so that a large model scores only what it wrote.
    """

    prompt: ScoringPrompt = "proxy"
    compressors: list[str] | None = None

    @model_validator(mode="after")
    def _check(self) -> ScorerConfig:
        self.check_model(needs=(SCORER,), role="a scorer")
        if self.compressors is not None and not self.compressors:
            raise ConfigError("compressors", "is empty: leave it out to score every setting, or name some")
        return self

    def scores(self, setting: CompressorSetting) -> bool:
        """Whether this scorer scores ``setting``'s summaries."""
        if not setting.score_mi:
            return False
        return self.compressors is None or bool({setting.id, setting.config.name} & set(self.compressors))

    def key_dict(self) -> dict:
        return {**super().key_dict(), **({"prompt": self.prompt} if self.prompt != "proxy" else {})}


class JudgeConfig(ModelSpec):
    """An LLM judge for free-form answers (the paper: gpt-4o-mini at temperature 0).

    Attributes:
      max_new_tokens: the judge's reply budget.
      unparsed: what a verdict the judge's reply does not state (:func:`mi_utils.evaluate.parse_verdict`
        gives ``None``) counts as: ``match`` (default: decided by
        :func:`~mi_utils.evaluate.normalized_match`, the offline rule), ``wrong``, or ``error`` (the
        run stops, naming the record and the reply). Every row counts its unparsed verdicts in
        ``judge_unparsed``, whatever the policy, so an analysis can drop them.
    """

    max_new_tokens: NewTokens = 128
    unparsed: Unparsed = "match"

    @model_validator(mode="after")
    def _check(self) -> JudgeConfig:
        self.check_model(needs=(GENERATOR,), role="a judge")
        return self


class ExperimentConfig(_Section):
    """A whole experiment.

    Attributes:
      name: results go to ``<output_dir>/<name>/``.
      description: free text.
      output_dir: root folder of results (relative paths are relative to the working directory).
      N: contexts per MI estimate (records per data set unless a data set sets ``limit``).
      M: summaries per record for sampled compressors (LM, ``random_k``); deterministic methods
        use 1.
      seeds: one run per seed (compressor sampling and ``random_k``).
      conditioning: ``shared`` (score ``z_ij`` under ``(x_l, q_i)``) or ``paired`` (under
        ``(x_l, q_l)``, as the authors' code; N instead of N^2 prefixes). Both are ``I(X;Z|Q)`` when
        every record has the same question. With one question per record neither is: ``shared``
        holds each summary's own question fixed while the context varies (a question that names
        its record makes the own context fit better whatever the summary says), ``paired``
        estimates ``I(X,Q;Z)``. Rows say which in ``mi_estimand``.
      n_boot: bootstrap resamples for the MI interval (0 = none).
      threads: ``torch.set_num_threads`` for in-process models (``None`` = torch's default).
        On a shared 2-core machine two processes with 2 threads each slow each other down many
        times over; 1 thread is the safe choice there.
      tokenizer: reference tokenizer of the extractive compressors (``first_k`` cut, token
        counts); default: the first scorer's, else the first predictor's model.
      datasets, compressors, predictors, scorers: see their classes.
      judge: optional LLM judge for free-form answers (else :func:`~mi_utils.evaluate.normalized_match`).
      prices: API prices, ``{model: [usd_per_1m_input, usd_per_1m_output]}``, on top of
        :data:`mi_utils.costs.DEFAULT_PRICES`.
      flops_convention: how ``flops_compressor`` is computed: ``paper_text`` (the default: the
        paper's formula with ``d_attn``) or ``authors_code`` (the number of attention heads in place
        of ``d_attn``, as the authors' code); see :mod:`mi_utils.costs`. An ``authors_code`` row's
        key includes it, so a resumed run never reuses the other convention's rows; rows have no
        convention column, so give such a run its own ``output_dir``/``--out``.
    """

    name: str = ""
    description: str = ""
    output_dir: str = "results"
    N: AtLeastTwo = 12
    M: Annotated[int, _at_least(1)] = 3
    seeds: Seeds = [0]
    conditioning: Conditioning = "shared"
    n_boot: Annotated[int, _at_least(0, " (0 = no bootstrap)")] = 1000
    threads: PositiveOrNull = None
    tokenizer: str | None = None
    datasets: list[DatasetConfig] = []
    compressors: list[CompressorConfig] = []
    predictors: list[PredictorConfig] = []
    scorers: list[ScorerConfig] = []
    judge: JudgeConfig | None = None
    prices: dict = {}
    flops_convention: FlopsConvention = "paper_text"

    @model_validator(mode="after")
    def _check(self) -> ExperimentConfig:
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", self.name):
            raise ConfigError("name", "is required: letters, digits, '_', '-', '.' (it names the results folder)")
        if not self.seeds:
            raise ConfigError("seeds", "must be a non-empty list of integers")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("seeds", f"lists a seed twice: {self.seeds}")
        for key in ("datasets", "compressors"):
            if not getattr(self, key):
                raise ConfigError(key, "must be a non-empty list")
        if not self.predictors and not self.scorers:
            raise ConfigError("", "predictors and scorers are both empty: there would be nothing to measure")
        seen: dict[str, int] = {}
        for n, c in enumerate(self.compressors):
            for s in c.settings():
                if s.id in seen:
                    raise ConfigError(
                        f"compressors[{n}]",
                        f"has the id {s.id!r} of compressors[{seen[s.id]}]; give one of them a distinct 'name'",
                    )
                seen[s.id] = n
            if c.kind == "full" and not self.predictors:
                raise ConfigError(
                    f"compressors[{n}]", "(method 'full') is a predictor baseline, but there are no predictors"
                )
        if not self.scorers and any(s.score_mi for s in self.settings()):
            raise ConfigError(
                "scorers", "is empty but compressors ask for MI scores (set score_mi: false or add a scorer)"
            )
        known = {x for s in self.settings() for x in (s.id, s.config.name) if x}
        for n, sc in enumerate(self.scorers):
            unknown = [c for c in sc.compressors or () if c not in known]
            if unknown:
                raise ConfigError(
                    f"scorers[{n}].compressors",
                    f"names {unknown}, which no compressor has; known ids and names: {sorted(known)}",
                )
            if sc.compressors is not None and not any(sc.scores(s) for s in self.settings()):
                raise ConfigError(f"scorers[{n}].compressors", "selects no setting whose MI is scored (score_mi)")
            refined = [s.id for s in self.settings() if s.round > 1 and sc.scores(s)]
            if sc.prompt == "own" and refined:
                raise ConfigError(
                    f"scorers[{n}]",
                    f"(prompt 'own') would score the refined rounds {refined}, which were not sampled from the "
                    "compression prompt it scores under; name round-1 settings in its 'compressors' "
                    "(e.g. '<id>-round1') or score the rounds with a proxy scorer",
                )
        for key in ("predictors", "scorers"):
            ids = [s.id for s in getattr(self, key)]
            dup = next((i for i in ids if ids.count(i) > 1), None)
            if dup:
                raise ConfigError(key, f"has the id {dup!r} twice; give one a distinct 'name'")
        ids = [d.id for d in self.datasets]
        dup = next((i for i in ids if ids.count(i) > 1), None)
        if dup:
            raise ConfigError("datasets", f"lists {dup!r} twice with the same kwargs")
        try:
            table = PriceTable({**DEFAULT_PRICES, **self.prices})
        except (TypeError, ValueError) as e:
            raise ConfigError("", f"prices: {e}") from None
        for n, pr in enumerate(self.predictors):
            if pr.backend == "openai":
                try:
                    table.price(pr.model)
                except KeyError:
                    raise ConfigError(
                        f"predictors[{n}].model",
                        f"{pr.model!r} has no API price; add it under "
                        f"'prices' as {pr.model}: [usd_per_1m_input, usd_per_1m_output]",
                    ) from None
        return self

    def settings(self) -> list[CompressorSetting]:
        """Every compressor setting, in config order."""
        return [s for c in self.compressors for s in c.settings()]

    def to_dict(self) -> dict:
        """Plain-data view of every field (``config.json`` of a run)."""
        return self.model_dump()


@dataclass(frozen=True)
class CompressorSetting:
    """One compressor configuration: an LM compressor at one conciseness value (and, with
    ``rounds > 1``, one round of its compress-and-refine loop), or a method.

    ``round`` is 1-based (1 for every setting that is not refined); ``previous`` is the id of the
    setting whose summaries round ``round`` refines (``None`` in round 1).
    """

    id: str
    kind: str  # lm | extractive | control | full
    config: CompressorConfig
    sentences: int | None
    score_mi: bool
    round: int = 1
    previous: str | None = None

    @property
    def family(self) -> str:
        """Model family (LM), ``extractive``, ``control`` or ``full``."""
        return model_family(self.config.model) if self.kind == "lm" else self.kind

    def sampling(self, M: int, seed: int) -> SamplingParams | None:
        """Sampling settings of an LM compressor (``None`` for LM-free methods)."""
        c = self.config
        if self.kind != "lm":
            return None
        return SamplingParams(
            temperature=c.temperature, top_k=c.top_k, top_p=c.top_p, max_new_tokens=c.max_new_tokens, n=M, seed=seed
        )

    def n_samples(self, M: int) -> int:
        """Summaries per record: ``M`` for sampled compressors, 1 for deterministic ones."""
        return M if self.kind == "lm" or self.config.method == "random_k" else 1

    def key_dict(self) -> dict:
        """What determines this setting's summaries."""
        c = self.config
        if self.kind == "lm":
            return {
                "id": self.id,
                **c.key_dict(),
                "temperature": c.temperature,
                "top_k": c.top_k,
                "top_p": c.top_p,
                "max_new_tokens": c.max_new_tokens,
                "sentences": self.sentences,
                # a refined setting's rows: a loop's rounds (a plain setting keeps the keys it had before)
                **({"round": self.round} if c.rounds > 1 else {}),
            }
        return {"id": self.id, "method": c.method, "k": c.k}


# ======================================================================= parsing
def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a YAML experiment config.

    Args:
      path: the YAML file.

    Returns:
      The validated :class:`ExperimentConfig`.

    Raises:
      FileNotFoundError: no such file.
      ValueError: a bad config; the message names the file and each bad field's path, e.g.
        ``compressors[2].temperature must be >= 0``, and unknown keys (typos) are refused with a
        suggestion.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from None
    try:
        return parse_config(data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def parse_config(data: Any) -> ExperimentConfig:
    """Validate a config given as plain data (what ``yaml.safe_load`` returns).

    Raises:
      ValueError: one line per bad field, each naming the field's path.
    """
    if not isinstance(data, dict):
        raise ValueError(f"the config must be a mapping of keys to values, got {_type_name(data)}")
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as e:
        raise ValueError("\n".join(_message(err) for err in e.errors())) from None


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
        got = _type_name(value) if isinstance(value, (dict, list)) else repr(value)
        return f"{path} {_TYPE_WORDS[err['type']]}, got {got}"
    return f"{path}: {err['msg']}" if path else err["msg"]


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string"}.get(type(value), type(value).__name__)
