"""The efficient frontier, maximum Sharpe and targets, against independent solvers:

- every turning point and 50 points along the path against quadprog's solve of the same
  mean-variance problem (relative objective 1e-9), and the KKT conditions recomputed here;
- maximum Sharpe against the homogenised convex QP (Cornuejols-Tutuncu) solved by clarabel, and
  against a fine 1-D search along the frontier;
- PyPortfolioOpt's CLA on its own kind of example (long-only, weights to 1e-8);
- targets outside the achievable range name it.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microalloc as ma

quadprog = pytest.importorskip("quadprog")
DATA = Path(__file__).parent / "data"


def qp_solve(s, mu, tau, lo, up, budget=1.0, b=None):
    """min 1/2 (w-b)'S(w-b) - tau mu'w  s.t. 1'w = budget, lo <= w <= up (quadprog)."""
    n = len(mu)
    c = tau * mu + (s @ b if b is not None else 0.0)
    rows, rhs = [np.ones(n)], [budget]
    for i in range(n):
        if np.isfinite(lo[i]):
            e = np.zeros(n)
            e[i] = 1.0
            rows.append(e)
            rhs.append(lo[i])
        if np.isfinite(up[i]):
            e = np.zeros(n)
            e[i] = -1.0
            rows.append(e)
            rhs.append(-up[i])
    w = quadprog.solve_qp(s, c, np.array(rows).T, np.array(rhs), meq=1)[0]
    return w


def objective(s, mu, tau, w, b=None):
    d = w - (b if b is not None else 0.0)
    return 0.5 * d @ s @ d - tau * mu @ w


def kkt_residual(s, mu, tau, w, lo, up, b=None, budget=1.0):
    """Max violation of the KKT conditions, computed from S, mu and w alone."""
    g = s @ (w - (b if b is not None else 0.0)) - tau * mu
    free = (w > lo + 1e-9) & (w < up - 1e-9)
    at_lo, at_up = (w <= lo + 1e-9) & ~free, (w >= up - 1e-9) & ~free
    if free.any():
        nu = -np.median(g[free])
    else:  # a vertex: nu >= -g_i at the lower bounds, <= -g_i at the upper ones; the middle of that range
        low = (-g[at_lo]).max() if at_lo.any() else (-g[at_up]).min()
        high = (-g[at_up]).min() if at_up.any() else low
        nu = 0.5 * (low + high)
    r = g + nu
    viol = np.abs(r[free]).max(initial=0.0)
    viol = max(viol, (-r[at_lo]).max(initial=0.0), r[at_up].max(initial=0.0))
    feas = max(abs(w.sum() - budget), (lo - w).max(), (w - up).max())
    return viol / (np.abs(s).max() + tau * np.abs(mu).max()), feas  # relative to the gradient's natural scale


def problem(seed, n, kind):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, min(3, n))) * 0.2
    s = f @ f.T + np.diag(rng.uniform(0.005, 0.05, n))
    mu = rng.normal(0.06, 0.04, n)
    if kind == "long_only":
        lo, up = np.zeros(n), np.ones(n)
    elif kind == "capped":
        lo, up = np.zeros(n), np.full(n, max(1.5 / n, 0.1))
    else:  # long-short with finite bounds, and floors
        lo, up = rng.uniform(-0.3, 0.0, n), np.maximum(rng.uniform(0.2, 0.6, n), 1.5 / n)
    return s, mu, lo, up


def check_path(s, mu, lo, up, fr, b=None, points=50):
    """Every turning point and `points` points along the path against quadprog."""
    taus = list(fr._tau[1:])
    top = fr._tau[-1] if len(fr._tau) > 1 else 1.0
    taus += list(np.linspace(0.0, 1.5 * top, points))
    worst = 0.0
    for t in taus:
        w = np.asarray(fr.at_risk_aversion(np.inf if t == 0 else 1.0 / t))
        ref = qp_solve(s, mu, t, lo, up, b=b)
        f_ours, f_ref = objective(s, mu, t, w, b), objective(s, mu, t, ref, b)
        scale = max(abs(f_ref), 0.5 * np.trace(s) / len(mu) * 1e-2)
        worst = max(worst, (f_ours - f_ref) / scale)
        viol, feas = kkt_residual(s, mu, t, w, lo, up, b)
        assert viol < 1e-8 and feas < 1e-10, (t, viol, feas)
    assert worst < 1e-9, worst
    return worst


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 15), kind=st.sampled_from(["long_only", "capped", "long_short"]),
       with_benchmark=st.booleans())
def test_frontier_agrees_with_quadprog_everywhere(seed, n, kind, with_benchmark):
    s, mu, lo, up = problem(seed, n, kind)
    b = np.full(n, 1.0 / n) if with_benchmark else None
    fr = ma.efficient_frontier(s, mu, lower=lo, upper=up, benchmark=b)
    assert fr.status == ma.Status.OPTIMAL and fr.max_rel_gap <= 1e-9
    assert np.all(np.diff(fr.expected_return) >= -1e-12) and np.all(np.diff(fr.tracking_error if fr.tracking_error is not None else fr.volatility) >= -1e-12)
    assert np.all(np.diff(fr.risk_aversion) < 0)
    check_path(s, mu, lo, up, fr, b)
    # The last turning point is the maximum expected return (an LP: greedy fill by mu).
    order = np.argsort(-mu, kind="stable")
    w, left = lo.copy(), 1.0 - lo.sum()
    for i in order:
        add = min(up[i] - lo[i], left)
        w[i] += add
        left -= add
    assert fr.expected_return[-1] == pytest.approx(mu @ w, rel=1e-10, abs=1e-12)


def test_real_data_frontier_against_quadprog():
    data = ma.load_industry_returns()
    r = data.returns[-240:]
    s, mu = np.cov(r, rowvar=False) * 12, r.mean(axis=0) * 12
    n = len(mu)
    for up in (1.0, 0.25):
        fr = ma.efficient_frontier(s, mu, upper=up)
        assert fr.status == ma.Status.OPTIMAL
        check_path(s, mu, np.zeros(n), np.full(n, up), fr)
    prices = np.loadtxt(DATA / "sp500_prices.csv", delimiter=",", skiprows=1, usecols=range(1, 21))
    ret = np.diff(np.log(prices[-2000:]), axis=0)
    s, mu = np.cov(ret, rowvar=False) * 252, ret.mean(axis=0) * 252
    fr = ma.efficient_frontier(s, mu, lower=-0.1, upper=0.3)
    check_path(s, mu, np.full(20, -0.1), np.full(20, 0.3), fr)


def test_targets_hit_exactly_and_outside_the_range_name_it():
    s, mu, lo, up = problem(3, 12, "capped")
    fr = ma.efficient_frontier(s, mu, lower=lo, upper=up)
    er, vol = fr.expected_return, fr.volatility
    for r in np.linspace(er[0], er[-1], 9):
        w = np.asarray(fr.at_return(r))
        assert mu @ w == pytest.approx(r, rel=1e-12, abs=1e-14)
        if r == er[-1]:
            continue  # quadprog cannot take mu'w = max as an equality
        # the least risky portfolio with that return: quadprog with mu'w = r as an equality
        a = np.column_stack([np.ones(12), mu, np.eye(12), -np.eye(12)])
        ref = quadprog.solve_qp(s, np.zeros(12), a, np.concatenate([[1.0, r], lo, -up]), meq=2)[0]
        assert w @ s @ w == pytest.approx(ref @ s @ ref, rel=1e-9)
    for v in np.linspace(vol[0], vol[-1], 9):
        w = np.asarray(fr.at_volatility(v))
        assert np.sqrt(w @ s @ w) == pytest.approx(v, rel=1e-10)
    np.testing.assert_allclose(fr.at_return(er[0] - 1.0), fr.weights[0])  # below: minimum variance
    np.testing.assert_allclose(fr.at_volatility(vol[-1] * 2), fr.weights[-1])  # above: maximum return
    with pytest.raises(ma.InfeasibleError, match=r"^target: .*achievable range") as info:
        fr.at_return(er[-1] + 0.01)
    assert info.value.argument == "target"  # the method's own parameter
    with pytest.raises(ma.InfeasibleError, match=r"^target: .*lowest volatility.*achievable range") as info:
        fr.at_volatility(vol[0] * 0.9)
    assert info.value.argument == "target"


def test_frontier_targets_name_the_methods_parameter():
    """at_return(target) and at_volatility(target) name `target` in every error (a wrong value, a
    NaN, an array, an unreachable target), with or without a benchmark."""
    s, mu, lo, up = problem(3, 6, "capped")
    bench = np.full(6, 1 / 6)
    for fr, what in ((ma.efficient_frontier(s, mu, lower=lo, upper=up), "volatility"),
                     (ma.efficient_frontier(s, mu, lower=lo, upper=up, benchmark=bench), "tracking error")):
        for method, bad in (("at_return", fr.expected_return[-1] + 1.0), ("at_volatility", 0.0),
                            ("at_volatility", -1.0), ("at_return", float("nan")), ("at_volatility", np.ones(2)),
                            ("at_return", "high")):
            with pytest.raises(ma.InputError) as info:
                getattr(fr, method)(bad)
            assert info.value.argument == "target", (method, bad, str(info.value))
        with pytest.raises(ma.InfeasibleError, match=f"lowest {what}"):
            fr.at_volatility(0.0)


def test_max_sharpe_against_the_homogenised_qp_and_a_1d_search():
    clarabel = pytest.importorskip("clarabel")
    from scipy import sparse

    for seed, kind, rf in ((1, "long_only", 0.0), (2, "capped", 0.02), (5, "long_only", 0.03), (8, "capped", 0.0)):
        s, mu, lo, up = problem(seed, 10, kind)
        res = ma.max_sharpe(s, mu, risk_free=rf, lower=lo, upper=up)
        n = len(mu)
        # Cornuejols-Tutuncu: min y'Sy s.t. (mu - rf)'y = 1, 1'y = kappa, kappa lo <= y <= kappa up, kappa >= 0
        p = sparse.csc_matrix(np.block([[2 * s, np.zeros((n, 1))], [np.zeros((1, n + 1))]]))
        a_eq = np.vstack([np.append(mu - rf, 0.0), np.append(np.ones(n), -1.0)])
        a_in = np.vstack([np.hstack([np.eye(n), -up[:, None]]), np.hstack([-np.eye(n), lo[:, None]]),
                          np.append(np.zeros(n), -1.0)])
        a = sparse.csc_matrix(np.vstack([a_eq, a_in]))
        bvec = np.concatenate([[1.0, 0.0], np.zeros(2 * n + 1)])
        cones = [clarabel.ZeroConeT(2), clarabel.NonnegativeConeT(2 * n + 1)]
        st_ = clarabel.DefaultSettings()
        st_.verbose = False
        st_.tol_gap_abs = st_.tol_gap_rel = st_.tol_feas = 1e-12
        sol = clarabel.DefaultSolver(p, np.zeros(n + 1), a, bvec, cones, st_).solve()
        y = np.array(sol.x)
        w_ref = y[:n] / y[n]
        sr_ref = (mu @ w_ref - rf) / np.sqrt(w_ref @ s @ w_ref)
        assert res.sharpe == pytest.approx(sr_ref, rel=1e-8)
        np.testing.assert_allclose(np.asarray(res.weights), w_ref, atol=1e-5)
        # a fine search along the frontier never beats it
        fr = res.frontier
        grid = np.linspace(0, 2 * fr._tau[-1] + 1e-9, 4001)
        ws = np.array([fr._at_tau(t) for t in grid])
        srs = (ws @ mu - rf) / np.sqrt(np.einsum("ij,jk,ik->i", ws, s, ws))
        assert srs.max() <= res.sharpe * (1 + 1e-12)
        assert srs.max() >= res.sharpe * (1 - 1e-4)


def test_max_sharpe_says_when_nothing_beats_the_risk_free_rate():
    s, mu, lo, up = problem(4, 6, "long_only")
    with pytest.raises(ma.InfeasibleError, match=r"risk_free.*no feasible portfolio has an expected return above"):
        ma.max_sharpe(s, mu, risk_free=mu.max() + 0.01)


def test_equal_expected_returns_and_duplicated_assets():
    s, mu, lo, up = problem(6, 8, "capped")
    fr = ma.efficient_frontier(s, np.full(8, 0.05), lower=lo, upper=up)
    assert len(fr) == 1  # every portfolio has the same return: the frontier is minimum variance
    # Duplicated asset (singular S): still certified, same objective as the deduplicated problem.
    s2 = np.zeros((9, 9))
    s2[:8, :8] = s
    s2[8, :8], s2[:8, 8], s2[8, 8] = s[0], s[0], s[0, 0]
    mu2 = np.append(np.linspace(0.02, 0.1, 8), 0.02)
    fr2 = ma.efficient_frontier(s2, mu2, upper=0.3)
    assert fr2.status == ma.Status.OPTIMAL
    fr1 = ma.efficient_frontier(s, mu2[:8], upper=np.append(0.6, np.full(7, 0.3)))  # the pair: 0.3 + 0.3
    np.testing.assert_allclose(fr2.expected_return[[0, -1]], fr1.expected_return[[0, -1]], atol=1e-10)


def test_pyportfolioopt_cla_turning_points():
    pypfopt = pytest.importorskip("pypfopt")
    data = ma.load_industry_returns()
    r = data.returns[-120:]
    s, mu = np.cov(r, rowvar=False) * 12, r.mean(axis=0) * 12
    cla = pypfopt.CLA(mu, s, weight_bounds=(0, 1))
    cla._solve()
    theirs = np.array([np.ravel(w) for w in cla.w])
    fr = ma.efficient_frontier(s, mu)
    # Their list runs from the maximum-return vertex (lambda None, then again at the lambda where
    # it starts) down to minimum variance (lambda 0); ours holds each turning point once. Each of
    # theirs is one of ours at the same lambda. Ours may hold more: pyportfolioopt 1.6.0 omits the
    # point where an asset enters while another is about to leave (here at 1/ra = 0.333), so
    # every one of ours is also checked by its KKT conditions, from S and mu alone.
    dist = np.abs(theirs[:, None, :] - fr.weights[None, :, :]).max(axis=2)
    assert dist.min(axis=1).max() < 1e-8
    tau = 1.0 / fr.risk_aversion
    lambdas = np.array([x for x in cla.ls if x is not None])
    np.testing.assert_allclose(lambdas, tau[dist.argmin(axis=1)[1:]], rtol=1e-9)
    for k in range(len(fr)):
        viol, feas = kkt_residual(s, mu, tau[k], fr.weights[k], np.zeros(12), np.ones(12))
        assert viol < 1e-9 and feas < 1e-12, k
    ms = ma.max_sharpe(s, mu)
    # theirs is a golden-section search along their path, which lacks the point above: ours must
    # be at least as good, and equal the tangency found by quadprog (min x'Sx, mu'x = 1, x >= 0;
    # the weights are x / sum(x))
    w_ref = np.array(list(pypfopt.CLA(mu, s, weight_bounds=(0, 1)).max_sharpe().values()))
    sharpe = lambda w: (mu @ w) / np.sqrt(w @ s @ w)  # noqa: E731
    assert sharpe(np.asarray(ms.weights)) >= sharpe(w_ref) - 1e-12
    x = quadprog.solve_qp(s, np.zeros(12), np.column_stack([mu, np.eye(12)]), np.r_[1.0, np.zeros(12)], meq=1)[0]
    np.testing.assert_allclose(np.asarray(ms.weights), x / x.sum(), atol=1e-8)


def test_bad_inputs_name_the_argument():
    s, mu, lo, up = problem(1, 4, "long_only")
    with pytest.raises(ValueError, match="mu"):
        ma.efficient_frontier(s, mu[:3])
    with pytest.raises(ma.InfeasibleError, match="upper"):
        ma.efficient_frontier(s, mu, upper=0.2)
    with pytest.raises(ValueError, match="mu"):
        ma.efficient_frontier(s, np.array([0.1, np.nan, 0.1, 0.1]))
    fr = ma.efficient_frontier(s, mu)
    for bad in (np.nan, -np.inf, -1.0):
        with pytest.raises(ValueError, match="risk_aversion"):
            fr.at_risk_aversion(bad)


def test_max_sharpe_without_bounds_is_the_tangency_portfolio_or_says_there_is_none():
    """Closed form with no bounds: w proportional to S^-1 (mu - rf 1) when the minimum-variance
    return beats rf; below it the ratio only approaches its asymptote and no maximum exists."""
    rng = np.random.default_rng(0)
    n = 6
    f = rng.normal(size=(n, 2)) * 0.2
    s = f @ f.T + np.diag(rng.uniform(0.01, 0.04, n))
    mu = rng.normal(0.06, 0.03, n)
    gmv = np.linalg.solve(s, np.ones(n))
    gmv /= gmv.sum()
    for rf in (0.0, 0.5 * (mu @ gmv)):
        res = ma.max_sharpe(s, mu, risk_free=rf, lower=-np.inf, upper=np.inf)
        x = np.linalg.solve(s, mu - rf)
        w = x / x.sum()
        np.testing.assert_allclose(np.asarray(res.weights), w, atol=1e-12)
        assert res.sharpe == pytest.approx((mu @ w - rf) / np.sqrt(w @ s @ w), rel=1e-12)
    with pytest.raises(ma.InfeasibleError, match=r"upper: the Sharpe ratio has no maximum"):
        ma.max_sharpe(s, mu, risk_free=(mu @ gmv) + 0.01, lower=-np.inf, upper=np.inf)


def test_max_sharpe_with_a_riskless_portfolio():
    """Two perfectly anti-correlated assets make a riskless portfolio: above rf the ratio is unbounded."""
    s = np.array([[0.04, -0.04, 0.0], [-0.04, 0.04, 0.0], [0.0, 0.0, 0.09]])
    mu = np.array([0.05, 0.03, 0.08])
    with pytest.raises(ma.InfeasibleError, match=r"risk_free: a riskless portfolio .* unbounded"):
        ma.max_sharpe(s, mu)
    # below rf the riskless mix is no help: the best is the third asset alone, (0.08 - 0.05) / 0.3
    res = ma.max_sharpe(s, mu, risk_free=0.05)
    assert res.sharpe == pytest.approx(0.1, rel=1e-12)
    np.testing.assert_allclose(np.asarray(res.weights), [0, 0, 1], atol=1e-12)


@pytest.mark.parametrize("m", [2, 3, 16])
@pytest.mark.parametrize("var", [0.0375**2, 1.0, 1e-6])
def test_tied_expected_returns_give_one_point_at_any_scale(m, var):
    """Equal mu on a diagonal covariance: the slope of the free assets is pure rounding."""
    fr = ma.efficient_frontier(np.eye(m) * var, np.full(m, 0.01))
    assert fr.status == ma.Status.OPTIMAL and len(fr) == 1
    np.testing.assert_allclose(fr.weights[0], 1 / m, atol=1e-15)


def clarabel_mv(s, mu, tau, lo, up, budget=1.0):
    """min 1/2 w'Sw - tau mu'w s.t. 1'w = budget, lo <= w <= up, by clarabel (S may be singular)."""
    clarabel = pytest.importorskip("clarabel")
    from scipy import sparse

    n = len(mu)
    a = sparse.csc_matrix(np.vstack([np.ones((1, n)), np.eye(n), -np.eye(n)]))
    rhs = np.concatenate([[budget], up, -lo])
    st_ = clarabel.DefaultSettings()
    st_.verbose = False
    st_.tol_gap_abs = st_.tol_gap_rel = st_.tol_feas = 1e-12
    cones = [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(2 * n)]
    sol = clarabel.DefaultSolver(sparse.csc_matrix(np.triu(s)), -tau * mu, a, rhs, cones, st_).solve()
    return np.array(sol.x)


@pytest.mark.parametrize("gap", [0.01, -0.01, 0.0])
@pytest.mark.parametrize("cap", [1.0, 0.3, 0.2])
def test_duplicated_assets_with_different_expected_returns(gap, cap):
    """A copy of asset 0 with another expected return (two share classes of one fund): S is singular
    on the budget plane. The path starts from the highest-return minimum-variance point, and every
    point solves its problem (KKT recomputed here; clarabel's objective is never better)."""
    rng = np.random.default_rng(3)
    n = 6
    f = rng.normal(size=(n, 2)) * 0.2
    s0 = f @ f.T + np.diag(rng.uniform(0.01, 0.04, n))
    mu0 = rng.normal(0.06, 0.03, n)
    s = np.zeros((n + 1, n + 1))
    s[:n, :n] = s0
    s[n, :n] = s[:n, n] = s0[0]
    s[n, n] = s0[0, 0]
    mu = np.append(mu0, mu0[0] + gap)
    lo, up = np.zeros(n + 1), np.full(n + 1, cap)
    fr = ma.efficient_frontier(s, mu, upper=cap)
    assert fr.status == ma.Status.OPTIMAL, fr.message
    top = fr._tau[-1] if len(fr) > 1 else 1.0
    for t in [*fr._tau, *np.linspace(0.0, 1.5 * top, 25)]:
        w = np.asarray(fr._at_tau(t))
        viol, feas = kkt_residual(s, mu, t, w, lo, up)
        assert viol < 1e-8 and feas < 1e-10, (t, viol)
        ref = clarabel_mv(s, mu, t, lo, up)
        assert objective(s, mu, t, w) <= objective(s, mu, t, ref) + 1e-9 * max(abs(objective(s, mu, t, ref)), 1e-4)
    # the start is the best return among the minimum-variance portfolios: no move along the
    # duplicate pair (risk unchanged) raises it
    w0 = fr.weights[0]
    room = min(up[n] - w0[n], w0[0] - lo[0]) if gap > 0 else min(up[0] - w0[0], w0[n] - lo[n])
    assert gap == 0 or room <= 1e-12
    ms = ma.max_sharpe(s, mu, upper=cap)
    assert ms.frontier.status == ma.Status.OPTIMAL


@pytest.mark.parametrize("n, seed", [(2, 4), (3, 3), (4, 2)])
def test_a_one_point_frontier_starts_at_plus_infinity(n, seed):
    """All assets perfectly correlated (a matrix of ones): every portfolio has the same risk and the
    frontier is the maximum-return vertex alone. Its risk aversion is +inf (the path's start), never
    -inf from a parameter tau of -0.0."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.06, 0.03, n)
    lo = rng.uniform(0, 0.1, n)
    up = lo + rng.uniform(0.1, 0.9, n)
    for cov in (np.ones((n, n), dtype=bool), np.ones((n, n))):
        fr = ma.efficient_frontier(cov, mu, lower=lo, upper=up)
        assert fr.status == ma.Status.OPTIMAL
        assert (fr.risk_aversion > 0).all() and fr.risk_aversion[0] == np.inf, fr.risk_aversion
        # the vertex of the linear program max mu'w: the highest mu filled first, by brute force order
        w = lo.copy()
        room = 1.0 - w.sum()
        for i in np.argsort(-mu):
            add = min(up[i] - lo[i], room)
            w[i] += add
            room -= add
        np.testing.assert_allclose(fr.weights[-1], w, atol=1e-12)
        ms = ma.max_sharpe(cov, mu, lower=lo, upper=up)
        assert ms.risk_aversion > 0 and (ms.frontier.risk_aversion > 0).all()
