"""Entries by name: the register / look-up shape the project's registries share.

A :class:`Registry` is a ``dict`` of name -> entry in registration order (so tests add, replace
and pop entries as with any dict) that also knows what it holds, so that every registry refuses
the same things with the same kind of message: :meth:`Registry.add` refuses an empty, reserved or
taken name (``replace=True`` redefines a taken one), and :meth:`Registry.lookup` refuses an
unknown name, listing the registered ones and naming the function that adds one. What an entry
is and which of its fields are valid stays with the registry's own module:
:data:`mi_utils.backends.registry.BACKENDS` (backends) and :data:`mi_utils.extractive.METHODS`
(LM-free compressor methods). This module imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(dict[str, T]):
    """Name -> entry, in registration order, with the registries' checks and messages.

    Args:
      noun: what an entry is, in messages (``"backend"``: "a backend name must be ...",
        "backend 'x' is already registered ...").
      adder: the dotted path of the function that registers one, named in the unknown-name message.
      label: what an unknown name was taken for (default ``noun``): "unknown <label> 'x'".
      listing: the words before the registered names in that message (default ``"registered <noun>s:"``).
      sort: list the registered names sorted (default: in registration order).
      reserved: names no entry may take.
    """

    def __init__(
        self,
        noun: str,
        *,
        adder: str,
        label: str | None = None,
        listing: str | None = None,
        sort: bool = False,
        reserved: Iterable[str] = (),
    ) -> None:
        super().__init__()
        self.noun = noun
        self.adder = adder
        self.label = label or noun
        self.listing = listing or f"registered {noun}s:"
        self.sort = sort
        self.reserved = tuple(reserved)

    def check_name(self, name: object, *, replace: bool = False) -> None:
        """Refuse a name no new entry may take.

        Raises:
          ValueError: ``name`` is not a non-empty string, is reserved, or is taken and ``replace`` is false.
        """
        if not isinstance(name, str) or not name.strip() or name in self.reserved:
            other = f" other than {', '.join(map(repr, self.reserved))}" if self.reserved else ""
            raise ValueError(f"a {self.noun} name must be a non-empty string{other}, got {name!r}")
        if name in self and not replace:
            raise ValueError(f"{self.noun} {name!r} is already registered; pass replace=True to redefine it")

    def add(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Register ``entry`` under ``name`` (checked by :meth:`check_name`) and return it."""
        self.check_name(name, replace=replace)
        self[name] = entry
        return entry

    def names(self) -> list[str]:
        """The registered names as the unknown-name message lists them."""
        return sorted(self) if self.sort else list(self)

    def lookup(self, name: object) -> T:
        """The entry of ``name``.

        Raises:
          ValueError: not registered (the message lists the registered names and names the adder).
        """
        try:
            return self[name]  # type: ignore[index]
        except (KeyError, TypeError):
            raise ValueError(
                f"unknown {self.label} {name!r}; {self.listing} {self.names()} (add one with {self.adder})"
            ) from None
