"""The covariance objects and the covariance's own checks.

:class:`Covariance` holds a dense matrix validated once; :class:`FactorCovariance` a factor model
S = X F X' + diag(d) validated once and never formed. :func:`as_covariance` is the one entry of
the solvers for a covariance argument (a matrix, a DataFrame or a ``Covariance``); its verdicts on
plain matrices are remembered by content.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

from . import _core
from ._validate import (
    CovarianceObject,
    _as_float_array,
    _at,
    _cached_constant,
    _entry,
    _num,
    _nums,
    align,
    as_flag,
    is_pandas,
    labels_of,
)
from .errors import NonFiniteError, NotPSDError, NotSymmetricError, ShapeError, InputError

#: relative tolerance of the symmetry test: |S_ij - S_ji| <= SYMMETRY_TOL * sqrt(S_ii S_jj)
SYMMETRY_TOL = 1e-10
#: a covariance passes the PSD test when lambda_min(corr) >= -PSD_TOL * n
PSD_TOL = 1e-10


#: Verdicts of the exact checks, keyed by (n, SHA-256 of the exact bytes): the O(n^2) transposed
#: scan (finite, symmetric, positive variances, correlations within [-1, 1]) and the O(n^3) PSD test
#: run once per distinct matrix; a matrix seen before (same bits) costs one hashing pass. The key is
#: a cryptographic hash because a verdict wrongly shared is a silent wrong answer: a fast additive
#: fingerprint can be fooled by structured edits (sign flips that cancel in its sums), a collision
#: of SHA-256 is not to be found.
_CHECKED: OrderedDict[tuple[int, bytes], list[Any]] = OrderedDict()
_CACHE_SIZE = 32
_LOCK = threading.Lock()


def clear_covariance_cache() -> None:
    """Forget every remembered covariance verdict (the next call re-runs the full checks), and the
    shared vectors of scalar bounds."""
    with _LOCK:
        _CHECKED.clear()
    _cached_constant.cache_clear()


def covariance_key(s: np.ndarray) -> tuple[int, bytes]:
    """The cache key of a float64 C-ordered square matrix: its size and the SHA-256 of its bytes
    (hashlib releases the GIL while hashing a large buffer)."""
    return s.shape[0], hashlib.sha256(memoryview(s).cast("B")).digest()


def _remembered(key: tuple[int, bytes]) -> list[Any] | None:
    with _LOCK:
        hit = _CHECKED.get(key)
        if hit is not None:
            _CHECKED.move_to_end(key)
        return hit


def _remember(key: tuple[int, bytes], entry: list[Any]) -> None:
    with _LOCK:
        _CHECKED[key] = entry
        while len(_CHECKED) > _CACHE_SIZE:
            _CHECKED.popitem(last=False)


def _square(cov: Any, name: str = "cov") -> np.ndarray:
    if is_pandas(cov) and getattr(cov, "ndim", 0) == 2:
        # the rows of a labelled matrix follow its columns (the assets' labels)
        cov = align(cov, cov.columns, name, axis="rows", what="its column", subject="row labels")
    s = _as_float_array(cov, name)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ShapeError(name, f"expected a square 2-D matrix, got shape {s.shape}")
    if s.shape[0] == 0:
        raise ShapeError(name, "expected at least one asset, got a 0 x 0 matrix")
    return s


def _raise_if_not_psd(psd: Any, name: str = "cov") -> None:
    if not psd.psd:
        raise NotPSDError(
            name,
            f"not positive semidefinite: smallest eigenvalue {psd.min_eigenvalue:.6g} "
            f"(largest {psd.max_eigenvalue:.6g}); repair it first (eigenvalue clipping, "
            "shrinkage) or pass check_psd=False to skip this test",
        )


def as_covariance(cov: Any, *, check_psd: bool, name: str = "cov") -> tuple[np.ndarray, Any]:
    """Validated covariance as a float64 C-ordered square matrix (a labelled one with its rows in
    the order of its columns), and its core report."""
    check_psd = as_flag(check_psd, "check_psd")
    if isinstance(cov, Covariance):
        try:
            return cov._checked(check_psd)
        except NotPSDError as e:
            if name == "cov":
                raise
            raise NotPSDError(name, str(e).split(": ", 1)[-1]) from None
    s = _square(cov, name)
    key = covariance_key(s)
    entry = _remembered(key)
    if entry is None:
        rep = _core.inspect_covariance(s, SYMMETRY_TOL)
        _raise_for_issue(rep, labels_of(cov), name)
        entry = [rep, None]  # [scan report, PSD report or None if not run yet]
        _remember(key, entry)
    if check_psd:
        if entry[1] is None:  # the verdict, passed or failed, is remembered
            entry[1] = _core.check_positive_semidefinite(s, PSD_TOL)
        _raise_if_not_psd(entry[1], name)
    return s, entry[0]


class Covariance(CovarianceObject):
    """A covariance matrix validated once, for many solves.

    Construction copies the matrix into read-only storage owned by this object and runs every
    check once: finite entries, symmetry, positive variances, correlations within [-1, 1] and,
    unless ``check_psd=False``, positive semidefiniteness (an O(n^3) factorisation). The solvers
    accept a ``Covariance`` wherever they accept a matrix and then skip all O(n^2) work on it: a
    plain array is hashed on every call (SHA-256 of its n^2 entries, to notice in-place changes),
    which at n >= 500 costs more than an active-set solve itself. Being a private copy,
    the matrix cannot change behind the object's back.

    Parameters
    ----------
    cov : (n, n) array_like or pandas.DataFrame
        Labels of a DataFrame are kept and label the results.
    check_psd : bool
        Run the positive-semidefiniteness test now (otherwise it runs on the first solve that asks
        for it, and its verdict is kept).
    """

    __module__ = "microalloc"
    __slots__ = ("_matrix", "_labels", "_index", "_report", "_psd", "__weakref__")

    def __init__(self, cov: Any, *, check_psd: bool = True) -> None:
        check_psd = as_flag(check_psd, "check_psd")
        labels = labels_of(cov)
        s = _square(cov)
        owner = np.array(s, dtype=np.float64, order="C", copy=True)
        owner.flags.writeable = False
        rep = _core.inspect_covariance(owner, SYMMETRY_TOL)
        _raise_for_issue(rep, labels)
        self._matrix = owner.view()  # a view of read-only memory cannot be made writeable again
        self._labels = None if labels is None else tuple(labels)
        self._index = None  # the labels as a pandas Index, built on first use (for alignment)
        self._report = rep
        self._psd = None  # the PSD report, once the test has run
        if check_psd:
            self._checked(True)

    def _checked(self, check_psd: bool) -> tuple[np.ndarray, Any]:
        if check_psd:
            if self._psd is None:  # the verdict, passed or failed, is remembered
                self._psd = _core.check_positive_semidefinite(self._matrix, PSD_TOL)
            _raise_if_not_psd(self._psd)
        return self._matrix, self._report

    @property
    def matrix(self) -> np.ndarray:
        """The validated (n, n) matrix, read-only."""
        return self._matrix

    @property
    def n(self) -> int:
        return int(self._matrix.shape[0])

    @property
    def labels(self) -> tuple[Any, ...] | None:
        """Asset labels of the DataFrame it was built from (None otherwise)."""
        return self._labels

    def _label_index(self) -> Any:
        """The labels as a pandas Index, kept: aligning inputs to it costs no O(n) rebuild per call."""
        if self._index is None and self._labels is not None:
            import pandas as pd

            self._index = pd.Index(list(self._labels))
        return self._index

    @property
    def volatilities(self) -> np.ndarray:
        """Square roots of the variances."""
        return np.sqrt(np.diagonal(self._matrix))

    @property
    def psd_checked(self) -> bool:
        """Whether the positive-semidefiniteness test has run and passed."""
        return self._psd is not None and bool(self._psd.psd)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if copy:
            return np.array(self._matrix, dtype=dtype, copy=True)
        if dtype is None or np.dtype(dtype) == self._matrix.dtype:
            return self._matrix
        if copy is False:
            raise ValueError(f"cov: a {np.dtype(dtype)} array needs a copy of the float64 matrix")
        return self._matrix.astype(dtype)

    def __reduce__(self) -> tuple[Any, ...]:
        # re-validated where it is unpickled (another process may trust nothing it receives)
        return (_rebuild_covariance, (np.array(self._matrix), self._labels, self.psd_checked))

    def __repr__(self) -> str:
        return f"Covariance(n={self.n}, labelled={self._labels is not None}, psd_checked={self.psd_checked})"


def _rebuild_covariance(matrix: np.ndarray, labels: tuple[Any, ...] | None, check_psd: bool) -> Covariance:
    c = Covariance(matrix, check_psd=check_psd)
    c._labels = labels
    return c


def _raise_for_issue(rep: Any, labels: Sequence[Any] | None = None, name: str = "cov") -> None:
    """The core's first issue with a matrix, as an error naming the entry (by label when labelled)."""
    issue = _core.CovarianceIssue(rep.issue)
    i, j = rep.row, rep.col
    ii, ij, ji, jj = _at(labels, i, i), _at(labels, i, j), _at(labels, j, i), _at(labels, j, j)
    if issue == _core.CovarianceIssue.NON_FINITE:
        raise NonFiniteError(name, f"{_entry(labels, i, j)} is {_num(rep.value)}; every entry must be finite")
    if issue == _core.CovarianceIssue.NON_POSITIVE_VARIANCE:
        raise InputError(name, f"variance {name}{ii} = {_num(rep.value)} is not positive")
    if issue == _core.CovarianceIssue.NOT_SYMMETRIC:
        a, b = _nums(rep.value, rep.other)
        raise NotSymmetricError(name, f"not symmetric: {name}{ij} = {a} but {name}{ji} = {b}")
    if issue == _core.CovarianceIssue.CORRELATION_ABOVE_ONE:
        a, b = _nums(abs(rep.value), rep.other)
        raise NotPSDError(
            name,
            f"not positive semidefinite: |{name}{ij}| = {a} exceeds "
            f"sqrt({name}{ii} * {name}{jj}) = {b} (a correlation above 1)",
        )
