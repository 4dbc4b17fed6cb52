"""Trading costs and a turnover limit: long-only mean-variance (risk aversion 5, cap 5%) with the 11
sector caps of test_bench_constraints.py, around current weights w0, with proportional costs (buy
rates 5-20 bp, sell rates 1.5 x buy) charged in the objective and a turnover limit
sum |w - w0| <= 0.3 that binds:

    minimise 0.5 ra w'Sw - mu'w + sum buy_i (w_i - w0_i)^+ + sell_i (w0_i - w_i)^+
    s.t.     sum w = 1,  0 <= w <= 0.05,  A_sector w <= caps,  sum |w - w0| <= 0.3.

microalloc (``Constraints(current_weights=w0, costs=(buy, sell), turnover=0.3)``) against PIQP,
DAQP and cvxpy with Clarabel. The peers get the split form: (w, u, v) with u the amounts bought, v
the amounts sold, w - u + v = w0, u, v >= 0, the costs linear in u and v and the turnover limit the
row sum(u + v) <= 0.3 (cvxpy gets the natural model: cp.pos / cp.neg of w - w0).

Sizes: n = 200 (short mode, CI); ``MICROALLOC_BENCH_FULL=1`` runs n = 500 and 2,000 with the dense
covariance of test_bench_constraints.instance() and n = 10,000 with the same draws kept as a factor
model S = X diag(f) X' + diag(d) (never formed: microalloc gets ``FactorCovariance(X, diag(f), d)``,
built in the timed call; PIQP's sparse solver and cvxpy get the (w, y = X'w) form; DAQP, a dense
solver, is not run there).

w0 is a drifted previous optimum: the same sector problem (no costs, no turnover limit) solved for
mu + N(0, 0.03) noise, each weight multiplied by exp(N(0, 0.1)), renormalised to sum 1 (seeded per
n); it breaks a few caps, which the trade must repair. The turnover limit is checked to bind at
every n (the optimum without it trades more than the limit; the limit would be lowered, and
recorded, where it did not: it binds at every size here).

Every answer is checked against a reference: Clarabel at 1e-11 on the split form (the factor form at
n = 10,000), to a relative objective gap (objective with the costs, on the scale
0.5 ra w'Sw + |mu'w| of the reference) of 1e-9 and a constraint violation (budget, box, sectors,
turnover) of 1e-9. A peer that misses either is recorded in ``extra_info`` (``meets_target``) and
its test fails, as in test_bench_constraints.py.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import microalloc as ma


def _sibling(module: str, filename: str):
    """A module of bench/ loaded by path (the suite runs under --import-mode=importlib), once."""
    mod = sys.modules.get(module)
    if mod is None:
        spec = importlib.util.spec_from_file_location(module, Path(__file__).with_name(filename))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[module] = mod
        spec.loader.exec_module(mod)
    return mod


cons = _sibling("_bench_constraints", "test_bench_constraints.py")  # instance(n): S, mu, sectors, caps

FULL = os.environ.get("MICROALLOC_BENCH_FULL", "") == "1"
SIZES = (500, 2_000, 10_000) if FULL else (200,)
FACTOR_MIN_N = 10_000  # from this n on, the covariance is kept as its factors
N_SECTORS = cons.N_SECTORS
CAP = cons.CAP
RA = cons.RA
TURNOVER = 0.3
TOL = 1e-9  # target: relative objective gap and constraint violation
REF_TOL = 1e-11  # Clarabel's tolerances for the reference
PEER_TOL = 1e-10  # the peers' tolerances, as in test_bench_constraints.py
#: DAQP on the dense split form (3n variables) is not run from this n on: see DAQP_SKIP
DAQP_MAX_N = 500
DAQP_SKIP = ("DAQP on the dense split form at n = 2,000 (6,000 variables) is not run: one call was stopped "
             "unfinished after 585 s (3.2 s at n = 500, 1,607 iterations), over the 60 s limit of this benchmark")

#: rounds: one untimed warm-up call, then TIME_BUDGET_S / t rounds, at least MIN_ROUNDS
#: (MIN_ROUNDS_SLOW above 0.4 s, 1 above SLOW_S), at most MAX_ROUNDS (as bench/test_bench_factor.py)
TIME_BUDGET_S = 1.5
MIN_ROUNDS = 7
MIN_ROUNDS_SLOW = 3
SLOW_S = 10.0
MAX_ROUNDS = 500


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


@dataclass
class Data:
    n: int
    s: np.ndarray | None  # dense covariance (None in the factor form)
    x: np.ndarray | None  # factor form: loadings (n x k), factor variances f, specific variances d
    f: np.ndarray | None
    d: np.ndarray | None
    mu: np.ndarray
    sector: np.ndarray
    a: np.ndarray
    caps: np.ndarray
    w0: np.ndarray = None
    buy: np.ndarray = None
    sell: np.ndarray = None
    turnover: float = TURNOVER
    info: dict = field(default_factory=dict)

    @property
    def factor(self) -> bool:
        return self.s is None

    def quad(self, w: np.ndarray) -> float:
        if self.factor:
            y = self.x.T @ w
            return float(y @ (self.f * y) + self.d @ (w * w))
        return float(w @ self.s @ w)

    def costs(self, w: np.ndarray) -> float:
        t = w - self.w0
        return float(self.buy @ np.maximum(t, 0.0) + self.sell @ np.maximum(-t, 0.0))

    def objective(self, w: np.ndarray) -> float:
        return 0.5 * RA * self.quad(w) - float(self.mu @ w) + self.costs(w)

    def scale(self, w: np.ndarray) -> float:
        return 0.5 * RA * self.quad(w) + abs(float(self.mu @ w))

    def violation(self, w) -> float:
        if w is None:
            return float("inf")
        w = np.asarray(w, dtype=float)
        if w.shape != (self.n,) or not np.all(np.isfinite(w)):
            return float("inf")
        return float(max(abs(w.sum() - 1.0), np.max(-w, initial=0.0), np.max(w - CAP, initial=0.0),
                         np.max(self.a @ w - self.caps, initial=0.0),
                         np.abs(w - self.w0).sum() - self.turnover))


def reference(data: Data, mu=None, trading: bool = True, turnover: float | None = None, tol: float = REF_TOL):
    """Clarabel on the split form through scipy.sparse: z = (w, [y = X'w in the factor form], [u, v]
    when trading), the costs linear in u and v, w - u + v = w0, the turnover limit sum(u + v) <= T
    (no limit when turnover is None). Returns (w, the solution object)."""
    import clarabel
    import scipy.sparse as sp

    n = data.n
    mu = data.mu if mu is None else mu
    k = data.x.shape[1] if data.factor else 0
    nt = 2 * n if trading else 0
    nz = n + k + nt
    if data.factor:
        p = sp.block_diag([sp.diags(RA * data.d), sp.diags(RA * data.f), sp.csc_matrix((nt, nt))], format="csc")
    else:
        p = sp.block_diag([sp.triu(sp.csc_matrix(RA * data.s)), sp.csc_matrix((nt, nt))], format="csc")
    q = np.r_[-mu, np.zeros(k), data.buy if trading else [], data.sell if trading else []]
    eye = sp.identity(n, format="csc")

    def cols(w=None, y=None, u=None, v=None, rows=n):  # one block row of z's columns
        blocks = [w if w is not None else sp.csc_matrix((rows, n))]
        if k:
            blocks.append(y if y is not None else sp.csc_matrix((rows, k)))
        if trading:
            blocks += [u if u is not None else sp.csc_matrix((rows, n)), v if v is not None else sp.csc_matrix((rows, n))]
        return sp.hstack(blocks, format="csc")

    eq = [cols(w=sp.csc_matrix(np.ones((1, n))), rows=1)]
    b_eq = [1.0]
    if k:
        eq.append(cols(w=sp.csc_matrix(data.x.T), y=-sp.identity(k), rows=k))
        b_eq += [0.0] * k
    if trading:
        eq.append(cols(w=eye, u=-eye, v=eye))
        b_eq = np.r_[b_eq, data.w0]
    ineq = [cols(w=eye), cols(w=-eye), cols(w=sp.csc_matrix(data.a), rows=N_SECTORS)]
    h = [np.full(n, CAP), np.zeros(n), data.caps]
    if trading:
        ineq += [cols(u=-eye), cols(v=-eye)]
        h += [np.zeros(n), np.zeros(n)]
        if turnover is not None:
            ineq.append(cols(u=sp.csc_matrix(np.ones((1, n))), v=sp.csc_matrix(np.ones((1, n))), rows=1))
            h.append([turnover])
    a_eq, a_in = sp.vstack(eq, format="csc"), sp.vstack(ineq, format="csc")
    amat = sp.vstack([a_eq, a_in], format="csc")
    b = np.r_[np.asarray(b_eq, dtype=float), np.concatenate([np.asarray(v, dtype=float) for v in h])]
    cones = [clarabel.ZeroConeT(a_eq.shape[0]), clarabel.NonnegativeConeT(a_in.shape[0])]
    st = clarabel.DefaultSettings()
    st.verbose = False
    st.tol_gap_abs = st.tol_gap_rel = st.tol_feas = tol
    sol = clarabel.DefaultSolver(p, q, amat, b, cones, st).solve()
    assert str(sol.status) == "Solved", sol.status
    assert len(sol.x) == nz
    return np.array(sol.x[:n]), sol


_DATA: dict[int, Data] = {}


def make_data(n: int) -> Data:
    """The instance at n with w0, cost rates and the turnover limit; the references (with and
    without the turnover limit) in data.info. Deterministic, built once per n."""
    if n in _DATA:
        return _DATA[n]
    if n >= FACTOR_MIN_N:
        x, f, d, mu, sector, a, caps = cons.instance_factors(n)
        data = Data(n, None, x, f, d, mu, sector, a, caps)
    else:
        s, mu, sector, a, caps = cons.instance(n)
        data = Data(n, s, None, None, None, mu, sector, a, caps)
    rng = np.random.default_rng([20261203, n, 16])
    data.buy = rng.uniform(5e-4, 2e-3, n)
    data.sell = 1.5 * data.buy
    mu0 = mu + rng.normal(0.0, 0.03, n)
    drift = np.exp(rng.normal(0.0, 0.1, n))
    w_prev, _ = reference(data, mu=mu0, trading=False)
    w_prev[w_prev < 1e-9] = 0.0  # the interior-point dust is not a holding
    w0 = w_prev * drift
    data.w0 = w0 / w0.sum()
    # the turnover limit binds when the optimum without it trades more
    w_free, _ = reference(data, turnover=None)
    t_free = float(np.abs(w_free - data.w0).sum())
    data.turnover = TURNOVER if t_free > TURNOVER + 1e-3 else float(np.floor(50.0 * t_free) / 100.0)
    w_ref, sol = reference(data, turnover=data.turnover)
    z = np.asarray(sol.z)
    data.info = dict(
        ref_w=w_ref, ref_objective=data.objective(w_ref), ref_scale=data.scale(w_ref),
        ref_dual_gap=(float(sol.obj_val) - float(sol.obj_val_dual)) / data.scale(w_ref),  # Clarabel's own gap
        ref_turnover=float(np.abs(w_ref - data.w0).sum()), ref_turnover_multiplier=float(z[-1]),
        unconstrained_turnover=t_free, turnover_limit=data.turnover, turnover_lowered=data.turnover != TURNOVER,
        w0_assets_held=int(np.count_nonzero(data.w0)), w0_above_cap=int(np.sum(data.w0 > CAP)),
        w0_sector_violation=float(np.max(data.a @ data.w0 - data.caps, initial=0.0)),
        binding_sectors=int(np.sum(data.a @ w_ref >= data.caps - 1e-9)),
        assets_traded=int(np.sum(np.abs(w_ref - data.w0) > 1e-9)),
        ref_objective_without_costs=0.5 * RA * data.quad(w_ref) - float(data.mu @ w_ref),
    )
    _DATA[n] = data
    return data


# ---------------------------------------------------------------------------------------------
# solvers: each takes the Data (numpy arrays) and returns an Answer; the whole call is timed
# ---------------------------------------------------------------------------------------------


@dataclass
class Answer:
    w: Any
    status: str
    iterations: Any = None
    detail: dict = field(default_factory=dict)


def solve_microalloc(data: Data) -> Answer:
    cov = ma.FactorCovariance(data.x, np.diag(data.f), data.d) if data.factor else data.s
    c = ma.Constraints(upper=CAP, groups=data.sector,
                       group_upper={int(g): float(data.caps[g]) for g in range(N_SECTORS)},
                       current_weights=data.w0, costs=(data.buy, data.sell), turnover=data.turnover)
    r = ma.solve_mean_variance(cov, data.mu, risk_aversion=RA, constraints=c)
    assert r.is_optimal, r
    return Answer(np.asarray(r.weights), r.status.name, r.iterations,
                  {"reported_turnover": r.turnover, "reported_costs_paid": r.costs_paid,
                   "certified_rel_gap": r.rel_gap})


def _split_eq(data: Data, k: int = 0):
    """(w, [y], u, v) rows of w - u + v = w0 (dense, for the dense solvers)."""
    n = data.n
    eye = np.eye(n)
    return np.hstack([eye, np.zeros((n, k)), -eye, eye])


def solve_piqp(data: Data) -> Answer:
    import piqp

    n = data.n
    inf = np.full(n, np.inf)
    if data.factor:  # z = (w, y, u, v); P = blockdiag(ra D, ra F, 0, 0); X'w - y = 0
        import scipy.sparse as sp

        k = data.x.shape[1]
        eye, zn, znk = sp.identity(n, format="csc"), sp.csc_matrix((n, n)), sp.csc_matrix((n, k))
        ones = sp.csc_matrix(np.ones((1, n)))
        p = sp.block_diag([sp.diags(RA * data.d), sp.diags(RA * data.f), zn, zn], format="csc")
        c = np.r_[-data.mu, np.zeros(k), data.buy, data.sell]
        a = sp.bmat([[sp.csc_matrix(data.x.T), -sp.identity(k), None, None],
                     [ones, None, None, None],
                     [eye, znk, -eye, eye]], format="csc")
        b = np.r_[np.zeros(k), 1.0, data.w0]
        g = sp.bmat([[sp.csc_matrix(data.a), sp.csc_matrix((N_SECTORS, k)), sp.csc_matrix((N_SECTORS, n)), None],
                     [None, sp.csc_matrix((1, k)), ones, ones]], format="csc")
        solver = piqp.SparseSolver()
        x_l = np.r_[np.zeros(n), np.full(k, -np.inf), np.zeros(2 * n)]
        x_u = np.r_[np.full(n, CAP), np.full(k, np.inf), inf, inf]
    else:  # z = (w, u, v); P = blockdiag(ra S, 0, 0)
        p = np.zeros((3 * n, 3 * n))
        p[:n, :n] = RA * data.s
        c = np.r_[-data.mu, data.buy, data.sell]
        a = np.vstack([np.r_[np.ones(n), np.zeros(2 * n)][None, :], _split_eq(data)])
        b = np.r_[1.0, data.w0]
        g = np.vstack([np.hstack([data.a, np.zeros((N_SECTORS, 2 * n))]),
                       np.r_[np.zeros(n), np.ones(2 * n)][None, :]])
        solver = piqp.DenseSolver()
        x_l = np.zeros(3 * n)
        x_u = np.r_[np.full(n, CAP), inf, inf]
    st = solver.settings
    st.verbose = False
    st.eps_abs = st.eps_rel = st.eps_duality_gap_abs = st.eps_duality_gap_rel = PEER_TOL
    solver.setup(p, c, a, b, g, np.full(N_SECTORS + 1, -np.inf), np.r_[data.caps, data.turnover], x_l, x_u)
    status = solver.solve()
    return Answer(solver.result.x[:n].copy(), str(status).rpartition(".")[2], solver.result.info.iter)


def solve_daqp(data: Data) -> Answer:
    import daqp

    n = data.n
    h = np.zeros((3 * n, 3 * n))
    h[:n, :n] = RA * data.s
    f = np.r_[-data.mu, data.buy, data.sell]
    # bounds on the 3n variables first, then the sector rows, the turnover row, the budget and
    # w - u + v = w0 (equalities); H is singular in (u, v): DAQP's proximal iterations (eps_prox < 0, its default)
    amat = np.vstack([np.hstack([data.a, np.zeros((N_SECTORS, 2 * n))]),
                      np.r_[np.zeros(n), np.ones(2 * n)][None, :],
                      np.r_[np.ones(n), np.zeros(2 * n)][None, :],
                      _split_eq(data)])
    upper = np.r_[np.full(n, CAP), np.full(2 * n, 1e30), data.caps, data.turnover, 1.0, data.w0]
    lower = np.r_[np.zeros(3 * n), np.full(N_SECTORS + 1, -1e30), 1.0, data.w0]
    sense = np.zeros(3 * n + N_SECTORS + 2 + n, dtype=np.int32)
    sense[-(n + 1):] = 5
    x, _, flag, info = daqp.solve(h, f, amat, upper, lower, sense, primal_tol=PEER_TOL, dual_tol=PEER_TOL)
    return Answer(np.asarray(x)[:n], f"exitflag {flag}", info.get("iterations"),
                  {"daqp_outer_iterations": info.get("nodes")})


def solve_cvxpy(data: Data) -> Answer:
    import cvxpy as cp

    n = data.n
    w = cp.Variable(n)
    trade = w - data.w0
    bought, sold = cp.pos(trade), cp.neg(trade)
    if data.factor:
        y = cp.Variable(data.x.shape[1])
        risk = cp.quad_form(y, cp.psd_wrap(np.diag(data.f))) + cp.sum_squares(cp.multiply(np.sqrt(data.d), w))
        extra = [data.x.T @ w == y]
    else:
        risk = cp.quad_form(w, cp.psd_wrap(data.s))
        extra = []
    objective = 0.5 * RA * risk - data.mu @ w + data.buy @ bought + data.sell @ sold
    prob = cp.Problem(cp.Minimize(objective),
                      [cp.sum(w) == 1, w >= 0, w <= CAP, data.a @ w <= data.caps,
                       cp.sum(bought) + cp.sum(sold) <= data.turnover] + extra)
    prob.solve(solver="CLARABEL", tol_gap_abs=PEER_TOL, tol_gap_rel=PEER_TOL, tol_feas=PEER_TOL)
    return Answer(None if w.value is None else np.asarray(w.value), prob.status, prob.solver_stats.num_iters)


TOL_NOTE = f"eps/tol = {PEER_TOL:g}"
# name -> (module to import or None, solver, note)
SOLVERS = {
    "microalloc": (None, solve_microalloc, "Constraints(current_weights, costs, turnover), tol=1e-9 (default)"),
    "piqp": ("piqp", solve_piqp, f"DenseSolver (SparseSolver on the factor form), eps_abs/rel/duality_gap = {PEER_TOL:g}"),
    "daqp": ("daqp", solve_daqp, f"dense, primal_tol = dual_tol = {PEER_TOL:g}, eps_prox automatic"),
    "cvxpy → Clarabel": ("cvxpy", solve_cvxpy, f"cp.pos/cp.neg of w - w0, tol_gap_abs/rel = tol_feas = {PEER_TOL:g}"),
}


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------


def _run(benchmark, fn):
    """Run fn under the benchmark: an untimed warm-up call sizes the number of rounds."""
    if benchmark.disabled:  # --benchmark-disable (CI): the body runs once, as a plain test
        return benchmark.pedantic(fn)
    t0 = time.perf_counter()
    fn()
    t = max(time.perf_counter() - t0, 1e-7)
    rounds = 1 if t > SLOW_S else int(min(MAX_ROUNDS, max(MIN_ROUNDS_SLOW if t > 0.4 else MIN_ROUNDS, TIME_BUDGET_S / t)))
    benchmark.extra_info["rounds_planned"] = rounds
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


@pytest.mark.parametrize("size", SIZES, ids=lambda v: f"n={v}")
@pytest.mark.parametrize("solver", list(SOLVERS))
def test_trading(benchmark, size, solver):
    module, fn, note = SOLVERS[solver]
    if module:
        pytest.importorskip(module)
    if solver == "daqp" and (size >= FACTOR_MIN_N or size > DAQP_MAX_N):
        pytest.skip("DAQP is a dense solver: not run on the factor form" if size >= FACTOR_MIN_N else DAQP_SKIP)
    data = make_data(size)
    benchmark.group = (f"n={size} mean-variance, cap 5%, 11 sector caps, turnover {data.turnover:g}, costs"
                       + (" (factor model)" if data.factor else ""))
    info = benchmark.extra_info
    info.update(kind="trading", solver=solver, n=size, form="factor" if data.factor else "dense", tolerances=note)
    ans = _run(benchmark, lambda: fn(data))
    ref = data.info
    acc_ok = ans.w is not None and np.all(np.isfinite(ans.w))
    w = np.asarray(ans.w, dtype=float) if acc_ok else None
    viol = data.violation(w)
    gap = (data.objective(w) - ref["ref_objective"]) / ref["ref_scale"] if acc_ok else float("nan")
    info.update(status=ans.status, iterations=_plain(ans.iterations), rel_obj_gap=gap, violation=viol,
                meets_target=bool(gap <= TOL and viol <= TOL),
                turnover=float(np.abs(w - data.w0).sum()) if acc_ok else None,
                costs_paid=data.costs(w) if acc_ok else None,
                **{k: _plain(v) for k, v in ans.detail.items()},
                **{k: v for k, v in ref.items() if k != "ref_w"})
    info["turnover_binding"] = bool(ref["ref_turnover"] >= data.turnover - 1e-9 and ref["ref_turnover_multiplier"] > 1e-9)
    assert info["turnover_binding"], ref
    assert abs(ref["ref_dual_gap"]) <= 1e-10, ref  # the reference's own duality gap, well below the target
    assert viol <= TOL, f"{solver}: constraint violation {viol:.2e} > {TOL:g} (rel. objective gap {gap:.2e})"
    assert gap <= TOL, f"{solver}: relative objective gap {gap:.2e} > {TOL:g} (violation {viol:.2e})"
