"""Risk budgeting on a FactorCovariance (docs/methods.md §6.1): the model is never formed, each sweep
is O(n k). Checked against the same problem on the formed matrix (to_dense(), the dense path) and
against the budgets through risk contributions recomputed here from the formed matrix."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import microalloc as ma
from microalloc.errors import InputError

U = 2.0**-53


def realistic_model(n: int, k: int, rng: np.random.Generator) -> ma.FactorCovariance:
    """A market factor and k - 1 style factors (diagonal F), systematic share 20-60% of each
    variance: the model of bench/conftest.py's factor_covariance, kept factored."""
    factor_vol = np.r_[0.16, rng.uniform(0.03, 0.10, k - 1)]
    x = np.column_stack([rng.normal(1.0, 0.3, n), rng.normal(0.0, 1.0, (n, k - 1))])
    systematic = (x**2) @ factor_vol**2
    vol = rng.uniform(0.15, 0.40, n)
    r2 = rng.uniform(0.2, 0.6, n)
    x *= np.sqrt(r2 * vol**2 / systematic)[:, None]
    return ma.FactorCovariance(x, np.diag(factor_vol**2), (1.0 - r2) * vol**2)


def contribution_error(s: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """max |rc_i / b_i - 1| over the positive budgets, with rc from the formed matrix, and the
    certificate's rounding floor there, 8 u max (|S| w)_i / |(S w)_i| (capped at 1e-8)."""
    sw = s @ w
    rc = w * sw / (w @ sw)
    pos = b > 0
    bn = b / b.sum()
    err = float(np.max(np.abs(rc[pos] / bn[pos] - 1.0)))
    floor = min(8 * U * float(np.max((np.abs(s) @ np.abs(w))[pos] / np.abs(sw[pos]))), 1e-8)
    return err, floor


@pytest.mark.parametrize("n, k", [(30, 3), (500, 10), (2000, 20)])
@pytest.mark.parametrize("budgets", ["equal", "random"])
def test_factor_matches_dense(n, k, budgets):
    rng = np.random.default_rng(n + k)
    fc = realistic_model(n, k, rng)
    b = None if budgets == "equal" else rng.dirichlet(np.ones(n)) * (rng.random(n) > 0.2)
    r = ma.risk_budgeting(fc, b)
    s = fc.to_dense()
    rd = ma.risk_budgeting(s, b)
    assert r.status == ma.Status.OPTIMAL and rd.status == ma.Status.OPTIMAL
    np.testing.assert_allclose(r.weights, rd.weights, rtol=1e-9, atol=0)
    bb = np.full(n, 1.0 / n) if b is None else b
    assert np.all(np.asarray(r.weights)[bb == 0] == 0)
    assert abs(np.sum(r.weights) - 1.0) < 1e-14
    err, floor = contribution_error(s, np.asarray(r.weights), bb)
    assert err <= 1e-12 + 2 * floor + 1e-13  # tol, the floor (numpy sums in its own order)
    np.testing.assert_allclose(r.risk_contributions, np.asarray(r.weights) * (s @ r.weights) / (r.weights @ s @ r.weights), rtol=1e-10)
    assert r.volatility == pytest.approx(np.sqrt(r.weights @ s @ r.weights), rel=1e-12)


@st.composite
def factor_problems(draw):
    k = draw(st.integers(1, 20))
    n = draw(st.integers(2, 60))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.normal(draw(st.sampled_from([0.0, 0.5, 1.0])), 1.0, (n, k))
    a = rng.normal(0.0, 1.0, (k, k))
    f = a @ a.T / k * 0.04
    if draw(st.booleans()) and k > 1:  # a rank-deficient factor covariance
        f[:, -1] = f[-1, :] = 0.0
        f[-1, -1] = 0.0
    d = rng.uniform(0.2, 1.0, n) * 0.04
    # d_i = 0 for a few assets (at most k - 1 with positive budgets: S stays positive definite
    # on the support), where the factor part alone gives them a variance
    zeros = rng.choice(n, size=draw(st.integers(0, min(n, k) - 1 if k > 1 else 0)), replace=False)
    d[zeros] = 0.0
    b = rng.dirichlet(np.ones(n))
    b[rng.random(n) < draw(st.sampled_from([0.0, 0.3]))] = 0.0
    if not (b > 0).any():
        b[rng.integers(n)] = 1.0
    return x, f, d, b


@settings(max_examples=60, deadline=None)
@given(factor_problems())
def test_factor_models_property(problem):
    x, f, d, b = problem
    try:
        fc = ma.FactorCovariance(x, f, d)
    except InputError:
        return  # a zero specific variance where the factors give (almost) none: refused, fine
    s = fc.to_dense()
    r = ma.risk_budgeting(fc, b)
    rd = ma.risk_budgeting(s, b)
    w = np.asarray(r.weights)
    assert r.status == ma.Status.OPTIMAL
    assert np.all(w[b == 0] == 0) and np.all(w[b > 0] > 0)
    assert abs(w.sum() - 1.0) < 1e-13
    err, floor = contribution_error(s, w, b)
    assert err <= 1e-12 + 4 * floor + 1e-12, (err, floor)
    if r.status == ma.Status.OPTIMAL and rd.status == ma.Status.OPTIMAL:
        floor = max(contribution_error(s, w, b)[1], 1e-12)
        # both meet the budgets to tol + floor: the weights agree to about that relative accuracy
        # times the conditioning; in practice within 1e3 floors
        np.testing.assert_allclose(w, rd.weights, rtol=max(1e-9, 1e4 * floor), atol=0)


def test_newton_through_the_model():
    """Mixed-sign loadings and small specific variances: coordinate descent slows down and damped
    Newton (Woodbury, never the dense matrix) finishes."""
    rng = np.random.default_rng(1)
    n, k = 200, 10
    x = rng.normal(0.0, 1.0, (n, k))
    fc = ma.FactorCovariance(x, np.eye(k) * 0.04, 1e-3 * rng.uniform(0.5, 1.5, n) * 0.04)
    b = rng.dirichlet(np.ones(n))
    r = ma.risk_budgeting(fc, b)
    assert r.status == ma.Status.OPTIMAL and r.newton_steps > 0
    err, floor = contribution_error(fc.to_dense(), np.asarray(r.weights), b)
    assert err <= 1e-12 + 4 * floor


def test_labelled_factor_model():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    fc0 = realistic_model(40, 4, rng)
    names = [f"a{i}" for i in range(40)]
    fc = ma.FactorCovariance(pd.DataFrame(fc0.loadings, index=names), fc0.factor_cov, fc0.specific_var)
    b = pd.Series(rng.dirichlet(np.ones(40)), index=names).iloc[::-1]  # aligned by label
    r = ma.risk_budgeting(fc, b)
    assert r.status == ma.Status.OPTIMAL
    assert list(r.weights.index) == names
    rd = ma.risk_budgeting(fc0.to_dense(), b.reindex(names).to_numpy())
    np.testing.assert_allclose(r.weights.to_numpy(), rd.weights, rtol=1e-9)


def test_bounds_on_a_large_factor_model_are_refused():
    rng = np.random.default_rng(5)
    fc = realistic_model(5001, 3, rng)
    with pytest.raises(InputError) as e:
        ma.risk_budgeting(fc, upper=0.001)
    assert e.value.argument == "cov" and "to_dense()" in str(e.value)


def test_bounds_on_a_small_factor_model_match_dense():
    rng = np.random.default_rng(6)
    n = 60
    fc = realistic_model(n, 5, rng)
    b = rng.dirichlet(np.ones(n))
    r = ma.risk_budgeting(fc, b, lower=0.7 / n, upper=1.3 / n)
    rd = ma.risk_budgeting(fc.to_dense(), b, lower=0.7 / n, upper=1.3 / n)
    assert r.status == ma.Status.OPTIMAL and rd.status == ma.Status.OPTIMAL
    assert np.any(np.asarray(r.active_bounds) != 0)
    np.testing.assert_allclose(r.weights, rd.weights, rtol=1e-9)


def test_equal_risk_at_100000_assets():
    """The size the factor path is for (80 GB as a matrix). Near the solution Newton's decrease of
    the objective is below the rounding of its sum of 100,000 logarithms: the full step is taken
    without a line search (before, the baseline build took 73 Newton steps, each cut short by
    the line search)."""
    rng = np.random.default_rng(100000)
    n = 100_000
    fc = realistic_model(n, 50, rng)
    r = ma.risk_budgeting(fc)
    assert r.status == ma.Status.OPTIMAL
    assert r.iterations + r.newton_steps <= 20
    w = np.asarray(r.weights)
    sw = fc @ w  # the model's own product, in numpy's summation order
    rc = w * sw / (w @ sw)
    assert np.max(np.abs(rc * n - 1.0)) < 1e-9
    assert np.all(w > 0) and abs(w.sum() - 1.0) < 1e-12
