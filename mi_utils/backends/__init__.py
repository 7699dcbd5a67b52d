"""Engines behind two small protocols (:mod:`mi_utils.backends.base`): a generator and a scorer.

============================  ===================  =============================================
backend (config ``backend:``)  roles                engine
============================  ===================  =============================================
``hf``                         generator, scorer    :class:`~mi_utils.backends.hf.HFBackend`, transformers in
                                                    process (imports torch: ``mi_utils.backends.hf``)
``vllm``                       generator, scorer    :class:`VLLMBackend`, vLLM's OpenAI-compatible server(s)
                                                    (plus :func:`launch_vllm_server`)
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
name), so token ids, BOS handling and summary-only scoring are the same as in process.
:data:`BACKEND_ROLES` is what the experiment config checks before any model loads; each class's
``roles`` attribute is the same set.
"""

from .base import (
    BACKEND_ROLES,
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
from .sglang import SGLangBackend
from .vllm import VLLMBackend, launch_vllm_server

__all__ = [
    "AuthenticationError",
    "BACKEND_ROLES",
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
    "check_pairs",
    "derive_seed",
    "encode_chat_with",
    "launch_vllm_server",
    "require_role",
    "sampling_is_pure",
]
