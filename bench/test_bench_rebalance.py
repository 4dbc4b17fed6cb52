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
