"""Whole shares: exact against brute force on small problems (every affordable share count
enumerated), the lower bound never above the brute-force optimum, never worse than
PyPortfolioOpt's greedy DiscreteAllocation (test-only) on examples of its kind, the batch equal to
the single calls, and the errors that name the argument."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma


def brute_force(t, prices, lots, value, s):
    """The least gap over every share count (in lots) that the value affords."""
    unit = prices * lots
    best = np.inf
    for q in itertools.product(*[range(int(value // u) + 1) for u in unit]):
        q = np.array(q)
        if q @ unit > value:
            continue
        d = q * unit / value - t
        best = min(best, d @ s @ d)
    return np.sqrt(max(best, 0.0))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 4), with_cov=st.booleans(), lots=st.booleans())
def test_exact_against_brute_force(seed, n, with_cov, lots):
    rng = np.random.default_rng(seed)
    t = rng.dirichlet(np.ones(n)) * rng.uniform(0.7, 1.0)
    prices = rng.uniform(20, 400, n)
    lot = rng.integers(1, 4, n) if lots else np.ones(n, dtype=int)
    value = float(rng.uniform(300, 2500))
    if with_cov:
        x = rng.normal(size=(n + 2, n))
        s = x.T @ x / (n + 2) * 0.04
    else:
        s = np.eye(n)
    res = ma.whole_shares(t, prices, value, lot_sizes=lot, cov=s if with_cov else None, exact=True)
    best = brute_force(t, prices, lot, value, s)
    assert res.status == ma.Status.OPTIMAL
    assert res.gap <= best * (1 + 1e-7) + 1e-12
    assert res.lower_bound <= best * (1 + 1e-7) + 1e-12
    shares = np.asarray(res.shares)
    assert (shares % lot == 0).all() and (shares >= 0).all()
    assert res.cash >= 0 and abs(res.cash - (value - shares @ prices)) <= 1e-9 * value
    np.testing.assert_allclose(res.weights, shares * prices / value, rtol=1e-15)
    d = shares * prices / value - t
    assert res.gap == pytest.approx(np.sqrt(d @ s @ d), rel=1e-9, abs=1e-15)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 4))
def test_a_node_limit_keeps_a_true_lower_bound(seed, n):
    rng = np.random.default_rng(seed)
    t = rng.dirichlet(np.ones(n))
    prices = rng.uniform(20, 400, n)
    value = float(rng.uniform(500, 2500))
    res = ma.whole_shares(t, prices, value, exact=True, max_nodes=2)
    best = brute_force(t, prices, np.ones(n), value, np.eye(n))
    assert res.lower_bound <= best * (1 + 1e-7) + 1e-12 <= res.gap * (1 + 1e-7) + 2e-12
    assert res.status in (ma.Status.OPTIMAL, ma.Status.MAX_ITER)


TICKERS = ["GOOG", "AAPL", "FB", "BABA", "AMZN", "GE", "AMD", "WMT", "BAC", "GM", "T", "UAA", "SHLD", "XOM",
           "RRC", "BBY", "MA", "PFE", "JPM", "SBUX"]


def pypfopt_example(seed):
    """An example of the kind PyPortfolioOpt's DiscreteAllocation tests use: 20 stocks, max-Sharpe
    weights from its EfficientFrontier on simulated prices, the latest prices."""
    from pypfopt import EfficientFrontier, expected_returns, risk_models

    rng = np.random.default_rng(seed)
    start = rng.uniform(5, 1500, 20)
    paths = start * np.exp(np.cumsum(rng.normal(0.0005, 0.02, (500, 20)), axis=0))
    prices = pd.DataFrame(paths, columns=TICKERS)
    ef = EfficientFrontier(expected_returns.mean_historical_return(prices), risk_models.sample_cov(prices))
    weights = pd.Series(ef.max_sharpe())
    return weights, prices.iloc[-1]


@pytest.mark.parametrize("seed, value", [(1, 10_000), (2, 10_000), (3, 50_000), (4, 80_000), (5, 3_000)])
def test_never_worse_than_pypfopt_greedy(seed, value):
    from pypfopt import DiscreteAllocation

    weights, latest = pypfopt_example(seed)
    alloc, _ = DiscreteAllocation(weights.to_dict(), latest, total_portfolio_value=value).greedy_portfolio()
    theirs = pd.Series(alloc, dtype=float).reindex(TICKERS, fill_value=0.0)
    ours = ma.whole_shares(weights, latest, value)
    assert list(ours.shares.index) == TICKERS  # labelled by the weights' index
    t = weights.reindex(TICKERS).to_numpy()

    def distance(shares):
        return float(np.linalg.norm(shares.to_numpy() * latest.to_numpy() / value - t))

    assert distance(ours.shares) <= distance(theirs) + 1e-12
    assert ours.cash >= 0


def test_the_batch_equals_the_single_calls_and_marks_bad_rows():
    rng = np.random.default_rng(7)
    n, m = 12, 9
    targets = rng.dirichlet(np.ones(n), size=m) * 0.98
    prices = rng.uniform(10, 300, n)
    values = rng.uniform(5_000, 50_000, m)
    targets[3, 0] = np.nan
    values[5] = -1.0
    x = rng.normal(size=(30, n))
    s = x.T @ x / 30 * 0.04
    for exact in (False, True):
        batch = ma.whole_shares_batch(targets, prices, values, cov=s, exact=exact, max_nodes=500, threads=2)
        assert batch.status[3] == "INVALID_INPUT" and batch.status[5] == "INVALID_INPUT"
        assert (batch.shares[3] == -1).all() and np.isnan(batch.gap[5])
        for i in (0, 1, 2, 4, 6, 7, 8):
            one = ma.whole_shares(targets[i], prices, values[i], cov=s, exact=exact, max_nodes=500)
            np.testing.assert_array_equal(batch.shares[i], one.shares)
            assert batch.gap[i] == one.gap and batch.cash[i] == one.cash
            assert batch.status[i] == one.status.name


def test_the_local_search_is_never_worse_than_rounding_down():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(2, 30))
        t = rng.dirichlet(np.ones(n))
        prices = rng.uniform(5, 500, n)
        value = float(rng.uniform(1_000, 100_000))
        res = ma.whole_shares(t, prices, value, exact=False)
        down = np.floor(t * value / prices)
        assert res.gap <= np.linalg.norm(down * prices / value - t) + 1e-15
        assert res.status == ma.Status.MAX_ITER  # not proven without branch and bound


def test_current_shares_give_the_trades():
    res = ma.whole_shares([0.5, 0.5], [10.0, 20.0], 1000, current_shares=[40, 10])
    np.testing.assert_array_equal(res.trades, np.asarray(res.shares) - [40, 10])


@pytest.mark.parametrize(
    "args, kwargs, name",
    [
        (([-0.1, 0.5], [10.0, 20.0], 1000), {}, "weights"),
        (([0.7, 0.5], [10.0, 20.0], 1000), {}, "weights"),
        (([0.5, 0.5], [10.0, 0.0], 1000), {}, "prices"),
        (([0.5, 0.5], [10.0, 20.0], 0.0), {}, "value"),
        (([0.5, 0.5], [10.0, 20.0], 1000), {"lot_sizes": 2.5}, "lot_sizes"),
        (([0.5, 0.5], [10.0, 20.0], 1000), {"lot_sizes": [1, 0]}, "lot_sizes"),
        (([0.5, 0.5], [10.0, np.nan], 1000), {}, "prices"),
        (([0.5, 0.5], [10.0, 20.0, 5.0], 1000), {}, "prices"),
    ],
)
def test_bad_arguments_are_named(args, kwargs, name):
    with pytest.raises(ma.InputError) as e:
        ma.whole_shares(*args, **kwargs)
    assert e.value.argument == name


def test_labelled_prices_are_aligned_or_refused():
    w = pd.Series([0.5, 0.3, 0.2], index=["a", "b", "c"])
    p = pd.Series([20.0, 10.0, 50.0], index=["b", "a", "c"])
    res = ma.whole_shares(w, p, 1000)
    same = ma.whole_shares(w.to_numpy(), [10.0, 20.0, 50.0], 1000)
    np.testing.assert_array_equal(np.asarray(res.shares), np.asarray(same.shares))
    with pytest.raises(ma.InputError) as e:
        ma.whole_shares(w, pd.Series([1.0, 2.0, 3.0], index=["x", "y", "z"]), 1000)
    assert e.value.argument == "prices"


def test_hostile_share_inputs_are_named_or_marked():
    with pytest.raises(ma.InputError) as e:
        ma.whole_shares([], [], 1000)
    assert e.value.argument == "weights"
    with pytest.raises(ma.InputError) as e:
        ma.whole_shares_batch(np.zeros((2, 0)), np.zeros(0), 1000)
    assert e.value.argument == "weights"
    with pytest.raises(ma.InputError) as e:  # 1e20 shares of the first asset: counts no longer exact
        ma.whole_shares([0.5, 0.5], [1e-3, 20.0], 1e17)
    assert e.value.argument == "prices"
    with pytest.raises(ma.InputError) as e:  # beyond 2^53 shares of every asset
        ma.whole_shares([0.5, 0.5], [1.0, 20.0], 1e20)
    assert e.value.argument == "value"
    with pytest.raises(ma.InputError) as e:
        ma.whole_shares(["a"], [10.0], 1000)
    assert e.value.argument == "weights"
    with pytest.raises(ma.InputError) as e:
        ma.whole_shares([1.0], [10.0], 1000, max_nodes=1e30)
    assert e.value.argument == "max_nodes"
    with pytest.raises(ma.InputError) as e:
        ma.whole_shares([0.5, 0.5], [10.0, 20.0], 1000, current_shares=[1.7, 0])
    assert e.value.argument == "current_shares"
    batch = ma.whole_shares_batch([[0.9, 0.9], [0.5, 0.5], [0.5, 0.5]], [1e-3, 20.0], [1000, 1000, 1e25],
                                  exact=True)
    assert list(batch.status) == ["INVALID_INPUT", "OPTIMAL", "INVALID_INPUT"]  # sum > 1; 1e28 lots
    assert (batch.shares[[0, 2]] == -1).all()


def test_targets_summing_to_one_within_rounding_never_overspend():
    t = np.array([0.1] * 10)  # sums to 1 + 1e-16 in floating point, at the lot grid exactly
    res = ma.whole_shares(t, np.full(10, 10.0), 1000.0)
    assert res.cash >= 0 and np.asarray(res.shares) @ np.full(10, 10.0) <= 1000.0
