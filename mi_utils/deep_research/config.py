"""What a Deep Research run is configured with: the pipeline settings and the settings compared.

* :class:`DeepResearchConfig`: queries, sources, the source budget, plan retries and fallbacks,
  sampling per stage, concurrency, seed (the defaults are the paper's);
* :class:`Setting`: one pipeline configuration compared in a run (a compressor, or none for the
  baseline that reads raw sources).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..backends.base import Backend, SamplingParams

__all__ = ["Setting", "DeepResearchConfig"]


@dataclass
class Setting:
    """One pipeline configuration: a compressor, or none (the baseline reads raw sources).

    Attributes:
      id: name in results (``"baseline"``, ``"smollm2"``, ``"qwen2.5-3b"``, ...).
      compressor: the compressor backend; ``None`` for the no-compression baseline.
      family: model family for plot colours (``"qwen2.5"``, ``"gemma3"``, ...).
    """

    id: str
    compressor: Backend | None = None
    family: str = ""


@dataclass
class DeepResearchConfig:
    """Pipeline settings; the defaults are the paper's.

    Attributes:
      n_queries: (query, sub-task) pairs in the plan (8).
      sources_per_query: sources retrieved per query (10).
      max_source_chars: characters of a source the compressor (or baseline predictor) reads (8,000).
      min_queries: accept a plan with at least this many pairs after the last attempt
        (``None``: exactly ``n_queries``, the paper's requirement).
      max_plan_attempts: plan replies requested at most (first try plus repairs).
      plan_fallback: ``"fail"`` (a plan that still fails fails the task, as the issue and the
        paper's pipeline require) or ``"task"`` (search with the task text as the one query;
        rows say ``plan_fallback=True``).
      task_query: also search with the task text itself, as one more query after the planner's
        (its sub-task is the whole task). Off in the paper; the offline demo turns it on so that a
        tiny planner's unusable queries still leave sources to read.
      keep_unmarked: also pass extractions whose ``relevant`` flag was unreadable to the
        synthesis (the paper passes only those marked relevant).
      plan_params, extract_params, synth_params: sampling (paper: predictor T=0.6 up to 16,000
        tokens, compressor T=0.7 up to 2,000).
      compressor_concurrency: extraction calls in flight at once (1 for in-process models).
      seed: run seed (the paper ran 5 runs per task).
    """

    n_queries: int = 8
    sources_per_query: int = 10
    max_source_chars: int = 8000
    min_queries: int | None = None
    max_plan_attempts: int = 3
    plan_fallback: str = "fail"
    task_query: bool = False
    keep_unmarked: bool = False
    plan_params: SamplingParams = SamplingParams(temperature=0.6, max_new_tokens=2000)
    extract_params: SamplingParams = SamplingParams(temperature=0.7, max_new_tokens=2000)
    synth_params: SamplingParams = SamplingParams(temperature=0.6, max_new_tokens=16000)
    compressor_concurrency: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_queries < 1 or self.sources_per_query < 1 or self.max_source_chars < 1:
            raise ValueError("n_queries, sources_per_query and max_source_chars must be >= 1")
        if self.min_queries is not None and not 1 <= self.min_queries <= self.n_queries:
            raise ValueError(f"min_queries must be in [1, n_queries={self.n_queries}] or None")
        if self.plan_fallback not in ("fail", "task"):
            raise ValueError(f"plan_fallback must be 'fail' or 'task', got {self.plan_fallback!r}")
        if self.max_plan_attempts < 1 or self.compressor_concurrency < 1:
            raise ValueError("max_plan_attempts and compressor_concurrency must be >= 1")
        for name in ("plan_params", "extract_params", "synth_params"):
            if getattr(self, name).n != 1:
                raise ValueError(f"{name}.n must be 1 (one reply per call)")

    def to_dict(self) -> dict:
        d = asdict(self)
        for name in ("plan_params", "extract_params", "synth_params"):
            d[name] = getattr(self, name).to_dict()
        return d
