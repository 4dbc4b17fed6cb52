"""Targets on the efficient frontier: minimum risk for a target return, maximum return for a target
volatility or tracking error, each with the certificate of the target problem itself.

Both problems are solved exactly by walking the frontier (critical line algorithm) only up to the
target and reading the point off its segment. The certificate is the Lagrangian one: the point is
optimal for the mean-variance problem at the frontier's risk aversion there (a duality gap computed
by the core from the weights alone), and the target's own multiplier turns that gap into a bound on
the target problem:

- ``min (w-b)'S(w-b)  s.t.  mu'w >= r``:  ``gap = 2 tau (gap_mv + mu'w - r)`` (variance units);
- ``max mu'w  s.t.  (w-b)'S(w-b) <= sigma^2``:  ``gap = gap_mv + (ra / 2) (sigma^2 - risk^2)``
  (return units),

both over ``sum(w) = budget, lower <= w <= upper``, where ``ra = 1 / tau`` is the risk aversion and
``gap_mv`` the core's gap in the units of its objective ``(ra/2)(w-b)'S(w-b) - mu'w``. At the ends
of the path the certificate is the end's own: minimum risk (variance units, ``gap = 2 gap_mv`` with
the objective ``(1/2)(w-b)'S(w-b)``), or the maximum-return linear program (return units).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core
from ._target_result import TargetResult, variance_floor as _variance_floor
from ._targets_rows import max_return_rows, min_risk_rows, resolve_rows
from ._validate import EMPTY, _num, as_flag, as_scalar, asset_labels
from .errors import InfeasibleError, InputError
from .frontier import Frontier, _prepare, _prepare_with, _Problem, _run
from .status import Status, finite_status, from_core
from ._typing import Vector, Bounds
from .covariance import CovarianceLike

if TYPE_CHECKING:
    from .constraints import Constraints

__all__ = ["TargetResult", "min_risk", "max_return"]


def _certify(p: _Problem, w: np.ndarray, risk_aversion: float) -> Any:
    """The core's mean-variance certificate of w at a risk aversion (inf: minimum risk, mu unused)."""
    if np.isinf(risk_aversion):
        return _core.certify_weights(p.cov, EMPTY, p.lower, p.upper, p.benchmark, 1.0, p.budget, w, p.tol)
    return _core.certify_weights(p.cov, p.mu, p.lower, p.upper, p.benchmark, risk_aversion, p.budget, w, p.tol)


def _finish(
    p: _Problem, fr: Frontier, w: np.ndarray, risk_aversion: float, cert: Any, *, target: str, value: float, binding: bool,
    gap: float, scale: float, target_violation: float, solve_time_s: float,
) -> TargetResult:
    mu_w = float(p.mu @ w)
    risk = float(cert.risk)  # the core's sqrt((w-b)'S(w-b)), from its certificate
    if p.benchmark.size:
        te, vol = risk, float(np.sqrt(max(w @ (p.cov @ w), 0.0)))
    else:
        te, vol = None, risk
    rel_gap = gap / scale
    primal = max(float(cert.primal_residual), target_violation)
    target_tol = 1e-10 * max(1.0, abs(value))
    mv_status = from_core(cert.status)
    ok = mv_status == Status.OPTIMAL and rel_gap <= p.tol and target_violation <= target_tol
    status = Status.OPTIMAL if ok else Status.NUMERICAL_ERROR
    message = "" if ok else (
        f"certificate: mean-variance status {mv_status}, target rel_gap {rel_gap:.2e}, "
        f"target violation {target_violation:.2e}"
    )
    if finite_status(status, w, mu_w, vol, te, gap, rel_gap, primal, cert.dual_residual) != status:
        status, message = Status.NUMERICAL_ERROR, "a number of the result is not finite (the data's scale overflows)"
    weights = fr._label(w)
    return TargetResult(
        weights=weights, expected_return=mu_w, volatility=vol, tracking_error=te,
        risk_aversion=float(risk_aversion), target=target, target_value=value, binding=binding,
        status=status, gap=float(gap), rel_gap=float(rel_gap), primal_residual=primal,
        dual_residual=float(cert.dual_residual), solve_time_s=solve_time_s, message=message,
    )


def _min_risk_gap(p: _Problem, w: np.ndarray, tau: float, r: float) -> tuple[Any, float, float]:
    """(core certificate, gap, scale) of ``min (w-b)'S(w-b) s.t. mu'w >= r`` at a feasible w,
    from the mean-variance certificate at ``tau`` (0: the minimum-risk problem itself)."""
    cert = _certify(p, w, np.inf if tau == 0 else 1.0 / tau)
    var = float(cert.risk) ** 2
    if tau == 0:
        gap = 2.0 * float(cert.gap)
    else:
        gap = 2.0 * tau * (float(cert.gap) + max(float(p.mu @ w) - r, 0.0))
    return cert, gap, max(var, _variance_floor(p))


def _max_return_gap(p: _Problem, w: np.ndarray, ra: float, sigma: float) -> tuple[Any, float, float]:
    """(core certificate, gap, scale) of ``max mu'w s.t. (w-b)'S(w-b) <= sigma^2`` at a feasible w,
    from the mean-variance certificate at the risk aversion ``ra`` (0: the linear program)."""
    cert = _certify(p, w, ra)
    risk = float(cert.risk)
    # the target's term (ra / 2)(sigma^2 - risk^2), absent at ra = 0 (the linear program's end,
    # where a huge non-binding sigma would make it 0 * inf); as (sigma - risk)(sigma + risk)
    slack = 0.5 * ra * max(sigma - risk, 0.0) * (sigma + risk) if ra > 0 else 0.0
    gap = float(cert.gap) + slack
    # relative to the objective's size, which a constant added to mu must not shrink: the spread of
    # mu times the budget bounds the return differences between portfolios
    spread = float(p.mu.max() - p.mu.min()) * max(1.0, abs(p.budget))
    scale = max((0.5 * ra * sigma * sigma if ra > 0 else 0.0) + abs(float(p.mu @ w)), spread, 1e-300)
    return cert, gap, scale


def _min_risk(
    p: _Problem, r: float, raise_on_failure: bool, *, name: str = "target_return", offset: float = 0.0
) -> TargetResult:
    """``offset`` is subtracted from returns in messages (alphas: mu'b)."""
    fr = _run(p, stop_return=r)
    if fr.status != Status.OPTIMAL:
        fr.raise_for_status()
    er = fr.expected_return
    if not fr._truncated and not fr.unbounded and r > er[-1] + 1e-12 * max(1.0, abs(r)):
        raise InfeasibleError(
            name,
            f"{_num(r - offset)} is above the highest achievable; achievable range "
            f"[{_num(er[0] - offset)}, {_num(er[-1] - offset)}] (from minimum risk to maximum return)",
        )
    binding = r > er[0]
    tau = fr._tau_for(r, er, mean=True) if binding else 0.0
    w = np.array(fr._at_tau(tau), dtype=float)
    cert, gap, scale = _min_risk_gap(p, w, tau, r)
    mu_w = float(p.mu @ w)
    res = _finish(
        p, fr, w, np.inf if tau == 0 else 1.0 / tau, cert, target=name, value=r - offset, binding=bool(binding),
        gap=gap, scale=scale, target_violation=max(r - mu_w, 0.0) if binding else 0.0,
        solve_time_s=fr.solve_time_s,
    )
    return res.raise_for_status() if raise_on_failure else res


def _max_return(p: _Problem, sigma: float, name: str, raise_on_failure: bool) -> TargetResult:
    fr = _run(p, stop_risk=sigma)
    if fr.status != Status.OPTIMAL:
        fr.raise_for_status()
    risk = fr._risk
    if sigma < risk[0] * (1 - 1e-12):
        whole = _run(p) if fr._truncated else fr
        top = "inf" if whole.unbounded else _num(whole._risk[-1])
        raise InfeasibleError(
            name,
            f"{_num(sigma)} is below the lowest risk of a feasible portfolio; achievable range "
            f"[{_num(risk[0])}, {top}] (from minimum risk to maximum return)",
        )
    at_end = not fr._truncated and not fr.unbounded and sigma >= risk[-1]
    # A target within rounding of the minimum risk is the minimum-risk portfolio: the flat start of
    # the frontier would otherwise turn rounding into a huge risk aversion.
    at_min = not at_end and sigma * sigma - risk[0] ** 2 <= 1e-9 * max(risk[0] ** 2, _variance_floor(p))
    if at_end:  # the maximum-return end: the linear program's certificate
        w = fr._w[-1].copy()
        ra = 0.0
        cert, gap, scale = _max_return_gap(p, w, 0.0, sigma)
    elif at_min:  # the only feasible portfolios are the minimum-risk ones: that problem's certificate
        w = fr._w[0].copy()
        ra = np.inf
        cert, gap, scale = _min_risk_gap(p, w, 0.0, -np.inf)
    else:
        tau = fr._tau_for(sigma, risk, mean=False)
        w = np.array(fr._at_tau(tau), dtype=float)
        ra = 1.0 / tau
        cert, gap, scale = _max_return_gap(p, w, ra, sigma)
    res = _finish(
        p, fr, w, ra, cert, target=name, value=sigma, binding=not at_end, gap=gap, scale=scale,
        target_violation=max(float(cert.risk) - sigma, 0.0), solve_time_s=fr.solve_time_s,
    )
    return res.raise_for_status() if raise_on_failure else res


def min_risk(
    cov: CovarianceLike,
    mu: Vector,
    target_return: float,
    *,
    lower: Bounds = 0.0,
    upper: Bounds = 1.0,
    budget: float = 1.0,
    benchmark: Vector | None = None,
    constraints: Constraints | None = None,
    tol: float = 1e-9,
    check_psd: bool = True,
    raise_on_failure: bool = False,
) -> TargetResult:
    """The least risky portfolio with ``mu'w >= target_return``.

    Minimises the volatility (the tracking error against ``benchmark`` when given) over
    ``sum(w) = budget, lower <= w <= upper`` subject to the expected return ``mu'w`` reaching
    ``target_return`` (a total return; with a benchmark, the target alpha is
    ``target_return - mu'b``). Exact: the frontier is walked only up to the target.

    A target at or below the minimum-risk portfolio's return gives that portfolio (``binding`` is
    False); one above the highest feasible return raises :class:`~microalloc.errors.InfeasibleError`
    naming the achievable range. The result carries the certificate of this problem (see
    :class:`TargetResult`).

    ``constraints`` (a :class:`~microalloc.Constraints`, instead of ``lower``, ``upper`` and
    ``budget``) adds group limits, linear rows and a turnover limit (not costs): the target is then
    one more priced row of the core's rows solve, with the same certificate; a target above what
    the constraints allow raises :class:`~microalloc.errors.InfeasibleError` naming the target when
    the rows' multipliers prove it (a Farkas certificate), else ends NUMERICAL_ERROR with a message.
    """
    raise_on_failure = as_flag(raise_on_failure, "raise_on_failure")
    p, rows = _prepare_with(cov, mu, lower, upper, budget, benchmark, constraints, tol, check_psd)
    r = as_scalar(target_return, "target_return")
    if rows is not None:
        res = min_risk_rows(p, rows, r, "target_return", 0.0)
        return res.raise_for_status() if raise_on_failure else res
    return _min_risk(p, r, raise_on_failure)


def max_return(
    cov: CovarianceLike,
    mu: Vector,
    *,
    target_volatility: float | None = None,
    target_tracking_error: float | None = None,
    lower: Bounds = 0.0,
    upper: Bounds = 1.0,
    budget: float = 1.0,
    benchmark: Vector | None = None,
    constraints: Constraints | None = None,
    tol: float = 1e-9,
    check_psd: bool = True,
    raise_on_failure: bool = False,
) -> TargetResult:
    """The highest expected return with volatility <= ``target_volatility``, or with tracking error
    against ``benchmark`` <= ``target_tracking_error``.

    Exactly one target is given; ``target_tracking_error`` needs ``benchmark`` and
    ``target_volatility`` is for absolute risk (no benchmark). A target below the lowest feasible
    risk raises :class:`~microalloc.errors.InfeasibleError` naming the achievable range; one above
    the risk of the maximum-return portfolio gives that portfolio (``binding`` is False).

    ``constraints`` adds group limits, linear rows and a turnover limit (not costs): the risk
    aversion where the risk meets the target is found by regula falsi over rows solves, with the
    same certificate.
    """
    if (target_volatility is None) == (target_tracking_error is None):
        raise InputError("target_volatility", "give exactly one of target_volatility and target_tracking_error")
    if target_tracking_error is not None and benchmark is None:
        raise InputError("target_tracking_error", "needs a benchmark (the tracking error is measured against it)")
    if target_volatility is not None and benchmark is not None:
        raise InputError(
            "target_volatility",
            "with a benchmark the frontier's risk is the tracking error: pass target_tracking_error",
        )
    name = "target_volatility" if target_volatility is not None else "target_tracking_error"
    sigma = as_scalar(target_volatility if target_volatility is not None else target_tracking_error, name, minimum=0.0)
    raise_on_failure = as_flag(raise_on_failure, "raise_on_failure")
    p, rows = _prepare_with(cov, mu, lower, upper, budget, benchmark, constraints, tol, check_psd)
    if rows is not None:
        res = max_return_rows(p, rows, sigma, name)
        return res.raise_for_status() if raise_on_failure else res
    return _max_return(p, sigma, name, raise_on_failure)
