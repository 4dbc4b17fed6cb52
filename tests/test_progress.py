"""Progress and interruption: ``progress(done, total)`` on the long runs (the frontier's walk, a
batch, a backtest, whole shares for many accounts) is called with a done that never decreases and
ends at done == total, changes no bit of the result, and stops the run when it raises; Ctrl-C stops
a long C++ run early with KeyboardInterrupt, in this process (the signal flag set from a timer
thread) and in a child process sent a real SIGINT; the command line draws its bar on stderr."""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import microalloc as ma
from microalloc.__main__ import main
from microalloc.errors import InputError


class Stop(Exception):
    pass


class Record:
    """A progress callback that keeps its calls; raises ``error`` at call ``raise_at`` (1-based)."""

    def __init__(self, raise_at: int = 0, error: BaseException | None = None, on_first=None):
        self.calls: list[tuple[int, int]] = []
        self.raise_at, self.error, self.on_first = raise_at, error, on_first

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))
        if len(self.calls) == 1 and self.on_first is not None:
            self.on_first()
        if len(self.calls) == self.raise_at:
            raise self.error

    def check_complete(self) -> None:
        done = [d for d, _ in self.calls]
        totals = {t for _, t in self.calls}
        assert len(totals) == 1 and done == sorted(done) and done[-1] == self.calls[-1][1] > 0


def covariance(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n + 50, n))
    return np.cov(x.T)


def frontier_problem(n: int):
    return covariance(n), np.random.default_rng(1).normal(0.05, 0.02, n), 2.0 / n


def batch_problem(m: int, n: int):
    return covariance(n, 2), np.random.default_rng(3).normal(0.05, 0.02, (m, n))


def backtest_problem(days: int, n: int, policies: int):
    rng = np.random.default_rng(5)
    prices = np.exp(np.cumsum(rng.normal(0, 0.01, (days, n)), axis=0))
    pols = {f"band {i}": ma.Policy.band(absolute=0.001 + 0.0002 * i) for i in range(policies)}
    return prices, np.full(n, 1.0 / n), pols


def frontier(n: int, progress=None):
    s, mu, cap = frontier_problem(n)
    return ma.efficient_frontier(s, mu, upper=cap, check_psd=False, progress=progress)


def batch(m: int, n: int, progress=None, **kw):
    s, mu = batch_problem(m, n)
    return ma.solve_mean_variance_batch(s, mu, risk_aversion=3.0, upper=0.05, check_psd=False, progress=progress,
                                        **kw)


def backtest(days: int, n: int, policies: int, progress=None):
    prices, targets, pols = backtest_problem(days, n, policies)
    return ma.backtest_rebalancing(prices, targets, pols, costs=1e-3, periods_per_year=252, progress=progress)


# ---- the calls and the results


def test_frontier_reports_monotone_progress_and_the_same_path():
    rec = Record()
    with_cb = frontier(400, rec)
    without = frontier(400)
    rec.check_complete()
    assert len(with_cb.weights) > 300  # many turning points
    assert np.array_equal(with_cb.weights, without.weights) and np.array_equal(with_cb.risk_aversion,
                                                                                without.risk_aversion)


def test_batch_reports_rows_and_the_same_results():
    rec = Record()
    with_cb = batch(2000, 100, rec)
    without = batch(2000, 100)
    rec.check_complete()
    assert rec.calls[-1] == (2000, 2000)
    assert np.array_equal(np.asarray(with_cb.weights), np.asarray(without.weights), equal_nan=True)
    assert np.array_equal(with_cb.status_code, without.status_code)


def test_backtest_reports_policy_days_and_the_same_values():
    rec = Record()
    with_cb = backtest(3000, 100, 12, rec)
    without = backtest(3000, 100, 12)
    rec.check_complete()
    assert rec.calls[-1] == (12 * 3000, 12 * 3000)
    assert np.array_equal(np.asarray(with_cb.values), np.asarray(without.values))


def test_whole_shares_batch_reports_accounts():
    rng = np.random.default_rng(6)
    w = rng.dirichlet(np.ones(20), size=300)
    rec = Record()
    with_cb = ma.whole_shares_batch(w, np.full(20, 37.0), 1e5, progress=rec)
    without = ma.whole_shares_batch(w, np.full(20, 37.0), 1e5)
    rec.check_complete()
    assert rec.calls[-1] == (300, 300)
    assert np.array_equal(np.asarray(with_cb.shares), np.asarray(without.shares))


def test_a_frontier_with_rows_reports_its_end():
    s, mu, _ = frontier_problem(20)
    rec = Record()
    c = ma.Constraints(upper=0.2, groups=["a"] * 10 + ["b"] * 10, group_upper={"a": 0.5})
    ma.efficient_frontier(s, mu, constraints=c, progress=rec)
    assert rec.calls == [(1, 1)]


@pytest.mark.parametrize("bad", [1, "tqdm", object()])
def test_a_progress_that_is_not_callable_is_refused(bad):
    s, mu, _ = frontier_problem(5)
    for call in (lambda: ma.efficient_frontier(s, mu, progress=bad),
                 lambda: ma.max_sharpe(s, mu, progress=bad),
                 lambda: ma.solve_mean_variance_batch(s, mu[None, :], progress=bad)):
        with pytest.raises(InputError) as e:
            call()
        assert e.value.argument == "progress"


# ---- an exception in the callback stops the run


@pytest.mark.parametrize("run", [lambda p: frontier(600, p), lambda p: batch(4000, 150, p),
                                 lambda p: backtest(6000, 150, 24, p)], ids=["frontier", "batch", "backtest"])
def test_an_exception_in_the_callback_propagates_and_stops_the_run(run):
    rec = Record(raise_at=1, error=Stop("from the callback"))
    with pytest.raises(Stop, match="from the callback"):
        run(rec)
    assert len(rec.calls) == 1
    done, total = rec.calls[0]
    assert done < total  # the first call came before the end: the run stopped early


# ---- Ctrl-C


def test_ctrl_c_stops_a_batch_without_a_callback():
    m, n = 3000, 300
    t0 = time.perf_counter()
    batch(m // 10, n)
    estimate = 10 * (time.perf_counter() - t0)  # the whole batch, uninterrupted
    timer = threading.Timer(0.2, _thread.interrupt_main)
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            batch(m, n)
        elapsed = time.perf_counter() - t0
    finally:
        timer.cancel()
    assert elapsed < 0.5 * estimate, (elapsed, estimate)


@pytest.mark.parametrize("run", [lambda p: frontier(1000, p), lambda p: backtest(20000, 200, 48, p)],
                         ids=["frontier", "backtest"])
def test_ctrl_c_stops_a_run_early(run):
    timers = []

    def interrupt_soon():  # on the first call: the run is inside the core
        timers.append(threading.Timer(0.1, _thread.interrupt_main))
        timers[0].start()

    rec = Record(on_first=interrupt_soon)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(rec)
    finally:
        for t in timers:
            t.cancel()
    assert rec.calls and rec.calls[-1][0] < rec.calls[-1][1]


@pytest.mark.parametrize("method", ["active_set", "projected_gradient"])
def test_ctrl_c_stops_a_long_single_solve(method):
    """A single solve has no callback; Ctrl-C is still checked every 50 ms inside the core. Without
    the check, KeyboardInterrupt would come only after the whole solve returned."""
    rng = np.random.default_rng(0)
    n = 2000
    s = np.cov(rng.normal(size=(n + 20, n)).T)
    mu = rng.normal(0.05, 0.02, n)
    kw = dict(risk_aversion=3.0, lower=-1.0, upper=1.0, method=method, check_psd=False)
    if method == "projected_gradient":
        kw.update(tol=2e-14, max_iter=20000)  # about 10 ms an iteration: minutes to the limit
    t0 = time.perf_counter()
    ma.solve_mean_variance(s, mu, **{**kw, "max_iter": 200} if method == "projected_gradient" else kw)
    full = (time.perf_counter() - t0) * (100 if method == "projected_gradient" else 1)
    timer = threading.Timer(0.1, _thread.interrupt_main)
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            ma.solve_mean_variance(s, mu, **kw)
        elapsed = time.perf_counter() - t0
    finally:
        timer.cancel()
    assert elapsed < 0.6 * full, (elapsed, full)


CHILD = """
import sys, time
import numpy as np
import microalloc as ma
n, m = {n}, {m}
s = np.cov(np.random.default_rng(2).normal(size=(n + 50, n)).T)
mu = np.random.default_rng(3).normal(0.05, 0.02, (m, n))
print("ready", flush=True)
ma.solve_mean_variance_batch(s, mu, risk_aversion=3.0, upper=0.05, check_psd=False)
print("finished", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_sigint_stops_a_child_process_with_keyboard_interrupt():
    m, n = 1000, 300
    t0 = time.perf_counter()
    batch(m, n)
    estimate = 10 * (time.perf_counter() - t0)  # the child's batch, 10 m rows, uninterrupted
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(ma.__file__).parent.parent),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(n=n, m=10 * m)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # inside the batch
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=max(60.0, 2 * estimate))
        after = time.perf_counter() - sent
    finally:
        proc.kill()
    assert "KeyboardInterrupt" in err and "finished" not in out
    assert proc.returncode == -signal.SIGINT  # Python exits by the signal after an uncaught KeyboardInterrupt
    assert after < 0.5 * estimate, (after, estimate)


# ---- the command line's bar


def test_the_rebalancing_command_draws_its_bar_when_forced(capsys):
    pytest.importorskip("tqdm")
    assert main(["rebalancing", "--progress"]) == 0
    assert "backtest" in capsys.readouterr().err
    assert main(["rebalancing", "--no-progress"]) == 0
    assert "backtest" not in capsys.readouterr().err
    assert main(["rebalancing"]) == 0  # stderr is not a terminal here
    assert "backtest" not in capsys.readouterr().err


def test_the_optimize_command_draws_its_bar_for_max_sharpe(tmp_path, capsys):
    pytest.importorskip("tqdm")
    import pandas as pd

    rng = np.random.default_rng(8)
    dates = pd.bdate_range("2023-01-02", periods=300, name="date")
    prices = pd.DataFrame(50 * np.exp(np.cumsum(rng.normal(0.0004, 0.01, (300, 40)), axis=0)), index=dates,
                          columns=[f"A{i}" for i in range(40)])
    prices.to_csv(tmp_path / "prices.csv")
    args = ["optimize", str(tmp_path / "prices.csv"), "--objective", "max-sharpe", "--cap", "0.1"]
    assert main([*args, "--progress"]) == 0
    assert "frontier" in capsys.readouterr().err
    assert main([*args, "--no-progress"]) == 0
    assert "frontier" not in capsys.readouterr().err
