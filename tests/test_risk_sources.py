"""Risk by source with a factor model: every field recomputed here from the formed matrix, and the
identities that make it a decomposition (the parts sum to the whole)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma

pytestmark = pytest.mark.skipif(not hasattr(ma, "FactorCovariance"), reason="no FactorCovariance")


def model(seed: int, n: int, k: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (n, k))
    a = rng.normal(0.0, 0.1, (k, k))
    f = a @ a.T + 0.001 * np.eye(k)
    d = rng.uniform(0.01, 0.05, n)
    return rng, x, f, d


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30), k=st.integers(1, 5), m=st.integers(1, 4),
       with_benchmark=st.booleans())
def test_sources_recomputed(seed, n, k, m, with_benchmark):
    rng, x, f, d = model(seed, n, k)
    s = x @ f @ x.T + np.diag(d)
    w = rng.normal(0.0, 1.0, (m, n))
    b = rng.uniform(0.0, 1.0, n) if with_benchmark else None
    r = ma.risk_contributions(ma.FactorCovariance(x, f, d), w, benchmark=b)
    cases = [("", w, r.volatility, r.component)]
    if with_benchmark:
        cases.append(("active_", w - b, r.tracking_error, r.active_component))
    for prefix, rows, risk, component in cases:
        get = lambda name: np.asarray(getattr(r, prefix + name))  # noqa: E731
        sigma = np.sqrt(np.einsum("ij,jk,ik->i", rows, s, rows))
        np.testing.assert_allclose(risk, sigma, rtol=1e-10, atol=1e-14)
        y = rows @ x
        np.testing.assert_allclose(get("factor_exposures"), y, rtol=1e-10, atol=1e-12)
        systematic = np.einsum("ij,jk,ik->i", y, f, y)
        specific = (rows * rows) @ d
        np.testing.assert_allclose(get("systematic_variance"), systematic, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(get("specific_variance"), specific, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(get("systematic_variance") + get("specific_variance"), sigma**2, rtol=1e-9)
        inv = np.where(sigma > 0, 1 / np.where(sigma > 0, sigma, 1), 0.0)
        np.testing.assert_allclose(get("factor_contribution"), y * (y @ f) * inv[:, None], rtol=1e-9, atol=1e-14)
        # the factors and the specific risk add up to the risk
        total = get("factor_contribution").sum(axis=1) + get("specific_contribution")
        np.testing.assert_allclose(total, sigma, rtol=1e-9, atol=1e-14)
        # each asset's component splits into its factor and specific parts
        np.testing.assert_allclose(get("component_factor") + get("component_specific"), np.asarray(component),
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(get("component_specific"), rows * rows * d * inv[:, None], rtol=1e-10, atol=1e-14)


def test_sources_labelled_by_factors():
    rng, x, f, d = model(7, 6, 2)
    assets = [f"a{i}" for i in range(6)]
    factors = ["market", "value"]
    cov = ma.FactorCovariance(pd.DataFrame(x, index=assets, columns=factors),
                              pd.DataFrame(f, index=factors, columns=factors), pd.Series(d, index=assets))
    w = pd.Series(np.full(6, 1 / 6), index=assets[::-1])  # another order: aligned by label
    r = ma.risk_contributions(cov, w)
    assert list(r.factor_exposures.index) == factors
    np.testing.assert_allclose(r.factor_exposures.to_numpy(), x.T @ np.full(6, 1 / 6), rtol=1e-12)
    assert list(r.component_factor.index) == assets
    assert r.factor_contribution.sum() + r.specific_contribution == pytest.approx(r.volatility, rel=1e-12)


def test_no_sources_without_a_factor_model():
    _, x, f, d = model(3, 5, 2)
    r = ma.risk_contributions(x @ f @ x.T + np.diag(d), np.full(5, 0.2))
    assert r.factor_exposures is None and r.component_factor is None
