"""microalloc's solvers side by side with QP solvers on the same instances.

Every solver gets (S, mu, risk_aversion, lower, upper) as numpy arrays/scalars and the timed call
includes everything a user pays per solve: building the solver's own problem form (scaling S,
sparse conversion, constraint matrices), setup and solve. For microalloc the timed call is the
full Python call, input validation included, with check_psd=True and check_psd=False.

Accuracy of each answer (raw, not projected) against a high-accuracy reference objective is
stored in ``benchmark.extra_info`` and asserted, so ``pytest bench --benchmark-disable`` doubles as
a regression test. See bench/README.md.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest

from microalloc import Status, solve_mean_variance

# conftest.py is not importable under the project's --import-mode=importlib: the problem, its
# reference and the accuracy measure reach this module through fixtures.

#: time budget per benchmark (seconds): each benchmark runs BUDGET / t rounds, at least MIN_ROUNDS
#: (MIN_ROUNDS_SLOW for calls slower than SLOW_S, e.g. quadprog / cvxpy at n = 1000), at most MAX_ROUNDS
TIME_BUDGET_S = 1.5
MIN_ROUNDS = 7
MIN_ROUNDS_SLOW = 3
SLOW_S = 0.4
MAX_ROUNDS = 2000


@dataclass
class Answer:
    x: Any
    status: str
    iterations: Any = None
    detail: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# adapters: each takes the Problem (numpy data) and returns an Answer; the whole call is timed
# ---------------------------------------------------------------------------------------------


_VALIDATED: dict[int, Any] = {}  # id(cov array) -> microalloc.Covariance, built once (untimed)


def _validated(cov):
    import microalloc

    c = _VALIDATED.get(id(cov))
    if c is None or c.n != cov.shape[0]:
        c = _VALIDATED[id(cov)] = microalloc.Covariance(cov)
    return c


def _microalloc(check_psd: bool, method: str = "active_set", validated: bool = False) -> Callable:
    def solve(p, _mod=None) -> Answer:
        r = solve_mean_variance(
            _validated(p.cov) if validated else p.cov, p.mu, risk_aversion=p.risk_aversion, lower=p.lower, upper=p.upper, budget=p.budget,
            check_psd=check_psd, method=method,
        )
        return Answer(r.weights, r.status.name, r.iterations,
                      {"certified_rel_gap": r.rel_gap, "core_time_s": r.solve_time_s, "optimal": r.status == Status.OPTIMAL})

    return solve


def _bounds(p):
    return np.full(p.n, float(p.lower)), np.full(p.n, float(p.upper))


OSQP_SETTINGS = dict(eps_abs=1e-9, eps_rel=1e-9, polishing=True, max_iter=1_000_000, verbose=False)


def solve_osqp(p, osqp) -> Answer:
    import scipy.sparse as sp

    lo, up = _bounds(p)
    n = p.n
    P = sp.triu(sp.csc_matrix(p.risk_aversion * p.cov), format="csc")
    A = sp.vstack([sp.csc_matrix(np.ones((1, n))), sp.identity(n, format="csc")], format="csc")
    m = osqp.OSQP()
    m.setup(P, -p.mu, A, np.r_[p.budget, lo], np.r_[p.budget, up], **OSQP_SETTINGS)
    r = m.solve(raise_error=False)  # status checked by the caller (and no PendingDeprecationWarning)
    return Answer(r.x, str(r.info.status), r.info.iter, {"status_polish": int(r.info.status_polish)})


CLARABEL_TOL = 1e-10


def solve_clarabel(p, clarabel) -> Answer:
    import scipy.sparse as sp

    lo, up = _bounds(p)
    n = p.n
    P = sp.triu(sp.csc_matrix(p.risk_aversion * p.cov), format="csc")
    A = sp.vstack([sp.csc_matrix(np.ones((1, n))), sp.identity(n), -sp.identity(n)], format="csc")
    b = np.r_[p.budget, up, -lo]
    st = clarabel.DefaultSettings()
    st.verbose = False
    st.tol_gap_abs = st.tol_gap_rel = st.tol_feas = CLARABEL_TOL
    s = clarabel.DefaultSolver(P, -p.mu, A, b, [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(2 * n)], st)
    r = s.solve()
    return Answer(np.asarray(r.x), str(r.status), r.iterations)


def solve_quadprog(p, quadprog) -> Answer:
    # min 1/2 x'Gx - a'x  s.t.  C'x >= b, the first meq rows equalities; bounds as 2n inequality rows
    lo, up = _bounds(p)
    n = p.n
    C = np.hstack([np.ones((n, 1)), np.eye(n), -np.eye(n)])
    b = np.r_[p.budget, lo, -up]
    x, _, _, iters, _, _ = quadprog.solve_qp(p.risk_aversion * p.cov, p.mu.copy(), C, b, 1)  # needs writable arrays
    return Answer(x, "solved", int(iters[0]))


DAQP_SETTINGS = dict(primal_tol=1e-10)


def solve_daqp(p, daqp) -> Answer:
    # the first n entries of the bounds are simple bounds on x; the last row is the budget (sense 5 = equality)
    lo, up = _bounds(p)
    n = p.n
    sense = np.zeros(n + 1, dtype=np.int32)
    sense[-1] = 5
    x, _, flag, info = daqp.solve(p.risk_aversion * p.cov, -p.mu, np.ones((1, n)), np.r_[up, p.budget],
                                  np.r_[lo, p.budget], sense, **DAQP_SETTINGS)
    return Answer(x, f"exitflag={flag}", info["iterations"])


PIQP_TOL = 1e-10


def solve_piqp(p, piqp) -> Answer:
    lo, up = _bounds(p)
    s = piqp.DenseSolver()
    st = s.settings
    st.verbose = False
    st.eps_abs = st.eps_rel = st.eps_duality_gap_abs = st.eps_duality_gap_rel = PIQP_TOL
    s.setup(p.risk_aversion * p.cov, -p.mu, np.ones((1, p.n)), np.array([p.budget]), None, None, None, lo, up)
    status = s.solve()
    return Answer(s.result.x.copy(), str(status).rpartition(".")[2], s.result.info.iter)


PROXSUITE_SETTINGS = dict(eps_abs=1e-10, eps_rel=0.0, check_duality_gap=True, eps_duality_gap_abs=1e-12,
                          eps_duality_gap_rel=1e-12)


def solve_proxsuite(p, proxsuite) -> Answer:
    lo, up = _bounds(p)
    qp = proxsuite.proxqp.dense.QP(p.n, 1, 0, True)  # n, n_eq, n_in, box_constraints
    for k, v in PROXSUITE_SETTINGS.items():
        setattr(qp.settings, k, v)
    qp.settings.verbose = False
    qp.init(p.risk_aversion * p.cov, -p.mu, np.ones((1, p.n)), np.array([p.budget]), None, None, None, lo, up)
    qp.solve()
    info = qp.results.info
    return Answer(qp.results.x.copy(), str(info.status).rpartition(".")[2], info.iter)


#: tolerance options passed through cvxpy to whichever solver it picks by default for a QP
CVXPY_TOLERANCES = {
    "OSQP": dict(eps_abs=1e-9, eps_rel=1e-9, polishing=True, max_iter=1_000_000),
    "CLARABEL": dict(tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10),
    "PIQP": dict(eps_abs=1e-10, eps_rel=1e-10, eps_duality_gap_abs=1e-10, eps_duality_gap_rel=1e-10),
}
_CVXPY_DEFAULT: dict[str, str] = {}


def cvxpy_default_qp_solver(cp) -> str:
    """Name of the solver cvxpy picks by default for a QP (found by solving a tiny QP once)."""
    if "name" not in _CVXPY_DEFAULT:
        w = cp.Variable(2)
        prob = cp.Problem(cp.Minimize(cp.sum_squares(w) - w[0]), [cp.sum(w) == 1, w >= 0])
        prob.solve()
        _CVXPY_DEFAULT["name"] = prob.solver_stats.solver_name
    return _CVXPY_DEFAULT["name"]


def solve_cvxpy(p, cp) -> Answer:
    default = cvxpy_default_qp_solver(cp)
    w = cp.Variable(p.n)
    objective = cp.Minimize(0.5 * p.risk_aversion * cp.quad_form(w, p.cov) - p.mu @ w)
    prob = cp.Problem(objective, [cp.sum(w) == p.budget, w >= p.lower, w <= p.upper])
    prob.solve(**CVXPY_TOLERANCES.get(default, {}))  # no solver=...: cvxpy's own choice
    stats = prob.solver_stats
    return Answer(w.value, f"{prob.status} via {stats.solver_name}", stats.num_iters,
                  {"cvxpy_solver": stats.solver_name})


# name -> (module to import or None, adapter, tolerance note)
SOLVERS: dict[str, tuple[str | None, Callable, str]] = {
    # check_psd=True is the default: the O(n^3) test runs on the first call for a matrix and is
    # remembered by fingerprint, so timed rounds pay the O(n^2) fingerprint pass (see
    # test_bench_batch_warm.py::test_validation_cost for the first-call cost)
    "microalloc": (None, _microalloc(True), "active set, tol=1e-9 (certified rel. duality gap)"),
    # the covariance as a microalloc.Covariance, validated once outside the timed calls (the
    # repeated-covariance use; its construction cost is in test_bench_batch_warm.py)
    "microalloc(Covariance)": (None, _microalloc(True, validated=True), "active set, tol=1e-9"),
    "microalloc(check_psd=False)": (None, _microalloc(False), "active set, tol=1e-9"),
    "microalloc(projected_gradient)": (None, _microalloc(True, "projected_gradient"), "FISTA, tol=1e-9"),
    "osqp": ("osqp", solve_osqp, "eps_abs=eps_rel=1e-9, polishing"),
    "clarabel": ("clarabel", solve_clarabel, f"tol_gap_abs=tol_gap_rel=tol_feas={CLARABEL_TOL:g}"),
    "quadprog": ("quadprog", solve_quadprog, "none (dual active set)"),
    "daqp": ("daqp", solve_daqp, "primal_tol=1e-10 (primal active set)"),
    "piqp": ("piqp", solve_piqp, f"dense, eps_abs=eps_rel=eps_duality_gap_abs/rel={PIQP_TOL:g}"),
    "proxsuite": ("proxsuite", solve_proxsuite, "dense, eps_abs=1e-10, duality gap 1e-12"),
    "cvxpy": ("cvxpy", solve_cvxpy, "default QP solver; its tolerances set as above"),
}


def _run(benchmark, fn: Callable[[], Answer]) -> Answer:
    """Run fn under the benchmark: one untimed warm-up call sizes the number of rounds."""
    if benchmark.disabled:  # --benchmark-disable (CI): the body runs once, as a plain test
        return benchmark.pedantic(fn)
    t0 = time.perf_counter()
    fn()
    t = max(time.perf_counter() - t0, 1e-7)
    rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS_SLOW if t > SLOW_S else MIN_ROUNDS, TIME_BUDGET_S / t)))
    benchmark.extra_info["rounds_planned"] = rounds
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_solve(benchmark, problem, reference, accuracy_of, solver):
    module_name, adapter, tol_note = SOLVERS[solver]
    mod = pytest.importorskip(module_name) if module_name else None
    if module_name == "proxsuite" and not hasattr(mod, "proxqp"):
        pytest.skip("proxsuite was built without proxqp")

    benchmark.group = problem.name
    info = benchmark.extra_info
    info.update(solver=solver, n=problem.n, cap=problem.cap, cov_type=problem.cov_type,
                risk_aversion=problem.risk_aversion, tolerances=tol_note)
    if solver == "cvxpy":
        info["cvxpy_default_qp_solver"] = cvxpy_default_qp_solver(mod)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ans = _run(benchmark, lambda: adapter(problem, mod))

    acc = accuracy_of(ans.x)
    info.update(status=ans.status, iterations=_plain(ans.iterations), **{k: _plain(v) for k, v in ans.detail.items()})
    info.update(acc)
    info.update(ref_objective=reference.objective, ref_source=reference.source,
                ref_rel_uncertainty=reference.rel_uncertainty, ref_n_free=reference.n_free,
                ref_n_at_upper=reference.n_at_upper)
    msgs = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    if msgs:
        info["warnings"] = msgs[:5]

    if solver.startswith("microalloc"):
        assert ans.status == "OPTIMAL", ans
        assert ans.detail["certified_rel_gap"] <= 1e-9
    # target: |f(x) - f_ref| / |f_ref| <= 1e-9 and constraint violation <= 1e-9 (see conftest.py)
    assert acc["meets_target"], f"{solver}: answer misses the accuracy target: {acc}, status {ans.status}"


def _plain(v):
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def test_matvec_yardstick(benchmark, n, yardstick_cov):
    """One dense S @ w with numpy at each n (the factor covariance): the unit cost of a first-order iteration."""
    w = np.full(n, 1.0 / n)
    benchmark.group = f"n={n} yardstick"
    benchmark.extra_info.update(solver="numpy S @ w", n=n, yardstick=True)
    y = benchmark(np.dot, yardstick_cov, w)
    np.testing.assert_allclose(y, yardstick_cov.sum(axis=1) / n, rtol=1e-12, atol=1e-15)
