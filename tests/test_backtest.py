"""Backtest of rebalancing policies against direct computations from prices: buy-and-hold, a
holdings-based constant-mix loop written here, band-to-target rebalancing, and the cost model."""

import numpy as np
import pytest

import microalloc as ma


def prices_path(days=600, n=4, seed=0):
    rng = np.random.default_rng(seed)
    return 50.0 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, (days, n)), axis=0))


def holdings_loop(p, t, check, band=None, prop=0.0, imp=0.0):
    """Units held between trades; on a check day (and, with a band, when some |w - t| exceeds it)
    back to target, paying prop |d| + imp |d|^1.5 of the value. Returns the value path and the
    cost fraction of each trade."""
    units = t / p[0]  # value 1
    values, fractions = [1.0], []
    for d in range(1, len(p)):
        v = units @ p[d]
        w = units * p[d] / v
        if check[d] and (band is None or np.any(np.abs(w - t) > band)):
            delta = np.abs(t - w)
            c = float(np.sum(prop * delta + imp * delta**1.5))
            if delta.sum() > 0:
                fractions.append(c)
                v *= 1.0 - c
                units = t * v / p[d]
        values.append(v)
    return np.array(values), fractions


def test_buy_and_hold_is_the_direct_computation():
    p = prices_path()
    t = np.array([0.1, 0.2, 0.3, 0.4])
    res = ma.backtest_rebalancing(p, t, {"bh": ma.Policy.buy_and_hold()}, costs=0.01, periods_per_year=252)
    np.testing.assert_allclose(res.values["bh"].to_numpy(), (p / p[0]) @ t, rtol=1e-12)
    assert res.summary.loc["bh", "rebalances"] == 0 and res.summary.loc["bh", "costs"] == 0.0


def test_calendar_without_costs_is_the_constant_mix_loop():
    p = prices_path()
    t = np.array([0.25, 0.25, 0.25, 0.25])
    res = ma.backtest_rebalancing(p, t, [ma.Policy.calendar(21), ma.Policy.calendar("daily")], periods_per_year=252)
    check = np.zeros(len(p), bool)
    check[21::21] = True
    np.testing.assert_allclose(res.values.iloc[:, 0].to_numpy(), holdings_loop(p, t, check)[0], rtol=1e-12)
    daily = np.cumprod(np.concatenate([[1.0], (p[1:] / p[:-1] - 1) @ t + 1]))
    np.testing.assert_allclose(res.values.iloc[:, 1].to_numpy(), daily, rtol=1e-12)
    assert res.summary["tracking_error"].iloc[1] == pytest.approx(0.0, abs=1e-12)


def test_band_to_target_and_costs_are_exactly_the_cost_model():
    p = prices_path(800, 4, 3)
    t = np.array([0.4, 0.3, 0.2, 0.1])
    prop, imp = np.array([0.001, 0.002, 0.001, 0.003]), 0.02
    pol = {"band": ma.Policy.band(absolute=0.03, action="target")}
    free = ma.backtest_rebalancing(p, t, pol, periods_per_year=252)
    paid = ma.backtest_rebalancing(p, t, pol, costs=prop, impact=imp, periods_per_year=252)
    every_day = np.ones(len(p), bool)
    ref, fractions = holdings_loop(p, t, every_day, band=0.03, prop=prop, imp=imp)
    np.testing.assert_allclose(paid.values["band"].to_numpy(), ref, rtol=1e-12)
    assert paid.summary.loc["band", "rebalances"] == len(fractions) > 3
    ratio = paid.values["band"].iloc[-1] / free.values["band"].iloc[-1]
    assert ratio == pytest.approx(np.prod(1 - np.array(fractions)), rel=1e-12)
    # The yearly cost drag: growth with costs = growth without costs x (1 - drag).
    years = (len(p) - 1) / 252.0
    drag = paid.summary.loc["band", "cost_drag"]
    assert drag == pytest.approx(1 - np.prod(1 - np.array(fractions)) ** (1 / years), rel=1e-12)
    growth = 1 + paid.summary.loc["band", "annual_return"], 1 + free.summary.loc["band", "annual_return"]
    assert growth[0] == pytest.approx(growth[1] * (1 - drag), rel=1e-12)
    assert free.summary.loc["band", "cost_drag"] == 0.0


def test_calendar_checks_follow_the_dates():
    pd = pytest.importorskip("pandas")
    dates = pd.bdate_range("2020-01-01", periods=300)
    p = pd.DataFrame(prices_path(300, 3, 1), index=dates)
    res = ma.backtest_rebalancing(p, [0.5, 0.3, 0.2], {"m": ma.Policy.calendar("monthly"), "q": ma.Policy.calendar("quarterly")})
    months = len(set(zip(dates.year, dates.month))) - 1
    quarters = len(set(zip(dates.year, dates.quarter))) - 1
    assert res.summary.loc["m", "rebalances"] == months and res.summary.loc["q", "rebalances"] == quarters
    assert list(res.values.index) == list(dates)


def test_band_edge_trades_less_than_target():
    p = prices_path(1500, 5, 4)
    t = np.full(5, 0.2)
    res = ma.backtest_rebalancing(p, t, {"edge": ma.Policy.band(0.02), "target": ma.Policy.band(0.02, action="target")},
                                  periods_per_year=252)
    s = res.summary
    assert s.loc["edge", "turnover"] < s.loc["target", "turnover"]
    assert s.loc["edge", "rebalances"] > s.loc["target", "rebalances"]


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(prices=np.array([[1.0, np.nan], [1.0, 1.0]])), "prices"),
        (dict(prices=np.array([[1.0, -1.0], [1.0, 1.0]])), "prices"),
        (dict(targets=[0.6, 0.6]), "targets"),
        (dict(policies={"x": ma.Policy("calendar", check="fortnightly")}), "policies"),
        (dict(policies={"x": ma.Policy("band")}), "policies"),
        (dict(policies=[]), "policies"),
        (dict(costs=-0.001), "costs"),
        (dict(costs=0.5), "costs"),
        (dict(costs=[0.0, 0.3], impact=[0.2, 0.0]), "costs"),
        (dict(impact=np.inf), "impact"),
    ],
)
def test_bad_input_names_the_argument(kwargs, argument):
    args = dict(prices=np.ones((3, 2)), targets=[0.5, 0.5], policies={"bh": ma.Policy.buy_and_hold()}, periods_per_year=252)
    args.update(kwargs)
    with pytest.raises(ValueError, match=argument):
        ma.backtest_rebalancing(args.pop("prices"), args.pop("targets"), args.pop("policies"), **args)


def test_the_highest_accepted_costs_keep_every_value_positive():
    # Prices that swing 10x each day force near-total trades: at costs + impact just below 0.5
    # each rebalance costs most of the gain, but never the whole portfolio.
    p = np.ones((30, 2))
    p[1::2, 0] = 10.0
    pols = {"daily": ma.Policy.calendar(1), "band": ma.Policy.band(0.01, action="target")}
    v = np.asarray(ma.backtest_rebalancing(p, [0.5, 0.5], pols, costs=0.25, impact=0.2499, periods_per_year=252).values)
    free = np.asarray(ma.backtest_rebalancing(p, [0.5, 0.5], pols, periods_per_year=252).values)
    assert (v > 0).all() and (v[-1] < 1e-3 * free[-1]).all()


# -- policies: the builders check their arguments, the backtest names `policies` -------------------
_P3 = np.array([[1.0, 2.0, 3.0], [1.1, 1.9, 3.0], [1.2, 2.1, 2.9], [1.0, 2.2, 3.1]])
_T3 = [0.3, 0.3, 0.4]


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(absolute=0.05, min_trade=None), "min_trade"),
        (dict(absolute=0.05, min_trade="x"), "min_trade"),
        (dict(absolute=0.05, min_trade=-0.1), "min_trade"),
        (dict(absolute=0.05, min_trade=np.nan), "min_trade"),
        (dict(absolute=0.05, combine="avg"), "combine"),
        (dict(absolute=0.05, combine=["min"]), "combine"),
        (dict(absolute=0.05, action=np.array(["target", "target"])), "action"),
        (dict(absolute=0.05, check="fortnightly"), "check"),
        (dict(absolute=0.05, check=0), "check"),
        (dict(absolute=-0.1), "absolute"),
        (dict(relative=[0.1, np.nan]), "relative"),
        (dict(), "absolute"),
    ],
)
def test_policy_band_checks_its_arguments(kwargs, argument):
    with pytest.raises(ma.errors.InputError) as info:
        ma.Policy.band(**kwargs)
    assert info.value.argument == argument


@pytest.mark.parametrize("frequency", ["hourly", ["monthly"], 0, 2.5, True])
def test_policy_calendar_checks_its_frequency(frequency):
    with pytest.raises(ma.errors.InputError) as info:
        ma.Policy.calendar(frequency)
    assert info.value.argument == "frequency"


@pytest.mark.parametrize(
    "policy, field",
    [
        (ma.Policy("band", absolute=0.05, min_trade=None), "min_trade"),
        (ma.Policy("band", absolute=0.05, min_trade="x"), "min_trade"),
        (ma.Policy("band", absolute=0.05, relative=0.2, combine="avg"), "combine"),
        (ma.Policy("band", absolute=0.05, action=["target"]), "action"),
        (ma.Policy("band", absolute=[0.05] * 9), "absolute"),
        (ma.Policy("band", absolute=-0.1), "absolute"),
        (ma.Policy("calendar", check="hourly"), "check"),
        (ma.Policy("weird"), "kind"),
    ],
)
def test_a_bad_policy_is_named_by_policies_and_its_name(policy, field):
    # errors about a policy name the backtest's argument, then the policy (by its key) and its field
    with pytest.raises(ma.errors.InputError) as info:
        ma.backtest_rebalancing(_P3, _T3, {"hold": ma.Policy.buy_and_hold(), "mine": policy}, periods_per_year=252)
    assert info.value.argument == "policies"
    assert "policy 'mine'" in str(info.value) and f"{field}:" in str(info.value)


def test_costs_none_means_no_costs():
    pols = {"daily": ma.Policy.calendar(1)}
    base = ma.backtest_rebalancing(_P3, _T3, pols, periods_per_year=252)
    none = ma.backtest_rebalancing(_P3, _T3, pols, costs=None, impact=None, periods_per_year=252)
    assert np.array_equal(np.asarray(none.values), np.asarray(base.values))
    assert float(base.summary["costs"].iloc[0]) == 0.0


@pytest.mark.parametrize("ppy", [1e300, 2**40, ma._validate.MAX_PERIODS_PER_YEAR + 1])
def test_periods_per_year_above_the_limit_is_refused(ppy):
    with pytest.raises(ma.errors.InputError) as info:
        ma.backtest_rebalancing(_P3, _T3, [ma.Policy.buy_and_hold()], periods_per_year=ppy)
    assert info.value.argument == "periods_per_year"


def test_an_annual_return_that_overflows_is_refused_not_inf():
    # 10% in 3 rows at one period a second: 1.1 ** (31.6e6 / 3) overflows
    p = np.array([[1.0], [1.03], [1.06], [1.1]])
    with pytest.raises(ma.errors.InputError) as info:
        ma.backtest_rebalancing(p, [1.0], [ma.Policy.buy_and_hold()], periods_per_year=ma._validate.MAX_PERIODS_PER_YEAR)
    assert info.value.argument == "periods_per_year"


@pytest.mark.parametrize("big", [1e300, 1e101])
def test_prices_whose_range_overflows_are_refused(big):
    p = _P3.copy()
    p[2, 1] = big
    with pytest.raises(ma.errors.InputError) as info:
        ma.backtest_rebalancing(p, _T3, [ma.Policy.buy_and_hold()], periods_per_year=252)
    assert info.value.argument == "prices" and "column [1]" in str(info.value)


def test_prices_within_the_range_give_finite_summaries():
    # a 1e90-fold rise (inside the limit): every summary number is finite, the growth exact
    p = np.array([[1.0, 1.0], [1e45, 1.0], [1e90, 1.0]])
    res = ma.backtest_rebalancing(p, [0.5, 0.5], [ma.Policy.buy_and_hold()], periods_per_year=1)
    assert np.isfinite(res.summary.to_numpy(dtype=float)).all()
    assert res.values.iloc[-1, 0] == pytest.approx(0.5 * 1e90 + 0.5, rel=1e-12)
