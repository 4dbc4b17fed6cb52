"""min_risk, max_return and active_portfolio with constraints= (group limits, a turnover limit):
against clarabel (test-only) on the same problem (the risk limit as a second-order cone), the
reported gap honest against the reference, and costs refused naming ``constraints``."""

from __future__ import annotations

import clarabel
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microalloc as ma


def case(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.2, (n, 3))
    x[:, 0] = rng.normal(0.9, 0.2, n)
    s = x @ np.diag(rng.uniform(0.01, 0.04, 3)) @ x.T + np.diag(rng.uniform(0.01, 0.05, n))
    mu = rng.normal(0.06, 0.04, n)
    groups = rng.integers(0, 3, n)
    caps = {int(g): float(rng.uniform(0.35, 0.6)) for g in set(groups)}
    total = sum(caps.values())
    if total < 1.2:  # room for the budget
        caps = {g: v * 1.2 / total for g, v in caps.items()}
    return rng, s, mu, groups, caps


def reference(s, mu, groups, caps, cap, *, r=None, sigma=None, b=None, w0=None, turnover=None):
    """clarabel on x = (w, u, v) with w - u + v = w0 when a turnover limit is given: min risk
    s.t. mu'w >= r, or max mu'w s.t. |L'(w - b)| <= sigma (a second-order cone)."""
    n = s.shape[0]
    b = np.zeros(n) if b is None else b
    k = 3 * n if turnover is not None else n
    pad = lambda m: sp.hstack([m, sp.csc_matrix((m.shape[0], k - n))]) if k > n else m  # noqa: E731
    eq_a = [pad(sp.csc_matrix(np.ones((1, n))))]
    eq_b = [[1.0]]
    if turnover is not None:
        eq_a.append(sp.hstack([sp.eye(n), -sp.eye(n), sp.eye(n)]))
        eq_b.append(w0)
    rows = [pad(sp.eye(n)), pad(-sp.eye(n))]
    rhs = [np.full(n, cap), np.zeros(n)]
    names = sorted(caps)
    rows.append(pad(sp.csc_matrix(np.array([(groups == g).astype(float) for g in names]))))
    rhs.append(np.array([caps[g] for g in names]))
    if turnover is not None:
        rows += [sp.hstack([sp.csc_matrix((n, n)), -sp.eye(n), sp.csc_matrix((n, n))]),
                 sp.hstack([sp.csc_matrix((n, 2 * n)), -sp.eye(n)]),
                 sp.csc_matrix(np.r_[np.zeros(n), np.ones(2 * n)][None, :])]
        rhs += [np.zeros(n), np.zeros(n), [turnover]]
    if r is not None:
        rows.append(pad(sp.csc_matrix(-mu[None, :])))
        rhs.append([-r])
        p = sp.block_diag([sp.triu(sp.csc_matrix(s)), sp.csc_matrix((k - n, k - n))], format="csc")
        q = np.r_[-s @ b, np.zeros(k - n)]
        cones_extra, a_extra, b_extra = [], [], []
    else:
        p = sp.csc_matrix((k, k))
        q = np.r_[-mu, np.zeros(k - n)]
        lt = np.linalg.cholesky(s).T
        a_extra = [sp.vstack([sp.csc_matrix((1, k)), pad(sp.csc_matrix(-lt))])]
        b_extra = [np.r_[sigma, -lt @ b]]
        cones_extra = [clarabel.SecondOrderConeT(n + 1)]
    a_eq, a_in = sp.vstack(eq_a), sp.vstack(rows)
    a_all = sp.vstack([a_eq, a_in, *a_extra], format="csc")
    b_all = np.concatenate([np.concatenate([np.asarray(v, float) for v in eq_b]),
                            np.concatenate([np.asarray(v, float) for v in rhs]), *b_extra])
    cones = [clarabel.ZeroConeT(a_eq.shape[0]), clarabel.NonnegativeConeT(a_in.shape[0]), *cones_extra]
    st_ = clarabel.DefaultSettings()
    st_.verbose = False
    st_.tol_gap_abs = st_.tol_gap_rel = st_.tol_feas = 1e-11
    sol = clarabel.DefaultSolver(p, q, a_all, b_all, cones, st_).solve()
    if "Infeasible" in str(sol.status):
        return None
    assert str(sol.status) in ("Solved", "AlmostSolved"), sol.status
    return np.array(sol.x[:n])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(6, 40), quantile=st.floats(0.1, 0.9), limit=st.booleans())
def test_min_risk_with_groups_and_turnover_against_clarabel(seed, n, quantile, limit):
    rng, s, mu, groups, caps = case(seed, n)
    cap = max(0.25, 1.5 / n)
    w0 = np.full(n, 1.0 / n)
    turnover = 0.6 if limit else None
    c = ma.Constraints(upper=cap, groups=groups, group_upper=caps,
                       current_weights=w0 if limit else None, turnover=turnover)
    r = float(np.quantile(mu, quantile))
    ref = reference(s, mu, groups, caps, cap, r=r, w0=w0, turnover=turnover)
    try:
        res = ma.min_risk(s, mu, r, constraints=c)
    except ma.InfeasibleError:  # refused up front: the groups' caps cannot hold the budget
        assert ref is None
        return
    if ref is None:
        assert res.status != ma.Status.OPTIMAL
        return
    assert res.status == ma.Status.OPTIMAL, res.message
    w = np.asarray(res.weights)
    var, ref_var = w @ s @ w, ref @ s @ ref
    assert var <= ref_var + 1e-8 * ref_var
    assert var - ref_var <= res.gap + 1e-9 * ref_var  # the gap bounds the distance to the optimum
    assert mu @ w >= r - 1e-10 and abs(w.sum() - 1) <= 1e-10
    for g, capg in caps.items():
        assert w[groups == g].sum() <= capg + 1e-9
    if limit:
        assert np.abs(w - w0).sum() <= turnover + 1e-9


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(6, 30), spot=st.floats(0.2, 0.8))
def test_max_return_with_groups_against_clarabel(seed, n, spot):
    rng, s, mu, groups, caps = case(seed, n)
    cap = max(0.25, 1.5 / n)
    c = ma.Constraints(upper=cap, groups=groups, group_upper=caps)
    try:
        low = ma.min_risk(s, mu, -1.0, constraints=c)  # the least risk the constraints allow
    except ma.InfeasibleError:  # the groups' caps cannot hold the budget (checked in test_constraints)
        return
    top = ma.solve_mean_variance(s, mu, risk_aversion=1e-3, constraints=c)  # near the highest return
    sigma = float(low.volatility + spot * (top.volatility - low.volatility))
    res = ma.max_return(s, mu, target_volatility=sigma, constraints=c)
    ref = reference(s, mu, groups, caps, cap, sigma=sigma)
    assert res.status == ma.Status.OPTIMAL, res.message
    w = np.asarray(res.weights)
    assert np.sqrt(w @ s @ w) <= sigma * (1 + 1e-10)
    assert mu @ w >= mu @ ref - 1e-8 * abs(mu @ ref) - 1e-12
    assert mu @ ref - mu @ w <= res.gap + 1e-9  # the gap bounds the return left on the table


def test_active_portfolio_with_groups_matches_min_risk_on_the_alphas():
    rng, s, mu, groups, caps = case(4, 30)
    alpha = mu - mu.mean()
    b = np.full(30, 1 / 30)
    c = ma.Constraints(upper=0.2, groups=groups, group_upper=caps)
    act = ma.active_portfolio(s, alpha, b, target_alpha=0.01, constraints=c)
    ref = reference(s, alpha, groups, caps, 0.2, r=0.01 + alpha @ b, b=b)
    assert act.target.status == ma.Status.OPTIMAL
    w = np.asarray(act.weights)
    te, ref_te = np.sqrt((w - b) @ s @ (w - b)), np.sqrt((ref - b) @ s @ (ref - b))
    assert te <= ref_te * (1 + 1e-7) and act.active_return >= 0.01 - 1e-10


def test_targets_refuse_costs_naming_constraints():
    rng, s, mu, groups, caps = case(1, 10)
    c = ma.Constraints(current_weights=np.full(10, 0.1), costs=0.001)
    with pytest.raises(ma.InputError) as e:
        ma.min_risk(s, mu, 0.05, constraints=c)
    assert e.value.argument == "constraints"


def test_max_return_says_when_the_constraints_themselves_may_be_infeasible():
    rng, s, mu, groups, caps = case(3, 12)
    w0 = np.zeros(12)
    w0[groups == groups[0]] = 1.0 / np.sum(groups == groups[0])  # all in one group, above its cap
    c = ma.Constraints(upper=1.0, groups=groups, group_upper=caps, current_weights=w0, turnover=1e-3)
    res = ma.max_return(s, mu, target_volatility=0.3, constraints=c)
    assert res.status != ma.Status.OPTIMAL and "exclude every portfolio" in res.message


def test_exposure_limits_that_nothing_meets_are_refused():
    rng = np.random.default_rng(0)
    model = ma.FactorCovariance(rng.normal(size=(10, 2)), np.eye(2), np.full(10, 0.01))
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(model, rng.normal(size=10), constraints=ma.Constraints(exposure_lower={0: np.inf}))
    assert e.value.argument == "exposure_lower"


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(6, 25))
def test_max_return_with_a_target_that_does_not_bind(seed, n):
    """A risk target above the maximum-return portfolio's risk: that portfolio (a linear program
    under the rows), OPTIMAL, its return within the gap of clarabel's."""
    rng, s, mu, groups, caps = case(seed, n)
    cap = max(0.25, 1.5 / n)
    c = ma.Constraints(upper=cap, groups=groups, group_upper=caps)
    sigma = 2.0 * float(np.sqrt(np.diag(s).max()))  # above any long-only portfolio's volatility
    try:
        res = ma.max_return(s, mu, target_volatility=sigma, constraints=c)
    except ma.InfeasibleError:
        return  # the groups' caps cannot hold the budget
    ref = reference(s, mu, groups, caps, cap, sigma=sigma)
    assert res.status == ma.Status.OPTIMAL, res.message
    assert not res.binding
    w = np.asarray(res.weights)
    assert mu @ ref - mu @ w <= res.gap + 1e-9
    assert mu @ w >= mu @ ref - 1e-8


def test_min_risk_with_rows_names_a_target_above_the_highest_return():
    rng, s, mu, groups, caps = case(2, 20)
    c = ma.Constraints(upper=0.3, groups=groups, group_upper=caps)
    top = float(np.sort(mu)[-1])  # no long-only portfolio earns more than the best asset
    with pytest.raises(ma.InfeasibleError) as e:
        ma.min_risk(s, mu, top + 0.01, constraints=c)
    assert e.value.argument == "target_return"
