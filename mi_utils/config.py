"""Experiment configs: the YAML schema, its validation, and the compressor settings it expands to.

What lives here: the experiment (:class:`ExperimentConfig` with its :class:`DatasetConfig` and
:class:`CompressorConfig` sections), :func:`load_config` / :func:`parse_config`, and
:class:`CompressorSetting` (one compressor at one conciseness value: the unit the runner
compresses, scores and predicts with). The model sections (:class:`ModelSpec`,
:class:`PredictorConfig`, :class:`ScorerConfig`, :class:`JudgeConfig`) live in
:mod:`mi_utils.config_specs`, the field types, section base and error messages in
:mod:`mi_utils.config_fields`; every one of their public names is importable from here. Nothing
here loads a model.

Parsing is pydantic's (unknown keys forbidden, strict types, a check for every enumeration),
with the project's error messages on top: every bad field is named by its path
(``compressors[2].temperature must be >= 0 (0 = greedy), got -0.5``), a misspelt key gets a
"did you mean" hint, and all the errors pydantic finds are reported at once, one per line, before
any model loads. ``backend:`` and ``method:`` names are checked against their registries
(:mod:`mi_utils.backends.registry`, :mod:`mi_utils.extractive`) at parse time; ``BACKENDS``,
``SERVER_BACKENDS`` and ``METHODS`` here are read from them at each access. The YAML files are
plain data; :meth:`ExperimentConfig.to_dict` gives them back (every field) and
:meth:`ExperimentConfig.from_dict` reads that dump again (:func:`config_from_dump`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationError, field_validator, model_validator

from .backends.base import GENERATOR, SCORER, SamplingParams
from .backends.registry import backend_entry, backend_names, server_backends
from .config_fields import (  # noqa: F401  (some only re-exported: the enumerations and field types)
    DTYPES,
    MODES,
    RULES,
    TASKS,
    UNPARSED_POLICIES,
    AtLeastTwo,
    Backend,
    Conditioning,
    ConfigError,
    Dtype,
    FlopsConvention,
    Method,
    Mode,
    NewTokens,
    PositiveOrNull,
    Rule,
    ScoringPrompt,
    Section,
    Seeds,
    Task,
    Unparsed,
    Urls,
    at_least,
    error_lines,
    open_unit,
    short_name,
    slug,
    type_name,
)
from .config_specs import JudgeConfig, ModelSpec, PredictorConfig, ScorerConfig
from .costs import DEFAULT_PRICES, PriceTable
from .extractive import method_entry, method_names
from .models import model_family
from .score import hash_text

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


class DatasetConfig(Section):
    """A data set: :func:`mi_utils.data.load_dataset` name, loader kwargs, and N.

    Attributes:
      name: data set name (``synthetic_clinical``, ``longhealth``, ``financebench``, ...).
      kwargs: keyword arguments for the loader (``path=``, ...).
      limit: N for this data set (the first ``limit`` records are the contexts of one MI
        estimate); default: the config's ``N``.
    """

    name: str = ""
    kwargs: dict = {}
    limit: Annotated[int | None, at_least(2, " (the estimator contrasts N >= 2 contexts)")] = None

    @property
    def id(self) -> str:
        """Name plus a hash of the loader kwargs (store folder name)."""
        suffix = f"-{hash_text(json.dumps(self.kwargs, sort_keys=True, default=str))[:8]}" if self.kwargs else ""
        return f"{slug(self.name)}{suffix}"

    @property
    def key(self) -> str:
        """The name as :data:`mi_utils.data.DATASETS` spells it."""
        return self.name.strip().lower().replace("-", "_")

    def loader_kwargs(self, N: int) -> dict:
        """The loader's keyword arguments for the first ``N`` records: ``kwargs``, plus ``limit=N``
        when the loader takes a ``limit`` and ``kwargs`` does not set one (the runner's and the planner's)."""
        import inspect

        from .data import DATASETS

        kwargs = dict(self.kwargs)
        if "limit" not in kwargs and "limit" in inspect.signature(DATASETS[self.key]).parameters:
            kwargs["limit"] = N
        return kwargs

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

    ``method`` is a name in :data:`mi_utils.extractive.METHODS` (which also says whether it takes
    ``k`` and its kind): ``first_k`` (first ``k`` tokens), ``bm25_top_k`` / ``random_k`` (``k``
    sentences), ``shared_prefix`` / ``constant`` (zero-information controls: the token prefix all
    records share; one fixed text for every record) or ``full`` (no compression: the whole context,
    for the predictor; its MI is not scored by default because it always sits at the ``log N``
    ceiling).

    ``rounds`` (LM compressors) makes a compress-and-refine loop (the paper's Fig. 18): round 1 is
    the compression above, round ``r > 1`` gives the compressor the context, the question and its
    round ``r-1`` summary (:func:`mi_utils.prompts.refinement_messages`) and keeps the new summary;
    each of the ``M`` samples is its own chain. Every round is a setting of its own, with the id
    ``<id>-round<r>`` (``rounds: 1``, the default, is today's single setting, id unchanged).

    Attributes:
      score_mi: score this setting's summaries for MI (default: True, except ``full``).
      rounds: compress-and-refine rounds (LM compressors; default 1 = no refinement).
    """

    temperature: Annotated[float, at_least(0, " (0 = greedy)")] = 1.0
    top_k: Annotated[int, at_least(0, " (0 = off)")] = 0
    top_p: Annotated[float, AfterValidator(open_unit)] = 1.0
    max_new_tokens: NewTokens = 64
    sentences: Any = None
    method: Method | None = None
    k: int | None = None
    score_mi: bool | None = None
    rounds: Annotated[int, at_least(1, " (1 = compress once, no refinement)")] = 1

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
                "",
                f"needs exactly one of 'model' (an LM compressor) or 'method' (extractive: one of {list(method_names())})",
            )
        if has_method:
            bad = [k for k in _LM_ONLY if k in given]
            if bad:
                raise ConfigError(
                    bad[0], f"applies only to LM compressors (with 'model'), not to method {self.method!r}"
                )
            takes_k = method_entry(self.method).takes_k
            if takes_k and (self.k is None or self.k < 1):
                raise ConfigError("k", f"must be an integer >= 1 for method {self.method!r}")
            if not takes_k and self.k is not None:
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
        """``lm``, or the method's kind in its registry: ``extractive``, ``control`` (shared_prefix,
        constant) or ``full`` (:data:`mi_utils.extractive.METHODS`)."""
        return "lm" if self.method is None else method_entry(self.method).kind

    def settings(self) -> list[CompressorSetting]:
        """One :class:`CompressorSetting` per conciseness value."""
        if self.method is not None:
            sid = self.name or method_entry(self.method).setting_id(self.k)
            score_mi = self.score_mi if self.score_mi is not None else self.kind != "full"
            return [CompressorSetting(sid, self.kind, self, None, score_mi)]
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


class ExperimentConfig(Section):
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
    M: Annotated[int, at_least(1)] = 3
    seeds: Seeds = [0]
    conditioning: Conditioning = "shared"
    n_boot: Annotated[int, at_least(0, " (0 = no bootstrap)")] = 1000
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
        settings = self.settings()
        if not self.scorers and any(s.score_mi for s in settings):
            raise ConfigError(
                "scorers", "is empty but compressors ask for MI scores (set score_mi: false or add a scorer)"
            )
        known = {x for s in settings for x in (s.id, s.config.name) if x}
        for n, sc in enumerate(self.scorers):
            unknown = [c for c in sc.compressors or () if c not in known]
            if unknown:
                raise ConfigError(
                    f"scorers[{n}].compressors",
                    f"names {unknown}, which no compressor has; known ids and names: {sorted(known)}",
                )
            if sc.compressors is not None and not any(sc.scores(s) for s in settings):
                raise ConfigError(f"scorers[{n}].compressors", "selects no setting whose MI is scored (score_mi)")
            refined = [s.id for s in settings if s.round > 1 and sc.scores(s)]
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
            if backend_entry(pr.backend).priced:
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

    # The runner's rules, read by the planner too (:mod:`mi_utils.experiment`, :mod:`mi_utils.planning`).
    def n_records(self, ds: DatasetConfig, limit: int | None = None) -> int:
        """Records of ``ds`` per MI estimate: ``limit`` (``run --limit``), else the data set's, else ``N``."""
        return limit or ds.limit or self.N

    def predictors_for(self, task: str) -> list[PredictorConfig | None]:
        """The predictors that answer ``task`` records (``[None]`` when none does)."""
        return [p for p in self.predictors if p.handles(task)] or [None]

    def settings_for(self, task: str) -> list[CompressorSetting]:
        """The settings run on ``task`` records: every one, less the ``full`` baseline when no predictor answers."""
        has_predictor = self.predictors_for(task) != [None]
        return [s for s in self.settings() if s.kind != "full" or has_predictor]

    def combos(
        self, setting: CompressorSetting, task: str
    ) -> list[tuple[int, int, PredictorConfig | None, ScorerConfig | None]]:
        """``(predictor index, scorer index, predictor, scorer)`` of every row of a setting (per record)."""
        scorers = [sc for sc in self.scorers if sc.scores(setting)] or [None]
        return [(pi, si, p, sc) for pi, p in enumerate(self.predictors_for(task)) for si, sc in enumerate(scorers)]

    def reference_tokenizer(self) -> str | ModelSpec | None:
        """Whose tokenizer LM-free summaries use: ``tokenizer`` (a name) when set, else the first
        scorer's (or scoring predictor's) spec; ``None`` when there is neither."""
        if self.tokenizer:
            return self.tokenizer
        return next((m for m in [*self.scorers, *self.predictors] if SCORER in backend_entry(m.backend).roles), None)

    def model_uses(self) -> list[tuple[str, ModelSpec, tuple[str, ...]]]:
        """``(config path, spec, roles it needs)`` of every model the run uses, in config order:
        LM compressors, predictors, scorers, the judge."""
        uses = [
            (f"compressors[{n}]", c, (GENERATOR, SCORER)) for n, c in enumerate(self.compressors) if c.method is None
        ]
        uses += [(f"predictors[{n}]", p, p.needs()) for n, p in enumerate(self.predictors)]
        uses += [(f"scorers[{n}]", sc, (SCORER,)) for n, sc in enumerate(self.scorers)]
        return uses + ([("judge", self.judge, (GENERATOR,))] if self.judge is not None else [])

    def model_specs(self) -> list[ModelSpec]:
        """Every model spec the run uses (compressors, predictors, scorers, judge), in config order."""
        return [spec for _, spec, _ in self.model_uses()]

    def to_dict(self) -> dict:
        """Plain-data view of every field (``config.json`` of a run); :meth:`from_dict` reads it back."""
        return self.model_dump()

    @classmethod
    def from_dict(cls, data: dict) -> ExperimentConfig:
        """The config of :meth:`to_dict`'s data (a run's ``config.json``): :func:`parse_config` of
        :func:`config_from_dump` (a method compressor's written-out default ``temperature`` is not given).

        Raises:
          ValueError: as :func:`parse_config`.
        """
        return parse_config(config_from_dump(data))


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
    def base(self) -> str:
        """The config's compressor id this setting expands (``compressor_base``): an LM compressor's ``id``
        (this setting is ``<id>``, ``<id>-<k>sent``, ``<id>-round<r>`` or ``<id>-<k>sent-round<r>``), a
        method's setting id."""
        return self.config.id if self.kind == "lm" else self.id

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
        """Summaries per record: ``M`` for sampled compressors (LM, a method registered ``sampled``), else 1."""
        return M if self.kind == "lm" or method_entry(self.config.method).sampled else 1

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


def config_from_dump(data: dict) -> dict:
    """A dump of every field (:meth:`ExperimentConfig.to_dict`, a run's ``config.json``) as a config the
    validator accepts: each section's fields at their defaults left out (the validator refuses LM-only
    fields given to a method compressor, and a dump gives every field)."""
    if not isinstance(data, dict):
        raise ValueError(f"the config must be a mapping of keys to values, got {type_name(data)}")
    kinds = {"datasets": DatasetConfig, "compressors": CompressorConfig, "predictors": PredictorConfig}
    kinds["scorers"] = ScorerConfig

    def trim(section: Any, cls: Any) -> Any:
        if not isinstance(section, dict):
            return section  # the validator names what is wrong with it
        return {k: v for k, v in section.items() if k not in cls.model_fields or v != cls.model_fields[k].default}

    out = {k: [trim(x, kinds[k]) for x in v] if k in kinds and isinstance(v, list) else v for k, v in data.items()}
    if out.get("judge"):
        out["judge"] = trim(out["judge"], JudgeConfig)
    return out


def parse_config(data: Any) -> ExperimentConfig:
    """Validate a config given as plain data (what ``yaml.safe_load`` returns).

    Raises:
      ValueError: one line per bad field, each naming the field's path.
    """
    if not isinstance(data, dict):
        raise ValueError(f"the config must be a mapping of keys to values, got {type_name(data)}")
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as e:
        raise ValueError(error_lines(e)) from None


def __getattr__(name: str) -> tuple[str, ...]:
    """``BACKENDS``, ``SERVER_BACKENDS`` and ``METHODS``, read from the registries at each access."""
    if name == "BACKENDS":
        return backend_names()
    if name == "SERVER_BACKENDS":
        return server_backends()
    if name == "METHODS":
        return method_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
