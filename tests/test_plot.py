"""Plots, headless: the data drawn, checked against independent computations (volatility of the
frontier's portfolios recomputed, the assets' coordinates, the capital market line through the
risk-free rate and the tangency, bar heights), never pixels. No global pyplot state is touched."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

import microalloc as ma  # noqa: E402
from microalloc import plot  # noqa: E402

RNG = np.random.default_rng(9)
N = 6
S = np.cov(RNG.normal(size=(80, N)).T) * 0.04
MU = RNG.normal(0.07, 0.03, N)


def test_frontier_with_assets_and_the_capital_market_line():
    front = ma.efficient_frontier(S, MU)
    tan = ma.max_sharpe(S, MU, risk_free=0.02)
    ax = plot.frontier(front, S, MU, tangency=tan, risk_free=0.02, points=50)
    curve, turning, cml, star = ax.get_lines()
    x, y = curve.get_data()
    assert np.all(np.diff(y) >= -1e-15) and len(x) == 50
    w = np.asarray(front.at_return(float(y[17])))
    assert x[17] == pytest.approx(np.sqrt(w @ S @ w), rel=1e-10)
    assert np.min(x) >= np.sqrt(front.volatilities[0] ** 2) * (1 - 1e-9)  # nothing left of min variance
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.column_stack([np.sqrt(np.diag(S)), MU]))
    (x0, x1), (y0, y1) = cml.get_data()
    assert x0 == 0 and y0 == pytest.approx(0.02)
    slope = (y1 - y0) / (x1 - x0)
    assert slope == pytest.approx(tan.sharpe, rel=1e-12)
    assert star.get_data()[1][0] == pytest.approx(0.02 + slope * tan.volatility, rel=1e-12)
    assert (y - 0.02 <= slope * x + 1e-12).all()  # no frontier point above the line


def test_bars_and_a_given_axes_is_used():
    ax = Figure().add_subplot()
    w = ma.solve_mean_variance(S, MU).weights
    assert plot.weights(w, ax=ax, threshold=1e-9) is ax
    heights = sorted(p.get_width() for p in ax.patches)
    np.testing.assert_allclose(heights, np.sort(w[w > 1e-9]))
    rc = ma.risk_contributions(S, w)
    ax = plot.risk_contributions(rc)
    np.testing.assert_allclose([p.get_height() for p in ax.patches], rc.percent)
    with pytest.raises(ma.InputError) as e:
        plot.risk_contributions(rc, kind="active_percent")
    assert e.value.argument == "kind"


def _artist(ax, label):
    (found,) = [a for a in [*ax.lines, *ax.collections] if a.get_label() == label]
    return found


def test_random_portfolios_lie_right_of_the_frontier_and_below_the_capital_market_line():
    front = ma.efficient_frontier(S, MU)
    tan = ma.max_sharpe(S, MU, risk_free=0.02)
    ax = plot.frontier(front, S, MU, tangency=tan, risk_free=0.02, cloud=400, seed=3)
    dots = _artist(ax, "random portfolios")
    vol, ret = dots.get_offsets().T
    assert len(vol) == 400
    lo, hi = front.expected_returns[0], front.expected_returns[-1]
    assert (ret <= hi + 1e-12).all()  # long-only: no return above the best asset's
    for v, r in zip(vol, ret):  # the least volatility at that return, recomputed with numpy
        w = np.asarray(front.at_return(min(max(r, lo), hi)))
        assert v >= np.sqrt(w @ S @ w) * (1 - 1e-9)
    assert (ret - 0.02 <= tan.sharpe * vol + 1e-12).all()
    np.testing.assert_allclose(dots.get_array(), (ret - 0.02) / vol, rtol=1e-12)  # coloured by Sharpe
    assert len(ax.figure.axes) == 2  # and a colour bar says so


def test_a_given_cloud_is_drawn_where_its_portfolios_are():
    w = RNG.dirichlet(np.ones(N), size=30)
    front = ma.efficient_frontier(S, MU)
    ax = plot.frontier(front, S, MU, cloud=w)
    np.testing.assert_allclose(_artist(ax, "random portfolios").get_offsets(),
                               np.column_stack([np.sqrt(np.sum(w @ S * w, axis=1)), w @ MU]), rtol=1e-12)
    again = plot.frontier(front, S, MU, cloud=50, seed=1)
    assert np.array_equal(_artist(again, "random portfolios").get_offsets(),
                          _artist(plot.frontier(front, S, MU, cloud=50, seed=1), "random portfolios").get_offsets())
    with pytest.raises(ma.ShapeError) as e:
        plot.frontier(front, S, MU, cloud=w[:, :3])
    assert e.value.argument == "cloud"
    with pytest.raises(ma.InputError, match="cloud"):
        plot.frontier(front, S, MU, cloud=2.5)
