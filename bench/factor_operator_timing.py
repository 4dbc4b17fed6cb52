"""Timing note for the factor-model operator of the core (a script, not a test or a benchmark run).

    PYTHONPATH=python python bench/factor_operator_timing.py [n] [k]

Times, at n = 100,000 assets and k = 50 factors by default, the products with S = X F X' + diag(d)
and the free block over half of the assets: a reset, an assign() that changes 1,000 assets (500
leave, 500 come) and a solve. Prints the median of several calls in milliseconds.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from microalloc import _core


def median_ms(fn, repeat: int = 15) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, k))
    A = rng.standard_normal((k, k)) / np.sqrt(k)
    F = A @ A.T * 1e-2
    d = rng.uniform(0.5, 2.0, n) * 1e-2
    d[:10] = 0.0  # a few assets with no specific risk
    t0 = time.perf_counter()
    m = _core.FactorModel(X, F, d)
    print(f"_core ISA {_core.ISA}; n = {n}, k = {k}, rank = {m.rank}")
    print(f"constructor (eigendecomposition, V = X R):   {1e3 * (time.perf_counter() - t0):8.2f} ms")
    x = rng.standard_normal(n)
    W = rng.standard_normal((16, n))
    print(f"apply (S x):                                 {median_ms(lambda: m.apply(x)):8.2f} ms")
    print(f"apply_rows (16 portfolios):                  {median_ms(lambda: m.apply_rows(W), 5):8.2f} ms")
    print(f"quadratic (x'Sx, compensated):               {median_ms(lambda: m.quadratic(x)):8.2f} ms")

    block = m.free_block()
    perm = rng.permutation(n)
    free = perm[: n // 2]
    rest = perm[n // 2 :]
    print(f"free block reset (|F| = {len(free)}):              "
          f"{median_ms(lambda: block.reset(free, 1.0, 0.0), 5):8.2f} ms")
    b = rng.standard_normal(len(free))
    print(f"solve (|F| = {len(free)}):                         {median_ms(lambda: block.solve(b)):8.2f} ms")

    # assign with 1,000 changes: alternate between two sets that differ by 500 out and 500 in
    other = np.concatenate([free[500:], rest[:500]])
    rng.shuffle(other)
    sets = [free, other]
    state = {"i": 0}

    def flip() -> None:
        state["i"] ^= 1
        assert block.assign(sets[state["i"]], 1.0, 0.0)

    base = block.factorizations()
    ms = median_ms(flip, 31)
    print(f"assign, 1,000 changes (|F| = {len(free)}):         {ms:8.2f} ms "
          f"({block.factorizations() - base} recomputations in 32 calls)")
    ms_sigma = median_ms(lambda: block.assign(sets[state["i"]], 2.0, 0.5), 5)
    print(f"assign, same set, new ra and sigma:          {ms_sigma:8.2f} ms")
    t0 = time.perf_counter()
    block.reset(sets[state["i"]], 1.0, 0.0)
    print(f"reset of the same set, for comparison:       {1e3 * (time.perf_counter() - t0):8.2f} ms")
    print(f"append (one asset):                          "
          f"{median_ms(lambda: (block.append(int(rest[-1])), block.remove(block.size() - 1)), 5):8.2f} ms"
          " (append + remove)")


if __name__ == "__main__":
    main()
