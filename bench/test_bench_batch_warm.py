"""Warm re-solves, batches and the cost of input validation (see bench/README.md).

* warm re-solve after a 1% perturbation of mu, against a cold solve of the same problem;
* a batch of 1000 problems at n = 100 sharing one covariance, against a loop of the fastest peers;
* validation alone (the O(n^2) fingerprint pass on a covariance seen before, and the full first-call
  checks including the O(n^3) PSD test) against the solve;
* many free assets (long-short minimum variance, every asset free at the optimum): microalloc against
  numpy's Cholesky factorisation of the free block and against proxsuite.
"""

from __future__ import annotations

import numpy as np
import pytest

import microalloc as ma
from microalloc import _core, covariance

BATCH_M = 1000
BATCH_N = 100


def _perturbed(n: int, cov_type: str, make):
    cov, mu = make(n, cov_type)
    mu2 = mu * (1.0 + 0.01 * np.random.default_rng(n).standard_normal(n))
    return cov, mu, mu2


@pytest.mark.parametrize("start", ["cold", "warm"])
def test_warm_resolve(benchmark, n, start, make_data_fn):
    cov, mu, mu2 = _perturbed(n, "factor", make_data_fn)
    prev = ma.solve_mean_variance(cov, mu, risk_aversion=5.0, upper=0.05)
    ws = prev if start == "warm" else None
    benchmark.group = f"n={n} warm re-solve (mu +1%)"
    benchmark.extra_info.update(solver=f"microalloc {start}", n=n, kind="warm")
    r = benchmark(lambda: ma.solve_mean_variance(cov, mu2, risk_aversion=5.0, upper=0.05, warm_start=ws))
    benchmark.extra_info["iterations"] = r.iterations
    assert r.is_optimal


def _batch_data(make):
    cov, mu = make(BATCH_N, "factor")
    rng = np.random.default_rng(7)
    return cov, mu + 0.02 * rng.standard_normal((BATCH_M, BATCH_N))


def _peer_adapters():
    """The peers' adapters of test_bench_mean_variance.py (loaded by path: --import-mode=importlib)."""
    import importlib.util
    import sys
    from pathlib import Path

    mod = sys.modules.get("_bench_mv")
    if mod is None:
        spec = importlib.util.spec_from_file_location("_bench_mv", Path(__file__).with_name("test_bench_mean_variance.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules["_bench_mv"] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
    return {"daqp": mod.solve_daqp, "piqp": mod.solve_piqp, "proxsuite": mod.solve_proxsuite}


@pytest.mark.parametrize("solver", ["microalloc batch", "microalloc loop", "daqp loop", "piqp loop", "proxsuite loop"])
def test_batch(benchmark, solver, make_data_fn, problem_cls):
    cov, mus = _batch_data(make_data_fn)
    m = mus.shape[0] if not benchmark.disabled else 50
    mus = mus[:m]
    benchmark.group = f"batch {m} x n={BATCH_N}"
    benchmark.extra_info.update(solver=solver, n=BATCH_N, m=m, kind="batch")
    if solver == "microalloc batch":
        fn = lambda: ma.solve_mean_variance_batch(cov, mus, risk_aversion=5.0, upper=0.05).weights  # noqa: E731
    elif solver == "microalloc loop":
        fn = lambda: np.array([ma.solve_mean_variance(cov, x, risk_aversion=5.0, upper=0.05).weights for x in mus])  # noqa: E731
    else:
        name = solver.split()[0]
        mod = pytest.importorskip(name)
        adapter = _peer_adapters()[name]
        probs = [problem_cls(n=BATCH_N, cap=0.05, cov_type="factor", cov=cov, mu=x) for x in mus]
        fn = lambda: np.array([adapter(p, mod).x for p in probs])  # noqa: E731
    w = benchmark.pedantic(fn, rounds=3 if not benchmark.disabled else 1, iterations=1)
    ref = ma.solve_mean_variance_batch(cov, mus, risk_aversion=5.0, upper=0.05, threads=1)
    assert ref.is_optimal.all()
    f = lambda W: 2.5 * np.einsum("ij,jk,ik->i", W, cov, W) - np.einsum("ij,ij->i", mus, W)  # noqa: E731
    gap = np.abs(f(np.asarray(w)) - ref.objective) / np.abs(ref.objective)
    benchmark.extra_info["max_rel_obj_gap"] = float(gap.max())
    assert gap.max() <= 1e-8


@pytest.mark.parametrize(
    "what", ["fingerprint (seen before)", "full checks (first call)", "Covariance construction", "solve (C++)"]
)
def test_validation_cost(benchmark, n, what, make_data_fn):
    cov, mu = make_data_fn(n, "factor")
    lo, up, e = np.zeros(n), np.full(n, 0.05), np.empty(0)
    benchmark.group = f"n={n} validation"
    benchmark.extra_info.update(solver=what, n=n, kind="validation")
    if what.startswith("fingerprint"):
        benchmark(covariance.covariance_key, cov)
    elif what.startswith("full"):
        def full():
            covariance.clear_covariance_cache()
            covariance.as_covariance(cov, check_psd=True)
        benchmark.pedantic(full, rounds=3, iterations=1)
    elif what.startswith("Covariance"):
        benchmark.pedantic(ma.Covariance, args=(cov,), rounds=3, iterations=1)
    else:
        r = benchmark(_core.solve_active_set, cov, mu, lo, up, e, 5.0, 1.0, e, 1e-9, 20000)
        assert ma.Status(int(r.status)) is ma.Status.OPTIMAL  # the core's own result: an int code


@pytest.mark.parametrize("solver", ["microalloc", "numpy cholesky (free block)", "proxsuite"])
def test_many_free(benchmark, n, solver, make_data_fn, problem_cls):
    cov, _ = make_data_fn(n, "factor")
    c = ma.Covariance(cov)
    benchmark.group = f"n={n} long-short minimum variance (all free)"
    benchmark.extra_info.update(solver=solver, n=n, kind="many_free")
    ref = ma.solve_mean_variance(c, lower=-1.0, upper=1.0)
    free = np.setdiff1d(np.arange(n), np.r_[ref.active_lower, ref.active_upper])
    if solver == "microalloc":
        r = benchmark(lambda: ma.solve_mean_variance(c, lower=-1.0, upper=1.0))
        assert r.is_optimal
        benchmark.extra_info.update(iterations=r.iterations, n_free=int(free.size), **r.info)
    elif solver.startswith("numpy"):
        block = np.ascontiguousarray(cov[np.ix_(free, free)])
        benchmark(np.linalg.cholesky, block)
    else:
        pytest.importorskip("proxsuite")
        p = problem_cls(n=n, cap=1.0, cov_type="factor", cov=cov, mu=np.zeros(n), risk_aversion=1.0, lower=-1.0)
        ans = benchmark(lambda: _peer_adapters()["proxsuite"](p, __import__("proxsuite")))
        f = lambda w: 0.5 * w @ cov @ w  # noqa: E731
        assert abs(f(ans.x) - ref.objective) <= 1e-8 * abs(ref.objective)


def _sample_covariance(n: int) -> np.ndarray:
    """A sample covariance of T = 1.2 n periods of a one-factor panel (seeded): the long-only
    minimum variance keeps about a tenth of the assets (79-190 free at n = 500-2,000)."""
    rng = np.random.default_rng([5, n])
    t = int(1.2 * n)
    r = rng.standard_normal((t, n)) * rng.uniform(0.1, 0.4, n) + rng.standard_normal((t, 1)) * 0.15
    cov = np.cov(r, rowvar=False)
    return 0.5 * (cov + cov.T)


@pytest.mark.parametrize("upper", [1.0, 0.02], ids=["long-only", "cap=2%"])
@pytest.mark.parametrize("solver", ["microalloc", "numpy cholesky (free block) + S @ w"])
def test_mixed_free(benchmark, n, upper, solver):
    """The mixed case: a hundred or more assets free among many at a bound, where pivoting one asset
    at a time is the slow way. The yardstick is the least any method does: one Cholesky
    factorisation of the optimum's free block and one S @ w."""
    cov = _sample_covariance(n)
    c = ma.Covariance(cov)
    benchmark.group = f"n={n} long-only minimum variance, sample covariance, {'no cap' if upper == 1.0 else 'cap 2%'}"
    ref = ma.solve_mean_variance(c, upper=upper)
    assert ref.is_optimal
    w = np.asarray(ref.weights)
    free = np.setdiff1d(np.arange(n), np.r_[ref.active_lower, ref.active_upper])
    benchmark.extra_info.update(solver=solver, n=n, kind="mixed_free", cap=upper, n_free=int(free.size))
    if solver == "microalloc":
        r = benchmark(lambda: ma.solve_mean_variance(c, upper=upper))
        assert r.is_optimal
        benchmark.extra_info.update(iterations=r.iterations, **r.info)
    else:
        block = np.ascontiguousarray(cov[np.ix_(free, free)])
        benchmark(lambda: (np.linalg.cholesky(block), cov @ w))
