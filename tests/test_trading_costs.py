"""Trading from current weights (Constraints(current_weights, costs, turnover)): against clarabel
(test-only) on the split-variable form of the same problem, the KKT conditions recomputed here
from the weights and the reported multipliers, the limits (zero costs, huge costs), the reported
trades, costs and gain recomputed from their definitions, and the errors that name the argument."""

from __future__ import annotations

import clarabel
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microalloc as ma


def model(seed: int, n: int, k: int = 3):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.2, (n, k))
    x[:, 0] = rng.normal(0.9, 0.2, n)
    f = np.diag(rng.uniform(0.01, 0.04, k))
    d = rng.uniform(0.01, 0.06, n)
    mu = rng.normal(0.06, 0.04, n)
    return x, f, d, mu, rng


def clarabel_costs(s, mu, ra, lo, up, budget, w0, buy, sell, turnover, a=None, rup=None):
    """min (ra/2) w'Sw - mu'w + buy'u + sell'v  s.t.  w - u + v = w0, u, v >= 0, 1'w = budget,
    lo <= w <= up, 1'(u + v) <= turnover, A w <= rup: the peers' split-variable form."""
    n = s.shape[0]
    eye, zero = sp.eye(n), sp.csc_matrix((n, n))
    p = sp.block_diag([sp.triu(sp.csc_matrix(ra * s)), zero, zero], format="csc")
    q = np.r_[-mu, buy, sell]
    eq = sp.vstack([sp.hstack([sp.csc_matrix(np.ones((1, n))), sp.csc_matrix((1, 2 * n))]), sp.hstack([eye, -eye, eye])])
    ineq = [sp.hstack([eye, zero, zero]), sp.hstack([-eye, zero, zero]), sp.hstack([zero, -eye, zero]),
            sp.hstack([zero, zero, -eye])]
    rhs = [up, -lo, np.zeros(n), np.zeros(n)]
    if np.isfinite(turnover):
        ineq.append(sp.csc_matrix(np.r_[np.zeros(n), np.ones(2 * n)][None, :]))
        rhs.append([turnover])
    if a is not None:
        ineq.append(sp.hstack([sp.csc_matrix(a), sp.csc_matrix((a.shape[0], 2 * n))]))
        rhs.append(rup)
    a_ineq = sp.vstack(ineq)
    a_all = sp.vstack([eq, a_ineq], format="csc")
    b_all = np.r_[budget, w0, np.concatenate([np.asarray(r, float) for r in rhs])]
    cones = [clarabel.ZeroConeT(n + 1), clarabel.NonnegativeConeT(a_ineq.shape[0])]
    st_ = clarabel.DefaultSettings()
    st_.verbose = False
    st_.tol_gap_abs = st_.tol_gap_rel = st_.tol_feas = 1e-11
    sol = clarabel.DefaultSolver(p, q, a_all, b_all, cones, st_).solve()
    if "Infeasible" in str(sol.status):
        return None  # a turnover limit too small for the sector limits
    assert str(sol.status) in ("Solved", "AlmostSolved"), sol.status
    return np.array(sol.x[:n])


def sector_rows(res, groups, cap):
    """The sector rows of a result, in its row order: (A, the caps, the multipliers)."""
    names = res.info["row_names"]
    a = np.array([(groups == g).astype(float) for g in names])
    return a, np.full(len(names), cap), res.info["row_multipliers"]


def objective(s, mu, ra, w, w0, buy, sell):
    d = w - w0
    return 0.5 * ra * w @ s @ w - mu @ w + np.sum(np.where(d > 0, buy * d, -sell * d))


def kkt_violation(s, mu, ra, lo, up, w0, buy, sell, res, a=None, lam=None):
    """Largest violation of 0 in g + A'lambda + nu + d cost(w) + N_box(w), per asset, with the
    costs' subdifferential widened by the turnover multiplier t (an interval at w0), relative to
    the gradient's size; and t (limit - turnover) relative to the objective's size."""
    w = np.asarray(res.weights)
    t = res.info.get("turnover_multiplier", 0.0)
    g = ra * s @ w - mu + (a.T @ lam if a is not None else 0.0)
    r = g + res.budget_multiplier
    eps = 1e-10
    b, sl = buy + t, sell + t
    above, below = w > w0 + eps, w < w0 - eps
    c_lo = np.where(above, b, -sl)  # d cost(w_i) is [c_lo, c_hi]
    c_hi = np.where(below, -sl, b)
    n_lo = np.where(w <= lo + eps, -np.inf, 0.0)  # the box's normal cone [n_lo, n_hi]
    n_hi = np.where(w >= up - eps, np.inf, 0.0)
    lo_end, hi_end = c_lo + n_lo, c_hi + n_hi  # -r must lie in [lo_end, hi_end]
    dist = np.maximum(np.maximum(lo_end - (-r), (-r) - hi_end), 0.0)
    scale = max(np.abs(ra * s @ w - mu).max(), 1e-300)
    return dist.max() / scale


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(4, 60), cap=st.sampled_from([1.0, 0.15, 0.3]),
       rate=st.sampled_from([0.0, 1e-4, 2e-3, 2e-2]), split=st.booleans(), limit=st.sampled_from([None, 0.05, 0.3, 2.0]),
       factor=st.booleans(), sectors=st.booleans(), long_short=st.booleans())
def test_costs_and_turnover_against_clarabel(seed, n, cap, rate, split, limit, factor, sectors, long_short):
    x, f, d, mu, rng = model(seed, n)
    s = x @ f @ x.T + np.diag(d)
    lower = -0.1 if long_short else 0.0
    cap = max(cap, 1.5 / n)
    w0 = rng.dirichlet(np.ones(n))
    if rng.random() < 0.3:
        w0[rng.integers(n)] += cap  # one holding above its cap: it must be sold down
        w0 /= w0.sum()
    buy = rng.uniform(0, rate, n)
    sell = rng.uniform(0, 2 * rate, n) if split else buy
    groups = rng.integers(0, 3, n) if sectors else None
    group_upper = {int(g): 0.45 for g in set(groups)} if sectors else None
    c = ma.Constraints(lower, cap, current_weights=w0, costs=(buy, sell), turnover=limit, groups=groups,
                       group_upper=group_upper)
    cov = ma.FactorCovariance(x, f, d) if factor else s
    try:
        res = ma.solve_mean_variance(cov, mu, risk_aversion=4.0, constraints=c)
    except ma.InfeasibleError:
        return  # a turnover limit below what reaching the bounds takes, or caps that miss the budget
    lo, up = np.full(n, lower), np.full(n, cap)
    a, rup, lam = sector_rows(res, groups, 0.45) if sectors else (None, None, None)
    ref = clarabel_costs(s, mu, 4.0, lo, up, 1.0, w0, buy, sell, np.inf if limit is None else limit, a, rup)
    if ref is None:  # no portfolio meets every limit: never OPTIMAL
        assert res.status != ma.Status.OPTIMAL
        return
    assert res.status == ma.Status.OPTIMAL, (res, res.info)
    w = np.asarray(res.weights)
    f_ours, f_ref = objective(s, mu, 4.0, w, w0, buy, sell), objective(s, mu, 4.0, ref, w0, buy, sell)
    scale = 0.5 * 4.0 * w @ s @ w + abs(mu @ w)
    assert f_ours <= f_ref + 1e-7 * scale
    assert f_ours >= f_ref - 1e-6 * scale  # clarabel's point may miss the limits by its tolerance
    assert abs(res.objective - f_ours) <= 1e-10 * max(scale, 1.0)
    assert abs(w.sum() - 1.0) <= 1e-10 and (w >= lo - 1e-12).all() and (w <= up + 1e-12).all()
    if limit is not None:
        assert np.abs(w - w0).sum() <= limit * (1 + 1e-9) + 1e-12
    if sectors:
        assert (a @ w <= rup + 1e-9).all()
    assert kkt_violation(s, mu, 4.0, lo, up, w0, buy, sell, res, a, lam) <= 1e-6
    t = res.info["turnover_multiplier"]
    assert t >= 0.0
    if limit is not None and t > 0:
        assert t * (limit - np.abs(w - w0).sum()) <= 1e-8 * scale


def setup_dense(seed=3, n=30):
    x, f, d, mu, rng = model(seed, n)
    s = x @ f @ x.T + np.diag(d)
    w0 = rng.dirichlet(np.ones(n))
    return s, mu, w0, rng


def test_zero_costs_is_the_plain_solve():
    s, mu, w0, _ = setup_dense()
    plain = ma.solve_mean_variance(s, mu, risk_aversion=3.0, upper=0.2)
    traded = ma.solve_mean_variance(s, mu, risk_aversion=3.0,
                                    constraints=ma.Constraints(upper=0.2, current_weights=w0, costs=0.0))
    assert traded.status == ma.Status.OPTIMAL
    np.testing.assert_allclose(traded.weights, plain.weights, atol=1e-9)
    assert traded.costs_paid == 0.0
    np.testing.assert_allclose(traded.trades, np.asarray(plain.weights) - w0, atol=1e-9)


def test_huge_costs_trade_nothing_and_gain_nothing():
    s, mu, w0, _ = setup_dense()
    w0 = np.minimum(w0, 0.2)
    w0 /= w0.sum()
    assert w0.max() <= 0.2
    res = ma.solve_mean_variance(s, mu, risk_aversion=3.0,
                                 constraints=ma.Constraints(upper=0.2, current_weights=w0, costs=10.0))
    assert res.status == ma.Status.OPTIMAL
    assert np.abs(res.trades).max() <= 1e-12
    assert abs(res.trade_gain) <= 1e-12


def test_reported_trades_costs_and_gain_follow_their_definitions():
    s, mu, w0, rng = setup_dense(5, 40)
    buy, sell = rng.uniform(0, 0.004, 40), rng.uniform(0, 0.008, 40)
    res = ma.solve_mean_variance(s, mu, risk_aversion=2.0, constraints=ma.Constraints(
        upper=0.25, current_weights=w0, costs=(buy, sell), turnover=0.4))
    w = np.asarray(res.weights)
    trade = w - w0
    np.testing.assert_allclose(res.trades, trade, atol=0)
    assert res.turnover == pytest.approx(np.abs(trade).sum(), abs=1e-15)
    paid = buy[trade > 0] @ trade[trade > 0] - sell[trade < 0] @ trade[trade < 0]
    assert res.costs_paid == pytest.approx(paid, rel=1e-12)
    f0 = 0.5 * 2.0 * w0 @ s @ w0 - mu @ w0
    f1 = 0.5 * 2.0 * w @ s @ w - mu @ w + paid
    assert res.objective == pytest.approx(f1, rel=1e-10)
    assert res.trade_gain == pytest.approx(f0 - f1, rel=1e-9) and res.trade_gain > 0


def test_gain_is_infinite_when_the_current_weights_break_a_limit():
    s, mu, w0, _ = setup_dense()
    w0 = np.zeros(30)
    w0[0] = 1.0  # above the cap of 0.2: trading is forced
    res = ma.solve_mean_variance(s, mu, risk_aversion=3.0,
                                 constraints=ma.Constraints(upper=0.2, current_weights=w0, costs=0.01))
    assert res.status == ma.Status.OPTIMAL and res.trade_gain == np.inf
    assert res.trades[0] <= -0.8 + 1e-12


def test_turnover_binds_exactly_or_not_at_all():
    s, mu, w0, _ = setup_dense()
    free = ma.solve_mean_variance(s, mu, risk_aversion=3.0,
                                  constraints=ma.Constraints(upper=0.2, current_weights=w0, costs=0.001))
    loose = ma.solve_mean_variance(s, mu, risk_aversion=3.0, constraints=ma.Constraints(
        upper=0.2, current_weights=w0, costs=0.001, turnover=free.turnover * 1.5))
    np.testing.assert_allclose(loose.weights, free.weights, atol=1e-9)
    assert loose.info["turnover_multiplier"] == 0.0
    tight = ma.solve_mean_variance(s, mu, risk_aversion=3.0, constraints=ma.Constraints(
        upper=0.2, current_weights=w0, costs=0.001, turnover=free.turnover / 3))
    assert tight.status == ma.Status.OPTIMAL
    assert tight.turnover == pytest.approx(free.turnover / 3, rel=1e-9)
    assert tight.info["turnover_multiplier"] > 0
    assert tight.objective > free.objective


def test_turnover_below_the_least_needed_is_infeasible_naming_turnover():
    s, mu, w0, _ = setup_dense()
    w0 = w0 * 1.2  # sums to 1.2: reaching the budget alone takes a turnover of 0.2
    with pytest.raises(ma.InfeasibleError, match="turnover") as e:
        ma.solve_mean_variance(s, mu, constraints=ma.Constraints(current_weights=w0, turnover=0.1))
    assert e.value.argument == "turnover"
    res = ma.solve_mean_variance(s, mu, constraints=ma.Constraints(current_weights=w0, turnover=0.2000001))
    assert res.status == ma.Status.OPTIMAL and res.turnover <= 0.2000001 + 1e-12


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(costs=0.01), "costs"),
        (dict(turnover=0.1), "turnover"),
        (dict(current_weights=np.full(30, 1 / 30), costs=-0.01), "costs"),
        (dict(current_weights=np.full(30, 1 / 30), costs=(0.01, 0.02, 0.03)), "costs"),
        (dict(current_weights=np.full(30, 1 / 30), turnover=-1.0), "turnover"),
        (dict(current_weights=np.full(29, 1 / 29)), "current_weights"),
        (dict(current_weights=np.r_[np.nan, np.full(29, 1 / 29)]), "current_weights"),
    ],
)
def test_bad_trading_arguments_are_named(kwargs, name):
    s, mu, _, _ = setup_dense()
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(s, mu, constraints=ma.Constraints(**kwargs))
    assert e.value.argument == name


def test_costs_need_the_active_set_method():
    s, mu, w0, _ = setup_dense()
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(s, mu, method="projected_gradient",
                               constraints=ma.Constraints(current_weights=w0, costs=0.01))
    assert e.value.argument == "method"


def test_labelled_current_weights_are_aligned_or_refused():
    s, mu, w0, _ = setup_dense()
    names = [f"a{i}" for i in range(30)]
    cov = pd.DataFrame(s, index=names, columns=names)
    shuffled = pd.Series(w0, index=names).iloc[::-1]
    by_label = ma.solve_mean_variance(cov, mu, constraints=ma.Constraints(current_weights=shuffled, costs=0.002))
    by_place = ma.solve_mean_variance(s, mu, constraints=ma.Constraints(current_weights=w0, costs=0.002))
    np.testing.assert_allclose(np.asarray(by_label.weights), by_place.weights, atol=1e-12)
    assert list(by_label.trades.index) == names
    foreign = pd.Series(w0, index=[f"b{i}" for i in range(30)])
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(cov, mu, constraints=ma.Constraints(current_weights=foreign, costs=0.002))
    assert e.value.argument == "current_weights"


def test_costs_without_risk_aversion_are_a_linear_program():
    """risk_aversion 0 with costs: buy the best net return up to the caps (brute force order)."""
    s, mu, w0, _ = setup_dense()
    res = ma.solve_mean_variance(s, mu, risk_aversion=0.0,
                                 constraints=ma.Constraints(upper=0.2, current_weights=w0, costs=0.001))
    assert res.status == ma.Status.OPTIMAL
    ref = clarabel_costs(s * 0, mu, 0.0, np.zeros(30), np.full(30, 0.2), 1.0, w0, np.full(30, 0.001),
                         np.full(30, 0.001), np.inf)
    f = lambda w: -mu @ w + 0.001 * np.abs(w - w0).sum()  # noqa: E731
    assert f(np.asarray(res.weights)) <= f(ref) + 1e-9


def test_batch_of_rebalances_equals_the_single_solves():
    """Per-account current weights, per-account turnover limits; a bad row and an infeasible one
    get their status and never stop the others."""
    x, f, d, mu, rng = model(11, 25)
    s = x @ f @ x.T + np.diag(d)
    m = 6
    current = rng.dirichlet(np.ones(25), size=m)
    current[4, 0] = np.nan  # a bad account
    limits = np.array([0.3, 0.1, np.inf, 0.5, 0.3, 1e-3])  # the last is below what the cap needs
    current[5] = 0.0
    current[5, :2] = 0.5  # above the cap of 0.2: needs a turnover of 0.6
    buy = rng.uniform(0, 0.003, 25)
    groups = rng.integers(0, 3, 25)
    c = ma.Constraints(upper=0.2, current_weights=current, costs=(buy, 2 * buy), turnover=limits, groups=groups,
                       group_upper={0: 0.5, 1: 0.5, 2: 0.5})
    batch = ma.solve_mean_variance_batch(s, mu, risk_aversion=3.0, constraints=c, threads=2)
    assert list(batch.status) == ["OPTIMAL"] * 4 + ["INVALID_INPUT", "INFEASIBLE"]
    for i in range(4):
        one = ma.solve_mean_variance(s, mu, risk_aversion=3.0, constraints=ma.Constraints(
            upper=0.2, current_weights=current[i], costs=(buy, 2 * buy), turnover=limits[i], groups=groups,
            group_upper={0: 0.5, 1: 0.5, 2: 0.5}))
        np.testing.assert_array_equal(batch.weights[i], one.weights)
        assert batch.turnover[i] == one.turnover and batch.costs_paid[i] == one.costs_paid
        assert batch.trade_gain[i] == one.trade_gain
        trade = batch.weights[i] - current[i]
        assert batch.turnover[i] == pytest.approx(np.abs(trade).sum(), abs=1e-14)
        assert batch.turnover[i] <= limits[i] * (1 + 1e-9)
    assert np.isnan(batch.weights[4:]).all() and np.isnan(batch.turnover[4:]).all()


def test_labelled_costs_are_aligned_even_when_nothing_else_is_labelled():
    s, mu, w0, rng = setup_dense(8, 20)
    names = [f"a{i}" for i in range(20)]
    buy = rng.uniform(0, 0.01, 20)
    perm = rng.permutation(20)
    by_label = ma.solve_mean_variance(s, mu, constraints=ma.Constraints(
        current_weights=pd.Series(w0, index=names), costs=pd.Series(buy, index=names).iloc[perm]))
    by_place = ma.solve_mean_variance(s, mu, constraints=ma.Constraints(current_weights=w0, costs=buy))
    np.testing.assert_allclose(np.asarray(by_label.weights), by_place.weights, atol=1e-12)


def test_more_hostile_trading_arguments():
    s, mu, w0, _ = setup_dense()
    with pytest.raises(ma.InputError) as e:
        ma.Constraints(current_weights=w0, turnover=["a"])
    assert e.value.argument == "turnover"
    batch = ma.solve_mean_variance_batch(s, mu, risk_aversion=[0.0, 1.0], constraints=ma.Constraints(
        current_weights=w0, costs=0.001, turnover=0.5))
    assert list(batch.status) == ["INVALID_INPUT", "OPTIMAL"]  # risk aversion 0 with a turnover limit
    assert np.isnan(batch.turnover[0]) and np.isnan(batch.costs_paid[0])


def test_sector_caps_and_a_turnover_limit_that_exclude_every_portfolio():
    """w0 all in one sector above its cap, a turnover limit too small to bring it under: clarabel
    finds no portfolio; microalloc says INFEASIBLE (a Farkas certificate of the priced rows)."""
    x, f, d, mu, rng = model(3, 12)
    s = x @ f @ x.T + np.diag(d)
    groups = np.repeat([0, 1, 2], 4)
    w0 = np.zeros(12)
    w0[:4] = 0.25
    res = ma.solve_mean_variance(s, mu, risk_aversion=3.0, constraints=ma.Constraints(
        upper=1.0, groups=groups, group_upper={0: 0.5, 1: 0.5, 2: 0.5}, current_weights=w0, turnover=0.2))
    a = np.array([(groups == g).astype(float) for g in (0, 1, 2)])
    ref = clarabel_costs(s, mu, 3.0, np.zeros(12), np.ones(12), 1.0, w0, np.zeros(12), np.zeros(12), 0.2, a,
                         np.full(3, 0.5))
    assert ref is None
    assert res.status == ma.Status.INFEASIBLE


def zigzag_case():
    """300 assets on a 3-factor model, 10 holdings at their 10% caps, 4 sector caps of 30%, costs of
    10 bp and a turnover limit of 0.4: (x, f, d, mu, groups, w0, constraints)."""
    x, f, d, mu, rng = model(11, 300)
    w0 = np.zeros(300)
    w0[:10] = 0.1
    groups = rng.integers(0, 4, 300)
    c = ma.Constraints(0.0, 0.1, current_weights=w0, costs=0.001, turnover=0.4, groups=groups,
                       group_upper={0: 0.3, 1: 0.3, 2: 0.3, 3: 0.3})
    return x, f, d, mu, groups, w0, c


def assert_zigzag_answer(res, x, f, d, mu, groups, w0):
    """The result of zigzag_case at risk aversion 3 is clarabel's on the split form."""
    n = len(mu)
    a, rup, _ = sector_rows(res, groups, 0.3)
    rate = np.full(n, 0.001)
    ref = clarabel_costs(x @ f @ x.T + np.diag(d), mu, 3.0, np.zeros(n), np.full(n, 0.1), 1.0, w0, rate, rate, 0.4,
                         a, rup)
    np.testing.assert_allclose(np.asarray(res.weights), ref, atol=1e-8)


def test_a_rebalance_whose_newton_steps_zig_zagged_is_solved():
    """zigzag_case: the Newton steps on the multipliers overshot at every face change and were cut
    to 1/16, 100 steps of 6% progress each (MAX_ITER); with the regula falsi along the step it
    takes a few."""
    x, f, d, mu, groups, w0, c = zigzag_case()
    res = ma.solve_mean_variance(ma.FactorCovariance(x, f, d), mu, risk_aversion=3.0, constraints=c)
    assert res.is_optimal and res.info["outer_iterations"] < 30
    assert_zigzag_answer(res, x, f, d, mu, groups, w0)
