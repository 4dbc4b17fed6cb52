"""Liquidity bounds, impact coefficients and capacity, checked against the per-share square-root
model written out here (cost of Q shares: k sigma sqrt(Q / volume) per unit of the traded value)
and against what backtest_rebalancing charges."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma


def market(rng: np.random.Generator, n: int):
    volume = 10 ** rng.uniform(3, 7, n)  # shares a day
    prices = 10 ** rng.uniform(0, 3, n)
    sigma = rng.uniform(0.005, 0.04, n)  # daily volatility
    return volume, prices, sigma


def dollar_cost(value, d, volume, prices, sigma, k, costs):
    """The cost in currency of moving weights by d in a portfolio of `value`, share by share."""
    shares = np.abs(d) * value / prices
    traded = shares * prices
    per_unit = costs + k * sigma * np.sqrt(shares / volume)  # proportional + square-root impact
    return float(np.sum(per_unit * traded))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), value=st.floats(1e5, 1e11),
       rate=st.floats(0.01, 1.0), days=st.floats(0.1, 20.0), held=st.booleans())
def test_every_weight_inside_the_bounds_trades_within_the_volume_and_the_bounds_are_tight(seed, n, value, rate, days, held):
    rng = np.random.default_rng(seed)
    volume, prices, _ = market(rng, n)
    cap = 0.6
    w0 = np.minimum(rng.dirichlet(np.ones(n)), cap) if held else np.zeros(n)  # inside the given bounds
    lo, up = ma.liquidity_bounds(value, volume, prices, participation=rate, days=days,
                                 current_weights=w0 if held else None, upper=cap)
    limit = rate * days * volume  # shares that may be traded
    reach = limit * prices / value  # the same limit as weight, the unit the bounds are rounded in
    slack = 4 * np.finfo(float).eps * np.maximum(1.0, np.abs(w0))  # w0 -+ reach rounds w0's size
    assert np.all(lo <= up) and np.all(lo >= 0.0) and np.all(up <= cap)
    for w in (lo, up, lo + rng.uniform(0, 1, n) * (up - lo)):
        shares = np.abs(w - w0) * value / prices
        assert np.all(shares <= limit + slack * value / prices)
    # tight: each bound is either the given one or exactly the volume limit
    assert np.all((up == cap) | (np.abs((up - w0) - reach) <= slack))
    assert np.all((lo == 0.0) | (np.abs((w0 - lo) - reach) <= slack))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), alpha=st.floats(1e-4, 0.2),
       k=st.floats(0.1, 3.0), bp=st.floats(0.0, 20.0), held=st.booleans())
def test_capacity_is_where_the_per_share_cost_equals_alpha(seed, n, alpha, k, bp, held):
    rng = np.random.default_rng(seed)
    volume, prices, sigma = market(rng, n)
    w = rng.dirichlet(np.ones(n))
    w0 = rng.dirichlet(np.ones(n)) if held else np.zeros(n)
    costs = bp * 1e-4
    v = ma.capacity(w, volume, prices, sigma, alpha, current_weights=w0 if held else None, costs=costs, k=k)
    d = w - w0
    if costs * np.abs(d).sum() >= alpha:
        assert v == 0.0
        return
    if costs * np.abs(d).sum() >= alpha * (1 - 1e-9):  # the costs eat all but a rounding of alpha
        impact = float(np.sum(k * sigma * np.abs(d) ** 1.5 / np.sqrt(volume * prices)))
        assert 0.0 <= v <= 1e-16 * (alpha / impact) ** 2  # (delta alpha / impact)^2 for delta < 1e-9
        return
    if not np.any(d):  # nothing to trade (one asset, held in full)
        assert v == math.inf
        return
    assert 0.0 < v < math.inf
    assert dollar_cost(v, d, volume, prices, sigma, k, costs) == pytest.approx(alpha * v, rel=1e-10)
    # below the capacity the trade pays, above it does not
    assert dollar_cost(0.9 * v, d, volume, prices, sigma, k, costs) < alpha * 0.9 * v
    assert dollar_cost(1.1 * v, d, volume, prices, sigma, k, costs) > alpha * 1.1 * v


def test_capacity_edges():
    volume, prices, sigma = np.full(3, 1e6), np.full(3, 10.0), np.full(3, 0.02)
    w = np.array([0.2, 0.3, 0.5])
    assert ma.capacity(w, volume, prices, sigma, 0.01, current_weights=w) == math.inf  # nothing to trade
    assert ma.capacity(w, volume, prices, sigma, 0.01, k=0.0) == math.inf  # no impact
    assert ma.capacity(w, volume, prices, sigma, 0.001, costs=0.001) == 0.0  # costs alone eat alpha


@pytest.mark.parametrize("value", [1e6, 1e8, 1e10])
def test_impact_coefficients_charge_the_per_share_cost(value):
    rng = np.random.default_rng(3)
    volume, prices, sigma = market(rng, 8)
    d = rng.uniform(-0.05, 0.05, 8)
    impact = ma.impact_coefficients(value, volume, prices, sigma, k=0.7)
    per_value = float(np.sum(impact * np.abs(d) ** 1.5))
    assert per_value * value == pytest.approx(dollar_cost(value, d, volume, prices, sigma, 0.7, 0.0), rel=1e-12)


def test_the_backtest_charges_what_the_coefficients_say():
    # One rebalance back to the targets after a day's move: the backtest's cost is the impact of
    # the trade as the coefficients give it (the same square-root rule in both places).
    value = 1e9
    volume, prices0, sigma = np.array([2e6, 5e5]), np.array([40.0, 25.0]), np.array([0.02, 0.03])
    prices = np.vstack([prices0, prices0 * [1.10, 0.95]])
    targets = np.array([0.5, 0.5])
    impact = ma.impact_coefficients(value, volume, prices0, sigma)
    bt = ma.backtest_rebalancing(prices, targets, {"daily": ma.Policy.calendar("daily")}, impact=impact,
                                 periods_per_year=252)
    drifted = targets * [1.10, 0.95] / (targets @ [1.10, 0.95])
    d = np.abs(drifted - targets)
    paid = float(bt.summary["costs"].iloc[0])
    grown = targets @ [1.10, 0.95]  # the value the trade is made at (the backtest starts at 1)
    expected = grown * float(np.sum(impact * d**1.5))
    assert paid == pytest.approx(expected, rel=1e-6)


def test_labels_are_aligned_or_refused():
    idx = ["a", "b", "c"]
    volume = pd.Series([1e6, 2e5, 5e4], index=idx)
    prices = pd.Series([10.0, 50.0, 20.0], index=["c", "a", "b"])  # another order: aligned
    lo, up = ma.liquidity_bounds(1e7, volume, prices, upper=1.0)
    assert list(up.index) == idx
    np.testing.assert_allclose(up.to_numpy(), 0.1 * np.array([1e6 * 50, 2e5 * 20, 5e4 * 10]) / 1e7)
    with pytest.raises(ma.InputError) as e:
        ma.liquidity_bounds(1e7, volume, pd.Series([1.0, 2.0, 3.0], index=["a", "b", "z"]))
    assert e.value.argument == "prices"


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(portfolio_value=0.0), "portfolio_value"),
        (dict(daily_volume=[1e6, -1.0]), "daily_volume"),
        (dict(prices=[10.0, 0.0]), "prices"),
        (dict(prices=[10.0, np.nan]), "prices"),
        (dict(participation=1.5), "participation"),
        (dict(participation=0.0), "participation"),
        (dict(days=0.0), "days"),
        (dict(current_weights=[0.9, 0.1], upper=0.5), "current_weights"),
        (dict(daily_volume=[1e6, 1e6, 1e6]), "prices"),
    ],
)
def test_bad_arguments_are_named(kwargs, argument):
    args = dict(portfolio_value=1e8, daily_volume=[1e6, 1e6], prices=[10.0, 20.0])
    args.update(kwargs)
    value, volume, prices = args.pop("portfolio_value"), args.pop("daily_volume"), args.pop("prices")
    with pytest.raises(ma.InputError) as e:
        ma.liquidity_bounds(value, volume, prices, **args)
    assert e.value.argument == argument


def test_the_bounds_feed_a_solve():
    rng = np.random.default_rng(0)
    n = 30
    volume, prices, _ = market(rng, n)
    f = rng.normal(0, 0.2, (n, 3))
    cov = f @ f.T + np.diag(rng.uniform(0.01, 0.05, n))
    lo, up = ma.liquidity_bounds(1e6, volume, prices, participation=0.2, days=5, upper=0.2)
    if up.sum() < 1.0:
        pytest.skip("this market cannot hold the portfolio")
    r = ma.solve_mean_variance(cov, lower=lo, upper=up)
    assert r.is_optimal
    w = np.asarray(r.weights)
    assert np.all(w * 1e6 / prices <= 0.2 * 5 * volume * (1 + 1e-9))
