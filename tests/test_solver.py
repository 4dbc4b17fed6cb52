"""Behaviour of solve_mean_variance: statuses, certificates, closed forms, warm starts, threads."""

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma
from microalloc import _core


def factor_cov(n, k=3, seed=0):
    rng = np.random.default_rng(seed)
    b = rng.normal(scale=0.15, size=(n, k))
    d = rng.uniform(0.15, 0.4, size=n) ** 2
    return b @ b.T + np.diag(d), rng.normal(0.06, 0.04, size=n)


def test_unconstrained_minimum_variance_matches_closed_form():
    s, _ = factor_cov(30)
    res = ma.solve_mean_variance(s, lower=-np.inf, upper=np.inf)
    x = np.linalg.solve(s, np.ones(30))
    np.testing.assert_allclose(res.weights, x / x.sum(), atol=1e-8)
    assert res.is_optimal


def test_budget_only_mean_variance_matches_closed_form():
    # max mu'w - (g/2) w'Sw s.t. 1'w = B: w = S^-1 (mu - nu 1)/g with nu fixing the budget.
    s, mu = factor_cov(20, seed=1)
    g, budget = 4.0, 1.5
    a, b = np.linalg.solve(s, mu), np.linalg.solve(s, np.ones(20))
    nu = (a.sum() - g * budget) / b.sum()
    w = (a - nu * b) / g
    res = ma.solve_mean_variance(s, mu, risk_aversion=g, lower=-np.inf, upper=np.inf, budget=budget, tol=1e-12)
    assert res.is_optimal
    np.testing.assert_allclose(res.weights, w, atol=1e-7)
    # The budget multiplier is the marginal utility of budget: -d f*/dB = nu.
    assert res.budget_multiplier == pytest.approx(nu, rel=1e-6)


def test_unique_feasible_point():
    s, mu = factor_cov(5)
    lo = np.array([0.1, 0.2, 0.3, 0.1, 0.3])
    res = ma.solve_mean_variance(s, mu, lower=lo, upper=1.0)
    np.testing.assert_array_equal(res.weights, lo)
    assert res.is_optimal and res.gap == 0.0


def test_single_asset():
    res = ma.solve_mean_variance(np.array([[0.04]]), budget=1.0)
    assert res.is_optimal and res.weights[0] == 1.0 and res.volatility == pytest.approx(0.2)


def test_benchmark_inside_the_box_is_the_minimum_tracking_error_portfolio():
    s, _ = factor_cov(25, seed=2)
    b = np.full(25, 1 / 25)
    res = ma.solve_mean_variance(s, benchmark=b, upper=0.1)
    np.testing.assert_allclose(res.weights, b, atol=1e-9)
    assert res.tracking_error < 1e-6 and res.is_optimal


def test_linear_program_when_risk_aversion_is_zero():
    mu = np.array([0.03, 0.09, 0.05, 0.09, 0.01])
    s, _ = factor_cov(5)
    res = ma.solve_mean_variance(s, mu, risk_aversion=0.0, upper=0.4)
    # Greedy by hand: 0.4 to each of the two 9% assets, the remaining 0.2 to the 5% asset.
    np.testing.assert_allclose(res.weights, [0, 0.4, 0.2, 0.4, 0], atol=1e-15)
    assert res.is_optimal and res.iterations == 0


def test_max_iter_status_and_opt_in_raise():
    s, mu = factor_cov(200, seed=3)
    res = ma.solve_mean_variance(s, mu, risk_aversion=3.0, max_iter=2)
    assert res.status == ma.Status.MAX_ITER
    assert not res.is_optimal
    assert res.rel_gap > res.tol and res.gap > 0
    # Even unfinished, the weights are feasible.
    assert abs(res.weights.sum() - 1) < 1e-12 and res.weights.min() >= 0
    with pytest.raises(ma.SolverError, match="MAX_ITER") as info:
        res.raise_for_status()
    assert info.value.result is res
    with pytest.raises(ma.SolverError):
        ma.solve_mean_variance(s, mu, risk_aversion=3.0, max_iter=2, raise_on_failure=True)
    ok = ma.solve_mean_variance(s, mu, risk_aversion=3.0)
    assert ok.raise_for_status() is ok


def test_certificate_bounds_the_true_suboptimality():
    s, mu = factor_cov(100, seed=4)
    best = ma.solve_mean_variance(s, mu, risk_aversion=2.0, tol=1e-13)
    for k in (1, 3, 10, 30):
        res = ma.solve_mean_variance(s, mu, risk_aversion=2.0, max_iter=k)
        assert res.gap >= res.objective - best.objective - 1e-15


@pytest.mark.parametrize("method", ma.METHODS)
def test_warm_start_from_the_optimum_costs_at_most_one_iteration(method):
    # projected gradient certifies the start point (0 iterations); the active set may take one
    # rounding-sized step on the carried-over working set before it certifies
    s, mu = factor_cov(100, seed=5)
    cold = ma.solve_mean_variance(s, mu, risk_aversion=3.0, method=method)
    warm = ma.solve_mean_variance(s, mu, risk_aversion=3.0, warm_start=cold, method=method)
    assert cold.iterations > 1 and warm.iterations <= (0 if method == "projected_gradient" else 1)
    assert warm.is_optimal


def test_warm_start_after_a_small_change_is_cheaper():
    s, mu = factor_cov(300, seed=6)
    prev = ma.solve_mean_variance(s, mu, risk_aversion=3.0, upper=0.05)
    mu2 = mu * (1 + 0.01 * np.random.default_rng(0).normal(size=mu.size))
    cold = ma.solve_mean_variance(s, mu2, risk_aversion=3.0, upper=0.05)
    warm = ma.solve_mean_variance(s, mu2, risk_aversion=3.0, upper=0.05, warm_start=prev.weights)
    assert warm.is_optimal and cold.is_optimal
    assert warm.iterations < cold.iterations
    assert warm.objective == pytest.approx(cold.objective, rel=1e-8)


def test_indefinite_covariance_without_psd_check_is_reported_not_convex():
    # Correlations within [-1, 1] but an eigenvalue of -0.8 whose eigenvector sums to zero, so the
    # objective is non-convex on the budget plane itself.
    c = np.array([[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]])
    vals, vecs = np.linalg.eigh(c)
    assert vals[0] < 0 and abs(vecs[:, 0].sum()) < 1.0
    res = ma.solve_mean_variance(c, lower=-1.0, upper=2.0, check_psd=False, method="projected_gradient")
    assert res.status == ma.Status.NOT_CONVEX
    assert not res.is_optimal


def test_active_set_reports_a_negative_pivot_as_not_convex():
    # Long-only, the active set frees all three assets on its way; the full 3 x 3 block is
    # indefinite (eigenvalue -0.8), so the last Cholesky pivot is negative.
    c = np.array([[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]])
    res = ma.solve_mean_variance(c, lower=0.0, upper=1.0, check_psd=False)
    assert res.method == "active_set"
    assert res.status == ma.Status.NOT_CONVEX and not res.is_optimal
    with pytest.raises(ma.NotPSDError):
        ma.solve_mean_variance(c, lower=0.0, upper=1.0)  # the default check refuses it outright


@settings(max_examples=40)
@given(st.integers(2, 40), st.floats(0.1, 20), st.floats(0.3, 5), st.integers(0, 2**31 - 1))
def test_optimal_status_always_carries_a_passing_certificate(n, gamma, budget, seed):
    s, mu = factor_cov(n, seed=seed)
    cap = max(1.5 / n, 0.2) * budget
    res = ma.solve_mean_variance(s, mu, risk_aversion=gamma, upper=cap, budget=budget)
    assert res.status == ma.Status.OPTIMAL
    assert res.rel_gap <= res.tol
    assert res.primal_residual <= 1e-10 * max(1, budget)
    w = np.asarray(res.weights)
    assert w.min() >= 0 and w.max() <= cap
    assert res.objective == pytest.approx(0.5 * gamma * w @ s @ w - mu @ w, rel=1e-10, abs=1e-14)
    assert set(res.active_lower) == set(np.flatnonzero(w == 0.0))
    assert set(res.active_upper) == set(np.flatnonzero(w == cap))


@settings(max_examples=25)
@given(st.integers(2, 30), st.floats(0.5, 10), st.integers(0, 2**31 - 1))
def test_scaling_the_budget_and_bounds_scales_the_solution(n, scale, seed):
    s, _ = factor_cov(n, seed=seed)
    cap = max(2.0 / n, 0.15)
    one = ma.solve_mean_variance(s, upper=cap, tol=1e-12)
    big = ma.solve_mean_variance(s, upper=cap * scale, budget=scale, tol=1e-12)
    np.testing.assert_allclose(big.weights, scale * one.weights, atol=1e-6 * scale)


def test_pandas_labels_round_trip():
    pd = pytest.importorskip("pandas")
    s, mu = factor_cov(4)
    names = ["AAA", "BBB", "CCC", "DDD"]
    res = ma.solve_mean_variance(pd.DataFrame(s, index=names, columns=names), pd.Series(mu, index=names))
    assert isinstance(res.weights, pd.Series) and list(res.weights.index) == names
    plain = ma.solve_mean_variance(s, mu)
    np.testing.assert_array_equal(res.weights.to_numpy(), plain.weights)


def test_result_is_immutable_and_independent_of_later_input_changes():
    s, mu = factor_cov(10)
    res = ma.solve_mean_variance(s, mu)
    w = res.weights.copy()
    assert not res.weights.flags.writeable
    with pytest.raises(ValueError):
        res.weights[0] = 1.0
    s[:] = 0.0
    np.testing.assert_array_equal(res.weights, w)


def test_other_dtypes_and_orders_are_normalised():
    s, mu = factor_cov(8)
    ref = ma.solve_mean_variance(s, mu).weights
    np.testing.assert_allclose(ma.solve_mean_variance(np.asfortranarray(s), mu).weights, ref, atol=1e-12)
    np.testing.assert_allclose(ma.solve_mean_variance(s.tolist(), list(mu)).weights, ref, atol=1e-12)
    s32 = ma.solve_mean_variance(s.astype(np.float32), mu.astype(np.float32))
    assert s32.is_optimal


def test_core_binding_refuses_silent_copies():
    """The binding only accepts float64 C-ordered arrays: a wrong layout is a TypeError, never a copy."""
    s, mu = factor_cov(8)
    e = np.empty(0)
    args = (mu, np.zeros(8), np.ones(8), e, 1.0, 1.0, e, 1e-9, 100, False)
    assert _core.solve_projected_gradient(s, *args).status == _core.Status.OPTIMAL
    for bad in (np.asfortranarray(s), s.astype(np.float32), np.ascontiguousarray(s, dtype=np.float64).astype(np.int64)):
        with pytest.raises(TypeError):
            _core.solve_projected_gradient(bad, *args)


def test_gil_is_released_during_the_solve():
    """The main thread runs Python code while the solve is still inside C++.

    With a long switch interval the main thread, woken by `started`, can take the GIL only when the
    worker gives it up. If the solve held the GIL, the main thread's first timestamp would come after
    the C++ call returned, i.e. after call_start + solve_time_s (measured inside C++).
    """
    s, mu = factor_cov(1500, k=5, seed=7)
    e = np.empty(0)
    lo, up = np.zeros(1500), np.full(1500, 0.01)
    started = threading.Event()
    out = {}

    def work():
        started.set()
        out["call_start"] = time.perf_counter()
        out["result"] = _core.solve_projected_gradient(s, mu, lo, up, e, 5.0, 1.0, e, 1e-12, 300, False)

    old = sys.getswitchinterval()
    sys.setswitchinterval(5.0)  # far longer than the solve (~0.2 s): no forced switch
    try:
        t = threading.Thread(target=work)
        t.start()
        started.wait()
        main_ran_at = time.perf_counter()
        t.join()
    finally:
        sys.setswitchinterval(old)
    assert out["result"].solve_time_s > 0
    assert main_ran_at < out["call_start"] + out["result"].solve_time_s


def test_concurrent_solves_match_sequential_ones():
    problems = [factor_cov(120, seed=k) for k in range(8)]
    seq = [ma.solve_mean_variance(s, mu, risk_aversion=2.0, upper=0.05).weights for s, mu in problems]
    with ThreadPoolExecutor(4) as pool:
        par = list(pool.map(lambda p: ma.solve_mean_variance(p[0], p[1], risk_aversion=2.0, upper=0.05).weights, problems))
    for a, b in zip(seq, par):
        np.testing.assert_array_equal(a, b)


def test_repr_and_method_are_reported():
    s, mu = factor_cov(6)
    res = ma.solve_mean_variance(s, mu)
    assert res.method == "active_set"
    assert "status=OPTIMAL" in repr(res)


def _factor_cov(n, seed):
    rng = np.random.default_rng(seed)
    b = rng.normal(1.0, 0.3, (n, 1)) * 0.16
    return b @ b.T + np.diag(rng.uniform(0.02, 0.09, n))


def test_active_set_crosses_over_when_most_assets_are_free():
    # Long-short minimum variance: every asset free at the optimum, which is the closed form
    # S^-1 1 / 1'S^-1 1 when it lies inside the box. The greedy vertex start is far from it, so the
    # active set hands over to projected gradient and finishes from its point.
    n = 300
    s = _factor_cov(n, 7)
    x = np.linalg.solve(s, np.ones(n))
    w_star = x / x.sum()
    assert np.abs(w_star).max() < 0.5  # inside the box below
    res = ma.solve_mean_variance(s, lower=-0.5, upper=0.5)
    assert res.is_optimal
    assert res.info["crossover_iterations"] > 0
    assert res.active_lower.size == 0 and res.active_upper.size == 0
    np.testing.assert_allclose(res.weights, w_star, rtol=0, atol=1e-9)


def test_the_primal_dual_steps_carry_the_solve_whether_few_or_many_assets_are_free():
    # one-factor covariance: mean-variance keeps every asset, minimum variance few; three-factor
    # covariance (with its mu): the other way round. The primal-dual active set moves every wrong
    # bound per step: a handful of steps either way (pivoting one asset at a time would take about
    # one iteration per free asset), and the primal method is not needed to finish.
    one = _factor_cov(400, 8)
    three, mu3 = factor_cov(400, seed=8)
    mu1 = np.random.default_rng(8).normal(0.06, 0.04, 400)
    frees = set()
    for s, mu in ((one, mu1), (one, None), (three, mu3), (three, None)):
        for cap in (1.0, 0.05):
            res = ma.solve_mean_variance(s, mu, risk_aversion=5.0, upper=cap)
            assert res.is_optimal
            free = 400 - res.active_lower.size - res.active_upper.size
            steps = res.info["crossover_iterations"]
            assert 1 <= steps <= 12, (free, steps)
            assert res.iterations == steps  # no primal pivots after the steps settled
            frees.add(free > 200)
    assert frees == {True, False}


@pytest.mark.parametrize("mu", [0.0316, np.sqrt(0.001), 0.05, 1.0, 100.0])
@pytest.mark.parametrize("method", ma.METHODS)
def test_two_identical_assets_with_large_expected_returns(mu, method):
    # Equal assets, equal mu, large against ra * S: the start is the vertex (1, 0), and with one
    # free asset held by the budget the step u - nu e is rounding, not a move (it used to block at
    # once, drop the asset, and free it again until the iteration limit). Optimum: (1/2, 1/2) by
    # symmetry (the risk term is strictly convex, the return is the same for every w).
    for ra in (0.5, 1.0, 2.0):
        r = ma.solve_mean_variance(np.diag([0.001, 0.001]), [mu, mu], risk_aversion=ra, method=method)
        assert r.status == ma.Status.OPTIMAL, (ra, r)
        np.testing.assert_allclose(r.weights, [0.5, 0.5], rtol=0, atol=1e-9)


@pytest.mark.parametrize("method", [["active_set"], np.array(["active_set", "active_set"]), None, b"active_set", "nope"])
def test_a_method_that_is_not_one_of_the_names_is_named(method):
    # an array used to escape as an ambiguous truth value
    cov, mu = np.diag([0.04, 0.09]), np.array([0.05, 0.08])
    for call in (lambda: ma.solve_mean_variance(cov, mu, method=method),
                 lambda: ma.solve_mean_variance_batch(cov, mu[None, :], method=method)):
        with pytest.raises(ma.errors.InputError) as info:
            call()
        assert info.value.argument == "method"


@pytest.mark.parametrize("huge", [1e100, 1e300])
def test_a_huge_upper_bound_is_no_false_infeasibility(huge):
    """The budget-implied box beside one huge bound: the sum of the others' upper bounds was the
    total minus the huge one, which cancelled to 0 and implied lower = budget on that asset
    (INFEASIBLE). A huge bound must act as no bound: the same weights as +inf, here from the
    closed form of two assets (the budget leaves one degree of freedom)."""
    s = np.array([[0.04, 0.006], [0.006, 0.09]])
    lo = np.array([0.2143, 0.0084])
    for upper in ([huge, 0.67], [np.inf, 0.67]):
        res = ma.solve_mean_variance(s, lower=lo, upper=np.array(upper))
        # min w'Sw on w0 + w1 = 1: w0 = (s11 - s01) / (s00 + s11 - 2 s01), inside both boxes
        w0 = (s[1, 1] - s[0, 1]) / (s[0, 0] + s[1, 1] - 2 * s[0, 1])
        assert res.is_optimal
        np.testing.assert_allclose(res.weights, [w0, 1 - w0], atol=1e-12)
    rows = ma.Constraints(lo, np.array([huge, 0.67]), linear=(np.array([1.0, 0.0]), -np.inf, 0.6))
    res = ma.solve_mean_variance(s, constraints=rows)  # the row binds: w = (0.6, 0.4)
    assert res.is_optimal
    np.testing.assert_allclose(res.weights, [0.6, 0.4], atol=1e-12)
