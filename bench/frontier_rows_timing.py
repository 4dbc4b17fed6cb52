"""Times the frontier under the sector caps of test_bench_constraints (the rows' walk) beside the
core's frontier without them: ``python bench/frontier_rows_timing.py [n ...]`` (one run each)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import microalloc as ma  # noqa: E402
from test_bench_constraints import CAP, instance  # noqa: E402


def main(sizes: list[int]) -> None:
    print("| n | turning points (caps) | frontier with caps | turning points (no caps) | frontier without |")
    print("|---:|---:|---:|---:|---:|")
    for n in sizes:
        s, mu, _, a, caps = instance(n)
        s = ma.Covariance(s)  # checked once, outside the timings
        c = ma.Constraints(upper=CAP, linear=(a, -np.inf, caps))
        t = time.perf_counter()
        fr = ma.efficient_frontier(s, mu, constraints=c).raise_for_status()
        with_caps = time.perf_counter() - t
        t = time.perf_counter()
        plain = ma.efficient_frontier(s, mu, upper=CAP).raise_for_status()
        without = time.perf_counter() - t
        print(f"| {n:,} | {len(fr)} | {with_caps * 1e3:.1f} ms | {len(plain)} | {without * 1e3:.1f} ms |")


if __name__ == "__main__":
    main([int(v) for v in sys.argv[1:]] or [500, 2000])
