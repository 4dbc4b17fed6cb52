"""No OPTIMAL with a non-finite number: data whose products overflow or underflow in float64 are
refused with an InputError naming the argument, and a final guard in every result builder turns a
non-finite number under OPTIMAL into NUMERICAL_ERROR.

The limits (microalloc._validate): n * max variance * max|w - b|^2 and n * max|mu| * max|w| at most
1e300; the largest variance at least 1e-290; on the frontier and its targets max|mu| at least
1e-150 of max variance * max|w| (1 / risk_aversion along the path is about their ratio, and its
square enters the risk)."""

from __future__ import annotations

import itertools
import types

import numpy as np
import pytest

import microalloc as ma
from microalloc import _core
from microalloc.result import finite_status


def problem(n=6, seed=1):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 2)) * 0.2
    s = f @ f.T + np.diag(rng.uniform(0.01, 0.04, n))
    return s, rng.normal(0.06, 0.03, n), rng.dirichlet(np.ones(n))


def finite(*xs):
    return all(np.isfinite(np.asarray(x, dtype=float)).all() for x in xs if x is not None)


def test_a_benchmark_of_size_1e300_is_refused_not_optimal_with_inf():
    s, mu, b = problem()
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(s, mu, benchmark=b * 1e300)
    assert e.value.argument == "benchmark" and "overflows" in str(e.value)
    with pytest.raises(ma.InputError) as e:
        ma.efficient_frontier(s, mu, benchmark=b * 1e300)
    assert e.value.argument == "benchmark"
    # a batch never raises for one row: the row is INVALID_INPUT with NaN numbers, never inf
    r = ma.solve_mean_variance_batch(s, np.tile(mu, (2, 1)), benchmark=np.vstack([b, b * 1e300]))
    assert r.status[0] == ma.Status.OPTIMAL and finite(r.weights[0], r.objective[0], r.tracking_error[0], r.volatility[0])
    assert r.status[1] == ma.Status.INVALID_INPUT
    assert np.isnan([r.objective[1], r.tracking_error[1], r.volatility[1], r.expected_return[1], r.gap[1]]).all() and np.isnan(r.weights[1]).all()


def test_batch_rows_beyond_the_scale_limits_are_invalid_not_inf():
    """The limits of the single solve, row by row: each row that the single solve refuses is
    INVALID_INPUT with NaN numbers; the others are solved exactly as alone."""
    s, mu, b = problem()
    rows_mu = np.vstack([mu, mu * 1e301, mu, mu])
    rows_b = np.vstack([b, b, b * 1e300, b])
    ra = np.array([1.0, 1.0, 1.0, 1e305])
    r = ma.solve_mean_variance_batch(s, rows_mu, benchmark=rows_b, risk_aversion=ra)
    for i in range(4):
        try:
            alone = ma.solve_mean_variance(s, rows_mu[i], benchmark=rows_b[i], risk_aversion=ra[i])
        except ma.InputError:
            assert r.status[i] == ma.Status.INVALID_INPUT, i
            assert np.isnan([r.objective[i], r.tracking_error[i], r.volatility[i], r.expected_return[i], r.gap[i], r.rel_gap[i]]).all()
            continue
        assert r.status[i] == ma.Status.OPTIMAL, i
        np.testing.assert_allclose(r.weights[i], alone.weights, rtol=1e-12, atol=1e-15)
    assert list(r.status) == ["OPTIMAL", "INVALID_INPUT", "INVALID_INPUT", "INVALID_INPUT"]
    # a covariance whose products underflow is every row's: refused by name, as in the single solve
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance_batch(s * 1e-300, rows_mu)
    assert e.value.argument == "cov"


def test_expected_returns_too_small_for_the_frontier_are_refused():
    s, mu, b = problem()
    tiny = mu * 1e-300
    for call in (
        lambda: ma.efficient_frontier(s, tiny),
        lambda: ma.max_return(s, tiny, target_volatility=0.15),
        lambda: ma.min_risk(s, tiny, target_return=float(tiny.mean())),
        lambda: ma.max_sharpe(s, tiny),
    ):
        with pytest.raises(ma.InputError) as e:
            call()
        assert e.value.argument == "mu" and "underflow" in str(e.value)
    with pytest.raises(ma.InputError) as e:
        ma.active_portfolio(s, tiny, b, max_tracking_error=0.02)
    assert e.value.argument == "mu"
    # the single solve has no path to walk: tiny mu is just minimum variance, certified and finite
    r = ma.solve_mean_variance(s, tiny)
    assert r.is_optimal and finite(r.weights, r.objective, r.volatility, r.gap)
    # an all-zero mu is not a scale problem (a one-point frontier)
    assert ma.efficient_frontier(s, np.zeros(len(mu))).status == ma.Status.OPTIMAL


def test_expected_returns_too_large_for_the_frontier_are_refused():
    """mu of size 1e298 passes the product limit (n * max|mu| * max|w| <= 1e300) but the path's
    risk aversions (about max|mu| / (max_var max|w|)) overflow: refused naming mu."""
    s, mu, b = problem()
    huge = mu * 1e298
    for call in (
        lambda: ma.efficient_frontier(s, huge),
        lambda: ma.max_return(s, huge, target_volatility=0.15),
        lambda: ma.min_risk(s, huge, target_return=float(huge.mean())),
        lambda: ma.max_sharpe(s, huge),
    ):
        with pytest.raises(ma.InputError) as e:
            call()
        assert e.value.argument == "mu" and "overflow" in str(e.value)
    with pytest.raises(ma.InputError) as e:
        ma.active_portfolio(s, huge, b, max_tracking_error=0.02)
    assert e.value.argument == "mu"
    with pytest.raises(ma.InputError) as e:
        ma.combine_funds(s, huge)
    assert e.value.argument == "mu"
    # just inside the limit the path is finite and certified
    fr = ma.efficient_frontier(s, mu * 1e140)
    assert fr.status == ma.Status.OPTIMAL and finite(fr.weights, fr.expected_return, fr.volatility)


def test_combine_funds_names_active_cov_in_the_scale_limits():
    s, mu, _ = problem()
    for cov in (s * 1e301, s * 1e-300):
        with pytest.raises(ma.InputError) as e:
            ma.combine_funds(cov, mu)
        assert e.value.argument == "cov", str(e.value)


def test_a_covariance_too_large_for_an_ordinary_benchmark_is_named():
    """The active-risk limit blames the benchmark only when it is larger than the weights."""
    s, mu, b = problem()
    big = s / s.max() * 1e300 / len(mu) * 0.9  # passes n * max_var <= 1e300, fails with |w - b|
    with pytest.raises(ma.InputError) as e:
        ma.efficient_frontier(big, mu, benchmark=b)
    assert e.value.argument == "cov", str(e.value)


@pytest.mark.parametrize(
    "scale, kwargs, argument",
    [
        (1e-300, {}, "cov"),  # variances near the subnormal range
        (1.0, {"budget": 1e200, "upper": np.inf}, "budget"),
        (1.0, {"mu_scale": 1e307}, "mu"),
        (1.0, {"risk_aversion": 1e305}, "risk_aversion"),
    ],
)
def test_scales_that_cannot_work_name_the_argument(scale, kwargs, argument):
    s, mu, _ = problem()
    mu = mu * kwargs.pop("mu_scale", 1.0)
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(s * scale, mu, **kwargs)
    assert e.value.argument == argument


def test_covariance_at_1e300_is_refused_once_n_times_it_overflows():
    s, mu, _ = problem(n=20)
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(s / np.diag(s).max() * 1e299, mu)  # n * max variance = 2e300
    assert e.value.argument == "cov"
    r = ma.solve_mean_variance(s / np.diag(s).max() * 1e297, mu)  # 2e298: representable
    assert r.status != ma.Status.OPTIMAL or finite(r.weights, r.objective, r.volatility, r.tracking_error, r.gap, r.rel_gap)


def test_no_optimal_with_a_non_finite_number_over_a_grid_of_scales():
    """Every combination of scales of cov, mu and the benchmark from 1e-300 to 1e300: refused,
    a non-OPTIMAL status, or OPTIMAL with every number finite -- never OPTIMAL with inf or NaN."""
    s, mu, b = problem()
    scales = [1e-300, 1e-150, 1.0, 1e150, 1e300]
    optimal = 0
    for cs, ms, bs in itertools.product(scales, scales, [None, 1.0, 1e150, 1e300]):
        sx, mx, bx = s * cs, mu * ms, None if bs is None else b * bs
        vol = float(np.sqrt(np.diag(sx)).mean())
        calls = {
            "solve": lambda: ma.solve_mean_variance(sx, mx, benchmark=bx),
            "long_short": lambda: ma.solve_mean_variance(sx, mx, benchmark=bx, lower=-1.0, upper=2.0),
            "frontier": lambda: ma.efficient_frontier(sx, mx, benchmark=bx),
            "min_risk": lambda: ma.min_risk(sx, mx, float(np.median(mx)), benchmark=bx),
            "max_return": lambda: (
                ma.max_return(sx, mx, target_volatility=vol) if bx is None
                else ma.max_return(sx, mx, target_tracking_error=0.3 * vol, benchmark=bx)
            ),
        }
        for name, call in calls.items():
            try:
                r = call()
            except (ma.InputError, ma.SolverError):
                continue
            if r.status != ma.Status.OPTIMAL:
                continue
            optimal += 1
            if name == "frontier":
                numbers = (r.weights, r.volatility, r.expected_return, r.tracking_error, r.max_rel_gap)
            elif name in ("min_risk", "max_return"):
                numbers = (r.weights, r.volatility, r.expected_return, r.tracking_error, r.gap, r.rel_gap)
            else:
                numbers = (r.weights, r.objective, r.expected_return, r.volatility, r.tracking_error, r.gap, r.rel_gap, r.budget_multiplier)
            assert finite(*numbers), (name, cs, ms, bs)
        try:
            batch = ma.solve_mean_variance_batch(sx, np.tile(mx, (2, 1)), benchmark=bx)
        except ma.InputError as e:
            assert e.argument == "cov", (cs, ms, bs, str(e))  # the shared covariance, not a row
            continue
        for i in range(len(batch)):  # never inf, whatever the status
            numbers = (batch.weights[i], batch.objective[i], batch.volatility[i], batch.gap[i])
            if batch.status[i] in ("INVALID_INPUT", "INFEASIBLE"):
                assert np.isnan(np.hstack(numbers)).all(), (cs, ms, bs)
            else:
                assert finite(*numbers), (cs, ms, bs, batch.status[i])
    assert optimal > 100  # the grid is not all refusals


def test_the_final_guard_of_the_result_builders(monkeypatch):
    """Whatever the core reports, a non-finite number never leaves with OPTIMAL."""
    assert finite_status(ma.Status.OPTIMAL, 1.0, np.array([1.0, np.inf])) == ma.Status.NUMERICAL_ERROR
    assert finite_status(ma.Status.OPTIMAL, 1.0, None, np.ones(3)) == ma.Status.OPTIMAL
    assert finite_status(ma.Status.MAX_ITER, np.nan) == ma.Status.MAX_ITER
    s, mu, _ = problem()
    real_solve, real_frontier = _core.solve_active_set, _core.efficient_frontier

    def solve_with_inf_objective(*args):
        raw = real_solve(*args)
        fields = list(raw.fields)
        fields[2] = np.inf  # objective, as an overflow would leave it
        return types.SimpleNamespace(fields=tuple(fields), factorizations=raw.factorizations,
                                     zero_curvature_steps=raw.zero_curvature_steps,
                                     crossover_iterations=raw.crossover_iterations)

    def frontier_with_nan_risk(*args):
        raw = dict(real_frontier(*args))
        raw["risk"] = np.where(np.arange(len(raw["risk"])) == 1, np.nan, raw["risk"])
        return raw

    assert ma.solve_mean_variance(s, mu).is_optimal
    monkeypatch.setattr(_core, "solve_active_set", solve_with_inf_objective)
    r = ma.solve_mean_variance(s, mu)
    assert r.status == ma.Status.NUMERICAL_ERROR and np.isinf(r.objective)
    assert ma.efficient_frontier(s, mu).status == ma.Status.OPTIMAL
    monkeypatch.setattr(_core, "efficient_frontier", frontier_with_nan_risk)
    fr = ma.efficient_frontier(s, mu)
    assert fr.status == ma.Status.NUMERICAL_ERROR and "not finite" in fr.message


def test_an_overflowing_objective_names_the_factor_out_of_scale():
    """risk_aversion * risk overflowing with both factors below the limit: the covariance scaled
    near the limit is at fault at an ordinary risk aversion, the risk aversion at an ordinary
    covariance."""
    s = np.array([[0.04, 0.01], [0.01, 0.09]])
    mu = np.array([0.05, 0.08])
    with pytest.raises(ma.InputError) as info:
        ma.solve_mean_variance(s * 1e300 / 0.18 * 0.5, mu, risk_aversion=3.0)  # risk ~ 5e299
    assert info.value.argument == "cov"
    with pytest.raises(ma.InputError) as info:
        ma.solve_mean_variance(s, mu, risk_aversion=1e302)
    assert info.value.argument == "risk_aversion"


def test_a_ratio_of_mu_to_the_risk_out_of_range_names_the_input_out_of_scale():
    """The frontier needs max|mu| within 1e150 of max variance * max|w| either way: a covariance
    scaled to 1e298 with ordinary returns is the covariance's fault, returns of 1e-160 against an
    ordinary covariance the returns'."""
    s = np.array([[0.04, 0.01], [0.01, 0.09]])
    mu = np.array([0.05, 0.08])
    with pytest.raises(ma.InputError) as info:
        ma.efficient_frontier(s * 1e298, mu)
    assert info.value.argument == "cov"
    with pytest.raises(ma.InputError) as info:
        ma.efficient_frontier(s, mu * 1e-160)
    assert info.value.argument == "mu"
    with pytest.raises(ma.InputError) as info:
        ma.max_sharpe(s * 1e-200, mu)
    assert info.value.argument == "cov"
