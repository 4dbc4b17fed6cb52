"""Large-universe instances with a factor-model covariance S = X F X' + diag(d): the data, the peers
on the sparse (w, y = X'w) formulation, the high-accuracy reference and a peak-memory probe.

Loaded by path from test_bench_factor.py (the suite runs under --import-mode=importlib), and run as a
script by the memory probe, in a fresh process per measurement:

    python bench/_factor.py memory SOLVER N PROBLEM      # prints one JSON line

Problems (both long-only, cap 5%, budget 1):

* ``mv``: mean-variance, minimise (ra/2) w'Sw - mu'w with ra = 5 and mu ~ N(0.06, 0.04);
* ``minvar``: minimum variance, minimise (1/2) w'Sw.

The peers all solve the same sparse QP in z = (w, y):

    minimise (ra/2)(y'F y + w'D w) - mu'w   s.t.  X'w - y = 0,  1'w = 1,  0 <= w <= cap.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

SEED = 20240611
CAP = 0.05
BUDGET = 1.0
RISK_AVERSION = {"mv": 5.0, "minvar": 1.0}
PROBLEMS = ("mv", "minvar")
#: n -> number of factors
FACTORS = {1_000: 20, 10_000: 50, 100_000: 50}
N_STYLE = 10  # the market factor and nine style factors; the other factors are industries

TARGET_REL_GAP = 1e-9
TARGET_VIOLATION = 1e-9


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactorModel:
    """S = X F X' + diag(d): loadings X (n x k), factor covariance F (k x k), specific variances d."""

    X: np.ndarray
    F: np.ndarray
    d: np.ndarray

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def k(self) -> int:
        return self.X.shape[1]

    def matvec(self, w: np.ndarray) -> np.ndarray:
        return self.X @ (self.F @ (self.X.T @ w)) + self.d * w

    def quad(self, w: np.ndarray) -> float:
        y = self.X.T @ w
        return float(y @ self.F @ y + self.d @ (w * w))

    def dense(self) -> np.ndarray:
        s = (self.X @ self.F) @ self.X.T
        s[np.diag_indices(self.n)] += self.d
        return 0.5 * (s + s.T)


def factor_model(n: int, k: int | None = None) -> FactorModel:
    """A seeded factor model in the style of conftest.factor_covariance, with industries.

    Factors: a market factor (16% vol), nine style factors (3-10% vol) and k - 10 industry factors
    (4-12% vol), mildly correlated (correlations from three latent drivers). Loadings: market
    N(1, 0.3), styles N(0, 1), each asset in one industry (loading N(1, 0.2)). Each asset's loadings
    are then scaled so that its total annualised vol is uniform in [15%, 40%] with a systematic
    share (R^2) uniform in [0.2, 0.6]; d is the remaining (specific) variance.
    """
    k = FACTORS.get(n, 20) if k is None else k
    rng = np.random.default_rng([SEED, n, k])
    n_ind = k - N_STYLE
    vol_f = np.r_[0.16, rng.uniform(0.03, 0.10, N_STYLE - 1), rng.uniform(0.04, 0.12, n_ind)]
    drivers = rng.normal(0.0, 0.3, (k, 3))
    c = drivers @ drivers.T + np.eye(k)
    c /= np.sqrt(np.outer(np.diag(c), np.diag(c)))
    f = c * np.outer(vol_f, vol_f)
    x = np.zeros((n, k))
    x[:, 0] = rng.normal(1.0, 0.3, n)
    x[:, 1:N_STYLE] = rng.normal(0.0, 1.0, (n, N_STYLE - 1))
    x[np.arange(n), N_STYLE + rng.integers(0, n_ind, n)] = rng.normal(1.0, 0.2, n)
    systematic = np.einsum("ij,jk,ik->i", x, f, x)
    vol = rng.uniform(0.15, 0.40, n)
    r2 = rng.uniform(0.2, 0.6, n)
    x *= np.sqrt(r2 * vol**2 / systematic)[:, None]  # systematic variance = r2 * vol^2
    d = (1.0 - r2) * vol**2
    f = 0.5 * (f + f.T)
    for a in (x, f, d):
        a.setflags(write=False)
    return FactorModel(np.ascontiguousarray(x), f, d)


def expected_returns(n: int, seed_offset: int = 0, m: int | None = None) -> np.ndarray:
    rng = np.random.default_rng([SEED, n, 1000 + seed_offset])
    return rng.normal(0.06, 0.04, n if m is None else (m, n))


@dataclass(frozen=True)
class Instance:
    problem: str  # "mv" or "minvar"
    model: FactorModel
    mu: np.ndarray  # zeros for minimum variance
    risk_aversion: float
    cap: float = CAP
    budget: float = BUDGET

    @property
    def n(self) -> int:
        return self.model.n

    @property
    def name(self) -> str:
        return f"factor n={self.n} k={self.model.k} {self.problem} cap={self.cap:g}"

    def objective(self, w: np.ndarray) -> float:
        w = np.asarray(w, dtype=float)
        return 0.5 * self.risk_aversion * self.model.quad(w) - float(self.mu @ w)

    def violation(self, w) -> float:
        if w is None:
            return float("inf")
        w = np.asarray(w, dtype=float)
        if w.shape != (self.n,) or not np.all(np.isfinite(w)):
            return float("inf")
        return float(max(abs(w.sum() - self.budget), np.max(-w, initial=0.0), np.max(w - self.cap, initial=0.0)))


_MODELS: dict[int, FactorModel] = {}


def instance(n: int, problem: str) -> Instance:
    """The instance (deterministic; the factor model is built once per n)."""
    if n not in _MODELS:
        _MODELS[n] = factor_model(n)
    mu = expected_returns(n) if problem == "mv" else np.zeros(n)
    mu.setflags(write=False)
    return Instance(problem, _MODELS[n], mu, RISK_AVERSION[problem])


# ---------------------------------------------------------------------------------------------
# peers: each takes the Instance (numpy data) and returns an Answer; the whole call is timed
# ---------------------------------------------------------------------------------------------


@dataclass
class Answer:
    x: Any
    status: str
    iterations: Any = None
    detail: dict = field(default_factory=dict)


def sparse_qp(inst: Instance):
    """(P upper triangle, q, A_eq, b_eq) of the (w, y) formulation; P = ra blockdiag(D, F)."""
    import scipy.sparse as sp

    m, n, k = inst.model, inst.n, inst.model.k
    ra = inst.risk_aversion
    p = sp.block_diag([sp.diags(ra * m.d), sp.csc_matrix(np.triu(ra * m.F))], format="csc")
    q = np.r_[-np.asarray(inst.mu), np.zeros(k)]
    a = sp.bmat([[sp.csc_matrix(m.X.T), -sp.identity(k)], [sp.csc_matrix(np.ones((1, n))), None]], format="csc")
    b = np.r_[np.zeros(k), inst.budget]
    return p, q, a, b


PIQP_TOL = 1e-11


def solve_piqp(inst: Instance, piqp, tol: float = PIQP_TOL) -> Answer:
    p, q, a, b = sparse_qp(inst)
    n, k = inst.n, inst.model.k
    s = piqp.SparseSolver()
    st = s.settings
    st.verbose = False
    st.eps_abs = st.eps_rel = st.eps_duality_gap_abs = st.eps_duality_gap_rel = tol
    s.setup(p, q, a, b, None, None, None, np.r_[np.zeros(n), np.full(k, -np.inf)], np.r_[np.full(n, inst.cap), np.full(k, np.inf)])
    status = s.solve()
    return Answer(s.result.x[:n].copy(), str(status).rpartition(".")[2], s.result.info.iter)


CLARABEL_TOL = 1e-12


def solve_clarabel(inst: Instance, clarabel, tol: float = CLARABEL_TOL) -> Answer:
    import scipy.sparse as sp

    p, q, a, b = sparse_qp(inst)
    n, k = inst.n, inst.model.k
    eye = sp.identity(n, format="csc")
    zeros = sp.csc_matrix((n, k))
    a_all = sp.vstack([a, sp.hstack([eye, zeros]), sp.hstack([-eye, zeros])], format="csc")
    b_all = np.r_[b, np.full(n, inst.cap), np.zeros(n)]
    st = clarabel.DefaultSettings()
    st.verbose = False
    st.tol_gap_abs = st.tol_gap_rel = st.tol_feas = tol
    if tol < 1e-10:
        st.tol_ktratio = tol * 1e2
    s = clarabel.DefaultSolver(p, q, a_all, b_all, [clarabel.ZeroConeT(k + 1), clarabel.NonnegativeConeT(2 * n)], st)
    r = s.solve()
    return Answer(np.asarray(r.x)[:n], str(r.status), r.iterations, {"obj_val_dual": float(r.obj_val_dual)})


#: tolerance options passed through cvxpy to whichever solver it picks by default for a QP
CVXPY_TOLERANCES = {
    "OSQP": dict(eps_abs=1e-8, eps_rel=1e-8, polishing=True, max_iter=1_000_000),  # 1e-6 missed minvar at n = 10,000
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


def solve_cvxpy(inst: Instance, cp) -> Answer:
    default = cvxpy_default_qp_solver(cp)
    m = inst.model
    w, y = cp.Variable(inst.n), cp.Variable(m.k)
    risk = cp.quad_form(y, cp.psd_wrap(m.F)) + cp.sum(cp.multiply(m.d, cp.square(w)))
    objective = 0.5 * inst.risk_aversion * risk
    if np.any(inst.mu):
        objective = objective - inst.mu @ w
    cons = [m.X.T @ w == y, cp.sum(w) == inst.budget, w >= 0, w <= inst.cap]
    prob = cp.Problem(cp.Minimize(objective), cons)
    prob.solve(**CVXPY_TOLERANCES.get(default, {}))  # no solver=...: cvxpy's own choice
    stats = prob.solver_stats
    return Answer(w.value, f"{prob.status} via {stats.solver_name}", stats.num_iters, {"cvxpy_solver": stats.solver_name})


def factor_covariance_ma(model: FactorModel):
    """microalloc's factor model (the API being added: microalloc.FactorCovariance)."""
    import microalloc

    return microalloc.FactorCovariance(model.X, model.F, model.d)


_BUILT: dict[int, Any] = {}


def built_model(model: FactorModel):
    """microalloc's model of `model`, built (and validated) once and kept: the way a service uses
    it, one model for many solves."""
    key = id(model)
    if key not in _BUILT:
        _BUILT[key] = (model, factor_covariance_ma(model))  # the model is kept alive with its id
    return _BUILT[key][1]


def microalloc_adapter(method: str, prebuilt: bool = False) -> Callable:
    def solve(inst: Instance, _mod=None) -> Answer:
        import microalloc

        # Without `prebuilt` the timed call includes building the model from the numpy arrays, as
        # the peers build theirs; with it the model was built (and validated) before.
        cov = built_model(inst.model) if prebuilt else factor_covariance_ma(inst.model)
        r = microalloc.solve_mean_variance(
            cov, inst.mu if inst.problem == "mv" else None, upper=inst.cap,
            budget=inst.budget, risk_aversion=inst.risk_aversion, check_psd=False, method=method,
        )
        return Answer(r.weights, r.status.name, r.iterations,
                      {"certified_rel_gap": r.rel_gap, "core_time_s": r.solve_time_s})

    return solve


# name -> (module to import or None, adapter, tolerance note)
SOLVERS: dict[str, tuple[str | None, Callable, str]] = {
    "microalloc": (None, microalloc_adapter("active_set"), "active set, tol=1e-9 (certified rel. duality gap)"),
    "microalloc(model built)": (None, microalloc_adapter("active_set", prebuilt=True),
                                "active set, tol=1e-9, the FactorCovariance built before the timed call"),
    "microalloc(projected_gradient)": (None, microalloc_adapter("projected_gradient"), "FISTA, tol=1e-9"),
    "piqp": ("piqp", solve_piqp, f"sparse, eps_abs=eps_rel=eps_duality_gap_abs/rel={PIQP_TOL:g}"),
    "clarabel": ("clarabel", solve_clarabel, f"sparse, tol_gap_abs=tol_gap_rel=tol_feas={CLARABEL_TOL:g}"),
    "cvxpy": ("cvxpy", solve_cvxpy, "default QP solver on the (w, y) form; its tolerances as CVXPY_TOLERANCES"),
}


# ---------------------------------------------------------------------------------------------
# reference and accuracy
# ---------------------------------------------------------------------------------------------


def linear_min(inst: Instance, g: np.ndarray) -> float:
    """min g'v over {sum v = budget, 0 <= v <= cap} (greedy: the cheapest assets filled to the cap)."""
    order = np.argsort(g, kind="stable")
    v = np.zeros(inst.n)
    left = inst.budget
    for i in order:  # at most budget / cap + 1 steps
        v[i] = min(inst.cap, left)
        left -= v[i]
        if left <= 0.0:
            break
    return float(g @ v)


def lower_bound(inst: Instance, w: np.ndarray) -> float:
    """Certified lower bound on f* from any feasible w: f(v) >= f(w) + g'(v - w) for every v (convexity)."""
    g = inst.risk_aversion * inst.model.matvec(w) - inst.mu
    return inst.objective(w) + linear_min(inst, g) - float(g @ w)


def _solve_on_active_set(inst: Instance, at_zero: np.ndarray, at_cap: np.ndarray) -> np.ndarray:
    """The minimiser with the assets of at_zero at 0, those of at_cap at the cap and the rest free
    (bounds ignored): the free block's KKT system solved by Woodbury in O(n k^2)."""
    m, ra = inst.model, inst.risk_aversion
    w = np.where(at_cap, inst.cap, 0.0)
    free = ~(at_zero | at_cap)
    xf, df = m.X[free], m.d[free]
    # ra (S_FF w_F + S_FU w_U) - mu_F + nu 1 = 0; S_FU w_U has only the factor part (D is diagonal)
    rhs = np.asarray(inst.mu)[free] / ra - xf @ (m.F @ (m.X.T @ w))
    capacitance = np.linalg.inv(m.F) + xf.T @ (xf / df[:, None])

    def solve_ff(b):  # (D_F + X_F F X_F')^{-1} b
        db = b / df
        return db - (xf / df[:, None]) @ np.linalg.solve(capacitance, xf.T @ db)

    a, u = solve_ff(rhs), solve_ff(np.ones(int(free.sum())))
    nu = (a.sum() - (inst.budget - w.sum())) / u.sum()  # 1'(a - nu u) = budget - sum of the fixed weights
    w[free] = a - nu * u
    return w


def polish(inst: Instance, w0: np.ndarray, tol: float = 1e-9, max_iter: int = 50) -> np.ndarray:
    """Exact minimiser by a primal-dual active-set iteration started from the active set that w0
    suggests: solve on the set; free weights out of bounds go to their bound, bound weights whose
    multiplier has the wrong sign are freed; stop when nothing moves."""
    at_zero, at_cap = w0 < tol, w0 > inst.cap - tol
    w = w0
    for _ in range(max_iter):
        w = _solve_on_active_set(inst, at_zero, at_cap)
        free = ~(at_zero | at_cap)
        g = inst.risk_aversion * inst.model.matvec(w) - inst.mu
        nu = -float(np.median(g[free])) if free.any() else 0.0
        eps = 1e-13 * float(np.max(np.abs(g)))
        to_zero, to_cap = free & (w < 0.0), free & (w > inst.cap)
        release = (at_zero & (g + nu < -eps)) | (at_cap & (g + nu > eps))
        if not (to_zero.any() or to_cap.any() or release.any()):
            break
        at_zero = (at_zero & ~release) | to_zero
        at_cap = (at_cap & ~release) | to_cap
    return w


@dataclass(frozen=True)
class Reference:
    objective: float  # best objective over the feasible candidates (attainable: an upper bound on f*)
    lower_bound: float  # certified lower bound on f* (linearisation at the best candidate)
    weights: np.ndarray
    source: str
    candidates: dict
    n_free: int
    n_at_cap: int

    @property
    def rel_uncertainty(self) -> float:
        return (self.objective - self.lower_bound) / abs(self.objective)


def reference(inst: Instance) -> Reference:
    """Clarabel and PIQP at 1e-12 on the (w, y) QP, and each answer polished on the active set it
    suggests; every candidate is projected onto {sum w = 1, 0 <= w <= cap} (so its objective is
    attainable), the lowest objective is kept, and a certified lower bound is computed there."""
    import microalloc as ma

    cands = {}
    try:
        import clarabel

        cands["clarabel(tol=1e-12)"] = solve_clarabel(inst, clarabel, tol=1e-12).x
    except ImportError:
        pass
    try:
        import piqp

        cands["piqp(tol=1e-12)"] = solve_piqp(inst, piqp, tol=1e-12).x
    except ImportError:
        pass
    if not cands:
        raise RuntimeError("the reference needs clarabel or piqp")
    for s, w in list(cands.items()):
        if np.all(np.isfinite(w)):
            cands[s + "+polish"] = polish(inst, np.asarray(w))
    proj = {s: ma.project_box_budget(np.asarray(w), 0.0, inst.cap, inst.budget)
            for s, w in cands.items() if np.all(np.isfinite(w))}
    objs = {s: inst.objective(w) for s, w in proj.items()}
    best = min(objs, key=objs.get)
    w = proj[best]
    w.setflags(write=False)
    return Reference(objs[best], lower_bound(inst, w), w, best, objs,
                     int(np.count_nonzero((w > 1e-9) & (w < inst.cap - 1e-9))),
                     int(np.count_nonzero(w >= inst.cap - 1e-9)))


def accuracy(inst: Instance, ref: Reference, w) -> dict:
    viol = inst.violation(w)
    if not np.isfinite(viol):
        return {"rel_obj_gap": float("nan"), "max_violation": viol, "meets_target": False}
    gap = (inst.objective(w) - ref.objective) / abs(ref.objective)
    return {"rel_obj_gap": gap, "max_violation": viol,
            "meets_target": bool(abs(gap) <= TARGET_REL_GAP and viol <= TARGET_VIOLATION)}


# ---------------------------------------------------------------------------------------------
# peak memory, measured in a fresh process
# ---------------------------------------------------------------------------------------------


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise KeyError(field_name)


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_memory(solver: str, n: int, problem: str) -> dict:
    """Peak RSS of one solve above the RSS after building the data, in this (fresh) process.

    A warm-up solve at n = 200 first loads every library and lazily imported module, so the
    measured solve pays only for its own allocations; the freed heap is then handed back to the
    system (malloc_trim) so that the measured solve cannot reuse it unseen. When VmHWM cannot be
    reset, the baseline is the high-water mark before the solve (a peak below it would read as 0)."""
    import ctypes
    import gc

    module_name, adapter, _ = SOLVERS[solver]
    mod = __import__(module_name) if module_name else None
    adapter(instance(200, problem), mod)
    inst = instance(n, problem)
    if "model built" in solver:
        built_model(inst.model)  # part of the data here: the solve's own memory is measured
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    reset = _reset_peak()
    base_rss = _status_kib("VmRSS")
    base = base_rss if reset else _status_kib("VmHWM")
    t0 = time.perf_counter()
    ans = adapter(inst, mod)
    t = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    return {"solver": solver, "n": n, "problem": problem, "hwm_reset": reset, "baseline_rss_kib": base_rss,
            "peak_kib": peak, "peak_above_baseline_mib": max(peak - base, 0) / 1024.0, "time_s": t,
            "status": ans.status, "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def memory_in_subprocess(solver: str, n: int, problem: str, timeout: float = 1800.0) -> dict:
    """Run measure_memory in a fresh interpreter (the C++ allocations are invisible to tracemalloc)."""
    import subprocess

    out = subprocess.run([sys.executable, os.path.abspath(__file__), "memory", solver, str(n), problem],
                         capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        return {"error": (out.stderr or out.stdout).strip().splitlines()[-1:] or ["exit %d" % out.returncode]}
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "memory":
        print(json.dumps(measure_memory(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
    else:
        sys.exit(__doc__)
