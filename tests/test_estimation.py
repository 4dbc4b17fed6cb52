"""Estimates from prices and returns, against independent computations: pandas' pct_change and
ewm().cov(), numpy's cov, the Ledoit-Wolf (2004) shrinkage written out here, and dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma
from microalloc import estimation as est

RNG = np.random.default_rng(5)
DATES = pd.bdate_range("2024-01-01", periods=120)
PRICES = pd.DataFrame(100 * np.exp(np.cumsum(RNG.normal(0, 0.01, (120, 4)), axis=0)), index=DATES,
                      columns=["A", "B", "C", "D"])


def test_returns_from_prices_simple_and_log():
    simple = est.returns_from_prices(PRICES)
    pd.testing.assert_frame_equal(simple, PRICES.pct_change().iloc[1:], rtol=1e-14)
    log = est.returns_from_prices(PRICES.to_numpy(), kind="log")
    # the difference of logs loses about 1e-16 * log(p) to cancellation
    np.testing.assert_allclose(log, np.diff(np.log(PRICES.to_numpy()), axis=0), rtol=0, atol=4e-15)


def test_sample_covariance_and_mean_annualised_from_the_dates():
    r = est.returns_from_prices(PRICES)
    s = est.sample_covariance(r)  # business days: 252 a year
    np.testing.assert_allclose(s.to_numpy(), 252 * np.cov(r.to_numpy().T), rtol=1e-12)
    assert list(s.index) == list(s.columns) == ["A", "B", "C", "D"]
    np.testing.assert_allclose(est.mean_return(r), 252 * r.mean(), rtol=1e-12)
    monthly = r.resample("ME").sum()
    np.testing.assert_allclose(est.sample_covariance(monthly).to_numpy(), 12 * np.cov(monthly.to_numpy().T),
                               rtol=1e-12)
    with pytest.raises(ma.InputError) as e:
        est.sample_covariance(r.to_numpy())  # no dates, no periods_per_year
    assert e.value.argument == "periods_per_year"
    np.testing.assert_allclose(est.sample_covariance(r.to_numpy(), periods_per_year=52), 52 * np.cov(r.to_numpy().T),
                               rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5, 200.0), st.integers(2, 60), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_ewma_covariance_equals_pandas(halflife, t, n, seed):
    r = pd.DataFrame(np.random.default_rng(seed).normal(0, 0.01, (t, n)))
    got = est.ewma_covariance(r, halflife=halflife, periods_per_year=1)
    want = r.ewm(halflife=halflife).cov().loc[t - 1].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-18)


def test_ledoit_wolf_equals_the_published_formula():
    """Ledoit and Wolf (2004): S the biased sample covariance, mu = tr(S)/n, d2 = ||S - mu I||^2,
    b2 = min(d2, mean over t of ||x_t x_t' - S||^2 / T), shrinkage b2/d2 towards mu I (||.||^2 the
    squared Frobenius norm over n)."""
    x = RNG.normal(size=(40, 6)) @ RNG.normal(size=(6, 6)) * 0.01
    c = x - x.mean(axis=0)
    t, n = c.shape
    s = c.T @ c / t
    mu = np.trace(s) / n
    d2 = np.sum((s - mu * np.eye(n)) ** 2) / n
    b2 = min(d2, sum(np.sum((np.outer(v, v) - s) ** 2) / n for v in c) / t**2)
    want = (b2 / d2) * mu * np.eye(n) + (1 - b2 / d2) * s
    np.testing.assert_allclose(est.ledoit_wolf_covariance(x, periods_per_year=1), want, rtol=1e-10)


def test_estimates_feed_the_solvers():
    r = est.returns_from_prices(PRICES)
    res = ma.solve_mean_variance(est.ledoit_wolf_covariance(r), est.mean_return(r), risk_aversion=5.0)
    assert res.status == "OPTIMAL" and list(res.weights.index) == ["A", "B", "C", "D"]


@pytest.mark.parametrize("call, name", [
    (lambda: est.returns_from_prices(PRICES.assign(B=-1.0)), "prices"),
    (lambda: est.returns_from_prices(PRICES.iloc[:1]), "prices"),
    (lambda: est.returns_from_prices(PRICES, kind="pct"), "kind"),
    (lambda: est.sample_covariance(PRICES.pct_change()), "returns"),  # the first row is NaN
    (lambda: est.ewma_covariance(PRICES.pct_change().iloc[1:], halflife=0), "halflife"),
    (lambda: est.sample_covariance(np.ones(5), periods_per_year=12), "returns"),
])
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises(ma.InputError) as e:
        call()
    assert e.value.argument == name


def test_factor_covariance_is_the_annualised_principal_components():
    """Against an eigendecomposition of the sample covariance written out here: loadings the
    leading eigenvectors (up to sign), F their eigenvalues, d the residual diagonal, all x 252."""
    from microalloc.estimation import factor_covariance

    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2022-01-03", periods=300)
    z = rng.normal(0, 0.01, (300, 2))
    r = pd.DataFrame(z @ rng.normal(1, 0.5, (2, 6)) + rng.normal(0, 0.004, (300, 6)), index=dates,
                     columns=[f"S{i}" for i in range(6)])
    model = factor_covariance(r, 2)
    s = np.cov(r.to_numpy().T)
    vals, vecs = np.linalg.eigh(s)
    x, f = vecs[:, ::-1][:, :2], vals[::-1][:2]
    np.testing.assert_allclose(np.abs(model.loadings), np.abs(x), atol=1e-10)
    np.testing.assert_allclose(np.diag(model.factor_cov), 252 * f, rtol=1e-10)
    resid = np.diag(s - x @ np.diag(f) @ x.T)
    np.testing.assert_allclose(model.specific_var, 252 * np.maximum(resid, 1e-3 * np.diag(s)), rtol=1e-8)
    assert list(model.labels) == list(r.columns) and list(model.factors) == ["PC1", "PC2"]
