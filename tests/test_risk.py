"""Risk decomposition, active share and ex-post tracking error against closed forms, finite
differences and textbook values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma


def factor_cov(n, seed, k=3):
    rng = np.random.default_rng(seed)
    b = rng.normal(scale=0.15, size=(n, k))
    return b @ b.T + np.diag(rng.uniform(0.01, 0.09, n)), rng


def sigma(s, w):
    return float(np.sqrt(w @ s @ w))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 60),
    seed=st.integers(0, 2**31),
    long_short=st.booleans(),
    scale=st.sampled_from([1e-6, 1.0, 1e4]),
)
def test_identities_and_finite_differences(n, seed, long_short, scale):
    s, rng = factor_cov(n, seed)
    w = rng.normal(size=n) if long_short else rng.dirichlet(np.ones(n))
    w = w * scale
    b = rng.dirichlet(np.ones(n)) * scale
    alpha = rng.normal(0.0, 0.02, n)
    r = ma.risk_contributions(s, w, benchmark=b, mu=alpha)
    vol, te = sigma(s, w), sigma(s, w - b)
    assert r.volatility == pytest.approx(vol, rel=1e-12)
    assert r.tracking_error == pytest.approx(te, rel=1e-12)
    assert r.component.sum() == pytest.approx(vol, rel=1e-10, abs=1e-14 * scale)
    assert r.percent.sum() == pytest.approx(1.0, rel=1e-10)
    a = w - b
    active = te > 1e-3 * scale  # else a ~ 0: ratios undefined (NaN), sigma has a kink at a = 0
    if active:
        assert r.active_component.sum() == pytest.approx(te, rel=1e-10, abs=1e-14 * scale)
        assert r.active_percent.sum() == pytest.approx(1.0, rel=1e-10)
    assert r.active_return == pytest.approx(float(a @ alpha), rel=1e-12, abs=1e-15 * scale)
    np.testing.assert_allclose(r.active_return_contribution, a * alpha, rtol=1e-15, atol=0)
    # marginal contributions are the derivatives of the volatility (central differences)
    h = 1e-6 * scale
    for i in range(min(n, 5)):
        e = np.zeros(n)
        e[i] = h
        fd = (sigma(s, w + e) - sigma(s, w - e)) / (2 * h)
        assert r.marginal[i] == pytest.approx(fd, rel=1e-6, abs=1e-8)
        if active:
            fd_a = (sigma(s, a + e) - sigma(s, a - e)) / (2 * h)
            assert r.active_marginal[i] == pytest.approx(fd_a, rel=1e-6, abs=1e-8)
    if np.isfinite(r.efficiency).all():
        assert abs(r.efficiency.sum()) <= 1e-9 * max(1.0, np.abs(r.efficiency).sum())  # 1 - 1


def test_scale_invariance():
    s, rng = factor_cov(20, 1)
    w = rng.dirichlet(np.ones(20))
    r1, r2 = ma.risk_contributions(s, w), ma.risk_contributions(s, 3.0 * w)
    np.testing.assert_allclose(r2.percent, r1.percent, rtol=1e-12)
    np.testing.assert_allclose(r2.marginal, r1.marginal, rtol=1e-12)
    np.testing.assert_allclose(r2.component, 3.0 * r1.component, rtol=1e-12)
    assert r2.volatility == pytest.approx(3.0 * r1.volatility, rel=1e-14)


def test_efficiency_vanishes_for_the_information_ratio_optimal_portfolio():
    # alpha = 2 lambda S a: every holding's share of active return equals its share of active risk
    s, rng = factor_cov(30, 2)
    b = rng.dirichlet(np.ones(30))
    a = rng.normal(0, 0.01, 30)
    a -= a.mean()
    alpha = 2 * 3.0 * s @ a
    r = ma.risk_contributions(s, b + a, benchmark=b, mu=alpha)
    np.testing.assert_allclose(r.efficiency, 0.0, atol=1e-12)
    # tilting alpha towards asset 0 makes holding 0 efficient (positive when it is held long)
    a0 = 1.0 if a[0] > 0 else -1.0
    tilted = alpha.copy()
    tilted[0] += 0.01 * a0
    e = ma.risk_contributions(s, b + a, benchmark=b, mu=tilted).efficiency
    assert e[0] > 0


def test_undefined_ratios_are_nan_never_a_division_by_zero():
    s, rng = factor_cov(5, 3)
    zero = ma.risk_contributions(s, np.zeros(5))
    assert zero.volatility == 0.0
    assert np.isnan(zero.marginal).all() and np.isnan(zero.percent).all()
    np.testing.assert_array_equal(zero.component, 0.0)
    b = rng.dirichlet(np.ones(5))
    same = ma.risk_contributions(s, b, benchmark=b, mu=np.ones(5))
    assert same.tracking_error == 0.0 and np.isnan(same.efficiency).all()
    # active return exactly zero: efficiency undefined
    w = b + np.array([0.1, -0.1, 0.0, 0.0, 0.0])
    flat = ma.risk_contributions(s, w, benchmark=b, mu=np.full(5, 0.03))
    assert flat.active_return == pytest.approx(0.0, abs=1e-18)
    assert np.isnan(flat.efficiency).all()
    assert np.isfinite(flat.active_percent).all()


def test_batch_equals_rows_for_any_thread_count():
    s, rng = factor_cov(40, 4)
    w = rng.dirichlet(np.ones(40), size=300)
    b = rng.dirichlet(np.ones(40))
    al = rng.normal(0, 0.02, (300, 40))
    one = ma.risk_contributions(s, w, benchmark=b, mu=al, threads=1)
    two = ma.risk_contributions(s, w, benchmark=b, mu=al, threads=2)
    assert one.component.shape == (300, 40) and one.volatility.shape == (300,)
    for f in ("volatility", "component", "active_percent", "efficiency"):
        np.testing.assert_array_equal(getattr(one, f), getattr(two, f))
    for i in (0, 137, 299):
        r = ma.risk_contributions(s, w[i], benchmark=b, mu=al[i])
        np.testing.assert_allclose(one.component[i], r.component, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(one.efficiency[i], r.efficiency, rtol=1e-9, atol=1e-12)
        assert one.tracking_error[i] == pytest.approx(r.tracking_error, rel=1e-12)
    per_row_b = ma.risk_contributions(s, w, benchmark=np.tile(b, (300, 1)))
    np.testing.assert_allclose(per_row_b.tracking_error, one.tracking_error, rtol=1e-12)


def test_textbook_active_share_and_ex_post_tracking_error():
    assert ma.active_share([0.5, 0.3, 0.2], [0.4, 0.4, 0.2]) == pytest.approx(0.10, abs=1e-15)
    te = ma.tracking_error([0.01, 0.02, -0.01, 0.03], [0.0, 0.0, 0.0, 0.0])
    assert round(te, 4) == 0.0148  # population convention: 1.48%
    # by hand: mean 1.25%, squared deviations sum to 8.75 (%^2)
    assert te == pytest.approx(np.sqrt(8.75e-4 / 4), rel=1e-13)
    assert ma.tracking_error([0.01, 0.02, -0.01, 0.03], np.zeros(4), ddof=1) == pytest.approx(
        np.sqrt(8.75e-4 / 3), rel=1e-13
    )
    assert ma.tracking_error([0.01, 0.02, -0.01, 0.03], np.zeros(4), periods_per_year=4) == pytest.approx(2 * te)
    rp = np.array([[0.01, 0.02], [0.02, 0.0], [-0.01, 0.01], [0.03, 0.02]])
    # second column: mean 1.25%, squared deviations 0.5625 + 1.5625 + 0.0625 + 0.5625 = 2.75 (%^2)
    np.testing.assert_allclose(ma.tracking_error(rp, np.zeros(4)), np.sqrt(np.array([8.75e-4, 2.75e-4]) / 4), rtol=1e-13)
    batch = ma.active_share(np.array([[0.5, 0.3, 0.2], [0.4, 0.4, 0.2]]), [0.4, 0.4, 0.2])
    np.testing.assert_allclose(batch, [0.1, 0.0], atol=1e-15)


@pytest.mark.parametrize(
    "call, exc, argument",
    [
        (lambda s: ma.risk_contributions(s, np.ones(4) / 4), ma.ShapeError, "weights"),
        (lambda s: ma.risk_contributions(s, [0.2, np.nan, 0.3]), ma.NonFiniteError, "weights"),
        (lambda s: ma.risk_contributions(s, np.ones(3) / 3, benchmark=np.ones(2)), ma.ShapeError, "benchmark"),
        (lambda s: ma.risk_contributions(s, np.ones(3) / 3, mu=np.ones(3)), ma.InputError, "mu"),
        (lambda s: ma.risk_contributions(s, np.ones((5, 3)) / 3, benchmark=np.ones((4, 3)) / 3), ma.ShapeError, "benchmark"),
        (lambda s: ma.risk_contributions(s[:2], np.ones(3) / 3), ma.ShapeError, "cov"),
        (lambda s: ma.risk_contributions(s, np.ones(3) / 3, threads=0), ma.InputError, "threads"),
        (lambda s: ma.active_share([0.5, 0.5, 0.1], [0.4, 0.4, 0.2]), ma.InputError, "weights"),
        (lambda s: ma.active_share([0.5, 0.5], [0.4, 0.4, 0.2]), ma.ShapeError, "benchmark"),
        (lambda s: ma.tracking_error([0.01, np.inf], [0.0, 0.0]), ma.NonFiniteError, "portfolio_returns"),
        (lambda s: ma.tracking_error([0.01, 0.02], [0.0]), ma.ShapeError, "benchmark_returns"),
        (lambda s: ma.tracking_error([0.01], [0.0], ddof=1), ma.InputError, "ddof"),
        (lambda s: ma.tracking_error([0.01, 0.0], [0.0, 0.0], periods_per_year=0), ma.InputError, "periods_per_year"),
    ],
)
def test_bad_input_names_the_argument(call, exc, argument):
    s, _ = factor_cov(3, 0)
    with pytest.raises(exc) as info:
        call(s)
    assert info.value.argument == argument and str(info.value).startswith(f"{argument}: ")


def test_pandas_labels_are_kept():
    pd = pytest.importorskip("pandas")
    s, rng = factor_cov(3, 5)
    names = ["a", "b", "c"]
    cov = pd.DataFrame(s, index=names, columns=names)
    r = ma.risk_contributions(cov, pd.Series([0.5, 0.3, 0.2], index=names), benchmark=np.ones(3) / 3)
    assert list(r.component.index) == names and list(r.active_percent.index) == names
    batch = pd.DataFrame(rng.dirichlet(np.ones(3), size=2), index=["x", "y"], columns=names)
    rb = ma.risk_contributions(cov, batch)
    assert list(rb.volatility.index) == ["x", "y"] and list(rb.percent.columns) == names
    with pytest.raises(ma.InputError, match="^weights: labels"):
        ma.risk_contributions(cov, pd.Series([0.5, 0.3, 0.2], index=["a", "c", "x"]))


def test_money_risk_budget_worked_example():
    # $1,000,000 with a $60,000 risk budget split 40/30/30 over three uncorrelated holdings
    vols = np.array([0.10, 0.08, 0.05])
    w = np.array([0.5, 0.3, 0.2])
    r = ma.money_risk_budget(np.diag(vols**2), w, portfolio_value=1_000_000, risk_budget=60_000, allocation=[0.4, 0.3, 0.3])
    np.testing.assert_allclose(r.budget, [24_000, 18_000, 18_000])
    vol = np.sqrt(np.sum((w * vols) ** 2))
    actual = 1_000_000 * (w * vols) ** 2 / vol  # uncorrelated: component = w_i^2 s_i^2 / sigma
    np.testing.assert_allclose(r.actual, actual, rtol=1e-12)
    assert r.total_actual == pytest.approx(1_000_000 * vol, rel=1e-12) == pytest.approx(actual.sum(), rel=1e-12)
    np.testing.assert_allclose(r.excess, actual - [24_000, 18_000, 18_000], rtol=1e-12)
    np.testing.assert_allclose(r.utilisation, actual / [24_000, 18_000, 18_000], rtol=1e-12)
    with pytest.raises(ma.InputError, match="^allocation:"):
        ma.money_risk_budget(np.diag(vols**2), w, portfolio_value=1e6, risk_budget=6e4, allocation=[0.5, 0.3, 0.3])
    with pytest.raises(ma.InputError, match="^risk_budget:"):
        ma.money_risk_budget(np.diag(vols**2), w, portfolio_value=1e6, risk_budget=0, allocation=[0.4, 0.3, 0.3])


def test_labels_of_benchmark_and_alphas_must_match():
    pd = pytest.importorskip("pandas")
    s, _ = factor_cov(3, 6)
    names = ["a", "b", "c"]
    w = pd.Series([0.5, 0.3, 0.2], index=names)
    foreign = pd.Series([0.2, 0.3, 0.5], index=["c", "b", "x"])
    with pytest.raises(ma.InputError, match="^benchmark: labels"):
        ma.risk_contributions(s, w, benchmark=foreign)
    with pytest.raises(ma.InputError, match="^mu: labels"):
        ma.risk_contributions(s, w, benchmark=np.ones(3) / 3, mu=foreign)
    with pytest.raises(ma.InputError, match="^benchmark: labels"):
        ma.active_share(w, foreign)
    # the same assets in another order are matched by label
    assert ma.active_share(w, w[["c", "b", "a"]]) == pytest.approx(0.0, abs=1e-15)


def test_tracking_error_shape_rules():
    t = 6
    with pytest.raises(ma.ShapeError, match="^benchmark_returns:"):
        ma.tracking_error(np.zeros(t), np.zeros((t, t)))
    assert ma.tracking_error(np.zeros(t), np.zeros((t, 1))) == 0.0
    with pytest.raises(ma.ShapeError, match="^weights:"):
        ma.money_risk_budget(np.eye(2), np.ones((2, 2)) / 2, portfolio_value=1.0, risk_budget=1.0, allocation=[0.5, 0.5])


# -- active_share's tol, tracking_error's scale and ragged input ------------------------------------
@pytest.mark.parametrize("tol", [-1.0, -np.inf, np.nan, None, "5", "high", [1e-6], np.array([1e-6, 1e-6])])
def test_active_share_tol_is_checked_and_named(tol):
    w, b = np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.4, 0.2])
    with pytest.raises(ma.errors.InputError) as info:
        ma.active_share(w, b, tol=tol)
    assert info.value.argument == "tol"


def test_active_share_tol_still_bounds_the_totals():
    w, b = np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.4, 0.2 + 1e-4])
    assert ma.active_share(w, b, tol=1e-3) == pytest.approx(0.5 * (0.1 + 0.1 + 1e-4), rel=1e-12)
    with pytest.raises(ma.errors.InputError) as info:
        ma.active_share(w, b, tol=1e-5)
    assert info.value.argument == "weights"


@pytest.mark.parametrize("name", ["portfolio_returns", "benchmark_returns"])
@pytest.mark.parametrize("big", [1e300, 1e160])
def test_tracking_error_of_returns_whose_variance_overflows_is_refused(name, big):
    args = dict(portfolio_returns=np.array([0.01, -0.02, 0.03, 0.0]), benchmark_returns=np.array([0.0, 0.01, 0.02, -0.01]))
    args[name] = args[name].copy()
    args[name][1] = big
    with pytest.raises(ma.errors.InputError) as info:
        ma.tracking_error(**args)
    assert info.value.argument == name


def test_tracking_error_of_large_returns_below_the_limit_is_exact():
    rp, rb = np.array([1e140, 0.0, 0.0, 0.0]), np.zeros(4)
    # population std of (1e140, 0, 0, 0): 1e140 * sqrt(3) / 4
    assert ma.tracking_error(rp, rb) == pytest.approx(1e140 * np.sqrt(3) / 4, rel=1e-12)


@pytest.mark.parametrize("name", ["portfolio_returns", "benchmark_returns"])
def test_tracking_error_of_a_ragged_list_names_it(name):
    args = dict(portfolio_returns=[0.01, 0.02, 0.0], benchmark_returns=[0.0, 0.01, 0.0])
    args[name] = [0.01, [0.02, 0.03], 0.0]
    with pytest.raises(ma.errors.InputError) as info:
        ma.tracking_error(**args)
    assert info.value.argument == name


def test_tracking_error_ddof_message_shows_a_plain_number():
    with pytest.raises(ma.errors.InputError, match=r"got -3$") as info:
        ma.tracking_error(np.zeros(4), np.zeros(4), ddof=np.int64(-3))
    assert info.value.argument == "ddof"
