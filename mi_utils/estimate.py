"""The estimate stage: one MI result per (compressor setting, scorer) from a shared score matrix.

The runner scores the summaries of *all* the settings a scorer scores in one ``(N, sum M, N)``
matrix (:func:`mi_utils.score.score_matrix`); :func:`estimate_settings` cuts it into each setting's
``(N, M, N)`` block and returns an :class:`MIResult` per setting: the set-level estimate
(:func:`mi_utils.estimators.estimate_mi`), each context's leave-one-out term, the self-identification
rate, the scored token counts, the rate's denominator and whether the leave-one-out value is an upper
bound (:func:`mi_utils.estimators.upper_is_bound`). The estimators themselves (numpy only) are
:mod:`mi_utils.estimators`; this module adds what a row needs, and :meth:`MIResult.columns` gives
those columns (:func:`mi_utils.results.build_row`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .estimators import MIEstimate, estimate_mi, loo_pointwise_mi, upper_is_bound
from .summaries import Summary

__all__ = ["MIResult", "estimate_settings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MIResult:
    """One (compressor setting, scorer) MI estimate and its per-record parts.

    Attributes:
      estimate: the set-level estimate (bits).
      loo_context_bits: each record's leave-one-out contribution (bits), shape ``(N,)``.
      self_id: per record, the fraction of its summaries that score highest under their own context.
      scorer_tokens: per record, the mean number of tokens the scorer scored.
      rate_tokens: the setting's mean summary length in the compressor's own tokens (the rate's unit).
      upper_is_bound: the leave-one-out value is an upper bound (self-scored pure samples).
      estimand: what the estimate estimates (:data:`mi_utils.results.ESTIMANDS`).
    """

    estimate: MIEstimate
    loo_context_bits: np.ndarray
    self_id: np.ndarray
    scorer_tokens: np.ndarray
    rate_tokens: float
    upper_is_bound: bool
    estimand: str

    def columns(self, index: int) -> dict:
        """The MI columns of the row of record ``index`` (the set-level estimate and its own parts)."""
        est = self.estimate
        own = ("mi_saturation", "mi_n_upper_inf")
        return {
            **{k: v for k, v in est.to_dict().items() if k.endswith("_bits") or k in own},
            "mi_per_token_bits": est.value / self.rate_tokens,
            "mi_per_token_upper_bits": est.upper / self.rate_tokens,
            "mi_saturated": bool(est.saturated),
            "mi_context_bits": float(est.per_context[index]),
            "mi_context_upper_bits": float(self.loo_context_bits[index]),
            "self_id_rate": float(self.self_id[index]),
            "summary_tokens_scorer": float(self.scorer_tokens[index]),
        }


def estimate_settings(
    logp: np.ndarray,
    lengths: np.ndarray,
    exact: np.ndarray,
    blocks: Sequence[tuple[Any, int, int]],
    summaries: Mapping[str, Sequence[Sequence[Summary]]],
    scorer: Any,
    *,
    n_boot: int,
    seed: int,
    conditioning: str,
    estimand: str,
) -> dict[str, MIResult]:
    """Every setting's :class:`MIResult` from one scorer's matrix.

    Args:
      logp: ``(N, sum M, N)`` log-probs in nats (:func:`mi_utils.score.score_matrix`); lengths: the
        ``(N, sum M)`` scored token counts; exact: ``(N, sum M)``, whether each summary was scored with
        its sampled ids under its compressor's prompt (:func:`mi_utils.score.own_scoring_exact`; all
        False for the proxy prompt).
      blocks: ``(setting, start, stop)``: the columns ``start:stop`` of the matrix are the setting's
        summaries (a :class:`~mi_utils.config.CompressorSetting`).
      summaries: each setting's summaries by setting id, ``[record][sample]``.
      scorer: the :class:`~mi_utils.config.ScorerConfig` (its ``id``, ``prompt``, ``model``, ``dtype``).
      n_boot, seed, conditioning: the bootstrap and the conditioning (:func:`~mi_utils.estimators.estimate_mi`).
      estimand: what the estimates estimate (recorded).

    Returns:
      ``{setting id: MIResult}``; a saturated estimate is logged as a warning.

    Raises:
      ValueError: every summary of a setting is empty (bits per summary token are undefined).
    """
    n = logp.shape[0]
    out = {}
    for s, a, b in blocks:
        lp, sums = logp[:, a:b, :], summaries[s.id]
        est = estimate_mi(lp, None, unit="bits", n_boot=n_boot, seed=seed, conditioning=conditioning, warn=False)
        loo = loo_pointwise_mi(lp).mean(axis=1) / math.log(2)  # each context's leave-one-out term, bits
        own = np.argmax(lp, axis=2) == np.arange(n)[:, None]
        # the rate: bits per summary token in the compressor's own tokens (Summary.n_tokens)
        rate_tokens = float(np.mean([[z.n_tokens for z in row] for row in sums]))
        if rate_tokens <= 0:
            raise ValueError(f"every summary of {s.id!r} is empty: bits per summary token are undefined")
        bound = upper_is_bound(
            kind=s.kind,
            scorer_prompt=scorer.prompt,
            same_model=scorer.model == s.config.model,
            same_dtype=scorer.dtype == s.config.dtype,
            exact_ids=bool(exact[:, a:b].all()),
            pure_sampling=all(z.sampling_is_pure for row in sums for z in row),
        )
        out[s.id] = MIResult(est, loo, own.mean(axis=1), lengths[:, a:b].mean(axis=1), rate_tokens, bound, estimand)
        if est.saturated:
            log.warning(
                "%s / %s: MI %.2f bits is %.0f%% of its log N ceiling (%.2f bits, N=%d): saturated; "
                "it says which record a summary came from, not how much it holds",
                s.id,
                scorer.id,
                est.value,
                100 * est.saturation,
                est.ceiling,
                n,
            )
    return out
