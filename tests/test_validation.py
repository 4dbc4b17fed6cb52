"""Every bad input raises an InputError (a ValueError) naming the argument, before any solve."""

import numpy as np
import pytest

import microalloc as ma

S = np.array([[0.04, 0.006, 0.002], [0.006, 0.09, 0.004], [0.002, 0.004, 0.0225]])
MU = np.array([0.05, 0.08, 0.04])


def solve(**kw):
    args = {"cov": S, "mu": MU}
    args.update(kw)
    return ma.solve_mean_variance(args.pop("cov"), args.pop("mu"), **args)


def with_entry(m, i, j, v, symmetric=True):
    m = m.copy()
    m[i, j] = v
    if symmetric:
        m[j, i] = v
    return m


NOT_PSD = np.array([[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]])  # correlations <= 1, eigenvalue < 0

CASES = [
    # (kwargs, exception class, argument named)
    ({"cov": S[:2]}, ma.ShapeError, "cov"),
    ({"cov": np.diag(S)}, ma.ShapeError, "cov"),
    ({"cov": S[None]}, ma.ShapeError, "cov"),
    ({"cov": np.zeros((0, 0)), "mu": None}, ma.ShapeError, "cov"),
    ({"cov": S.astype(str)}, ma.InputError, "cov"),
    ({"cov": S.astype(complex)}, ma.InputError, "cov"),
    ({"cov": with_entry(S, 0, 1, np.nan)}, ma.NonFiniteError, "cov"),
    ({"cov": with_entry(S, 2, 0, np.inf)}, ma.NonFiniteError, "cov"),
    ({"cov": with_entry(S, 1, 1, np.nan)}, ma.NonFiniteError, "cov"),
    ({"cov": with_entry(S, 0, 1, 0.007, symmetric=False)}, ma.NotSymmetricError, "cov"),
    ({"cov": with_entry(S, 1, 1, 0.0)}, ma.InputError, "cov"),
    ({"cov": with_entry(S, 2, 2, -0.01)}, ma.InputError, "cov"),
    ({"cov": with_entry(S, 0, 1, 0.07)}, ma.NotPSDError, "cov"),  # correlation 1.17
    ({"cov": NOT_PSD}, ma.NotPSDError, "cov"),
    ({"mu": MU[:2]}, ma.ShapeError, "mu"),
    ({"mu": MU[None]}, ma.ShapeError, "mu"),
    ({"mu": np.array([0.1, np.nan, 0.1])}, ma.NonFiniteError, "mu"),
    ({"mu": np.array([0.1, np.inf, 0.1])}, ma.NonFiniteError, "mu"),
    ({"mu": 0.05}, ma.ShapeError, "mu"),
    ({"lower": np.array([0.5, 0.0, 0.0]), "upper": np.array([0.4, 1.0, 1.0])}, ma.InfeasibleError, "lower"),
    ({"lower": 0.4}, ma.InfeasibleError, "lower"),  # sum(lower) = 1.2 > 1
    ({"upper": 0.3}, ma.InfeasibleError, "upper"),  # sum(upper) = 0.9 < 1
    ({"lower": np.array([0.0, np.nan, 0.0])}, ma.NonFiniteError, "lower"),
    ({"upper": np.array([1.0, 1.0, np.nan])}, ma.NonFiniteError, "upper"),
    ({"lower": np.inf}, ma.InputError, "lower"),
    ({"upper": -np.inf}, ma.InputError, "upper"),
    ({"lower": np.zeros(4)}, ma.ShapeError, "lower"),
    ({"upper": np.ones((3, 1))}, ma.ShapeError, "upper"),
    ({"risk_aversion": -1.0}, ma.InputError, "risk_aversion"),
    ({"risk_aversion": np.nan}, ma.NonFiniteError, "risk_aversion"),
    ({"risk_aversion": np.inf}, ma.NonFiniteError, "risk_aversion"),
    ({"risk_aversion": "high"}, ma.InputError, "risk_aversion"),
    ({"mu": None, "risk_aversion": 0.0}, ma.InputError, "risk_aversion"),
    ({"budget": np.nan}, ma.NonFiniteError, "budget"),
    ({"benchmark": np.ones(2) / 2}, ma.ShapeError, "benchmark"),
    ({"benchmark": np.array([0.5, np.nan, 0.5])}, ma.NonFiniteError, "benchmark"),
    ({"warm_start": np.ones(4) / 4}, ma.ShapeError, "warm_start"),
    ({"warm_start": np.array([np.inf, 0, 0])}, ma.NonFiniteError, "warm_start"),
    ({"tol": 0.0}, ma.InputError, "tol"),
    ({"tol": -1e-9}, ma.InputError, "tol"),
    ({"max_iter": 0}, ma.InputError, "max_iter"),
    ({"max_iter": 10.5}, ma.InputError, "max_iter"),
    ({"max_iter": True}, ma.InputError, "max_iter"),
    ({"method": "simplex"}, ma.InputError, "method"),
]


@pytest.mark.parametrize("kwargs, exc, argument", CASES)
def test_bad_input_raises_named_value_error(kwargs, exc, argument):
    with pytest.raises(exc) as info:
        solve(**kwargs)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.argument == argument
    assert str(err).startswith(f"{argument}: ")


def test_not_psd_message_gives_the_eigenvalue():
    with pytest.raises(ma.NotPSDError, match="smallest eigenvalue -0.8"):
        solve(cov=NOT_PSD)


def test_asymmetry_message_names_the_entries():
    with pytest.raises(ma.NotSymmetricError, match=r"cov\[0, 1\] = 0.007 but cov\[1, 0\] = 0.006"):
        solve(cov=with_entry(S, 0, 1, 0.007, symmetric=False))


def test_rounding_level_asymmetry_is_accepted():
    s = with_entry(S, 0, 1, S[0, 1] * (1 + 1e-13), symmetric=False)
    assert solve(cov=s).is_optimal


def test_psd_singular_covariance_is_accepted():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(5, 8))  # 5 observations of 8 assets: rank 4
    s = np.cov(r, rowvar=False)
    res = ma.solve_mean_variance(s)
    assert res.is_optimal


def test_labels_must_agree():
    pd = pytest.importorskip("pandas")
    cov = pd.DataFrame(S, index=list("abc"), columns=list("abc"))
    with pytest.raises(ma.InputError, match="^mu: labels"):
        ma.solve_mean_variance(cov, pd.Series(MU, index=list("abd")))
    with pytest.raises(ma.InputError, match="^benchmark: labels"):
        ma.solve_mean_variance(cov, benchmark=pd.Series(np.ones(3) / 3, index=list("cbx")))


def test_result_carries_every_field_and_pickles():
    import dataclasses
    import pickle

    res = solve(upper=0.6)
    for f in dataclasses.fields(ma.MeanVarianceResult):
        assert f.name in vars(res), f.name
    assert not res.weights.flags.writeable
    assert res.status is ma.Status.OPTIMAL and res.method == "active_set" and res.tol == 1e-9
    back = pickle.loads(pickle.dumps(res))
    assert np.array_equal(back.weights, res.weights) and back.objective == res.objective
    assert np.array_equal(back.active_lower, res.active_lower)


def test_scalar_bounds_are_not_shared_mutable_state():
    a = solve(upper=0.6)
    b = solve(upper=np.full(3, 0.6))
    assert np.array_equal(a.weights, b.weights)
    from microalloc._validate import as_bounds

    lo, up = as_bounds(0.0, 0.6, 3, 1.0)
    assert not lo.flags.writeable and not up.flags.writeable
