"""Micro-rebalancing: the band check of a large batch of portfolios against a well-vectorised numpy
implementation of the same outputs (see bench/README.md).

1,000,000 portfolios x 50 assets in full mode (20,000 x 50 in short mode), shared targets, +-3
points or +-25% (the tighter). Outputs: breach mask, breach count, largest drift in band widths,
L1 drift, trigger. The memory bandwidth reached is reported as bytes of weights read per second,
and as a fraction of numpy's own full reduction over the same array (`w.sum(axis=1)`), the
practical read bandwidth of this machine for one pass.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import microalloc as ma

FULL = os.environ.get("MICROALLOC_BENCH_FULL", "") == "1"
M, N = (1_000_000, 50) if FULL else (20_000, 50)


def numpy_band_check(w, t, h):
    """The same outputs as microalloc.check_bands with shared targets, vectorised with numpy."""
    breach = (w > t + h) | (w < t - h)
    count = breach.sum(axis=1)
    ad = np.abs(w - t)
    max_drift = (ad / h).max(axis=1)
    l1 = 0.5 * ad.sum(axis=1)
    return breach, count, max_drift, l1, count > 0


@pytest.fixture(scope="module")
def drifted():
    rng = np.random.default_rng(7)
    t = rng.dirichlet(np.full(N, 5.0))
    w = t * np.exp(rng.normal(0.0, 0.15, (M, N)))
    w /= w.sum(axis=1, keepdims=True)
    h = np.minimum(0.03, 0.25 * t)
    return w, t, h


def _read_bandwidth(w, repeats=5):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        w.sum(axis=1)
        best = min(best, time.perf_counter() - t0)
    return w.nbytes / best


@pytest.mark.parametrize("impl", ["microalloc", "numpy"])
def test_band_check(benchmark, drifted, impl):
    w, t, h = drifted
    benchmark.group = f"band check {M} x {N}"
    benchmark.extra_info.update(solver=impl, n=N, kind="rebalance", portfolios=M)
    if impl == "microalloc":
        fn = lambda: ma.check_bands(w, t, absolute=0.03, relative=0.25)  # noqa: E731
    else:
        fn = lambda: numpy_band_check(w, t, h)  # noqa: E731
    out = benchmark.pedantic(fn, rounds=5 if FULL else 20, iterations=1, warmup_rounds=1)
    if benchmark.stats is not None:  # None when timing is disabled (the CI smoke run)
        median = benchmark.stats.stats.median
        reference = _read_bandwidth(w)
        benchmark.extra_info.update(
            bytes_per_s=w.nbytes / median,
            numpy_sum_bytes_per_s=reference,
            fraction_of_numpy_sum=(w.nbytes / median) / reference,
        )
    if impl == "microalloc":
        ref = numpy_band_check(w, t, h)
        np.testing.assert_array_equal(out.breach, ref[0])
        np.testing.assert_array_equal(out.n_breaches, ref[1])
        np.testing.assert_allclose(out.max_drift, ref[2], rtol=1e-13)
        np.testing.assert_allclose(out.l1_drift, ref[3], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Backtest of 100 band policies (absolute bands 0.5% .. 5%, back to target, 10 bp costs) over the
# first 8,000 days of the 20 S&P 500 stocks in tests/data (2,000 days in short mode), against
# plain numpy loops over the days: one policy at a time (the straightforward loop), and all
# policies at once per day (vectorised across the policies).
# ---------------------------------------------------------------------------------------------

DAYS, POLICIES = (8000, 100) if FULL else (2000, 20)
COST = 0.001


@pytest.fixture(scope="module")
def sp500_prices():
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data" / "sp500_prices.csv"
    p = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=range(1, 21))[:DAYS]
    return np.ascontiguousarray(p), np.full(20, 0.05), np.linspace(0.005, 0.05, POLICIES)


def numpy_loop_one_policy(p, t, band):
    w, v, values = t.copy(), 1.0, np.empty(len(p))
    values[0] = 1.0
    growth = p[1:] / p[:-1]
    for d in range(1, len(p)):
        w = w * growth[d - 1]
        g = w.sum()
        v *= g
        w /= g
        if np.any(np.abs(w - t) > band):
            v *= 1.0 - COST * np.abs(t - w).sum()
            w = t.copy()
        values[d] = v
    return values


def numpy_loop_all_policies(p, t, bands):
    k = bands.size
    w, v = np.tile(t, (k, 1)), np.ones(k)
    values = np.empty((len(p), k))
    values[0] = 1.0
    growth = p[1:] / p[:-1]
    for d in range(1, len(p)):
        w *= growth[d - 1]
        g = w.sum(axis=1)
        v *= g
        w /= g[:, None]
        hit = (np.abs(w - t) > bands[:, None]).any(axis=1)
        if hit.any():
            v[hit] *= 1.0 - COST * np.abs(t - w[hit]).sum(axis=1)
            w[hit] = t
        values[d] = v
    return values


@pytest.mark.parametrize("impl", ["microalloc", "numpy_per_day_vectorised", "numpy_per_policy"])
def test_backtest_band_grid(benchmark, sp500_prices, impl):
    p, t, bands = sp500_prices
    benchmark.group = f"backtest {POLICIES} band policies x {DAYS} days x 20 assets"
    benchmark.extra_info.update(solver=impl, n=20, kind="rebalance", days=DAYS, policies=POLICIES)
    if impl == "microalloc":
        policies = {f"{b:.4f}": ma.Policy.band(absolute=b, action="target") for b in bands}
        res = benchmark.pedantic(lambda: ma.backtest_rebalancing(p, t, policies, costs=COST, periods_per_year=252), rounds=5, iterations=1)
        ref = numpy_loop_all_policies(p, t, bands)
        np.testing.assert_allclose(res.values.to_numpy(), ref, rtol=1e-10)
    elif impl == "numpy_per_day_vectorised":
        benchmark.pedantic(numpy_loop_all_policies, args=(p, t, bands), rounds=3, iterations=1)
    else:
        benchmark.pedantic(lambda: [numpy_loop_one_policy(p, t, b) for b in bands], rounds=1, iterations=1)
