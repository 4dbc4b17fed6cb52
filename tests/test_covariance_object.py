"""microalloc.Covariance: validated once, then solves skip every O(n^2) check on it."""

import pickle

import numpy as np
import pytest

import microalloc as ma
from microalloc import _core, covariance

from test_validation import NOT_PSD, MU, S, with_entry


def test_solves_equal_those_on_the_plain_matrix():
    rng = np.random.default_rng(3)
    b = rng.normal(size=(40, 3)) * 0.15
    s = b @ b.T + np.diag(rng.uniform(0.02, 0.1, 40))
    mu = rng.normal(0.06, 0.04, 40)
    c = ma.Covariance(s)
    for method in ma.METHODS:
        a = ma.solve_mean_variance(s, mu, risk_aversion=4.0, upper=0.1, method=method)
        o = ma.solve_mean_variance(c, mu, risk_aversion=4.0, upper=0.1, method=method)
        assert o.is_optimal and np.array_equal(a.weights, o.weights) and a.objective == o.objective
    batch = ma.solve_mean_variance_batch(c, np.vstack([mu, mu[::-1]]), risk_aversion=4.0, upper=0.1)
    assert np.array_equal(batch.weights[0], ma.solve_mean_variance(s, mu, risk_aversion=4.0, upper=0.1).weights)


def test_it_owns_a_read_only_copy():
    s = S.copy()
    c = ma.Covariance(s)
    before = ma.solve_mean_variance(c, MU).weights
    s[0, 0] = 10.0  # the caller's array changes; the object does not
    assert c.matrix[0, 0] == S[0, 0]
    assert np.array_equal(ma.solve_mean_variance(c, MU).weights, before)
    with pytest.raises(ValueError):
        c.matrix[0, 0] = 1.0
    with pytest.raises(ValueError):
        c.matrix.flags.writeable = True
    assert np.array_equal(np.asarray(c), S) and c.n == 3
    np.testing.assert_allclose(c.volatilities, np.sqrt(np.diag(S)))


def test_solves_with_it_do_not_fingerprint_or_rescan(monkeypatch):
    c = ma.Covariance(S)
    calls = []
    for module, name in ((covariance, "covariance_key"), (_core, "inspect_covariance"),
                         (_core, "check_positive_semidefinite")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _r=real, _n=name: calls.append(_n) or _r(*a))
    assert ma.solve_mean_variance(c, MU).is_optimal
    assert calls == []
    ma.solve_mean_variance(S, MU)
    assert "covariance_key" in calls  # a plain array is hashed on every call


@pytest.mark.parametrize(
    "bad, exc",
    [
        (with_entry(S, 0, 1, np.nan), ma.NonFiniteError),
        (with_entry(S, 0, 1, 0.007, symmetric=False), ma.NotSymmetricError),
        (with_entry(S, 2, 2, -0.01), ma.InputError),
        (NOT_PSD, ma.NotPSDError),
        (S[:2], ma.ShapeError),
    ],
)
def test_bad_matrices_are_refused_at_construction(bad, exc):
    with pytest.raises(exc) as info:
        ma.Covariance(bad)
    assert info.value.argument == "cov"


def test_psd_test_deferred_until_a_solve_asks_for_it():
    c = ma.Covariance(NOT_PSD, check_psd=False)
    assert not c.psd_checked
    assert ma.solve_mean_variance(c, MU, check_psd=False).status in (ma.Status.OPTIMAL, ma.Status.NOT_CONVEX)
    with pytest.raises(ma.NotPSDError):
        ma.solve_mean_variance(c, MU)
    good = ma.Covariance(S, check_psd=False)
    assert ma.solve_mean_variance(good, MU).is_optimal
    assert good.psd_checked


def test_pickles_and_revalidates():
    c = ma.Covariance(S)
    back = pickle.loads(pickle.dumps(c))
    assert np.array_equal(back.matrix, c.matrix) and not back.matrix.flags.writeable
    assert back.psd_checked and "psd_checked=True" in repr(back)


def test_labels_come_from_a_dataframe():
    pd = pytest.importorskip("pandas")
    c = ma.Covariance(pd.DataFrame(S, index=list("abc"), columns=list("abc")))
    res = ma.solve_mean_variance(c, pd.Series(MU, index=list("abc")))
    assert list(res.weights.index) == list("abc")
    with pytest.raises(ma.InputError, match="^mu: labels"):
        ma.solve_mean_variance(c, pd.Series(MU, index=list("abd")))
    assert list(pickle.loads(pickle.dumps(c)).labels) == list("abc")


def test_a_failed_psd_verdict_is_remembered_too(monkeypatch):
    calls = []
    real = _core.check_positive_semidefinite
    monkeypatch.setattr(_core, "check_positive_semidefinite", lambda *a: calls.append(1) or real(*a))
    ma.clear_covariance_cache()
    c = ma.Covariance(NOT_PSD, check_psd=False)
    for _ in range(3):
        with pytest.raises(ma.NotPSDError):
            ma.solve_mean_variance(NOT_PSD.copy(), MU)
        with pytest.raises(ma.NotPSDError):
            ma.solve_mean_variance(c, MU)
    assert len(calls) == 2  # once for the plain matrix (by fingerprint), once for the object
    assert not c.psd_checked


def test_array_protocol():
    c = ma.Covariance(S)
    assert np.asarray(c) is c.matrix
    assert np.asarray(c, dtype=np.float32).dtype == np.float32
    copied = np.array(c, copy=True)
    copied[0, 0] = 1.0
    assert c.matrix[0, 0] == S[0, 0]


def test_unpickling_keeps_the_psd_verdict_without_the_test(monkeypatch):
    """A Covariance shipped to a worker must not re-run the O(n^3) test: the verdict travels with a
    digest of the matrix. A pickle whose matrix was edited on the way is refused, even when the edit
    leaves it PSD (a changed number would otherwise be trusted as the caller's)."""
    from microalloc import covariance

    vol = np.array([0.2, 0.3, 0.25])
    corr = np.array([[1.0, -0.6, -0.6], [-0.6, 1.0, 0.3], [-0.6, 0.3, 1.0]])  # positive definite
    s = corr * np.outer(vol, vol)
    c = ma.Covariance(s)
    calls = []
    real = covariance._core.check_positive_semidefinite
    monkeypatch.setattr(covariance._core, "check_positive_semidefinite", lambda *a: calls.append(1) or real(*a))
    back = pickle.loads(pickle.dumps(c))
    assert calls == [] and back.psd_checked and np.array_equal(back.matrix, s)
    blob = pickle.dumps(c, protocol=pickle.HIGHEST_PROTOCOL)
    old = np.float64(s[1, 2]).tobytes()
    assert blob.count(old) == 2  # s[1, 2] and s[2, 1]
    for new in (0.5 * s[1, 2], -0.6 * 0.3 * 0.25):  # still PSD; indefinite
        with pytest.raises(ma.CorruptPayloadError, match="Covariance"):
            pickle.loads(blob.replace(old, np.float64(new).tobytes()))
    assert calls == []
