"""Sector limits: long-only mean-variance (risk aversion 5, cap 5%) with 11 sector caps, microalloc
(``Constraints``) against PIQP and DAQP given the same dense problem (the sector rows as general
inequalities) and cvxpy with Clarabel. n = 200 in short mode (CI); ``MICROALLOC_BENCH_FULL=1`` adds
500 and 2,000. Every answer is checked against a reference: Clarabel at 1e-11 on the same problem,
to a relative objective gap of 1e-9 and a constraint violation of 1e-9.

Turnover limits and transaction costs (issue 16) are not in microalloc yet: this is the baseline of
the sector rows alone.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import microalloc as ma

FULL = os.environ.get("MICROALLOC_BENCH_FULL", "") == "1"
SIZES = (200, 500, 2000) if FULL else (200,)
N_SECTORS = 11
CAP = 0.05
RA = 5.0
TOL = 1e-9


def instance_factors(n: int):
    """A 10-factor model x diag(f) x' + diag(d) with specific risk, expected returns, 11 sectors
    whose caps are 0.7-1.6 times their share of the assets, summing to at least 1.2 (a few bind):
    (x, f, d, mu, sector, a, caps). test_bench_trading keeps the factors at n = 10,000."""
    rng = np.random.default_rng([20261203, n])
    x = rng.normal(0.0, 0.2, (n, 10))
    x[:, 0] = rng.normal(1.0, 0.2, n)
    f = rng.uniform(0.01, 0.04, 10)
    d = rng.uniform(0.02, 0.09, n)
    mu = rng.normal(0.06, 0.04, n)
    sector = rng.integers(0, N_SECTORS, n)
    a = np.zeros((N_SECTORS, n))
    a[sector, np.arange(n)] = 1.0
    share = a.sum(axis=1) / n
    caps = np.maximum(share * rng.uniform(0.7, 1.6, N_SECTORS), CAP)
    caps *= max(1.0, 1.2 / caps.sum())  # room for the budget: the caps sum to at least 1.2
    return x, f, d, mu, sector, a, caps


def instance(n: int):
    """The instance with its covariance formed (dense): (S, mu, sector, a, caps)."""
    x, f, d, mu, sector, a, caps = instance_factors(n)
    s = x @ np.diag(f) @ x.T + np.diag(d)
    return 0.5 * (s + s.T), mu, sector, a, caps


def objective(s, mu, w):
    return 0.5 * RA * w @ s @ w - mu @ w


def violation(a, caps, w):
    return float(max(abs(w.sum() - 1.0), np.max(-w, initial=0.0), np.max(w - CAP, initial=0.0),
                     np.max(a @ w - caps, initial=0.0)))


def reference(s, mu, a, caps):
    import clarabel
    import scipy.sparse as sp

    n = s.shape[0]
    g = sp.vstack([sp.eye(n), -sp.eye(n), sp.csc_matrix(a)], format="csc")
    h = np.r_[np.full(n, CAP), np.zeros(n), caps]
    amat = sp.vstack([sp.csc_matrix(np.ones((1, n))), g], format="csc")
    cones = [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(g.shape[0])]
    st = clarabel.DefaultSettings()
    st.verbose = False
    st.tol_gap_abs = st.tol_gap_rel = st.tol_feas = 1e-11
    sol = clarabel.DefaultSolver(sp.triu(sp.csc_matrix(RA * s), format="csc"), -mu, amat, np.r_[1.0, h], cones,
                                 st).solve()
    return np.array(sol.x)


def solve_microalloc(s, mu, sector, a, caps):
    c = ma.Constraints(upper=CAP, groups=sector, group_upper={int(g): float(caps[g]) for g in range(N_SECTORS)})
    r = ma.solve_mean_variance(s, mu, risk_aversion=RA, constraints=c)
    assert r.is_optimal, r
    return np.asarray(r.weights)


def solve_piqp(s, mu, sector, a, caps):
    import piqp

    n = s.shape[0]
    solver = piqp.DenseSolver()
    st = solver.settings
    st.verbose = False
    st.eps_abs = st.eps_rel = st.eps_duality_gap_abs = st.eps_duality_gap_rel = 1e-10
    solver.setup(RA * s, -mu, np.ones((1, n)), np.array([1.0]), a, np.full(N_SECTORS, -np.inf), caps,
                 np.zeros(n), np.full(n, CAP))
    solver.solve()
    return solver.result.x.copy()


def solve_daqp(s, mu, sector, a, caps):
    import daqp

    n = s.shape[0]
    # rows: the n simple bounds, then the sectors, then the budget (equality)
    amat = np.vstack([a, np.ones((1, n))])
    upper = np.r_[np.full(n, CAP), caps, 1.0]
    lower = np.r_[np.zeros(n), np.full(N_SECTORS, -1e30), 1.0]
    sense = np.zeros(n + N_SECTORS + 1, dtype=np.int32)
    sense[-1] = 5
    x, _, flag, _ = daqp.solve(RA * s, -mu, amat, upper, lower, sense, primal_tol=1e-10, dual_tol=1e-10)
    return np.asarray(x)


def solve_cvxpy(s, mu, sector, a, caps):
    import cvxpy as cp

    n = s.shape[0]
    w = cp.Variable(n)
    prob = cp.Problem(cp.Minimize(0.5 * RA * cp.quad_form(w, cp.psd_wrap(s)) - mu @ w),
                      [cp.sum(w) == 1, w >= 0, w <= CAP, a @ w <= caps])
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return np.asarray(w.value)


SOLVERS = {"microalloc": (None, solve_microalloc), "piqp": ("piqp", solve_piqp), "daqp": ("daqp", solve_daqp),
           "cvxpy → Clarabel": ("cvxpy", solve_cvxpy)}
_REFS: dict[int, np.ndarray] = {}


@pytest.mark.parametrize("size", SIZES, ids=lambda v: f"n={v}")
@pytest.mark.parametrize("solver", list(SOLVERS))
def test_sector_caps(benchmark, size, solver):
    module, fn = SOLVERS[solver]
    if module:
        pytest.importorskip(module)
    s, mu, sector, a, caps = instance(size)
    if size not in _REFS:
        _REFS[size] = reference(s, mu, a, caps)
    ref = _REFS[size]
    benchmark.group = f"n={size} mean-variance, cap 5%, 11 sector caps"
    w = benchmark(lambda: fn(s, mu, sector, a, caps))
    f_ref, f = objective(s, mu, ref), objective(s, mu, w)
    scale = 0.5 * RA * ref @ s @ ref + abs(mu @ ref)
    gap = (f - f_ref) / scale
    benchmark.extra_info.update(kind="sector_caps", solver=solver, n=size, rel_obj_gap=gap,
                                violation=violation(a, caps, w), binding_sectors=int(np.sum(a @ ref >= caps - 1e-9)))
    assert violation(a, caps, w) <= 1e-9
    assert gap <= TOL
