"""Engines behind one contract (:class:`~mi_utils.backends.base.Backend`).

* :class:`~mi_utils.backends.hf.HFBackend` - transformers in process (imports torch; import it
  from ``mi_utils.backends.hf``);
* :class:`VLLMBackend` - vLLM's OpenAI-compatible server(s), plus :func:`launch_vllm_server`;
* :class:`SGLangBackend` - SGLang's native ``/generate`` (verified against its documented format);
* :class:`OpenAIChatBackend` - hosted chat APIs (generation only: no prompt log-probs).
"""

from .base import Backend, Generation, SamplingParams, check_pairs, derive_seed, encode_chat_with
from .openai_chat import OpenAIChatBackend
from .sglang import SGLangBackend
from .vllm import VLLMBackend, launch_vllm_server

__all__ = [
    "Backend",
    "Generation",
    "OpenAIChatBackend",
    "SamplingParams",
    "SGLangBackend",
    "VLLMBackend",
    "check_pairs",
    "derive_seed",
    "encode_chat_with",
    "launch_vllm_server",
]
