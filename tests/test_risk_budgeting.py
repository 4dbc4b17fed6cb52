"""Risk budgeting against closed forms, an independent Newton solve and the defining equations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma


def realised(s, w):
    m = s @ w
    return w * m / (w @ m)


def reference_newton(s, b):
    """Spinu's problem on S itself, by plain damped Newton in numpy: an independent route to the
    same portfolio (unique positive solution). The Newton system is solved with a symmetric
    diagonal scaling, so that a badly scaled S does not cost it digits."""
    x = b / np.sqrt(b @ s @ b)
    f = lambda z: 0.5 * z @ s @ z - b @ np.log(z)  # noqa: E731
    for _ in range(200):
        g = s @ x - b / x
        h = s + np.diag(b / x**2)
        dh = 1.0 / np.sqrt(np.diag(h))
        d = -dh * np.linalg.solve(h * dh[:, None] * dh[None, :], g * dh)
        t = 1.0
        neg = d < 0
        if neg.any():
            t = min(1.0, 0.95 * float(np.min(-x[neg] / d[neg])))
        # near the solution (a tiny Newton decrement) the unit step converges quadratically, and
        # the Armijo test only sees the rounding of f
        converging = -(g @ d) < 1e-10 * abs(f(x))
        while not converging and f(x + t * d) > f(x) + 1e-4 * t * (g @ d) and t > 1e-12:
            t *= 0.5
        x = x + t * d
        if np.abs(g).max() < 1e-15:
            break
    return x / x.sum()


def cov_model(kind, n, seed):
    rng = np.random.default_rng(seed)
    if kind == "one_factor":
        bl = rng.normal(1.0, 0.3, (n, 1)) * 0.15
        s = bl @ bl.T + np.diag(rng.uniform(0.01, 0.09, n))
    elif kind == "five_factors":
        bl = rng.normal(size=(n, 5)) * 0.15
        s = bl @ bl.T + np.diag(rng.uniform(0.01, 0.09, n))
    elif kind == "sample":
        r = rng.normal(size=(3 * n + 10, n)) * rng.uniform(0.1, 0.4, n)
        s = np.atleast_2d(np.cov(r, rowvar=False))
    else:  # badly scaled: volatilities over four decades
        bl = rng.normal(size=(n, 3)) * 0.3
        c = bl @ bl.T + np.eye(n)
        d = 10.0 ** rng.uniform(-3, 1, n)
        s = c * np.outer(d, d)
    return 0.5 * (s + s.T), rng


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 500),
    kind=st.sampled_from(["one_factor", "five_factors", "sample", "badly_scaled"]),
    seed=st.integers(0, 2**31),
    zeros=st.booleans(),
    equal=st.booleans(),
)
def test_contributions_match_the_budgets(n, kind, seed, zeros, equal):
    s, rng = cov_model(kind, n, seed)
    b = np.ones(n) if equal else rng.uniform(0.1, 3.0, n)
    if zeros and n > 1:
        b[rng.random(n) < 0.3] = 0.0
        if b.sum() == 0:
            b[0] = 1.0
    r = ma.risk_budgeting(s, b)
    assert r.is_optimal, r
    w = np.asarray(r.weights)
    bn = b / b.sum()
    assert w.sum() == pytest.approx(1.0, abs=1e-14)
    assert (w[b > 0] > 0).all() and (w[b == 0] == 0).all()
    rc = realised(s, w)  # recomputed here from the weights
    np.testing.assert_allclose(rc[b > 0] / bn[b > 0], 1.0, rtol=0, atol=1e-10)
    assert r.max_budget_error <= 1e-10
    np.testing.assert_allclose(r.risk_contributions, rc, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", ["one_factor", "five_factors", "sample", "badly_scaled"])
def test_agrees_with_an_independent_newton_solve(kind):
    s, rng = cov_model(kind, 40, 3)
    b = rng.uniform(0.2, 2.0, 40)
    b /= b.sum()
    np.testing.assert_allclose(ma.risk_budgeting(s, b).weights, reference_newton(s, b), rtol=1e-9, atol=0)


def test_closed_forms():
    # two assets, any correlation: equal risk means w1 sigma1 = w2 sigma2
    s1, s2, rho = 0.1, 0.3, 0.6
    s = np.array([[s1**2, rho * s1 * s2], [rho * s1 * s2, s2**2]])
    w = ma.risk_budgeting(s).weights
    np.testing.assert_allclose(w, np.array([s2, s1]) / (s1 + s2), rtol=1e-12)
    # uncorrelated assets: w_i proportional to sqrt(b_i) / sigma_i
    sig = np.array([0.1, 0.2, 0.3, 0.4])
    b = np.array([0.1, 0.2, 0.3, 0.4])
    x = np.sqrt(b) / sig
    np.testing.assert_allclose(ma.risk_budgeting(np.diag(sig**2), b).weights, x / x.sum(), rtol=1e-12)


def test_scale_of_budgets_and_covariance_does_not_matter():
    s, rng = cov_model("five_factors", 30, 9)
    b = rng.uniform(0.5, 1.5, 30)
    w = ma.risk_budgeting(s, b).weights
    np.testing.assert_allclose(ma.risk_budgeting(7.0 * s, 3.0 * b).weights, w, rtol=1e-10)


@pytest.mark.parametrize(
    "budgets, exc",
    [
        (np.array([0.5, 0.5]), ma.ShapeError),
        (np.array([0.5, -0.1, 0.6]), ma.InputError),
        (np.zeros(3), ma.InputError),
        (np.array([0.5, np.nan, 0.5]), ma.NonFiniteError),
    ],
)
def test_bad_budgets_are_refused(budgets, exc):
    s = np.diag([0.04, 0.09, 0.0225])
    with pytest.raises(exc) as info:
        ma.risk_budgeting(s, budgets)
    assert info.value.argument == "budgets"


def test_labels_round_trip():
    pd = pytest.importorskip("pandas")
    s = pd.DataFrame(np.diag([0.04, 0.09, 0.0225]), index=list("xyz"), columns=list("xyz"))
    r = ma.risk_budgeting(s, pd.Series([1.0, 1.0, 2.0], index=list("xyz")))
    assert list(r.weights.index) == list("xyz") and list(r.risk_contributions.index) == list("xyz")
    assert r.risk_contributions["z"] == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("kind", ["one_factor", "five_factors", "sample", "badly_scaled"])
def test_n_500_to_1e10(kind):
    s, rng = cov_model(kind, 500, 11)
    b = rng.uniform(0.1, 3.0, 500)
    r = ma.risk_budgeting(s, b)
    rc = realised(s, np.asarray(r.weights))
    assert r.is_optimal
    np.testing.assert_allclose(rc / (b / b.sum()), 1.0, rtol=0, atol=1e-10)


def test_failures_are_statuses_with_nan_evidence_never_a_silent_optimum():
    # singular on the support (perfectly anti-correlated): no risk-budgeting portfolio exists
    s = np.array([[1.0, -1.0], [-1.0, 1.0]])
    r = ma.risk_budgeting(s)
    assert not r.is_optimal and np.isnan(r.max_budget_error)
    with pytest.raises(ma.SolverError, match="NUMERICAL_ERROR"):
        ma.risk_budgeting(s, raise_on_failure=True)


def test_tiny_and_huge_budgets():
    c = np.array([[1.0, 0.3], [0.3, 1.0]])
    r = ma.risk_budgeting(c, [1.0, 1e-12])
    assert r.is_optimal and r.weights[1] > 0
    np.testing.assert_allclose(realised(c, np.asarray(r.weights)), np.array([1.0, 1e-12]) / (1 + 1e-12), rtol=1e-10)
    huge = ma.risk_budgeting(np.diag([1.0, 2.0]), [1e308, 1e308])
    np.testing.assert_allclose(huge.weights, ma.risk_budgeting(np.diag([1.0, 2.0])).weights, rtol=1e-14)


def test_equal_risk_at_n_5000_is_optimal_when_the_budgets_are_met_to_rounding():
    # A 10-factor model with specific risk, formed densely: the equal-risk portfolio hedges the
    # factors out, so (S w)_i is much smaller than the sum of its terms and 1e-12 in every
    # contribution is at the rounding level of S w. The status must say OPTIMAL when the budgets are
    # met that well (recomputed here), not NUMERICAL_ERROR.
    n = 5000
    rng = np.random.default_rng(0)
    loadings = rng.normal(size=(n, 10)) * 0.1
    s = (loadings * rng.uniform(0.5, 2.0, 10)) @ loadings.T
    s[np.diag_indices(n)] += rng.uniform(0.01, 0.05, n)
    s = 0.5 * (s + s.T)
    r = ma.risk_budgeting(s, check_psd=False)
    w = np.asarray(r.weights)
    rc = realised(s, w)
    assert r.status == ma.Status.OPTIMAL, (r.status, r.max_budget_error)
    assert (w > 0).all() and abs(w.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(rc * n, 1.0, rtol=0, atol=1e-10)
