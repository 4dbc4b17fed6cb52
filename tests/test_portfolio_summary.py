"""microalloc.estimation.portfolio_summary: each figure against its formula written out here with
numpy and pandas (a running peak for the drawdown, Series.std for the volatility), the benchmark's
three forms, the ambiguous and bad inputs, and properties (Sharpe unchanged by scaling the returns,
a drawdown in [0, 1))."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microalloc.errors import InputError, ShapeError
from microalloc.estimation import PortfolioSummary, mean_return, portfolio_summary, sample_covariance

RNG = np.random.default_rng(11)
DATES = pd.date_range("2010-01-31", periods=60, freq="ME")
R = pd.DataFrame(RNG.normal(0.006, 0.04, (60, 4)), index=DATES, columns=["A", "B", "C", "D"])
W = np.array([0.4, 0.3, 0.2, 0.1])
B = np.full(4, 0.25)


def drawdown_loop(r: np.ndarray) -> float:
    """The largest fall from a peak, walked period by period (value 1 before the first)."""
    value, peak, worst = 1.0, 1.0, 0.0
    for x in r:
        value *= 1.0 + x
        peak = max(peak, value)
        worst = max(worst, 1.0 - value / peak)
    return worst


def test_each_figure_is_its_formula():
    s = portfolio_summary(R, W, benchmark=B, risk_free=0.02)
    rp, rb = R @ W, R @ B
    assert s.periods_per_year == 12 and "monthly" in s.periods_per_year_source and s.periods == 60
    assert s.annual_return == pytest.approx(12 * rp.mean(), rel=1e-12)
    assert s.volatility == pytest.approx(np.sqrt(12) * rp.std(), rel=1e-12)  # pandas: ddof=1
    assert s.sharpe == pytest.approx((12 * rp.mean() - 0.02) / (np.sqrt(12) * rp.std()), rel=1e-12)
    assert s.tracking_error == pytest.approx(np.sqrt(12) * (rp - rb).std(), rel=1e-12)
    assert s.information_ratio == pytest.approx(12 * (rp - rb).mean() / (np.sqrt(12) * (rp - rb).std()), rel=1e-12)
    assert s.active_share == pytest.approx(0.5 * np.abs(W - B).sum(), rel=1e-12)
    assert s.max_drawdown == pytest.approx(drawdown_loop(rp.to_numpy()), rel=1e-12)


def test_it_agrees_with_the_estimators_of_the_optimiser():
    """The ex-post figures are the ex-ante ones of the same estimates: mu'w and sqrt(w'Sw)."""
    s = portfolio_summary(R, W)
    assert s.annual_return == pytest.approx(float(mean_return(R) @ W), rel=1e-12)
    assert s.volatility == pytest.approx(float(np.sqrt(W @ sample_covariance(R).to_numpy() @ W)), rel=1e-12)
    assert s.tracking_error is None and s.information_ratio is None and s.active_share is None


def test_the_benchmark_as_returns_a_column_or_labelled_weights():
    bench = pd.Series(RNG.normal(0.005, 0.03, 60), index=DATES)
    s = portfolio_summary(R, W, benchmark=bench.iloc[::-1])  # aligned by date
    assert s.tracking_error == pytest.approx(np.sqrt(12) * (R @ W - bench).std(), rel=1e-12)
    assert s.active_share is None
    with_col = R.assign(IDX=bench)
    col = portfolio_summary(with_col, pd.Series(W, index=R.columns), benchmark="IDX")
    assert col.tracking_error == pytest.approx(s.tracking_error, rel=1e-12)
    labelled = portfolio_summary(R, W, benchmark=pd.Series(B, index=R.columns)[::-1])
    assert labelled.active_share == pytest.approx(0.5 * np.abs(W - B).sum(), rel=1e-12)


def test_arrays_need_the_periods_a_year_and_an_unambiguous_benchmark():
    r = R.to_numpy()
    with pytest.raises(InputError, match="periods_per_year"):
        portfolio_summary(r, W)
    s = portfolio_summary(r, W, periods_per_year=12, benchmark=B)
    assert s.periods_per_year_source == "given" and s.active_share == pytest.approx(0.2)
    square = r[:4]
    with pytest.raises(InputError, match="weights or returns"):
        portfolio_summary(square, W, periods_per_year=12, benchmark=B)
    with pytest.raises(ShapeError, match="benchmark"):
        portfolio_summary(r, W, periods_per_year=12, benchmark=np.ones(7))
    with pytest.raises(InputError, match="not a column"):
        portfolio_summary(R, W, benchmark="ZZZ")
    with pytest.raises(InputError, match="weights"):
        portfolio_summary(R, pd.Series(W, index=["A", "B", "C", "X"]))


def test_the_summary_survives_a_pickle_round_trip():
    s = portfolio_summary(R, W, benchmark=B)
    back = pickle.loads(pickle.dumps(s))
    assert isinstance(back, PortfolioSummary) and back.to_dict() == s.to_dict()


returns_panels = st.integers(min_value=0, max_value=2**32 - 1).map(
    lambda seed: np.random.default_rng(seed).normal(0.001, 0.02, (30, 3)))


@settings(max_examples=40, deadline=None)
@given(returns_panels, st.floats(min_value=0.05, max_value=5.0))
def test_sharpe_is_unchanged_by_scaling_the_returns(r, c):
    # (c at most 5: scaled returns below -100% are refused, as no simple return can be)
    w = np.array([0.5, 0.3, 0.2])
    a = portfolio_summary(r, w, periods_per_year=252)
    b = portfolio_summary(c * r, w, periods_per_year=252)
    assert b.sharpe == pytest.approx(a.sharpe, rel=1e-9, abs=1e-12)
    assert b.volatility == pytest.approx(c * a.volatility, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(returns_panels, st.floats(min_value=0.0, max_value=1.0))
def test_the_drawdown_is_a_fraction_and_zero_for_a_rising_value(r, mix):
    w = np.array([mix, 1.0 - mix, 0.0])
    s = portfolio_summary(r, w, periods_per_year=252)
    assert 0.0 <= s.max_drawdown < 1.0
    rising = portfolio_summary(np.abs(r), w, periods_per_year=252)
    assert rising.max_drawdown == 0.0
