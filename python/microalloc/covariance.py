"""The covariance objects and the covariance's own checks.

:class:`Covariance` holds a dense matrix validated once; :class:`FactorCovariance` a factor model
S = X F X' + diag(d) validated once and never formed. :func:`as_covariance` is the one entry of
the solvers for a covariance argument (a matrix, a DataFrame or a ``Covariance``); its verdicts on
plain matrices are remembered by content.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from typing import Any, NamedTuple, Sequence, TypeAlias, Union

import numpy as np

from . import _core
from ._validate import (
    SCALE_HUGE,
    SCALE_TINY,
    CovarianceObject,
    _as_float_array,
    _cell,
    _at,
    _cached_constant,
    _entry,
    _few,
    _fmt,
    _num,
    _nums,
    _positive_int,
    _row_entry,
    align,
    as_flag,
    is_pandas,
    labels_of,
)
from .errors import NonFiniteError, NotPSDError, NotSymmetricError, ShapeError, InputError
from ._sealed import require_digest
from ._typing import ArrayLike, Vector, Matrix

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
    return s.shape[0], hashlib.sha256(s.data.cast("B")).digest()


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
    if isinstance(cov, FactorCovariance):
        raise InputError(name, "this function takes a dense covariance, not a FactorCovariance: pass "
                         f"{name}.to_dense() (for small n) or a Covariance")
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


def as_covariance(cov: Any, *, check_psd: bool, name: str = "cov") -> tuple[Any, Any]:
    """Validated covariance as the core takes it: a float64 C-ordered square matrix (a labelled one
    with its rows in the order of its columns), or the core's FactorModel for a FactorCovariance
    (``.shape`` (n, n) like a matrix); and a report with the largest variance."""
    check_psd = as_flag(check_psd, "check_psd")
    if isinstance(cov, FactorCovariance):
        return cov._model(), cov._scale_report()  # positive semidefinite by construction
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

    def __init__(self, cov: Matrix, *, check_psd: bool = True) -> None:
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
        self._psd: _core.PsdReport | _Verdict | None = None  # the PSD report, once the test has run
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
        # the matrix, its PSD verdict and a digest of both: unpickling re-runs the O(n^2) scan and
        # re-hashes the matrix, and skips the O(n^3) PSD test when the digest matches
        verdict = None if self._psd is None else _Verdict(bool(self._psd.psd), float(self._psd.min_eigenvalue),
                                                          float(self._psd.max_eigenvalue))
        return (_rebuild_covariance, (np.array(self._matrix), self._labels, verdict,
                                      _matrix_digest(self._matrix, verdict)))

    def __repr__(self) -> str:
        return f"Covariance(n={self.n}, labelled={self._labels is not None}, psd_checked={self.psd_checked})"


class _Verdict(NamedTuple):
    """A PSD test's verdict as it travels in a pickle (the fields of the core's PsdReport)."""

    psd: bool
    min_eigenvalue: float
    max_eigenvalue: float


def _matrix_digest(matrix: np.ndarray, verdict: _Verdict | None) -> bytes:
    """SHA-256 of the matrix's shape and bytes and of the verdict."""
    h = hashlib.sha256()
    h.update(np.asarray(matrix.shape, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(matrix, dtype=np.float64).data.cast("B"))
    h.update(repr(None if verdict is None else tuple(verdict)).encode())
    return h.digest()


def _rebuild_covariance(matrix: np.ndarray, labels: tuple[Any, ...] | None, verdict: Any,
                        digest: bytes = b"") -> Covariance:
    """Unpickles a Covariance: the O(n^2) scan always runs; the PSD verdict is kept when the digest
    matches, and a payload that no longer matches it (edited or corrupted on the way) is refused
    (_sealed). A pickle from before verdicts travelled (its third field a flag) is tested again."""
    c = Covariance(matrix, check_psd=False)
    c._labels = labels
    if isinstance(verdict, tuple) and len(verdict) == 3 and digest:
        c._psd = _Verdict(*verdict)
        require_digest(_matrix_digest(c._matrix, c._psd) == digest, "Covariance")
    elif verdict:  # a pickle from before verdicts travelled: the flag asks for the test
        c._checked(True)
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


# -- the factor model ------------------------------------------------------------------------------
#: ``to_dense`` refuses more assets than this unless its ``max_n`` says otherwise: the matrix takes
#: 8 n^2 bytes (3.2 GB at n = 20,000), and every product with it costs O(n^2).
DENSE_MAX_N = 20_000


class FactorCovariance(CovarianceObject):
    """A factor-model covariance S = X F X' + diag(d), validated once and never formed.

    X holds the assets' loadings on k factors (n x k), F the factors' covariance (k x k) and d the
    assets' specific (idiosyncratic) variances (n). The model takes O(n k) memory where the matrix
    takes O(n^2), and a product S w costs O(n k): it suits large universes (thousands of assets and
    more) whose covariance is estimated with few factors.

    Construction copies the three arrays into read-only storage owned by this object (they cannot
    change behind its back) and checks them once, in O(n k^2 + k^3): every entry finite; F
    symmetric (``|F_ij - F_ji| <= 1e-10 sqrt(F_ii F_jj)``, stored as (F + F') / 2) and positive
    semidefinite (the smallest eigenvalue of its correlation matrix at least ``-1e-10 k``); d >= 0,
    with d_i = 0 only where the factor part x_i'F x_i gives asset i a variance above
    ``1e-10 k`` times the largest variance; and the scale limits of a dense covariance (the largest
    variance at least 1e-290; ``n k^2 max|X|^2 max|F|`` and ``n max d`` at most 1e300, so no
    product of the model overflows). Each failure raises an :class:`~microalloc.errors.InputError`
    subclass naming ``loadings``, ``factor_cov`` or ``specific_var`` and the entry, by label when
    labelled.

    Parameters
    ----------
    loadings : (n, k) array_like or pandas.DataFrame
        A DataFrame's index labels the assets, its columns name the factors.
    factor_cov : (k, k) array_like or pandas.DataFrame
        A DataFrame is aligned to the factors' names (rows and columns, in any order), or refused.
    specific_var : (n,) array_like or pandas.Series
        A Series is aligned to the assets' labels, or refused. With unlabelled loadings, a Series'
        index labels the assets.

    See Also
    --------
    FactorCovariance.from_returns : a statistical (principal-component) model from returns.
    FactorCovariance.from_exposures : a fundamental model from returns and given exposures.
    """

    __module__ = "microalloc"
    __slots__ = ("_loadings", "_factor_cov", "_specific", "_variances", "_labels", "_factors", "_index",
                 "_digest", "_core_model", "__weakref__")
    #: numpy defers ``w @ model`` to :meth:`__rmatmul__` instead of reading the model as an array
    __array_ufunc__ = None

    def __init__(self, loadings: Matrix, factor_cov: Matrix, specific_var: Vector) -> None:
        labels, factors, x, f, d = _read_factor_inputs(loadings, factor_cov, specific_var)
        self._build(x, f, d, labels, factors)

    def _build(
        self, x: np.ndarray, f: np.ndarray, d: np.ndarray, labels: Sequence[Any] | None,
        factors: Sequence[Any] | None, variances: np.ndarray | None = None,
    ) -> None:
        """Owns read-only copies of the arrays and checks them (the checks are skipped when the
        variances come with them: an unpickled model whose digest matched)."""
        x, f, d = _owned(x), _owned(f), _owned(d)  # copied first: the checks see what is kept
        model = None
        if variances is None:
            f, variances, model = _check_factor_model(x, f, d, labels, factors)
        self._loadings, self._factor_cov, self._specific = x, f, d
        self._variances = _owned(variances)
        self._labels = None if labels is None else tuple(labels)
        self._factors = None if factors is None else tuple(factors)
        self._index = None  # the labels as a pandas Index, built on first use (for alignment)
        self._digest: bytes | None = None
        self._core_model = model

    @classmethod
    def _from_arrays(
        cls, x: np.ndarray, f: np.ndarray, d: np.ndarray, labels: Sequence[Any] | None,
        factors: Sequence[Any] | None,
    ) -> "FactorCovariance":
        """A model from plain arrays and labels (the estimators), checked in full."""
        _check_labels(labels, x.shape[0], "loadings", "asset labels")
        _check_labels(factors, x.shape[1], "loadings", "factor names")
        self = cls.__new__(cls)
        self._build(x, f, d, labels, factors)
        return self

    # -- estimators ---------------------------------------------------------------------------
    @classmethod
    def from_returns(
        cls, returns: Matrix, n_factors: int, *, specific_floor: float = 1e-3
    ) -> "FactorCovariance":
        """A statistical factor model: the first principal components of a panel of returns.

        The returns are demeaned per asset, C (T x n), and their leading singular vectors found
        without an n x n matrix (T < n is allowed): with T > n by LAPACK's economy SVD of C; with
        T <= n through the T x T matrix C C' and a Rayleigh-Ritz step (the same components to
        rounding, see ``_estimators._leading_components``). The loadings are the first
        ``n_factors`` right singular vectors (orthonormal columns, each signed so that its entries
        sum to >= 0); F is diagonal, the components' sample variances s_j^2 / (T - 1); d_i is the
        sample variance of asset i's residual after the components (computed from the residual
        itself, not as total minus explained), floored at ``specific_floor`` times the asset's
        sample variance so that no asset is without specific risk. Before the floor, the model's
        variances are the sample variances. Time O(T n min(T, n)) for the components (one
        product C C' when T <= n) and O(T n k) for the rest; memory O(T n + T^2).

        Parameters
        ----------
        returns : (T, n) array_like or pandas.DataFrame
            One row per period, one column per asset (a DataFrame's columns label the assets), at
            least 2 periods. Missing values (NaN) are refused, naming the entry: drop or fill them
            first. An asset whose returns are constant (zero sample variance) is refused.
        n_factors : int
            Number of components, 1 <= n_factors <= min(T - 1, n), and at most the number of
            components whose variance exceeds max(T, n) * 2.2e-16 of the first's (the numerical
            rank of the demeaned returns).
        specific_floor : float
            The least specific variance, as a fraction of the asset's sample variance, in (0, 1].

        The factors are named ``"PC1"``, ``"PC2"``, ...
        """
        from ._estimators import estimated, principal_components

        model = principal_components(returns, n_factors, specific_floor)
        return estimated(cls, model, {"loadings": "returns", "factor_cov": "returns", "specific_var": "returns"})

    @classmethod
    def from_exposures(cls, returns: Matrix, exposures: Matrix, *, specific_floor: float = 1e-3) -> "FactorCovariance":
        """A fundamental factor model: given exposures, factor returns by cross-sectional regression.

        For each period t the factor returns f_t are the least-squares fit of that period's asset
        returns r_t on the exposures X (n x k, e.g. sector dummies and style scores), through one
        QR factorisation of X. F is the sample covariance of the f_t; d_i the sample variance of
        asset i's residuals r_ti - x_i'f_t, floored at ``specific_floor`` times the asset's sample
        variance. The loadings of the model are the exposures. Time O(T n k + n k^2), memory
        O(T n + n k).

        Parameters
        ----------
        returns : (T, n) array_like or pandas.DataFrame
            As for :meth:`from_returns` (missing values refused; a constant asset refused).
        exposures : (n, k) array_like or pandas.DataFrame
            One row per asset: a DataFrame's index is aligned to the returns' columns (or refused),
            its columns name the factors. It must have full column rank (k <= n, no column a
            combination of the others: a dummy for every sector and an intercept is refused).
        specific_floor : float
            The least specific variance, as a fraction of the asset's sample variance, in (0, 1].
        """
        from ._estimators import cross_sectional, estimated

        model = cross_sectional(returns, exposures, specific_floor)
        return estimated(cls, model, {"loadings": "exposures", "factor_cov": "returns", "specific_var": "returns"})

    # -- the model ----------------------------------------------------------------------------
    @property
    def loadings(self) -> np.ndarray:
        """The (n, k) loadings X, read-only."""
        return self._loadings

    @property
    def factor_cov(self) -> np.ndarray:
        """The (k, k) factor covariance F (symmetric), read-only."""
        return self._factor_cov

    @property
    def specific_var(self) -> np.ndarray:
        """The (n,) specific variances d, read-only."""
        return self._specific

    @property
    def n(self) -> int:
        return int(self._loadings.shape[0])

    @property
    def k(self) -> int:
        """Number of factors."""
        return int(self._loadings.shape[1])

    @property
    def labels(self) -> tuple[Any, ...] | None:
        """Asset labels (None when built from plain arrays)."""
        return self._labels

    @property
    def factors(self) -> tuple[Any, ...] | None:
        """Factor names (None when built from plain arrays)."""
        return self._factors

    def _label_index(self) -> Any:
        """The labels as a pandas Index, kept: aligning inputs to it costs no O(n) rebuild per call."""
        if self._index is None and self._labels is not None:
            import pandas as pd

            self._index = pd.Index(list(self._labels))
        return self._index

    def diagonal(self) -> np.ndarray:
        """The assets' variances x_i'F x_i + d_i (read-only)."""
        return self._variances

    @property
    def volatilities(self) -> np.ndarray:
        """Square roots of the variances."""
        return np.sqrt(self._variances)

    def apply(self, w: ArrayLike) -> np.ndarray:
        """S w for a vector of n weights, or W S (one row S w_r per portfolio) for an (m, n) block,
        in O(n k) per portfolio. A Series (DataFrame) is aligned to the assets by its index
        (columns), or refused. ``model @ w`` and ``w @ model`` are the same (S is symmetric)."""
        a = np.ascontiguousarray(self._weights(w))
        model = self._model()  # the core's operator, the one the solvers use
        y = model.apply(a) if a.ndim == 1 else model.apply_rows(a)
        if not np.isfinite(y).all():
            raise InputError("w", f"S w overflows (max |w| = {_num(np.abs(a).max())}): rescale the weights")
        return y

    def __matmul__(self, w: ArrayLike) -> np.ndarray:
        return self.apply(w)

    def __rmatmul__(self, w: ArrayLike) -> np.ndarray:
        return self.apply(w)

    def _weights(self, w: Any) -> np.ndarray:
        a = _as_float_array(align(w, self._label_index(), "w"), "w")
        n = self.n
        if a.ndim not in (1, 2) or a.shape[-1] != n:
            raise ShapeError("w", f"expected shape ({n},) or (m, {n}), got {a.shape}")
        bad = _core.find_non_finite(np.ascontiguousarray(a).reshape(-1), False)
        if bad is not None:
            where = _cell(bad[0], a, self._labels, None)
            raise NonFiniteError("w", f"{where} is {_num(bad[2])}; every entry must be finite")
        return a

    def to_dense(self, *, max_n: int = DENSE_MAX_N) -> np.ndarray:
        """The (n, n) matrix X F X' + diag(d), exactly symmetric, a new array: for small n (tests,
        comparisons, tools that need a matrix). More than ``max_n`` assets are refused: the matrix
        takes 8 n^2 bytes; use ``model @ w`` for products."""
        _positive_int(max_n, "max_n")
        if self.n > max_n:
            raise InputError("max_n", f"the model has n = {self.n} assets, above max_n = {int(max_n)}: the dense "
                             f"matrix would take {8 * self.n**2 / 1e9:.3g} GB; use model @ w (apply) for products "
                             "S w, or pass a larger max_n")
        x = self._loadings
        s = (x @ self._factor_cov) @ x.T
        s += s.T.copy()  # (X F) X' is symmetric up to rounding: made exactly so
        s *= 0.5
        s[np.diag_indices_from(s)] += self._specific
        return s

    def _scale_report(self) -> Any:
        """What the scale checks read of a covariance (as the core's report of a matrix)."""
        return _ScaleReport(float(self._variances.max()), float(self._variances.mean()))

    def _restricted_model(self, assets: np.ndarray) -> Any:
        """The core's FactorModel of these assets alone (their loadings' rows, the same factors)."""
        return _core.FactorModel(np.ascontiguousarray(self._loadings[assets]), self._factor_cov,
                                 np.ascontiguousarray(self._specific[assets]))

    def _model(self) -> Any:
        """The core's FactorModel over the stored arrays (built once, kept), or None when this build
        of the core has none."""
        if self._core_model is None:
            factory = getattr(_core, "FactorModel", None)
            if factory is None:
                return None
            self._core_model = factory(self._loadings, self._factor_cov, self._specific)
        return self._core_model

    # -- pickling -------------------------------------------------------------------------------
    def _content_digest(self) -> bytes:
        if self._digest is None:
            self._digest = _factor_digest(self._loadings, self._factor_cov, self._specific, self._variances)
        return self._digest

    def __reduce__(self) -> tuple[Any, ...]:
        # the arrays with a digest of their bytes: unpickling re-hashes them (O(n k)) and skips
        # the O(n k^2) checks when the digest matches
        return (_rebuild_factor_covariance, (self._loadings, self._factor_cov, self._specific, self._variances,
                                             self._labels, self._factors, self._content_digest()))

    def __repr__(self) -> str:
        return f"FactorCovariance(n={self.n}, k={self.k}, labelled={self._labels is not None})"


class _ScaleReport(NamedTuple):
    max_variance: float
    mean_variance: float


def _rebuild_factor_covariance(
    x: Any, f: Any, d: Any, variances: Any, labels: Any, factors: Any, digest: bytes
) -> FactorCovariance:
    """Unpickles a model: the arrays are re-hashed (O(n k)) and the O(n k^2) checks skipped; a
    payload that no longer matches its digest (edited or corrupted on the way) is refused (_sealed)."""
    x, f, d, variances = (_as_float_array(a, name) for a, name in (
        (x, "loadings"), (f, "factor_cov"), (d, "specific_var"), (variances, "specific_var")))
    _check_factor_shapes(x, f, d)
    _check_labels(labels, x.shape[0], "loadings", "asset labels")
    _check_labels(factors, x.shape[1], "loadings", "factor names")
    require_digest(variances.shape == d.shape and _factor_digest(x, f, d, variances) == digest, "FactorCovariance")
    self = FactorCovariance.__new__(FactorCovariance)
    self._build(x, f, d, labels, factors, variances)
    return self


def _factor_digest(*arrays: np.ndarray) -> bytes:
    """SHA-256 of the arrays' shapes and bytes (each float64, C-ordered)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.asarray(a.shape, dtype=np.int64).tobytes())
        h.update(a.data.cast("B"))
    return h.digest()


def _owned(a: np.ndarray) -> np.ndarray:
    """A read-only float64 C-ordered copy (a view of read-only memory cannot be made writeable)."""
    owner = np.array(a, dtype=np.float64, order="C", copy=True)
    owner.flags.writeable = False
    return owner.view()


def _check_labels(labels: Sequence[Any] | None, size: int, name: str, what: str) -> None:
    if labels is None:
        return
    if len(labels) != size:
        raise ShapeError(name, f"{len(labels)} {what} for {size} rows or columns")
    import pandas as pd

    index = pd.Index(list(labels))
    if index.has_duplicates:
        raise InputError(name, f"{what} repeat: {_few(index[index.duplicated()].unique())} (each label once)")


def _read_factor_inputs(
    loadings: Any, factor_cov: Any, specific_var: Any
) -> tuple[Any, Any, np.ndarray, np.ndarray, np.ndarray]:
    """The three arrays, shaped and aligned by label: (labels, factors, X, F, d)."""
    labelled_x = is_pandas(loadings) and getattr(loadings, "ndim", 0) == 2
    labelled_f = is_pandas(factor_cov) and getattr(factor_cov, "ndim", 0) == 2
    labels = loadings.index if labelled_x else (
        specific_var.index if is_pandas(specific_var) and getattr(specific_var, "ndim", 0) == 1 else None)
    factors = loadings.columns if labelled_x else (factor_cov.columns if labelled_f else None)
    if labels is not None:
        _check_labels(labels, len(labels), "loadings" if labelled_x else "specific_var", "asset labels")
    if factors is not None:
        _check_labels(factors, len(factors), "loadings" if labelled_x else "factor_cov", "factor names")
    if labelled_f:
        # rows follow the columns, then both follow the factors' names
        factor_cov = align(factor_cov, factor_cov.columns, "factor_cov", axis="rows", what="its column",
                           subject="row labels")
        if labelled_x:
            factor_cov = align(factor_cov, factors, "factor_cov", what="the factors'", subject="column labels")
            factor_cov = align(factor_cov, factors, "factor_cov", axis="rows", what="the factors'",
                               subject="row labels")
    specific_var = align(specific_var, labels, "specific_var")
    x = _as_float_array(loadings, "loadings")
    f = _as_float_array(factor_cov, "factor_cov")
    d = _as_float_array(specific_var, "specific_var")
    _check_factor_shapes(x, f, d)
    return (None if labels is None else list(labels), None if factors is None else list(factors), x, f, d)


def _check_factor_shapes(x: np.ndarray, f: np.ndarray, d: np.ndarray) -> None:
    if x.ndim != 2:
        raise ShapeError("loadings", f"expected an (n, k) matrix (assets by factors), got shape {x.shape}")
    n, k = x.shape
    if n == 0 or k == 0:
        raise ShapeError("loadings", f"expected at least one asset and one factor, got shape {x.shape}")
    if f.shape != (k, k):
        raise ShapeError("factor_cov", f"expected shape ({k}, {k}) (a row and a column per factor of the "
                         f"loadings), got {f.shape}")
    if d.shape != (n,):
        raise ShapeError("specific_var", f"expected shape ({n},) (one per asset of the loadings), got {d.shape}")


def _check_factor_model(
    x: np.ndarray, f: np.ndarray, d: np.ndarray, labels: Sequence[Any] | None, factors: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray, _core.FactorModel]:
    """Every check of a factor model (O(n k^2 + k^3)); returns F made exactly symmetric (read-only),
    the assets' variances and the core's model of them (built here: its one O(n k^2) product,
    V = X R with F = R R', gives the variances as well)."""
    _require_finite(x, "loadings", factors, labels)
    _require_finite(f, "factor_cov", factors, factors)
    _require_finite(d, "specific_var", None, labels)
    f = _owned(_check_factor_cov(f, factors))
    neg = np.flatnonzero(d < 0)
    if neg.size:
        i = neg[0]
        raise InputError("specific_var", f"{_entry(labels, i)} = {_num(d[i])} is negative (a variance); "
                         f"{neg.size} such entries")
    _check_factor_scales(x, f, d)
    model = _core.FactorModel(x, f, d)
    variances = np.array(model.diagonal())
    factor_part = variances - d
    _check_variances(factor_part, d, variances, x.shape[1], labels)
    return f, variances, model


def _require_finite(a: np.ndarray, name: str, columns: Sequence[Any] | None, rows: Sequence[Any] | None) -> None:
    bad = _core.find_non_finite(a.reshape(-1), False)
    if bad is None:
        return
    at, count, value = bad
    where = _cell(at, a, rows if a.ndim == 1 else columns, rows)
    raise NonFiniteError(name, f"{where} is {_num(value)}; every entry must be finite ({count} such entries)")


def _check_factor_cov(f: np.ndarray, factors: Sequence[Any] | None) -> np.ndarray:
    """F symmetric and positive semidefinite (relative tolerances); returns (F + F') / 2."""
    name, diag = "factor_cov", np.diagonal(f)
    neg = np.flatnonzero(diag < 0)
    if neg.size:
        j = neg[0]
        raise NotPSDError(name, f"variance {name}{_at(factors, j, j)} = {_num(diag[j])} is negative")
    root = np.sqrt(diag)
    with np.errstate(over="ignore"):  # a difference of entries near the float64 limit is inf: not symmetric
        excess = np.abs(f - f.T) - SYMMETRY_TOL * np.outer(root, root)
    if (excess > 0).any():
        i, j = (int(v) for v in np.unravel_index(np.argmax(excess), excess.shape))
        a, b = _nums(f[i, j], f[j, i])
        raise NotSymmetricError(name, f"not symmetric: {name}{_at(factors, i, j)} = {a} but "
                                f"{name}{_at(factors, j, i)} = {b}")
    sym = f * 0.5 + f.T * 0.5  # halves first: no overflow near the float64 limit
    # the test of a dense covariance: the correlation matrix's smallest eigenvalue >= -PSD_TOL k
    # (a factor of zero variance scaled by the largest, so its row is judged at F's scale)
    top = diag.max()
    scale = np.sqrt(np.where(diag > 0, diag, top if top > 0 else 1.0))
    k = f.shape[0]
    if np.linalg.eigvalsh(sym / np.outer(scale, scale))[0] < -PSD_TOL * k:
        eig = np.linalg.eigvalsh(sym)
        raise NotPSDError(name, f"not positive semidefinite: smallest eigenvalue {eig[0]:.6g} (largest "
                          f"{eig[-1]:.6g}); repair it first (eigenvalue clipping, shrinkage)")
    return sym


def _check_factor_scales(x: np.ndarray, f: np.ndarray, d: np.ndarray) -> None:
    """The overflow limit of a dense covariance (n max variance <= SCALE_HUGE), through a bound that
    also covers every intermediate of S w: |X' w|, |F X' w| and |S w| stay below it for |w| <= 1."""
    n, k = x.shape
    with np.errstate(over="ignore", invalid="ignore"):  # inf * 0 is nan, and refused
        xmax, fmax, dmax = max(x.max(), -x.min()), np.abs(f).max(), d.max()  # no n x k temporary
        bound = n * np.float64(k) ** 2 * xmax * xmax * fmax
        if not bound <= SCALE_HUGE:  # nan (inf * 0) too: X' w itself overflows
            # both may be within range: blame the one further from a plausible size (1)
            name = "loadings" if _magnitude(xmax * xmax) >= _magnitude(fmax) else "factor_cov"
            shown = np.inf if np.isnan(bound) else bound  # nan: inf * 0
            raise InputError(name, f"n k^2 max|loadings|^2 max|factor_cov| = {_fmt(shown)} exceeds {_fmt(SCALE_HUGE)}: "
                             "the factor part's products overflow (rescale the returns or the loadings)")
        if n * dmax > SCALE_HUGE:
            raise InputError("specific_var", f"n * max specific variance = {_fmt(n * dmax)} exceeds "
                             f"{_fmt(SCALE_HUGE)}: the risk overflows (rescale the returns)")


def _magnitude(v: float) -> float:
    """How many orders of magnitude v is from 1 (inf for 0 and inf)."""
    return abs(math.log10(v)) if 0 < v < np.inf else np.inf


def _check_variances(
    factor_part: np.ndarray, d: np.ndarray, variances: np.ndarray, k: int, labels: Sequence[Any] | None
) -> None:
    """Every asset has a positive variance: d_i > 0, or a factor part above PSD_TOL k of the largest
    variance (below that, rounding and the PSD tolerance leave its sign in doubt)."""
    top = variances.max()
    if top < SCALE_TINY:
        name = "specific_var" if d.max() >= factor_part.max() else "loadings"
        raise InputError(name, f"the largest variance is {_fmt(top)}, below {_fmt(SCALE_TINY)}: products of the "
                         "covariance underflow (rescale the returns, e.g. to percent)")
    floor = PSD_TOL * k * top
    bad = np.flatnonzero(((d == 0) & (factor_part <= floor)) | (variances <= 0))
    if bad.size:
        i = bad[0]
        raise InputError("specific_var", f"{_entry(labels, i)} = {_num(d[i])} and the factors give asset "
                         f"{_at(labels, i)[1:-1]} a variance of {_num(factor_part[i])} (not above {_fmt(floor)}, "
                         f"1e-10 k of the largest variance): every asset needs a positive variance; "
                         f"{bad.size} such assets")


#: a covariance in a public signature: a matrix (array, DataFrame) or a validated covariance object
CovarianceLike: TypeAlias = Union[ArrayLike, Covariance, FactorCovariance]
