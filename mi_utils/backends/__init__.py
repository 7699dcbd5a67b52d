"""Engines behind two small protocols (:mod:`mi_utils.backends.base`): a generator and a scorer.

============================  ===================  =============================================
backend (config ``backend:``)  roles                engine
============================  ===================  =============================================
``hf``                         generator, scorer    :class:`~mi_utils.backends.hf.HFBackend`, transformers in
                                                    process (imports torch: ``mi_utils.backends.hf``)
``vllm``                       generator, scorer    :class:`VLLMBackend`, vLLM's OpenAI-compatible server(s)
                                                    (:func:`launch_vllm_server`: ``vllm_server.py``)
``sglang``                     generator, scorer    :class:`SGLangBackend`, SGLang's native ``/generate``
                                                    (verified against its documented format)
``openai``                     generator            :class:`OpenAIChatBackend`, hosted chat APIs (no prompt
                                                    log-probs, no local tokenizer)
============================  ===================  =============================================

Every server and API backend speaks HTTP through one layer, :mod:`mi_utils.backends.http`
(retries with backoff, ``Retry-After``, failover over replicas, key redaction), and every failure
of any of them is a :class:`ServerError` (subclasses: :class:`ServerUnavailableError`,
:class:`RequestRejectedError`, :class:`AuthenticationError`, :class:`ModelNotServedError`,
:class:`MissingAPIKeyError`).

Server backends tokenise locally with the served model's tokenizer (``tokenizer=`` or the model
name), so token ids, BOS handling and summary-only scoring are the same as in process; what vLLM
and SGLang share (pool, ``score``, ``generate``) is their base, :mod:`mi_utils.backends.server`.

The table above is :data:`BACKENDS` (:mod:`mi_utils.backends.registry`): name -> module, class,
roles, whether it needs ``urls:``, and whether it is a paid API (``priced``) or runs its weights in
this process (``in_process``), which costs, rows and plans read instead of the name. The config
checks ``backend:`` names and roles against it before any model loads (:data:`BACKEND_ROLES` is its name -> roles view; each class's ``roles``
attribute is the same set), and the runner builds each model with :func:`build_backend` (the
class's ``from_spec``). A new backend is one module plus one :func:`register_backend` line.
"""

from .base import (
    GENERATOR,
    SCORER,
    Backend,
    Generation,
    Generator,
    SamplingParams,
    Scorer,
    check_pairs,
    derive_seed,
    encode_chat_with,
    require_role,
    sampling_is_pure,
)
from .http import (
    AuthenticationError,
    MissingAPIKeyError,
    ModelNotServedError,
    RequestRejectedError,
    ServerError,
    ServerUnavailableError,
)
from .openai_chat import OpenAIChatBackend
from .registry import BACKEND_ROLES, BACKENDS, BackendEntry, backend_entry, build_backend, register_backend
from .sglang import SGLangBackend
from .vllm import VLLMBackend
from .vllm_server import launch_vllm_server

__all__ = [
    "AuthenticationError",
    "BACKEND_ROLES",
    "BACKENDS",
    "BackendEntry",
    "GENERATOR",
    "SCORER",
    "Backend",
    "Generation",
    "Generator",
    "MissingAPIKeyError",
    "ModelNotServedError",
    "OpenAIChatBackend",
    "RequestRejectedError",
    "SamplingParams",
    "Scorer",
    "ServerError",
    "ServerUnavailableError",
    "SGLangBackend",
    "VLLMBackend",
    "backend_entry",
    "build_backend",
    "check_pairs",
    "derive_seed",
    "encode_chat_with",
    "launch_vllm_server",
    "register_backend",
    "require_role",
    "sampling_is_pure",
]
