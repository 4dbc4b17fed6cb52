"""Targets under group limits, linear rows and a turnover limit (``constraints=`` of
:func:`~microalloc.min_risk`, :func:`~microalloc.max_return` and
:func:`~microalloc.active_portfolio`).

Without rows the targets walk the frontier exactly (targets.py). With rows they are priced
problems of the core's rows solver, certified the same Lagrangian way:

- ``min (w-b)'S(w-b)  s.t.  mu'w >= r`` and the rows: the target is one more row; one rows solve of
  the minimum-risk problem, its gap (half-variance units) doubled;
- ``max mu'w  s.t.  (w-b)'S(w-b) <= sigma^2`` and the rows: mean-variance solves with rows at risk
  aversions found by regula falsi on ``log ra`` until the risk meets ``sigma``; the gap is the rows
  solve's plus ``(ra/2)(sigma^2 - risk^2)``, in return units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _core
from ._target_result import TargetResult, variance_floor as _variance_floor
from ._validate import EMPTY, _num
from .constraints import ResolvedConstraints
from .errors import InfeasibleError, InputError
from .status import Status, finite_status, from_core

_MAX_ITER = 20_000


def resolve_rows(given: Any, n: int, labels: Any, cov: Any) -> ResolvedConstraints | None:
    """The constraints' rows for a target solve, or None when they are only bounds and a budget.
    Costs are refused (a target problem has no utility to charge them to); a turnover limit is a row."""
    resolved = given._resolve(n, labels, cov=cov)
    trading = resolved.trading
    if trading is not None and (trading.buy.any() or trading.sell.any()):
        raise InputError("constraints", "costs are charged in solve_mean_variance's utility; targets take a turnover "
                                        "limit (costs=None)")
    if not resolved.has_rows and trading is None:
        return None
    return resolved


def _solve(p: Any, rows: ResolvedConstraints, mu: np.ndarray, ra: float, extra: tuple, start: np.ndarray,
           center: np.ndarray | None = None):
    """One rows solve of the target problem's mean-variance relative (``extra``: one more row;
    ``center``: the risk measured from it instead of the benchmark)."""
    n = len(p.mu)
    a = rows.a if rows.has_rows else np.zeros((0, n))
    lo = rows.row_lower if rows.has_rows else EMPTY
    hi = rows.row_upper if rows.has_rows else EMPTY
    if extra:
        a = np.ascontiguousarray(np.vstack([a, extra[0][None, :]]))
        lo, hi = np.r_[lo, extra[1]], np.r_[hi, extra[2]]
    t = rows.trading
    current, zeros, limit = (t.current, np.zeros(n), t.turnover) if t is not None else (EMPTY, EMPTY, math.inf)
    b = p.benchmark if center is None else center
    return _core.solve_with_rows(p.cov, mu, p.lower, p.upper, b, ra, p.budget, a, lo, hi, start, p.tol,
                                 _MAX_ITER, current, zeros, zeros if t is not None else EMPTY, limit, EMPTY)


def _result(p, w, raw, *, ra, target, value, binding, gap, scale, violation, elapsed, message="", risk=None):
    mu_w = float(p.mu @ w)
    risk = float(raw.risk) if risk is None else risk
    if p.benchmark.size:
        te, vol = risk, float(np.sqrt(max(w @ (p.cov @ w), 0.0)))
    else:
        te, vol = None, risk
    rel_gap = gap / scale
    ok = from_core(raw.status) == Status.OPTIMAL and rel_gap <= p.tol and violation <= 1e-10 * max(1.0, abs(value))
    status = Status.OPTIMAL if ok else Status.NUMERICAL_ERROR
    if not ok and not message:
        message = (f"certificate: rows solve status {from_core(raw.status).name}, target rel_gap {rel_gap:.2e}, "
                   f"target violation {violation:.2e}")
    if finite_status(status, w, mu_w, vol, te, gap, rel_gap) != status:
        status, message = Status.NUMERICAL_ERROR, "a number of the result is not finite"
    if p.labels is not None:
        import pandas as pd

        w = pd.Series(w, index=list(p.labels))
    return TargetResult(
        weights=w, expected_return=mu_w, volatility=vol, tracking_error=te, risk_aversion=float(ra), target=target,
        target_value=value, binding=binding, status=status, gap=float(gap), rel_gap=float(rel_gap),
        primal_residual=float(max(raw.primal_residual, violation)), dual_residual=float(raw.dual_residual),
        solve_time_s=elapsed, message=message,
    )


def min_risk_rows(p: Any, rows: ResolvedConstraints, r: float, name: str, offset: float) -> Any:
    raw, lam, _, _, _, _ = _solve(p, rows, EMPTY, 1.0, (p.mu, r, math.inf), EMPTY)
    w = np.array(raw.weights, dtype=float)
    price = -float(lam[-1]) if len(lam) else 0.0  # the target row's multiplier (its lower side: <= 0)
    var = float(raw.risk) ** 2
    message = ""
    if from_core(raw.status) == Status.INFEASIBLE:  # proven: the target, or the constraints alone
        alone = _solve(p, rows, EMPTY, 1.0, (), EMPTY)[0]
        if from_core(alone.status) == Status.OPTIMAL:
            raise InfeasibleError(name, f"{_num(r - offset)} is above the highest return the constraints allow")
        if from_core(alone.status) == Status.INFEASIBLE:
            raise InfeasibleError("constraints", "no portfolio meets the constraints (bounds, budget, rows and "
                                                 "turnover limit together)")
    if from_core(raw.status) != Status.OPTIMAL:
        message = (f"the rows solve ended with {from_core(raw.status).name}: {name} {_num(r - offset)} may be above "
                   "the highest return the constraints allow")
    return _result(p, w, raw, ra=math.inf if price <= 0 else 1.0 / price, target=name, value=r - offset,
                   binding=price > 0, gap=2.0 * float(raw.gap), scale=max(var, _variance_floor(p)),
                   violation=max(r - float(p.mu @ w), 0.0), elapsed=float(raw.solve_time_s), message=message)


def max_return_rows(p: Any, rows: ResolvedConstraints, sigma: float, name: str) -> Any:
    """Regula falsi (Illinois) on log ra for risk(ra) = sigma, each point a warm-started rows solve."""
    elapsed = 0.0
    start = EMPTY

    def at(ra):
        nonlocal elapsed, start
        raw = _solve(p, rows, p.mu, ra, (), start)[0]
        elapsed += float(raw.solve_time_s)
        if from_core(raw.status) == Status.OPTIMAL:
            start = np.array(raw.weights, dtype=float)
        return raw

    spread = float(p.mu.max() - p.mu.min()) * max(1.0, abs(p.budget))
    scale = max(spread, 1e-300)
    # The least risk the constraints allow, first: below it the target is infeasible; without a
    # certified minimum the constraints themselves may exclude every portfolio.
    low = _solve(p, rows, EMPTY, 1.0, (), EMPTY)[0]
    elapsed += float(low.solve_time_s)
    if from_core(low.status) != Status.OPTIMAL:
        return _finish_max(p, low, math.inf, sigma, name, scale, elapsed, binding=True, message=(
            f"the minimum-risk solve under the constraints ended {from_core(low.status).name}: the rows and the "
            "turnover limit may exclude every portfolio"))
    if float(low.risk) > sigma * (1 + 1e-12):
        raise InfeasibleError(name, f"{_num(sigma)} is below the lowest risk the constraints allow "
                                    f"({_num(float(low.risk))})")
    var_scale = max(_variance_floor(p), sigma * sigma, 1e-300)
    ra_hi = max(spread / var_scale, 1e-12)
    hi = at(ra_hi)
    for _ in range(60):  # up the risk aversion until the risk is within the target (the minimum's is)
        if from_core(hi.status) == Status.OPTIMAL and float(hi.risk) <= sigma:
            break
        ra_hi *= 10.0
        hi = at(ra_hi)
    else:
        return _finish_max(p, hi, ra_hi, sigma, name, scale, elapsed, binding=True, message=(
            "no risk aversion up to 1e60 times the start met the target with a certified rows solve"))
    # down the risk aversion until the risk exceeds the target, or the target's term is negligible
    # (not binding: the maximum-return end), or the rows solve no longer settles at so small a
    # risk aversion (then the last certified point, its gap saying how close it is)
    ra_lo, lo = ra_hi, hi
    while float(lo.risk) <= sigma:
        slack = 0.5 * ra_lo * (sigma * sigma - float(lo.risk) ** 2)
        if slack + float(lo.gap) <= p.tol * scale:
            return _finish_max(p, lo, ra_lo, sigma, name, scale, elapsed, binding=False)
        ra_hi, hi = ra_lo, lo
        ra_lo /= 10.0
        lo = at(ra_lo)
        if from_core(lo.status) != Status.OPTIMAL:
            # proximal steps at the first risk aversion tried, where the rows solve is well scaled
            end = _linear_end(p, rows, np.array(hi.weights, dtype=float), max(spread / var_scale, 1e-12))
            if end is not None:
                raw_end, gap_end, spent = end
                elapsed += spent
                if float(raw_end.risk_to_benchmark) <= sigma:
                    return _result(p, np.array(raw_end.weights, dtype=float), raw_end.core, ra=0.0, target=name,
                                   value=sigma, binding=False, gap=gap_end,
                                   scale=max(abs(float(p.mu @ np.asarray(raw_end.weights))), scale),
                                   violation=max(float(raw_end.risk_to_benchmark) - sigma, 0.0), elapsed=elapsed,
                                   risk=float(raw_end.risk_to_benchmark))
            return _finish_max(p, hi, ra_hi, sigma, name, scale, elapsed, binding=False, message=(
                "the target does not bind: the highest return under the constraints is certified only as far "
                "as the smallest risk aversion the rows solve settles at"))
    x_lo, x_hi = math.log(ra_lo), math.log(ra_hi)
    f_lo, f_hi = float(lo.risk) ** 2 - sigma**2, float(hi.risk) ** 2 - sigma**2
    side = 0
    for _ in range(200):
        gap_now = hi.gap + 0.5 * ra_hi * max(sigma * sigma - float(hi.risk) ** 2, 0.0)
        if gap_now <= p.tol * scale * 0.5 or x_hi - x_lo < 1e-14:
            break
        x = (x_lo * f_hi - x_hi * f_lo) / (f_hi - f_lo)
        x = min(max(x, x_lo + 1e-3 * (x_hi - x_lo)), x_hi - 1e-3 * (x_hi - x_lo))
        mid = at(math.exp(x))
        f = float(mid.risk) ** 2 - sigma**2
        if f > 0:
            x_lo, f_lo, lo = x, f, mid
            if side == -1:
                f_hi *= 0.5
            side = -1
        else:
            x_hi, f_hi, hi, ra_hi = x, f, mid, math.exp(x)
            if side == 1:
                f_lo *= 0.5
            side = 1
    return _finish_max(p, hi, ra_hi, sigma, name, scale, elapsed, binding=True)


class _End:
    """The linear program's end: the last proximal solve and the risk of its point (from the benchmark)."""

    def __init__(self, core: Any, risk_to_benchmark: float) -> None:
        self.core, self.weights, self.risk_to_benchmark = core, core.weights, risk_to_benchmark


def _linear_end(p: Any, rows: ResolvedConstraints, w: np.ndarray, rho: float) -> tuple | None:
    """The maximum return under the rows (a linear program the rows' Newton method cannot take at
    risk aversion 0) by proximal steps ``w <- argmin (rho/2)(v - w)'S(v - w) - mu'v``, which end at
    an optimum of the linear program. At the last step the solve's certificate, whose gradient is
    ``-mu + rho S (w+ - w)``, bounds the linear program's gap up to ``rho |S (w+ - w)|_inf`` times
    the box's width (the box must be finite). None when a step is not certified or the steps do
    not settle."""
    width = float(np.sum(p.upper - p.lower))
    if not np.isfinite(width):
        return None
    elapsed = 0.0
    for _ in range(200):
        raw = _solve(p, rows, p.mu, rho, (), w, center=w)[0]
        elapsed += float(raw.solve_time_s)
        if from_core(raw.status) != Status.OPTIMAL:
            return None
        w_new = np.array(raw.weights, dtype=float)
        move = w_new - w
        if np.abs(move).max() <= 1e-13 * max(1.0, abs(p.budget)):
            drift = rho * float(np.abs(p.cov @ move).max()) * width
            d = w_new - p.benchmark if p.benchmark.size else w_new
            risk = float(np.sqrt(max(d @ (p.cov @ d), 0.0)))
            return _End(raw, risk), float(raw.gap) + drift, elapsed
        w = w_new
    return None


def _finish_max(p, raw, ra, sigma, name, scale, elapsed, *, binding, message=""):
    w = np.array(raw.weights, dtype=float)
    risk = float(raw.risk)
    gap = float(raw.gap) + 0.5 * ra * max(sigma - risk, 0.0) * (sigma + risk)
    return _result(p, w, raw, ra=ra, target=name, value=sigma, binding=binding, gap=gap,
                   scale=max(0.5 * ra * sigma * sigma + abs(float(p.mu @ w)), scale), violation=max(risk - sigma, 0.0),
                   elapsed=elapsed, message=message)
