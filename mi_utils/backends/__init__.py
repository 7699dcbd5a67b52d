"""Engines behind one contract (:class:`~mi_utils.backends.base.Backend`)."""

from .base import Backend, Generation, SamplingParams, check_pairs

__all__ = ["Backend", "Generation", "SamplingParams", "check_pairs"]
