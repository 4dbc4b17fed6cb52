"""The whole efficient frontier: microalloc's critical line algorithm (C++) against
PyPortfolioOpt's CLA (pure Python) and against a grid of 100 separate solves with the fastest peer
QP solvers (a new problem per point, as Riskfolio-Lib, skfolio and PyPortfolioOpt's
`efficient_frontier` do). Long-only, cap 5%, factor-model covariance (see bench/README.md).

The grid gives 100 points; the CLA gives every turning point, and through them every point of the
frontier exactly. Both are checked here: the grid's objectives are never below the frontier's at
the same risk aversion (beyond the grid solver's tolerance).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import microalloc as ma

FULL = os.environ.get("MICROALLOC_BENCH_FULL", "") == "1"
SIZES = [100, 500, 2000] if FULL else [100]
CAP = 0.05
GRID = 100
PYPFOPT_MAX_N = 500  # its CLA inverts a k x k matrix per candidate per turning point: hours at n = 2000


def _grid_taus(cov, mu):
    fr = ma.efficient_frontier(cov, mu, upper=CAP)
    return fr, np.linspace(0.0, fr._tau[-1] * 1.05, GRID)


def _piqp_grid(cov, mu, taus, piqp):
    n = len(mu)
    out = []
    for t in taus:
        s = piqp.DenseSolver()
        st = s.settings
        st.verbose = False
        st.eps_abs = st.eps_rel = st.eps_duality_gap_abs = st.eps_duality_gap_rel = 1e-10
        s.setup(cov, -t * mu, np.ones((1, n)), np.array([1.0]), None, None, None, np.zeros(n), np.full(n, CAP))
        s.solve()
        out.append(s.result.x.copy())
    return np.array(out)


def _daqp_grid(cov, mu, taus, daqp):
    n = len(mu)
    sense = np.zeros(n + 1, dtype=np.int32)
    sense[-1] = 5
    out = []
    for t in taus:
        x, _, _, _ = daqp.solve(cov, -t * mu, np.ones((1, n)), np.r_[np.full(n, CAP), 1.0], np.r_[np.zeros(n), 1.0],
                                sense, primal_tol=1e-10)
        out.append(np.asarray(x).copy())
    return np.array(out)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("solver", ["microalloc", "pypfopt_cla", "piqp_grid100", "daqp_grid100"])
def test_frontier(benchmark, size, solver, make_data_fn):
    cov, mu = make_data_fn(size, "factor")
    cov, mu = np.array(cov), np.array(mu)
    benchmark.group = f"frontier n={size}"
    benchmark.extra_info.update(solver=solver, n=size, kind="frontier")
    fr, taus = _grid_taus(cov, mu)
    if solver == "microalloc":
        fn = lambda: ma.efficient_frontier(cov, mu, upper=CAP)  # noqa: E731
    elif solver == "pypfopt_cla":
        if size > PYPFOPT_MAX_N:
            pytest.skip(f"PyPortfolioOpt's CLA not run above n={PYPFOPT_MAX_N}")
        pypfopt = pytest.importorskip("pypfopt")

        def fn():
            cla = pypfopt.CLA(mu, cov, weight_bounds=(0, CAP))
            cla._solve()
            return cla
    elif solver == "piqp_grid100":
        piqp = pytest.importorskip("piqp")
        fn = lambda: _piqp_grid(cov, mu, taus, piqp)  # noqa: E731
    else:
        daqp = pytest.importorskip("daqp")
        fn = lambda: _daqp_grid(cov, mu, taus, daqp)  # noqa: E731
    rounds = 1 if (FULL and solver != "microalloc" and size >= 500) else 3
    out = benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)
    benchmark.extra_info["turning_points"] = len(fr)
    if solver == "microalloc":
        assert out.status == ma.Status.OPTIMAL
    elif solver == "pypfopt_cla":
        theirs = np.array([np.ravel(w) for w in out.w])
        dist = np.abs(theirs[:, None, :] - fr.weights[None, :, :]).max(axis=2)
        benchmark.extra_info["max_distance_to_our_turning_points"] = float(dist.min(axis=1).max())
    else:
        # the grid never beats the exact frontier at the same tau (objective 1/2 w'Sw - tau mu'w)
        f_grid = 0.5 * np.einsum("ij,jk,ik->i", out, cov, out) - taus * (out @ mu)
        ours = np.array([np.asarray(fr._at_tau(t)) for t in taus])
        f_ours = 0.5 * np.einsum("ij,jk,ik->i", ours, cov, ours) - taus * (ours @ mu)
        scale = np.maximum(np.abs(f_ours), 1e-12)
        benchmark.extra_info["max_rel_objective_gap_grid_minus_ours"] = float(((f_grid - f_ours) / scale).max())
        assert ((f_grid - f_ours) / scale).min() > -1e-6
