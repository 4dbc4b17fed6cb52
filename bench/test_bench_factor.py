"""Large universes with a factor-model covariance S = X F X' + diag(d) (see bench/README.md).

Instances (bench/_factor.py): long-only mean-variance (ra = 5) and minimum variance, cap 5%, budget
1, at n = 1,000 (k = 20), 10,000 (k = 50) and 100,000 (k = 50); short mode (CI) runs n = 1,000 only.
The peers (PIQP and Clarabel through their sparse interfaces, cvxpy with its default solver) solve
the sparse (w, y = X'w) formulation; microalloc gets ``microalloc.FactorCovariance(X, F, d)`` (built
inside the timed call, as the peers build their matrices) with both methods.

Every answer is checked against a reference (Clarabel and PIQP at 1e-12, polished on their active
set, with a certified lower bound) to a relative objective gap and a constraint violation of 1e-9.
``extra_info`` records the time in passes over X (the median / one numpy ``X.T @ x`` timed in the
same run) and the peak memory of one solve above the data, measured in a fresh process.

Also: 1,000 problems at n = 10,000 sharing one factor model through
``microalloc.solve_mean_variance_batch`` against a PIQP loop (time per problem); the efficient
frontier at n = 10,000 by cvxcla's factor backend (and microalloc's); equal risk contribution at
n = 100,000. The microalloc cases are skipped while ``microalloc.FactorCovariance`` is missing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import timeit
import warnings
from pathlib import Path

import numpy as np
import pytest

import microalloc


def _sibling(module: str, filename: str):
    """A module of bench/ loaded by path (the suite runs under --import-mode=importlib), once."""
    mod = sys.modules.get(module)
    if mod is None:
        spec = importlib.util.spec_from_file_location(module, Path(__file__).with_name(filename))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[module] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
    return mod


fm = _sibling("_bench_factor", "_factor.py")
one_blas_thread = _sibling("_bench_conftest", "conftest.py").one_blas_thread

FULL = os.environ.get("MICROALLOC_BENCH_FULL", "") == "1"
SIZES = (1_000, 10_000, 100_000) if FULL else (1_000,)
BATCH_N, BATCH_M, BATCH_PEER_M = (10_000, 1_000, 10) if FULL else (1_000, 20, 3)
FRONTIER_N = 10_000 if FULL else 1_000
ERC_N = 100_000 if FULL else 1_000
#: cvxpy above this n is not run: its first call at n = 100,000 (mean-variance) was stopped after
#: 10 minutes; a separate measurement is in bench/README.md
CVXPY_MAX_N = 10_000

#: rounds: one untimed warm-up call (or the memory probe's solve for calls slower than SLOW_S),
#: then TIME_BUDGET_S / t rounds, at least MIN_ROUNDS (MIN_ROUNDS_SLOW above 0.4 s, 1 above SLOW_S)
TIME_BUDGET_S = 1.5
MIN_ROUNDS = 7
MIN_ROUNDS_SLOW = 3
SLOW_S = 10.0
MAX_ROUNDS = 500

MISSING = "microalloc.FactorCovariance is not available in this build"


def _needs_factor_api():
    if not hasattr(microalloc, "FactorCovariance"):
        pytest.skip(MISSING)


def _ids(v):
    return f"n={v}"


# ---------------------------------------------------------------------------------------------
# shared measurements: references and the X.T @ x yardstick, once per session
# ---------------------------------------------------------------------------------------------

_REFS: dict = {}
_XT: dict[int, float] = {}


def reference_for(key, inst):
    if key not in _REFS:
        _REFS[key] = fm.reference(inst)
    return _REFS[key]


def xt_time(size: int) -> float:
    """Median time of one numpy X.T @ x (X is n x k, C order) at this n on one BLAS thread: one
    pass over X (multithreaded BLAS times swing by 10x when the other core is busy)."""
    if size not in _XT:
        x_mat = fm.instance(size, "mv").model.X
        x = np.full(size, 1.0 / size)
        timer = timeit.Timer(lambda: x_mat.T @ x)
        with one_blas_thread():
            number, _ = timer.autorange()
            _XT[size] = float(np.median(timer.repeat(7, number))) / number
    return _XT[size]


def _run(benchmark, fn, estimate_s: float | None = None):
    """Run fn under the benchmark; the warm-up call (or an estimate from the memory probe for slow
    calls) sizes the number of rounds."""
    if benchmark.disabled:  # --benchmark-disable (CI): the body runs once, as a plain test
        return benchmark.pedantic(fn)
    if estimate_s is not None and estimate_s > SLOW_S:
        rounds = 1
    else:
        t0 = time.perf_counter()
        fn()
        t = max(time.perf_counter() - t0, 1e-7)
        rounds = 1 if t > SLOW_S else int(min(MAX_ROUNDS, max(MIN_ROUNDS_SLOW if t > 0.4 else MIN_ROUNDS, TIME_BUDGET_S / t)))
    benchmark.extra_info["rounds_planned"] = rounds
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


def _record_passes(benchmark, size: int, per_call: int = 1):
    """Median time in passes over X (and per problem when a call solves several)."""
    if benchmark.disabled or benchmark.stats is None:
        return
    median = benchmark.stats.stats.median / per_call
    t_xt = xt_time(size)
    benchmark.extra_info.update(xt_time_s=t_xt, passes_over_X=median / t_xt)


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


# ---------------------------------------------------------------------------------------------
# single solves
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=_ids)
@pytest.mark.parametrize("problem", fm.PROBLEMS)
@pytest.mark.parametrize("solver", list(fm.SOLVERS))
def test_factor_solve(benchmark, size, problem, solver):
    module_name, adapter, tol_note = fm.SOLVERS[solver]
    if solver.startswith("microalloc"):
        _needs_factor_api()
    if solver == "cvxpy" and size > CVXPY_MAX_N:
        pytest.skip(f"cvxpy is not run above n={CVXPY_MAX_N} (more than 10 minutes per call; see bench/README.md)")
    mod = pytest.importorskip(module_name) if module_name else None
    inst = fm.instance(size, problem)
    ref = reference_for((size, problem), inst)

    benchmark.group = inst.name
    info = benchmark.extra_info
    info.update(kind="factor", solver=solver, n=size, k=inst.model.k, problem=problem, cap=inst.cap,
                risk_aversion=inst.risk_aversion, tolerances=tol_note)
    if solver == "cvxpy":
        info["cvxpy_default_qp_solver"] = fm.cvxpy_default_qp_solver(mod)

    # Peak memory in a fresh process (C++ allocations are invisible to tracemalloc): in timed runs for
    # every solver, in the CI smoke run for PIQP only, so that the probe itself is exercised.
    mem = None
    if not benchmark.disabled or solver == "piqp":
        mem = fm.memory_in_subprocess(solver, size, problem)
        info["memory"] = mem
        info["peak_memory_mib"] = mem.get("peak_above_baseline_mib")
        assert "error" not in mem, mem

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ans = _run(benchmark, lambda: adapter(inst, mod), mem["time_s"] if mem else None)
    _record_passes(benchmark, size)

    acc = fm.accuracy(inst, ref, ans.x)
    info.update(status=ans.status, iterations=_plain(ans.iterations), **{k: _plain(v) for k, v in ans.detail.items()})
    info.update(acc)
    info.update(ref_objective=ref.objective, ref_source=ref.source, ref_rel_uncertainty=ref.rel_uncertainty,
                ref_n_free=ref.n_free, ref_n_at_cap=ref.n_at_cap)
    msgs = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    if msgs:
        info["warnings"] = msgs[:5]

    assert ref.rel_uncertainty <= 1e-11, ref  # the reference itself is certified well below the target
    if solver.startswith("microalloc"):
        assert ans.status == "OPTIMAL", ans
        assert ans.detail["certified_rel_gap"] <= 1e-9
    assert acc["meets_target"], f"{solver}: answer misses the accuracy target: {acc}, status {ans.status}"


@pytest.mark.parametrize("size", SIZES, ids=_ids)
def test_factor_yardstick(benchmark, size):
    """One numpy X.T @ x at each n on one BLAS thread: the unit of the 'passes over X' column."""
    x_mat = fm.instance(size, "mv").model.X
    x = np.full(size, 1.0 / size)
    benchmark.group = f"factor n={size} yardstick"
    benchmark.extra_info.update(kind="factor_yardstick", solver="numpy X.T @ x (1 thread)", n=size, k=x_mat.shape[1])
    with one_blas_thread():
        y = benchmark(lambda: x_mat.T @ x)
    np.testing.assert_allclose(y, x_mat.sum(axis=0) / size, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# a batch sharing one factor model
# ---------------------------------------------------------------------------------------------


def _batch_instances(m: int):
    model = fm.instance(BATCH_N, "mv").model
    mus = fm.expected_returns(BATCH_N, seed_offset=7, m=BATCH_M)[:m]
    return model, mus


BATCH_CHECKED_ROWS = (0, BATCH_PEER_M // 2, BATCH_PEER_M - 1)  # rows that both the batch and the peer solve


@pytest.mark.parametrize("solver", ["microalloc batch", "piqp loop"])
def test_factor_batch(benchmark, solver):
    if solver.startswith("microalloc"):
        _needs_factor_api()
    m = BATCH_M if solver == "microalloc batch" else BATCH_PEER_M
    model, mus = _batch_instances(m)
    ra = fm.RISK_AVERSION["mv"]
    benchmark.group = f"factor batch {BATCH_M} x n={BATCH_N}"
    benchmark.extra_info.update(kind="factor_batch", solver=solver, n=BATCH_N, k=model.k, m=m)
    if solver == "microalloc batch":
        def fn():
            return microalloc.solve_mean_variance_batch(fm.factor_covariance_ma(model), mus, upper=fm.CAP,
                                                        risk_aversion=ra, check_psd=False)
    else:
        piqp = pytest.importorskip("piqp")
        insts = [fm.Instance("mv", model, mu, ra) for mu in mus]

        def fn():
            return np.array([fm.solve_piqp(i, piqp).x for i in insts])

    out = _run(benchmark, fn)
    _record_passes(benchmark, BATCH_N, per_call=m)
    if not benchmark.disabled:
        benchmark.extra_info["time_per_problem_s"] = benchmark.stats.stats.median / m
    if solver == "microalloc batch":
        assert np.all(np.asarray(out.status) == microalloc.Status.OPTIMAL), out.status
        weights = np.asarray(out.weights)
    else:
        weights = out
    gaps = []
    for row in BATCH_CHECKED_ROWS:
        inst = fm.Instance("mv", model, mus[row], ra)
        acc = fm.accuracy(inst, reference_for(("batch", BATCH_N, row), inst), weights[row])
        gaps.append(abs(acc["rel_obj_gap"]))
        assert acc["meets_target"], (row, acc)
    benchmark.extra_info.update(rows_checked=list(BATCH_CHECKED_ROWS), max_rel_obj_gap=float(max(gaps)))


# ---------------------------------------------------------------------------------------------
# the whole efficient frontier
# ---------------------------------------------------------------------------------------------


def _cvxcla_frontier(model, mu, cvxcla):
    n = model.n
    op = cvxcla.FactorCovariance(d=np.array(model.d), u=np.array(model.X), delta=np.array(model.F))
    cla = cvxcla.CLA(mean=np.array(mu), covariance=op, lower_bounds=np.zeros(n), upper_bounds=np.full(n, fm.CAP),
                     a=np.ones((1, n)), b=np.ones(1))
    # turning points as (1 / lambda, weights): lambda is the weight of the return in w'Sw/2 - lambda mu'w
    return [(1.0 / tp.lamb if tp.lamb > 0 else np.inf, np.asarray(tp.weights)) for tp in cla.turning_points]


def _microalloc_frontier(model, mu):
    fr = microalloc.efficient_frontier(fm.factor_covariance_ma(model), mu, upper=fm.CAP, check_psd=False)
    assert fr.status == microalloc.Status.OPTIMAL, fr.status
    return list(zip(np.asarray(fr.risk_aversion), np.asarray(fr.weights)))


@pytest.mark.parametrize("solver", ["microalloc", "cvxcla", "cvxcla(1 BLAS thread)"])
def test_factor_frontier(benchmark, solver):
    """cvxcla works through numpy: with OpenBLAS's default threads, and on one thread like the
    other solvers here (on 2 cores with the other one busy, its default threads took 8-23 s at
    n = 10,000 against 1.5-2 s on one thread)."""
    inst = fm.instance(FRONTIER_N, "mv")
    benchmark.group = f"factor frontier n={FRONTIER_N}"
    benchmark.extra_info.update(kind="factor_frontier", solver=solver, n=FRONTIER_N, k=inst.model.k)
    if solver == "microalloc":
        _needs_factor_api()
        fn = lambda: _microalloc_frontier(inst.model, inst.mu)  # noqa: E731
    else:
        cvxcla = pytest.importorskip("cvxcla")
        if not hasattr(cvxcla, "FactorCovariance"):
            pytest.skip(f"cvxcla {getattr(cvxcla, '__version__', '?')} has no factor-model backend")
        benchmark.extra_info["cvxcla_version"] = getattr(cvxcla, "__version__", "?")
        if solver.endswith("thread)"):
            def fn():
                with one_blas_thread():
                    return _cvxcla_frontier(inst.model, inst.mu, cvxcla)
        else:
            fn = lambda: _cvxcla_frontier(inst.model, inst.mu, cvxcla)  # noqa: E731
    points = _run(benchmark, fn)
    benchmark.extra_info["turning_points"] = len(points)
    _record_passes(benchmark, FRONTIER_N)
    # three turning points inside the path, each against the reference at its risk aversion
    inner = [p for p in points if np.isfinite(p[0]) and p[0] > 0]
    assert len(inner) >= 3, len(points)
    gaps = []
    for ra, w in (inner[len(inner) // 4], inner[len(inner) // 2], inner[(3 * len(inner)) // 4]):
        point = fm.Instance("mv", inst.model, inst.mu, float(ra))
        acc = fm.accuracy(point, reference_for(("frontier", FRONTIER_N, float(ra)), point), w)
        gaps.append(abs(acc["rel_obj_gap"]))
        assert acc["meets_target"], (ra, acc)
    benchmark.extra_info["max_rel_obj_gap"] = float(max(gaps))


# ---------------------------------------------------------------------------------------------
# equal risk contribution
# ---------------------------------------------------------------------------------------------


def test_factor_erc(benchmark):
    _needs_factor_api()
    model = fm.instance(ERC_N, "mv").model
    benchmark.group = f"factor equal risk contribution n={ERC_N}"
    benchmark.extra_info.update(kind="factor_erc", solver="microalloc", n=ERC_N, k=model.k)
    r = _run(benchmark, lambda: microalloc.risk_budgeting(fm.factor_covariance_ma(model), check_psd=False))
    _record_passes(benchmark, ERC_N)
    assert r.is_optimal, r.status
    w = np.asarray(r.weights)
    rc = w * model.matvec(w) / model.quad(w)  # recomputed here from the factors
    err = float(np.abs(rc * ERC_N - 1.0).max())
    benchmark.extra_info.update(iterations=_plain(r.iterations), max_budget_error=err)
    assert np.all(w > 0) and abs(w.sum() - 1.0) <= 1e-12
    assert err <= 1e-10
