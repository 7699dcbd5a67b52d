"""Dollar costs of API calls: a table of USD per 1M input / output tokens; local models cost 0.

* :class:`PriceTable`: an editable ``model -> Price`` table; local models (named, and the packaged
  models of :mod:`mi_utils.models`) cost 0, and a dated snapshot name (``gpt-4o-2024-08-06``)
  falls back to its base name's price; :class:`PriceNotFoundError` for a model with neither;
  :meth:`PriceTable.from_file` reads a YAML or JSON price file.
* :data:`DEFAULT_PRICES` (the paper's GPT-4o figures and GPT-4o-mini's list price),
  :func:`default_price_table` (a fresh copy) and :func:`api_cost` (the USD cost of one call).

Pure Python. Also importable from :mod:`mi_utils.costs` (their home before the split).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["Price", "PriceTable", "PriceNotFoundError", "DEFAULT_PRICES", "default_price_table", "api_cost"]


class Price(NamedTuple):
    """USD per one million tokens."""

    input: float
    output: float


# The paper's figures for GPT-4o; GPT-4o-mini from OpenAI's price list (USD / 1M tokens).
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
}

_DATED = re.compile(r"^(?P<base>.+)-\d{4}-\d{2}-\d{2}$")


class PriceNotFoundError(KeyError):
    """A model has no price and is not marked local."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def _as_price(value: Any, model: str) -> Price:
    if isinstance(value, Mapping):
        try:
            return Price(float(value["input"]), float(value["output"]))
        except KeyError as e:
            raise ValueError(
                f"price of {model!r} needs 'input' and 'output' (USD per 1M tokens), got {dict(value)}"
            ) from e
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return Price(float(value[0]), float(value[1]))
    raise ValueError(
        f"price of {model!r} must be (input, output) or {{input:, output:}} USD per 1M tokens, got {value!r}"
    )


def _packaged_local_models() -> set[str]:
    try:
        from mi_utils.models import PACKAGED
    except Exception:  # pragma: no cover - registry unavailable
        return set()
    return set(PACKAGED)


class PriceTable(MutableMapping[str, Price]):
    """Editable ``model -> Price`` table (USD per 1M input / output tokens) plus local models.

    Local models (``local_models``, and the packaged models of :mod:`mi_utils.models`) cost 0.
    A dated snapshot name (``gpt-4o-2024-08-06``) falls back to its base name's price.

    Args:
        prices: Initial prices, ``{model: (input, output)}`` or ``{model: {"input":, "output":}}``.
        local_models: Models that cost nothing (run on your own hardware).
        include_packaged: Also treat :data:`mi_utils.models.PACKAGED` names as local.
    """

    def __init__(
        self,
        prices: Mapping[str, Any] | None = None,
        local_models: Iterable[str] = (),
        *,
        include_packaged: bool = True,
    ) -> None:
        self._prices: dict[str, Price] = {}
        self.local_models: set[str] = set(local_models)
        if include_packaged:
            self.local_models |= _packaged_local_models()
        for model, value in (prices or {}).items():
            self[model] = value

    # MutableMapping protocol
    def __getitem__(self, model: str) -> Price:
        return self._prices[model]

    def __setitem__(self, model: str, value: Any) -> None:
        price = _as_price(value, model)
        if price.input < 0 or price.output < 0:
            raise ValueError(f"price of {model!r} must be >= 0, got {price}")
        self._prices[model] = price

    def __delitem__(self, model: str) -> None:
        del self._prices[model]

    def __iter__(self) -> Iterator[str]:
        return iter(self._prices)

    def __len__(self) -> int:
        return len(self._prices)

    def __repr__(self) -> str:
        return f"PriceTable({self._prices!r}, local_models={sorted(self.local_models)!r})"

    def mark_local(self, *models: str) -> PriceTable:
        """Mark models as local (cost 0). Returns ``self`` for chaining."""
        self.local_models.update(models)
        return self

    def is_local(self, model: str) -> bool:
        """Whether ``model`` is marked local."""
        return model in self.local_models

    def price(self, model: str) -> Price:
        """Price of ``model`` (``Price(0, 0)`` if local).

        Args:
            model: Model name as used by the API (``"gpt-4o"``) or a local model name.

        Returns:
            USD per 1M input and output tokens.

        Raises:
            PriceNotFoundError: If the model has no price and is not local.
        """
        if self.is_local(model):
            return Price(0.0, 0.0)
        if model in self._prices:
            return self._prices[model]
        m = _DATED.match(model)
        if m and m.group("base") in self._prices:
            return self._prices[m.group("base")]
        raise PriceNotFoundError(
            f"no price for model {model!r} (known: {sorted(self._prices)}). Add it with "
            f"table[{model!r}] = (usd_per_1m_input, usd_per_1m_output) or a price file "
            f"(PriceTable.load_overrides), or mark it local (table.mark_local({model!r}), api_cost(..., local=True))."
        )

    def cost(self, model: str, input_tokens: int, output_tokens: int, *, local: bool = False) -> float:
        """USD cost of one call.

        Args:
            model: Model name.
            input_tokens: Prompt tokens.
            output_tokens: Generated tokens.
            local: Force cost 0 (a model run locally).

        Returns:
            ``input_tokens / 1e6 * input_price + output_tokens / 1e6 * output_price``.

        Raises:
            ValueError: On a negative token count.
            PriceNotFoundError: If the model has no price and is not local.
        """
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError(f"token counts must be >= 0, got {input_tokens}, {output_tokens}")
        if local:
            return 0.0
        p = self.price(model)
        return input_tokens / 1e6 * p.input + output_tokens / 1e6 * p.output

    def load_overrides(self, path: str | Path) -> PriceTable:
        """Update prices / local models from a YAML or JSON file.

        The file holds ``prices: {model: {input: X, output: Y}}`` (or ``[X, Y]``) and/or
        ``local_models: [...]``; a mapping without those keys is read as ``prices``.

        Args:
            path: ``.yaml``/``.yml`` or ``.json`` file.

        Returns:
            ``self``.

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: On a malformed file.
        """
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: expected a mapping with 'prices' and/or 'local_models'")
        if "prices" in data or "local_models" in data:
            prices, local = data.get("prices") or {}, data.get("local_models") or []
        else:
            prices, local = data, []
        if not isinstance(prices, Mapping) or isinstance(local, (str, Mapping)):
            raise ValueError(f"{path}: 'prices' must be a mapping and 'local_models' a list")
        for model, value in prices.items():
            self[str(model)] = value
        self.mark_local(*map(str, local))
        return self

    @classmethod
    def from_file(cls, path: str | Path, *, defaults: bool = True) -> PriceTable:
        """A table from a price file, on top of :data:`DEFAULT_PRICES` unless ``defaults=False``."""
        return (default_price_table() if defaults else cls()).load_overrides(path)

    def to_dict(self) -> dict[str, Any]:
        """``{"prices": {model: {"input":, "output":}}, "local_models": [...]}`` (file format)."""
        return {
            "prices": {m: {"input": p.input, "output": p.output} for m, p in self._prices.items()},
            "local_models": sorted(self.local_models),
        }


def default_price_table() -> PriceTable:
    """A fresh, editable copy of :data:`DEFAULT_PRICES` (packaged models local)."""
    return PriceTable(DEFAULT_PRICES)


def api_cost(
    model: str,
    input_tokens: int,
    output_tokens: int,
    prices: PriceTable | Mapping[str, Any] | None = None,
    *,
    local: bool = False,
) -> float:
    """USD cost of one call.

    Args:
        model: Model name (``"gpt-4o"``).
        input_tokens: Prompt tokens.
        output_tokens: Generated tokens.
        prices: A :class:`PriceTable`, a plain ``{model: (input, output)}`` mapping, or ``None``
            for :func:`default_price_table`.
        local: The model runs locally: cost 0.

    Returns:
        Cost in USD.

    Raises:
        PriceNotFoundError: If the model has no price and is neither local nor marked local.
    """
    if prices is None:
        table = default_price_table()
    elif isinstance(prices, PriceTable):
        table = prices
    else:
        table = PriceTable(prices)
    return table.cost(model, input_tokens, output_tokens, local=local)
