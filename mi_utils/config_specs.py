"""Where a model runs: :class:`ModelSpec` and the sections that are one (predictor, scorer, judge).

What lives here: :class:`ModelSpec` (model name, ``backend:`` checked against the registry
:mod:`mi_utils.backends.registry` for its name, the roles a use needs and the ``urls:`` a server
backend needs, dtype and connection fields), and the model sections built on it:
:class:`PredictorConfig`, :class:`ScorerConfig` and :class:`JudgeConfig`. The compressor section
(an LM *or* a method) and the experiment are in :mod:`mi_utils.config`, which re-exports these.
Nothing here loads a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import model_validator

from .backends.base import GENERATOR, SCORER
from .backends.registry import BACKEND_ROLES, BACKENDS, backend_entry, server_backends
from .config_fields import (
    Backend,
    ConfigError,
    Dtype,
    Mode,
    NewTokens,
    PositiveOrNull,
    Rule,
    ScoringPrompt,
    Section,
    Task,
    Unparsed,
    Urls,
    short_name,
)

if TYPE_CHECKING:
    from .config import CompressorSetting

__all__ = ["ModelSpec", "PredictorConfig", "ScorerConfig", "JudgeConfig"]


class ModelSpec(Section):
    """Where a model runs.

    Attributes:
      model: packaged name (``smollm2-135m-instruct``), hub id or local path; for servers the
        served model name.
      backend: ``hf`` (in process), ``vllm`` / ``sglang`` (HTTP servers at ``urls``),
        ``openai`` (a chat API: generation only, no scoring) or any other name registered in
        :data:`mi_utils.backends.registry.BACKENDS` (built by its class's ``from_spec(spec)``).
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
        entry = backend_entry(self.backend)
        missing = [r for r in needs if r not in entry.roles]
        if missing:
            able = [name for name, e in BACKENDS.items() if set(needs) <= e.roles]
            raise ConfigError(
                "backend",
                f"{self.backend!r} cannot be {role}: it is a "
                f"{'/'.join(sorted(entry.roles))} only{entry.note}; use one of {able}",
            )
        if entry.server and not self.urls:
            raise ConfigError("urls", f"is required for backend {self.backend!r} (server base URLs)")
        if not entry.server and self.urls:
            raise ConfigError("urls", f"is only for {'/'.join(server_backends())} backends, not {self.backend!r}")
        if self.params is not None and self.params <= 0:
            raise ConfigError("params", f"must be > 0 (a parameter count), got {self.params!r}")
        if self.name is not None and not self.name.strip():
            raise ConfigError("name", "must be a non-empty string")


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
            return SCORER in BACKEND_ROLES[self.backend]
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
        entry = backend_entry(self.backend)
        if self.mode == "choice" and SCORER not in entry.roles:
            raise ConfigError(
                "mode",
                f"'choice' needs log-probs of the options; backend {self.backend!r} "
                f"cannot score prompts{entry.note}: use mode 'generate'",
            )
        self.check_model(
            needs=self.needs(),
            role=f"a {self.mode}-mode predictor"
            + (" that scores perplexity references" if len(self.needs()) == 2 else ""),
        )
        if self.tasks is not None and "free_form" in self.tasks and self.mode == "choice":
            raise ConfigError("tasks", "mode 'choice' cannot answer free_form records (no options)")
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
