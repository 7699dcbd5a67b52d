"""How close two runs' numbers must be, per quantity, for a test to call them the same.

The same float32 model run on two CPUs (AVX2 vs AVX-512/AMX kernels), or with another thread count,
differs in the last bits of every matmul and reduction. Measured against tests/golden/ (written on
another machine): on an AMD EPYC with AVX-512, with torch's default kernels and with its
non-vectorised ones (ATEN_CPU_CAPABILITY=default), sums of option log-probs differed by up to 7e-5
nats and MI values by up to 5e-5 bits; an Intel Xeon with AMX differed by 1e-6 bits on an MI value
where the old 1e-6 absolute tolerance failed. Each tolerance below is taken from the quantity's own
scale and sits one to two orders of magnitude above those differences, and one to two below anything
a bug would move:

* MI in bits: 1e-3 bits absolute, about 1/30 of the narrowest bootstrap interval in the golden
  table (0.028 bits) and 1/2,000 of its ceiling (log2 4 = 2 bits); relative 1e-4 for the unbounded
  upper values, which grow with summary length (hundreds of bits for the full record).
* Per-token bits: the same budget divided by the ~10 tokens of the shortest summary.
* Per-token log-probs from two float32 code paths: :data:`LOGPROB_PER_TOKEN` nats.
* Log-probs in nats (option and baseline scores, sums over a handful of tokens of O(10) nats):
  5e-3 nats absolute; a wrong token or position moves them by nats.
* Fitted temperatures (cross-fitted usable information): 1 % relative; the objective is flat near its
  minimum, so the argmin moves more than the value it attains (which is held to 1e-3 bits above).
* Everything else (counts, parameter counts, FLOPs, prices, settings, fractions of booleans) is
  exact arithmetic and compared to float64 round-off.

Texts, answers and booleans are compared exactly by the callers.
"""

from __future__ import annotations

import math
import re

__all__ = ["tolerance", "close", "EXACT", "LOGPROB_PER_TOKEN"]

EXACT = (1e-12, 0.0)  # (relative, absolute): float64 round-off only

#: Two code paths scoring the same tokens in float32 (cached prefix vs one full forward, batched vs
#: alone, server vs in-process): nats per token. Up to ~5e-5 has been seen between such paths on one
#: CPU; a wrong position, mask or token moves a per-token log-prob by 0.1 nats or more.
LOGPROB_PER_TOKEN = 1e-3

# (pattern on the column name, (relative, absolute)); first match wins
_RULES: tuple[tuple[str, tuple[float, float]], ...] = (
    (r"^mi_per_token", (1e-4, 1e-4)),
    (r"^usable_info_temperature$", (1e-2, 0.0)),
    (r"(_bits$|^mi_saturation$)", (1e-4, 1e-3)),
    (r"logprob", (1e-4, 5e-3)),
    (r"^perplexity$", (1e-4, 1e-3)),
)


def tolerance(column: str) -> tuple[float, float]:
    """``(relative, absolute)`` tolerance for a results column (list columns use their own name)."""
    for pattern, tol in _RULES:
        if re.search(pattern, column):
            return tol
    return EXACT


def close(a: float, b: float, column: str) -> bool:
    """``a`` and ``b`` are the same value of ``column`` (NaN equals NaN)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    rel, abs_ = tolerance(column)
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
