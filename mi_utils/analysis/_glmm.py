"""Maximum likelihood for a logistic model with one random intercept per cluster.

Private to :mod:`mi_utils.analysis.mixed` (``mixed_effects``). The model is::

    logit P(y_i = 1) = x_i' beta + sigma * z_c(i),    z_c ~ N(0, 1) independently per cluster c

(so ``sigma`` is the SD of the random intercept on the logit scale). The marginal likelihood of
a cluster, ``L_c = int phi(z) prod_i p(y_i | x_i' beta + sigma z) dz``, is computed by adaptive
Gauss-Hermite quadrature (as lme4's ``glmer(nAGQ = k)``): the nodes are centred on the mode of
the integrand and scaled by its curvature there, per cluster. The score and the observed
information are the posterior expectations of the complete-data score and Hessian plus the
posterior covariance of the score (Louis' identity), evaluated with the same nodes, so the
maximisation (scipy's ``trust-exact``) and the Wald standard errors (inverse of the observed
information of the marginal log-likelihood in ``(beta, sigma)``) use exact second derivatives
up to quadrature error.

numpy / scipy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse
from scipy.special import expit, logsumexp

__all__ = ["GlmmFit", "fit_random_intercept_logit"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: a random-intercept SD below this (logit scale) is reported as 0 (a boundary fit)
BOUNDARY_SD = 1e-3
#: an estimate beyond this (logit scale) means the maximum is at infinity (separation)
DIVERGED = 20.0


@dataclass
class GlmmFit:
    """Result of :func:`fit_random_intercept_logit`.

    Attributes:
      beta: fixed effects (ML).
      sigma: random-intercept SD (ML, >= 0).
      cov: covariance of ``(beta, sigma)``, the inverse observed information; on a boundary fit
        (``sigma == 0``) the ``beta`` block is the inverse of the ``beta`` block of the information
        (conditional on ``sigma = 0``) and the ``sigma`` row and column are NaN.
      loglik: the maximised marginal log-likelihood.
      n_agq: quadrature nodes per cluster.
      boundary: ``sigma`` was estimated as 0.
      n_iter: optimiser iterations.
    """

    beta: np.ndarray
    sigma: float
    cov: np.ndarray
    loglik: float
    n_agq: int
    boundary: bool
    n_iter: int

    @property
    def se_beta(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov)[: len(self.beta)])

    @property
    def se_sigma(self) -> float:
        return float(math.sqrt(self.cov[-1, -1])) if not self.boundary else math.nan


class _Marginal:
    """The marginal log-likelihood, its gradient and Hessian at ``(beta, sigma)``."""

    def __init__(self, y: np.ndarray, X: np.ndarray, codes: np.ndarray, n_clusters: int, n_agq: int):
        n = len(y)
        self.y, self.X, self.codes = y, X, codes
        self.G = sparse.csr_array((np.ones(n), (codes, np.arange(n))), shape=(n_clusters, n))
        x, w = np.polynomial.hermite.hermgauss(n_agq)
        self.x = x
        self.log_w = np.log(w) + x**2  # weights of int e^{-x^2} f, times e^{x^2}
        self.z_mode = np.zeros(n_clusters)  # warm start of the mode search
        self._cache: tuple[bytes, tuple[float, np.ndarray, np.ndarray]] | None = None

    def _modes(self, eta: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
        """Per cluster: the mode of log(phi(z) prod p) and the SD of the Gaussian fitted there."""
        y, G, codes = self.y, self.G, self.codes
        z = self.z_mode.copy() if sigma != 0.0 else np.zeros(G.shape[0])

        def objective(z: np.ndarray) -> np.ndarray:
            e = eta + sigma * z[codes]
            return G @ (y * e - np.logaddexp(0.0, e)) - 0.5 * z**2

        if sigma != 0.0:
            f = objective(z)
            for _ in range(100):
                p = expit(eta + sigma * z[codes])
                grad = sigma * (G @ (y - p)) - z
                curv = sigma**2 * (G @ (p * (1.0 - p))) + 1.0
                step = grad / curv
                # the objective is strictly concave; halve a Newton step until it does not decrease
                for _ in range(30):
                    z_new = z + step
                    f_new = objective(z_new)
                    worse = f_new < f - 1e-12 * (1.0 + np.abs(f))
                    if not worse.any():
                        break
                    step = np.where(worse, 0.5 * step, step)
                z, f = z_new, f_new
                if np.max(np.abs(step)) < 1e-10:
                    break
            self.z_mode = z
        p = expit(eta + sigma * z[codes])
        curv = sigma**2 * (G @ (p * (1.0 - p))) + 1.0
        return z, 1.0 / np.sqrt(curv)

    def evaluate(self, beta: np.ndarray, sigma: float) -> tuple[float, np.ndarray, np.ndarray]:
        """Log-likelihood, gradient and Hessian in ``(beta, sigma)`` (cached per point)."""
        key = np.concatenate([beta, [sigma]]).tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        y, X, G, codes = self.y, self.X, self.G, self.codes
        n, k = X.shape
        eta = X @ beta
        mode, scale = self._modes(eta, sigma)
        Z = mode[:, None] + math.sqrt(2.0) * scale[:, None] * self.x[None, :]  # clusters x nodes
        E = eta[:, None] + sigma * Z[codes]  # rows x nodes
        h = G @ (y[:, None] * E - np.logaddexp(0.0, E)) - 0.5 * Z**2  # log(prod p * e^{-z^2/2})
        a = self.log_w[None, :] + h
        norm = logsumexp(a, axis=1)
        loglik = float(np.sum(norm + np.log(math.sqrt(2.0) * scale) - _LOG_SQRT_2PI))
        post = np.exp(a - norm[:, None])  # posterior weight of each node, per cluster
        P = expit(E)
        R = y[:, None] - P  # rows x nodes: complete-data score of eta
        W = P * (1.0 - P)
        Zr, Pr = Z[codes], post[codes]
        # score per (cluster, node): [sum_i r x_i, z * sum_i r]
        S = np.empty((G.shape[0], len(self.x), k + 1))
        S[:, :, :k] = (G @ (R[:, :, None] * X[:, None, :]).reshape(n, -1)).reshape(G.shape[0], len(self.x), k)
        S[:, :, k] = Z * (G @ R)
        mean = np.einsum("cn,cnj->cj", post, S)
        grad = mean.sum(axis=0)
        # expected complete-data Hessian: -sum p(1-p) a a' with a = [x_i, z]
        PW = Pr * W
        hess = np.empty((k + 1, k + 1))
        hess[:k, :k] = -(X.T * PW.sum(axis=1)) @ X
        hess[:k, k] = hess[k, :k] = -X.T @ (PW * Zr).sum(axis=1)
        hess[k, k] = -float(np.sum(PW * Zr**2))
        # plus the posterior covariance of the score
        hess += np.einsum("cn,cni,cnj->ij", post, S, S) - mean.T @ mean
        hess = 0.5 * (hess + hess.T)
        out = (loglik, grad, hess)
        self._cache = (key, out)
        return out


def _maximise(m: _Marginal, theta0: np.ndarray, free_sigma: bool) -> tuple[np.ndarray, optimize.OptimizeResult]:
    k = m.X.shape[1]

    def split(t: np.ndarray) -> tuple[np.ndarray, float]:
        return (t[:k], float(t[k])) if free_sigma else (t, 0.0)

    def fun(t: np.ndarray) -> float:
        return -m.evaluate(*split(t))[0]

    def jac(t: np.ndarray) -> np.ndarray:
        g = m.evaluate(*split(t))[1]
        return -(g if free_sigma else g[:k])

    def hess(t: np.ndarray) -> np.ndarray:
        h = m.evaluate(*split(t))[2]
        return -(h if free_sigma else h[:k, :k])

    t0 = theta0 if free_sigma else theta0[:k]
    res = optimize.minimize(fun, t0, jac=jac, hess=hess, method="trust-exact", options={"gtol": 1e-7, "maxiter": 200})
    return res.x, res


def fit_random_intercept_logit(
    y: np.ndarray, X: np.ndarray, codes: np.ndarray, n_clusters: int, n_agq: int = 11
) -> GlmmFit:
    """Maximum-likelihood fit of the random-intercept logistic model (see the module docstring).

    Args:
      y: 0/1 outcomes.
      X: the fixed-effect design (full column rank).
      codes: cluster index of each row, ``0 .. n_clusters - 1``.
      n_clusters: number of clusters.
      n_agq: Gauss-Hermite nodes per cluster.

    Returns:
      A :class:`GlmmFit`.

    Raises:
      FloatingPointError: the maximisation did not converge or the observed information is not
        positive definite (the caller turns it into a message about the data).
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    k = X.shape[1]
    m = _Marginal(y, X, np.asarray(codes), n_clusters, n_agq)
    # start: the plain logistic GLM (sigma = 0 is exact there), then sigma = 1
    beta0, res0 = _maximise(m, np.zeros(k + 1), free_sigma=False)
    if not res0.success and np.linalg.norm(res0.jac) > 1e-4:
        raise FloatingPointError(f"the logistic GLM start did not converge ({res0.message})")
    theta, res = _maximise(m, np.concatenate([beta0, [1.0]]), free_sigma=True)
    n_iter = int(res0.nit + res.nit)
    if not res.success and np.linalg.norm(res.jac) > 1e-4 * math.sqrt(len(y)):
        raise FloatingPointError(f"the maximisation did not converge ({res.message})")
    beta, sigma = theta[:k], float(theta[k])
    loglik, _, hess = m.evaluate(beta, sigma)
    boundary = abs(sigma) < BOUNDARY_SD
    if boundary:
        # sigma = 0 maximises: the plain GLM, with its information conditional on sigma = 0
        beta, sigma = beta0, 0.0
        loglik, _, hess = m.evaluate(beta, 0.0)
        info = -hess[:k, :k]
        cov = np.full((k + 1, k + 1), np.nan)
        cov[:k, :k] = _inverse(info)
    else:
        if sigma < 0:  # the likelihood is even in sigma: report sigma >= 0 (flips its covariances)
            flip = np.ones(k + 1)
            flip[k] = -1.0
            hess = hess * np.outer(flip, flip)
            sigma = -sigma
        cov = _inverse(-hess)
    if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > DIVERGED or sigma > DIVERGED:
        raise FloatingPointError(
            f"the estimates diverge (|beta| up to {np.max(np.abs(beta)):.3g}, sigma {sigma:.3g} on the logit scale)"
        )
    return GlmmFit(beta=beta, sigma=sigma, cov=cov, loglik=float(loglik), n_agq=n_agq, boundary=boundary, n_iter=n_iter)


def _inverse(info: np.ndarray) -> np.ndarray:
    """Inverse of an observed information matrix that must be positive definite."""
    try:
        chol = np.linalg.cholesky(info)
    except np.linalg.LinAlgError as exc:
        raise FloatingPointError("the observed information is not positive definite") from exc
    inv_chol = np.linalg.inv(chol)
    cov = inv_chol.T @ inv_chol
    if not np.all(np.isfinite(cov)):
        raise FloatingPointError("the observed information is singular")
    return cov
