"""Solves with a factor-model covariance S = X F X' + diag(d), never formed by microalloc.

Checked three ways, none of which uses microalloc to produce an expected value:
- the KKT conditions of the returned weights, recomputed here with S formed in numpy;
- the same problem given as the dense matrix (`to_dense()`, itself checked against X F X' + D
  elsewhere): the same weights (the active set is exact up to rounding) or objective;
- clarabel on the sparse (w, y = X'w) formulation at n = 2,000-10,000.
"""

from __future__ import annotations

import clarabel
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microalloc as ma

pytestmark = pytest.mark.skipif(not hasattr(ma, "FactorCovariance"), reason="no FactorCovariance")


def random_model(rng: np.random.Generator, n: int, k: int, *, rank_deficient: bool = False,
                 zero_specific: int = 0, duplicates: int = 0):
    """Loadings, factor covariance and specific variances of an annualised equity-like model."""
    x = rng.normal(0.0, 1.0, (n, k))
    x[:, 0] = rng.normal(1.0, 0.3, n)  # a market factor
    a = rng.normal(0.0, 1.0, (k, k - 1 if rank_deficient and k > 1 else k))
    f = 0.02 * (a @ a.T) / k
    d = rng.uniform(0.01, 0.09, n)
    for t in range(min(duplicates, n - 1)):
        x[t + 1] = x[0]  # an asset with the same loadings as asset 0
    var_f = np.einsum("ij,jk,ik->i", x, f, x)
    candidates = np.flatnonzero(var_f > 0.05 * var_f.max())
    d[candidates[:zero_specific]] = 0.0  # allowed: the factors give these assets their risk
    return x, f, d


def formed(x, f, d):
    return x @ f @ x.T + np.diag(d)


def kkt_residual(s, w, mu, ra, lo, up, budget, bench):
    """Largest violation of the KKT conditions, relative to the gradient's size (numpy only)."""
    g = ra * s @ (w - bench) - mu
    free = (w > lo + 1e-10) & (w < up - 1e-10)
    # nu from the free assets when there are any, else the best split of the bound ones
    # (r = g + nu >= 0 at a lower bound and <= 0 at an upper one: nu in [-min g_L, -max g_U])
    g_lower, g_upper = g[w <= lo + 1e-10], g[w >= up - 1e-10]
    if free.any():
        nu = -np.median(g[free])
    elif g_lower.size and g_upper.size:
        nu = -0.5 * (g_lower.min() + g_upper.max())
    else:
        nu = -g_lower.min() if g_lower.size else -g_upper.max()
    r = g + nu
    viol = np.where(free, np.abs(r), 0.0)
    viol = np.maximum(viol, np.where(w <= lo + 1e-10, np.maximum(-r, 0.0), 0.0))
    viol = np.maximum(viol, np.where(w >= up - 1e-10, np.maximum(r, 0.0), 0.0))
    prim = max(abs(w.sum() - budget), float(np.max(lo - w, initial=0.0)), float(np.max(w - up, initial=0.0)))
    # relative to the gradient's natural size (its terms, not g itself, which vanishes at w = b)
    size = ra * float(np.abs(s).max()) * float(np.abs(w - bench).sum() + np.abs(w).sum()) + float(np.abs(mu).max())
    return float(viol.max()) / size, prim


def objective(s, w, mu, ra, bench):
    a = w - bench
    return 0.5 * ra * a @ s @ a - mu @ w


@st.composite
def problems(draw):
    n = draw(st.integers(2, 40))
    k = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x, f, d = random_model(rng, n, k, rank_deficient=draw(st.booleans()),
                           zero_specific=draw(st.sampled_from([0, 0, 1, 2])),
                           duplicates=draw(st.sampled_from([0, 0, 1, 3])))
    kind = draw(st.sampled_from(["long_only", "capped", "long_short"]))
    lo, up = {"long_only": (0.0, 1.0), "capped": (0.0, max(1.5 / n, 0.05)), "long_short": (-0.3, 0.6)}[kind]
    with_mu = draw(st.booleans())
    mu = rng.normal(0.06, 0.04, n) if with_mu else None
    ra = draw(st.sampled_from([1.0, 5.0, 20.0])) if with_mu else 1.0
    bench = np.full(n, 1.0 / n) if draw(st.booleans()) else None
    return x, f, d, mu, ra, lo, up, bench


@pytest.mark.parametrize("method", ["active_set", "projected_gradient"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems())
def test_factor_equals_dense(method, problem):
    x, f, d, mu, ra, lo, up, bench = problem
    n = x.shape[0]
    cov = ma.FactorCovariance(x, f, d)
    s = formed(x, f, d)
    kw = dict(risk_aversion=ra, lower=lo, upper=up, benchmark=bench, method=method)
    r_factor = ma.solve_mean_variance(cov, mu, **kw)
    r_dense = ma.solve_mean_variance(s, mu, **kw)
    assert r_factor.status == "OPTIMAL", r_factor
    assert r_dense.status == "OPTIMAL", r_dense
    w = np.asarray(r_factor.weights)
    m = np.zeros(n) if mu is None else mu
    b = np.zeros(n) if bench is None else bench
    lov, upv = np.full(n, lo), np.full(n, up)
    dual, prim = kkt_residual(s, w, m, ra, lov, upv, 1.0, b)
    assert prim <= 1e-10
    scale = 0.5 * ra * (w - b) @ s @ (w - b) + abs(m @ w) + 1e-4 * ra * np.mean(np.diag(s))
    gap = objective(s, w, m, ra, b) - objective(s, np.asarray(r_dense.weights), m, ra, b)
    assert abs(gap) <= 1e-9 * scale
    strictly_convex = d.min() > 0
    if method == "active_set" and strictly_convex:
        # a unique optimum, found exactly (up to rounding) by both
        assert np.max(np.abs(w - np.asarray(r_dense.weights))) <= 1e-9
        assert dual <= 1e-8


def clarabel_wy(x, f, d, mu, ra, lo, up):
    """min (ra/2)(y'Fy + w'Dw) - mu'w  s.t.  X'w - y = 0, 1'w = 1, lo <= w <= up, by clarabel."""
    n, k = x.shape
    p = sp.block_diag([sp.diags(ra * d), sp.csc_matrix(ra * f)], format="csc")
    q = np.r_[-mu, np.zeros(k)]
    a_eq = sp.vstack([sp.hstack([sp.csc_matrix(x.T), -sp.eye(k)]), sp.hstack([sp.csc_matrix(np.ones((1, n))), sp.csc_matrix((1, k))])])
    a_box = sp.vstack([sp.hstack([sp.eye(n), sp.csc_matrix((n, k))]), sp.hstack([-sp.eye(n), sp.csc_matrix((n, k))])])
    a = sp.vstack([a_eq, a_box], format="csc")
    b = np.r_[np.zeros(k), 1.0, np.full(n, up), np.full(n, -lo)]
    cones = [clarabel.ZeroConeT(k + 1), clarabel.NonnegativeConeT(2 * n)]
    st_ = clarabel.DefaultSettings()
    st_.verbose = False
    st_.tol_gap_abs = st_.tol_gap_rel = st_.tol_feas = 1e-11
    sol = clarabel.DefaultSolver(sp.triu(p, format="csc"), q, a, b, cones, st_).solve()
    return np.clip(np.array(sol.x[:n]), lo, up)


def factor_objective(x, f, d, mu, ra, w):
    y = x.T @ w
    return 0.5 * ra * (y @ f @ y + d @ (w * w)) - mu @ w


@pytest.mark.parametrize("method", ["active_set", "projected_gradient"])
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.sampled_from([2000, 10000]), k=st.sampled_from([1, 20, 100]),
       kind=st.sampled_from(["long_only", "capped", "long_short"]))
def test_large_factor_against_clarabel(method, seed, n, k, kind):
    rng = np.random.default_rng(seed)
    x, f, d = random_model(rng, n, k, zero_specific=3, duplicates=2)
    mu = rng.normal(0.06, 0.04, n)
    lo, up = {"long_only": (0.0, 1.0), "capped": (0.0, 0.05), "long_short": (-0.01, 0.02)}[kind]
    res = ma.solve_mean_variance(ma.FactorCovariance(x, f, d), mu, risk_aversion=5.0, lower=lo, upper=up,
                                 method=method)
    assert res.status == "OPTIMAL", res
    w = np.asarray(res.weights)
    assert abs(w.sum() - 1.0) <= 1e-10 and w.min() >= lo - 1e-12 and w.max() <= up + 1e-12
    ref = clarabel_wy(x, f, d, mu, 5.0, lo, up)
    ref = ref + (1.0 - ref.sum()) / n  # onto the budget (clarabel's point is feasible to ~1e-11)
    f_ma, f_ref = factor_objective(x, f, d, mu, 5.0, w), factor_objective(x, f, d, mu, 5.0, ref)
    scale = abs(f_ref) + abs(mu @ ref)
    assert f_ma <= f_ref + 1e-9 * scale


# --------------------------------------------------------------------------------------------------
# every public function that takes a covariance: the model and its dense form give the same answer
# --------------------------------------------------------------------------------------------------

def _calls(mu, b, n):
    cap = max(0.1, 1.5 / n)
    return {
        "solve_batch": lambda c: ma.solve_mean_variance_batch(c, np.vstack([mu, 0.5 * mu]), upper=cap).weights,
        "warm_start": lambda c: ma.solve_mean_variance(c, mu, upper=cap, warm_start=np.full(n, 1 / n)).weights,
        "frontier": lambda c: ma.efficient_frontier(c, mu, upper=cap).weights,
        "max_sharpe": lambda c: ma.max_sharpe(c, mu, upper=cap).weights,
        "min_risk": lambda c: ma.min_risk(c, mu, target_return=float(np.median(mu)), upper=cap).weights,
        "max_return": lambda c: ma.max_return(c, mu, target_volatility=0.2, upper=cap).weights,
        "active_portfolio": lambda c: ma.active_portfolio(c, mu - mu.mean(), b, max_tracking_error=0.02, upper=cap).weights,
        "risk_contributions": lambda c: ma.risk_contributions(c, np.vstack([b, np.full(n, 1 / n)]), benchmark=b).active_component,
        "risk_budgeting": lambda c: ma.risk_budgeting(c).weights,
        "check_bands": lambda c: ma.check_bands(np.vstack([b, np.full(n, 1 / n)]), np.full(n, 1 / n), absolute=0.5,
                                                cov=c, trigger="tracking_error", threshold=0.01).tracking_error,
    }


@pytest.mark.parametrize("function", list(_calls(np.zeros(2), np.zeros(2), 2)))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 30), k=st.integers(1, 5))
def test_every_function_takes_a_factor_model(function, seed, n, k):
    rng = np.random.default_rng(seed)
    x, f, d = random_model(rng, n, k)
    mu = rng.normal(0.06, 0.04, n)
    b = rng.dirichlet(np.ones(n))
    call = _calls(mu, b, n)[function]
    try:
        dense = np.asarray(call(formed(x, f, d)), dtype=float)
    except ma.MicroallocError as e:  # e.g. an infeasible target: the model must refuse it the same way
        with pytest.raises(type(e)):
            call(ma.FactorCovariance(x, f, d))
        return
    model = np.asarray(call(ma.FactorCovariance(x, f, d)), dtype=float)
    assert model.shape == dense.shape
    np.testing.assert_allclose(model, dense, rtol=0, atol=1e-9)
