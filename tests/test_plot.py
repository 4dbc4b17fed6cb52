"""Plots, headless: the data drawn, checked against independent computations (volatility of the
frontier's portfolios recomputed, the assets' coordinates, the capital market line through the
risk-free rate and the tangency, bar heights), never pixels. No global pyplot state is touched."""

from __future__ import annotations

import numpy as np
import pandas as pd
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
    lo, hi = front.expected_return[0], front.expected_return[-1]
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


def _heights(ax):
    return np.array([p.get_height() for p in ax.patches])


def test_risk_contributions_by_kind_against_numbers_recomputed():
    w = ma.solve_mean_variance(S, MU).weights
    b = np.full(N, 1 / N)
    rc = ma.risk_contributions(S, w, benchmark=b)
    sigma, a = np.sqrt(w @ S @ w), w - b
    te = np.sqrt(a @ S @ a)
    np.testing.assert_allclose(_heights(plot.risk_contributions(rc, kind="component")), w * (S @ w) / sigma, rtol=1e-10)
    np.testing.assert_allclose(_heights(plot.risk_contributions(rc, kind="absolute")), w * (S @ w) / sigma, rtol=1e-10)
    np.testing.assert_allclose(_heights(plot.risk_contributions(rc, kind="percent")), w * (S @ w) / sigma**2,
                               rtol=1e-10)
    np.testing.assert_allclose(_heights(plot.risk_contributions(rc, kind="active")), a * (S @ a) / te, rtol=1e-10,
                               atol=1e-15)
    ax = plot.risk_contributions(rc, kind="active_percent", labels=list("abcdef"))
    np.testing.assert_allclose(_heights(ax), a * (S @ a) / te**2, rtol=1e-10, atol=1e-15)
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcdef")


def test_factor_and_specific_contributions_from_the_loadings():
    pd = pytest.importorskip("pandas")
    assets = [f"a{i}" for i in range(N)]
    x = pd.DataFrame(RNG.normal(size=(N, 2)), index=assets, columns=["market", "size"])
    f = np.array([[0.04, 0.01], [0.01, 0.02]])
    d = RNG.uniform(0.01, 0.03, N)
    model = ma.FactorCovariance(x, f, d)
    w = pd.Series(RNG.dirichlet(np.ones(N)), index=assets)
    b = pd.Series(1 / N, index=assets)
    rc = ma.risk_contributions(model, w, benchmark=b)
    X, wv = x.to_numpy(), w.to_numpy()
    y = X.T @ wv
    sigma = np.sqrt(y @ f @ y + wv @ (d * wv))
    ax = plot.risk_contributions(rc, kind="factor")
    np.testing.assert_allclose(_heights(ax), [*(y * (f @ y) / sigma), wv @ (d * wv) / sigma], rtol=1e-10)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["market", "size", "specific"]
    assert _heights(ax).sum() == pytest.approx(sigma, rel=1e-10)  # the sources add up to the volatility
    ax = plot.risk_contributions(rc, kind="specific")
    factor, specific = ax.containers
    np.testing.assert_allclose([p.get_height() for p in factor], wv * (X @ f @ y) / sigma, rtol=1e-10)
    np.testing.assert_allclose([p.get_height() for p in specific], d * wv**2 / sigma, rtol=1e-10)
    assert [t.get_text() for t in ax.get_xticklabels()] == assets
    act = wv - 1 / N
    ya = X.T @ act
    te = np.sqrt(ya @ f @ ya + act @ (d * act))
    np.testing.assert_allclose(_heights(plot.risk_contributions(rc, kind="active_factor")),
                               [*(ya * (f @ ya) / te), act @ (d * act) / te], rtol=1e-9)


def test_a_kind_the_result_lacks_is_named():
    w = ma.solve_mean_variance(S, MU).weights
    rc = ma.risk_contributions(S, w)
    for kind, needs in [("factor", "FactorCovariance"), ("specific", "FactorCovariance"), ("active", "benchmark"),
                        ("active_factor", "benchmark")]:
        with pytest.raises(ma.InputError, match=needs) as e:
            plot.risk_contributions(rc, kind=kind)
        assert e.value.argument == "kind"
    with pytest.raises(ma.InputError, match="'percent'") as e:
        plot.risk_contributions(rc, kind="variance")
    assert e.value.argument == "kind"
    with pytest.raises(ma.InputError, match="batch of 2") as e:
        plot.risk_contributions(ma.risk_contributions(S, np.vstack([w, w])))
    assert e.value.argument == "rc"


def _backtest(dated):
    pd = pytest.importorskip("pandas")
    prices = np.cumprod(1 + RNG.normal(0.005, 0.05, (60, N)), axis=0)
    pols = {"hold": ma.Policy.buy_and_hold(), "monthly": ma.Policy.calendar("monthly"),
            "band": ma.Policy.band(0.03, check=1)}
    if dated:
        prices = pd.DataFrame(prices, index=pd.date_range("2020-01-31", periods=60, freq="ME"))
        return ma.backtest_rebalancing(prices, np.full(N, 1 / N), pols, costs=0.001)
    return ma.backtest_rebalancing(prices, np.full(N, 1 / N), pols, periods_per_year=12)


@pytest.mark.parametrize("dated", [False, True])
def test_backtest_value_paths_and_drawdowns(dated):
    res = _backtest(dated)
    values = np.asarray(res.values)
    fig = Figure()
    top, bottom = fig.subplots(2, sharex=True)
    assert plot.backtest(res, ax=top) is top
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["hold", "monthly", "band"]
    for k, line in enumerate(top.get_lines()):
        np.testing.assert_array_equal(line.get_ydata(), values[:, k])
    x = top.get_lines()[0].get_xdata()
    if dated:
        assert np.array_equal(np.asarray(x, dtype="datetime64[ns]"), res.values.index.to_numpy())
    else:
        assert np.array_equal(x, np.arange(60))
    plot.backtest(res, ax=bottom, kind="drawdown")
    peak = np.maximum.accumulate(values, axis=0)
    drawn = np.column_stack([line.get_ydata() for line in bottom.get_lines()])
    np.testing.assert_allclose(drawn, values / peak - 1, rtol=0, atol=1e-15)
    np.testing.assert_allclose(-drawn.min(axis=0), np.asarray(res.summary["max_drawdown"]), rtol=1e-12)
    troughs = np.array([c.get_offsets()[0, 1] for c in bottom.collections])
    np.testing.assert_array_equal(troughs, drawn.min(axis=0))
    with pytest.raises(ma.InputError) as e:
        plot.backtest(res, kind="values")
    assert e.value.argument == "kind"


def _drifted(m, t, seed):
    rng = np.random.default_rng(seed)
    w = t * np.exp(rng.normal(0, 0.3, (m, len(t))))
    w[:, t == 0] = rng.choice([0.0, 0.01], size=(m, int((t == 0).sum())))
    return w / w.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("bands", [dict(absolute=0.02, relative=0.25),
                                   dict(absolute=0.02, relative=0.25, combine="max"),
                                   dict(relative=0.3), dict(absolute=0.015)])
def test_band_map_is_the_drift_in_band_widths_with_the_breaches_marked(bands):
    t = np.array([0.3, 0.25, 0.2, 0.15, 0.1, 0.0])
    w = _drifted(12, t, 5)
    check = ma.check_bands(w, t, **bands)
    ax = plot.band_map(w, t, **bands)
    a, r = bands.get("absolute"), bands.get("relative")

    def ratio(wi, ti):  # the documented band, cell by cell; a zero target gets the absolute band alone
        width = (a or 0.0) if ti == 0 else a if r is None else r * ti if a is None else (
            max if bands.get("combine") == "max" else min)(a, r * ti)
        return (wi - ti) / width if width > 0 else 0.0 if wi == ti else np.copysign(np.inf, wi - ti)

    expected = np.clip([[ratio(wi, ti) for wi, ti in zip(row, t)] for row in w], -3, 3)
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), expected, rtol=1e-12, atol=1e-15)
    crosses = _artist(ax, "breach").get_offsets()
    assert np.array_equal(np.asarray(crosses, dtype=int), np.argwhere(check.breach)[:, ::-1])
    assert check.breach.any() and not check.breach.all()
    if r is not None and a is None:  # a holding of a zero target, without an absolute band: at the limit
        held = w[:, -1] > 0
        assert held.any() and (expected[held, -1] == 3).all() and (expected[~held, -1] == 0).all()


def test_band_map_shows_the_accounts_of_largest_drift_by_label():
    pd = pytest.importorskip("pandas")
    t = pd.Series([0.4, 0.3, 0.2, 0.1], index=list("wxyz"))
    w = pd.DataFrame(_drifted(9, t.to_numpy(), 2), index=[f"acct{k}" for k in range(9)], columns=list("wxyz"))
    check = ma.check_bands(w, t, absolute=0.03)
    ax = Figure().add_subplot()
    assert plot.band_map(w, t, absolute=0.03, check=check, ax=ax, max_accounts=3) is ax
    worst = np.sort(np.argsort(-check.max_drift.to_numpy())[:3])
    assert [x.get_text() for x in ax.get_yticklabels()] == [f"acct{k}" for k in worst]
    assert [x.get_text() for x in ax.get_xticklabels()] == list("wxyz")
    assert ax.images[0].get_array().shape == (3, 4)
    rows, cols = np.nonzero(check.breach.to_numpy()[worst])
    assert np.array_equal(np.asarray(_artist(ax, "breach").get_offsets(), dtype=int), np.column_stack([cols, rows]))
    with pytest.raises(ma.ShapeError) as e:
        plot.band_map(w, t, absolute=0.03, check=ma.check_bands(w.iloc[:4], t, absolute=0.03))
    assert e.value.argument == "check"
    with pytest.raises(ma.InputError) as e:
        plot.band_map(w, t, absolute=0.03, max_accounts=0)
    assert e.value.argument == "max_accounts"


def test_the_frontier_plot_aligns_labels_and_refuses_data_not_its_own():
    data = ma.load_industry_returns()
    r = data.returns[-120:]
    names = list(data.names)
    s = pd.DataFrame(np.cov(r, rowvar=False) * 12, index=names, columns=names)
    mu = pd.Series(r.mean(axis=0) * 12, index=names)
    front = ma.efficient_frontier(s, mu)
    shuffled = mu.sample(frac=1.0, random_state=0)
    ax = plot.frontier(front, s.loc[shuffled.index, shuffled.index], shuffled, points=20)
    ref = plot.frontier(front, s, mu, points=20)
    np.testing.assert_allclose(ax.lines[0].get_xydata(), ref.lines[0].get_xydata(), rtol=1e-12)
    with pytest.raises(ma.InputError) as e:  # the same values in another order, unlabelled
        plot.frontier(front, s.to_numpy(), shuffled.to_numpy())
    assert e.value.argument == "mu"
    with pytest.raises(ma.InputError) as e:
        plot.frontier(front, 2 * s, mu)
    assert e.value.argument == "cov"
