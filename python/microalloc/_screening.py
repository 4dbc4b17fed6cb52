"""Large solves with rows or trading: first on the assets that can matter, then on all of them.

A rebalance of 10,000 assets under sector caps, costs and a turnover limit trades a few dozen.
The rows' Newton method (cpp/include/microalloc/linear_rows.hpp) takes a dozen steps, each one
or two inner solves of O(n) passes, nearly all over assets that stay where they are. From
``SCREEN_MIN_N`` assets on, the problem is first solved on a working universe W, the others held
at their current weights (a rebalance only: without trading there is no good guess of where
assets rest):

- W holds every asset that cannot rest (its current weight outside its bounds), every asset held
  (current weight not 0), and the ``K`` best of the rest by the gain of a first buy at rest,
  ``mu_i - ra (S (x - b))_i - buy_i``;
- the held-out assets shift ``mu`` by their risk cross term, the rows' limits by their
  contribution and the budget by their weight; they trade nothing, so the turnover limit and the
  costs are W's alone.

That solve's weights and multipliers then start the rows' Newton method on the whole problem,
whose steps and certificate are the whole problem's as ever: when W was right it certifies at its
first point; when W missed an asset the whole solve takes the steps it needs (time, never the
answer). Memory: the universe's model (|W| rows of the loadings, or |W|^2 entries of a dense S)
beside the whole problem's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._validate import EMPTY
from .status import Status, from_core

SCREEN_MIN_N = 2_000  #: from this many assets on, a solve with rows or trading screens first
SCREEN_K = 100        #: candidates to buy added to the universe (and twice the assets held)


def universe_solve(cov: Any, s: Any, mu: np.ndarray, b: np.ndarray, ra: float, resolved: Any, tol: float,
                   iters: int) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(weights, multipliers, size of the universe) of the problem solved on a working universe,
    as a start for the whole solve; None when screening does not apply (no trading, small n,
    current weights not finite, the universe infeasible or not solved)."""
    n = len(mu) if mu.size else s.shape[0]
    trading = resolved.trading
    # Only a rebalance: its assets rest at their current weights. Without trading the lower bound
    # is a poor guess of where they rest (a benchmark over all names, minimum variance), and a
    # review measured such screened solves 2.5-4.5x slower.
    if trading is None or n < SCREEN_MIN_N or not np.isfinite(trading.current).all() or ra <= 0.0:
        return None
    rest = trading.current
    must = (rest < resolved.lower) | (rest > resolved.upper) | (rest != 0.0)
    d = rest - b if b.size else rest
    s_rest = s @ np.ascontiguousarray(d)
    gain = (mu if mu.size else 0.0) - ra * s_rest - trading.buy
    k = min(n - 1, SCREEN_K + 2 * int(must.sum()))
    top = np.argpartition(-np.where(must, -np.inf, gain), k)[:k]
    universe = np.union1d(np.flatnonzero(must), top)
    if universe.size == 0 or universe.size >= n // 2:
        return None
    out = np.ones(n, dtype=bool)
    out[universe] = False
    sub = _restricted(cov, s, universe)
    if sub is None:
        return None
    # the held-out assets' risk cross term on W, (S d_out)_W = (S d)_W - S_WW d_W: from the
    # product already made and the universe's own block, not a second pass over S
    cross = s_rest[universe] - sub @ np.ascontiguousarray(d[universe])
    start = _solve_universe(sub, cross, universe, out, mu, b, ra, resolved, tol, iters)
    if start is None:
        return None
    w_u, lam = start
    w = rest.copy()
    w[universe] = w_u
    return w, lam, int(universe.size)


def _solve_universe(sub, cross, universe, out, mu, b, ra, resolved, tol, iters):
    t = resolved.trading
    rest = t.current
    mu_u = (mu[universe] if mu.size else 0.0) - ra * cross
    mu_u = np.ascontiguousarray(np.broadcast_to(mu_u, universe.shape), dtype=np.float64)
    if resolved.has_rows:
        a = np.ascontiguousarray(resolved.a[:, universe])
        shift = resolved.a[:, out] @ rest[out]
        row_lo, row_up = resolved.row_lower - shift, resolved.row_upper - shift
    else:
        a, row_lo, row_up = np.zeros((0, universe.size)), EMPTY, EMPTY
    current, buy, sell = (np.ascontiguousarray(x[universe]) for x in (t.current, t.buy, t.sell))
    raw, lam, _, _, _, traded = _core.solve_with_rows(
        sub, mu_u, np.ascontiguousarray(resolved.lower[universe]), np.ascontiguousarray(resolved.upper[universe]),
        np.ascontiguousarray(b[universe]) if b.size else EMPTY, ra, resolved.budget - float(rest[out].sum()),
        a, row_lo, row_up, EMPTY, tol, iters, current, buy, sell, t.turnover, EMPTY)
    if from_core(raw.status) != Status.OPTIMAL:
        return None
    multipliers = np.asarray(lam, dtype=float)
    if np.isfinite(t.turnover):
        multipliers = np.r_[multipliers, traded["turnover_multiplier"]]
    return np.asarray(raw.weights, dtype=float), multipliers


def _restricted(cov: Any, s: Any, universe: np.ndarray) -> Any:
    """The covariance of the universe's assets as the core takes it (None: no way to restrict)."""
    from .covariance import FactorCovariance

    if isinstance(cov, FactorCovariance):
        return cov._restricted_model(universe)
    if isinstance(s, np.ndarray):
        return np.ascontiguousarray(s[np.ix_(universe, universe)])
    return None
