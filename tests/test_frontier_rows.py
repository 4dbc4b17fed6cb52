"""The efficient frontier and maximum Sharpe under group limits, linear rows and exposure limits,
against clarabel (test-only) on the same problems:

- at every turning point and at points between them, the frontier's portfolio against clarabel's
  solve of the mean-variance problem with the same rows at that risk aversion (objective, weights);
- the path is continuous and its expected return rises along it;
- maximum Sharpe against the homogenised convex QP (y = kappa w) with the rows scaled by kappa;
- rows that never bind give the frontier without them (the core's path, a separate method).
"""

from __future__ import annotations

import clarabel
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_constraints import case, clarabel_qp

import microalloc as ma


def group_rows(labels, group_lower, group_upper, a_lin=None, lin_up=None):
    """The rows of the constraints as (A, lower, upper), built here from the labels and limits."""
    present = sorted(set(labels))
    a = [(labels == g).astype(float) for g in present]
    lo = [group_lower.get(g, -np.inf) for g in present]
    hi = [group_upper.get(g, np.inf) for g in present]
    if a_lin is not None and len(a_lin):
        a += list(a_lin)
        lo += [-np.inf] * len(a_lin)
        hi += list(lin_up)
    return np.array(a), np.array(lo), np.array(hi)


def objective(s, mu, ra, w):
    return 0.5 * ra * w @ s @ w - mu @ w


def check_against_clarabel(fr, s, mu, lo, up, a, rlo, rup):
    """Every turning point and the midpoints of the segments against clarabel at that risk aversion."""
    ras = list(fr.risk_aversion[1:])
    ras += [2.0 / (1 / r1 + 1 / r2) for r1, r2 in zip(fr.risk_aversion[1:-1], fr.risk_aversion[2:])]
    ras += [fr.risk_aversion[1] * 2.0] if len(fr) > 1 else [1.0]
    for ra in ras:
        w = np.asarray(fr.at_risk_aversion(ra), dtype=float)
        ref = clarabel_qp(s, mu, ra, lo, up, 1.0, a, rlo, rup)
        assert ref is not None
        scale = abs(objective(s, mu, ra, ref)) + 0.5 * ra * ref @ s @ ref + 1e-12
        assert objective(s, mu, ra, w) <= objective(s, mu, ra, ref) + 1e-7 * scale, ra
        assert np.all(a @ w <= rup + 1e-9) and np.all(a @ w >= rlo - 1e-9)
        assert np.all(w >= lo - 1e-12) and np.all(w <= up + 1e-12) and abs(w.sum() - 1) < 1e-9


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(4, 24), n_groups=st.integers(2, 5),
       cap=st.sampled_from([1.0, 0.3, 0.5]), floors=st.booleans(), factor=st.booleans(), rows=st.integers(0, 2))
def test_frontier_with_rows_against_clarabel(seed, n, n_groups, cap, floors, factor, rows):
    x, f, d, mu, s, labels, _, glo, gup, a_lin, lin_up, c = case(seed, n, n_groups, cap, floors, rows)
    a, rlo, rup = group_rows(labels, glo, gup, a_lin, lin_up)
    lo, up = np.zeros(n), np.full(n, cap)
    if clarabel_qp(s, mu, 1.0, lo, up, 1.0, a, rlo, rup) is None:
        with pytest.raises(ma.InfeasibleError) as e:
            ma.efficient_frontier(s, mu, constraints=c)
        assert e.value.argument in ("constraints", "group_lower", "group_upper", "upper")
        return
    cov = ma.FactorCovariance(x, f, d) if factor else s
    fr = ma.efficient_frontier(cov, mu, constraints=c)
    assert fr.status == ma.Status.OPTIMAL, fr.message
    assert fr.max_rel_gap <= 1e-9
    # the minimum-variance end against clarabel's minimum variance (mu = 0)
    ref = clarabel_qp(s, np.zeros(n), 1.0, lo, up, 1.0, a, rlo, rup)
    w0 = fr.weights[0]
    assert w0 @ s @ w0 <= ref @ s @ ref * (1 + 1e-7) + 1e-14
    check_against_clarabel(fr, s, mu, lo, up, a, rlo, rup)
    assert np.all(np.diff(fr.expected_return) >= -1e-12)
    # continuous: just before and after every turning point the portfolios agree
    for ra in fr.risk_aversion[1:-1]:
        wa, wb = fr.at_risk_aversion(ra * (1 + 1e-9)), fr.at_risk_aversion(ra * (1 - 1e-9))
        assert np.abs(np.asarray(wa) - np.asarray(wb)).max() < 1e-6


def clarabel_max_sharpe(s, mu, rf, lo, up, a, rlo, rup):
    """max (mu - rf)'w / sqrt(w'Sw) over the same set, homogenised: y = kappa w, kappa >= 0,
    min y'Sy s.t. (mu - rf)'y = 1, 1'y = kappa, kappa lo <= y <= kappa up, kappa rlo <= A y <= kappa rup."""
    n = len(mu)
    z = np.zeros((1, 1))
    rows_eq = sp.csc_matrix(np.vstack([np.r_[mu - rf, 0.0], np.r_[np.ones(n), -1.0]]))
    fu, fl = np.isfinite(rup), np.isfinite(rlo)
    ineq = [np.hstack([np.eye(n), -up[:, None]]), np.hstack([-np.eye(n), lo[:, None]]),
            np.hstack([a[fu], -rup[fu, None]]), np.hstack([-a[fl], rlo[fl, None]]), np.r_[np.zeros(n), -1.0][None]]
    a_ineq = sp.csc_matrix(np.vstack(ineq))
    p = sp.block_diag([sp.csc_matrix(np.triu(2 * s)), sp.csc_matrix(z)], format="csc")
    st_ = clarabel.DefaultSettings()
    st_.verbose = False
    st_.tol_gap_abs = st_.tol_gap_rel = st_.tol_feas = 1e-11
    solver = clarabel.DefaultSolver(p, np.zeros(n + 1), sp.vstack([rows_eq, a_ineq], format="csc"),
                                    np.r_[1.0, 0.0, np.zeros(a_ineq.shape[0])],
                                    [clarabel.ZeroConeT(2), clarabel.NonnegativeConeT(a_ineq.shape[0])], st_)
    sol = solver.solve()
    assert str(sol.status) in ("Solved", "AlmostSolved"), sol.status
    y = np.array(sol.x)
    return y[:n] / y[n]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(4, 20), n_groups=st.integers(2, 5),
       floors=st.booleans(), factor=st.booleans())
def test_max_sharpe_with_rows_against_homogenised_clarabel(seed, n, n_groups, floors, factor):
    x, f, d, mu, s, labels, _, glo, gup, _, _, c = case(seed, n, n_groups, 0.5, floors, 0)
    a, rlo, rup = group_rows(labels, glo, gup)
    lo, up = np.zeros(n), np.full(n, 0.5)
    if clarabel_qp(s, mu, 1.0, lo, up, 1.0, a, rlo, rup) is None:
        return
    rf = 0.01
    cov = ma.FactorCovariance(x, f, d) if factor else s
    try:
        res = ma.max_sharpe(cov, mu, risk_free=rf, constraints=c)
    except ma.InfeasibleError as e:  # no portfolio beats the risk-free rate: check that it is so
        assert e.argument == "risk_free"
        top = ma.efficient_frontier(s, mu, constraints=c).expected_return[-1]
        assert top <= rf + 1e-12
        return
    ref = clarabel_max_sharpe(s, mu, rf, lo, up, a, rlo, rup)
    sharpe_ref = (mu @ ref - rf) / np.sqrt(ref @ s @ ref)
    w = np.asarray(res.weights, dtype=float)
    assert res.sharpe >= sharpe_ref * (1 - 1e-7)
    assert abs(res.sharpe - (mu @ w - rf) / np.sqrt(w @ s @ w)) <= 1e-9 * abs(res.sharpe)
    assert np.all(a @ w <= rup + 1e-9) and np.all(a @ w >= rlo - 1e-9)


def test_rows_that_never_bind_give_the_plain_frontier():
    rng = np.random.default_rng(3)
    n = 10
    x = rng.normal(size=(80, n))
    s, mu = np.cov(x.T), rng.normal(0.05, 0.03, n)
    loose = ma.Constraints(groups=np.array(list("ABABABABAB")), group_upper={"A": 2.0, "B": 2.0})
    with_rows = ma.efficient_frontier(s, mu, constraints=loose)
    plain = ma.efficient_frontier(s, mu)
    assert len(with_rows) == len(plain)
    np.testing.assert_allclose(with_rows.risk_aversion[1:], plain.risk_aversion[1:], rtol=1e-8)
    np.testing.assert_allclose(with_rows.weights, plain.weights, atol=1e-10)


def test_exposure_limits_on_the_frontier():
    rng = np.random.default_rng(8)
    n, k = 30, 3
    x = rng.normal(0, 0.3, (n, k))
    x[:, 0] = rng.normal(1.0, 0.2, n)
    f, d = np.diag([0.03, 0.01, 0.01]), rng.uniform(0.01, 0.05, n)
    mu = 0.02 + 0.05 * x[:, 1] + rng.normal(0, 0.01, n)  # the second factor pays: the limit binds
    cov = ma.FactorCovariance(x, f, d)
    c = ma.Constraints(upper=0.2, exposure_upper={1: 0.1}, exposure_lower={1: -0.1})
    fr = ma.efficient_frontier(cov, mu, constraints=c)
    assert fr.status == ma.Status.OPTIMAL
    exposures = fr.weights @ x[:, 1]
    assert exposures.max() <= 0.1 + 1e-9 and abs(exposures.max() - 0.1) < 1e-9  # reached at the top
    s = x @ f @ x.T + np.diag(d)
    a, rlo, rup = x[:, 1][None], np.array([-0.1]), np.array([0.1])
    check_against_clarabel(fr, s, mu, np.zeros(n), np.full(n, 0.2), a, rlo, rup)


def test_trading_on_the_frontier_is_refused_by_name():
    s, mu = np.eye(3) * 0.04, np.array([0.05, 0.06, 0.07])
    c = ma.Constraints(current_weights=np.full(3, 1 / 3), turnover=0.1)
    with pytest.raises(ma.InputError) as e:
        ma.efficient_frontier(s, mu, constraints=c)
    assert e.value.argument == "constraints"
    with pytest.raises(ma.InputError) as e:
        ma.max_sharpe(s, mu, constraints=c)
    assert e.value.argument == "constraints"


@pytest.mark.parametrize("c", [
    ma.Constraints(groups=["A", "A", "B", "B"], group_upper={"A": 0.0}),  # a sector excluded
    ma.Constraints(groups=["A", "A", "B", "B"], group_lower={"A": .5, "B": .5}, group_upper={"A": .5, "B": .5}),
    ma.Constraints(upper=[.25, .25, .6, .6], groups=["A", "A", "B", "B"], group_lower={"A": .5}),  # floor = caps
    ma.Constraints(linear=(np.ones((1, 4)), 1.0, 1.0)),  # a row equal to the budget
    ma.Constraints(upper=[.3, 1, 1, 1], linear=(np.array([[1.0, 0, 0, 0]]), -np.inf, 0.3)),  # a row = a bound
], ids=["sector-excluded", "sectors-fixed", "floor-equals-caps", "row-is-budget", "row-is-bound"])
def test_rows_the_bounds_decide_or_that_repeat_others(c):
    """Rows whose multipliers the free assets do not determine (found by a review: each ended
    NUMERICAL_ERROR, and max_sharpe blamed cov): against clarabel along the path and the
    homogenised max-Sharpe QP."""
    s, mu = np.diag([.04, .09, .05, .08]), np.array([.05, .08, .06, .07])
    fr = ma.efficient_frontier(s, mu, constraints=c)
    assert fr.status == ma.Status.OPTIMAL, fr.message
    r = c._resolve(4, None)
    a, rlo, rup = r.a, np.nan_to_num(r.row_lower, neginf=-1e9), np.nan_to_num(r.row_upper, posinf=1e9)
    check_against_clarabel(fr, s, mu, r.lower, r.upper, a, r.row_lower, r.row_upper)
    ref = clarabel_max_sharpe(s, mu, 0.0, r.lower, r.upper, a, rlo, rup)
    ms = ma.max_sharpe(s, mu, constraints=c)
    assert ms.sharpe >= (mu @ ref) / np.sqrt(ref @ s @ ref) * (1 - 1e-7)


def test_a_duplicated_asset_under_rows_is_refused_not_looped():
    """Two share classes of one fund make S singular where the row binds: the path is not unique.
    The walk used to loop for ever; it stops and max_sharpe names cov."""
    s = np.array([[.575, -.06, .259, -.413, .575], [-.06, .535, .234, -.018, -.06], [.259, .234, .712, -.23, .259],
                  [-.413, -.018, -.23, .448, -.413], [.575, -.06, .259, -.413, .575]])
    mu = np.array([.024, .066, .048, .037, .024])
    c = ma.Constraints(lower=-0.3, upper=0.6, linear=(np.array([[2.02, .17, -.9, -.95, 1.84]]), -0.53, np.inf))
    with pytest.raises(ma.InputError) as e:
        ma.max_sharpe(s, mu, constraints=c)
    assert e.value.argument == "cov"
    fr = ma.efficient_frontier(s, mu, constraints=c)
    assert fr.status != ma.Status.OPTIMAL


def test_max_points_is_the_most_turning_points_returned():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 10))
    s, mu = np.cov(x.T), rng.normal(0.05, 0.03, 10)
    c = ma.Constraints(groups=np.arange(10) % 2, group_upper={0: 0.6})
    fr = ma.efficient_frontier(s, mu, constraints=c, max_points=3)
    assert len(fr) == 3 and fr.status == ma.Status.MAX_ITER
