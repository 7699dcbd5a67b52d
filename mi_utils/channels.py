r"""Synthetic channels with exact mutual information, to check the estimators against truth.

A channel plays the compressor: a *context* ``x`` is drawn from a prior, a *summary* ``z`` from
``p(z | x)``. Because ``p(z | x)`` is known exactly, the ``(N, M, N)`` score array that
:func:`mi_utils.estimators.estimate_mi` consumes can be built with the *true* likelihoods, the
ideal scorer. The estimators' bounds hold exactly in that setting:

.. code-block:: text

    E[value]  <=  I(X; Z)  <=  E[upper]          (value <= log N always)

* :class:`SymmetricChannel`: ``K`` messages, the summary copies the message or, with
  probability ``eps``, is replaced by a uniform symbol. Discrete, like token sequences.
* :class:`GaussianChannel`: ``X ~ N(0, I_d)``, ``Z = X + N(0, sigma^2 I_d)``. Its MI,
  ``d/2 * log(1 + snr)``, is unbounded, so it can exceed ``log N`` and show saturation.

:func:`sweep` runs the estimator over a grid of ``N`` with repeats and returns table rows.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import xlogy

from mi_utils.estimators import Unit, convert, estimate_mi

__all__ = ["Channel", "SymmetricChannel", "GaussianChannel", "sweep", "as_rng"]

RngLike = np.random.Generator | int | None


def as_rng(rng: RngLike) -> np.random.Generator:
    """Return ``rng`` if it is a Generator, else ``np.random.default_rng(rng)``."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check_count(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class Channel(ABC):
    """A context prior and a summary channel ``p(z | x)`` with known mutual information."""

    @abstractmethod
    def mi(self, unit: Unit = "nats") -> float:
        """Exact ``I(X; Z)`` in ``unit``."""

    @abstractmethod
    def sample_contexts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` iid contexts; leading axis ``n``."""

    @abstractmethod
    def sample_summaries(self, x: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``m`` summaries from each context; leading axes ``(n, m)``."""

    @abstractmethod
    def log_likelihood(self, z: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``out[i, j, l] = log p(z[i, j] | x[l])`` in nats, shape ``(n, m, len(x))``."""

    @property
    def label(self) -> str:
        """Short human-readable name for tables and legends."""
        return repr(self)

    def sample_logp(self, n: int, m: int, rng: RngLike = None) -> np.ndarray:
        """Draw ``n`` contexts, ``m`` summaries each, and score every summary under every context.

        Args:
            n: Number of contexts ``N``.
            m: Summaries per context ``M``.
            rng: A ``np.random.Generator`` or a seed.

        Returns:
            ``(N, M, N)`` float64 array of exact ``log p(z_ij | x_l)`` in nats.

        Raises:
            ValueError: If ``n`` or ``m`` is not a positive integer.
        """
        n = _check_count(n, "n")
        m = _check_count(m, "m")
        gen = as_rng(rng)
        x = self.sample_contexts(n, gen)
        z = self.sample_summaries(x, m, gen)
        return self.log_likelihood(z, x)


@dataclass(frozen=True)
class SymmetricChannel(Channel):
    """``K``-ary symmetric channel with a uniform input.

    ``X`` is uniform on ``{0..K-1}``. ``Z = X`` with probability ``1 - eps``; otherwise ``Z`` is
    uniform on all ``K`` symbols (it may equal ``X`` by chance). So
    ``p(z | x) = a`` if ``z == x`` else ``b``, with ``a = 1 - eps + eps/K``, ``b = eps/K``;
    ``Z`` is uniform and

    .. math:: I(X;Z) = \\log K + a \\log a + (K-1)\\, b \\log b .

    ``eps = 0`` gives ``log K`` (noiseless), ``eps = 1`` gives 0 (independent).

    Args:
        K: Alphabet size, ``>= 2``.
        eps: Replacement probability in ``[0, 1]``.

    Raises:
        ValueError: On ``K < 2`` or ``eps`` outside ``[0, 1]``.
    """

    K: int
    eps: float

    def __post_init__(self) -> None:
        _check_count(self.K, "K", minimum=2)
        if not (isinstance(self.eps, numbers.Real) and 0.0 <= float(self.eps) <= 1.0):
            raise ValueError(f"eps must be a probability in [0, 1], got {self.eps!r}")

    @property
    def p_match(self) -> float:
        """``a = p(z = x | x)``."""
        return 1.0 - self.eps + self.eps / self.K

    @property
    def p_other(self) -> float:
        """``b = p(z = y | x)`` for each ``y != x``."""
        return self.eps / self.K

    @property
    def label(self) -> str:
        return f"symmetric(K={self.K}, eps={self.eps:g})"

    def mi(self, unit: Unit = "nats") -> float:
        """Exact ``I(X; Z)`` (closed form above) in ``unit``."""
        a, b = self.p_match, self.p_other
        nats = math.log(self.K) + float(xlogy(a, a)) + (self.K - 1) * float(xlogy(b, b))
        return float(convert(max(nats, 0.0), "nats", unit))

    def sample_contexts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n,)`` integer messages, uniform on ``{0..K-1}``."""
        return rng.integers(0, self.K, size=n)

    def sample_summaries(self, x: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, m)`` integer symbols: ``x`` copied, or replaced with probability ``eps``."""
        n = x.shape[0]
        replace = rng.random((n, m)) < self.eps
        noise = rng.integers(0, self.K, size=(n, m))
        return np.where(replace, noise, x[:, None])

    def log_likelihood(self, z: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``log a`` where ``z[i, j] == x[l]``, else ``log b`` (``-inf`` when ``eps = 0``)."""
        match = z[:, :, None] == x[None, None, :]
        with np.errstate(divide="ignore"):
            log_a, log_b = np.log(self.p_match), np.log(self.p_other)
        return np.where(match, log_a, log_b).astype(np.float64)


@dataclass(frozen=True)
class GaussianChannel(Channel):
    """Additive Gaussian noise: ``X ~ N(0, I_d)``, ``Z = X + N(0, sigma^2 I_d)``.

    ``snr = 1 / sigma^2`` per dimension and :math:`I(X;Z) = \\tfrac d2 \\log(1 + \\mathrm{snr})`,
    unbounded as ``snr`` or ``d`` grows, so it can exceed ``log N`` and saturate the estimator.
    The "log-probabilities" are log *densities*, so they can be positive; the estimators only
    use differences, where the density's normalising constant cancels.

    Args:
        snr: Signal-to-noise ratio per dimension, ``> 0``.
        dim: Dimension ``d``, ``>= 1``.

    Raises:
        ValueError: On ``snr <= 0`` or ``dim < 1``.
    """

    snr: float
    dim: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.snr, numbers.Real) and math.isfinite(self.snr) and self.snr > 0):
            raise ValueError(f"snr must be a finite number > 0, got {self.snr!r}")
        _check_count(self.dim, "dim")

    @classmethod
    def from_mi(cls, mi: float, dim: int = 1, unit: Unit = "nats") -> GaussianChannel:
        """The channel of dimension ``dim`` whose exact MI is ``mi``.

        Args:
            mi: Target mutual information, ``> 0``.
            dim: Dimension ``d``.
            unit: Unit of ``mi``.

        Returns:
            ``GaussianChannel(snr=exp(2 mi / d) - 1, dim=d)``.

        Raises:
            ValueError: On ``mi <= 0``.
        """
        if not mi > 0:
            raise ValueError(f"mi must be > 0, got {mi!r}")
        nats = float(convert(mi, unit, "nats"))
        return cls(snr=math.expm1(2.0 * nats / dim), dim=dim)

    @property
    def sigma(self) -> float:
        """Noise standard deviation per dimension."""
        return 1.0 / math.sqrt(self.snr)

    @property
    def label(self) -> str:
        return f"gaussian(snr={self.snr:.3g}, d={self.dim})"

    def mi(self, unit: Unit = "nats") -> float:
        """Exact ``I(X; Z) = d/2 log(1 + snr)`` in ``unit``."""
        return float(convert(0.5 * self.dim * math.log1p(self.snr), "nats", unit))

    def sample_contexts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, d)`` standard normal contexts."""
        return rng.standard_normal((n, self.dim))

    def sample_summaries(self, x: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, m, d)`` noisy copies ``x + sigma * noise``."""
        return x[:, None, :] + self.sigma * rng.standard_normal((x.shape[0], m, self.dim))

    def log_likelihood(self, z: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Gaussian log density ``log N(z[i, j]; x[l], sigma^2 I)``, shape ``(n, m, L)``.

        Accumulates one dimension at a time: :math:`O(n m L d)` time, :math:`O(n m L)` memory.
        """
        sq = np.zeros((z.shape[0], z.shape[1], x.shape[0]))
        for k in range(self.dim):
            sq += (z[:, :, None, k] - x[None, None, :, k]) ** 2
        var = 1.0 / self.snr
        return -0.5 * self.dim * math.log(2.0 * math.pi * var) - sq / (2.0 * var)


def sweep(
    channel: Channel,
    n_values: Iterable[int],
    *,
    repeats: int = 20,
    n_samples: int = 4,
    seed: int | None = 0,
    unit: Unit = "bits",
    n_boot: int = 0,
) -> list[dict[str, Any]]:
    """Run :func:`~mi_utils.estimators.estimate_mi` on fresh draws for each ``N``.

    Saturation warnings are suppressed (the ``mi_saturation`` column records it); the point of
    a sweep is to show where saturation happens.

    Args:
        channel: The channel to sample from.
        n_values: Numbers of contexts ``N`` to try (each ``>= 2``).
        repeats: Independent draws per ``N``.
        n_samples: Summaries per context ``M``.
        seed: Seed for one generator shared by the whole sweep (deterministic).
        unit: Unit of the MI columns.
        n_boot: Bootstrap resamples per estimate (0 = no interval, fastest).

    Returns:
        One dict per (N, repeat): ``channel``, ``n``, ``repeat``, ``true_mi_<unit>``,
        ``log_n_<unit>``, plus every field of :meth:`MIEstimate.to_dict`. Feed it to
        ``pandas.DataFrame``. Cost :math:`O(\\sum_N \\text{repeats} \\cdot N^2 M)`.

    Raises:
        ValueError: On ``repeats < 1``, ``n_samples < 1`` or an ``N < 2``.
    """
    repeats = _check_count(repeats, "repeats")
    n_samples = _check_count(n_samples, "n_samples")
    ns: Sequence[int] = [_check_count(n, "each N", minimum=2) for n in n_values]
    rng = as_rng(seed)
    truth = channel.mi(unit)
    rows: list[dict[str, Any]] = []
    for n in ns:
        for r in range(repeats):
            est = estimate_mi(
                channel.sample_logp(n, n_samples, rng),
                unit=unit,
                n_boot=n_boot,
                seed=int(rng.integers(2**31)) if n_boot else None,
                warn=False,
            )
            rows.append(
                {
                    "channel": channel.label,
                    "n": n,
                    "repeat": r,
                    f"true_mi_{unit}": truth,
                    f"log_n_{unit}": est.ceiling,
                    **est.to_dict(),
                }
            )
    return rows
