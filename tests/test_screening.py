"""Screening (python/microalloc/_screening.py): a solve with rows or trading first solved on a
working universe, then on all assets from there. The answer must be the whole problem's whatever
the universe: here screening is forced on small problems with universes too small on purpose
(0 to 3 candidates besides the holdings), and every answer is checked against clarabel on the
whole problem (objective) and by the KKT conditions recomputed from the weights and multipliers.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_trading_costs import (assert_zigzag_answer, clarabel_costs, kkt_violation, model, objective, sector_rows,
                                zigzag_case)

import microalloc as ma
from microalloc import _screening


@pytest.fixture
def forced(monkeypatch):
    """forced(k): screening from 10 assets on, with k candidates besides the holdings."""
    def force(k: int) -> None:
        monkeypatch.setattr(_screening, "SCREEN_MIN_N", 10)
        monkeypatch.setattr(_screening, "SCREEN_K", k)
    return force


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(24, 120), k=st.sampled_from([0, 3, 30]),
       limit=st.sampled_from([None, 0.05, 0.3]), factor=st.booleans(), sectors=st.booleans(),
       holdings=st.integers(1, 8))
def test_screened_rebalance_is_the_whole_problems_answer(forced, seed, n, k, limit, factor, sectors, holdings):
    forced(k)
    x, f, d, mu, rng = model(seed, n)
    s = x @ f @ x.T + np.diag(d)
    cap = 0.25
    w0 = np.zeros(n)
    held = rng.choice(n, holdings, replace=False)
    w0[held] = rng.dirichlet(np.ones(holdings))
    buy = rng.uniform(0, 2e-3, n)
    sell = 1.5 * buy
    groups = rng.integers(0, 3, n) if sectors else None
    group_upper = {int(g): 0.5 for g in set(groups)} if sectors else None
    c = ma.Constraints(0.0, cap, current_weights=w0, costs=(buy, sell), turnover=limit, groups=groups,
                       group_upper=group_upper)
    cov = ma.FactorCovariance(x, f, d) if factor else s
    try:
        res = ma.solve_mean_variance(cov, mu, risk_aversion=4.0, constraints=c, raise_on_failure=False)
    except ma.InfeasibleError:
        return
    a, rup, lam = sector_rows(res, groups, 0.5) if sectors else (None, None, None)
    lo, up = np.zeros(n), np.full(n, cap)
    ref = clarabel_costs(s, mu, 4.0, lo, up, 1.0, w0, buy, sell, np.inf if limit is None else limit, a, rup)
    if ref is None:
        assert res.status != ma.Status.OPTIMAL
        return
    assert res.status == ma.Status.OPTIMAL, (res, res.info)
    if k == 30 and 3 * holdings + k < n // 2 and (sectors or limit is not None):
        assert "screened_universe" in res.info  # the universe (room for the budget) was solved first
    w = np.asarray(res.weights)
    f_ours, f_ref = objective(s, mu, 4.0, w, w0, buy, sell), objective(s, mu, 4.0, ref, w0, buy, sell)
    scale = 0.5 * 4.0 * w @ s @ w + abs(mu @ w)
    assert f_ours <= f_ref + 1e-7 * scale
    assert abs(w.sum() - 1.0) <= 1e-10 and (w >= -1e-12).all() and (w <= cap + 1e-12).all()
    if limit is not None:
        assert np.abs(w - w0).sum() <= limit * (1 + 1e-9) + 1e-12
    assert kkt_violation(s, mu, 4.0, lo, up, w0, buy, sell, res, a, lam) <= 1e-6


def test_screened_answer_at_300_assets_against_clarabel(forced):
    """A universe of 20 candidates and the 10 holdings for 300 assets: the answer is clarabel's."""
    x, f, d, mu, groups, w0, c = zigzag_case()
    forced(20)
    res = ma.solve_mean_variance(ma.FactorCovariance(x, f, d), mu, risk_aversion=3.0, constraints=c)
    assert res.is_optimal and "screened_universe" in res.info
    assert_zigzag_answer(res, x, f, d, mu, groups, w0)
