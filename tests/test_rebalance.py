"""Band checks and rebalancing trades against a plain-Python reference written from the definitions,
against quadprog for the least-squares band-edge trade, and for the invariants of every action."""

import numpy as np
import pytest
import quadprog
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma


def ref_width(t, a, r, combine):
    """Half-width from the definitions, one asset at a time."""
    if t == 0.0:
        return a if a is not None else 0.0
    rel = r * abs(t) if r is not None else None
    if a is not None and rel is not None:
        return min(a, rel) if combine == "min" else max(a, rel)
    return a if a is not None else rel


def ref_check(w, t, a, r, combine, s=None):
    m, n = w.shape
    out = {"breach": np.zeros((m, n), bool), "n": np.zeros(m, int), "max": np.zeros(m), "l1": np.zeros(m), "te": np.zeros(m)}
    for k in range(m):
        tk = t[k] if t.ndim == 2 else t
        worst, l1 = 0.0, 0.0
        for i in range(n):
            h = ref_width(tk[i], None if a is None else a[i], None if r is None else r[i], combine)
            b = w[k, i] > tk[i] + h or w[k, i] < tk[i] - h
            out["breach"][k, i] = b
            out["n"][k] += b
            d = abs(w[k, i] - tk[i])
            l1 += d
            worst = max(worst, d / h if h > 0 else (np.inf if d > 0 else 0.0))
        out["max"][k], out["l1"][k] = worst, 0.5 * l1
        if s is not None:
            d = w[k] - tk
            out["te"][k] = np.sqrt(max(d @ s @ d, 0.0))
    return out


@st.composite
def band_problems(draw):
    m = draw(st.integers(0, 12))
    n = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    per_row = draw(st.booleans())
    t = rng.dirichlet(np.ones(n), size=m if per_row else None)
    zero = rng.random(t.shape) < 0.15
    t = np.where(zero, 0.0, t)
    t[..., 0] += 1.0 - t.sum(axis=-1)  # targets sum to 1 like the weights (the first absorbs)
    t = np.abs(t)
    t = t / t.sum(axis=-1, keepdims=True)
    kind = draw(st.sampled_from(["abs", "rel", "both"]))
    a = rng.uniform(0, 0.05, n) if kind != "rel" else None
    r = rng.uniform(0, 0.4, n) if kind != "abs" else None
    combine = draw(st.sampled_from(["min", "max"]))
    w = rng.dirichlet(np.ones(n), size=m) if m else np.zeros((0, n))
    # Put some weights exactly on a band edge (computed as the kernel computes it).
    for k in range(m):
        tk = t[k] if per_row else t
        for i in range(n):
            if rng.random() < 0.25:
                h = ref_width(tk[i], None if a is None else a[i], None if r is None else r[i], combine)
                w[k, i] = tk[i] + h if rng.random() < 0.5 else tk[i] - h
    return w, t, a, r, combine, rng


@settings(max_examples=150, deadline=None)
@given(band_problems())
def test_band_check_matches_the_reference_exactly(problem):
    w, t, a, r, combine, rng = problem
    n = w.shape[1]
    x = rng.normal(size=(n, n))
    s = x @ x.T / n * 0.04
    got = ma.check_bands(w, t, absolute=a, relative=r, combine=combine, cov=s)
    ref = ref_check(w, t, a, r, combine, s)
    np.testing.assert_array_equal(got.breach, ref["breach"])
    np.testing.assert_array_equal(got.n_breaches, ref["n"])
    np.testing.assert_allclose(got.max_drift, ref["max"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(got.l1_drift, ref["l1"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.tracking_error, ref["te"], rtol=1e-9, atol=1e-14)
    np.testing.assert_array_equal(got.triggered, ref["n"] > 0)


def test_a_weight_on_the_edge_is_inside():
    got = ma.check_bands([0.53, 0.47], [0.5, 0.5], absolute=0.03)
    assert got.n_breaches == 0 and not got.triggered
    assert ma.check_bands([0.5301, 0.4699], [0.5, 0.5], absolute=0.03).n_breaches == 2


def test_five_twentyfive_rule():
    """5/25: the absolute 5-point band binds for targets >= 20%, the 25% relative band below."""
    t = np.array([0.6, 0.1, 0.3])
    w = np.array([0.64, 0.126, 0.234])  # +4 pts (inside 5); +2.6 pts > 25% of 10%; -6.6 pts > 5
    got = ma.check_bands(w, t, absolute=0.05, relative=0.25)
    np.testing.assert_array_equal(got.breach, [False, True, True])
    loose = ma.check_bands(w, t, absolute=0.05, relative=0.25, combine="max")
    # The looser reading: 5 pts for 10% (max(5, 2.5)), 7.5 pts for 30% (max(5, 7.5)).
    np.testing.assert_array_equal(loose.breach, [False, False, False])
    assert loose.max_drift == pytest.approx(0.066 / 0.075, rel=1e-12)  # the largest, in band widths


def test_zero_target_gets_only_the_absolute_band():
    t = np.array([0.0, 1.0])
    assert ma.check_bands([0.01, 0.99], t, relative=0.25).breach[0]
    assert not ma.check_bands([0.01, 0.99], t, relative=0.25, absolute=0.02, combine="max").breach[0]


def test_triggers():
    w = np.array([[0.52, 0.48], [0.58, 0.42]])
    t = [0.5, 0.5]
    s = np.array([[0.04, 0.0], [0.0, 0.04]])
    l1 = ma.check_bands(w, t, absolute=0.1, trigger="l1", threshold=0.05)
    np.testing.assert_array_equal(l1.triggered, [False, True])
    te = ma.check_bands(w, t, absolute=0.1, cov=s, trigger="tracking_error", threshold=0.01)
    np.testing.assert_allclose(te.tracking_error, [0.2 * 0.02 * np.sqrt(2), 0.2 * 0.08 * np.sqrt(2)])
    np.testing.assert_array_equal(te.triggered, [False, True])


def least_squares_band_edge(w, lo, hi):
    """min ||x - w||^2 s.t. lo <= x <= hi, sum x = sum w, by quadprog (independent of the kernel)."""
    n = w.size
    c = np.vstack([np.ones(n), np.eye(n), -np.eye(n)]).T
    b = np.concatenate([[w.sum()], lo, -hi])
    return quadprog.solve_qp(np.eye(n), w, c, b, meq=1)[0]


def edges(t, a, r, combine):
    h = np.array([ref_width(t[i], None if a is None else a[i], None if r is None else r[i], combine) for i in range(t.size)])
    return np.maximum(t - h, 0.0), t + h


@settings(max_examples=100, deadline=None)
@given(band_problems(), st.sampled_from(["band_edge", "target", "halfway"]))
def test_every_action_restores_the_bands_and_the_budget(problem, action):
    w, t, a, r, combine, _ = problem
    w = w / w.sum(axis=1, keepdims=True)  # self-financing: the weights sum like the targets
    res = ma.rebalance_trades(w, t, absolute=a, relative=r, combine=combine, action=action)
    after = ma.check_bands(res.weights, t, absolute=a, relative=r, combine=combine)
    assert not np.any(after.breach[res.traded])
    np.testing.assert_allclose(res.weights.sum(axis=1), w.sum(axis=1), atol=1e-12)
    np.testing.assert_array_equal(res.weights[~res.traded], w[~res.traded])
    np.testing.assert_allclose(res.trades, res.weights - w, atol=0)
    if action != "target":
        for k in np.flatnonzero(res.traded):
            tk = t[k] if t.ndim == 2 else t
            lo, hi = edges(tk, a, r, combine)
            x = least_squares_band_edge(w[k], lo, hi)
            expected = x if action == "band_edge" else 0.5 * (x + tk)
            np.testing.assert_allclose(res.weights[k], expected, atol=1e-9)


def test_min_trade_skips_small_trades_but_keeps_bands_and_budget():
    rng = np.random.default_rng(3)
    n = 20
    t = np.full(n, 1 / n)
    w = rng.dirichlet(np.full(n, 30.0), size=200)
    full = ma.rebalance_trades(w, t, absolute=0.01, action="target")
    res = ma.rebalance_trades(w, t, absolute=0.01, action="target", min_trade=0.004)
    after = ma.check_bands(res.weights, t, absolute=0.01)
    assert not np.any(after.breach[res.traded])
    np.testing.assert_allclose(res.weights.sum(axis=1), 1.0, atol=1e-12)
    small = (np.abs(res.trades) > 0) & (np.abs(res.trades) < 0.004)
    breached = ma.check_bands(w, t, absolute=0.01).breach
    assert not np.any(small & ~breached)  # any remaining small trade restores a band
    assert np.abs(res.trades).sum() < np.abs(full.trades).sum()
    assert (res.trades == 0).sum() > (full.trades == 0).sum()


def test_units_from_values_and_prices():
    w = np.array([[0.6, 0.4], [0.5, 0.5]])
    prices = np.array([50.0, 20.0])
    res = ma.rebalance_trades(w, [0.5, 0.5], absolute=0.05, action="target", portfolio_values=[1e6, 2e6], prices=prices)
    np.testing.assert_allclose(res.units, [[-0.1 * 1e6 / 50, 0.1 * 1e6 / 20], [0, 0]])


def test_drift_matches_prices_and_holdings():
    rng = np.random.default_rng(0)
    p0 = rng.uniform(10, 100, 7)
    p1 = p0 * np.exp(rng.normal(0, 0.05, 7))
    units = rng.uniform(1, 50, (4, 7))
    w0 = ma.weights_from_holdings(units, p0)
    np.testing.assert_allclose(w0, units * p0 / (units * p0).sum(axis=1, keepdims=True), rtol=1e-15)
    np.testing.assert_allclose(ma.drift(w0, p1 / p0 - 1), ma.weights_from_holdings(units, p1), rtol=1e-13)
    one = ma.drift([0.5, 0.5], [0.1, -0.1])
    np.testing.assert_allclose(one, [0.55, 0.45])


def test_empty_batch_and_one_asset():
    got = ma.check_bands(np.zeros((0, 3)), [0.2, 0.3, 0.5], absolute=0.01)
    assert got.breach.shape == (0, 3) and got.n_breaches.shape == (0,)
    one = ma.check_bands([1.0], [1.0], absolute=0.0)
    assert one.n_breaches == 0 and one.max_drift == 0.0
    res = ma.rebalance_trades(np.ones((3, 1)), [1.0], relative=0.1)
    np.testing.assert_array_equal(res.weights, np.ones((3, 1)))


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: ma.check_bands([np.nan, 0.5], [0.5, 0.5], absolute=0.1), "weights"),
        (lambda: ma.check_bands([0.5, 0.5], [0.5, 0.5]), "absolute"),
        (lambda: ma.check_bands([0.5, 0.5], [0.5, 0.5], absolute=-0.1), "absolute"),
        (lambda: ma.check_bands([0.5, 0.5], [0.5, 0.5, 0.0], absolute=0.1), "targets"),
        (lambda: ma.check_bands([0.5, 0.5], [0.5, 0.5], absolute=0.1, combine="and"), "combine"),
        (lambda: ma.check_bands([0.5, 0.5], [0.5, 0.5], absolute=0.1, trigger="l1"), "threshold"),
        (lambda: ma.check_bands([0.5, 0.5], [0.5, 0.5], absolute=0.1, trigger="tracking_error", threshold=0.1), "cov"),
        (lambda: ma.rebalance_trades([0.7, 0.4], [0.5, 0.5], absolute=0.1), "weights"),  # sums differ
        (lambda: ma.rebalance_trades([0.5, 0.5], [0.5, 0.5], absolute=0.1, action="sell"), "action"),
        (lambda: ma.rebalance_trades([0.7, 0.3], [0.5, 0.5], absolute=0.1, portfolio_values=1.0, prices=[1.0, -1.0]), "prices"),
        (lambda: ma.rebalance_trades([0.7, 0.3], [0.5, 0.5], absolute=0.1, portfolio_values=1.0, prices=[1.0, np.nan]), "prices"),
        (lambda: ma.drift([0.5, 0.5], [-1.5, 0.0]), "returns"),
        (lambda: ma.drift([0.5, -0.5], [0.1, 0.0]), "weights"),  # no positive total to keep
        (lambda: ma.rebalance_trades([0.7, 0.3], [0.5, 0.5], absolute=0.1, min_trade="x"), "min_trade"),
        (lambda: ma.drift([0.5, 0.5], [np.nan, 0.0]), "returns"),
        (lambda: ma.weights_from_holdings([1.0, 2.0], [0.0, 1.0]), "prices"),
        (lambda: ma.weights_from_holdings([1.0, 2.0], [np.nan, 1.0]), "prices"),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


def test_labels_are_kept():
    pd = pytest.importorskip("pandas")
    cols = ["a", "b"]
    w = pd.DataFrame([[0.6, 0.4], [0.5, 0.5]], index=["x", "y"], columns=cols)
    got = ma.check_bands(w, pd.Series([0.5, 0.5], index=cols), absolute=0.05)
    assert list(got.breach.columns) == cols and list(got.n_breaches.index) == ["x", "y"]
    with pytest.raises(ValueError, match="targets"):
        ma.check_bands(w, pd.Series([0.5, 0.5], index=["b", "z"]), absolute=0.05)


def test_threads_do_not_change_the_answer():
    rng = np.random.default_rng(1)
    w = rng.dirichlet(np.ones(30), size=3000)
    t = np.full(30, 1 / 30)
    one = ma.rebalance_trades(w, t, absolute=0.01, relative=0.3, threads=1)
    many = ma.rebalance_trades(w, t, absolute=0.01, relative=0.3, threads=3)
    np.testing.assert_array_equal(one.weights, many.weights)


def test_trades_are_self_financing_under_a_rounding_level_mismatch():
    w = np.array([0.62, 0.38 - 1e-10])  # sums to 1 - 1e-10, the targets to 1
    for action in ("target", "band_edge", "halfway"):
        res = ma.rebalance_trades(w, [0.5, 0.5], absolute=0.0, action=action)
        assert abs(res.trades.sum()) <= 1e-16


# -- string choices: one rule (as_choice) everywhere ------------------------------------------------
_W = np.array([[0.30, 0.25, 0.45], [0.20, 0.40, 0.40]])
_T = np.array([0.3, 0.3, 0.4])


@pytest.mark.parametrize("value", [["min"], np.array(["min", "min"]), None, 5, b"min", "MIN", ""])
@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda v: ma.check_bands(_W, _T, absolute=0.03, combine=v), "combine"),
        (lambda v: ma.check_bands(_W, _T, absolute=0.03, trigger=v, threshold=0.01, cov=np.eye(3) * 0.04), "trigger"),
        (lambda v: ma.rebalance_trades(_W, _T, absolute=0.03, combine=v), "combine"),
        (lambda v: ma.rebalance_trades(_W, _T, absolute=0.03, action=v), "action"),
        (lambda v: ma.rebalance_trades(_W, _T, absolute=0.03, trigger=v), "trigger"),
        (lambda v: ma.Policy.band(0.03, combine=v), "combine"),
        (lambda v: ma.Policy.band(0.03, action=v), "action"),
    ],
)
def test_a_choice_that_is_not_one_of_the_words_names_the_argument(call, argument, value):
    # lists and arrays of words used to escape as "unhashable" TypeError or an ambiguous truth value
    with pytest.raises(ma.errors.InputError) as info:
        call(value)
    assert info.value.argument == argument
    assert "expected one of" in str(info.value)


def test_the_choices_still_select_their_rule():
    loose = ma.check_bands(_W, _T, absolute=0.03, relative=0.5, combine="max")
    tight = ma.check_bands(_W, _T, absolute=0.03, relative=0.5, combine="min")
    # drifts of 0.05 and 0.1 (targets 0.3, 0.4): inside the looser bands (0.15, 0.2), outside 0.03
    assert list(loose.triggered) == [False, False] and list(tight.triggered) == [True, True]


# -- totals and scales of weights and targets --------------------------------------------------------
@pytest.mark.parametrize("bad", [_T * 2, -_T, _T * 1e300, np.round(_T * 100), _T.astype(np.float32) * np.float32(1.0000001)])
def test_targets_that_miss_the_shared_total_of_the_weights_are_named(bad):
    # every row of the weights sums to 1: the targets are the odd ones out
    with pytest.raises(ma.errors.InputError) as info:
        ma.rebalance_trades(_W, bad, absolute=0.03)
    assert info.value.argument == "targets"
    assert "sum to" in str(info.value)


@pytest.mark.parametrize("scale", [2.0, -1.0, 100.0, 1e300])
def test_weights_that_are_not_fully_invested_are_named_against_targets(scale):
    with pytest.raises(ma.errors.InputError) as info:
        ma.rebalance_trades(_W * scale, _T, absolute=0.03)
    assert info.value.argument == "weights"


def test_weights_whose_rows_disagree_are_named():
    w = np.array([[0.3, 0.3, 0.4], [0.3, 0.3, 0.5]])
    with pytest.raises(ma.errors.InputError) as info:
        ma.rebalance_trades(w, _T, absolute=0.03)
    assert info.value.argument == "weights" and "row 1 = 1.1" in str(info.value)


def test_float64_rounding_of_the_total_is_accepted():
    t = _T * (1 + 4e-10)  # within 1e-9 of the weights' total
    res = ma.rebalance_trades(_W, t, absolute=0.03, action="target")
    assert np.abs(res.trades.sum(axis=1)).max() <= 1e-9


@pytest.mark.parametrize("name", ["weights", "targets"])
def test_weights_or_targets_whose_tracking_error_overflows_are_refused(name):
    args = dict(weights=_W, targets=_T)
    args[name] = args[name] * 1e300
    with pytest.raises(ma.errors.InputError) as info:
        ma.check_bands(**args, absolute=0.03, cov=np.eye(3) * 0.04, trigger="tracking_error", threshold=0.01)
    assert info.value.argument == name


def test_large_weights_below_the_limit_give_a_finite_tracking_error():
    w, t = _W * 1e140, _T * 1e140
    chk = ma.check_bands(w, t, absolute=0.03, cov=np.eye(3) * 0.04, trigger="tracking_error", threshold=0.01)
    d = w - t
    expected = np.sqrt(0.04 * (d * d).sum(axis=1))  # S = 0.04 I
    np.testing.assert_allclose(chk.tracking_error, expected, rtol=1e-12)


@pytest.mark.parametrize("w", [-_T, np.zeros(3), np.array([[0.3, 0.3, 0.4], [0.5, -0.6, 0.0]])])
def test_drift_of_weights_without_a_positive_total_names_weights(w):
    # the core's plain ValueError used to escape
    with pytest.raises(ma.errors.InputError) as info:
        ma.drift(w, np.array([0.01, 0.02, -0.01]))
    assert info.value.argument == "weights" and "positive total" in str(info.value)


def test_drift_that_wipes_out_the_value_names_returns():
    # a long-short book (total 1) that loses 1 + w'r = 1 + 2 * (-1) + (-1) * 1 < 0
    with pytest.raises(ma.errors.InputError) as info:
        ma.drift(np.array([2.0, -1.0]), np.array([-1.0, 1.0]))
    assert info.value.argument == "returns"


def test_a_covariance_whose_drift_risk_overflows_is_named():
    with pytest.raises(ma.errors.InputError) as info:
        ma.check_bands(_W, _T, absolute=0.03, cov=np.eye(3) * 1e300, trigger="tracking_error", threshold=0.01)
    assert info.value.argument == "cov"
