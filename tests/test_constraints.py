"""Group limits and linear rows (microalloc.Constraints): against clarabel (test-only) on the same
problem, the KKT conditions recomputed here from the weights and the row multipliers, dense and
factor covariances, and the errors that name the argument."""

from __future__ import annotations

import clarabel
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microalloc as ma

SECTORS = ["tech", "energy", "health", "fin", "util", "staples"]


def problem(seed: int, n: int, k: int = 3):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.2, (n, k))
    x[:, 0] = rng.normal(0.9, 0.2, n)  # a market factor
    f = np.diag(rng.uniform(0.01, 0.04, k))
    d = rng.uniform(0.01, 0.06, n)
    mu = rng.normal(0.06, 0.04, n)
    return x, f, d, mu, rng


def clarabel_qp(s, mu, ra, lo, up, budget, a, rlo, rup):
    """min (ra/2) w'Sw - mu'w s.t. 1'w = budget, lo <= w <= up, rlo <= A w <= rup (finite limits)."""
    n = s.shape[0]
    fin_up, fin_lo = np.isfinite(rup), np.isfinite(rlo)
    a_ineq = sp.vstack([sp.eye(n), -sp.eye(n), sp.csc_matrix(a[fin_up]), sp.csc_matrix(-a[fin_lo])], format="csc")
    b_ineq = np.r_[up, -lo, rup[fin_up], -rlo[fin_lo]]
    a_all = sp.vstack([sp.csc_matrix(np.ones((1, n))), a_ineq], format="csc")
    b_all = np.r_[budget, b_ineq]
    cones = [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(a_ineq.shape[0])]
    st_ = clarabel.DefaultSettings()
    st_.verbose = False
    st_.tol_gap_abs = st_.tol_gap_rel = st_.tol_feas = 1e-11
    sol = clarabel.DefaultSolver(sp.triu(sp.csc_matrix(ra * s), format="csc"), -mu, a_all, b_all, cones, st_).solve()
    if "Infeasible" in str(sol.status):
        return None  # random linear rows can exclude every portfolio
    assert str(sol.status) in ("Solved", "AlmostSolved"), sol.status
    return np.array(sol.x)


def kkt_violation(s, mu, ra, lo, up, a, rlo, rup, w, lam):
    """Largest KKT violation with the row multipliers reported, relative to the gradient's size:
    g + A'lambda stationary on the box and budget (signs by bound), lambda_j > 0 only for a finite
    upper limit and < 0 only for a finite lower one, and complementarity lambda_j (limit - a_j w)
    (a duality gap, in objective units) relative to the objective's scale."""
    g = ra * s @ w - mu + a.T @ lam
    scale = max(np.abs(ra * s @ w - mu).max(), 1e-300)
    free = (w > lo + 1e-9) & (w < up - 1e-9)
    at_lo, at_up = w <= lo + 1e-9, w >= up - 1e-9
    if free.any():
        nu = -np.median(g[free])
    else:  # a vertex: any nu in [-min g_lower, -max g_upper] will do; the middle
        nu = -0.5 * (g[at_lo].min(initial=np.inf) + g[at_up].max(initial=-np.inf))
    r = g + nu
    v = np.abs(r[free]).max(initial=0.0)
    v = max(v, np.max(-r[at_lo], initial=0.0))  # at a lower bound r >= 0
    v = max(v, np.max(r[at_up], initial=0.0))  # at an upper bound r <= 0
    assert np.all((lam <= 0) | np.isfinite(rup)) and np.all((lam >= 0) | np.isfinite(rlo))
    vals = a @ w
    comp = np.zeros(len(lam))
    up_side, lo_side = lam > 0, lam < 0
    comp[up_side] = lam[up_side] * (rup[up_side] - vals[up_side])
    comp[lo_side] = -lam[lo_side] * (vals[lo_side] - rlo[lo_side])
    objective_scale = 0.5 * ra * w @ s @ w + abs(mu @ w)
    return max(v / scale, 1e-2 * np.abs(comp).max(initial=0.0) / objective_scale)


def case(seed, n, n_groups, cap, floors, rows):
    """A problem with sector caps (some binding), optional floors and optional linear rows."""
    x, f, d, mu, rng = problem(seed, n)
    s = x @ f @ x.T + np.diag(d)
    labels = np.array(SECTORS[:n_groups])[rng.integers(0, n_groups, n)]
    present = sorted(set(labels))
    share = 1.0 / len(present)  # caps around the equal share bind for some groups
    group_upper = {g: float(rng.uniform(0.6, 1.5) * share) for g in present}
    group_lower = {g: float(rng.uniform(0.0, 0.5) * group_upper[g]) for g in present} if floors else {}
    a_lin = rng.normal(0, 1, (rows, n))
    lin_up = np.abs(rng.normal(0.5, 0.2, rows))
    lin = (a_lin, -np.inf, lin_up) if rows else None
    c = ma.Constraints(upper=cap, groups=labels, group_lower=group_lower, group_upper=group_upper, linear=lin)
    return x, f, d, mu, s, labels, present, group_lower, group_upper, a_lin, lin_up, c


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(8, 80), n_groups=st.integers(2, 6),
       cap=st.sampled_from([1.0, 0.1]), floors=st.booleans(), factor=st.booleans(), rows=st.integers(0, 3))
def test_group_limits_and_rows_against_clarabel(seed, n, n_groups, cap, floors, factor, rows):
    x, f, d, mu, s, labels, present, group_lower, group_upper, a_lin, lin_up, c = case(
        seed, n, n_groups, cap, floors, rows)
    cov = ma.FactorCovariance(x, f, d) if factor else s
    try:
        res = ma.solve_mean_variance(cov, mu, risk_aversion=5.0, constraints=c)
    except ma.InfeasibleError:
        return  # the group limits cannot meet the budget and the caps: checked in its own test
    # the rows of the call, rebuilt here from the definitions
    a_rows, rlo, rup = [], [], []
    for name in res.info["row_names"]:  # the multipliers' order
        if name in present:
            a_rows.append((labels == name).astype(float))
            rlo.append(group_lower.get(name, -np.inf))
            rup.append(group_upper[name])
        else:
            j = int(name.split()[-1])
            a_rows.append(a_lin[j])
            rlo.append(-np.inf)
            rup.append(lin_up[j])
    assert len(a_rows) == len(present) + rows
    a, rlo, rup = np.array(a_rows), np.array(rlo), np.array(rup)
    lo, up = np.zeros(n), np.full(n, cap)
    ref = clarabel_qp(s, mu, 5.0, lo, up, 1.0, a, rlo, rup)
    if ref is None:  # infeasible: never OPTIMAL (the rows cannot all be met, so no certificate passes)
        assert res.status != ma.Status.OPTIMAL
        return
    if res.status != ma.Status.OPTIMAL:
        pytest.fail(f"{res.status}: {res.info}")
    w = np.asarray(res.weights)
    lam = np.asarray(res.info["row_multipliers"])
    assert abs(w.sum() - 1.0) <= 1e-10 and w.min() >= -1e-12 and w.max() <= cap + 1e-12
    # rows met to 1e-9 of their scale (the limits and the row's largest coefficient), as documented
    row_scale = np.maximum.reduce([np.ones(len(rup)), np.abs(a).max(axis=1),
                                   np.where(np.isfinite(rup), np.abs(rup), 0), np.where(np.isfinite(rlo), np.abs(rlo), 0)])
    assert np.all(a @ w <= rup + 1e-9 * row_scale) and np.all(a @ w >= rlo - 1e-9 * row_scale)
    obj = lambda v: 2.5 * v @ s @ v - mu @ v  # noqa: E731
    # within the certified relative gap, whose scale is (ra/2) w'Sw + |mu'w| (docs/methods.md §1)
    assert obj(w) <= obj(ref) + 1e-9 * (2.5 * ref @ s @ ref + abs(mu @ ref))
    assert kkt_violation(s, mu, 5.0, lo, up, a, rlo, rup, w, lam) <= 1e-7


def test_no_binding_row_is_the_plain_solve():
    x, f, d, mu, rng = problem(1, 30)
    s = x @ f @ x.T + np.diag(d)
    plain = ma.solve_mean_variance(s, mu, risk_aversion=5.0, upper=0.2)
    groups = np.array(["a", "b"])[np.arange(30) % 2]
    loose = ma.Constraints(upper=0.2, groups=groups, group_upper={"a": 1.0, "b": 1.0})
    res = ma.solve_mean_variance(s, mu, risk_aversion=5.0, constraints=loose)
    np.testing.assert_allclose(res.weights, plain.weights, atol=1e-12)
    assert np.all(res.info["row_multipliers"] == 0.0)


def test_a_binding_cap_prices_the_group():
    # closed form: two uncorrelated assets in group "a", one in "b"; mu favours "a"
    s = np.diag([0.04, 0.04, 0.04])
    mu = np.array([0.10, 0.10, 0.02])
    c = ma.Constraints(groups=["a", "a", "b"], group_upper={"a": 0.5})
    res = ma.solve_mean_variance(s, mu, risk_aversion=1.0, constraints=c)
    np.testing.assert_allclose(res.weights, [0.25, 0.25, 0.5], atol=1e-12)
    # stationarity: 0.04 w_i - mu_i + lambda [i in a] + nu = 0 for all (all free)
    lam = res.info["row_multipliers"][0]
    nu = mu[2] - 0.04 * 0.5
    assert lam == pytest.approx(mu[0] - 0.04 * 0.25 - nu, abs=1e-12)
    assert res.gap <= 1e-12


def test_labels_of_groups_are_aligned():
    import pandas as pd

    idx = ["x", "y", "z"]
    s = pd.DataFrame(np.diag([0.04, 0.05, 0.06]), index=idx, columns=idx)
    groups = pd.Series(["b", "a", "a"], index=["z", "x", "y"])  # another order: aligned
    c = ma.Constraints(groups=groups, group_upper={"a": 0.4})
    res = ma.solve_mean_variance(s, pd.Series([0.1, 0.1, 0.02], index=idx), risk_aversion=1.0, constraints=c)
    assert res.weights["x"] + res.weights["y"] <= 0.4 + 1e-12
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(s, constraints=ma.Constraints(groups=pd.Series(["a", "a", "b"], index=["x", "y", "q"]),
                                                             group_upper={"a": 0.4}))
    assert e.value.argument == "groups"


@pytest.mark.parametrize(
    "make, argument, kind",
    [
        (lambda: ma.Constraints(groups=["a", "a", "b"], group_lower={"a": 0.9, "b": 0.9}), "group_lower", ma.InfeasibleError),
        (lambda: ma.Constraints(upper=0.4, groups=["a", "a", "b"], group_lower={"b": 0.5}), "group_lower", ma.InfeasibleError),
        (lambda: ma.Constraints(groups=["a", "a", "b"], group_upper={"c": 0.5}), "group_upper", ma.InputError),
        (lambda: ma.Constraints(group_upper={"a": 0.5}), "groups", ma.InputError),
        (lambda: ma.Constraints(groups=["a", "a", "b"], group_upper=[0.5]), "group_upper", ma.InputError),
        (lambda: ma.Constraints(groups=["a", "a", "b"], group_upper={"a": np.nan}), "group_upper", ma.InputError),
        (lambda: ma.Constraints(linear=(np.ones((1, 3)), 0.0)), "linear", ma.InputError),
        (lambda: ma.Constraints(linear=(np.ones((1, 4)), 0.0, 1.0)), "linear", ma.ShapeError),
        (lambda: ma.Constraints(linear=(np.ones((1, 3)), 1.0, 0.0)), "linear", ma.InputError),
        (lambda: ma.Constraints(budget=np.inf), "budget", ma.InputError),
    ],
)
def test_bad_constraints_are_named(make, argument, kind):
    s = np.diag([0.04, 0.05, 0.06])
    with pytest.raises(kind) as e:
        ma.solve_mean_variance(s, constraints=make())
    assert e.value.argument == argument


def test_keywords_fill_what_the_constraints_leave_at_their_defaults():
    s = np.diag([0.04, 0.05, 0.06])
    groups = ["a", "a", "b"]
    merged = ma.solve_mean_variance(s, upper=0.5, constraints=ma.Constraints(groups=groups, group_upper={"a": 0.6}))
    alone = ma.solve_mean_variance(s, constraints=ma.Constraints(upper=0.5, groups=groups, group_upper={"a": 0.6}))
    np.testing.assert_array_equal(merged.weights, alone.weights)
    w = np.asarray(merged.weights)
    assert w.max() <= 0.5 + 1e-12 and w[:2].sum() <= 0.6 + 1e-12
    with pytest.raises(ma.InputError, match="given both") as e:  # one bound given both ways
        ma.solve_mean_variance(s, upper=0.5, constraints=ma.Constraints(upper=0.6))
    assert e.value.argument == "upper"


def test_constraints_and_keywords_are_not_mixed():
    s = np.diag([0.04, 0.05, 0.06])
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(s, constraints={"upper": 0.5})
    assert e.value.argument == "constraints"
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(s, constraints=ma.Constraints(groups=["a", "a", "b"], group_upper={"a": 0.5}),
                               method="projected_gradient")
    assert e.value.argument == "method"
    # the bounds and budget alone in the object: the same as the keywords
    a = ma.solve_mean_variance(s, upper=0.5, budget=1.0)
    b = ma.solve_mean_variance(s, constraints=ma.Constraints(upper=0.5, budget=1.0))
    np.testing.assert_array_equal(a.weights, b.weights)


def test_the_batch_shares_the_rows_and_matches_the_single_solves():
    x, f, d, mu, rng = problem(5, 40)
    s = x @ f @ x.T + np.diag(d)
    mus = rng.normal(0.06, 0.04, (12, 40))
    sectors = np.array(SECTORS[:4])[np.arange(40) % 4]
    c = ma.Constraints(upper=0.2, groups=sectors, group_upper={g: 0.3 for g in SECTORS[:4]},
                       linear=(rng.normal(0, 1, (1, 40)), -np.inf, 0.5))
    ras = np.r_[np.full(11, 5.0), 0.0]  # the last row: a linear program, refused with rows
    batch = ma.solve_mean_variance_batch(s, mus, risk_aversion=ras, constraints=c, threads=2)
    for i in range(11):
        one = ma.solve_mean_variance(s, mus[i], risk_aversion=5.0, constraints=c)
        assert batch.status[i] == "OPTIMAL" and one.is_optimal
        np.testing.assert_array_equal(batch.weights[i], one.weights)
    assert batch.status[11] == "INVALID_INPUT" and np.isnan(batch.weights[11]).all()
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance_batch(s, mus, constraints=c, method="projected_gradient")
    assert e.value.argument == "method"


def test_factor_exposure_limits_are_rows_of_the_loadings():
    """exposure_upper/lower on a FactorCovariance: the same solve as the loadings passed as linear
    rows, the limits met, KKT recomputed; by factor name or position; refused without a model."""
    import pandas as pd

    x, f, d, mu, rng = problem(21, 60)
    names = [f"a{i}" for i in range(60)]
    model = ma.FactorCovariance(pd.DataFrame(x, index=names, columns=["mkt", "value", "size"]), f, d)
    base = ma.solve_mean_variance(model, pd.Series(mu, index=names), risk_aversion=5.0, upper=0.1)
    expo = x.T @ np.asarray(base.weights)
    cap = float(expo[1]) - 0.05  # binds: below the unconstrained exposure
    c = ma.Constraints(upper=0.1, exposure_upper={"value": cap}, exposure_lower={"mkt": 0.95})
    res = ma.solve_mean_variance(model, pd.Series(mu, index=names), risk_aversion=5.0, constraints=c)
    assert res.status == ma.Status.OPTIMAL
    w = np.asarray(res.weights)
    assert x[:, 1] @ w <= cap + 1e-9 and x[:, 0] @ w >= 0.95 - 1e-9
    same = ma.solve_mean_variance(
        x @ f @ x.T + np.diag(d), mu, risk_aversion=5.0,
        constraints=ma.Constraints(upper=0.1, linear=(x[:, [0, 1]].T, [0.95, -np.inf], [np.inf, cap])))
    np.testing.assert_allclose(w, same.weights, atol=1e-8)
    s = x @ f @ x.T + np.diag(d)
    rows = x[:, [0, 1]].T
    assert kkt_violation(s, mu, 5.0, np.zeros(60), np.full(60, 0.1), rows, np.array([0.95, -np.inf]),
                         np.array([np.inf, cap]), w, res.info["row_multipliers"]) <= 1e-7
    assert res.info["row_names"] == ["exposure mkt", "exposure value"]
    unnamed = ma.FactorCovariance(x, f, d)
    by_position = ma.solve_mean_variance(unnamed, mu, risk_aversion=5.0, constraints=ma.Constraints(
        upper=0.1, exposure_upper={1: cap}, exposure_lower={0: 0.95}))
    np.testing.assert_allclose(by_position.weights, w, atol=1e-10)
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(s, mu, constraints=ma.Constraints(exposure_upper={0: 1.0}))
    assert e.value.argument == "exposure_upper"
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(model, pd.Series(mu, index=names), constraints=ma.Constraints(
            exposure_lower={"momentum": 0.0}))
    assert e.value.argument == "exposure_lower"


def test_rows_that_exclude_every_portfolio_are_proven_infeasible():
    """Contradicting rows: the multipliers grow, and their direction is a Farkas certificate
    (checked here: for it, the least of y'A w over the box and budget exceeds y's limits)."""
    x, f, d, mu, rng = problem(5, 12)
    s = x @ f @ x.T + np.diag(d)
    a = np.zeros((2, 12))
    a[0, :6] = a[1, :6] = 1.0
    res = ma.solve_mean_variance(s, mu, risk_aversion=3.0,
                                 constraints=ma.Constraints(linear=(a, [0.7, -np.inf], [np.inf, 0.3])))
    assert res.status == ma.Status.INFEASIBLE
    lam = res.info["row_multipliers"]
    y = lam / np.abs(lam).max()
    # the least of y'A w over long-only weights summing to 1 is the smallest entry of A'y
    least = float((a.T @ y).min())
    limits = sum(v * (0.3 if v > 0 else 0.7) for v in y)
    assert least > limits


def test_the_frontier_and_max_sharpe_take_constraints_with_bounds():
    """Bounds and a budget in constraints= are the keywords' problem, point for point (rows: see
    test_frontier_rows.py)."""
    x, f, d, mu, rng = problem(6, 15)
    s = x @ f @ x.T + np.diag(d)
    c = ma.Constraints(upper=0.3)
    fr = ma.efficient_frontier(s, mu, constraints=c)
    np.testing.assert_array_equal(fr.weights, ma.efficient_frontier(s, mu, upper=0.3).weights)
    ms = ma.max_sharpe(s, mu, constraints=c)
    np.testing.assert_array_equal(np.asarray(ms.weights), np.asarray(ma.max_sharpe(s, mu, upper=0.3).weights))


def test_group_labels_of_mixed_types_stay_apart():
    """Found by a review: a list [1, "1", ...] went through np.asarray, which made 1 and "1" one
    label (capping the wrong asset under OPTIMAL) and NaN a group named 'nan'."""
    s, mu = np.diag([.04, .09, .05, .08]), np.array([.05, .08, .06, .07])
    res = ma.solve_mean_variance(s, mu, risk_aversion=1.0, constraints=ma.Constraints(
        groups=[1, "1", "x", "x"], group_upper={"1": 0.1}))
    assert res.info["row_names"] == ["1"] and np.asarray(res.weights)[1] <= 0.1 + 1e-12
    assert np.asarray(res.weights)[0] > 0.1  # asset 0 (group 1, an int) is not capped
    with pytest.raises(ma.InputError) as e:
        ma.Constraints(groups=["a", float("nan"), "a", "b"], group_upper={"nan": 0.0})._resolve(4, None)
    assert e.value.argument == "group_upper"
    res = ma.solve_mean_variance(s, mu, constraints=ma.Constraints(groups=[True, 2, True, 2], group_upper={True: 0.5}))
    assert res.info["row_names"] == [True]


def test_the_rows_solve_of_no_assets_is_invalid_input_not_a_crash():
    """The core's rows solve with 0 assets read maxima of empty vectors (a segfault)."""
    from microalloc import _core

    e = np.empty(0)
    raw = _core.solve_with_rows(np.zeros((0, 0)), e, e, e, e, 1.0, 1.0, np.zeros((1, 0)), np.array([-np.inf]),
                                np.array([0.5]), e, 1e-9, 100, e, e, e, np.inf, e)[0]
    assert ma.Status(int(raw.status)) == ma.Status.INVALID_INPUT


def test_groups_that_cannot_hold_the_budget_are_named_with_an_infinite_lower_bound():
    """Found by a review: a -inf lower bound made the tolerance of this check inf, so caps summing
    to 0.96 with every asset in a group were solved (MAX_ITER) instead of refused."""
    c = ma.Constraints(lower=-np.inf, upper=0.5, groups=["A", "A", "B", "B"], group_upper={"A": 0.48, "B": 0.48})
    with pytest.raises(ma.InfeasibleError) as e:
        ma.solve_mean_variance(np.diag([.04, .09, .05, .08]), np.array([.05, .08, .06, .07]), constraints=c)
    assert e.value.argument == "group_upper"
