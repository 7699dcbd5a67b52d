"""Model calls and their costs: one :class:`CallRecord` per call, priced by :class:`Pricing`.

Every call of the pipeline (plan, extract, synthesise) goes through :func:`call_model`, which
times it, counts its tokens (:func:`~mi_utils.deep_research.race.token_counts`: the API's
``usage``, else the token ids) and prices it. :class:`Pricing` turns tokens into dollars with a
:class:`~mi_utils.prices.PriceTable`: calls of a *free role* (the compressor, as in the paper) cost 0,
and a local model can be *priced as* a cloud model (``priced_as={"smollm2-135m-instruct": "gpt-4o"}``)
so that the offline demo's cost axis has the shape of the real one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..backends.base import Backend, SamplingParams
from ..prices import PriceTable, default_price_table
from .race import token_counts

__all__ = ["CallRecord", "Pricing", "call_model", "with_seed", "HasCall"]


@dataclass
class CallRecord:
    """One model call: who, what it cost in tokens, seconds and dollars.

    Attributes:
      stage: ``"plan"``, ``"extract"``, ``"synthesise"`` or ``"judge"``.
      role: ``"predictor"``, ``"compressor"`` or ``"judge"``.
      model: the backend's model name.
      input_tokens, output_tokens: from the API's ``usage`` or the token ids (:func:`mi_utils.deep_research.race.token_counts`).
      seconds: wall-clock seconds of the call.
      cost_usd: USD under the run's :class:`Pricing`.
      priced_as: the price-table entry used (``None``: free, a free role or a local model).
      finish_reason: ``"stop"`` or ``"length"`` (generation only).
      attempt: 0-based attempt (plan retries).
    """

    stage: str
    role: str
    model: str
    input_tokens: int
    output_tokens: int
    seconds: float
    cost_usd: float = 0.0
    priced_as: str | None = None
    finish_reason: str | None = None
    attempt: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CallRecord:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Pricing:
    """USD per call: a price table, local models priced as cloud ones, free roles.

    Args:
      table: USD per 1M input / output tokens (default :func:`mi_utils.prices.default_price_table`:
        gpt-4o 2.50 / 10.00, packaged models local and free).
      priced_as: ``{model: price-table name}``, e.g. ``{"smollm2-135m-instruct": "gpt-4o"}`` to
        price a local stand-in as the cloud predictor it replaces.
      free_roles: roles whose calls cost 0 (default the compressor: local, as in the paper).

    A call costs 0 when its role is free, or when its model (after ``priced_as``) is marked local
    in the table; otherwise ``table.cost(name, input_tokens, output_tokens)``.
    """

    table: PriceTable = field(default_factory=default_price_table)
    priced_as: dict = field(default_factory=dict)
    free_roles: tuple = ("compressor",)

    def price_name(self, role: str, model: str) -> str | None:
        """The price-table entry a call is charged at (``None``: free)."""
        if role in self.free_roles:
            return None
        name = self.priced_as.get(model, model)
        return None if self.table.is_local(name) else name

    def cost(self, role: str, model: str, input_tokens: int, output_tokens: int) -> tuple[float, str | None]:
        """``(usd, price name)`` of one call.

        Raises:
          PriceNotFoundError: the model has no price and is neither local nor of a free role.
        """
        name = self.price_name(role, model)
        if name is None:
            if input_tokens < 0 or output_tokens < 0:
                raise ValueError("token counts must be >= 0")
            return 0.0, None
        return self.table.cost(name, input_tokens, output_tokens), name

    def check(self, role: str, model: str) -> None:
        """Fail before any call when ``model`` in ``role`` has no price."""
        self.cost(role, model, 0, 0)

    def to_dict(self) -> dict:
        return {
            "prices": self.table.to_dict(),
            "priced_as": dict(self.priced_as),
            "free_roles": sorted(self.free_roles),
        }


def call_model(
    backend: Backend,
    messages: list[dict],
    params: SamplingParams,
    *,
    stage: str,
    role: str,
    pricing: Pricing,
    attempt: int = 0,
) -> tuple[str, CallRecord]:
    """One generation for one message list: ``(reply text, its CallRecord)``."""
    t0 = time.perf_counter()
    gens = backend.generate([messages], params)
    seconds = time.perf_counter() - t0
    if len(gens) != 1 or not gens[0]:
        raise RuntimeError(f"{type(backend).__name__}.generate returned {len(gens)} results for 1 prompt")
    g = gens[0][0]
    n_in, n_out = token_counts(g)
    cost, name = pricing.cost(role, backend.model_name, n_in, n_out)
    return g.text, CallRecord(
        stage, role, backend.model_name, n_in, n_out, round(seconds, 4), cost, name, g.finish_reason, attempt
    )


def with_seed(params: SamplingParams, seed: int) -> SamplingParams:
    """``params`` with ``seed`` (the stages derive their seeds from the run's)."""
    return dataclasses.replace(params, seed=int(seed))


class HasCall:
    """Round-trips a stage output whose ``call`` field is a :class:`CallRecord` through plain dicts."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["call"] = self.call.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        names = cls.__dataclass_fields__
        kw = {k: v for k, v in d.items() if k in names}
        kw["call"] = CallRecord.from_dict(d["call"])
        return cls(**kw)
