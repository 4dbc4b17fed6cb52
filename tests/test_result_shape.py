"""One result shape: every result shares status, is_optimal, raise_for_status, solve_time_s,
to_series / to_frame and a compact repr; one name per quantity; the old names warn for a release.

Numbers are checked against what the test recomputes from the weights (sqrt(w'Sw), labels)."""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import microalloc as ma
from microalloc.result import Result

rng = np.random.default_rng(11)
N = 8
LABELS = [f"A{i}" for i in range(N)]
_F = rng.normal(size=(60, N)) * 0.05
S = np.cov(_F, rowvar=False) + 1e-4 * np.eye(N)
MU = 0.02 + 0.1 * rng.random(N)
B = np.full(N, 1.0 / N)
SL = pd.DataFrame(S, index=LABELS, columns=LABELS)
MUL = pd.Series(MU, index=LABELS)


def _results() -> dict[str, Result]:
    w = ma.solve_mean_variance(S, MU, risk_aversion=4.0).weights
    fr = ma.efficient_frontier(S, MU)
    return {
        "solve": ma.solve_mean_variance(SL, MUL, risk_aversion=4.0),
        "solve_benchmark": ma.solve_mean_variance(S, MU, risk_aversion=40.0, benchmark=B),
        "batch": ma.solve_mean_variance_batch(S, np.tile(MU, (3, 1)), risk_aversion=[1.0, 4.0, 16.0]),
        "frontier": fr,
        "max_sharpe": ma.max_sharpe(SL, MUL),
        "min_risk": ma.min_risk(S, MU, float(np.median(fr.expected_return))),
        "active": ma.active_portfolio(S, MU, B, max_tracking_error=0.02),
        "funds": ma.combine_funds(S, MU - MU.mean() + 0.01),
        "risk": ma.risk_contributions(SL, pd.Series(w, index=LABELS), benchmark=pd.Series(B, index=LABELS)),
        "budgeting": ma.risk_budgeting(S, np.full(N, 1.0 / N)),
        "money": ma.money_risk_budget(S, w, portfolio_value=1e6, risk_budget=1e5, allocation=np.full(N, 1.0 / N)),
        "bands": ma.check_bands(np.vstack([w, B]), B, absolute=0.02),
        "rebalance": ma.rebalance_trades(np.vstack([w, B]), B, absolute=0.02),
        "shares": ma.whole_shares(w, np.full(N, 50.0), 1e5),
        "shares_batch": ma.whole_shares_batch(np.vstack([w, B]), np.full(N, 50.0), [1e5, 2e5], exact=True),
        "summary": ma.estimation.portfolio_summary(_F, w, benchmark=B, periods_per_year=12),
        "transfer": ma.skill.transfer_coefficient(S, MU - MU.mean(), np.asarray(w) - B),
        "backtest": ma.backtest_rebalancing(np.cumprod(1 + _F, axis=0), B, [ma.Policy.buy_and_hold()],
                                            periods_per_year=12),
    }


RESULTS = _results()


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_every_result_shares_the_shape(name):
    r = RESULTS[name]
    assert isinstance(r, Result)
    optimal = np.asarray(r.is_optimal)
    assert optimal.dtype == bool and optimal.all()
    assert r.raise_for_status() is r
    assert math.isfinite(float(np.sum(r.solve_time_s))) and float(np.sum(r.solve_time_s)) >= 0.0
    text = repr(r)
    assert text.startswith(type(r).__name__ + "(") and len(text) < 400 and "\n" not in text
    assert "OPTIMAL" in text
    html = r._repr_html_()
    assert type(r).__name__ in html and "OPTIMAL" in html
    s = r.to_series()
    assert s.name == type(r).__name__ and "status" in s.index
    for key, value in s.items():  # every figure is the attribute it names
        if key not in ("status", "solve_time_s") and hasattr(r, key) and np.ndim(getattr(r, key)) == 0:
            assert getattr(r, key) == value or (value != value and getattr(r, key) != getattr(r, key)), key


@pytest.mark.parametrize("name", ["solve", "max_sharpe", "risk"])
def test_to_frame_is_labelled_as_the_inputs_were(name):
    frame = RESULTS[name].to_frame()
    assert list(frame.index) == LABELS


def test_to_frame_holds_the_vectors():
    r = RESULTS["solve"]
    np.testing.assert_array_equal(r.to_frame()["weight"].to_numpy(), np.asarray(r.weights))
    rc = RESULTS["risk"]
    frame = rc.to_frame()
    for col in ("marginal", "component", "percent", "active_component"):
        np.testing.assert_array_equal(frame[col].to_numpy(), np.asarray(getattr(rc, col)))
    fr = RESULTS["frontier"]
    f = fr.to_frame()
    assert len(f) == len(fr) and f.index.name == "turning_point"
    np.testing.assert_array_equal(f["volatility"].to_numpy(), fr.volatility)
    batch = RESULTS["batch"].to_frame()
    assert list(batch["status"]) == ["OPTIMAL"] * 3 and len(batch) == 3
    bt = RESULTS["backtest"]
    assert list(bt.to_frame().index) == bt.names


def test_a_matrix_comes_out_long():
    w = np.vstack([RESULTS["solve_benchmark"].weights, B])
    rc = ma.risk_contributions(S, w)
    frame = rc.to_frame()
    assert frame.index.nlevels == 2 and len(frame) == 2 * N
    np.testing.assert_array_equal(frame["component"].to_numpy(), np.asarray(rc.component).reshape(-1))


def test_figures_only_results_refuse_to_frame():
    t = ma.skill.transfer_coefficient(S, MU - MU.mean(), RESULTS["active"].active_weights)
    assert t.to_series()["transfer_coefficient"] == t.transfer_coefficient
    with pytest.raises(TypeError, match="to_series"):
        t.to_frame()


def test_volatility_and_tracking_error_are_recomputed_from_the_weights():
    r = RESULTS["solve_benchmark"]
    w = np.asarray(r.weights)
    assert r.volatility == pytest.approx(np.sqrt(w @ S @ w), rel=1e-12)
    assert r.tracking_error == pytest.approx(np.sqrt((w - B) @ S @ (w - B)), rel=1e-9)
    plain = RESULTS["solve"]
    assert plain.tracking_error is None
    batch = ma.solve_mean_variance_batch(S, np.tile(MU, (3, 1)), risk_aversion=[10.0, 40.0, 160.0], benchmark=B)
    wb = np.asarray(batch.weights)
    np.testing.assert_allclose(batch.volatility, np.sqrt(np.einsum("ij,jk,ik->i", wb, S, wb)), rtol=1e-12)
    np.testing.assert_allclose(batch.tracking_error, np.sqrt(np.einsum("ij,jk,ik->i", wb - B, S, wb - B)), rtol=1e-9)
    assert RESULTS["batch"].tracking_error is None


def test_volatility_under_a_factor_model_with_a_benchmark():
    x = rng.normal(size=(N, 2)) * 0.2
    model = ma.FactorCovariance(x, np.eye(2) * 0.04, np.full(N, 0.01))
    dense = x @ (np.eye(2) * 0.04) @ x.T + np.diag(np.full(N, 0.01))
    r = ma.solve_mean_variance(model, MU, risk_aversion=20.0, benchmark=B)
    w = np.asarray(r.weights)
    assert r.volatility == pytest.approx(np.sqrt(w @ dense @ w), rel=1e-12)
    batch = ma.solve_mean_variance_batch(model, np.tile(MU, (2, 1)), risk_aversion=20.0, benchmark=B)
    np.testing.assert_allclose(batch.volatility, [r.volatility, r.volatility], rtol=1e-12)


def test_frontier_weights_are_labelled():
    fr = ma.efficient_frontier(SL, MUL)
    assert isinstance(fr.weights, pd.DataFrame) and list(fr.weights.columns) == LABELS
    np.testing.assert_array_equal(fr.weights.to_numpy(), ma.efficient_frontier(S, MU).weights)
    assert isinstance(ma.efficient_frontier(S, MU).weights, np.ndarray)


def test_failed_statuses_raise_and_say_why():
    r = ma.solve_mean_variance(S, MU, risk_aversion=4.0, method="projected_gradient", max_iter=1)
    assert r.status == "MAX_ITER" and not r.is_optimal
    with pytest.raises(ma.SolverError, match="MAX_ITER.*iteration limit"):
        r.raise_for_status()
    batch = ma.solve_mean_variance_batch(S, np.tile(MU, (2, 1)), lower=np.array([[0.0] * N, [0.2] * N]))
    assert list(batch.is_optimal) == [True, False]
    with pytest.raises(ma.SolverError, match="row 1"):
        batch.raise_for_status()


# -- one name per quantity, the old ones kept for a release ----------------------------------------
OLD_ATTRIBUTES = [
    ("solve", "risk", "volatility"),
    ("solve_benchmark", "risk", "tracking_error"),
    ("batch", "risk", "volatility"),
    ("min_risk", "risk", "volatility"),
    ("frontier", "risk_aversions", "risk_aversion"),
    ("frontier", "expected_returns", "expected_return"),
    ("frontier", "volatilities", "volatility"),
    ("frontier", "risks", "volatility"),
    ("active", "alpha", "active_return"),
    ("funds", "alpha", "active_return"),
    ("funds", "fund_tracking_errors", "fund_tracking_error"),
    ("funds", "fund_information_ratios", "fund_information_ratio"),
]


@pytest.mark.parametrize("name,old,new", OLD_ATTRIBUTES)
def test_old_attribute_names_warn_and_agree(name, old, new):
    r = RESULTS[name]
    with pytest.warns(DeprecationWarning, match=f"{old}.*{new.split()[0]}") as rec:
        value = getattr(r, old)
    assert rec[0].filename == __file__  # the warning points at the caller's line
    np.testing.assert_array_equal(np.asarray(value), np.asarray(getattr(r, new)))


def test_old_argument_names_and_order_warn_and_agree():
    new = ma.combine_funds(S, MU - MU.mean() + 0.01)
    for call in (lambda: ma.combine_funds(MU - MU.mean() + 0.01, S),
                 lambda: ma.combine_funds(alphas=MU - MU.mean() + 0.01, active_cov=S),
                 lambda: ma.combine_funds(MU - MU.mean() + 0.01, active_cov=S)):
        with pytest.warns(DeprecationWarning, match="combine_funds"):
            old = call()
        np.testing.assert_array_equal(old.weights, new.weights)
    te = np.sqrt(np.diag(S))
    corr = S / np.outer(te, te)
    with pytest.warns(DeprecationWarning):
        old = ma.combine_funds(MU - MU.mean() + 0.01, tracking_errors=te, correlations=corr)
    np.testing.assert_allclose(old.weights, ma.combine_funds(mu=MU - MU.mean() + 0.01, tracking_errors=te,
                                                             correlations=corr).weights)
    with pytest.warns(DeprecationWarning, match="expected_returns"):
        old_rc = ma.risk_contributions(S, B, benchmark=np.zeros(N), expected_returns=MU)
    assert old_rc.active_return == ma.risk_contributions(S, B, benchmark=np.zeros(N), mu=MU).active_return
    with pytest.warns(DeprecationWarning, match="alpha"):
        old_ap = ma.active_portfolio(S, benchmark=B, alpha=MU, max_tracking_error=0.02)
    np.testing.assert_array_equal(old_ap.weights, RESULTS["active"].weights)
    with pytest.raises(TypeError, match="both"):
        ma.risk_contributions(S, B, benchmark=B, mu=MU, expected_returns=MU)


FORBIDDEN = {"alpha", "alphas", "expected_returns", "active_cov", "returns_mean"}
DEPRECATED_KEYWORDS = {("combine_funds", "alphas"), ("combine_funds", "active_cov")}


def test_public_functions_name_expected_returns_mu_and_take_cov_first():
    for name in ma.__all__:
        fn = getattr(ma, name)
        if not inspect.isfunction(fn):
            continue
        params = list(inspect.signature(fn).parameters)
        for p in params:
            assert p not in FORBIDDEN or (name, p) in DEPRECATED_KEYWORDS, (name, p)
        if "mu" in params and "cov" in params:
            assert params.index("cov") < params.index("mu"), name


def test_result_fields_use_one_name_per_quantity():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for r in RESULTS.values():
            fields = set(getattr(r, "__dataclass_fields__", {}))
            assert not fields & {"risk", "volatilities", "expected_returns", "tracking_errors", "alpha",
                                 "risk_aversions"}, type(r).__name__
