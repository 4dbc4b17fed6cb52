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
    assert np.min(x) >= np.sqrt(front.volatility[0] ** 2) * (1 - 1e-9)  # nothing left of min variance
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
