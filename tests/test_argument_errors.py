"""Errors say what is wrong: each raises an InputError whose ``argument`` names the culprit (threads,
batch shapes, ragged lists, scalars given arrays, policies, periods_per_year), and a closed stdout
ends the command line quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import microalloc as ma

S = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.16]])
MU = np.array([0.05, 0.07, 0.10])
W = np.array([0.30, 0.30, 0.40])
T = np.full(3, 1 / 3)
RAGGED = [[0.1, 0.2], [0.3]]


def prices(days=60, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumprod(1 + rng.normal(0.01, 0.04, (days, n)), axis=0)


def raises_naming(argument, call, cls=ma.InputError):
    with pytest.raises(cls) as info:
        call()
    assert info.value.argument == argument, str(info.value)
    return info.value


# -- threads: one check everywhere ---------------------------------------------------------------

THREADED = {
    "check_bands": lambda th: ma.check_bands(W, T, absolute=0.05, threads=th),
    "rebalance_trades": lambda th: ma.rebalance_trades(W, T, absolute=0.05, threads=th),
    "drift": lambda th: ma.drift(W, MU, threads=th),
    "backtest_rebalancing": lambda th: ma.backtest_rebalancing(
        prices(), T, [ma.Policy.calendar(3)], periods_per_year=12, threads=th
    ),
    "solve_mean_variance_batch": lambda th: ma.solve_mean_variance_batch(S, np.tile(MU, (3, 1)), threads=th),
    "risk_contributions": lambda th: ma.risk_contributions(S, np.tile(W, (3, 1)), threads=th),
}


@pytest.mark.parametrize("function", sorted(THREADED))
@pytest.mark.parametrize("threads", [0, -2, float("nan"), 2.0, True, "5", 2**40, 2**31])
def test_a_bad_thread_count_is_named(function, threads):
    e = raises_naming("threads", lambda: THREADED[function](threads))
    assert "incompatible function arguments" not in str(e)


@pytest.mark.parametrize("function", sorted(THREADED))
def test_thread_counts_up_to_the_limit_are_accepted(function):
    for threads in (None, 1, np.int64(3), ma._validate.MAX_THREADS):
        THREADED[function](threads)


INTEGER_ARGUMENTS = {
    "threads": lambda v: ma.solve_mean_variance_batch(S, np.tile(MU, (3, 1)), threads=v),
    "max_iter": lambda v: ma.solve_mean_variance(S, MU, max_iter=v),
    "max_points": lambda v: ma.efficient_frontier(S, MU, max_points=v),
    "points_per_segment": lambda v: ma.efficient_frontier(S, MU).path(v),
    "m": lambda v: ma.solve_mean_variance_batch(S, MU, m=v),
    "ddof": lambda v: ma.tracking_error(np.array([0.01, 0.02, -0.01]), np.zeros(3), ddof=v, periods_per_year=12),
}


@pytest.mark.parametrize("argument", sorted(INTEGER_ARGUMENTS))
@pytest.mark.parametrize("value", [np.int64(-3), np.int32(-3), -3])
def test_a_bad_integer_is_shown_as_a_plain_number(argument, value):
    e = raises_naming(argument, lambda: INTEGER_ARGUMENTS[argument](value))
    assert "got -3" in str(e) and "np." not in str(e), str(e)


# -- rebalance_trades: weights that do not sum to the targets' total ----------------------------


def test_rebalance_trades_refuses_weights_of_another_total():
    e = raises_naming("weights", lambda: ma.rebalance_trades(W * 1.2, T, absolute=0.05))
    assert "sum = 1.2" in str(e) and "targets sum to 1;" in str(e)  # plain numbers
    batch = np.vstack([W, W * 1.2])
    e = raises_naming("weights", lambda: ma.rebalance_trades(batch, T, absolute=0.05))
    assert "row 1" in str(e)


# -- combine_funds: the covariance is active_cov -------------------------------------------------


@pytest.mark.parametrize(
    "omega, cls",
    [
        (np.array([[1.0, 0.2], [0.3, 1.0]]) * 1e-3, ma.NotSymmetricError),
        (np.array([[1.0, 2.0], [2.0, 1.0]]) * 1e-3, ma.NotPSDError),
        (np.array([[np.nan, 0.0], [0.0, 1.0]]), ma.NonFiniteError),
        (np.array([[0.0, 0.0], [0.0, 1.0]]), ma.InputError),
        (RAGGED, ma.InputError),
        (np.ones(2), ma.ShapeError),
    ],
)
def test_combine_funds_names_active_cov(omega, cls):
    raises_naming("cov", lambda: ma.combine_funds(omega, [0.01, 0.02]), cls)


# -- ragged lists: every public entry reads arrays through one helper ----------------------------

RAGGED_CALLS = [
    ("solve_mean_variance_batch", "mu", lambda x: ma.solve_mean_variance_batch(S, x)),
    ("solve_mean_variance_batch", "lower", lambda x: ma.solve_mean_variance_batch(S, MU, lower=x)),
    ("active_portfolio", "cov", lambda x: ma.active_portfolio(x, MU, T, target_alpha=0.001)),
    ("risk_contributions", "weights", lambda x: ma.risk_contributions(S, x)),
    ("active_share", "weights", lambda x: ma.active_share(x, T)),
    ("money_risk_budget", "weights",
     lambda x: ma.money_risk_budget(S, x, portfolio_value=1.0, risk_budget=0.1, allocation=T)),
    ("check_bands", "weights", lambda x: ma.check_bands(x, T, absolute=0.05)),
    ("rebalance_trades", "weights", lambda x: ma.rebalance_trades(x, T, absolute=0.05)),
    ("drift", "weights", lambda x: ma.drift(x, MU)),
    ("weights_from_holdings", "units", lambda x: ma.weights_from_holdings(x, [1.0, 2.0, 3.0])),
    ("backtest_rebalancing", "prices", lambda x: ma.backtest_rebalancing(x, T, [ma.Policy.buy_and_hold()], periods_per_year=12)),
    ("project_box_budget", "y", lambda x: ma.project_box_budget(x)),
    ("combine_funds", "cov", lambda x: ma.combine_funds(x, MU)),
]


@pytest.mark.parametrize("function, argument, call", RAGGED_CALLS, ids=[f"{f}.{a}" for f, a, _ in RAGGED_CALLS])
def test_ragged_lists_are_named(function, argument, call):
    raises_naming(argument, lambda: call(RAGGED))


# -- scalars: arrays are refused by name, never "truth value is ambiguous" ------------------------


@pytest.mark.parametrize(
    "method, argument",
    [("at_risk_aversion", "risk_aversion"), ("at_return", "target"), ("at_volatility", "target")],
)
@pytest.mark.parametrize("value", [np.array([1.0, 2.0]), np.array([0.07]), [0.07], "0.07"])
def test_frontier_points_take_one_number(method, argument, value):
    fr = ma.efficient_frontier(S, MU)
    e = raises_naming(argument, lambda: getattr(fr, method)(value))
    assert "ambiguous" not in str(e)


def test_frontier_at_risk_aversion_still_takes_inf_and_numpy_scalars():
    fr = ma.efficient_frontier(S, MU)
    np.testing.assert_array_equal(fr.at_risk_aversion(np.inf), fr.weights[0])
    np.testing.assert_array_equal(fr.at_risk_aversion(np.float64(0.0)), fr.weights[-1])
    raises_naming("risk_aversion", lambda: fr.at_risk_aversion(float("nan")), ma.NonFiniteError)
    raises_naming("risk_aversion", lambda: fr.at_risk_aversion(-np.inf))


def test_frontier_path_caps_the_number_of_points():
    fr = ma.efficient_frontier(S, MU)
    raises_naming("points_per_segment", lambda: fr.path(2**40))
    risk, ret = fr.path(3)
    assert risk.shape == ret.shape == (3 * (len(fr) - 1) + 1,)


def test_a_huge_max_points_is_no_limit():
    # the core computes 4 * max_points in int: 2**40 used to wrap around and stop the path at once
    whole = ma.efficient_frontier(S, MU)
    big = ma.efficient_frontier(S, MU, max_points=2**40)
    assert big.status == "OPTIMAL" and len(big) == len(whole)
    np.testing.assert_array_equal(big.weights, whole.weights)


# -- backtest_rebalancing: policies and periods_per_year ----------------------------------------


@pytest.mark.parametrize("policies", [None, ma.Policy.buy_and_hold(), "monthly", 3, [], {}, [None]])
def test_policies_that_are_not_a_collection_of_policies_are_named(policies):
    raises_naming("policies", lambda: ma.backtest_rebalancing(prices(), T, policies, periods_per_year=12))


@pytest.mark.parametrize("ppy", [0, -1, -12.0, float("inf"), float("nan"), True, "12", [12], np.array([12.0])])
def test_a_bad_periods_per_year_is_named(ppy):
    raises_naming(
        "periods_per_year", lambda: ma.backtest_rebalancing(prices(), T, [ma.Policy.buy_and_hold()], periods_per_year=ppy)
    )


def test_periods_per_year_is_required_without_dates():
    e = raises_naming("periods_per_year", lambda: ma.backtest_rebalancing(prices(), T, [ma.Policy.buy_and_hold()]))
    assert "252" in str(e) and "12" in str(e)


def _annual_return(values: np.ndarray, periods_per_year: float) -> float:
    """Geometric annual return from the value path, computed here: years = rows - 1 over rows a year."""
    years = (len(values) - 1) / periods_per_year
    return float((values[-1] / values[0]) ** (1.0 / years) - 1.0)


@pytest.mark.parametrize(
    "freq, expected",
    [("B", 252.0), ("D", 365.0), ("W-FRI", 52.0), ("MS", 12.0), ("ME", 12.0), ("QE", 4.0), ("YS", 1.0)],
)
def test_periods_per_year_is_inferred_from_a_datetime_index(freq, expected):
    pd = pytest.importorskip("pandas")
    p = pd.DataFrame(prices(40), index=pd.date_range("2001-01-01", periods=40, freq=freq))
    res = ma.backtest_rebalancing(p, T, {"bh": ma.Policy.buy_and_hold()})
    assert res.periods_per_year == expected and res.periods_per_year_source.startswith("inferred from the dates")
    assert res.summary.loc["bh", "periods_per_year"] == expected
    bh = (p.to_numpy() / p.to_numpy()[0]) @ T  # buy and hold, computed from the prices
    assert res.summary.loc["bh", "annual_return"] == pytest.approx(_annual_return(bh, expected), rel=1e-12)


def test_a_monthly_series_is_annualised_as_monthly():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(7)
    r = rng.normal(0.008, 0.03, (120, 3))  # ten years of monthly returns
    p = pd.DataFrame(100 * np.cumprod(1 + r, axis=0), index=pd.date_range("2010-01-31", periods=120, freq="ME"))
    res = ma.backtest_rebalancing(p, T, {"bh": ma.Policy.buy_and_hold(), "monthly": ma.Policy.calendar("monthly")})
    growth = (p.to_numpy()[-1] / p.to_numpy()[0]) @ T  # value of buy and hold at the end
    years = 119 / 12
    expected = growth ** (1 / years) - 1
    got = res.summary.loc["bh", "annual_return"]
    assert got == pytest.approx(expected, rel=1e-12)
    assert 0.0 < got < 0.5  # the daily reading gave several hundred percent
    # monthly rebalancing to target: the constant-mix path, computed here
    mix = np.prod(1 + (p.to_numpy()[1:] / p.to_numpy()[:-1] - 1) @ T)
    assert res.summary.loc["monthly", "annual_return"] == pytest.approx(mix ** (1 / years) - 1, rel=1e-10)
    assert "12" in repr(res) and "inferred" in repr(res)


def test_dates_argument_and_a_given_value():
    p = prices(30)
    dates = np.arange("2000-01", "2002-07", dtype="datetime64[M]").astype("datetime64[D]")
    res = ma.backtest_rebalancing(p, T, [ma.Policy.buy_and_hold()], dates=dates)
    assert res.periods_per_year == 12.0
    given = ma.backtest_rebalancing(p, T, [ma.Policy.buy_and_hold()], dates=dates, periods_per_year=4)
    assert given.periods_per_year == 4.0 and given.periods_per_year_source == "given"
    bh = (p / p[0]) @ T
    assert np.asarray(given.summary["annual_return"])[0] == pytest.approx(_annual_return(bh, 4.0), rel=1e-12)


@pytest.mark.parametrize(
    "dates",
    [
        np.arange(0, 60 * 2, 2).astype("datetime64[D]"),  # every other day: no standard spacing
        np.zeros(60, dtype="datetime64[D]"),  # not increasing
        np.arange(0, 60 * 15, 15).astype("datetime64[D]"),  # fortnightly
    ],
)
def test_unreadable_spacings_ask_for_periods_per_year(dates):
    raises_naming("periods_per_year", lambda: ma.backtest_rebalancing(prices(), T, [ma.Policy.buy_and_hold()], dates=dates))


@pytest.mark.parametrize("dates", [["2020-01-01", "x"], "2020-01-01", np.arange(5).astype("datetime64[D]")])
def test_bad_dates_are_named(dates):
    raises_naming("dates", lambda: ma.backtest_rebalancing(prices(), T, [ma.Policy.buy_and_hold()], dates=dates))


# -- the command line with a reader that stops early -----------------------------------------------


@pytest.mark.parametrize("command", ["demo", "rebalancing", "funds"])
def test_a_closed_stdout_ends_the_command_quietly(command):
    env = dict(os.environ, PYTHONPATH=str(Path(ma.__file__).parent.parent))
    proc = subprocess.Popen(
        [sys.executable, "-m", "microalloc", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    proc.stdout.close()  # the reader is gone before the first line is written (as `| head -0`)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = proc.wait()
    assert "Traceback" not in err and "Broken pipe" not in err and err == "", err
    assert code == 141


def test_combine_funds_with_a_riskless_combination_names_the_covariance():
    # two funds with perfectly opposed active returns: 50/50 has no tracking error and alpha 0.015,
    # so the information ratio is unbounded; the error used to say that no alpha was positive
    te, corr = [0.1, 0.1], [[1.0, -1.0], [-1.0, 1.0]]
    e = raises_naming("correlations", lambda: ma.combine_funds(mu=[0.01, 0.02], tracking_errors=te, correlations=corr),
                      ma.InfeasibleError)
    assert "zero tracking error" in str(e)
    omega = 0.01 * np.array(corr)
    raises_naming("cov", lambda: ma.combine_funds(omega, [0.01, 0.02]), ma.InfeasibleError)
    e = raises_naming("mu", lambda: ma.combine_funds(omega, [-0.01, -0.02]), ma.InfeasibleError)
    assert "positive alpha" in str(e)


@pytest.mark.parametrize("ppy", [0, -1, float("inf"), float("nan"), True, "12", [12]])
def test_tracking_error_checks_periods_per_year_the_same_way(ppy):
    raises_naming("periods_per_year", lambda: ma.tracking_error([0.01, 0.02], [0.0, 0.0], periods_per_year=ppy))


# -- yes/no flags and the method: one check everywhere, never "truth value is ambiguous" ---------

FLAGGED = {
    "solve_mean_variance": lambda **f: ma.solve_mean_variance(S, MU, **f),
    "solve_mean_variance_batch": lambda **f: ma.solve_mean_variance_batch(S, np.tile(MU, (2, 1)), **f),
    "efficient_frontier": lambda **f: ma.efficient_frontier(S, MU, **f),
    "max_sharpe": lambda **f: ma.max_sharpe(S, MU, **f),
    "min_risk": lambda **f: ma.min_risk(S, MU, 0.07, **f),
    "max_return": lambda **f: ma.max_return(S, MU, target_volatility=0.25, **f),
    "active_portfolio": lambda **f: ma.active_portfolio(S, MU, T, max_tracking_error=0.02, **f),
    "risk_contributions": lambda **f: ma.risk_contributions(S, W, **f),
    "risk_budgeting": lambda **f: ma.risk_budgeting(S, **f),
    "money_risk_budget": lambda **f: ma.money_risk_budget(
        S, W, portfolio_value=1e6, risk_budget=1e4, allocation=T, **f
    ),
    "Covariance": lambda **f: ma.Covariance(S, **f),
}
RAISING = {"solve_mean_variance", "min_risk", "max_return", "risk_budgeting"}


@pytest.mark.parametrize("function", sorted(FLAGGED))
@pytest.mark.parametrize("value", [np.array([True, False]), np.array([True]), "no", None, 2, float("nan")])
def test_a_flag_that_is_not_a_bool_is_named(function, value):
    e = raises_naming("check_psd", lambda: FLAGGED[function](check_psd=value))
    assert "ambiguous" not in str(e) and "np." not in str(e)
    if function in RAISING:
        raises_naming("raise_on_failure", lambda: FLAGGED[function](raise_on_failure=value))


@pytest.mark.parametrize("function", sorted(FLAGGED))
def test_flags_take_python_and_numpy_bools(function):
    for value in (True, False, np.True_, np.False_):
        FLAGGED[function](check_psd=value)


@pytest.mark.parametrize("method", [np.array(["active_set", "active_set"]), ["active_set"], b"active_set", 5, None])
def test_a_method_that_is_not_a_name_is_named(method):
    for call in (lambda: ma.solve_mean_variance(S, MU, method=method),
                 lambda: ma.solve_mean_variance_batch(S, np.tile(MU, (2, 1)), method=method)):
        e = raises_naming("method", call)
        assert "ambiguous" not in str(e)


# -- tol: a relative gap below the rounding of float64 cannot be certified -----------------------

TOLERANT = {
    "solve_mean_variance": lambda t: ma.solve_mean_variance(S, MU, tol=t),
    "solve_mean_variance_batch": lambda t: ma.solve_mean_variance_batch(S, np.tile(MU, (2, 1)), tol=t),
    "efficient_frontier": lambda t: ma.efficient_frontier(S, MU, tol=t),
    "max_sharpe": lambda t: ma.max_sharpe(S, MU, tol=t),
    "min_risk": lambda t: ma.min_risk(S, MU, 0.07, tol=t),
    "max_return": lambda t: ma.max_return(S, MU, target_volatility=0.25, tol=t),
    "active_portfolio": lambda t: ma.active_portfolio(S, MU, T, max_tracking_error=0.02, tol=t),
    "combine_funds": lambda t: ma.combine_funds(S, MU, tol=t),
    "risk_budgeting": lambda t: ma.risk_budgeting(S, tol=t),
}


@pytest.mark.parametrize("function", sorted(TOLERANT))
@pytest.mark.parametrize("tol", [1e-300, 1e-17, 2.2e-16, 1e-14])
def test_a_tol_below_float64_rounding_is_refused(function, tol):
    e = raises_naming("tol", lambda: TOLERANT[function](tol))
    assert "rounding" in str(e)


FRONTIER_FAMILY = {"efficient_frontier", "max_sharpe", "min_risk", "max_return", "active_portfolio", "combine_funds"}


@pytest.mark.parametrize("function", sorted(FRONTIER_FAMILY))
@pytest.mark.parametrize("tol", [5e-14, 9.9e-13])
def test_the_frontier_functions_refuse_tol_below_their_floor(function, tol):
    raises_naming("tol", lambda: TOLERANT[function](tol))


@pytest.mark.parametrize("function", sorted(TOLERANT))
def test_the_smallest_tol_is_accepted(function):
    floor = ma._validate.FRONTIER_TOL_MIN if function in FRONTIER_FAMILY else ma._validate.TOL_MIN
    TOLERANT[function](floor)
