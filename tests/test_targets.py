"""Targets, benchmark-relative construction and teams of funds, against independent solvers:

- minimum risk for a target return: quadprog with ``mu'w >= r`` as an inequality;
- maximum return for a target volatility or tracking error: clarabel with the risk limit as a
  second-order cone, and the KKT conditions (the point solves the mean-variance problem at the
  reported risk aversion, by quadprog, and the risk limit is met with equality);
- the certificate of given weights bounds the true suboptimality (quadprog's optimum);
- targets round-trip (hypothesis): the least risk for a return r, then the highest return at that
  risk, gives back r;
- teams of funds against quadprog, and their information ratio against random allocations.
"""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_frontier import kkt_residual, objective, problem, qp_solve

import microalloc as ma
from microalloc import _core

quadprog = pytest.importorskip("quadprog")


def qp_min_risk(s, mu, r, lo, up, budget=1.0, b=None):
    """min 1/2 (w-b)'S(w-b) s.t. 1'w = budget, mu'w >= r, lo <= w <= up (quadprog)."""
    n = len(mu)
    c = s @ b if b is not None else np.zeros(n)
    a = np.column_stack([np.ones(n), mu, np.eye(n), -np.eye(n)])
    return quadprog.solve_qp(s, c, a, np.concatenate([[budget, r], lo, -up]), meq=1)[0]


def clarabel_max_return(s, mu, sigma, lo, up, budget=1.0, b=None):
    """max mu'w s.t. ||L'(w-b)|| <= sigma, 1'w = budget, lo <= w <= up (clarabel, second-order cone)."""
    clarabel = pytest.importorskip("clarabel")
    from scipy import sparse

    n = len(mu)
    ell = np.linalg.cholesky(s)
    b = np.zeros(n) if b is None else b
    # rows: budget (zero cone); bounds (nonnegative); (sigma, L'(w-b)) in the SOC
    a = np.vstack([np.ones((1, n)), np.eye(n), -np.eye(n), np.zeros((1, n)), -ell.T])
    rhs = np.concatenate([[budget], up, -lo, [sigma], -ell.T @ b])
    cones = [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(2 * n), clarabel.SecondOrderConeT(n + 1)]
    st_ = clarabel.DefaultSettings()
    st_.verbose = False
    st_.tol_gap_abs = st_.tol_gap_rel = st_.tol_feas = 1e-11
    sol = clarabel.DefaultSolver(sparse.csc_matrix((n, n)), -mu, sparse.csc_matrix(a), rhs, cones, st_).solve()
    return np.array(sol.x)


def risk_of(s, w, b=None):
    d = w - (b if b is not None else 0.0)
    return float(np.sqrt(d @ s @ d))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 12), kind=st.sampled_from(["long_only", "capped", "long_short"]),
       with_benchmark=st.booleans(), where=st.floats(0.0, 1.0))
def test_min_risk_against_quadprog_and_round_trip(seed, n, kind, with_benchmark, where):
    s, mu, lo, up = problem(seed, n, kind)
    b = np.full(n, 1.0 / n) if with_benchmark else None
    fr = ma.efficient_frontier(s, mu, lower=lo, upper=up, benchmark=b)
    er = fr.expected_return
    r = er[0] + where * (er[-1] - er[0])
    res = ma.min_risk(s, mu, r, lower=lo, upper=up, benchmark=b)
    assert res.status == ma.Status.OPTIMAL and res.rel_gap <= 1e-9, res
    w = np.asarray(res.weights)
    assert mu @ w >= r - 1e-12 * max(1.0, abs(r))
    assert res.primal_residual <= 1e-10
    if r < er[-1] - 1e-9 * (er[-1] - er[0]):  # quadprog needs a strictly feasible return row
        ref = qp_min_risk(s, mu, r, lo, up, b=b)
        v_ref = risk_of(s, ref, b) ** 2
        floor = 1e-12 * np.trace(s) / n
        assert risk_of(s, w, b) ** 2 <= v_ref + 1e-9 * max(v_ref, floor)
    # KKT of the target problem at the reported risk aversion: the mean-variance optimum there
    tau = 0.0 if np.isinf(res.risk_aversion) else 1.0 / res.risk_aversion
    viol, feas = kkt_residual(s, mu, tau, w, lo, up, b)
    assert viol < 1e-8 and feas < 1e-10
    # round trip: the highest return at that risk is r again (when the target binds)
    # away from the flat start of the risk, and from a start at zero tracking error, where a target
    # of ~1e-9 tracking error fixes the return only to ~1e-8 absolute
    risk, path_risk = (res.tracking_error, fr.tracking_error) if b is not None else (res.volatility, fr.volatility)
    away = risk > path_risk[0] * (1 + 1e-3) and where > 1e-4
    if res.binding and away:
        kw = {"target_tracking_error": risk} if b is not None else {"target_volatility": risk}
        back = ma.max_return(s, mu, lower=lo, upper=up, benchmark=b, **kw)
        assert back.status == ma.Status.OPTIMAL
        # (near the minimum-risk end the risk is flat in the return: the inverse loses digits)
        assert back.expected_return == pytest.approx(r, rel=1e-8, abs=1e-9)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 10), kind=st.sampled_from(["long_only", "capped", "long_short"]),
       with_benchmark=st.booleans(), where=st.floats(0.02, 1.2))
def test_max_return_against_clarabel_and_kkt(seed, n, kind, with_benchmark, where):
    s, mu, lo, up = problem(seed, n, kind)
    b = np.full(n, 1.0 / n) if with_benchmark else None
    fr = ma.efficient_frontier(s, mu, lower=lo, upper=up, benchmark=b)
    rk = fr.tracking_error if fr.tracking_error is not None else fr.volatility
    sigma = rk[0] + where * (rk[-1] - rk[0])
    if sigma <= rk[0] * (1 + 1e-6) + 1e-9:
        return
    kw = {"target_tracking_error": sigma} if b is not None else {"target_volatility": sigma}
    res = ma.max_return(s, mu, lower=lo, upper=up, benchmark=b, **kw)
    assert res.status == ma.Status.OPTIMAL and res.rel_gap <= 1e-9, res
    w = np.asarray(res.weights)
    assert risk_of(s, w, b) <= sigma * (1 + 1e-10)
    if sigma != rk[-1]:  # at exactly the maximum-return end's risk both readings hold
        assert res.binding == (sigma < rk[-1])
    if res.binding:  # the limit holds with equality and w solves the mean-variance problem there
        assert risk_of(s, w, b) == pytest.approx(sigma, rel=1e-10)
        tau = 1.0 / res.risk_aversion
        ref = qp_solve(s, mu, tau, lo, up, b=b)
        f_ref = objective(s, mu, tau, ref, b)
        assert objective(s, mu, tau, w, b) - f_ref <= 1e-9 * max(abs(f_ref), 1e-2 * np.trace(s) / n)
    ref = clarabel_max_return(s, mu, sigma, lo, up, b=b)
    assert mu @ ref <= mu @ w + 1e-7 * max(1.0, abs(mu @ w))  # never beaten beyond clarabel's accuracy
    assert mu @ w == pytest.approx(mu @ ref, rel=1e-6, abs=1e-8)


def test_certificate_of_given_weights_bounds_the_suboptimality():
    """The core's certificate of arbitrary feasible weights is an upper bound on f(w) - f*, and
    it passes at the optimum only."""
    rng = np.random.default_rng(5)
    s, mu, lo, up = problem(11, 9, "capped")
    tau = 0.7
    ref = qp_solve(s, mu, tau, lo, up)
    f_star = objective(s, mu, tau, ref)
    for _ in range(30):
        w = np.asarray(ma.project_box_budget(ref + rng.normal(0, 0.05, 9), lower=lo, upper=up))
        cert = _core.certify_weights(s, mu, lo, up, np.empty(0), 1.0 / tau, 1.0, w, 1e-9)
        # core objective (ra/2) q - mu'w = (f(w)) / tau with f = 1/2 q - tau mu'w
        assert cert.gap * tau >= objective(s, mu, tau, w) - f_star - 1e-14
        assert ma.Status(int(cert.status)) != ma.Status.OPTIMAL
    cert = _core.certify_weights(s, mu, lo, up, np.empty(0), 1.0 / tau, 1.0, ref, 1e-8)
    assert ma.Status(int(cert.status)) == ma.Status.OPTIMAL


def test_target_gaps_bound_the_true_suboptimality():
    """The target problems' gaps (as the results compute them) are upper bounds on how far any
    feasible portfolio is from the optimum (quadprog, clarabel), at any multiplier (weak duality):
    a wrong factor in either formula fails here."""
    from microalloc.frontier import _prepare
    from microalloc.targets import _max_return_gap, _min_risk_gap

    rng = np.random.default_rng(21)
    s, mu, lo, up = problem(21, 8, "capped")
    p = _prepare(s, mu, lo, up, 1.0, None, 1e-9, True)
    fr = ma.efficient_frontier(s, mu, lower=lo, upper=up)
    r = 0.5 * (fr.expected_return[0] + fr.expected_return[-1])
    res = ma.min_risk(s, mu, r, lower=lo, upper=up)
    v_star = risk_of(s, qp_min_risk(s, mu, r, lo, up)) ** 2
    sigma = 0.5 * (fr.volatility[0] + fr.volatility[-1])
    top = ma.max_return(s, mu, target_volatility=sigma, lower=lo, upper=up)
    r_star = float(mu @ clarabel_max_return(s, mu, sigma, lo, up))
    checked = [0, 0]
    for _ in range(400):
        w = np.asarray(ma.project_box_budget(np.asarray(res.weights) + rng.normal(0, 0.03, 8), lower=lo, upper=up))
        if mu @ w >= r:
            for tau in (1.0 / res.risk_aversion, 0.5 / res.risk_aversion, 3.0 / res.risk_aversion):
                gap = _min_risk_gap(p, w, tau, r)[1]
                assert gap >= risk_of(s, w) ** 2 - v_star - 1e-14
            checked[0] += 1
        if risk_of(s, w) <= sigma:
            for ra in (top.risk_aversion, 0.5 * top.risk_aversion, 2.0 * top.risk_aversion):
                gap = _max_return_gap(p, w, ra, sigma)[1]
                assert gap >= r_star - mu @ w - 1e-9
            checked[1] += 1
    assert min(checked) >= 20, checked
    # and at the optimum both gaps vanish
    assert _min_risk_gap(p, np.asarray(res.weights), 1.0 / res.risk_aversion, r)[1] <= 1e-12 * v_star
    assert _max_return_gap(p, np.asarray(top.weights), top.risk_aversion, sigma)[1] <= 1e-12


def _achievable(err: Exception) -> tuple[float, float]:
    """The range an InfeasibleError's message gives, as numbers (printed plainly, not as reprs)."""
    lo, hi = re.search(r"achievable range \[([^,\]]+), ([^\]]+)\]", str(err)).groups()
    assert "np." not in str(err)
    return float(lo), float(hi)


def test_targets_out_of_range_name_the_argument_and_the_range():
    s, mu, lo, up = problem(3, 12, "capped")
    fr = ma.efficient_frontier(s, mu, lower=lo, upper=up)
    with pytest.raises(ma.InfeasibleError, match=r"target_return.*achievable range \[") as e:
        ma.min_risk(s, mu, fr.expected_return[-1] + 0.01, lower=lo, upper=up)
    assert _achievable(e.value)[1] == pytest.approx(fr.expected_return[-1], rel=1e-9)
    with pytest.raises(ma.InfeasibleError, match=r"target_volatility.*achievable range \[") as e:
        ma.max_return(s, mu, target_volatility=fr.volatility[0] * 0.9, lower=lo, upper=up)
    assert _achievable(e.value)[0] == pytest.approx(fr.volatility[0], rel=1e-9)
    low = ma.min_risk(s, mu, fr.expected_return[0] - 1.0, lower=lo, upper=up)  # below: minimum risk, not binding
    assert not low.binding and np.isinf(low.risk_aversion)
    np.testing.assert_allclose(np.asarray(low.weights), fr.weights[0], atol=1e-12)
    high = ma.max_return(s, mu, target_volatility=10.0, lower=lo, upper=up)  # above: maximum return
    assert not high.binding and high.risk_aversion == 0.0 and high.status == ma.Status.OPTIMAL
    assert high.expected_return == pytest.approx(fr.expected_return[-1], rel=1e-12)
    b = np.full(12, 1 / 12)
    with pytest.raises(ma.InputError, match="target_tracking_error.*benchmark"):
        ma.max_return(s, mu, target_tracking_error=0.02)
    with pytest.raises(ma.InputError, match="target_volatility.*tracking error"):
        ma.max_return(s, mu, target_volatility=0.2, benchmark=b)
    with pytest.raises(ma.InputError, match="exactly one"):
        ma.max_return(s, mu)
    with pytest.raises(ma.InputError, match="target_volatility"):
        ma.max_return(s, mu, target_volatility=-0.1)
    with pytest.raises(ma.NonFiniteError, match="target_return"):
        ma.min_risk(s, mu, float("nan"))


def test_target_on_real_data_with_labels():
    pd = pytest.importorskip("pandas")
    data = ma.load_industry_returns()
    rets = data.to_pandas()
    s = rets.cov() * 12
    mu = rets.mean() * 12
    target = float(np.quantile(mu, 0.8))
    res = ma.min_risk(s, mu, target, upper=0.3)
    assert isinstance(res.weights, pd.Series) and list(res.weights.index) == list(s.index)
    assert res.status == ma.Status.OPTIMAL and res.binding
    w = res.weights.to_numpy()
    ref = qp_min_risk(s.to_numpy().copy(), mu.to_numpy().copy(), target, np.zeros(12), np.full(12, 0.3))
    assert w @ s.to_numpy() @ w == pytest.approx(ref @ s.to_numpy() @ ref, rel=1e-9)
    # equal-weight benchmark, 3-point bands around it, a 0.5% tracking-error limit
    b = pd.Series(np.full(12, 1 / 12), index=s.index)
    act = ma.active_portfolio(s, mu, b, max_tracking_error=0.005, active_bound=0.03)
    assert act.status == ma.Status.OPTIMAL and act.target.binding
    assert act.tracking_error == pytest.approx(0.005, rel=1e-10)
    assert list(act.weights.index) == list(s.index)
    assert list(act.risk_report.active_component.index) == list(s.index)


# -- benchmark-relative construction ----------------------------------------------------------

def active_problem(seed, n=25):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 3)) * 0.2
    s = f @ f.T + np.diag(rng.uniform(0.01, 0.06, n))
    b = rng.dirichlet(np.ones(n) * 2)
    alpha = rng.normal(0.0, 0.02, n)
    return s, alpha, b


@pytest.mark.parametrize("seed", range(6))
def test_active_portfolio_target_alpha_with_bounds_around_the_benchmark(seed):
    s, alpha, b = active_problem(seed)
    d = 0.02
    fr = ma.efficient_frontier(s, alpha, benchmark=b, lower=np.maximum(0, b - d), upper=np.minimum(1, b + d))
    ta = 0.4 * fr.active_return[-1]
    res = ma.active_portfolio(s, alpha, b, target_alpha=ta, active_bound=d)
    assert res.status == ma.Status.OPTIMAL and res.target.rel_gap <= 1e-9
    w = np.asarray(res.weights)
    lo, up = np.maximum(0, b - d), np.minimum(1, b + d)
    assert (w >= lo - 1e-15).all() and (w <= up + 1e-15).all() and abs(w.sum() - b.sum()) < 1e-12
    ref = qp_min_risk(s, alpha, ta + alpha @ b, lo, up, budget=b.sum(), b=b)
    assert res.tracking_error**2 <= risk_of(s, ref, b) ** 2 * (1 + 1e-9)
    assert res.active_return == pytest.approx(ta, rel=1e-10)
    assert res.information_ratio == pytest.approx(alpha @ (w - b) / risk_of(s, w, b), rel=1e-12)
    assert res.active_share == pytest.approx(0.5 * np.abs(w - b).sum(), rel=1e-12)
    # the risk report: tracking-error contributions add up, the return contributions make the alpha
    rep = res.risk_report
    assert float(np.sum(rep.active_component)) == pytest.approx(res.tracking_error, rel=1e-10)
    assert float(rep.tracking_error) == pytest.approx(res.tracking_error, rel=1e-10)
    assert float(np.sum(rep.active_return_contribution)) == pytest.approx(res.active_return, rel=1e-10)
    # the highest information ratio at that alpha: any other portfolio with the same alpha has more TE
    rng = np.random.default_rng(seed)
    for _ in range(200):
        v = np.asarray(ma.project_box_budget(w + rng.normal(0, 0.01, len(b)), lower=lo, upper=up, budget=b.sum()))
        if alpha @ (v - b) >= ta:
            assert risk_of(s, v, b) >= res.tracking_error * (1 - 1e-12)


@pytest.mark.parametrize("cov", [np.zeros((0, 0)), np.zeros((3, 2))])
def test_active_portfolio_names_a_covariance_of_no_assets_or_the_wrong_shape(cov):
    b = np.full(3, 1 / 3)
    with pytest.raises(ma.ShapeError) as info:
        ma.active_portfolio(cov, np.array([0.01, 0.02, 0.03]), b, max_tracking_error=0.02)
    assert info.value.argument == "cov", str(info.value)


def test_active_portfolio_tracking_error_limit_and_both_targets():
    s, alpha, b = active_problem(7)
    res = ma.active_portfolio(s, alpha, b, max_tracking_error=0.015)
    assert res.status == ma.Status.OPTIMAL
    assert res.tracking_error == pytest.approx(0.015, rel=1e-10)
    ref = clarabel_max_return(s, alpha, 0.015, np.zeros(25), np.ones(25), b=b)
    assert res.active_return == pytest.approx(alpha @ (ref - b), rel=1e-6)
    both = ma.active_portfolio(s, alpha, b, target_alpha=0.5 * res.active_return, max_tracking_error=0.015)
    assert both.tracking_error < 0.015 and both.active_return == pytest.approx(0.5 * res.active_return, rel=1e-10)
    with pytest.raises(ma.InfeasibleError, match=r"max_tracking_error.*needs a tracking error of") as e:
        ma.active_portfolio(s, alpha, b, target_alpha=2 * res.active_return, max_tracking_error=0.015)
    assert "highest alpha within the limit" in str(e.value)
    top = ma.efficient_frontier(s, alpha, benchmark=b).active_return[-1]
    with pytest.raises(ma.InfeasibleError, match=r"target_alpha.*achievable range") as e:
        ma.active_portfolio(s, alpha, b, target_alpha=top + 0.01)
    hi = float(re.search(r"achievable range \[[^,]+, ([^\]]+)\]", str(e.value)).group(1))
    assert hi == pytest.approx(top, rel=1e-12)
    with pytest.raises(ma.InputError, match="target_alpha"):
        ma.active_portfolio(s, alpha, b)
    with pytest.raises(ma.InputError, match="active_bound"):
        ma.active_portfolio(s, alpha, b, target_alpha=0.001, active_bound=-0.01)
    with pytest.raises(ma.ShapeError, match="benchmark"):
        ma.active_portfolio(s, alpha, b[:-1], target_alpha=0.001)


@pytest.mark.parametrize("budget", [0.9, 1.1])
def test_active_portfolio_with_a_budget_other_than_the_benchmarks_total(budget):
    """budget != sum(b): the active weights sum to budget - sum(b) (cash against the benchmark);
    the least tracking error for the target alpha is quadprog's, the highest alpha within a
    tracking-error limit clarabel's, and the active share counts the cash position."""
    s, alpha, b = active_problem(11)
    n = len(b)
    lo, up = np.zeros(n), np.full(n, 0.5)
    ta = 0.002
    res = ma.active_portfolio(s, alpha, b, target_alpha=ta, budget=budget, upper=0.5)
    assert res.status == ma.Status.OPTIMAL and res.target.rel_gap <= 1e-9
    w = np.asarray(res.weights)
    assert abs(w.sum() - budget) < 1e-12 and (w >= -1e-15).all() and (w <= 0.5 + 1e-15).all()
    np.testing.assert_allclose(np.asarray(res.active_weights), w - b, rtol=0, atol=1e-15)
    assert float(np.sum(res.active_weights)) == pytest.approx(budget - b.sum(), abs=1e-12)
    ref = qp_min_risk(s, alpha, ta + alpha @ b, lo, up, budget=budget, b=b)
    assert res.tracking_error**2 <= risk_of(s, ref, b) ** 2 * (1 + 1e-9)
    np.testing.assert_allclose(w, ref, rtol=0, atol=1e-6)
    assert res.tracking_error == pytest.approx(risk_of(s, w, b), rel=1e-10)
    assert res.active_return == pytest.approx(ta, rel=1e-10)
    assert res.information_ratio == pytest.approx(alpha @ (w - b) / risk_of(s, w, b), rel=1e-12)
    cash = abs(budget - b.sum())
    assert res.active_share == pytest.approx(0.5 * (np.abs(w - b).sum() + cash), rel=1e-12)
    rep = res.risk_report
    assert float(rep.tracking_error) == pytest.approx(res.tracking_error, rel=1e-10)
    assert float(np.sum(rep.active_component)) == pytest.approx(res.tracking_error, rel=1e-10)
    assert float(np.sum(rep.active_return_contribution)) == pytest.approx(res.active_return, rel=1e-10)
    lim = ma.active_portfolio(s, alpha, b, max_tracking_error=0.02, budget=budget, upper=0.5)
    assert lim.status == ma.Status.OPTIMAL and lim.tracking_error == pytest.approx(0.02, rel=1e-10)
    ref = clarabel_max_return(s, alpha, 0.02, lo, up, budget=budget, b=b)
    assert lim.active_return == pytest.approx(alpha @ (ref - b), rel=1e-6)


def test_frontier_active_returns_and_information_ratios():
    s, alpha, b = active_problem(3)
    fr = ma.efficient_frontier(s, alpha, benchmark=b)
    np.testing.assert_allclose(fr.active_return, fr.weights @ alpha - alpha @ b, atol=1e-15)
    ir = fr.information_ratio
    assert fr.tracking_error[0] < 1e-12 and np.isnan(ir[0])  # b is feasible: the path starts at w = b
    np.testing.assert_allclose(ir[1:], fr.active_return[1:] / fr.tracking_error[1:], rtol=1e-14)
    assert np.all(np.diff(ir[1:]) <= 1e-12)  # with b feasible the active frontier is concave through 0


# -- teams of funds -------------------------------------------------------------------------------

def fund_panel(seed, m=8):
    rng = np.random.default_rng(seed)
    te = rng.uniform(0.03, 0.045, m)
    x = rng.normal(size=(m, m + 4))
    c = np.corrcoef(x) * 0.5 + 0.5 * np.eye(m)  # mild correlations
    alphas = rng.uniform(0.005, 0.02, m)
    return alphas, te, c


@pytest.mark.parametrize("seed", range(5))
def test_combine_funds_against_quadprog(seed):
    alphas, te, c = fund_panel(seed)
    omega = te[:, None] * c * te[None, :]
    ta = np.quantile(alphas, 0.7)
    res = ma.combine_funds(mu=alphas, tracking_errors=te, correlations=c, target_alpha=ta)
    same = ma.combine_funds(omega, alphas, target_alpha=ta)
    np.testing.assert_allclose(np.asarray(res.weights), np.asarray(same.weights), atol=1e-12)
    assert res.status == ma.Status.OPTIMAL
    x = np.asarray(res.weights)
    assert abs(x.sum() - 1) < 1e-12 and (x >= 0).all()
    ref = qp_min_risk(omega, alphas, ta, np.zeros(8), np.ones(8))
    assert res.tracking_error**2 <= (ref @ omega @ ref) * (1 + 1e-9)
    assert res.active_return >= ta - 1e-14
    assert res.average_tracking_error == pytest.approx(x @ te, rel=1e-12)
    assert res.diversification == pytest.approx(x @ te / np.sqrt(x @ omega @ x), rel=1e-10)
    assert float(np.sum(res.percent_risk)) == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(res.fund_tracking_error, te, rtol=1e-12)


def test_combine_funds_highest_information_ratio():
    alphas, te, c = fund_panel(9)
    omega = te[:, None] * c * te[None, :]
    res = ma.combine_funds(omega, alphas)
    assert res.status == ma.Status.OPTIMAL
    assert res.information_ratio >= (alphas / te).max() - 1e-12  # at least the best single fund
    rng = np.random.default_rng(0)
    xs = rng.dirichlet(np.ones(8) * 0.3, 20000)
    irs = xs @ alphas / np.sqrt(np.einsum("ij,jk,ik->i", xs, omega, xs))
    assert irs.max() <= res.information_ratio * (1 + 1e-12)
    x = np.asarray(res.weights)
    assert res.information_ratio == pytest.approx(alphas @ x / np.sqrt(x @ omega @ x), rel=1e-12)
    with pytest.raises(ma.InfeasibleError, match=r"mu: no allocation has a positive alpha"):
        ma.combine_funds(omega, -alphas)
    bad = c.copy()
    bad[0, 1] = bad[1, 0] = -1.0  # a unit diagonal but not a correlation matrix
    bad[0, 2] = bad[2, 0] = 1.0
    bad[1, 2] = bad[2, 1] = 1.0
    with pytest.raises(ma.NotPSDError, match=r"^correlations"):
        ma.combine_funds(mu=alphas, tracking_errors=te, correlations=bad)


def test_alpha_diversification_closed_form():
    """m uncorrelated funds with equal TE and alpha: equal weights, TE / sqrt(m)."""
    m = 16
    res = ma.combine_funds(mu=np.full(m, 0.01), tracking_errors=np.full(m, 0.0375), correlations=np.eye(m),
                           target_alpha=0.01)
    np.testing.assert_allclose(np.asarray(res.weights), 1 / m, atol=1e-12)
    assert res.tracking_error == pytest.approx(0.0375 / 4, rel=1e-12)
    assert res.diversification == pytest.approx(4.0, rel=1e-12)


def test_combine_funds_bad_inputs():
    alphas, te, c = fund_panel(1)
    with pytest.raises(ma.InputError, match="^cov"):
        ma.combine_funds(mu=alphas)
    with pytest.raises(ma.InputError, match="correlations"):
        ma.combine_funds(mu=alphas, tracking_errors=te, correlations=c[:-1, :-1])
    bad = c.copy()
    bad[0, 0] = 0.9
    with pytest.raises(ma.InputError, match="correlations.*unit diagonal"):
        ma.combine_funds(mu=alphas, tracking_errors=te, correlations=bad)
    with pytest.raises(ma.InputError, match="tracking_errors"):
        ma.combine_funds(mu=alphas, tracking_errors=-te, correlations=c)
    with pytest.raises(ma.InfeasibleError, match="target_alpha.*achievable range"):
        ma.combine_funds(mu=alphas, tracking_errors=te, correlations=c, target_alpha=1.0)
    with pytest.raises(ma.InputError, match="not both"):
        ma.combine_funds(np.diag(te**2), alphas, tracking_errors=te, correlations=c)


@pytest.mark.parametrize(
    "te",
    [
        np.array([]),  # used to name correlations (0 x 0 expected)
        np.array([0.04, 0.05, 0.03]) * 1e300,  # used to name correlations (an inf entry)
        np.array([0.04, 1e300, 0.03]),
        np.array([0.04, 0.05, 0.03]) * 1e-300,  # used to name correlations (a zero variance)
        np.array([0.04, 1e-160, 0.03]),
        np.array([0.04, np.nan, 0.03]),
        np.array([0.04, 0.0, 0.03]),
    ],
)
def test_combine_funds_checks_tracking_errors_on_their_own(te):
    corr = np.eye(3) if te.size == 3 else np.eye(2)
    with pytest.raises(ma.InputError) as info:
        ma.combine_funds(mu=np.array([0.02, 0.03, 0.01]), tracking_errors=te, correlations=corr)
    assert info.value.argument == "tracking_errors"


def test_combine_funds_with_large_but_safe_tracking_errors_matches_the_closed_form():
    # uncorrelated funds of equal alpha: least risk for that alpha is x_i ~ 1 / te_i^2
    te = np.array([2.0, 4.0, 4.0]) * 1e100
    res = ma.combine_funds(mu=np.full(3, 1e100), tracking_errors=te, correlations=np.eye(3), target_alpha=1e100)
    x = (1 / te**2) / (1 / te**2).sum()
    np.testing.assert_allclose(np.asarray(res.weights), x, atol=1e-9)


@pytest.mark.parametrize("target", [1e300, 1.7e308, 1e10])
def test_a_huge_non_binding_risk_target_gives_the_certified_maximum_return(target):
    """A risk target far above the maximum-return portfolio's risk does not bind: the answer is the
    linear program's vertex (here by brute force over the capped assets), OPTIMAL with a finite,
    zero gap (the target's term is absent at risk aversion 0; it was 0 * inf = NaN)."""
    s, mu, b = active_problem(3, n=8)
    up = np.full(8, 0.3)
    order = np.argsort(-mu)
    w = np.zeros(8)
    w[order[:3]] = 0.3
    w[order[3]] = 0.1
    for kwargs in ({"target_volatility": target}, {"target_tracking_error": target, "benchmark": b}):
        res = ma.max_return(s, mu, upper=up, **kwargs)
        assert res.status == ma.Status.OPTIMAL and not res.binding, res
        assert np.isfinite([res.gap, res.rel_gap, res.primal_residual, res.dual_residual]).all()
        np.testing.assert_allclose(res.weights, w, atol=1e-12)
        assert res.expected_return == pytest.approx(mu @ w, rel=1e-12)
