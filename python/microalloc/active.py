"""Benchmark-relative construction (active management) and teams of funds.

- :func:`active_portfolio`: with a benchmark ``b`` and expected returns (alphas), the least
  tracking error for a target alpha (the highest information ratio at that alpha), the highest
  alpha within a tracking-error limit, or both at once; bounds around the benchmark weights
  (``b_i - d <= w_i <= b_i + d``); a risk report from :func:`~microalloc.risk_contributions`.
- :func:`combine_funds`: funds (or managers) whose active returns have a given covariance, combined
  long-only and fully invested so that the combined tracking error is least for a target alpha, or
  so that the information ratio is highest.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validate import (
    SCALE_HUGE,
    SCALE_TINY,
    _as_float_array,
    _entry,
    _num,
    align,
    as_scalar,
    as_vector,
    asset_labels,
    is_pandas,
)
from .covariance import Covariance, FactorCovariance, _square
from .errors import InfeasibleError, InputError, ShapeError
from .frontier import MaxSharpeResult, _prepare, max_sharpe
from .status import Status, finite_status
from .risk import RiskContributions, active_share, risk_contributions
from ._targets_rows import max_return_rows, min_risk_rows, resolve_rows
from .targets import TargetResult, _max_return, _min_risk
from ._deprecated import renamed_arguments, renamed_attribute, warn_renamed
from .result import Result
from ._typing import Vector, Matrix, Bounds
from .covariance import CovarianceLike

if TYPE_CHECKING:
    from .constraints import Constraints

__all__ = ["ActivePortfolio", "active_portfolio", "FundCombination", "combine_funds"]


@dataclass(frozen=True, repr=False)
class ActivePortfolio(Result):
    """A benchmark-relative portfolio with its certificate and risk report.

    Attributes
    ----------
    weights, active_weights : (n,) arrays (pandas.Series with labelled inputs)
        ``w`` and ``w - b``.
    active_return : float
        Expected active return (alpha) ``mu'(w - b)``.
    tracking_error : float
        ``sqrt((w-b)'S(w-b))``.
    information_ratio : float
        ``active_return / tracking_error`` (NaN at zero tracking error).
    active_share : float
        ``0.5 (sum |w - b| + |sum(w) - sum(b)|)``: the weight that differs from the benchmark, with
        a budget other than ``sum(b)`` counted as a cash position held by one side only (so
        ``w = 0.9 b`` has active share 0.1). With ``budget = sum(b)`` (the default) this is the
        usual ``0.5 sum |w - b|`` (Cremers & Petajisto).
    risk_report : RiskContributions
        Marginal, component and percent contributions to volatility and to tracking error, the
        contributions to active return and the efficiency of each holding.
    lower, upper : (n,) arrays
        The bounds used (the given ones intersected with ``b -+ active_bound``).
    target : TargetResult
        The target solve: status, certificate (``gap``, ``rel_gap``), binding, risk aversion.
    """

    weights: Any
    active_weights: Any
    active_return: float
    tracking_error: float
    information_ratio: float
    active_share: float
    volatility: float
    risk_report: RiskContributions
    lower: np.ndarray
    upper: np.ndarray
    target: TargetResult

    _figures = ("active_return", "tracking_error", "information_ratio", "active_share", "volatility")
    _columns = (("weight", "weights"), ("active_weight", "active_weights"))
    alpha = renamed_attribute("alpha", "active_return")

    @property
    def status(self) -> Status:
        return self.target.status

    @property
    def solve_time_s(self) -> float:
        return self.target.solve_time_s

    def _why(self) -> str:
        return self.target._why()


def _active_bounds(lower: Any, upper: Any, b: np.ndarray, d: Any, labels: Any) -> tuple[Any, Any]:
    """The given bounds intersected with ``b -+ d`` (unchanged without ``d``)."""
    if d is None:
        return lower, upper
    n = b.size
    dd = as_vector(d, n, "active_bound", allow_scalar=True, allow_inf=True, labels=labels)
    if (dd < 0).any():
        i = int(np.flatnonzero(dd < 0)[0])
        raise InputError("active_bound", f"must be >= 0; {_entry(labels, i)} is {_num(dd[i])}")
    lo = as_vector(lower, n, "lower", allow_scalar=True, allow_inf=True, labels=labels)
    up = as_vector(upper, n, "upper", allow_scalar=True, allow_inf=True, labels=labels)
    return np.maximum(lo, b - dd), np.minimum(up, b + dd)


@renamed_arguments(alpha="mu")
def active_portfolio(
    cov: CovarianceLike,
    mu: Vector,
    benchmark: Vector,
    *,
    target_alpha: float | None = None,
    max_tracking_error: float | None = None,
    active_bound: Bounds | None = None,
    lower: Bounds = 0.0,
    upper: Bounds = 1.0,
    budget: float | None = None,
    constraints: Constraints | None = None,
    tol: float = 1e-9,
    check_psd: bool = True,
) -> ActivePortfolio:
    """Benchmark-relative construction: alpha against tracking error.

    Parameters
    ----------
    cov : (n, n) array_like or pandas.DataFrame
        Covariance of the asset returns.
    mu : (n,) array_like
        Expected (active) returns; the portfolio's alpha is ``mu'(w - b)``. (``alpha=`` is the
        deprecated name.)
    benchmark : (n,) array_like
        Benchmark weights b.
    target_alpha : float, optional
        Least tracking error with ``mu'(w - b) >= target_alpha``: the highest information
        ratio at that alpha.
    max_tracking_error : float, optional
        A tracking-error limit. Alone: the highest alpha within it. With ``target_alpha``: the
        least tracking error for the target, and InfeasibleError (naming ``max_tracking_error``,
        with the tracking error the target needs and the alpha reachable within the limit) when it
        does not fit.
    active_bound : float or (n,) array_like, optional
        ``d >= 0``: bounds ``b_i - d_i <= w_i <= b_i + d_i`` ("benchmark-determined weights"),
        intersected with ``lower`` and ``upper``.
    lower, upper : float or (n,) array_like
        Absolute bounds on the weights (default long-only).
    budget : float, optional
        ``sum(w)``; default ``sum(b)`` (fully invested relative to the benchmark). Another budget
        is allowed: the active weights ``w - b`` then sum to ``budget - sum(b)`` (the difference
        is cash, or leverage, against the benchmark, with zero expected active return and zero
        risk), and alpha, tracking error and the risk report are those of ``w - b`` as always;
        the active share counts the cash (see :class:`ActivePortfolio`).
    constraints : microalloc.Constraints, optional
        Instead of ``lower``, ``upper`` and ``budget``: adds group limits, linear rows and a
        turnover limit (not costs), solved as priced rows with the same certificate (see
        :func:`~microalloc.min_risk`). The budget is then the constraints' (``Constraints``'
        default is 1.0, not ``sum(benchmark)``).
    """
    if target_alpha is None and max_tracking_error is None:
        raise InputError("target_alpha", "give target_alpha, max_tracking_error, or both")
    if benchmark is None:
        raise InputError("benchmark", "is required for benchmark-relative construction")
    from .solvers import _constraints_or_keywords

    given = None
    if constraints is not None:
        given = _constraints_or_keywords(constraints, lower, upper, 1.0 if budget is None else budget)
        lower, upper, budget = given.lower, given.upper, given.budget
    labels = asset_labels(cov, mu, benchmark, active_bound, lower, upper,
                          *((given.groups, given.current_weights) if given is not None else ()))
    n = _n_assets(cov, benchmark)
    b = as_vector(benchmark, n, "benchmark", labels=labels)
    budget_f = float(np.sum(b)) if budget is None else as_scalar(budget, "budget")
    lo, up = _active_bounds(lower, upper, b, active_bound, labels)
    p = _prepare(cov, mu, lo, up, budget_f, benchmark, tol, check_psd, labels=labels)
    rows = None if given is None else resolve_rows(given, n, p.labels, cov)
    base = float(p.mu @ p.benchmark)

    def least_risk(r: float, name: str) -> Any:
        return _min_risk(p, r, False, name=name, offset=base) if rows is None else min_risk_rows(p, rows, r, name, base)

    def most_return(sigma: float, name: str) -> Any:
        return _max_return(p, sigma, name, False) if rows is None else max_return_rows(p, rows, sigma, name)

    if target_alpha is not None:
        ta = as_scalar(target_alpha, "target_alpha")
        res = least_risk(ta + base, "target_alpha")
        if max_tracking_error is not None:
            limit = as_scalar(max_tracking_error, "max_tracking_error", minimum=0.0)
            if res.tracking_error > limit * (1 + 1e-9) + 1e-15:
                reach = most_return(limit, "max_tracking_error")
                raise InfeasibleError(
                    "max_tracking_error",
                    f"target_alpha {_num(ta)} needs a tracking error of {_num(res.tracking_error)}, above the "
                    f"limit {_num(limit)}; the highest alpha within the limit is {_num(reach.expected_return - base)}",
                )
    else:
        limit = as_scalar(max_tracking_error, "max_tracking_error", minimum=0.0)
        res = most_return(limit, "max_tracking_error")
    w = np.array(res.weights, dtype=float)
    a = float(p.mu @ (w - p.benchmark))
    te = float(res.tracking_error)
    lab = _labeller(p.labels)
    report = _risk_report(cov, p, w, lab)
    share = _active_share(w, p.benchmark)
    if finite_status(res.status, a, te, share, res.volatility) != res.status:  # the final guard
        res = replace(res, status=Status.NUMERICAL_ERROR, message="a number of the result is not finite")
    return ActivePortfolio(
        weights=lab(w, "weight"), active_weights=lab(w - p.benchmark, "active_weight"), active_return=a, tracking_error=te,
        information_ratio=a / te if te > 0 else float("nan"), active_share=share,
        volatility=res.volatility, risk_report=report, lower=p.lower, upper=p.upper, target=res,
    )


def _risk_report(cov: Any, p: Any, w: np.ndarray, lab: Any) -> RiskContributions:
    """The active portfolio's risk report, labelled as the inputs were; a factor model's own (its
    report adds the risk by source)."""
    if isinstance(cov, FactorCovariance):
        return risk_contributions(cov, lab(w), benchmark=lab(p.benchmark), mu=lab(p.mu),
                                  check_psd=False)
    if p.labels is None:
        return risk_contributions(p.cov, w, benchmark=p.benchmark, mu=p.mu, check_psd=False)
    import pandas as pd

    return risk_contributions(
        pd.DataFrame(p.cov, index=list(p.labels), columns=list(p.labels)), lab(w), benchmark=lab(p.benchmark),
        mu=lab(p.mu), check_psd=False,
    )


def _n_assets(cov: Any, benchmark: Any) -> int:
    """The number of assets, read off the covariance (the benchmark's length if cov is not a
    matrix: the covariance check then names cov)."""
    if isinstance(cov, (Covariance, FactorCovariance)):
        return cov.n
    s = _as_float_array(cov, "cov")
    if s.ndim == 2 and (s.shape[0] == 0 or s.shape[0] != s.shape[1]):
        _square(s, "cov")  # a 0 x 0 or rectangular matrix is the covariance's fault: raises naming cov
    return s.shape[0] if s.ndim == 2 else _as_float_array(benchmark, "benchmark").size


def _active_share(w: np.ndarray, b: np.ndarray) -> float:
    """0.5 (sum |w - b| + |sum(w - b)|): a difference of totals is a cash position on one side."""
    if abs(w.sum() - b.sum()) <= 1e-12 * max(abs(b.sum()), 1.0):
        return float(active_share(w, b))  # the same totals: the standard measure
    d = w - b
    return float(0.5 * (np.abs(d).sum() + abs(d.sum())))


def _labeller(labels: Any) -> Callable[..., Any]:
    """A vector as given (no labels) or as a Series on the labels, named when a name is given."""

    def lab(v: np.ndarray, name: str | None = None) -> Any:
        if labels is None:
            return v
        import pandas as pd

        return pd.Series(v, index=list(labels), name=name)

    return lab


@dataclass(frozen=True, repr=False)
class FundCombination(Result):
    """Funds combined long-only and fully invested, by tracking error and alpha.

    Attributes
    ----------
    weights : (m,) array (pandas.Series with labelled inputs)
        The allocation to each fund (sums to 1).
    active_return, tracking_error, information_ratio : float
        Of the combination: ``mu'x`` (its alpha), ``sqrt(x' Omega x)``, their ratio.
    fund_tracking_error, fund_information_ratio : (m,) arrays (pandas.Series with labelled inputs)
        Of each fund alone.
    average_tracking_error : float
        ``sum_i x_i TE_i``: the combination's tracking error if the funds' active returns were
        perfectly correlated.
    diversification : float
        ``average_tracking_error / tracking_error`` (>= 1).
    percent_risk : (m,) array
        Each fund's share of the combination's tracking variance (sums to 1).
    status, rel_gap : Status, float
        The certificate of the solve (``target`` holds the details for a target alpha).
    """

    weights: Any
    active_return: float
    tracking_error: float
    information_ratio: float
    fund_tracking_error: np.ndarray
    fund_information_ratio: np.ndarray
    average_tracking_error: float
    diversification: float
    percent_risk: Any
    status: Status
    rel_gap: float
    target: TargetResult | MaxSharpeResult

    _figures = ("active_return", "tracking_error", "information_ratio", "average_tracking_error", "diversification",
                "rel_gap")
    _columns = (("weight", "weights"), ("fund_tracking_error", "fund_tracking_error"),
                ("fund_information_ratio", "fund_information_ratio"), ("percent_risk", "percent_risk"))
    alpha = renamed_attribute("alpha", "active_return")
    fund_tracking_errors = renamed_attribute("fund_tracking_errors", "fund_tracking_error")
    fund_information_ratios = renamed_attribute("fund_information_ratios", "fund_information_ratio")

    @property
    def solve_time_s(self) -> float:
        return self.target.solve_time_s

    def _why(self) -> str:
        return self.target._why()


def _require_tracking_errors(te: np.ndarray, labels: Any) -> None:
    """The funds' tracking errors on their own: at least one, finite, > 0, and of a scale whose
    squares (the variances of Omega = D R D) neither overflow nor underflow (SCALE_HUGE and
    SCALE_TINY, the limits of check_scales; every variance a normal float64)."""
    if te.size == 0:
        raise ShapeError("tracking_errors", "expected at least one fund, got none")
    bad = ~np.isfinite(te) | ~(te > 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError("tracking_errors", f"{_entry(labels, k)} = {_num(te[k])}; tracking errors must be finite and > 0")
    with np.errstate(over="ignore", under="ignore"):  # inf or 0: refused
        var = te * te
    if te.size * var.max() > SCALE_HUGE:
        raise InputError("tracking_errors", f"max = {te.max():.3g}: n * max tracking error^2 = {te.size * var.max():.3g} "
                         f"exceeds {SCALE_HUGE:.3g}, the combination's risk overflows (rescale the returns)")
    if var.max() < SCALE_TINY:
        raise InputError("tracking_errors", f"max = {te.max():.3g}: the largest variance {var.max():.3g} is below "
                         f"{SCALE_TINY:.3g}, products of the variances underflow (rescale the returns, e.g. to percent)")
    if (var < np.finfo(np.float64).tiny).any():
        k = int(np.argmin(te))
        raise InputError("tracking_errors", f"{_entry(labels, k)} = {te[k]:.3g}: its square underflows (below "
                         f"{np.finfo(np.float64).tiny:.3g}); the tracking errors span too many orders of magnitude")


def combine_funds(
    cov: CovarianceLike | None = None,
    mu: Vector | None = None,
    *,
    tracking_errors: Vector | None = None,
    correlations: Matrix | None = None,
    target_alpha: float | None = None,
    lower: Bounds = 0.0,
    upper: Bounds = 1.0,
    tol: float = 1e-9,
    alphas: Vector | None = None,
    active_cov: CovarianceLike | None = None,
) -> FundCombination:
    """Combine funds whose active returns (against a common benchmark) have covariance ``cov`` (Omega).

    The allocation ``x`` is long-only and fully invested (``sum x = 1``, ``lower <= x <= upper``);
    the combination's alpha is ``mu'x`` (``mu``: the funds' expected active returns) and its
    tracking error ``sqrt(x' Omega x)``.

    - With ``target_alpha``: the least tracking error with ``mu'x >= target_alpha`` (InfeasibleError
      naming the achievable range when no allocation reaches it).
    - Without: the highest information ratio ``mu'x / sqrt(x' Omega x)`` (the maximum Sharpe ratio
      of the active returns, exact on the frontier's segments).

    Give ``cov`` (Omega), or ``tracking_errors`` and ``correlations`` (Omega = D R D). The old
    form ``combine_funds(alphas, active_cov)`` (and those keywords) still works for one release,
    with a DeprecationWarning.
    """
    cov, mu = _fund_arguments(cov, mu, alphas, active_cov)
    if mu is None:
        raise InputError("mu", "give the funds' expected active returns")
    if cov is None:
        omega, labels = _omega_from_correlations(tracking_errors, correlations, mu, lower, upper)
    else:
        if tracking_errors is not None or correlations is not None:
            raise InputError("cov", "give cov, or tracking_errors and correlations, not both")
        omega, labels = cov, asset_labels(cov, mu, lower, upper)
    cov_name = "cov" if cov is not None else "correlations"
    p = _prepare(omega, mu, lower, upper, 1.0, None, tol, True, cov_name=cov_name, labels=labels)
    if target_alpha is None:
        target: TargetResult | MaxSharpeResult = _best_ratio(p, tol, cov_name)
        w = np.array(target.weights, dtype=float)
        status, rel_gap = target.status, target.frontier.max_rel_gap
    else:
        ta = as_scalar(target_alpha, "target_alpha")
        target = _min_risk(p, ta, False, name="target_alpha")
        w = np.array(target.weights, dtype=float)
        status, rel_gap = target.status, target.rel_gap
    return _combination(p, w, status, rel_gap, target)


def _fund_arguments(cov: Any, mu: Any, alphas: Any, active_cov: Any) -> tuple[Any, Any]:
    """``(cov, mu)`` from the current and the deprecated forms: ``alphas=``, ``active_cov=`` and
    the old positional order ``(alphas, active_cov)``, told apart by shape (cov is a matrix)."""
    if alphas is not None or active_cov is not None:
        warn_renamed("combine_funds(alphas=..., active_cov=...)", "combine_funds(cov, mu)", stacklevel=4)
        if (alphas is not None and mu is not None) or (active_cov is not None and cov is not None and _ndim(cov) != 1):
            raise TypeError("combine_funds() got both a deprecated keyword (alphas, active_cov) and cov or mu")
    if (cov is not None and not isinstance(cov, (Covariance, FactorCovariance)) and _ndim(cov) == 1
            and (mu is None or _ndim(mu) == 2)):
        if alphas is None and active_cov is None:
            warn_renamed("combine_funds(alphas, active_cov)", "combine_funds(cov, mu)", stacklevel=4)
        cov, mu = mu, cov  # the old order: expected returns first
    return (active_cov if active_cov is not None else cov), (alphas if alphas is not None else mu)


def _ndim(x: Any) -> int:
    """The number of dimensions, or -1 for what is no array (ragged lists are named later)."""
    try:
        return int(np.ndim(x))
    except ValueError:
        return -1


def _omega_from_correlations(tracking_errors: Any, correlations: Any, mu: Any, lower: Any, upper: Any) -> tuple:
    """Omega = D R D from the funds' tracking errors and correlations, checked, and the labels."""
    if tracking_errors is None or correlations is None:
        raise InputError("cov", "give cov, or tracking_errors and correlations")
    if is_pandas(correlations) and np.ndim(correlations) == 2:  # its rows follow its columns
        correlations = align(correlations, correlations.columns, "correlations", axis="rows", what="its column",
                             subject="row labels")
    labels = asset_labels(correlations, tracking_errors, mu, lower, upper)
    te = _as_float_array(align(tracking_errors, labels, "tracking_errors"), "tracking_errors")
    if te.ndim != 1:
        raise InputError("tracking_errors", f"must be 1-D; got shape {te.shape}")
    m = te.size
    _require_tracking_errors(te, labels)
    r = _as_float_array(correlations, "correlations")
    if r.shape != (m, m):
        raise InputError("correlations", f"must be {m} x {m} to match tracking_errors; got shape {r.shape}")
    if not np.isfinite(r).all():
        raise InputError("correlations", "must be finite")
    if not np.allclose(np.diag(r), 1.0, atol=1e-12, rtol=0) or (np.abs(r) > 1 + 1e-12).any():
        raise InputError("correlations", "must have a unit diagonal and entries in [-1, 1]")
    return te[:, None] * r * te[None, :], labels


def _best_ratio(p: Any, tol: float, cov_name: str) -> MaxSharpeResult:
    """The highest information ratio (maximum Sharpe of the active returns at a zero rate), or an
    InfeasibleError saying why there is none."""
    try:
        return max_sharpe(p.cov, p.mu, risk_free=0.0, lower=p.lower, upper=p.upper, budget=1.0, tol=tol,
                          check_psd=False)
    except InfeasibleError as e:
        if e.argument != "risk_free":
            raise
        if float(p.mu.max()) > 0:  # a positive alpha at zero tracking error: no finite maximum
            raise InfeasibleError(
                cov_name, "an allocation has zero tracking error and a positive alpha, so the information ratio "
                "has no maximum (the funds' active returns cancel out); give target_alpha for the least "
                "tracking error",
            ) from None
        raise InfeasibleError(
            "mu", "no allocation has a positive alpha, so none has a positive information ratio "
            f"(the highest alpha is {_num(p.mu.max())}); give target_alpha for the least tracking error",
        ) from None


def _combination(p: Any, w: np.ndarray, status: Status, rel_gap: float, target: Any) -> FundCombination:
    s = p.cov
    a = float(p.mu @ w)
    sw = s @ w
    te_c = float(np.sqrt(max(w @ sw, 0.0)))
    fund_te = np.sqrt(s.diagonal())
    avg = float(w @ fund_te)
    lab = _labeller(p.labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(te_c > 0, w * sw / (te_c * te_c), np.nan)
    return FundCombination(
        weights=lab(w, "weight"), active_return=a, tracking_error=te_c, information_ratio=a / te_c if te_c > 0 else float("nan"),
        fund_tracking_error=lab(fund_te), fund_information_ratio=lab(p.mu / fund_te), average_tracking_error=avg,
        diversification=avg / te_c if te_c > 0 else float("inf"), percent_risk=lab(pct), status=status,
        rel_gap=float(rel_gap), target=target,
    )
