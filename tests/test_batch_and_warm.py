"""Batches (equal to one-by-one solves, for any thread count), warm starts of the active-set
method, and proof that the requested method ran."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma


def factor_cov(n: int, seed: int = 0, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = rng.normal(size=(n, k)) * 0.15
    s = b @ b.T + np.diag(rng.uniform(0.01, 0.05, n))
    return 0.5 * (s + s.T), rng.normal(0.06, 0.04, n)


def one_by_one(cov, mu_rows, ra, lo, up, budget, bench, method):
    out = []
    for i in range(mu_rows.shape[0]):
        out.append(
            ma.solve_mean_variance(
                cov, mu_rows[i], risk_aversion=ra[i], lower=lo[i], upper=up[i], budget=budget[i],
                benchmark=None if bench is None else bench[i], method=method,
            )
        )
    return out


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(2, 40),
    m=st.integers(1, 12),
    method=st.sampled_from(ma.METHODS),
    with_benchmark=st.booleans(),
)
def test_batch_equals_one_by_one_for_any_thread_count(seed, n, m, method, with_benchmark):
    cov, mu = factor_cov(n, seed)
    rng = np.random.default_rng(seed + 1)
    mu_rows = mu + 0.02 * rng.standard_normal((m, n))
    ra = rng.uniform(0.5, 20.0, m)
    lo = np.where(rng.random((m, n)) < 0.2, -0.05, 0.0)
    up = np.maximum(rng.uniform(1.5 / n, 1.0, (m, 1)) * np.ones((1, n)), lo + 0.01)
    budget = np.ones(m)
    bench = rng.dirichlet(np.ones(n), m) if with_benchmark else None
    ref = one_by_one(cov, mu_rows, ra, lo, up, budget, bench, method)
    for threads in (1, 2, 5):
        r = ma.solve_mean_variance_batch(
            cov, mu_rows, risk_aversion=ra, lower=lo, upper=up, budget=budget, benchmark=bench,
            method=method, threads=threads,
        )
        assert r.weights.shape == (m, n) and len(r) == m and r.threads == threads
        np.testing.assert_array_equal(r.weights, np.array([np.asarray(x.weights) for x in ref]))
        np.testing.assert_array_equal(r.status, [x.status for x in ref])
        np.testing.assert_array_equal(r.status_code, [x.status.code for x in ref])
        np.testing.assert_array_equal(r.iterations, [x.iterations for x in ref])
        np.testing.assert_array_equal(r.gap, [x.gap for x in ref])
        np.testing.assert_array_equal(r.objective, [x.objective for x in ref])


def test_batch_shares_rows_and_scalars():
    cov, mu = factor_cov(30, 3)
    r = ma.solve_mean_variance_batch(cov, mu, risk_aversion=[1.0, 5.0, 25.0], upper=0.2)
    assert len(r) == 3 and r.is_optimal.all()
    for i, ra in enumerate((1.0, 5.0, 25.0)):
        one = ma.solve_mean_variance(cov, mu, risk_aversion=ra, upper=0.2)
        np.testing.assert_array_equal(r.weights[i], one.weights)
    # risk falls as risk aversion rises (an independent monotonicity fact)
    assert r.volatility[0] >= r.volatility[1] >= r.volatility[2]


def test_bad_rows_get_a_status_and_never_stop_the_batch():
    cov, mu = factor_cov(10, 4)
    mu_rows = np.tile(mu, (5, 1))
    mu_rows[1, 3] = np.nan
    up = np.full((5, 10), 0.5)
    up[2] = 0.05  # sum(upper) = 0.5 < budget: infeasible
    ra = np.array([1.0, 1.0, 1.0, -1.0, 1.0])
    r = ma.solve_mean_variance_batch(cov, mu_rows, upper=up, risk_aversion=ra)
    assert r.status.tolist() == ["OPTIMAL", "INVALID_INPUT", "INFEASIBLE", "INVALID_INPUT", "OPTIMAL"]
    assert [ma.Status(int(c)) for c in r.status_code] == [
        ma.Status.OPTIMAL, ma.Status.INVALID_INPUT, ma.Status.INFEASIBLE, ma.Status.INVALID_INPUT, ma.Status.OPTIMAL,
    ]
    assert np.isnan(r.weights[1]).all() and np.isnan(r.weights[2]).all() and np.isnan(r.weights[3]).all()
    np.testing.assert_array_equal(r.weights[0], r.weights[4])
    with pytest.raises(ma.SolverError, match="row 1"):
        r.raise_for_status()


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"mu": np.zeros((3, 7))}, "mu"),
        # the input whose number of rows disagrees is named: with the first found on a tie, with
        # the majority, or with m
        ({"mu": np.zeros((3, 6)), "lower": np.zeros((2, 6))}, "lower"),
        ({"mu": np.zeros((3, 6)), "lower": np.zeros((4, 6)), "upper": np.ones((3, 6))}, "lower"),
        ({"lower": np.zeros((4, 6)), "mu": np.zeros((3, 6)), "upper": np.ones((3, 6))}, "lower"),
        ({"mu": np.zeros((3, 6)), "risk_aversion": np.ones(5)}, "risk_aversion"),
        ({"mu": np.zeros((3, 6)), "budget": np.ones(2), "risk_aversion": np.ones(3)}, "budget"),
        ({"mu": np.zeros((3, 6)), "m": 4}, "mu"),
        ({"mu": [[0.0] * 6, [0.0] * 5]}, "mu"),  # ragged rows
        ({"risk_aversion": np.ones((2, 2))}, "risk_aversion"),
        ({"threads": 0}, "threads"),
        ({"threads": 2**40}, "threads"),
        ({"threads": 2.0}, "threads"),
        ({"method": "simplex"}, "method"),
    ],
)
def test_batch_shape_errors_name_the_argument(kwargs, argument):
    cov, _ = factor_cov(6, 5)
    with pytest.raises(ma.InputError) as info:
        ma.solve_mean_variance_batch(cov, **kwargs)
    assert info.value.argument == argument


def test_batch_validates_the_covariance():
    cov, mu = factor_cov(6, 5)
    cov[0, 1] += 1e-3
    with pytest.raises(ma.NotSymmetricError):
        ma.solve_mean_variance_batch(cov, np.tile(mu, (2, 1)))


# ---------------------------------------------------------------------------------------------
# warm starts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    ["mu", "risk_aversion", "cap", "covariance"],
)
def test_active_set_warm_start_after_a_small_change(change):
    cov, mu = factor_cov(300, 6, k=5)
    kw = dict(risk_aversion=3.0, upper=0.05)
    prev = ma.solve_mean_variance(cov, mu, **kw)
    rng = np.random.default_rng(1)
    cov2, mu2, kw2 = cov, mu, dict(kw)
    if change == "mu":
        mu2 = mu * (1 + 0.01 * rng.normal(size=mu.size))
    elif change == "risk_aversion":
        kw2["risk_aversion"] = 3.03
    elif change == "cap":
        kw2["upper"] = 0.048
    else:
        e = rng.normal(size=(300, 1)) * 0.01
        cov2 = cov + e @ e.T
    cold = ma.solve_mean_variance(cov2, mu2, **kw2)
    warm = ma.solve_mean_variance(cov2, mu2, warm_start=prev, **kw2)
    assert cold.is_optimal and warm.is_optimal
    assert warm.objective == pytest.approx(cold.objective, rel=1e-10, abs=1e-14)
    assert warm.iterations < cold.iterations
    assert warm.iterations <= 12, (warm.iterations, cold.iterations)


def test_warm_start_from_dense_weights_is_projected_and_solved():
    cov, mu = factor_cov(80, 7)
    start = np.full(80, 1 / 80)  # every asset free: the solver drops them one by one
    r = ma.solve_mean_variance(cov, mu, risk_aversion=4.0, warm_start=start)
    cold = ma.solve_mean_variance(cov, mu, risk_aversion=4.0)
    assert r.is_optimal and r.objective == pytest.approx(cold.objective, rel=1e-10)


def test_the_requested_method_ran():
    """The info fields are filled in by the C++ solver that ran (not by the Python wrapper), and
    the iteration counts differ in kind: working-set changes against gradient steps."""
    cov, mu = factor_cov(120, 8)
    a = ma.solve_mean_variance(cov, mu, risk_aversion=5.0, method="active_set")
    p = ma.solve_mean_variance(cov, mu, risk_aversion=5.0, method="projected_gradient")
    assert a.method == "active_set" and p.method == "projected_gradient"
    assert "factorizations" in a.info and "lipschitz" not in a.info
    assert p.info["lipschitz"] > 0.0 and p.iterations % 10 == 0  # certificate checked every 10 steps
    n_free = 120 - len(a.active_lower) - len(a.active_upper)
    assert a.iterations <= 3 * (n_free + 5) < p.iterations
    assert a.objective == pytest.approx(p.objective, rel=1e-8)


def test_covariance_verdict_is_remembered_by_content_not_identity():
    from microalloc import covariance

    cov, mu = factor_cov(12, 9)
    covariance.clear_covariance_cache()
    ma.solve_mean_variance(cov, mu)
    assert len(covariance._CHECKED) == 1
    ma.solve_mean_variance(cov.copy(), mu)  # same bits, new array: remembered
    assert len(covariance._CHECKED) == 1
    bad = cov.copy()
    bad[2, 5] = bad[5, 2] = -1.5 * np.sqrt(bad[2, 2] * bad[5, 5])  # now not PSD
    with pytest.raises(ma.NotPSDError):
        ma.solve_mean_variance(bad, mu)
    cov[3, 3] *= 1.0 + 1e-15  # one bit-level change in place: checked afresh
    ma.solve_mean_variance(cov, mu)
    assert len(covariance._CHECKED) == 2


def _feasible(lo: np.ndarray, up: np.ndarray, budget: float) -> bool:
    """The definition: some w has lo <= w <= up and sum(w) = budget (a box meets a hyperplane
    exactly when no bound is crossed and the budget lies between the bound sums)."""
    return bool((lo <= up).all() and lo.sum() <= budget <= up.sum())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(2, 12), m=st.integers(1, 10), method=st.sampled_from(ma.METHODS))
def test_infeasible_batch_rows_are_infeasible_with_nan_numbers(seed, n, m, method):
    cov, mu = factor_cov(n, seed)
    rng = np.random.default_rng(seed)
    lo = np.round(rng.uniform(-0.2, 0.6, (m, n)) / n * 2, 3)
    up = np.round(lo + rng.uniform(-0.3, 1.0, (m, n)), 3)  # some entries crossed
    budget = np.round(rng.uniform(0.5, 1.5, m), 3)
    # keep away from the tolerance of the bound-sum tests: clearly in or clearly out
    for i in range(m):
        for s in (lo[i].sum(), up[i].sum()):
            if abs(s - budget[i]) < 1e-6:
                budget[i] += 0.01
    r = ma.solve_mean_variance_batch(cov, mu, lower=lo, upper=up, budget=budget, method=method)
    for i in range(m):
        if _feasible(lo[i], up[i], budget[i]):
            assert r.status[i] == ma.Status.OPTIMAL
            w = r.weights[i]
            assert (w >= lo[i] - 1e-9).all() and (w <= up[i] + 1e-9).all() and abs(w.sum() - budget[i]) < 1e-9
        else:
            assert r.status[i] == ma.Status.INFEASIBLE, (lo[i], up[i], budget[i])
            assert np.isnan(r.weights[i]).all()
            for field in (r.objective, r.expected_return, r.volatility, r.gap, r.rel_gap):
                assert np.isnan(field[i])


def test_crossed_bounds_row_of_a_batch():
    cov = np.diag([0.04, 0.09, 0.16])
    mu = np.array([0.08, 0.06, 0.04])
    r = ma.solve_mean_variance_batch(cov, mu, lower=[[0.5, 0, 0], [0, 0, 0]], upper=[[0.4, 1, 1], [1, 1, 1]])
    assert list(r.status) == [ma.Status.INFEASIBLE, ma.Status.OPTIMAL]
    assert np.isnan(r.weights[0]).all() and np.isnan(r.objective[0])
    with pytest.raises(ma.InfeasibleError):  # the single solve refuses the same row
        ma.solve_mean_variance(cov, mu, lower=[0.5, 0, 0], upper=[0.4, 1, 1])


def test_a_not_psd_edit_that_keeps_an_additive_fingerprint_is_checked_afresh():
    # Sign flips of a 2 x 2 block [[x, -x], [-x, x]] in rows i, i + 64 and columns j, j + 64 (and
    # their mirror): every row keeps the same sums of its entries and of their bit patterns, with
    # keys that repeat every 64 columns, so an additive fingerprint cannot tell the two matrices
    # apart. The first is PSD (smallest eigenvalue 0.12), the second is not (-0.198): its verdict
    # must not be the first one's.
    from microalloc import covariance

    n, i, j, k = 200, 3, 10, 150
    e = np.eye(n)
    v, u = e[i] - e[i + 64], e[j] - e[j + 64]
    w, z = 1.6 * (e[i] + e[k]), 1.6 * (e[j] + e[k])
    psd = np.eye(n) + np.outer(w, w) + np.outer(z, z) + 0.7 * (np.outer(v, u) + np.outer(u, v))
    flipped = psd.copy()
    for r in (i, i + 64):
        for c in (j, j + 64):
            flipped[r, c] = -flipped[r, c]
            flipped[c, r] = -flipped[c, r]
    assert np.array_equal(flipped, flipped.T)
    assert np.linalg.eigvalsh(psd).min() > 0.1 and np.linalg.eigvalsh(flipped).min() < -0.19
    covariance.clear_covariance_cache()
    assert ma.solve_mean_variance(psd).is_optimal
    with pytest.raises(ma.NotPSDError):
        ma.solve_mean_variance(flipped)
