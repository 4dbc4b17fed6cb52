"""The fundamental law and the transfer coefficient, against closed forms: TC = 1 for the
unconstrained optimum S^-1 alpha, TC = the cosine of the two vectors under an identity covariance,
IR* = sqrt(alpha' S^-1 alpha) by an eigendecomposition, the factor model's Woodbury inverse against
the formed matrix, and a long-only constrained portfolio's TC below 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import microalloc as ma
from microalloc.skill import fundamental_law, transfer_coefficient

RNG = np.random.default_rng(11)
N = 8
S = np.cov(RNG.normal(size=(60, N)).T) * 0.04
ALPHA = RNG.normal(0, 0.02, N)


def test_the_fundamental_law():
    assert fundamental_law(0.05, 400) == pytest.approx(1.0)
    assert fundamental_law(0.05, 400, 0.6) == pytest.approx(0.6)
    for kw, name in ((dict(ic=1.5, breadth=4), "ic"), (dict(ic=0.1, breadth=-1), "breadth"),
                     (dict(ic=0.1, breadth=4, transfer_coefficient=2), "transfer_coefficient")):
        with pytest.raises(ma.InputError) as e:
            fundamental_law(**kw)
        assert e.value.argument == name


def test_the_unconstrained_optimum_transfers_everything():
    vals, vecs = np.linalg.eigh(S)
    s_inv_alpha = vecs @ ((vecs.T @ ALPHA) / vals)
    t = transfer_coefficient(S, ALPHA, 3.7 * s_inv_alpha)
    assert t.transfer_coefficient == pytest.approx(1.0, abs=1e-12)
    assert t.best_information_ratio == pytest.approx(np.sqrt(ALPHA @ s_inv_alpha), rel=1e-12)
    assert transfer_coefficient(S, ALPHA, -s_inv_alpha).transfer_coefficient == pytest.approx(-1.0, abs=1e-12)


def test_identity_covariance_gives_the_cosine():
    a = RNG.normal(size=N)
    t = transfer_coefficient(np.eye(N), ALPHA, a)
    assert t.transfer_coefficient == pytest.approx(ALPHA @ a / np.linalg.norm(ALPHA) / np.linalg.norm(a), rel=1e-12)


def test_a_factor_model_equals_its_formed_matrix_and_labels_align():
    x, f, d = RNG.normal(0, 0.2, (N, 2)), np.array([[0.04, 0.01], [0.01, 0.02]]), RNG.uniform(0.01, 0.05, N)
    model = ma.FactorCovariance(x, f, d)
    a = RNG.normal(0, 0.01, N)
    got, want = transfer_coefficient(model, ALPHA, a), transfer_coefficient(x @ f @ x.T + np.diag(d), ALPHA, a)
    assert got.transfer_coefficient == pytest.approx(want.transfer_coefficient, rel=1e-10)
    names = [f"s{i}" for i in range(N)]
    shuffled = pd.Series(a, names)[::-1]
    lab = transfer_coefficient(pd.DataFrame(S, names, names), pd.Series(ALPHA, names), shuffled)
    assert lab.transfer_coefficient == pytest.approx(transfer_coefficient(S, ALPHA, a).transfer_coefficient, rel=1e-12)


def test_long_only_constraints_let_less_through():
    bench = np.full(N, 1 / N)
    res = ma.solve_mean_variance(S, ALPHA, risk_aversion=50.0, benchmark=bench)  # long-only, budget 1
    t = transfer_coefficient(S, ALPHA, res.weights - bench)
    assert 0 < t.transfer_coefficient < 1 - 1e-6
    assert t.information_ratio == pytest.approx(t.transfer_coefficient * t.best_information_ratio, rel=1e-12)


def test_singular_covariance_and_empty_bets_are_refused():
    with pytest.raises(ma.InputError) as e:
        transfer_coefficient(np.ones((N, N)), ALPHA, ALPHA)
    assert e.value.argument == "cov"
    with pytest.raises(ma.InputError) as e:
        transfer_coefficient(S, ALPHA, np.zeros(N))
    assert e.value.argument == "active_weights"
