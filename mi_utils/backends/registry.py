"""Backends by name: the one place that maps a config's ``backend:`` value to its class and roles.

:data:`BACKENDS` maps each name to a :class:`BackendEntry`: the module and class that implement
it (imported only when a backend is built, so reading the registry never imports torch), the
roles it fills (``generator`` and/or ``scorer``), whether it talks to servers at ``urls:``, a
note that explains a missing role in config messages, and what kind of model it runs where the
rest of the package needs to know: ``priced`` (a paid API: its tokens cost API prices, its model
config is not published) and ``in_process`` (weights loaded in this process). The config
validates ``backend:`` against it, the runner builds every model through :func:`build_backend`,
which calls the class's ``from_spec(spec)`` classmethod with the config's
:class:`~mi_utils.config.ModelSpec`, and costs, rows, plans and throughput read the flags from the
entry, never the backend's name.

Adding a backend is one module (a class with ``roles``, ``from_spec`` and the
:mod:`~mi_utils.backends.base` protocol methods of its roles) plus one :func:`register_backend`
call: below for the project's own backends, anywhere before the config is parsed for others
(tests register fakes this way). :data:`BACKEND_ROLES` is the registry seen as name -> roles.
The register / look-up checks and messages are :class:`mi_utils.registry.Registry`'s.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..registry import Registry
from .base import GENERATOR, SCORER

__all__ = [
    "BACKENDS",
    "BACKEND_ROLES",
    "BackendEntry",
    "backend_entry",
    "backend_names",
    "build_backend",
    "register_backend",
    "server_backends",
]


@dataclass(frozen=True)
class BackendEntry:
    """One registered backend.

    Attributes:
      name: the config's ``backend:`` value.
      module: import path of the module that holds the class (imported by :meth:`load`).
      cls: the class's name in that module; it has ``roles`` and ``from_spec(spec)``.
      roles: the roles it fills (:data:`~mi_utils.backends.base.GENERATOR`, ``SCORER``).
      server: it talks to servers, so a spec needs ``urls:`` (and other backends refuse them).
      note: why it lacks a role, appended to the config's message (e.g. a chat API's).
      priced: a paid API: its tokens cost the price table's API prices (a predictor needs a
        price), a request per prompt, its time is not estimated, and its model config is not
        published (parameters come from the spec's ``params``, FLOPs are unknown).
      in_process: its weights are loaded in this process: the rows record its ``dtype``, the plan
        counts its weights' memory, ``calibrate`` times it, and it costs no API dollars.
    """

    name: str
    module: str
    cls: str
    roles: frozenset[str]
    server: bool = False
    note: str = ""
    priced: bool = False
    in_process: bool = False

    def load(self) -> type:
        """The backend class (imports its module)."""
        try:
            return getattr(importlib.import_module(self.module), self.cls)
        except (ImportError, AttributeError) as e:
            raise ImportError(
                f"backend {self.name!r} is registered as {self.module}.{self.cls}, which cannot be imported: {e}"
            ) from e

    def build(self, spec: Any) -> Any:
        """A backend built from a :class:`~mi_utils.config.ModelSpec` by the class's ``from_spec``."""
        cls = self.load()
        if not callable(getattr(cls, "from_spec", None)):
            raise TypeError(f"backend {self.name!r}: {self.module}.{self.cls} has no from_spec(spec) classmethod")
        return cls.from_spec(spec)


#: Every registered backend, by name, in registration order (a dict).
BACKENDS: Registry[BackendEntry] = Registry("backend", adder="mi_utils.backends.registry.register_backend")


def register_backend(
    name: str,
    module: str,
    cls: str,
    roles: Iterable[str],
    *,
    server: bool = False,
    note: str = "",
    priced: bool = False,
    in_process: bool = False,
    replace: bool = False,
) -> BackendEntry:
    """Register backend ``name`` (see :class:`BackendEntry` for the fields).

    Raises:
      ValueError: an empty or taken name (pass ``replace=True`` to redefine one), roles that
        are empty or not ``generator`` / ``scorer``, or a backend both ``priced`` and ``in_process``.
    """
    BACKENDS.check_name(name, replace=replace)
    roles = frozenset(roles)
    if not roles or not roles <= {GENERATOR, SCORER}:
        raise ValueError(f"backend {name!r}: roles must be a non-empty subset of {[GENERATOR, SCORER]}, got {roles}")
    if priced and in_process:
        raise ValueError(
            f"backend {name!r}: priced (a paid API) and in_process (weights loaded here) exclude each other; "
            "pass one of them"
        )
    entry = BackendEntry(name, module, cls, roles, server, note, bool(priced), bool(in_process))
    return BACKENDS.add(name, entry, replace=replace)


def backend_names() -> tuple[str, ...]:
    """Registered backend names, in registration order."""
    return tuple(BACKENDS)


def server_backends() -> tuple[str, ...]:
    """Names of the backends that need ``urls:``."""
    return tuple(n for n, e in BACKENDS.items() if e.server)


def backend_entry(name: str) -> BackendEntry:
    """The entry of ``name``.

    Raises:
      ValueError: not registered (the message lists the registered names).
    """
    return BACKENDS.lookup(name)


def build_backend(spec: Any) -> Any:
    """Build the backend a :class:`~mi_utils.config.ModelSpec` names (``spec.backend``)."""
    return backend_entry(spec.backend).build(spec)


class _Roles(Mapping):
    """Name -> roles, read from :data:`BACKENDS` at each lookup (so later registrations show)."""

    def __getitem__(self, name: str) -> frozenset[str]:
        return BACKENDS[name].roles

    def __iter__(self) -> Iterator[str]:
        return iter(BACKENDS)

    def __len__(self) -> int:
        return len(BACKENDS)

    def __repr__(self) -> str:
        return repr({n: set(e.roles) for n, e in BACKENDS.items()})


#: Roles of each backend name, a live view of :data:`BACKENDS`; each class's ``roles`` is its entry.
BACKEND_ROLES: Mapping[str, frozenset[str]] = _Roles()

# ------------------------------------------------------------------ the project's backends
_BOTH = (GENERATOR, SCORER)
register_backend("hf", "mi_utils.backends.hf", "HFBackend", _BOTH, in_process=True)
register_backend("vllm", "mi_utils.backends.vllm", "VLLMBackend", _BOTH, server=True)
register_backend("sglang", "mi_utils.backends.sglang", "SGLangBackend", _BOTH, server=True)
register_backend(
    "openai",
    "mi_utils.backends.openai_chat",
    "OpenAIChatBackend",
    (GENERATOR,),
    note=" (a chat API returns no log-probs for prompt tokens and has no local tokenizer)",
    priced=True,
)
