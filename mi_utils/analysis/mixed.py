"""Mixed-effects models of per-question correctness: a random intercept per question.

:func:`mixed_effects` fits the fixed effects of :func:`~mi_utils.analysis.factors.rank_factors`
with a random intercept per question (this project's addition; the paper fits no mixed model) by
maximum likelihood (adaptive Gauss-Hermite quadrature, :mod:`~mi_utils.analysis._glmm`) with Wald
intervals whose coverage is checked by simulation; a variational-Bayes GLMM beside it for
comparison, cross-checked by a linear-probability mixed model; returns a
:class:`MixedEffectsResult`. The design matrix is :mod:`~mi_utils.analysis._design`'s. Also
importable from :mod:`mi_utils.analysis.factors`.

**The data set is a fixed effect** in the maximum-likelihood fit, sum-to-zero coded, so ``Intercept`` is the
unweighted mean over the data sets of their intercepts (``dataset_effects`` holds each data
set's deviation). A data-set *variance* estimated from a handful of data sets (two in the
paper) is meaningless, and a Wald interval that leans on it is not honest; the price is that
the intercept's interval is about these data sets, not a population of them. The slopes and
family contrasts are within-data-set comparisons and do not depend on this choice. With a
single data set there is no data-set term (warned).

**The intervals** (``fixed``'s ``ci_low`` / ``ci_high``, ``se``, ``p_value``) are 95% Wald
intervals, ``estimate -/+ 1.96 se``, with ``se`` from the inverse observed information of the
marginal log-likelihood in ``(beta, sd_question)`` jointly (the uncertainty of the question
SD is propagated into the fixed effects). They are for the conditional (question-specific)
log-odds effects, i.e. for a question of average difficulty, not population-averaged ones (a
plain GLM's are smaller). They are asymptotic in the number of questions and condition on
the model: normal random intercepts, no random slopes (every configuration
shifts all questions alike), independent answers given the question, the logit link. In
300 simulations from this model (``tests/test_mixed_effects.py``: the paper's grid, 120
questions of 20 answers, question SD 1) they cover the fixed effects 93.3-97.3% of the time
(the intercept lowest). Known limits: with few questions (fewer than
:data:`MIN_CLUSTERS`, warned) or near-separation (a level where almost every answer is the
same) they can be too narrow; if the question SD is estimated as 0 (a boundary fit,
warned; ``boundary``) they are the plain logistic GLM's, conditional on that 0.

Comparison (``variational=True``): statsmodels' ``BinomialBayesMixedGLM`` fitted by
mean-field variational Bayes (``fit_vb``) with random intercepts for question *and* data set
and priors ``beta ~ N(0, fe_p^2)``, ``log sd ~ N(0, vcp_p^2)``: columns ``vb_*`` of ``fixed``
and the ``"bayes_vb"`` components. Mean-field VB ignores the posterior correlation between
fixed and random effects, so its SDs are too small (in 40 of the simulations above, 0.32-0.77
of the ML standard errors, with 40-85% coverage): do not read them as intervals.

Cross-check (``cross_check=True``): a linear-probability mixed model (statsmodels
``MixedLM``, REML) of the 0/1 response on the same fixed effects, with a random intercept
per question; the data set enters as a fixed effect (treatment-coded). Its coefficients are
on the probability scale, so compare signs and relative sizes, not values.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._design import _Z95, DEFAULT_FACTORS, DEFAULT_GROUPS, _as_frame, _Design, _design
from ._util import as_columns, require_columns

__all__ = ["MIN_CLUSTERS", "N_AGQ", "MixedEffectsResult", "mixed_effects"]


@dataclass
class MixedEffectsResult:
    """Fixed effects and variance components of :func:`mixed_effects`.

    Attributes:
      fixed: the logistic mixed model's fixed effects (logit scale), one row per term, fitted by
        maximum likelihood: ``term``, ``estimate`` (ML), ``se`` (Wald standard error, from the
        observed information of the marginal likelihood), ``ci_low`` / ``ci_high`` (the 95% Wald
        interval, ``estimate -/+ 1.96 se``), ``z``, ``p_value`` (two-sided Wald test of 0),
        ``interval`` (which interval ``ci_low`` / ``ci_high`` are; also in ``fixed.attrs["interval"]``
        and :attr:`interval`), and ``sd``, the same number as ``se`` (kept from earlier versions,
        where it was a variational posterior SD: deprecated, read ``se``). With the variational fit
        (``variational=True``) also ``vb_estimate``, ``vb_sd``, ``vb_ci_low``, ``vb_ci_high``:
        the mean-field posterior mean, SD and mean -/+ 1.96 SD, for comparison only (too narrow).
      variance_components: one row per (method, component): ``component`` (``question``;
        ``dataset`` for the variational fit; ``residual`` for the linear model), ``method``
        (``"ml"`` / ``"bayes_vb"`` / ``"mixedlm"``), ``sd`` (ML: the estimated SD, logit scale;
        Bayes: exp of the posterior mean of the log-SD, logit scale; MixedLM: square root of the
        variance, probability scale), ``variance``, ``ci_low`` / ``ci_high`` (ML: Wald interval
        on log SD, None when the SD is estimated as 0; Bayes: exp of the log-SD's mean -/+ 1.96
        SD; None for MixedLM).
      linear: the linear-probability MixedLM's fixed effects (``term``, ``estimate``, ``se``,
        ``ci_low``, ``ci_high``, ``p_value``), or an empty table when ``cross_check=False``.
      method: how ``fixed`` and the ``"ml"`` component were fitted.
      linear_method: how ``linear`` was fitted (empty string when skipped).
      n_obs: rows used.
      n_groups: levels per grouping (``question``, and ``dataset`` when there are several).
      reference: reference level per categorical factor.
      interval: what ``fixed``'s ``ci_low`` / ``ci_high`` are, in words.
      vb_method: how the variational comparison was fitted (empty string when skipped).
      dataset_effects: with several data sets, each data set's deviation from the mean intercept
        (sum-to-zero coded fixed effects of the ML fit): ``term``, ``estimate``, ``se``,
        ``ci_low``, ``ci_high``; empty otherwise.
      boundary: the question SD was estimated as 0 (a boundary fit: the intervals are then the
        plain logistic GLM's, conditional on that SD being 0).
      loglik: the maximised marginal log-likelihood of the ML fit.
    """

    fixed: pd.DataFrame
    variance_components: pd.DataFrame
    linear: pd.DataFrame
    method: str
    linear_method: str
    n_obs: int
    n_groups: dict[str, int]
    reference: dict[str, str] = field(default_factory=dict)
    interval: str = ""
    vb_method: str = ""
    dataset_effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    boundary: bool = False
    loglik: float = math.nan

    def estimate(self, term: str) -> float:
        """The maximum-likelihood estimate of one fixed-effect term.

        Raises:
          KeyError: ``term`` is not a fixed-effect term (the message lists them).
        """
        hit = self.fixed.loc[self.fixed["term"] == term, "estimate"]
        if hit.empty:
            raise KeyError(f"no fixed-effect term {term!r}; terms: {self.fixed['term'].tolist()}")
        return float(hit.iloc[0])

    def component_sd(self, component: str, method: str = "ml") -> float:
        """The SD of one random-effect component under ``method`` (default: the ML fit).

        Raises:
          KeyError: no such component for that method (the message lists them).
        """
        vc = self.variance_components
        hit = vc.loc[(vc["component"] == component) & (vc["method"] == method), "sd"]
        if hit.empty:
            have = list(zip(vc["component"], vc["method"]))
            raise KeyError(f"no component {component!r} for method {method!r}; have {have}")
        return float(hit.iloc[0])


#: Gauss-Hermite nodes per question of the ML fit
N_AGQ = 11
#: fewer questions than this: the Wald intervals are warned about
MIN_CLUSTERS = 20


def mixed_effects(
    rows: Any,
    response: str = "correct",
    factors: Sequence[str] = DEFAULT_FACTORS,
    groups: Sequence[str] = DEFAULT_GROUPS,
    n_iter: int | None = None,
    seed: int = 0,
    vcp_p: float = 1.0,
    fe_p: float = 2.0,
    cross_check: bool = True,
    reference: Mapping[str, Any] | None = None,
    variational: bool = True,
) -> MixedEffectsResult:
    """Fixed effects of the factors with a random intercept per question, by maximum likelihood.

    Main model (logit link), fitted by maximum likelihood::

        logit P(response) = X beta + dataset effect + u_question,   u ~ N(0, sd_question^2)

    The marginal likelihood (the random intercepts integrated out) is computed per question by
    adaptive Gauss-Hermite quadrature with :data:`N_AGQ` nodes (as lme4's ``glmer(nAGQ = 11)``)
    and maximised with scipy (``trust-exact``, exact gradient and Hessian up to quadrature
    error). Questions are the combination of ``groups[1]`` (data set) and ``groups[0]`` (record
    id), so record ids that repeat across data sets stay distinct.

    How the data set enters, what the intervals are (and their checked coverage), and the variational
    comparison and linear cross-check beside the fit: see the module docstring.

    Args:
      rows: the results table.
      response: a boolean or 0/1 column (missing values dropped with a warning).
      factors: fixed-effect factors, entered as in :func:`rank_factors`.
      groups: ``(question_column,)`` or ``(question_column, dataset_column)``.
      n_iter: maximum BFGS iterations of the variational ``fit_vb`` (``None``: scipy's default).
      seed: seed of ``fit_vb``'s random starting values (the ML fit is deterministic).
      vcp_p: prior SD of the log random-effect SDs (variational fit).
      fe_p: prior SD of the fixed effects (variational fit).
      cross_check: also fit the linear-probability MixedLM.
      reference: optional reference level per categorical factor.
      variational: also fit the variational Bayes model, for comparison.

    Returns:
      A :class:`MixedEffectsResult`.

    Raises:
      ValueError: as :func:`rank_factors`, plus: ``groups`` is not one or two columns, a grouping
        column is missing or has missing values, there is a single question, the data set is
        collinear with the factors, every answer at some category level is the same (complete
        separation), ``n_iter`` / ``vcp_p`` / ``fe_p`` are not positive, or the maximum-likelihood
        fit fails (separation by a size factor, or every question's answers agree).
    """
    fn = "mixed_effects"
    gcols = _check_options(response, factors, groups, n_iter, vcp_p, fe_p, fn)
    d = _design(_grouped_frame(rows, gcols, fn), response, factors, fn, reference)
    q_codes, q_levels, dataset = _questions(d.frame, gcols, fn)
    n_groups = {"question": int(len(q_levels))}
    _check_separation(d, response, fn)
    d_levels = sorted(set(dataset)) if dataset is not None else []
    if d_levels:
        n_groups["dataset"] = len(d_levels)

    fit = _ml_fit(d, q_codes, len(q_levels), dataset, d_levels, gcols, response, fn)
    fixed, interval = _ml_fixed_effects(d, fit, fn)
    dataset_effects = _dataset_effects(fit, d.X.shape[1], d_levels, gcols)
    vc_rows = [_ml_component(fit)]
    vb_method = ""
    if variational:
        vb_columns, vb_rows, vb_method = _variational_fit(
            d, q_codes, len(q_levels), dataset, d_levels, n_iter, seed, vcp_p, fe_p
        )
        for c, v in vb_columns.items():
            fixed[c] = v
        vc_rows += vb_rows
    linear = pd.DataFrame(columns=["term", "estimate", "se", "ci_low", "ci_high", "p_value"])
    linear_method = ""
    if cross_check:
        linear, lin_rows, linear_method = _linear_cross_check(d, q_codes, dataset, d_levels, gcols)
        vc_rows += lin_rows
    return MixedEffectsResult(
        fixed=fixed,
        variance_components=_components_table(vc_rows),
        linear=linear,
        method=(
            f"maximum likelihood (logit link; random intercept: question; adaptive Gauss-Hermite quadrature, "
            f"{N_AGQ} nodes; " + (f"{gcols[1]}: fixed effect, sum-to-zero coded)" if d_levels else "no data-set term)")
        ),
        linear_method=linear_method,
        n_obs=int(len(d.y)),
        n_groups=n_groups,
        reference={f.name: f.reference for f in d.factors if f.kind == "categorical"},
        interval=interval,
        vb_method=vb_method,
        dataset_effects=dataset_effects,
        boundary=bool(fit.boundary),
        loglik=fit.loglik,
    )


def _check_options(response: str, factors, groups, n_iter, vcp_p, fe_p, fn: str) -> list[str]:
    """:func:`mixed_effects`' options checked; returns the grouping columns."""
    gcols = as_columns(groups, "groups")
    if not 1 <= len(gcols) <= 2:
        raise ValueError(
            f"{fn}: groups must be (question_column,) or (question_column, dataset_column), got {groups!r}"
        )
    if n_iter is not None and (isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1):
        raise ValueError(f"{fn}: n_iter must be a positive integer or None, got {n_iter!r}")
    for name, v in (("vcp_p", vcp_p), ("fe_p", fe_p)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise ValueError(f"{fn}: {name} must be a positive number (a prior SD), got {v!r}")
    overlap = [g for g in gcols if g in as_columns(factors, "factors") or g == response]
    if overlap:
        raise ValueError(
            f"{fn}: grouping column(s) {overlap} are also the response or factors; use them in one role only"
        )
    return gcols


def _grouped_frame(rows: Any, gcols: list[str], fn: str) -> pd.DataFrame:
    """The rows as a table whose grouping columns exist and have no missing value."""
    df = _as_frame(rows, fn)
    require_columns(df, gcols, fn)
    for g in gcols:
        n_missing = int(df[g].isna().sum())
        if n_missing:
            raise ValueError(
                f"{fn}: grouping column {g!r} is missing in {n_missing} rows; "
                f"filter them out (rows[rows[{g!r}].notna()])"
            )
    return df


def _questions(used: pd.DataFrame, gcols: list[str], fn: str) -> tuple[np.ndarray, Any, np.ndarray | None]:
    """Question codes and levels (``dataset/record`` with two grouping columns) and the data set per row
    (``None`` with one column, or with a single data set: warned); at least two questions."""
    question = used[gcols[0]].astype(str).to_numpy()
    dataset = None
    if len(gcols) == 2:
        dataset = used[gcols[1]].astype(str).to_numpy()
        question = np.char.add(np.char.add(dataset.astype(str), "/"), question.astype(str))
        if np.unique(dataset).size < 2:
            warnings.warn(
                f"{fn}: a single {gcols[1]!r} ({dataset[0]!r}); its effect cannot be estimated and is dropped",
                stacklevel=3,
            )
            dataset = None
    q_codes, q_levels = pd.factorize(question, sort=True)
    if len(q_levels) < 2:
        raise ValueError(
            f"{fn}: a single question ({q_levels[0]!r}); a question random intercept needs several "
            f"questions: pass rows of more questions, or use rank_factors (no random effect)"
        )
    if len(q_levels) < MIN_CLUSTERS:
        warnings.warn(
            f"{fn}: only {len(q_levels)} questions; the Wald intervals assume many (>= {MIN_CLUSTERS}) "
            "and can be too narrow: add questions, or read the intervals as rough",
            stacklevel=3,
        )
    return q_codes, q_levels, dataset


def _check_separation(d: _Design, response: str, fn: str) -> None:
    """Refuse complete separation by a category (every answer at one level the same): its ML effect is infinite."""
    for f in d.factors:
        if f.kind != "categorical":
            continue
        values = d.frame[f.name].astype(str).to_numpy()
        for level in sorted(set(values)):
            at = d.y[values == level]
            if at.min() == at.max():
                raise ValueError(
                    f"{fn}: every answer with {f.name}={level!r} has {response}={bool(at[0])} (complete "
                    "separation: the maximum-likelihood effect of that level is infinite); drop those "
                    f"rows or merge {level!r} with another level"
                )


def _ml_fit(d: _Design, q_codes, n_questions: int, dataset, d_levels: list[str], gcols, response: str, fn: str):
    """The maximum-likelihood fit; the data set (when several) as sum-to-zero coded columns after the factors'."""
    from ._glmm import fit_random_intercept_logit

    X_ml = d.X
    if dataset is not None:
        # sum-to-zero coding: column j is +1 on level j, -1 on the first level
        coded = [(dataset == lv).astype(float) - (dataset == d_levels[0]).astype(float) for lv in d_levels[1:]]
        X_ml = np.column_stack([d.X, *coded])
        if np.linalg.matrix_rank(X_ml) < X_ml.shape[1]:
            raise ValueError(
                f"{fn}: the data set ({gcols[1]!r}) is collinear with the factors (a factor is constant "
                f"within each data set); fit one data set at a time or pass groups=({gcols[0]!r},)"
            )
    try:
        return fit_random_intercept_logit(d.y, X_ml, q_codes, n_questions, n_agq=N_AGQ)
    except FloatingPointError as exc:
        raise ValueError(
            f"{fn}: the maximum-likelihood fit failed ({exc}). Usual causes: complete separation "
            f"(a factor level where every {response!r} is the same: check "
            f"rows.groupby(factor)[{response!r}].mean() for 0 or 1, then drop or merge that level) "
            "or questions whose answers all agree (no within-question variation: add configurations)"
        ) from None


def _ml_fixed_effects(d: _Design, fit, fn: str) -> tuple[pd.DataFrame, str]:
    """The factors' fixed effects of the ML fit with their Wald intervals, and those intervals in words
    (a boundary fit warned)."""
    from scipy import stats

    if fit.boundary:
        warnings.warn(
            f"{fn}: the question random-intercept SD is estimated as 0 (a boundary fit): the "
            "fixed effects and their intervals are the plain logistic GLM's, conditional on that SD "
            "being 0; check that questions really do not differ in difficulty",
            stacklevel=3,
        )

    k = d.X.shape[1]
    beta, se = fit.beta[:k], fit.se_beta[:k]
    zval = beta / se
    interval = (
        f"95% Wald interval (estimate -/+ 1.96 SE), SE from the observed information of the "
        f"maximum-likelihood marginal likelihood (adaptive Gauss-Hermite, {N_AGQ} nodes per question"
        + (", conditional on the question SD being 0: a boundary fit" if fit.boundary else "")
        + ")"
    )
    label = "wald95_ml" + ("_boundary" if fit.boundary else "")
    fixed = pd.DataFrame(
        {
            "term": d.terms,
            "estimate": beta,
            "sd": se,
            "ci_low": beta - _Z95 * se,
            "ci_high": beta + _Z95 * se,
            "se": se,
            "z": zval,
            "p_value": 2.0 * stats.norm.sf(np.abs(zval)),
            "interval": label,
        }
    )
    fixed.attrs["interval"] = interval
    return fixed, interval


def _dataset_effects(fit, k: int, d_levels: list[str], gcols) -> pd.DataFrame:
    """Each data set's deviation from the mean intercept (empty with no data-set term)."""
    if not d_levels:
        return pd.DataFrame(columns=["term", "estimate", "se", "ci_low", "ci_high"])
    D = len(d_levels)
    L = np.vstack([-np.ones(D - 1), np.eye(D - 1)])  # deviation of every level from the mean
    est = L @ fit.beta[k:]
    dse = np.sqrt(np.diag(L @ fit.cov[k:-1, k:-1] @ L.T))
    return pd.DataFrame(
        {
            "term": [f"{gcols[1]}[S.{lv}]" for lv in d_levels],
            "estimate": est,
            "se": dse,
            "ci_low": est - _Z95 * dse,
            "ci_high": est + _Z95 * dse,
        }
    )


def _ml_component(fit) -> dict[str, Any]:
    """The ML question SD with its Wald interval on the log SD (none for a boundary fit)."""
    if fit.boundary:
        sd_ci: tuple[float | None, float | None] = (None, None)
    else:
        log_se = fit.se_sigma / fit.sigma
        sd_ci = (fit.sigma * math.exp(-_Z95 * log_se), fit.sigma * math.exp(_Z95 * log_se))
    return {
        "component": "question",
        "method": "ml",
        "sd": fit.sigma,
        "variance": fit.sigma**2,
        "ci_low": sd_ci[0],
        "ci_high": sd_ci[1],
    }


def _variational_fit(
    d: _Design, q_codes, n_questions: int, dataset, d_levels: list[str], n_iter, seed: int, vcp_p, fe_p
) -> tuple[dict[str, np.ndarray], list[dict[str, Any]], str]:
    """The variational-Bayes comparison: its ``vb_*`` columns of ``fixed``, its components, how it was fitted."""
    from scipy import sparse
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    n = len(d.y)
    blocks = [sparse.csr_array((np.ones(n), (np.arange(n), q_codes)), shape=(n, n_questions))]
    ident = [np.zeros(n_questions, dtype=int)]
    vcp_names = ["question"]
    if dataset is not None:
        d_codes = pd.factorize(dataset, sort=True)[0]
        blocks.append(sparse.csr_array((np.ones(n), (np.arange(n), d_codes)), shape=(n, len(d_levels))))
        ident.append(np.ones(len(d_levels), dtype=int))
        vcp_names.append("dataset")
    model = BinomialBayesMixedGLM(
        d.y,
        d.X,
        sparse.hstack(blocks, format="csr"),
        np.concatenate(ident),
        vcp_p=float(vcp_p),
        fe_p=float(fe_p),
        fep_names=list(d.terms),
        vcp_names=vcp_names,
    )
    opts = None if n_iter is None else {"maxiter": int(n_iter)}
    with warnings.catch_warnings(record=True) as caught:  # a comparison: its chatter goes into vb_method
        warnings.simplefilter("always")
        res = model.fit_vb(minim_opts=opts, rng=int(seed))
    vb_warned = sorted({str(w.message).splitlines()[0] for w in caught})
    fe_mean, fe_sd = np.asarray(res.fe_mean), np.asarray(res.fe_sd)
    columns = {
        "vb_estimate": fe_mean,
        "vb_sd": fe_sd,
        "vb_ci_low": fe_mean - _Z95 * fe_sd,
        "vb_ci_high": fe_mean + _Z95 * fe_sd,
    }
    rows = []
    for name, m, s in zip(vcp_names, np.asarray(res.vcp_mean), np.asarray(res.vcp_sd)):
        sd = float(np.exp(m))
        rows.append(
            {
                "component": name,
                "method": "bayes_vb",
                "sd": sd,
                "variance": sd**2,
                "ci_low": float(np.exp(m - _Z95 * s)),
                "ci_high": float(np.exp(m + _Z95 * s)),
            }
        )
    vb_method = (
        f"BinomialBayesMixedGLM.fit_vb (logit link; random intercepts: {', '.join(vcp_names)}; "
        f"priors fe_p={fe_p:g}, vcp_p={vcp_p:g}; seed={seed}; comparison only: mean-field "
        "posterior SDs are too narrow)" + (f"; it warned: {'; '.join(vb_warned)}" if vb_warned else "")
    )
    return columns, rows, vb_method


def _linear_cross_check(
    d: _Design, q_codes, dataset, d_levels: list[str], gcols
) -> tuple[pd.DataFrame, list[dict[str, Any]], str]:
    """The linear-probability MixedLM: its fixed effects, its components, how it was fitted."""
    import statsmodels.api as sm

    X_lin, lin_terms = d.X, list(d.terms)
    if dataset is not None:
        extra = [(dataset == lv).astype(float) for lv in d_levels[1:]]
        X_lin = np.column_stack([d.X, *extra])
        lin_terms += [f"{gcols[1]}[T.{lv}]" for lv in d_levels[1:]]
    with warnings.catch_warnings(record=True) as caught:  # a cross-check: its chatter goes into linear_method
        warnings.simplefilter("always")
        lm = sm.MixedLM(d.y, X_lin, groups=q_codes).fit(reml=True)
    lin_warned = sorted({str(w.message).splitlines()[0] for w in caught})
    k_lin = X_lin.shape[1]
    est, lse = np.asarray(lm.fe_params)[:k_lin], np.asarray(lm.bse_fe)[:k_lin]
    linear = pd.DataFrame(
        {
            "term": lin_terms,
            "estimate": est,
            "se": lse,
            "ci_low": est - _Z95 * lse,
            "ci_high": est + _Z95 * lse,
            "p_value": np.asarray(lm.pvalues)[:k_lin],
        }
    )
    q_var = float(np.asarray(lm.cov_re)[0, 0])
    rows = [
        {
            "component": "question",
            "method": "mixedlm",
            "sd": math.sqrt(max(q_var, 0.0)),
            "variance": q_var,
            "ci_low": None,
            "ci_high": None,
        },
        {
            "component": "residual",
            "method": "mixedlm",
            "sd": math.sqrt(float(lm.scale)),
            "variance": float(lm.scale),
            "ci_low": None,
            "ci_high": None,
        },
    ]
    linear_method = "MixedLM (REML, linear probability scale; random intercept per question" + (
        f"; {gcols[1]} as a fixed effect)" if dataset is not None else ")"
    )
    if lin_warned:
        linear_method += f"; it warned: {'; '.join(lin_warned)}"
    return linear, rows, linear_method


def _components_table(vc_rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The variance components, one row per (method, component); None (not NaN) where a method gives no interval."""
    variance_components = pd.DataFrame.from_records(vc_rows)
    for c in ("ci_low", "ci_high"):
        variance_components[c] = pd.Series([r[c] for r in vc_rows], index=variance_components.index, dtype=object)
    return variance_components
