"""Whole shares for many accounts: microalloc's batch (C++ threads, the local search) against a
loop over PyPortfolioOpt's greedy ``DiscreteAllocation`` on the same accounts. 50 holdings per
account (a universe of 50 stocks priced 5-800), targets drawn per account, values 10k-1M.
Short mode (CI): 2,000 accounts; ``MICROALLOC_BENCH_FULL=1``: 100,000. PyPortfolioOpt runs on
the first LOOP accounts (its time per account is recorded; a loop over all of them is that times
the count). Every account compared is checked: microalloc's distance to the targets is never
above the greedy allocation's.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import microalloc as ma

FULL = os.environ.get("MICROALLOC_BENCH_FULL", "") == "1"
ACCOUNTS = 100_000 if FULL else 2_000
LOOP = 500 if FULL else 50
N = 50


def accounts(m: int):
    rng = np.random.default_rng([20261203, 5])
    prices = rng.uniform(5, 800, N)
    targets = rng.dirichlet(np.full(N, 0.5), size=m) * 0.99
    values = np.exp(rng.uniform(np.log(1e4), np.log(1e6), m))
    return prices, targets, values


def distance(shares, prices, value, target):
    return float(np.linalg.norm(np.asarray(shares, dtype=float) * prices / value - target))


def greedy(prices, targets, values, k):
    from pypfopt import DiscreteAllocation

    names = [f"s{i}" for i in range(N)]
    latest = pd.Series(prices, index=names)
    out = np.zeros((k, N))
    for i in range(k):
        alloc, _ = DiscreteAllocation(dict(zip(names, targets[i])), latest,
                                      total_portfolio_value=float(values[i])).greedy_portfolio()
        out[i] = pd.Series(alloc, dtype=float).reindex(names, fill_value=0.0).to_numpy()
    return out


@pytest.mark.parametrize("solver", ["microalloc", "pypfopt greedy (loop)"])
def test_whole_shares(benchmark, solver):
    prices, targets, values = accounts(ACCOUNTS)
    benchmark.group = f"whole shares, {N} holdings per account"
    if solver == "microalloc":
        res = benchmark.pedantic(lambda: ma.whole_shares_batch(targets, prices, values), rounds=3, iterations=1)
        shares = np.asarray(res.shares)
        count = ACCOUNTS
        assert (res.cash >= 0).all()
    else:
        pytest.importorskip("pypfopt")
        shares = benchmark.pedantic(lambda: greedy(prices, targets, values, LOOP), rounds=1, iterations=1)
        count = LOOP
        ours = ma.whole_shares_batch(targets[:LOOP], prices, values[:LOOP])
        for i in range(LOOP):
            assert ours.gap[i] <= distance(shares[i], prices, values[i], targets[i]) + 1e-12
    gaps = [distance(shares[i], prices, values[i], targets[i]) for i in range(min(count, 2000))]
    benchmark.extra_info.update(kind="whole_shares", solver=solver, accounts=count, holdings=N,
                                median_distance=float(np.median(gaps)))
