"""microalloc.FactorCovariance: S = X F X' + diag(d), validated once and never formed, and its
estimators. Every expected value is computed here from the formed matrix, numpy's own
eigendecomposition or least squares, or the sampling theory of the planted model."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma
from microalloc import _core, covariance

X3 = np.array([[1.0, 0.2], [0.8, -0.5], [1.2, 0.1], [0.9, 0.7]])
F3 = np.array([[0.04, 0.005], [0.005, 0.01]])
D3 = np.array([0.02, 0.03, 0.025, 0.04])
ASSETS = ["XOM", "CVX", "AAPL", "MSFT"]
FACTORS = ["mkt", "value"]


def dense(x, f, d):
    return x @ f @ x.T + np.diag(d)


def labelled():
    return (pd.DataFrame(X3, index=ASSETS, columns=FACTORS), pd.DataFrame(F3, index=FACTORS, columns=FACTORS),
            pd.Series(D3, index=ASSETS))


# -- the model ------------------------------------------------------------------------------------
def test_dense_form_products_and_properties():
    m = ma.FactorCovariance(X3, F3, D3)
    s = dense(X3, F3, D3)
    assert (m.n, m.k, m.labels, m.factors) == (4, 2, None, None)
    np.testing.assert_allclose(m.to_dense(), s, rtol=1e-14, atol=0)
    assert np.array_equal(m.to_dense(), m.to_dense().T)  # exactly symmetric
    np.testing.assert_allclose(m.diagonal(), np.diag(s), rtol=1e-14)
    np.testing.assert_allclose(m.volatilities, np.sqrt(np.diag(s)), rtol=1e-14)
    w = np.array([0.1, -0.3, 0.5, 0.7])
    np.testing.assert_allclose(m @ w, s @ w, rtol=1e-13)
    np.testing.assert_allclose(m.apply(w), s @ w, rtol=1e-13)
    block = np.random.default_rng(1).normal(size=(5, 4))
    np.testing.assert_allclose(m @ block, block @ s, rtol=1e-12)
    np.testing.assert_allclose(block @ m, block @ s, rtol=1e-12)  # numpy defers to the model
    np.testing.assert_allclose(w @ m, s @ w, rtol=1e-13)
    # the dense path accepts what the model forms (an independent validation)
    assert ma.Covariance(m.to_dense()).psd_checked
    assert repr(m) == "FactorCovariance(n=4, k=2, labelled=False)"


def test_it_owns_read_only_copies():
    x, f, d = X3.copy(), F3.copy(), D3.copy()
    m = ma.FactorCovariance(x, f, d)
    x[0, 0], f[0, 0], d[0] = 9.0, 9.0, 9.0  # the caller's arrays change; the model does not
    np.testing.assert_allclose(m.to_dense(), dense(X3, F3, D3), rtol=1e-14)
    for a in (m.loadings, m.factor_cov, m.specific_var, m.diagonal()):
        assert a.dtype == np.float64 and a.flags.c_contiguous
        with pytest.raises(ValueError):
            a[0] = 1.0
        with pytest.raises(ValueError):
            a.flags.writeable = True
    with pytest.raises(AttributeError):
        m.other = 1  # __slots__


def test_labels_are_kept_and_inputs_aligned_by_label():
    x, f, d = labelled()
    m = ma.FactorCovariance(x, f, d)
    assert m.labels == tuple(ASSETS) and m.factors == tuple(FACTORS)
    # the factor covariance and the specific variances in another order are aligned to the loadings
    shuffled = ma.FactorCovariance(x, f.loc[FACTORS[::-1], FACTORS[::-1]], d.iloc[[2, 0, 3, 1]])
    assert np.array_equal(shuffled.to_dense(), m.to_dense())
    # rows of the factor covariance follow its own columns first
    m2 = ma.FactorCovariance(x, f.loc[FACTORS[::-1], FACTORS], d)
    assert np.array_equal(m2.factor_cov, m.factor_cov)
    # a labelled portfolio is aligned to the assets
    w = pd.Series([0.1, -0.3, 0.5, 0.7], index=ASSETS)
    np.testing.assert_allclose(m @ w.iloc[::-1], dense(X3, F3, D3) @ w.to_numpy(), rtol=1e-13)
    assert m._label_index().equals(pd.Index(ASSETS))
    # unlabelled loadings: a Series labels the assets, a labelled factor covariance names the factors
    m3 = ma.FactorCovariance(X3, f, d)
    assert m3.labels == tuple(ASSETS) and m3.factors == tuple(FACTORS)


@pytest.mark.parametrize(
    "make, argument, words",
    [
        (lambda x, f, d: (x, f.rename(columns={"value": "size"}, index={"value": "size"}), d), "factor_cov", "'size'"),
        (lambda x, f, d: (x, f, d.rename({"XOM": "BP"})), "specific_var", "'BP'"),
        (lambda x, f, d: (x, f, pd.concat([d, pd.Series([0.1], index=["BP"])])), "specific_var", "'BP'"),
        (lambda x, f, d: (x.rename(index={"CVX": "XOM"}), f, d), "loadings", "repeat"),
        (lambda x, f, d: (x.rename(columns={"value": "mkt"}), f, d), "loadings", "repeat"),
        (lambda x, f, d: (x, f.rename(index={"value": "size"}), d), "factor_cov", "'size'"),
    ],
)
def test_foreign_or_repeated_labels_are_refused(make, argument, words):
    with pytest.raises(ma.InputError) as e:
        ma.FactorCovariance(*make(*labelled()))
    assert e.value.argument == argument and words in str(e.value)


CORRUPTIONS = [
    # (argument, change of (x, f, d), exception, words in the message)
    ("loadings", lambda x, f, d: (x[0], f, d), ma.ShapeError, "(n, k)"),
    ("loadings", lambda x, f, d: (x[:0], f, d[:0]), ma.ShapeError, "at least one asset"),
    ("loadings", lambda x, f, d: (x[:, :0], f[:0, :0], d), ma.ShapeError, "at least one asset and one factor"),
    ("loadings", lambda x, f, d: (x.astype(str), f, d), ma.InputError, "dtype"),
    ("factor_cov", lambda x, f, d: (x, f[:1], d), ma.ShapeError, "(2, 2)"),
    ("specific_var", lambda x, f, d: (x, f, d[:3]), ma.ShapeError, "(4,)"),
    ("specific_var", lambda x, f, d: (x, f, np.diag(d)), ma.ShapeError, "(4,)"),
    ("factor_cov", lambda x, f, d: (x, f + np.array([[0, 1e-6], [0, 0]]), d), ma.NotSymmetricError, "not symmetric"),
    ("factor_cov", lambda x, f, d: (x, np.array([[0.04, 0.03], [0.03, 0.01]]), d), ma.NotPSDError,
     "smallest eigenvalue"),
    ("factor_cov", lambda x, f, d: (x, np.array([[0.04, 0.0], [0.0, -0.01]]), d), ma.NotPSDError, "negative"),
    ("specific_var", lambda x, f, d: (x, f, d * np.array([1, -1, 1, 1])), ma.InputError, "negative"),
    # d_i = 0 where the factors give asset i no variance
    ("specific_var", lambda x, f, d: (x * np.array([[1], [0], [1], [1]]), f, d * np.array([1, 0, 1, 1])),
     ma.InputError, "positive variance"),
    # scales: products that overflow or underflow
    ("loadings", lambda x, f, d: (x * 1e160, f, d), ma.InputError, "overflow"),
    ("factor_cov", lambda x, f, d: (x, f * 3e300, d), ma.InputError, "overflow"),
    ("specific_var", lambda x, f, d: (x, f, d * 3e301), ma.InputError, "overflow"),
    ("specific_var", lambda x, f, d: (x * 1e-160, f, d * 1e-292), ma.InputError, "underflow"),
]


@pytest.mark.parametrize("argument, change, exc, words", CORRUPTIONS)
def test_bad_arguments_raise_naming_them(argument, change, exc, words):
    with pytest.raises(exc) as e:
        ma.FactorCovariance(*change(X3, F3, D3))
    assert e.value.argument == argument and words in str(e.value)


def test_messages_name_the_entry_by_label():
    x, f, d = labelled()
    bad = x.copy()
    bad.loc["AAPL", "value"] = np.nan
    with pytest.raises(ma.NonFiniteError, match=r"loadings: entry \['AAPL', 'value'\] is nan") as e:
        ma.FactorCovariance(bad, f, d)
    neg = d.copy()
    neg["MSFT"] = -0.01
    with pytest.raises(ma.InputError, match=r"specific_var: entry 'MSFT' = -0.01 is negative"):
        ma.FactorCovariance(x, f, neg)
    asym = f.copy()
    asym.loc["mkt", "value"] = 0.006
    with pytest.raises(ma.NotSymmetricError, match=r"factor_cov\['mkt', 'value'\] = 0.006 but "
                       r"factor_cov\['value', 'mkt'\] = 0.005"):
        ma.FactorCovariance(x, asym, d)
    not_psd = pd.DataFrame([[0.04, 0.03], [0.03, 0.01]], index=FACTORS, columns=FACTORS)
    smallest = np.linalg.eigvalsh(not_psd.to_numpy())[0]
    with pytest.raises(ma.NotPSDError, match=f"smallest eigenvalue {smallest:.6g}"):
        ma.FactorCovariance(x, not_psd, d)


def test_a_zero_specific_variance_is_accepted_where_the_factors_give_risk():
    d = D3 * np.array([1, 0, 1, 1])
    m = ma.FactorCovariance(X3, F3, d)
    assert m.diagonal()[1] == pytest.approx(X3[1] @ F3 @ X3[1], rel=1e-14)
    # a factor of zero variance is allowed (F positive semidefinite)
    f0 = np.diag([0.04, 0.0])
    np.testing.assert_allclose(ma.FactorCovariance(X3, f0, D3).to_dense(), dense(X3, f0, D3), rtol=1e-14)


def test_symmetry_tolerance_is_relative_and_f_is_stored_symmetric():
    f = F3.copy()
    f[0, 1] += 1e-12 * np.sqrt(F3[0, 0] * F3[1, 1])  # within 1e-10 of the scale
    m = ma.FactorCovariance(X3, f, D3)
    assert np.array_equal(m.factor_cov, m.factor_cov.T)
    assert m.factor_cov[0, 1] == (f[0, 1] + f[1, 0]) / 2
    f[0, 1] = F3[0, 1] + 1e-9 * np.sqrt(F3[0, 0] * F3[1, 1])  # beyond it
    with pytest.raises(ma.NotSymmetricError):
        ma.FactorCovariance(X3, f, D3)


def test_to_dense_refuses_large_models_and_products_check_their_argument():
    m = ma.FactorCovariance(X3, F3, D3)
    with pytest.raises(ma.InputError, match="max_n = 3.*model @ w") as e:
        m.to_dense(max_n=3)
    assert e.value.argument == "max_n"
    big = ma.FactorCovariance(np.ones((ma.covariance.DENSE_MAX_N + 1, 1)), [[1.0]], np.ones(ma.covariance.DENSE_MAX_N + 1))
    with pytest.raises(ma.InputError) as e:
        big.to_dense()
    assert e.value.argument == "max_n"
    for w, exc in ((np.ones(3), ma.ShapeError), (np.ones((2, 2, 4)), ma.ShapeError),
                   (np.array([1.0, np.nan, 0, 0]), ma.NonFiniteError)):
        with pytest.raises(exc) as e:
            m @ w
        assert e.value.argument == "w"
    # S w beyond float64 (S_ii >= 20 here, so each entry of S w is above 20 * 1.5e308)
    with pytest.raises(ma.InputError) as e:
        ma.FactorCovariance(X3, F3, D3 * 1000) @ np.full(4, 1.5e308)
    assert e.value.argument == "w"
    # large weights whose product is finite are fine: S w as the formed matrix gives it
    w = np.full(4, 1.5e308)
    np.testing.assert_allclose(m @ w, (X3 @ F3 @ X3.T + np.diag(D3)) @ (w / 1e300) * 1e300, rtol=1e-12)


# -- hypothesis: any valid model, and any one corrupted entry -------------------------------------
@st.composite
def models(draw):
    n = draw(st.integers(1, 7))
    k = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = 10.0 ** draw(st.integers(-6, 6))
    x = rng.normal(size=(n, k)) * scale
    a = rng.normal(size=(k, draw(st.integers(1, k))))  # F = A A' may be singular
    d = rng.uniform(0.0, 1.0, n) * scale**2 * draw(st.sampled_from([0.01, 1.0]))
    d[d < 1e-3 * scale**2] = 1e-3 * scale**2
    return x, a @ a.T, d


@settings(max_examples=60, deadline=None)
@given(models(), st.data())
def test_any_valid_model_forms_and_multiplies_like_the_matrix(model, data):
    x, f, d = model
    m = ma.FactorCovariance(x, f, d)
    s = dense(x, f, d)
    top = np.abs(s).max()
    np.testing.assert_allclose(m.to_dense(), s, rtol=0, atol=1e-13 * top)
    assert ma.Covariance(m.to_dense()).psd_checked
    w = np.random.default_rng(data.draw(st.integers(0, 100))).normal(size=(3, m.n))
    np.testing.assert_allclose(m @ w, w @ s, rtol=0, atol=1e-12 * top * np.abs(w).sum(axis=1).max())


@settings(max_examples=60, deadline=None)
@given(models(), st.integers(0, 2), st.integers(0, 100), st.sampled_from([np.nan, np.inf, -np.inf]))
def test_one_non_finite_entry_names_its_argument(model, which, at, value):
    arrays = [a.copy() for a in model]
    target = arrays[which].reshape(-1)
    target[at % target.size] = value
    with pytest.raises(ma.NonFiniteError) as e:
        ma.FactorCovariance(*arrays)
    assert e.value.argument == ("loadings", "factor_cov", "specific_var")[which]


# -- pickling -------------------------------------------------------------------------------------
def counting_checks(monkeypatch):
    calls = []
    real = covariance._check_factor_model
    monkeypatch.setattr(covariance, "_check_factor_model", lambda *a: calls.append(1) or real(*a))
    return calls


def test_pickle_round_trip_keeps_everything_and_skips_the_checks(monkeypatch):
    m = ma.FactorCovariance(*labelled())
    calls = counting_checks(monkeypatch)
    back = pickle.loads(pickle.dumps(m))
    assert calls == []  # the digest matched: no O(n k^2) re-validation
    assert back.labels == m.labels and back.factors == m.factors
    for a, b in ((back.loadings, m.loadings), (back.factor_cov, m.factor_cov), (back.specific_var, m.specific_var),
                 (back.diagonal(), m.diagonal())):
        assert np.array_equal(a, b) and not a.flags.writeable
    assert np.array_equal(back.to_dense(), m.to_dense())


def tampered(m, old, new):
    blob = pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL)
    old_b, new_b = np.float64(old).tobytes(), np.float64(new).tobytes()
    assert blob.count(old_b) == 1
    return blob.replace(old_b, new_b)


def test_a_tampered_pickle_is_refused(monkeypatch):
    """Any edited number is refused, whether the model it makes is valid (a specific variance, a
    stored total variance) or not (a negative variance)."""
    d = D3.copy()
    d[2] = 0.0251234567  # a value found once in the pickle
    m = ma.FactorCovariance(X3, F3, d)
    calls = counting_checks(monkeypatch)
    for old, new in ((d[2], 0.05), (m.diagonal()[1], 123.0), (d[2], -1.0)):
        with pytest.raises(ma.CorruptPayloadError, match="FactorCovariance"):
            pickle.loads(tampered(m, old, new))
    assert calls == []


def test_the_core_model_is_built_once_over_the_stored_arrays():
    m = ma.FactorCovariance(X3, F3, D3)
    first = m._model()
    assert m._model() is first  # built by the checks, kept
    # it borrows the stored arrays: its products are those of the formed matrix
    s = X3 @ F3 @ X3.T + np.diag(D3)
    w = np.linspace(-1.0, 1.0, len(D3))
    np.testing.assert_allclose(first.apply(w), s @ w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(first.diagonal(), np.diag(s), rtol=1e-12)


# -- estimators: exact against numpy --------------------------------------------------------------
def panel(t, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(t, 3)) @ rng.normal(size=(3, n)) * 0.1 + rng.normal(size=(t, n)) * 0.05


@pytest.mark.parametrize("t, n", [(60, 12), (30, 80)])  # T > n: the SVD; T <= n: through the T x T matrix
def test_principal_components_match_the_sample_covariance_eigendecomposition(t, n):
    r = panel(t, n)
    k = 3
    m = ma.FactorCovariance.from_returns(r, k, specific_floor=1e-12)
    sample = np.cov(r, rowvar=False)
    lam, vec = np.linalg.eigh(sample)
    top = vec[:, -k:] @ np.diag(lam[-k:]) @ vec[:, -k:].T
    np.testing.assert_allclose(m.loadings @ m.factor_cov @ m.loadings.T, top, rtol=0, atol=1e-12 * lam[-1])
    np.testing.assert_allclose(np.diag(m.factor_cov), lam[::-1][:k], rtol=1e-10)
    np.testing.assert_allclose(m.loadings.T @ m.loadings, np.eye(k), rtol=0, atol=1e-14)  # orthonormal
    assert np.count_nonzero(m.factor_cov - np.diag(np.diag(m.factor_cov))) == 0  # F diagonal
    np.testing.assert_allclose(m.specific_var, np.diag(sample - top), rtol=1e-9)
    np.testing.assert_allclose(m.diagonal(), np.diag(sample), rtol=1e-12)  # the sample variances
    assert (m.loadings.sum(axis=0) >= 0).all() and m.factors == ("PC1", "PC2", "PC3")


def test_the_specific_floor_is_a_fraction_of_the_sample_variance():
    r = panel(5, 8)  # T - 1 = 4 components explain every asset exactly: the floor sets d
    m = ma.FactorCovariance.from_returns(r, 4, specific_floor=0.01)
    np.testing.assert_allclose(m.specific_var, 0.01 * r.var(axis=0, ddof=1), rtol=1e-12)
    assert (m.diagonal() > 0).all()


def test_the_specific_floor_holds_for_the_fundamental_model_too():
    rng = np.random.default_rng(5)
    x = np.column_stack([np.ones(8), rng.normal(size=8)])
    r = rng.normal(size=(20, 2)) @ x.T  # the exposures explain every return: residuals are rounding
    m = ma.FactorCovariance.from_exposures(r, x, specific_floor=0.02)
    np.testing.assert_allclose(m.specific_var, 0.02 * r.var(axis=0, ddof=1), rtol=1e-12)


def test_cross_sectional_factor_returns_match_least_squares():
    rng = np.random.default_rng(4)
    t, n = 40, 15
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    r = rng.normal(size=(t, n)) * 0.05
    m = ma.FactorCovariance.from_exposures(r, x, specific_floor=1e-12)
    f_ls = np.linalg.lstsq(x, r.T, rcond=None)[0].T  # (T, k), period by period
    np.testing.assert_allclose(m.factor_cov, np.cov(f_ls, rowvar=False), rtol=1e-10)
    np.testing.assert_allclose(m.specific_var, (r - f_ls @ x.T).var(axis=0, ddof=1), rtol=1e-10)
    assert np.array_equal(m.loadings, x)


def test_estimators_keep_and_align_labels():
    r = pd.DataFrame(panel(30, 6), columns=list("ABCDEF"), index=pd.date_range("2024-01-31", periods=30, freq="ME"))
    m = ma.FactorCovariance.from_returns(r, 2)
    assert m.labels == tuple("ABCDEF")
    x = pd.DataFrame({"mkt": 1.0, "beta": np.linspace(0.5, 1.5, 6)}, index=list("ABCDEF"))
    g = ma.FactorCovariance.from_exposures(r, x)
    assert g.labels == tuple("ABCDEF") and g.factors == ("mkt", "beta")
    shuffled = ma.FactorCovariance.from_exposures(r, x.iloc[::-1])
    assert np.array_equal(shuffled.to_dense(), g.to_dense())
    with pytest.raises(ma.InputError, match="'Z'") as e:
        ma.FactorCovariance.from_exposures(r, x.rename(index={"F": "Z"}))
    assert e.value.argument == "exposures"


def test_estimator_inputs_are_checked():
    r = pd.DataFrame(panel(30, 6), columns=list("ABCDEF"), index=pd.date_range("2024-01-31", periods=30, freq="ME"))
    gap = r.copy()
    gap.iloc[4, 2] = np.nan
    with pytest.raises(ma.NonFiniteError, match=r"entry \[2024-05-31, 'C'\] is nan") as e:
        ma.FactorCovariance.from_returns(gap, 2)
    assert e.value.argument == "returns"
    flat = r.assign(D=0.01)
    with pytest.raises(ma.InputError, match="'D' are constant") as e:
        ma.FactorCovariance.from_returns(flat, 2)
    assert e.value.argument == "returns"
    for k in (0, 30, 2.0, True):
        with pytest.raises(ma.InputError) as e:
            ma.FactorCovariance.from_returns(r, k)
        assert e.value.argument == "n_factors"
    with pytest.raises(ma.InputError, match="have 2 components") as e:  # 3 columns spanned by 2
        ma.FactorCovariance.from_returns(np.column_stack([r.A, r.B, r.A + r.B]), 3)
    assert e.value.argument == "n_factors"
    with pytest.raises(ma.InputError, match="have 2 components") as e:  # T <= n: the same rule
        ma.FactorCovariance.from_returns(np.column_stack([r.A, r.B, r.A + r.B] * 12), 3)
    assert e.value.argument == "n_factors"
    for floor in (0.0, -1.0, 1.5, np.nan):
        with pytest.raises(ma.InputError) as e:
            ma.FactorCovariance.from_returns(r, 2, specific_floor=floor)
        assert e.value.argument == "specific_floor"
    with pytest.raises(ma.ShapeError) as e:
        ma.FactorCovariance.from_returns(r.iloc[:1], 1)
    assert e.value.argument == "returns"
    with pytest.raises(ma.ShapeError) as e:
        ma.FactorCovariance.from_exposures(r, np.ones((5, 1)))
    assert e.value.argument == "exposures"


def test_rank_deficient_exposures_are_refused_naming_the_factors():
    sectors = np.repeat(["energy", "tech", "health"], 4)
    dummies = pd.get_dummies(pd.Series(sectors, index=[f"a{i}" for i in range(12)]), dtype=float)
    x = dummies.assign(intercept=1.0)  # the sector dummies sum to the intercept
    r = pd.DataFrame(panel(20, 12), columns=x.index)
    with pytest.raises(ma.InputError, match=r"rank 3 for 4 factors.*'energy'.*'intercept'") as e:
        ma.FactorCovariance.from_exposures(r, x)
    assert e.value.argument == "exposures"
    assert ma.FactorCovariance.from_exposures(r, x.drop(columns="energy")).k == 3  # one dropped: accepted


# -- estimators: a planted model is recovered within its sampling error ---------------------------
def planted(n, k, t, seed):
    """Returns of a known model: loadings B (n, k), factor covariance F, specific variances D."""
    rng = np.random.default_rng(seed)
    b = rng.normal(size=(n, k))
    f = np.diag(np.linspace(0.04, 0.01, k))
    d = rng.uniform(0.02, 0.06, n)
    r = rng.multivariate_normal(np.zeros(k), f, size=t) @ b.T + rng.normal(size=(t, n)) * np.sqrt(d)
    return r, b, f, d


@pytest.mark.parametrize("n, t", [(300, 1000), (400, 120), (1000, 60)])  # T > n and T < n
def test_principal_components_recover_a_planted_model(n, t):
    k = 3
    r, b, f, d = planted(n, k, t, seed=n + t)
    m = ma.FactorCovariance.from_returns(r, k)
    # the spiked-covariance limits (noise sigma^2 = mean d, gamma = n / T, signal eigenvalues lam of
    # B F B', spikes ell = lam / sigma^2): a sample component makes an angle theta with its population
    # component, cos^2 = (1 - gamma / ell^2) / (1 + gamma / ell), and its variance is pushed up to
    # about lam + sigma^2 (1 + gamma); the k components fitted take about k (1 + gamma) sigma^2 of the
    # noise, k (1 + gamma) / n of the mean specific variance
    lam = np.linalg.eigvalsh(np.sqrt(f) @ b.T @ b @ np.sqrt(f))[::-1]
    gamma, sigma2 = n / t, d.mean()
    ell = lam / sigma2
    sin2 = 1 - (1 - gamma / ell**2) / (1 + gamma / ell)
    angles = scipy.linalg.subspace_angles(m.loadings, b)
    assert np.sin(angles.max()) < 1.5 * np.sqrt(sin2.max()) < 0.5, (np.sin(angles.max()), np.sqrt(sin2.max()))
    # F: a sample eigenvalue's standard error is (lam + sigma^2) sqrt(2 / T)
    z = (np.diag(m.factor_cov) - (lam + sigma2 * (1 + gamma))) / ((lam + sigma2) * np.sqrt(2 / t))
    assert (np.abs(z) < 5).all(), z
    # d: d_hat_i / d_i is about chi^2 with T - 1 - k degrees of freedom over T - 1 (each asset within
    # its 1e-4 / n quantiles, widened by the noise absorbed and the signal a misplaced subspace leaves)
    q = np.linalg.qr(b)[0]  # the population components span B: their squared entries, row by row
    absorbed = (1 + 2 * gamma) * (q**2).sum(axis=1) * sigma2 / d
    left = 2 * sin2.max() * np.einsum("ij,jk,ik->i", b, f, b) / d
    alpha = 1e-4 / n
    ratio = m.specific_var / d
    assert (ratio > scipy.stats.chi2.ppf(alpha, t - 1 - k) / (t - 1) - absorbed).all()
    assert (ratio < scipy.stats.chi2.ppf(1 - alpha, t - 1) / (t - 1) + left).all()
    bias = -k * (1 + gamma) / n
    assert abs((ratio - 1).mean() - bias) < 4 * np.sqrt(2 / t / n), ((ratio - 1).mean(), bias)
    # a random subspace is far from the planted one: the angle test discriminates
    assert np.sin(scipy.linalg.subspace_angles(np.random.default_rng(0).normal(size=(n, k)), b).max()) > 0.9


def test_cross_sectional_regression_recovers_planted_factor_covariance_and_specific_variances():
    rng = np.random.default_rng(11)
    n, t = 400, 250
    sector = rng.integers(0, 6, n)
    x = np.column_stack([np.ones(n), *(sector == s for s in range(1, 6)), rng.normal(size=n)]).astype(float)
    k = x.shape[1]
    a = rng.normal(size=(k, k)) * 0.05
    f = a @ a.T + np.diag(np.full(k, 1e-4))
    d = rng.uniform(0.02, 0.06, n)
    factor_returns = rng.multivariate_normal(np.zeros(k), f, size=t)
    r = factor_returns @ x.T + rng.normal(size=(t, n)) * np.sqrt(d)
    m = ma.FactorCovariance.from_exposures(r, x)
    # OLS adds the projected noise P e_t to f_t (P = (X'X)^-1 X'): E[F_hat] = F + P D P'
    p = np.linalg.solve(x.T @ x, x.T)
    g = f + p @ np.diag(d) @ p.T
    se = np.sqrt((np.outer(np.diag(g), np.diag(g)) + g**2) / (t - 1))  # of a Gaussian sample covariance
    assert (np.abs(m.factor_cov - g) < 5 * se).all(), np.abs((m.factor_cov - g) / se).max()
    # the noise term is small beside F (about d over the number of assets in a sector)
    assert np.linalg.norm(g - f, 2) < 0.1 * np.linalg.norm(f, 2)
    # residuals M e_t (M = I - X P): E[d_hat_i] = (M D M)_ii, standard error sqrt(2 / (T - 1)) of it
    mm = np.eye(n) - x @ p
    expected = np.einsum("ij,j,ij->i", mm, d, mm)
    rel = m.specific_var / expected - 1
    assert (np.abs(rel) < 5 * np.sqrt(2 / (t - 1))).all(), np.abs(rel).max()
    assert abs(rel.mean()) < 5 * np.sqrt(2 / (t - 1)) / np.sqrt(n)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_estimators_refuse_returns_out_of_scale_naming_them(scale):
    r = panel(30, 6) * scale
    for call in (lambda: ma.FactorCovariance.from_returns(r, 2),
                 lambda: ma.FactorCovariance.from_exposures(r, np.column_stack([np.ones(6), np.arange(6.0)]))):
        with pytest.raises(ma.InputError, match="overflow" if scale > 1 else "underflow") as e:
            call()
        assert e.value.argument == "returns"


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_exposures_out_of_scale_are_named(scale):
    x = np.column_stack([np.ones(6), np.arange(6.0)]) * scale
    with pytest.raises(ma.InputError) as e:  # the estimated model's checks, blamed on the exposures
        ma.FactorCovariance.from_exposures(panel(30, 6), x)
    assert e.value.argument == "exposures" and "overflow" in str(e.value)


def test_the_label_rules_read_a_models_labels():
    from microalloc import _validate

    m = ma.FactorCovariance(*labelled())
    assert list(_validate.asset_labels(m, np.ones(4))) == ASSETS and _validate.labels_of(m) == tuple(ASSETS)
    assert _validate.asset_labels(ma.FactorCovariance(X3, F3, D3), pd.Series(D3, index=ASSETS)) is not None
