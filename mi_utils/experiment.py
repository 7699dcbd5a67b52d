"""Experiments: a YAML config in, one tidy results table out.

A config (:class:`ExperimentConfig`, read by :func:`load_config`) names data sets, compressors
(LM compressors, extractive baselines, the zero-information control and the no-compression
baseline), predictors and proxy scorers. :func:`run` then does, for every data set and seed::

    compress (every compressor setting)            compress.compress_records / extractive_summaries
      -> score (all settings in one matrix)        compress.score_matrix
      -> estimate I(X;Z|Q) per setting            estimators.estimate_mi
      -> predict per summary + majority vote       predict.predict_choice_records / generate_answers
      -> evaluate                                  evaluate.mc_correct / normalized_match / judge / perplexity
      -> costs                                     costs.flops_per_generation / PriceTable

and appends one row per (record, configuration) to ``<out>/rows.jsonl`` the moment the row
exists; ``summary.csv`` (one line per configuration) is written at the end, and the run's
seconds per stage are appended to ``timings.json``.

Scoring is shared: the summaries of *all* compressor settings of a (data set, seed) are scored
in one :func:`~mi_utils.compress.score_matrix` call, so each of the ``N^2`` scoring prefixes
(context ``x_l`` with query ``q_i``) is encoded once for every compressor instead of once per
compressor (about 6x less prefill work for the default config). The price: the score store is
keyed by the whole set of summaries, so adding a compressor to a config re-scores that data
set and seed.

Resuming: every stage writes to a JSONL store keyed by everything that determines its output
(``<out>/stores/``), and finished rows are keyed too. Rerunning an interrupted run with the same
config loads the finished summaries, scores, predictions and rows instead of recomputing them;
a (data set, seed) group whose rows are all present is skipped without loading any model.

Before the first unit of work the runner checks every model the config names (pre-flight):
each backend is built (a server must answer and serve the named model), must fill the role it
has in the config (:data:`~mi_utils.backends.base.BACKEND_ROLES`; the config validator already
refused a chat API as scorer by name), and every local or served model's config must be readable
(FLOPs and parameter counts are never NaN in a finished row; set ``hf_config`` or ``params`` when
the model name alone does not lead to its ``config.json``). A broken grid fails there, not hours in.

What an MI row estimates is in its ``mi_estimand`` column (see :mod:`mi_utils.compress` for
``conditioning``): ``I(X;Z|Q)`` when every record of the data set has the same question;
otherwise ``shared`` conditioning gives the contrast with each summary's own question held fixed
and ``paired`` gives ``I(X,Q;Z)``, and neither is ``I(X;Z|Q)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import inspect
import json
import logging
import math
import re
import time
import types
import typing
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np
from tqdm.auto import tqdm

from .backends.base import BACKEND_ROLES, GENERATOR, SCORER, SamplingParams, require_role
from .compress import (
    EXTRACTIVE,
    SCORING_PROMPTS,
    Summary,
    compress_records,
    extractive_summaries,
    hash_text,
    own_scoring_exact,
    score_matrix,
)
from .costs import DEFAULT_PRICES, PriceTable, config_dict, estimate_params, flops_per_generation
from .estimators import SATURATION_THRESHOLD, estimate_mi
from .models import PACKAGED, ModelNotAvailableError, model_family
from .prompts import PROMPT_VERSION
from .store import JsonlStore, make_key

__all__ = [
    "ModelSpec",
    "DatasetConfig",
    "CompressorConfig",
    "PredictorConfig",
    "ScorerConfig",
    "JudgeConfig",
    "ExperimentConfig",
    "CompressorSetting",
    "ModelCache",
    "RunResult",
    "ROW_COLUMNS",
    "REQUIRED_NUMERIC",
    "CONFIG_COLUMNS",
    "load_config",
    "parse_config",
    "run",
    "summarize",
]

log = logging.getLogger(__name__)

BACKENDS = tuple(BACKEND_ROLES)
SERVER_BACKENDS = ("vllm", "sglang")
UNPARSED_POLICIES = ("match", "wrong", "error")
#: ``mi_estimand`` values: what an MI row estimates (module docstring).
ESTIMANDS = {"one_question": "I(X;Z|Q)", "shared": "I(X;Z|Q) with Q held at the summary's own question (Q depends on X)",
             "paired": "I(X,Q;Z)"}
MODES = ("choice", "generate")
RULES = ("sum", "mean")
METHODS = (*EXTRACTIVE, "full")  # "full": no compression, the summary is the whole context
_K_METHODS = ("first_k", "bm25_top_k", "random_k")
_LM_ONLY = ("temperature", "top_k", "top_p", "max_new_tokens", "sentences", "backend", "dtype", "urls",
            "tokenizer", "params", "hf_config")


# =============================================================================== config
@dataclass
class ModelSpec:
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
    backend: str = "hf"
    dtype: str = "float32"
    urls: list[str] | None = None
    tokenizer: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    params: float | None = None
    hf_config: str | None = None
    name: str | None = None

    @property
    def id(self) -> str:
        """Short id used in tables."""
        return self.name or _short(self.model)

    def cache_key(self) -> tuple:
        """What makes two specs the same loaded model."""
        return (self.backend, self.model, self.dtype, tuple(self.urls or ()), self.tokenizer, self.base_url)

    def key_dict(self) -> dict:
        """The parts of the spec that determine outputs (for store and row keys)."""
        return {"backend": self.backend, "model": self.model, "dtype": self.dtype}

    def _check_model(self, path: str, *, needs: Sequence[str] = (), role: str = "") -> None:
        """Check the spec; ``needs``: the backend roles this use requires, ``role``: its name in messages."""
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"{path}.model is required (a packaged name, hub id, path or served model name)")
        if self.backend not in BACKENDS:
            raise ValueError(f"{path}.backend must be one of {list(BACKENDS)}, got {self.backend!r}")
        missing = [r for r in needs if r not in BACKEND_ROLES[self.backend]]
        if missing:
            able = [b for b in BACKENDS if all(r in BACKEND_ROLES[b] for r in needs)]
            why = (" (a chat API returns no log-probs for prompt tokens and has no local tokenizer)"
                   if self.backend == "openai" else "")
            raise ValueError(f"{path}.backend {self.backend!r} cannot be {role}: it is a "
                             f"{'/'.join(sorted(BACKEND_ROLES[self.backend]))} only{why}; use one of {able}")
        if self.backend in SERVER_BACKENDS and not self.urls:
            raise ValueError(f"{path}.urls is required for backend {self.backend!r} (server base URLs)")
        if self.backend not in SERVER_BACKENDS and self.urls:
            raise ValueError(f"{path}.urls is only for vllm/sglang backends, not {self.backend!r}")
        if self.dtype not in ("float32", "bfloat16", "float16", "auto"):
            raise ValueError(f"{path}.dtype must be float32, bfloat16, float16 or auto, got {self.dtype!r}")
        if self.params is not None and self.params <= 0:
            raise ValueError(f"{path}.params must be > 0 (a parameter count), got {self.params!r}")
        if self.name is not None and not self.name.strip():
            raise ValueError(f"{path}.name must be a non-empty string")


@dataclass
class DatasetConfig:
    """A data set: :func:`mi_utils.data.load_dataset` name, loader kwargs, and N.

    Attributes:
      name: data set name (``synthetic_clinical``, ``longhealth``, ``financebench``, ...).
      kwargs: keyword arguments for the loader (``path=``, ...).
      limit: N for this data set (the first ``limit`` records are the contexts of one MI
        estimate); default: the config's ``N``.
    """

    name: str = ""
    kwargs: dict = field(default_factory=dict)
    limit: int | None = None

    @property
    def id(self) -> str:
        """Name plus a hash of the loader kwargs (store folder name)."""
        suffix = f"-{hash_text(json.dumps(self.kwargs, sort_keys=True, default=str))[:8]}" if self.kwargs else ""
        return f"{_slug(self.name)}{suffix}"

    def validate(self, path: str, raw: dict) -> None:
        from .data import DATASETS

        key = self.name.strip().lower().replace("-", "_") if isinstance(self.name, str) else ""
        if key not in DATASETS:
            raise ValueError(f"{path}.name must be one of {sorted(DATASETS)}, got {self.name!r}")
        if self.limit is not None and self.limit < 2:
            raise ValueError(f"{path}.limit must be >= 2 (the estimator contrasts N >= 2 contexts), got {self.limit}")


@dataclass
class CompressorConfig(ModelSpec):
    """An LM compressor (``model:``) or an LM-free one (``method:``).

    LM compressors sample with :class:`~mi_utils.backends.base.SamplingParams`; ``sentences`` is
    the conciseness setting ("use EXACTLY k sentences"), one value or a list of values (each one
    a separate setting; ``null`` = the plain prompt).

    ``method`` is one of ``first_k`` (first ``k`` tokens), ``bm25_top_k`` / ``random_k``
    (``k`` sentences), ``shared_prefix`` (the zero-information control: the token prefix all
    records share) or ``full`` (no compression: the whole context, for the predictor; its MI is
    not scored by default because it always sits at the ``log N`` ceiling).

    Attributes:
      score_mi: score this setting's summaries for MI (default: True, except ``full``).
    """

    backend: str = "hf"
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    max_new_tokens: int = 64
    sentences: Any = None
    method: str | None = None
    k: int | None = None
    score_mi: bool | None = None

    def validate(self, path: str, raw: dict) -> None:
        has_model, has_method = bool(raw.get("model")), raw.get("method") is not None
        if has_model == has_method:
            raise ValueError(f"{path} needs exactly one of 'model' (an LM compressor) or 'method' (extractive: "
                             f"one of {list(METHODS)})")
        if has_method:
            bad = [k for k in _LM_ONLY if k in raw]
            if bad:
                raise ValueError(f"{path}.{bad[0]} applies only to LM compressors (with 'model'), not to method "
                                 f"{self.method!r}")
            if self.method not in METHODS:
                raise ValueError(f"{path}.method must be one of {list(METHODS)}, got {self.method!r}")
            if self.method in _K_METHODS and (self.k is None or self.k < 1):
                raise ValueError(f"{path}.k must be an integer >= 1 for method {self.method!r}")
            if self.method not in _K_METHODS and self.k is not None:
                raise ValueError(f"{path}.k does not apply to method {self.method!r}")
            return
        if "k" in raw:
            raise ValueError(f"{path}.k applies only to extractive methods; for sampling use top_k")
        self._check_model(path, needs=(GENERATOR, SCORER),
                          role="a compressor (summary token ids and lengths come from its local tokenizer)")
        if self.temperature < 0:
            raise ValueError(f"{path}.temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"{path}.top_k must be >= 0 (0 = off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"{path}.top_p must be in (0, 1] (1 = off), got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"{path}.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        values = self.sentences if isinstance(self.sentences, list) else [self.sentences]
        if not values:
            raise ValueError(f"{path}.sentences must be null, a positive integer or a non-empty list of them")
        for n, v in enumerate(values):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                where = f"{path}.sentences" + (f"[{n}]" if isinstance(self.sentences, list) else "")
                raise ValueError(f"{where} must be null or an integer >= 1, got {v!r}")
        if len(set(values)) != len(values):
            raise ValueError(f"{path}.sentences lists a value twice: {values}")

    @property
    def kind(self) -> str:
        """``lm``, ``extractive``, ``control`` (shared_prefix) or ``full``."""
        if self.method is None:
            return "lm"
        return {"shared_prefix": "control", "full": "full"}.get(self.method, "extractive")

    def settings(self) -> list["CompressorSetting"]:
        """One :class:`CompressorSetting` per conciseness value."""
        if self.method is not None:
            auto = {"first_k": f"first{self.k}", "bm25_top_k": f"bm25_top{self.k}", "random_k": f"random{self.k}"}
            sid = self.name or auto.get(self.method, self.method)
            return [CompressorSetting(sid, self.kind, self, None, self.score_mi if self.score_mi is not None
                                      else self.method != "full")]
        values = self.sentences if isinstance(self.sentences, list) else [self.sentences]
        base = self.id
        return [CompressorSetting(base if v is None else f"{base}-{v}sent", "lm", self, v,
                                  True if self.score_mi is None else self.score_mi) for v in values]


@dataclass
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

    mode: str = "choice"
    rule: str = "sum"
    max_new_tokens: int = 256
    max_context_tokens: int | None = None
    tasks: list[str] | None = None

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
        return self.name or f"{_short(self.model)}-{self.mode}"

    def needs(self) -> tuple[str, ...]:
        """Backend roles this predictor uses: a scorer for ``choice`` mode, a generator for ``generate``
        (and a scorer too when ``tasks`` lists ``perplexity``)."""
        if self.mode == "choice":
            return (SCORER,)
        return (GENERATOR, SCORER) if self.tasks is not None and "perplexity" in self.tasks else (GENERATOR,)

    def validate(self, path: str, raw: dict) -> None:
        if self.mode not in MODES:
            raise ValueError(f"{path}.mode must be one of {list(MODES)}, got {self.mode!r}")
        if self.rule not in RULES:
            raise ValueError(f"{path}.rule must be one of {list(RULES)}, got {self.rule!r}")
        if self.mode == "choice" and self.backend == "openai":
            raise ValueError(f"{path}.mode 'choice' needs log-probs of the options; chat APIs (backend openai) "
                             "cannot score prompts: use mode 'generate'")
        self._check_model(path, needs=self.needs(), role=f"a {self.mode}-mode predictor"
                          + (" that scores perplexity references" if len(self.needs()) == 2 else ""))
        if self.max_new_tokens < 1:
            raise ValueError(f"{path}.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.max_context_tokens is not None and self.max_context_tokens < 1:
            raise ValueError(f"{path}.max_context_tokens must be >= 1 or null, got {self.max_context_tokens}")
        for n, t in enumerate(self.tasks or []):
            if t not in ("multiple_choice", "free_form", "perplexity"):
                raise ValueError(f"{path}.tasks[{n}] must be multiple_choice, free_form or perplexity, got {t!r}")
        if self.tasks is not None and "free_form" in self.tasks and self.mode == "choice":
            raise ValueError(f"{path}.tasks: mode 'choice' cannot answer free_form records (no options)")
        if self.tasks is not None and "perplexity" in self.tasks and self.backend == "openai":
            raise ValueError(f"{path}.tasks: a chat API (backend openai) cannot score perplexity references")


@dataclass
class ScorerConfig(ModelSpec):
    """A scorer: the LM whose log-probs ``log p(z | x_l, q)`` feed the MI estimate.

    Attributes:
      prompt: ``proxy`` (the paper's scoring prompt; any LM is a valid critic, the estimate a
        lower bound) or ``own`` (self-scoring: the compression prompt through the chat template,
        the sampled ids and their stop token; see :mod:`mi_utils.compress`). Only ``own`` with the
        compressor's own ``model`` and ``dtype`` and pure sampling makes ``mi_upper_bits`` an upper
        bound (``upper_is_bound``).
    """

    prompt: str = "proxy"

    def validate(self, path: str, raw: dict) -> None:
        self._check_model(path, needs=(SCORER,), role="a scorer")
        if self.prompt not in SCORING_PROMPTS:
            raise ValueError(f"{path}.prompt must be one of {list(SCORING_PROMPTS)}, got {self.prompt!r}")

    def key_dict(self) -> dict:
        return {**super().key_dict(), **({"prompt": self.prompt} if self.prompt != "proxy" else {})}


@dataclass
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

    max_new_tokens: int = 128
    unparsed: str = "match"

    def validate(self, path: str, raw: dict) -> None:
        self._check_model(path, needs=(GENERATOR,), role="a judge")
        if self.max_new_tokens < 1:
            raise ValueError(f"{path}.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.unparsed not in UNPARSED_POLICIES:
            raise ValueError(f"{path}.unparsed must be one of {list(UNPARSED_POLICIES)}, got {self.unparsed!r}")


@dataclass
class ExperimentConfig:
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
    """

    name: str = ""
    description: str = ""
    output_dir: str = "results"
    N: int = 12
    M: int = 3
    seeds: list[int] = field(default_factory=lambda: [0])
    conditioning: str = "shared"
    n_boot: int = 1000
    threads: int | None = None
    tokenizer: str | None = None
    datasets: list[DatasetConfig] = field(default_factory=list)
    compressors: list[CompressorConfig] = field(default_factory=list)
    predictors: list[PredictorConfig] = field(default_factory=list)
    scorers: list[ScorerConfig] = field(default_factory=list)
    judge: JudgeConfig | None = None
    prices: dict = field(default_factory=dict)

    def validate(self, path: str, raw: dict) -> None:
        p = f"{path}." if path else ""
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", self.name or ""):
            raise ValueError(f"{p}name is required: letters, digits, '_', '-', '.' (it names the results folder)")
        if self.N < 2:
            raise ValueError(f"{p}N must be >= 2 (the estimator contrasts N >= 2 contexts), got {self.N}")
        if self.M < 1:
            raise ValueError(f"{p}M must be >= 1, got {self.M}")
        if not self.seeds:
            raise ValueError(f"{p}seeds must be a non-empty list of integers")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"{p}seeds lists a seed twice: {self.seeds}")
        if self.conditioning not in ("shared", "paired"):
            raise ValueError(f"{p}conditioning must be 'shared' or 'paired', got {self.conditioning!r}")
        if self.n_boot < 0:
            raise ValueError(f"{p}n_boot must be >= 0 (0 = no bootstrap), got {self.n_boot}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"{p}threads must be >= 1 or null, got {self.threads}")
        for key in ("datasets", "compressors"):
            if not getattr(self, key):
                raise ValueError(f"{p}{key} must be a non-empty list")
        if not self.predictors and not self.scorers:
            raise ValueError(f"{p}predictors and scorers are both empty: there would be nothing to measure")
        seen: dict[str, int] = {}
        for n, c in enumerate(self.compressors):
            for s in c.settings():
                if s.id in seen:
                    raise ValueError(f"{p}compressors[{n}] has the id {s.id!r} of compressors[{seen[s.id]}]; "
                                     "give one of them a distinct 'name'")
                seen[s.id] = n
            if c.kind == "full" and not self.predictors:
                raise ValueError(f"{p}compressors[{n}] (method 'full') is a predictor baseline, but there are no "
                                 "predictors")
        if not self.scorers and any(s.score_mi for c in self.compressors for s in c.settings()):
            raise ValueError(f"{p}scorers is empty but compressors ask for MI scores (set score_mi: false or add a "
                             "scorer)")
        for key in ("predictors", "scorers"):
            ids = [s.id for s in getattr(self, key)]
            dup = next((i for i in ids if ids.count(i) > 1), None)
            if dup:
                raise ValueError(f"{p}{key} has the id {dup!r} twice; give one a distinct 'name'")
        ids = [d.id for d in self.datasets]
        dup = next((i for i in ids if ids.count(i) > 1), None)
        if dup:
            raise ValueError(f"{p}datasets lists {dup!r} twice with the same kwargs")
        try:
            table = PriceTable({**DEFAULT_PRICES, **self.prices})
        except (TypeError, ValueError) as e:
            raise ValueError(f"{p}prices: {e}") from None
        for n, pr in enumerate(self.predictors):
            if pr.backend == "openai":
                try:
                    table.price(pr.model)
                except KeyError:
                    raise ValueError(f"{p}predictors[{n}].model {pr.model!r} has no API price; add it under "
                                     f"'prices' as {pr.model}: [usd_per_1m_input, usd_per_1m_output]") from None

    def settings(self) -> list["CompressorSetting"]:
        """Every compressor setting, in config order."""
        return [s for c in self.compressors for s in c.settings()]

    def to_dict(self) -> dict:
        """Plain-data view (round-trips through :func:`parse_config`)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CompressorSetting:
    """One compressor configuration: an LM compressor at one conciseness value, or a method."""

    id: str
    kind: str  # lm | extractive | control | full
    config: CompressorConfig
    sentences: int | None
    score_mi: bool

    @property
    def family(self) -> str:
        """Model family (LM), ``extractive``, ``control`` or ``full``."""
        return model_family(self.config.model) if self.kind == "lm" else self.kind

    def sampling(self, M: int, seed: int) -> SamplingParams | None:
        """Sampling settings of an LM compressor (``None`` for LM-free methods)."""
        c = self.config
        if self.kind != "lm":
            return None
        return SamplingParams(temperature=c.temperature, top_k=c.top_k, top_p=c.top_p,
                              max_new_tokens=c.max_new_tokens, n=M, seed=seed)

    def n_samples(self, M: int) -> int:
        """Summaries per record: ``M`` for sampled compressors, 1 for deterministic ones."""
        return M if self.kind == "lm" or self.config.method == "random_k" else 1

    def key_dict(self) -> dict:
        """What determines this setting's summaries."""
        c = self.config
        if self.kind == "lm":
            return {"id": self.id, **c.key_dict(), "temperature": c.temperature, "top_k": c.top_k, "top_p": c.top_p,
                    "max_new_tokens": c.max_new_tokens, "sentences": self.sentences}
        return {"id": self.id, "method": c.method, "k": c.k}


# --------------------------------------------------------------------------- parsing
def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a YAML experiment config.

    Args:
      path: the YAML file.

    Returns:
      The validated :class:`ExperimentConfig`.

    Raises:
      FileNotFoundError: no such file.
      ValueError: a bad config; the message names the field path, e.g.
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
      ValueError: naming the offending field path.
    """
    return _parse(ExperimentConfig, data, "")


def _parse(cls: type, data: Any, path: str) -> Any:
    where = path or "the config"
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a mapping of keys to values, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            hint = difflib.get_close_matches(str(key), list(fields), n=1)
            sub = f"{path}.{key}" if path else str(key)
            raise ValueError(f"{sub} is not a known key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                             + f"; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(v, hints[k], f"{path}.{k}" if path else k) for k, v in data.items()}
    obj = cls(**kwargs)
    obj.validate(path, data)
    return obj


def _coerce(value: Any, hint: Any, path: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin is Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for a in options:
            try:
                return _coerce(value, a, path)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(errors[0] if len(errors) == 1 else f"{path} has the wrong type ({_type_name(value)})")
    if value is None:
        raise ValueError(f"{path} must not be null")
    if dataclasses.is_dataclass(hint):
        return _parse(hint, value, path)
    if origin is list:
        if isinstance(value, (str, int, float)) and args and args[0] in (str, int):
            value = [value]  # a single value where a list is expected: "urls: http://..." or "seeds: 0"
        if not isinstance(value, list):
            raise ValueError(f"{path} must be a list, got {_type_name(value)}")
        return [_coerce(v, args[0], f"{path}[{n}]") for n, v in enumerate(value)] if args else value
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{path} must be a mapping, got {_type_name(value)}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{path} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{path} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{path} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{path} must be a string, got {value!r}")
        return value
    return value


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def _short(model: str) -> str:
    return model.rstrip("/").split("/")[-1] if model else ""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


# =============================================================================== models
class ModelCache:
    """Loaded backends, one per ``(backend, model, dtype, urls, ...)``, reused across settings.

    Args:
      factory: builds a backend from a :class:`ModelSpec` (default: :func:`make_backend`);
        tests pass a wrapper that counts calls.
    """

    def __init__(self, factory: Callable[[ModelSpec], Any] | None = None) -> None:
        self.factory = factory or make_backend
        self._models: dict[tuple, Any] = {}
        self._tokenizers: dict[str, Any] = {}
        self.load_seconds = 0.0

    def get(self, spec: ModelSpec) -> Any:
        """The backend for ``spec``, loading it on first use."""
        key = spec.cache_key()
        if key not in self._models:
            t = time.perf_counter()
            self._models[key] = self.factory(spec)
            dt = time.perf_counter() - t
            self.load_seconds += dt
            log.info("loaded %s (%s, %s) in %.1f s", spec.model, spec.backend, spec.dtype, dt)
        return self._models[key]

    def tokenizer(self, name: str) -> Any:
        """A tokenizer by name: a loaded scorer's of that model when there is one, else loaded by name."""
        if name not in self._tokenizers:
            loaded = next((b for k, b in self._models.items() if k[1] == name and SCORER in b.roles), None)
            if loaded is not None:
                self._tokenizers[name] = loaded.tokenizer
            else:
                from .models import load_tokenizer

                self._tokenizers[name] = load_tokenizer(name)
        return self._tokenizers[name]


def make_backend(spec: ModelSpec) -> Any:
    """Build the backend a :class:`ModelSpec` names."""
    if spec.backend == "hf":
        from .backends.hf import HFBackend

        return HFBackend(spec.model, dtype=spec.dtype)
    if spec.backend == "vllm":
        from .backends.vllm import VLLMBackend

        return VLLMBackend(spec.urls, spec.model, tokenizer=spec.tokenizer or spec.model)
    if spec.backend == "sglang":
        from .backends.sglang import SGLangBackend

        return SGLangBackend(spec.urls, spec.model, tokenizer=spec.tokenizer or spec.model)
    if spec.backend == "openai":
        from .backends.openai_chat import OpenAIChatBackend

        kw = {"base_url": spec.base_url} if spec.base_url else {}
        if spec.api_key_env:
            kw["api_key_env"] = spec.api_key_env
        return OpenAIChatBackend(spec.model, **kw)
    raise ValueError(f"unknown backend {spec.backend!r}")


def model_config_of(spec: ModelSpec) -> dict:
    """The config of the model a spec names (for FLOPs and parameter counts), without loading weights.

    Tried in order: ``hf_config`` when set (only it); else ``model`` (a packaged name, folder or hub
    id) and then ``tokenizer`` (a served model's ``model`` is often just its served name).

    Raises:
      ValueError: no source could be read; the message names ``hf_config``.
    """
    from .models import load_model_config

    sources = [spec.hf_config] if spec.hf_config else [s for s in (spec.model, spec.tokenizer) if s]
    errors = []
    for source in sources:
        try:
            return config_dict(load_model_config(source))
        except (ModelNotAvailableError, OSError, ValueError) as e:
            errors.append(f"{source!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    raise ValueError(f"the config of model {spec.model!r} ({spec.backend}) cannot be read ({'; '.join(errors)}); "
                     "FLOPs and parameter counts need it: set hf_config to its config.json, a folder or a hub id "
                     "(and params, if its architecture is not llama-like)")


def param_count(spec: ModelSpec, cfg: dict | None) -> float:
    """Parameters of a model: ``params`` when set, the packaged registry, else counted from its config.

    Raises:
      ValueError: none of these gives a count (the message names ``params``).
    """
    if spec.params is not None:
        return float(spec.params)
    if spec.model in PACKAGED:
        return float(PACKAGED[spec.model].params)
    if cfg is not None:
        try:
            return float(estimate_params(cfg))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"cannot count the parameters of {spec.model!r} from its config ({e}); set params") from None
    raise ValueError(f"no parameter count for {spec.model!r}: set params (or hf_config)")


# ============================================================================ results
#: Columns of every row of ``rows.jsonl`` (one row per record and configuration). Notes:
#: ``M`` is the summaries actually drawn per record (1 for deterministic methods).
#: Token counts (the rate's unit is stated here): ``summary_tokens`` is the mean number of tokens
#: of the record's summaries *in the compressor's own tokenizer*, without the stop token (LM-free
#: methods: the reference tokenizer, ``tokenizer`` or the first scorer's); ``summary_tokens_scorer``
#: the tokens the scorer scored (proxy prompt: ``" " + text`` in the scorer's tokenizer; own prompt:
#: the sampled ids plus the stop token); ``mi_per_token_bits`` (the rate of notebook 05) and
#: ``mi_per_token_upper_bits`` divide the set-level estimate by the setting's mean ``summary_tokens``.
#: ``mi_*`` are the set-level estimate, repeated on every row of the configuration, and
#: ``mi_context_bits`` this record's contribution (their mean is ``mi_bits``); ``mi_estimand`` says
#: what they estimate (``I(X;Z|Q)`` only when every record has the same question; module docstring).
#: ``sampling_is_pure`` is True when the compressor engine *applied* pure sampling to this
#: record's summaries (``sampling_effective``: the settings it applied; a model's own generation
#: defaults are never inherited); ``upper_is_bound`` is True only when the scored distribution is
#: the sampling distribution: the scorer self-scores (``scorer_prompt`` ``own``: the compression
#: prompt through the chat template, the sampled ids and their stop token, checked against the
#: prompt hash the compressor recorded), with the compressor's ``model`` and ``dtype``, and every
#: summary of the setting was sampled purely; ``mi_upper_bits`` is then an upper bound in expectation.
#: ``flops_compressor`` is per generation (mean over the record's summaries), ``cost_usd`` the
#: predictor's (and judge's) API cost for the record (0 for local models); ``predictor_params`` is
#: empty for an API model unless its config sets ``params``.
#: ``judge_unparsed``: the record's answers whose judge verdict could not be read (counted under
#: the judge's ``unparsed`` policy; 0 without a judge).
#: ``usable_info_bits`` (choice predictors, multiple-choice records): information about the
#: answer the predictor can use, log2 p_T(y*|z,q) - log2 p0(y*|q) averaged over the record's
#: summaries, with the softmax temperature T fitted on the other records and p0 the better of the
#: no-summary predictor and the uniform guess (:mod:`mi_utils.analysis.information`);
#: ``option_logprobs`` the summed option log-probs per summary, ``baseline_option_logprobs`` and
#: ``baseline_correct`` those of the no-summary pass.
#: Bumped when rows gain columns, so that a resumed run does not reuse rows that lack them.
ROWS_VERSION = 3

ROW_COLUMNS: tuple[str, ...] = (
    "key", "run", "dataset", "task", "record_id", "query", "answer",
    "compressor", "compressor_kind", "compressor_model", "compressor_family", "compressor_params",
    "compressor_backend", "compressor_dtype", "method", "k", "sentences",
    "temperature", "top_k", "top_p", "max_new_tokens", "sampling_is_pure", "sampling_effective",
    "predictor", "predictor_model", "predictor_family", "predictor_params", "predictor_backend",
    "predictor_dtype", "predictor_mode", "predictor_rule",
    "scorer", "scorer_model", "scorer_family", "scorer_params", "scorer_backend", "scorer_dtype", "scorer_prompt",
    "N", "M", "seed", "conditioning", "mi_estimand", "n_boot", "upper_is_bound", "prompt_version", "dtype",
    "summary_tokens", "summary_tokens_scorer", "answer_in_summary", "self_id_rate",
    "mi_scored", "mi_bits", "mi_clipped_bits", "mi_upper_bits", "mi_ceiling_bits", "mi_saturation",
    "mi_saturated", "mi_ci_low_bits", "mi_ci_high_bits", "mi_per_token_bits", "mi_per_token_upper_bits",
    "mi_n_upper_inf", "mi_context_bits", "mi_context_upper_bits",
    "vote_index", "vote_answer", "correct", "correct_sum", "correct_mean", "per_summary_accuracy",
    "per_summary_correct", "answers", "perplexity", "judge_unparsed",
    "usable_info_bits", "usable_info_temperature", "usable_info_null", "baseline_correct",
    "option_logprobs", "baseline_option_logprobs",
    "flops_compressor", "flops_compressor_total", "compressor_prompt_tokens",
    "cost_usd", "predictor_input_tokens", "predictor_output_tokens",
    "summary_texts",
)

#: Numeric columns that must never be NaN (MI columns: wherever ``mi_scored``).
REQUIRED_NUMERIC: tuple[str, ...] = (
    "N", "M", "seed", "summary_tokens", "compressor_params", "flops_compressor", "cost_usd",
)
MI_REQUIRED: tuple[str, ...] = ("mi_bits", "mi_upper_bits", "mi_ceiling_bits", "mi_saturation", "mi_context_bits",
                                "mi_per_token_bits", "scorer_params", "summary_tokens_scorer", "self_id_rate")

#: Columns that identify a configuration (``summary.csv`` groups by them).
CONFIG_COLUMNS: tuple[str, ...] = (
    "dataset", "task", "compressor", "compressor_kind", "compressor_family", "compressor_model", "compressor_params",
    "sentences", "temperature", "top_k", "top_p", "sampling_is_pure", "predictor", "predictor_family",
    "predictor_params", "predictor_mode", "predictor_rule", "scorer", "scorer_family", "scorer_params",
    "scorer_prompt", "N", "M", "seed", "conditioning", "mi_estimand", "upper_is_bound", "prompt_version",
)


@dataclass
class RunResult:
    """Where a run's tables went, and the tables.

    Attributes:
      out_dir: the results folder.
      rows_path, summary_path, timings_path: ``rows.jsonl``, ``summary.csv``, ``timings.json``.
      rows: this config's rows (a pandas DataFrame, ``ROW_COLUMNS`` order).
      summary: one line per configuration (:func:`summarize`).
      timings: this run's seconds per stage (``timings.json`` keeps every run's, oldest first).
    """

    out_dir: Path
    rows_path: Path
    summary_path: Path
    timings_path: Path
    rows: Any
    summary: Any
    timings: dict


class _Timer:
    """Seconds per stage, in total and per (data set, seed, setting)."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.events: list[dict] = []

    @contextlib.contextmanager
    def stage(self, name: str, **where: Any) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t
            self.stages[name] = self.stages.get(name, 0.0) + dt
            self.events.append({"stage": name, "seconds": round(dt, 3), **where})
            log.info("%s %s: %.1f s", name, " ".join(f"{k}={v}" for k, v in where.items()), dt)


# ================================================================================= run
def run(
    config: ExperimentConfig | str | Path,
    out_dir: str | Path | None = None,
    progress: bool = True,
    *,
    limit: int | None = None,
    models: ModelCache | None = None,
) -> RunResult:
    """Run an experiment (resumably) and write its tables.

    Args:
      config: a config or the path of its YAML file.
      out_dir: results folder (default: ``<output_dir>/<name>``).
      progress: show progress bars.
      limit: override N for every data set (a quick look at a big config).
      models: a :class:`ModelCache` to reuse loaded models across runs (or to inject backends).

    Returns:
      A :class:`RunResult`; the tables are on disk as well.

    Raises:
      ValueError: a bad config, or a data set with fewer than 2 records.
    """
    cfg = config if isinstance(config, ExperimentConfig) else load_config(config)
    if limit is not None and limit < 2:
        raise ValueError(f"limit must be >= 2, got {limit}")
    out = Path(out_dir) if out_dir is not None else Path(cfg.output_dir) / cfg.name
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    if cfg.threads is not None:
        import torch

        torch.set_num_threads(cfg.threads)
    runner = _Runner(cfg, out, progress, limit, models or ModelCache())
    timings_path = out / "timings.json"
    started, t0, loaded0 = time.time(), time.perf_counter(), runner.models.load_seconds
    error = None
    try:
        runner.run()
    except BaseException as e:  # an interrupted run still records where its time went
        error = f"{type(e).__name__}: {e}"
        raise
    finally:
        total = time.perf_counter() - t0
        stages = {k: round(v, 3) for k, v in runner.timer.stages.items()}
        stages["load_models"] = round(runner.models.load_seconds - loaded0, 3)
        timings = {"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                   "total_s": round(total, 3), "stages_s": stages, "rows_written": runner.rows_written,
                   "rows_reused": runner.rows_reused, "error": error, "events": runner.timer.events}
        _append_timings(timings_path, timings)
        log.info("run %s: %.1f s (%s); %d rows written, %d reused%s", cfg.name, total,
                 ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()), runner.rows_written, runner.rows_reused,
                 f"; stopped by {error}" if error else "")
    rows = runner.frame()
    summary = summarize(rows)
    summary_path = out / "summary.csv"
    summary.to_csv(summary_path, index=False)
    return RunResult(out, runner.rows.path, summary_path, timings_path, rows, summary, timings)


def _append_timings(path: Path, timings: dict) -> None:
    """Add this run's timings to ``timings.json`` (``{"runs": [...]}``, oldest first).

    A resumed or fully cached run does not erase the timings of the run that did the work.
    """
    runs = []
    if path.exists():
        try:
            runs = json.loads(path.read_text(encoding="utf-8")).get("runs", [])
        except (ValueError, AttributeError):
            log.warning("%s is not valid timings JSON; starting it afresh", path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"runs": [*runs, timings]}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


class _Runner:
    def __init__(self, cfg: ExperimentConfig, out: Path, progress: bool, limit: int | None, models: ModelCache):
        self.cfg, self.out, self.progress, self.limit, self.models = cfg, out, progress, limit, models
        self.rows = JsonlStore(out / "rows.jsonl")
        self.timer = _Timer()
        self.keys: list[str] = []  # this config's row keys, in order
        self.rows_written = 0
        self._existing = set(self.rows.keys())  # rows finished by an earlier (interrupted) run
        self.prices = PriceTable({**DEFAULT_PRICES, **cfg.prices})
        self._meta: dict[tuple, dict] = {}
        self._outcomes: dict[tuple, dict] = {}
        self._preflighted = False

    # ------------------------------------------------------------------ helpers
    def store(self, dataset: DatasetConfig, name: str) -> JsonlStore:
        return JsonlStore(self.out / "stores" / dataset.id / f"{_slug(name)}.jsonl")

    def model_meta(self, spec: ModelSpec) -> dict:
        """Family, parameter count and (for FLOPs) config of a model, read without loading it.

        Raises:
          ValueError: the config of a local or served model cannot be read and ``params`` is not
            set (or the model is a compressor, whose FLOPs need the config).
        """
        key = spec.cache_key()
        if key not in self._meta:
            if spec.backend == "openai":  # an API model: its config is not published
                meta = {"family": model_family(spec.model), "params": spec.params, "config": None}
            else:
                compressor = isinstance(spec, CompressorConfig)
                try:
                    cfg = model_config_of(spec)
                except ValueError:
                    if compressor or spec.params is None:
                        raise
                    cfg = None
                meta = {"family": model_family(spec.model), "params": param_count(spec, cfg), "config": cfg}
            self._meta[key] = meta
        return self._meta[key]

    def preflight(self) -> None:
        """Build every backend the config names, check its roles and read every model config.

        Runs once, before the first unit of work, so that a server that is down, serves another
        model or a model whose config cannot be read stops the run before anything is computed.

        Raises:
          ValueError: a backend lacks a role it is used in, or a model's config cannot be read.
          ServerError: a server does not answer or serves another model (from the backend).
        """
        if self._preflighted:
            return
        c = self.cfg
        uses: list[tuple[str, ModelSpec, tuple[str, ...]]] = []
        uses += [(f"compressors[{n}]", x, (GENERATOR, SCORER)) for n, x in enumerate(c.compressors) if x.method is None]
        uses += [(f"predictors[{n}]", x, x.needs()) for n, x in enumerate(c.predictors)]
        uses += [(f"scorers[{n}]", x, (SCORER,)) for n, x in enumerate(c.scorers)]
        uses += [("judge", c.judge, (GENERATOR,))] if c.judge is not None else []
        with self.timer.stage("preflight"):
            for path, spec, needs in uses:
                try:
                    self.model_meta(spec)
                except ValueError as e:
                    raise ValueError(f"{path}: {e}") from None
                backend = self.models.get(spec)
                for role in needs:
                    try:
                        require_role(backend, role, path)
                    except TypeError as e:
                        raise ValueError(str(e)) from None
        self._preflighted = True

    def reference_tokenizer(self) -> Any:
        """The tokenizer of LM-free summaries: ``tokenizer`` when set, else the first scorer's (or
        the first scoring predictor's)."""
        if self.cfg.tokenizer:
            return self.models.tokenizer(self.cfg.tokenizer)
        spec = next((m for m in [*self.cfg.scorers, *self.cfg.predictors] if SCORER in BACKEND_ROLES[m.backend]), None)
        if spec is None:
            raise ValueError("extractive compressors need a tokenizer: set 'tokenizer' in the config")
        return self.models.get(spec).tokenizer

    def row_key(self, ds: DatasetConfig, N: int, seed: int, setting: CompressorSetting,
                pred: PredictorConfig | None, scorer: ScorerConfig | None, record_id: str) -> str:
        c = self.cfg
        return make_key(kind="row", dataset=ds.name, kwargs=ds.kwargs, record=record_id, N=N, M=c.M, seed=seed,
                        compressor=setting.key_dict(), score_mi=setting.score_mi,
                        predictor=None if pred is None else {**pred.key_dict(), "mode": pred.mode, "rule": pred.rule,
                                                             "max_new_tokens": pred.max_new_tokens,
                                                             "max_context_tokens": pred.max_context_tokens},
                        scorer=None if scorer is None else scorer.key_dict(), conditioning=c.conditioning,
                        n_boot=c.n_boot, judge=None if c.judge is None else c.judge.key_dict(), prompt=PROMPT_VERSION,
                        rows_version=ROWS_VERSION)

    def predictors(self, task: str) -> list[PredictorConfig | None]:
        """The predictors that answer ``task`` records (``[None]`` when none does)."""
        return [p for p in self.cfg.predictors if p.handles(task)] or [None]

    def combos(self, setting: CompressorSetting, task: str) -> list[tuple[int, int, PredictorConfig | None,
                                                                          ScorerConfig | None]]:
        """``(predictor index, scorer index, predictor, scorer)`` of every row of a setting."""
        scorers = self.cfg.scorers if setting.score_mi else [None]
        return [(pi, si, p, sc) for pi, p in enumerate(self.predictors(task)) for si, sc in enumerate(scorers)]

    @property
    def rows_reused(self) -> int:
        """Rows of this config that an earlier run had already written."""
        return sum(k in self._existing for k in self.keys)

    def frame(self):
        import pandas as pd

        wanted = set(self.keys)
        by_key = {r["key"]: r for r in self.rows.rows() if r.get("key") in wanted}
        df = pd.DataFrame([by_key[k] for k in self.keys if k in by_key])
        if df.empty:
            return pd.DataFrame(columns=list(ROW_COLUMNS))
        return df.reindex(columns=list(ROW_COLUMNS))

    # ---------------------------------------------------------------------- run
    def run(self) -> None:
        for ds in self.cfg.datasets:
            records = self.load_records(ds)
            for seed in self.cfg.seeds:
                self.run_group(ds, records, seed)

    def load_records(self, ds: DatasetConfig) -> list:
        from .data import DATASETS, load_dataset

        N = self.limit or ds.limit or self.cfg.N
        kwargs = dict(ds.kwargs)
        loader = DATASETS[ds.name.strip().lower().replace("-", "_")]
        if "limit" not in kwargs and "limit" in inspect.signature(loader).parameters:
            kwargs["limit"] = N
        with self.timer.stage("load_data", dataset=ds.name):
            records = load_dataset(ds.name, **kwargs)
        if len(records) < N:
            log.warning("%s has %d records, fewer than N=%d; using all of them", ds.name, len(records), N)
        records = list(records[:N])
        if len(records) < 2:
            raise ValueError(f"data set {ds.name!r} gave {len(records)} record(s); the estimator needs >= 2")
        if len({r.task for r in records}) != 1:
            raise ValueError(f"data set {ds.name!r} mixes tasks {sorted({r.task for r in records})}; one per data set")
        ids = [r.id for r in records]
        if len(set(ids)) != len(ids):
            raise ValueError(f"data set {ds.name!r} has duplicate record ids; rows could not be told apart")
        return records

    def run_group(self, ds: DatasetConfig, records: list, seed: int) -> None:
        cfg, N, task = self.cfg, len(records), records[0].task
        settings = [s for s in cfg.settings() if s.kind != "full" or self.predictors(task) != [None]]
        keys = {(s.id, i, pi, si): self.row_key(ds, N, seed, s, p, sc, r.id)
                for s in settings for i, r in enumerate(records) for pi, si, p, sc in self.combos(s, task)}
        self.keys.extend(keys.values())
        if all(k in self.rows for k in keys.values()):
            log.info("%s seed=%d: all %d rows present; skipped", ds.name, seed, len(keys))
            return
        self.preflight()

        # 1. compress: every setting (finished summaries come from the store)
        summaries: dict[str, list[list[Summary]]] = {}
        costs: dict[str, list[dict]] = {}
        for s in tqdm(settings, desc=f"compress {ds.name} seed={seed}", disable=not self.progress):
            summaries[s.id], costs[s.id] = self.compress(ds, records, s, seed)

        # 2. score all scored settings in one matrix per scorer, 3. estimate MI per setting
        scored = [s for s in settings if s.score_mi]
        mi: dict[tuple[str, str], dict] = {}
        for sc in cfg.scorers if scored else []:
            mi.update(self.score_and_estimate(ds, records, seed, scored, summaries, sc))

        # 4. usable information about the answer (choice predictors on multiple-choice records):
        #    every setting's option scores plus a no-summary pass, cross-fitted calibration
        usable: dict[tuple[str, str], dict] = {}
        if task == "multiple_choice":
            for pred in self.predictors(task):
                if pred is not None and pred.mode == "choice":
                    usable.update(self.usable_information(ds, records, settings, summaries, pred))

        # 5. predict + evaluate, one row per record as soon as it exists
        for s in settings:
            self.predict_rows(ds, records, seed, s, summaries[s.id], costs[s.id], mi, keys, usable)

    # --------------------------------------------------------------- compress
    def compress(self, ds: DatasetConfig, records: list, s: CompressorSetting, seed: int):
        """Summaries of every record, and per-summary compressor costs."""
        M = s.n_samples(self.cfg.M)
        if s.kind != "lm":
            with self.timer.stage("extractive", dataset=ds.name, seed=seed, compressor=s.id):
                tok = self.reference_tokenizer()
                if s.config.method == "full":
                    sums = [[Summary(r.id, 0, r.context, len(tok(r.context, add_special_tokens=False)["input_ids"]),
                                     "full")] for r in records]
                else:
                    sums = extractive_summaries(records, s.config.method, s.config.k or 1, tok, M=M, seed=seed)
            zero = {"flops": 0.0, "prompt_tokens": 0}
            return sums, [[zero] * len(row) for row in sums]
        spec = s.config
        backend = self.models.get(spec)
        meta = self.model_meta(spec)
        store = self.store(ds, f"summaries-{spec.backend}-{_short(spec.model)}-{spec.dtype}")
        with self.timer.stage("generation", dataset=ds.name, seed=seed, compressor=s.id):
            sums = compress_records(backend, records, M, s.sampling(M, seed), sentences=s.sentences, store=store,
                                    progress=self.progress)
        out = []
        for rec, row in zip(records, sums):
            for z in row:
                if z.prompt_tokens is None:
                    raise ValueError(f"compressor {s.id!r} reported no prompt token count for record {rec.id!r}; "
                                     "its FLOPs cannot be computed")
            out.append([{"flops": flops_per_generation(meta["config"], z.prompt_tokens, z.n_tokens,
                                                       params=meta["params"]),
                         "prompt_tokens": z.prompt_tokens} for z in row])
        return sums, out

    # ------------------------------------------------------------------ score
    def estimand(self, records) -> str:
        """What this data set's MI rows estimate (``mi_estimand``)."""
        if len({r.query for r in records}) == 1:
            return ESTIMANDS["one_question"]
        return ESTIMANDS[self.cfg.conditioning]

    def score_and_estimate(self, ds, records, seed, settings, summaries, sc: ScorerConfig) -> dict:
        """Score every scored setting's summaries in one matrix and estimate MI per setting.

        Returns:
          ``{(setting id, scorer id): {...}}`` with the estimate, per-record contributions, the
          self-identification rate, scored token counts, the rate (bits per compressor token) and
          whether the leave-one-out value is an upper bound.
        """
        cfg = self.cfg
        scorer = self.models.get(sc)
        contexts, queries = [r.context for r in records], [r.query for r in records]
        blocks, zs = [], [[] for _ in records]
        for s in settings:
            start = len(zs[0])
            for i, row in enumerate(summaries[s.id]):
                zs[i].extend(row)
            blocks.append((s, start, len(zs[0])))
        estimand = self.estimand(records)
        if estimand != ESTIMANDS["one_question"]:
            log.warning("%s: every record has its own question, so the MI estimate is %s, not I(X;Z|Q) "
                        "(see mi_utils.compress); a data set with one shared question gives I(X;Z|Q)", ds.name, estimand)
        store = self.store(ds, f"scores-{sc.backend}-{_short(sc.model)}-{sc.dtype}"
                               + ("" if sc.prompt == "proxy" else f"-{sc.prompt}"))
        with self.timer.stage("scoring", dataset=ds.name, seed=seed, scorer=sc.id):
            logp, lengths = score_matrix(scorer, contexts, queries, zs, conditioning=cfg.conditioning,
                                         prompt=sc.prompt, store=store, tag=f"{ds.id}|{sc.backend}|{sc.dtype}",
                                         progress=self.progress)
        exact = own_scoring_exact(scorer, contexts, queries, zs) if sc.prompt == "own" else np.zeros(lengths.shape, bool)
        out = {}
        with self.timer.stage("estimation", dataset=ds.name, seed=seed, scorer=sc.id):
            N = len(records)
            for s, a, b in blocks:
                lp = logp[:, a:b, :]
                est = estimate_mi(lp, None, unit="bits", n_boot=cfg.n_boot, seed=seed,
                                  conditioning=cfg.conditioning, warn=False)
                loo = _loo_per_context(lp)
                own = np.argmax(lp, axis=2) == np.arange(N)[:, None]
                # the rate: bits per summary token in the compressor's own tokens (Summary.n_tokens)
                rate_tokens = float(np.mean([[z.n_tokens for z in row] for row in summaries[s.id]]))
                bound = bool(s.kind == "lm" and sc.prompt == "own" and sc.model == s.config.model
                             and sc.dtype == s.config.dtype and exact[:, a:b].all()
                             and all(z.sampling_is_pure for row in summaries[s.id] for z in row))
                out[(s.id, sc.id)] = {"estimate": est, "loo_context_bits": loo, "self_id": own.mean(axis=1),
                                      "scorer_tokens": lengths[:, a:b].mean(axis=1), "rate_tokens": rate_tokens,
                                      "upper_is_bound": bound, "estimand": estimand}
                if est.saturated:
                    log.warning("%s / %s: MI %.2f bits is %.0f%% of its log N ceiling (%.2f bits, N=%d): saturated; "
                                "it says which record a summary came from, not how much it holds",
                                s.id, sc.id, est.value, 100 * est.saturation, est.ceiling, N)
        return out

    # ---------------------------------------------------------------- predict
    def usable_information(self, ds, records, settings, summaries, pred: PredictorConfig) -> dict:
        """Cross-fitted usable information (bits) of every (setting, record) for one predictor.

        Needs every setting's option scores (from the prediction store when they exist) and the
        predictor's no-summary pass; see :func:`mi_utils.analysis.information.cross_fitted_usable_information`.
        The summed option log-probs are used whatever ``rule`` ranks the options (a sum is a
        log-likelihood; a per-token mean is not).
        """
        from .analysis.information import cross_fitted_usable_information

        backend = self.models.get(pred)
        store = self.store(ds, f"predictions-{pred.backend}-{_short(pred.model)}-{pred.dtype}")
        with self.timer.stage("prediction", dataset=ds.name, predictor=pred.id):
            scores = {s.id: [np.asarray(self.predict_one(ds, rec, summaries[s.id][i], s, pred)["option_logprobs"])
                             for i, rec in enumerate(tqdm(records, desc=f"predict {s.id} ({pred.id})",
                                                          disable=not self.progress))] for s in settings}
            base = [self._choice(backend, rec, [""], store, pred) for rec in records]  # no-summary pass
        with self.timer.stage("usable_information", dataset=ds.name, predictor=pred.id):
            correct = [list(rec.options).index(rec.answer) for rec in records]
            cf = cross_fitted_usable_information(scores, [b["option_logprobs"][0] for b in base], correct)
        out = {}
        for s in settings:
            for i, b in enumerate(base):
                out[(s.id, pred.id, i)] = {
                    "usable_info_bits": float(cf.bits[s.id][i]), "usable_info_temperature": float(cf.temperature[i]),
                    "usable_info_null": cf.null[i], "baseline_option_logprobs": b["option_logprobs"][0],
                    "baseline_correct": b["correct_sum"]}
        return out

    def predict_rows(self, ds, records, seed, s: CompressorSetting, sums, costs, mi, keys, usable=None) -> None:
        combos = self.combos(s, records[0].task)
        comp_meta = self.model_meta(s.config) if s.kind == "lm" else None
        for pi, pred in enumerate(self.predictors(records[0].task)):
            mine = [(si, sc) for p, si, _, sc in combos if p == pi]
            todo = [i for i in range(len(records)) if any(keys[(s.id, i, pi, si)] not in self.rows for si, _ in mine)]
            if not todo:
                continue
            pmeta = self.model_meta(pred) if pred is not None else None
            smeta = {sc.id: self.model_meta(sc) for _, sc in mine if sc is not None}
            name = pred.id if pred is not None else None
            with self.timer.stage("prediction", dataset=ds.name, seed=seed, compressor=s.id, predictor=name):
                for i in tqdm(todo, desc=f"predict {s.id} ({name})", disable=not self.progress):
                    rec = records[i]
                    outcome = self.predict_one(ds, rec, sums[i], s, pred) if pred is not None else {}
                    if pred is not None and usable and (s.id, pred.id, i) in usable:
                        outcome = {**outcome, **usable[(s.id, pred.id, i)]}
                    for si, sc in mine:
                        key = keys[(s.id, i, pi, si)]
                        if key in self.rows:
                            continue
                        row = self.make_row(ds, rec, i, len(records), seed, s, sums[i], costs[i], pred, pmeta, sc,
                                            smeta.get(sc.id) if sc else None, comp_meta,
                                            mi.get((s.id, sc.id)) if sc else None, outcome)
                        self.rows.append({"key": key, **row})
                        self.rows_written += 1

    def predict_one(self, ds: DatasetConfig, rec, sums: list[Summary], s: CompressorSetting,
                    pred: PredictorConfig) -> dict:
        """Prediction outcome of one record from its summaries (memoised for this run)."""
        memo = (ds.id, rec.id, s.id, pred.id, tuple(z.text for z in sums))
        if memo not in self._outcomes:
            self._outcomes[memo] = self._predict_one(ds, rec, sums, s, pred)
        return self._outcomes[memo]

    def _predict_one(self, ds: DatasetConfig, rec, sums: list[Summary], s: CompressorSetting,
                     pred: PredictorConfig) -> dict:
        backend = self.models.get(pred)
        texts = [z.text for z in sums]
        if s.kind == "full" and pred.max_context_tokens is not None:
            from .evaluate import truncate_context

            # a chat API has no local tokenizer: its budget is counted in the reference tokenizer
            tok = backend.tokenizer if SCORER in backend.roles else self.reference_tokenizer()
            texts = [truncate_context(tok, t, pred.max_context_tokens)[0] for t in texts]
        store = self.store(ds, f"predictions-{pred.backend}-{_short(pred.model)}-{pred.dtype}")
        if rec.task == "perplexity":
            return self._perplexity(backend, rec, texts, store, pred)
        if pred.mode == "choice":
            if not rec.options:
                raise ValueError(f"predictor {pred.id!r} is in 'choice' mode but record {rec.id!r} of {ds.name!r} "
                                 "has no options; use mode 'generate' for free-form data")
            return self._choice(backend, rec, texts, store, pred)
        return self._generate(backend, rec, texts, store, pred)

    def _choice(self, backend, rec, texts, store, pred: PredictorConfig) -> dict:
        from .predict import predict_choice_records, vote

        (res,) = predict_choice_records(backend, [rec], [texts], rule=pred.rule, store=store, progress=False)
        by_rule = {}
        for rule in RULES:
            choices = [sc.index(rule) for sc in res.scores]
            v = vote(choices, [sc.scores(rule) for sc in res.scores])
            by_rule[rule] = (v, [rec.options[c] == rec.answer for c in choices])
        v, per = by_rule[pred.rule]
        return {"vote_index": v, "vote_answer": rec.options[v] if v is not None else None,
                "correct": bool(v is not None and rec.options[v] == rec.answer),
                "correct_sum": _is_right(by_rule["sum"][0], rec), "correct_mean": _is_right(by_rule["mean"][0], rec),
                "per_summary_accuracy": float(np.mean(per)), "per_summary_correct": per,
                "answers": [rec.options[sc.index(pred.rule)] for sc in res.scores], "cost_usd": 0.0,
                "option_logprobs": [sc.sum_logprobs.tolist() for sc in res.scores]}

    def _generate(self, backend, rec, texts, store, pred: PredictorConfig) -> dict:
        from .evaluate import normalize_text, normalized_match
        from .predict import generate_answers, parse_answer, vote

        params = SamplingParams(temperature=0.0, max_new_tokens=pred.max_new_tokens)
        key = make_key(kind="generate", record=rec.id, predictor=pred.key_dict(), query=rec.query,
                       options=list(rec.options or []), summaries=texts, params=params.to_dict(),
                       prompt=PROMPT_VERSION)
        row = store.get(key) if key in store else None
        if row is None:
            answers = generate_answers(backend, texts, rec.query, list(rec.options) if rec.options else None, params)
            usage = [_usage(a.generation) for a in answers]
            row = {"key": key, "record_id": rec.id, "replies": [a.text for a in answers], "usage": usage}
            store.append(row)
        replies, usage = row["replies"], row["usage"]
        in_tok = sum(u[0] for u in usage)
        out_tok = sum(u[1] for u in usage)
        cost = self.prices.cost(pred.model, in_tok, out_tok, local=pred.backend != "openai")
        parsed = [parse_answer(t, list(rec.options) if rec.options else None) for t in replies]
        if rec.options:
            idx = [p.index for p in parsed]
            v = vote(idx)
            per = [i is not None and rec.options[i] == rec.answer for i in idx]
            return {"vote_index": v, "vote_answer": rec.options[v] if v is not None else None,
                    "correct": _is_right(v, rec), "per_summary_accuracy": float(np.mean(per)),
                    "per_summary_correct": per, "answers": [p.answer for p in parsed], "cost_usd": cost,
                    "predictor_input_tokens": in_tok, "predictor_output_tokens": out_tok}
        answers = [p.answer for p in parsed]
        unparsed, judge_cost = 0, 0.0
        if self.cfg.judge is not None:
            per, unparsed, judge_cost = self._judge(store, rec, answers)
        else:
            per = [bool(a) and normalized_match(a, rec.answer) for a in answers]
        # majority over normalised answers; ties go to the earliest answer
        norm = [normalize_text(a) if a else "" for a in answers]
        counts = Counter(n for n in norm if n)
        win = max(counts, key=lambda n: (counts[n], -norm.index(n))) if counts else None
        j = norm.index(win) if win is not None else None
        return {"vote_index": j, "vote_answer": answers[j] if j is not None else None,
                "correct": bool(per[j]) if j is not None else False, "per_summary_accuracy": float(np.mean(per)),
                "per_summary_correct": per, "answers": answers, "cost_usd": cost + judge_cost,
                "predictor_input_tokens": in_tok, "predictor_output_tokens": out_tok, "judge_unparsed": unparsed}

    def _judge(self, store: JsonlStore, rec, answers: list) -> tuple[list[bool], int, float]:
        """Judge each answer; unparsed verdicts follow the judge's ``unparsed`` policy.

        Returns:
          ``(correct per answer, number of unparsed verdicts, the judge's API cost in USD)``.

        Raises:
          ValueError: a verdict could not be read and the policy is ``error``.
        """
        from .evaluate import DEFAULT_JUDGE_PARAMS, judge_many, normalized_match

        j = self.cfg.judge
        params = dataclasses.replace(DEFAULT_JUDGE_PARAMS, max_new_tokens=j.max_new_tokens)
        key = make_key(kind="judge", record=rec.id, judge=j.key_dict(), query=rec.query, reference=rec.answer,
                       answers=answers, params=params.to_dict(), prompt=PROMPT_VERSION, version=2)
        row = store.get(key) if key in store else None
        if row is None:
            res = judge_many(self.models.get(j), [(rec.query, rec.answer, a) for a in answers], params)
            row = {"key": key, "record_id": rec.id, "verdicts": [r.correct for r in res],
                   "replies": [r.raw for r in res], "errors": [r.parse_error for r in res],
                   "usage": [[r.prompt_tokens or 0, r.output_tokens or 0] for r in res]}
            store.append(row)
        correct, unparsed = [], 0
        for a, verdict, reply in zip(answers, row["verdicts"], row["replies"]):
            if verdict is None:
                unparsed += 1
                if j.unparsed == "error":
                    raise ValueError(f"the judge's reply for record {rec.id!r} (answer {a!r}) states no verdict: "
                                     f"{reply[:200]!r}; set judge.unparsed to 'match' or 'wrong' to count such replies")
                verdict = bool(a) and normalized_match(a, rec.answer) if j.unparsed == "match" else False
            correct.append(bool(verdict))
        tokens = np.sum(row["usage"], axis=0) if row["usage"] else (0, 0)
        cost = self.prices.cost(j.model, int(tokens[0]), int(tokens[1]), local=j.backend != "openai")
        return correct, unparsed, cost

    def _perplexity(self, backend, rec, texts, store, pred: PredictorConfig) -> dict:
        from .evaluate import reference_perplexities

        if pred.backend == "openai":
            raise ValueError(f"predictor {pred.id!r} is a chat API and cannot score the reference of perplexity "
                             f"task records ({rec.dataset!r}); use a local or vLLM predictor for them")
        key = make_key(kind="perplexity", record=rec.id, predictor=pred.key_dict(), query=rec.query,
                       answer=rec.answer, summaries=texts, prompt=PROMPT_VERSION)
        row = store.get(key) if key in store else None
        if row is None:
            row = {"key": key, "record_id": rec.id,
                   "perplexity": reference_perplexities(backend, texts, rec.query, rec.answer).tolist()}
            store.append(row)
        return {"perplexity": float(np.mean(row["perplexity"])), "cost_usd": 0.0, "answers": None}

    # -------------------------------------------------------------------- row
    def make_row(self, ds, rec, i, N, seed, s: CompressorSetting, sums, costs, pred, pmeta, sc, smeta, cmeta,
                 mi: dict | None, outcome: dict) -> dict:
        cfg, c = self.cfg, s.config
        lm = s.kind == "lm"
        pure = bool(lm and all(z.sampling_is_pure for z in sums))
        local_dtypes = {m.dtype for m in ((c if lm else None), pred, sc) if m is not None and m.backend == "hf"}
        row = {
            "run": cfg.name, "dataset": ds.name, "task": rec.task, "record_id": rec.id, "query": rec.query,
            "answer": rec.answer,
            "compressor": s.id, "compressor_kind": s.kind, "compressor_model": c.model if lm else None,
            "compressor_family": s.family, "compressor_params": cmeta["params"] if lm else 0.0,
            "compressor_backend": c.backend if lm else None, "compressor_dtype": c.dtype if lm else None,
            "method": c.method, "k": c.k, "sentences": s.sentences,
            "temperature": c.temperature if lm else None, "top_k": c.top_k if lm else None,
            "top_p": c.top_p if lm else None, "max_new_tokens": c.max_new_tokens if lm else None,
            "sampling_is_pure": pure, "sampling_effective": sums[0].sampling_effective if lm else None,
            "predictor": pred.id if pred else None, "predictor_model": pred.model if pred else None,
            "predictor_family": pmeta["family"] if pred else None, "predictor_params": pmeta["params"] if pred else None,
            "predictor_backend": pred.backend if pred else None, "predictor_dtype": pred.dtype if pred else None,
            "predictor_mode": pred.mode if pred else None, "predictor_rule": pred.rule if pred else None,
            "scorer": sc.id if sc else None, "scorer_model": sc.model if sc else None,
            "scorer_family": smeta["family"] if sc else None, "scorer_params": smeta["params"] if sc else None,
            "scorer_backend": sc.backend if sc else None, "scorer_dtype": sc.dtype if sc else None,
            "scorer_prompt": sc.prompt if sc else None,
            "N": N, "M": len(sums), "seed": seed, "conditioning": cfg.conditioning,
            "mi_estimand": mi["estimand"] if mi is not None else None, "n_boot": cfg.n_boot,
            "upper_is_bound": bool(mi is not None and mi["upper_is_bound"]),
            "prompt_version": PROMPT_VERSION,
            "dtype": local_dtypes.pop() if len(local_dtypes) == 1 else ("mixed" if local_dtypes else None),
            "summary_tokens": float(np.mean([z.n_tokens for z in sums])),
            "answer_in_summary": None if rec.task == "perplexity" else
            float(np.mean([rec.answer.strip().lower() in z.text.lower() for z in sums])),
            "mi_scored": mi is not None,
            "flops_compressor": float(np.mean([x["flops"] for x in costs])),
            "flops_compressor_total": float(np.sum([x["flops"] for x in costs])),
            "compressor_prompt_tokens": float(np.mean([x["prompt_tokens"] for x in costs])),
            "cost_usd": 0.0, "judge_unparsed": 0,
            "summary_texts": [z.text for z in sums],
        }
        if mi is not None:
            est = mi["estimate"]
            row.update({k: v for k, v in est.to_dict().items() if k.endswith("_bits") or k in
                        ("mi_saturation", "mi_n_upper_inf")})
            if mi["rate_tokens"] <= 0:
                raise ValueError(f"every summary of {s.id!r} is empty: bits per summary token are undefined")
            row["mi_per_token_bits"] = est.value / mi["rate_tokens"]
            row["mi_per_token_upper_bits"] = est.upper / mi["rate_tokens"]
            row["mi_saturated"] = bool(est.saturation > SATURATION_THRESHOLD)
            row["mi_context_bits"] = float(est.per_context[i])
            row["mi_context_upper_bits"] = float(mi["loo_context_bits"][i])
            row["self_id_rate"] = float(mi["self_id"][i])
            row["summary_tokens_scorer"] = float(mi["scorer_tokens"][i])
        row.update(outcome)
        return {k: _plain(v) for k, v in row.items()}


def _loo_per_context(logp: np.ndarray) -> np.ndarray:
    """Each context's mean leave-one-out term, in bits."""
    from .estimators import loo_pointwise_mi

    return loo_pointwise_mi(logp).mean(axis=1) / math.log(2)


def _is_right(index: int | None, rec) -> bool:
    return bool(index is not None and rec.options[index] == rec.answer)


def _usage(gen) -> tuple[int, int]:
    """(input, output) tokens of one generation, as its backend counted them (0 when unknown)."""
    if gen is None:
        return 0, 0
    return int(gen.prompt_tokens or 0), int(gen.output_tokens or 0)


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and math.isinf(v):
        return v  # json writes Infinity; pandas reads it back
    return v


# ============================================================================= summary
def summarize(rows) -> Any:
    """One line per configuration: accuracy, summary length, MI, FLOPs and cost.

    Args:
      rows: the rows table (a DataFrame with :data:`ROW_COLUMNS`).

    Returns:
      A DataFrame with the :data:`CONFIG_COLUMNS` present plus ``n_records``, ``accuracy``,
      ``accuracy_sum``, ``accuracy_mean``, ``per_summary_accuracy``, ``perplexity``,
      ``summary_tokens``, ``answer_in_summary``, ``self_id_rate``, the MI columns,
      ``flops_compressor`` (mean per generation) and ``cost_usd`` (total).
    """
    import pandas as pd

    if rows is None or len(rows) == 0:
        return pd.DataFrame()
    df = rows.copy()
    for col in ("usable_info_bits", "baseline_correct"):
        if col not in df.columns:
            df[col] = np.nan
    for col in ("correct", "correct_sum", "correct_mean", "baseline_correct"):
        df[col] = pd.to_numeric(df[col].map(lambda v: np.nan if v is None else float(v)), errors="coerce")
    keys = [c for c in CONFIG_COLUMNS if c in df.columns]
    mean_cols = {"accuracy": "correct", "accuracy_sum": "correct_sum", "accuracy_mean": "correct_mean",
                 "per_summary_accuracy": "per_summary_accuracy", "perplexity": "perplexity",
                 "summary_tokens": "summary_tokens", "summary_tokens_scorer": "summary_tokens_scorer",
                 "answer_in_summary": "answer_in_summary", "self_id_rate": "self_id_rate",
                 "flops_compressor": "flops_compressor", "usable_info_bits": "usable_info_bits",
                 "baseline_accuracy": "baseline_correct"}
    first_cols = ["mi_bits", "mi_ci_low_bits", "mi_ci_high_bits", "mi_upper_bits", "mi_ceiling_bits",
                  "mi_saturation", "mi_saturated", "mi_per_token_bits", "mi_clipped_bits"]
    agg = {"n_records": ("record_id", "count")}
    agg.update({name: (col, "mean") for name, col in mean_cols.items()})
    agg.update({col: (col, "first") for col in first_cols})
    agg["cost_usd"] = ("cost_usd", "sum")
    for col in set(mean_cols.values()) | {"cost_usd"}:
        df[col] = pd.to_numeric(df[col], errors="coerce")
    out = df.groupby(keys, sort=False, dropna=False).agg(**agg).reset_index()
    return out
