"""Estimators of factor models from returns (``FactorCovariance.from_returns`` and
``FactorCovariance.from_exposures``): each returns the arrays and labels of a model,
(X, F, d, asset labels, factor names), which the class then checks in full."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import _core
from ._validate import (
    _cell,
    SCALE_HUGE,
    SCALE_TINY,
    _as_float_array,
    _entry,
    _few,
    _fmt,
    _num,
    _positive_int,
    align,
    as_scalar,
    is_pandas,
)
from .errors import InputError, NonFiniteError, ShapeError

_EPS = float(np.finfo(np.float64).eps)

Model = tuple[np.ndarray, np.ndarray, np.ndarray, "list[Any] | None", "list[Any] | None"]


def principal_components(returns: Any, n_factors: Any, specific_floor: Any) -> Model:
    """The statistical model of :meth:`FactorCovariance.from_returns`."""
    r, labels, _ = _read_returns(returns)
    floor = _as_floor(specific_floor)
    t, n = r.shape
    _positive_int(n_factors, "n_factors", maximum=min(t - 1, n))
    k = int(n_factors)
    centred = _centred(r)
    variances = _sample_variances(r, centred, labels)
    x, s = _leading_components(centred, k)
    # a component's sign is arbitrary: make each column sum >= 0 (its largest entry positive on a tie)
    sums = x.sum(axis=0)
    tie = np.abs(sums) <= np.abs(x).max(axis=0) * n * _EPS
    peak = x[np.abs(x).argmax(axis=0), np.arange(k)]
    x *= np.where(tie, np.sign(peak), np.sign(sums))
    f = np.diag(s**2 / (t - 1))
    # the residual's variance, from the residual itself (not as total minus explained, which cancels)
    centred -= (centred @ x) @ x.T
    residual = np.einsum("ti,ti->i", centred, centred) / (t - 1)
    d = np.maximum(residual, floor * variances)
    return x, f, d, labels, [f"PC{j + 1}" for j in range(k)]


def _leading_components(centred: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k leading right singular vectors (n, k) and singular values of the (T, n) demeaned
    returns, as an economy SVD gives them, without an n x n matrix. With T > n, LAPACK's economy
    SVD (O(T n^2)). With T <= n, through the T x T matrix C C' (one O(T^2 n) product, far faster
    than the SVD of a wide panel): its eigenvectors U give the subspace C'U_k, made orthonormal and
    refined by a Rayleigh-Ritz step (the SVD of C V, T x k), so the loadings are orthonormal to
    rounding. A component counts when its variance exceeds max(T, n) eps of the first's (the
    resolution of C C'); asking for more is refused."""
    t, n = centred.shape
    if t > n:
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        variances, basis = s**2, None
    else:
        variances, u = np.linalg.eigh(centred @ centred.T)
        variances, basis = variances[::-1], u[:, ::-1][:, :k]
    rank = int(np.count_nonzero(variances > variances[0] * max(t, n) * _EPS))
    if k > rank:
        raise InputError("n_factors", f"{k} factors, but the demeaned returns have {rank} components above "
                         f"{_fmt(max(t, n) * _EPS)} of the first's variance: at most {rank}")
    if basis is None:
        return vt[:k].T.copy(), s[:k]
    q = np.linalg.qr(centred.T @ basis)[0]  # (n, k), orthonormal
    _, s, wt = np.linalg.svd(centred @ q, full_matrices=False)  # (T, k): the Ritz values and vectors
    return np.ascontiguousarray(q @ wt.T), s


def cross_sectional(returns: Any, exposures: Any, specific_floor: Any) -> Model:
    """The fundamental model of :meth:`FactorCovariance.from_exposures`."""
    r, labels, _ = _read_returns(returns)
    floor = _as_floor(specific_floor)
    t, n = r.shape
    if labels is None and is_pandas(exposures) and getattr(exposures, "ndim", 0) == 2:
        labels = list(exposures.index)
    exposures_aligned = align(exposures, labels, "exposures", axis="rows", subject="index labels")
    factors = list(exposures.columns) if is_pandas(exposures) and getattr(exposures, "ndim", 0) == 2 else None
    x = _as_float_array(exposures_aligned, "exposures")
    if x.ndim != 2 or x.shape[0] != n or x.shape[1] == 0:
        raise ShapeError("exposures", f"expected shape ({n}, k) (one row per asset of the returns, k >= 1 "
                         f"factors), got {x.shape}")
    k = x.shape[1]
    bad = _core.find_non_finite(x.reshape(-1), False)
    if bad is not None:
        raise NonFiniteError("exposures", f"{_cell(bad[0], x, factors, labels)} is {_num(bad[2])}; "
                             f"every entry must be finite ({bad[1]} such entries)")
    if k > n:
        raise ShapeError("exposures", f"{k} factors for {n} assets: the cross-sectional regression needs at "
                         "least as many assets as factors")
    q, rr = np.linalg.qr(x)  # X = Q R: the least-squares fit of r_t is f_t = R^{-1} Q' r_t
    _require_full_rank(rr, n, factors)
    variances = _sample_variances(r, _centred(r), labels)
    with np.errstate(over="ignore", invalid="ignore"):  # tiny exposures make huge factor returns: refused below
        factor_returns = np.linalg.solve(rr, (r @ q).T).T  # (T, k)
        residuals = r - factor_returns @ x.T  # (T, n)
        residuals -= residuals.mean(axis=0)
        d = np.einsum("ti,ti->i", residuals, residuals) / (t - 1)
        fc = factor_returns - factor_returns.mean(axis=0)
        f = fc.T @ fc / (t - 1)
        f = f * 0.5 + f.T * 0.5
    if not (np.isfinite(f).all() and np.isfinite(d).all()):
        raise InputError("exposures", f"the factor returns' covariance overflows (max |exposures| = "
                         f"{_num(np.abs(x).max())}): rescale the exposures")
    return x, f, np.maximum(d, floor * variances), labels, factors


def _centred(r: np.ndarray) -> np.ndarray:
    """The returns less each asset's mean (refused when that overflows: returns near the float64 limit)."""
    with np.errstate(over="ignore", invalid="ignore"):
        centred = r - r.mean(axis=0)
    if not np.isfinite(centred).all():
        raise InputError("returns", f"max |returns| = {_num(np.abs(r).max())}: the demeaned returns overflow "
                         "(rescale the returns)")
    return centred


def estimated(cls: Any, model: Model, names: dict[str, str]) -> Any:
    """The model checked in full; an error of the checks names the estimator's argument the
    estimated array came from (``names``: model argument -> estimator argument)."""
    try:
        return cls._from_arrays(*model)
    except InputError as e:
        name = names.get(e.argument, e.argument)
        if name == e.argument:
            raise
        detail = str(e).split(": ", 1)[-1]
        raise type(e)(name, f"the estimated {e.argument} fail their checks: {detail}") from None


def _read_returns(returns: Any) -> tuple[np.ndarray, list[Any] | None, list[Any] | None]:
    """A (T, n) panel, T >= 2, every entry finite: (returns, asset labels, period labels)."""
    labelled = is_pandas(returns) and getattr(returns, "ndim", 0) == 2
    labels = list(returns.columns) if labelled else None
    periods = list(returns.index) if labelled else None
    if labelled and returns.columns.has_duplicates:
        dup = returns.columns[returns.columns.duplicated()].unique()
        raise InputError("returns", f"asset labels repeat: {_few(dup)} (each label once)")
    r = _as_float_array(returns, "returns")
    if r.ndim != 2:
        raise ShapeError("returns", f"expected a (T, n) matrix (periods by assets), got shape {r.shape}")
    if r.shape[0] < 2 or r.shape[1] < 1:
        raise ShapeError("returns", f"expected at least 2 periods and 1 asset, got shape {r.shape}")
    bad = _core.find_non_finite(r.reshape(-1), False)
    if bad is not None:
        at, count, value = bad
        raise NonFiniteError("returns", f"{_cell(at, r, labels, periods)} is {_num(value)} "
                             f"({count} such entries): missing returns are refused; drop or fill them first")
    return r, labels, periods


def _as_floor(specific_floor: Any) -> float:
    v = as_scalar(specific_floor, "specific_floor", minimum=0.0, strict=True)
    if v > 1.0:
        raise InputError("specific_floor", f"must be at most 1 (a fraction of the asset's variance), got {_num(v)}")
    return v


def _sample_variances(r: np.ndarray, centred: np.ndarray, labels: Sequence[Any] | None) -> np.ndarray:
    """Each asset's sample variance (of the demeaned returns), within the scale limits of a
    covariance; a constant asset (every return the same: its demeaned returns are rounding noise)
    is refused: it would have no risk."""
    t, n = r.shape
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing sums are inf, and refused here
        v = np.einsum("ti,ti->i", centred, centred) / (t - 1)
        top = v.max()
        if not n * top <= SCALE_HUGE:
            raise InputError("returns", f"n * the largest sample variance = {_fmt(n * top)} exceeds "
                             f"{_fmt(SCALE_HUGE)}: the risk overflows (rescale the returns)")
    if top < SCALE_TINY:
        raise InputError("returns", f"the largest sample variance is {_fmt(top)}, below {_fmt(SCALE_TINY)}: "
                         "products of the covariance underflow (rescale the returns, e.g. to percent)")
    zero = np.flatnonzero((r.max(axis=0) == r.min(axis=0)) | (v <= 0))
    if zero.size:
        raise InputError("returns", f"the returns of asset {_entry(labels, zero[0])[6:]} are constant (zero sample "
                         f"variance in float64): it would have no risk; {zero.size} such assets")
    return v


def _require_full_rank(rr: np.ndarray, n: int, factors: Sequence[Any] | None) -> None:
    """Refuse exposures whose columns are linearly dependent (numpy's matrix_rank rule on R of X = QR),
    naming the factors of a null combination."""
    k = rr.shape[0]
    _, s, vt = np.linalg.svd(rr)
    tol = s[0] * max(n, k) * _EPS
    rank = int(np.count_nonzero(s > tol))
    if rank == k:
        return
    null = vt[-1]
    involved = np.flatnonzero(np.abs(null) > 1e-6 * np.abs(null).max())
    names = [factors[int(j)] for j in involved] if factors is not None else [int(j) for j in involved]
    raise InputError("exposures", f"the columns are linearly dependent (rank {rank} for {k} factors): a "
                     f"combination of the factors {_few(names, 8)} is zero (a dummy for every sector and an "
                     "intercept?); drop one of them")
