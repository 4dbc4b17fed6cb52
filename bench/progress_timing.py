"""The cost of progress and interruption, and Ctrl-C's latency: ``python bench/progress_timing.py
[repeats]``. Overhead: the best of ``repeats`` runs of a batch (2,000 problems, n = 100, one and
two threads), a frontier (n = 600) and a backtest, with ``progress=None`` (the signal check alone)
and with a callback. Latency: a child process running a long batch, frontier or backtest is sent
SIGINT; the time until its ``except KeyboardInterrupt`` runs (both read the system's monotonic
clock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import microalloc as ma

SETUP = """
import numpy as np, microalloc as ma
def cov(n, seed=0):
    return np.cov(np.random.default_rng(seed).normal(size=(n + 50, n)).T)
def batch(m, n, threads=None, progress=None):
    s, mu = cov(n, 2), np.random.default_rng(3).normal(0.05, 0.02, (m, n))
    return lambda: ma.solve_mean_variance_batch(s, mu, risk_aversion=3.0, upper=0.05, check_psd=False,
                                                threads=threads, progress=progress)
def frontier(n, progress=None):
    s, mu = cov(n), np.random.default_rng(1).normal(0.05, 0.02, n)
    return lambda: ma.efficient_frontier(s, mu, upper=2.0 / n, check_psd=False, progress=progress)
def backtest(days, n, policies, progress=None):
    rng = np.random.default_rng(5)
    prices = np.exp(np.cumsum(rng.normal(0, 0.01, (days, n)), axis=0))
    pols = {f"band {i}": ma.Policy.band(absolute=0.001 + 0.0002 * i) for i in range(policies)}
    return lambda: ma.backtest_rebalancing(prices, np.full(n, 1.0 / n), pols, costs=1e-3, periods_per_year=252,
                                           progress=progress)
"""

CHILD = SETUP + """
import sys, time
run = {run}
print("ready", flush=True)
try:
    run()
    print("finished", flush=True)
except KeyboardInterrupt:
    print(time.monotonic(), flush=True)
"""


def best(run, repeats: int) -> float:
    out = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        out = min(out, time.perf_counter() - t)
    return out


def overhead(repeats: int) -> None:
    ns: dict = {}
    exec(SETUP, ns)
    calls = []
    cb = lambda done, total: calls.append(done)  # noqa: E731
    cases = [("batch 2,000 x n=100, 1 thread", lambda p: ns["batch"](2000, 100, 1, p)),
             ("batch 2,000 x n=100, 2 threads", lambda p: ns["batch"](2000, 100, 2, p)),
             ("frontier n=600", lambda p: ns["frontier"](600, p)),
             ("backtest 5,000 days x 100 assets x 16 policies", lambda p: ns["backtest"](5000, 100, 16, p))]
    print("| run | progress=None | with a callback (calls) |")
    print("|---|---:|---:|")
    for name, make in cases:
        plain, with_cb = make(None), make(cb)
        a = b = np.inf
        for _ in range(repeats):  # interleaved: the machine's load moves both alike
            a = min(a, best(plain, 1))
            calls.clear()
            b = min(b, best(with_cb, 1))
        print(f"| {name} | {a * 1e3:.1f} ms | {b * 1e3:.1f} ms ({len(calls)}) |")


def latency(trials: int) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(ma.__file__).parent.parent),
                                                       os.environ.get("PYTHONPATH", "")]))
    print("\n| run in the child | SIGINT -> KeyboardInterrupt: median | max |")
    print("|---|---:|---:|")
    for name, run in [("batch 20,000 x n=300", "batch(20000, 300)"), ("frontier n=1500", "frontier(1500)"),
                      ("backtest 50,000 days x 300 x 8", "backtest(50000, 300, 8)")]:
        lat = []
        for _ in range(trials):
            p = subprocess.Popen([sys.executable, "-c", CHILD.replace("{run}", run)], stdout=subprocess.PIPE, text=True,
                                 env=env)
            assert p.stdout.readline().strip() == "ready"
            time.sleep(0.5)
            sent = time.monotonic()
            p.send_signal(signal.SIGINT)
            out, _ = p.communicate(timeout=120)
            lat.append(float(out.split()[-1]) - sent)
        print(f"| {name} | {np.median(lat) * 1e3:.0f} ms | {max(lat) * 1e3:.0f} ms |")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    overhead(n)
    latency(n)
