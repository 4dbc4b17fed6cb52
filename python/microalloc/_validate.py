"""Input normalisation and validation, run before any C++ code: the generic validators and the
label rules (the covariance's own checks live in :mod:`microalloc.covariance`).

Every array is turned into a float64, C-ordered numpy array (a copy is made only when the dtype or
the memory order differ), so it crosses into C++ without another copy. Each failure raises an
:class:`~microalloc.errors.InputError` subclass naming the argument.
"""

from __future__ import annotations

from collections.abc import Mapping

import functools
import math
import os
import sys
from typing import Any, Sequence, TypeGuard

import numpy as np

from . import _core
from .errors import InfeasibleError, InputError, NonFiniteError, ShapeError

EMPTY = np.empty(0)
_F64 = np.dtype(np.float64)


def is_pandas(x: object) -> TypeGuard[Any]:
    """Whether ``x`` is a pandas object (for the type checker: then anything pandas offers)."""
    return type(x).__module__.partition(".")[0] == "pandas"


class CovarianceObject:
    """Base of the validated covariance objects (``microalloc.Covariance``,
    ``microalloc.FactorCovariance``, in :mod:`microalloc.covariance`): the label rules below read
    an object's asset labels from its ``labels`` and its ``_label_index()`` (a pandas Index)."""

    __slots__ = ()
    labels: Any

    def _label_index(self) -> Any:
        raise NotImplementedError


def labels_of(x: Any, axis: int = 0) -> Sequence[Any] | None:
    """Index labels of a pandas object (None for anything else)."""
    if type(x) is np.ndarray:
        return None
    if isinstance(x, CovarianceObject):
        return x.labels
    if not is_pandas(x):
        return None
    if axis == 1 or (hasattr(x, "columns") and axis == 0 and getattr(x, "ndim", 1) == 2):
        return list(x.columns)
    return list(x.index)


def _num(x: Any) -> str:
    """A number as plain text for messages: ``0.9``, not ``np.float64(0.8999999999999999)``."""
    try:
        return f"{float(x):.12g}"  # 12 digits: enough for any tolerance, none of the rounding noise
    except (TypeError, ValueError):
        return repr(x)


def _nums(a: Any, b: Any) -> tuple[str, str]:
    """Two numbers a message compares, with the fewest digits (at least 12) that tell them apart."""
    fa, fb = float(a), float(b)
    for digits in range(12, 17):  # then the shortest round-trip texts, which always differ
        ta, tb = f"{fa:.{digits}g}", f"{fb:.{digits}g}"
        if ta != tb or fa == fb:
            return ta, tb
    return repr(fa), repr(fb)


def _label_text(v: Any) -> str:
    """A label as a message shows it: ``'XOM'``, ``3``, ``2024-01-31`` (a date without a time)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (str, int, float, tuple)):
        return repr(v)
    if hasattr(v, "normalize") and hasattr(v, "date") and v == v.normalize():
        return str(v.date())
    return str(v)


def _few(values: Any, k: int = 5) -> str:
    """A few labels as a list, ``['a', 'b', ...] (12 in all)`` when there are more."""
    vals = list(values)
    shown = ", ".join(_label_text(v) for v in vals[:k])
    return f"[{shown}]" if len(vals) <= k else f"[{shown}, ...] ({len(vals)} in all)"


def _at(labels: Sequence[Any] | None, *idx: int) -> str:
    """A position as a subscript, by label when labelled: ``[3]``, ``['XOM']``, ``['XOM', 'CVX']``."""
    if labels is None:
        return "[" + ", ".join(str(int(i)) for i in idx) + "]"
    return "[" + ", ".join(_label_text(labels[int(i)]) for i in idx) + "]"


def _entry(labels: Sequence[Any] | None, *idx: int) -> str:
    """``entry [3]``, ``entry 'XOM'`` or ``entry ['XOM', 'CVX']``."""
    if labels is not None and len(idx) == 1:
        return f"entry {_label_text(labels[int(idx[0])])}"
    return f"entry {_at(labels, *idx)}"


def _row_entry(row: int, col: int, labels: Sequence[Any] | None, row_labels: Sequence[Any] | None = None) -> str:
    """``entry [row, col]`` of a matrix of rows (portfolios, problems, periods) by columns (the
    assets), each by label when labelled: ``entry [2, 'XOM']``."""
    r = str(int(row)) if row_labels is None else _label_text(row_labels[int(row)])
    c = str(int(col)) if labels is None else _label_text(labels[int(col)])
    return f"entry [{r}, {c}]"


def _asset_axis(x: Any, axis: str) -> Any:
    """The labels along the asset axis of a pandas object: a Series' index, a DataFrame's
    columns (``axis="rows"``: the index of either)."""
    return x.index if axis == "rows" or getattr(x, "ndim", 1) == 1 else x.columns


def require_entries(x: np.ndarray, ok: np.ndarray, name: str, labels: Sequence[Any] | None, rule: str) -> None:
    """InputError naming ``name`` at the first entry where ``ok`` is false: its label, its value and
    the rule it breaks, with the count of such entries."""
    bad = np.flatnonzero(~ok)
    if bad.size:
        k = int(bad[0])
        raise InputError(name, f"{_entry(labels, k)} = {_num(x[k])}; {rule} ({bad.size} such entries)")


def labelled(values: np.ndarray, labels: Sequence[Any] | None, name: str | None = None) -> Any:
    """A per-asset result as a Series on the assets' labels when the call was labelled, else as is."""
    if labels is None:
        return values
    import pandas as pd  # only reached when the caller passed pandas objects

    return pd.Series(values, index=labels, name=name)  # type: ignore[call-overload]  # labels: an Index, list or tuple (the stubs refuse a Sequence: it may be a str)


def asset_labels(*inputs: Any) -> Sequence[Any] | None:
    """The assets' labels of a call: those of the first labelled input, in the order given (pass
    the covariance first: its labels win when it is labelled; then the per-asset arguments).
    A Series is labelled by its index, a DataFrame (or a Covariance) by its columns (returned as
    they are: a pandas Index, immutable, or a Covariance's tuple). None when no input is labelled."""
    for x in inputs:
        if isinstance(x, CovarianceObject):
            if x.labels is not None:
                return x._label_index()
        elif x is not None and is_pandas(x) and hasattr(x, "index"):
            return _asset_axis(x, "assets")
    return None


def align(
    x: Any, labels: Sequence[Any] | None, name: str, *, axis: str = "assets", what: str | None = None,
    subject: str = "labels",
) -> Any:
    """``x`` with its asset axis in the order of ``labels``: the one rule for labelled inputs.

    Unlabelled inputs (and any input when ``labels`` is None) pass unchanged: they are taken to be
    in the assets' order. A pandas input whose labels are the assets' labels in any order is
    reindexed to the assets' order; any other labelling (a missing, foreign or repeated label)
    raises an InputError naming ``name`` and a few of the labels at fault. The asset axis is a
    Series' index and a DataFrame's columns (``axis="rows"``: the index, e.g. the periods of a
    return series). ``what`` and ``subject`` word the message: "{subject} are not {what} labels".
    """
    if labels is None or not is_pandas(x) or not hasattr(x, "index"):
        return x
    import pandas as pd

    have = _asset_axis(x, axis)
    ref = labels if isinstance(labels, pd.Index) else pd.Index(list(labels))
    if have.equals(ref):
        return x
    if len(have) == len(ref) and have.is_unique and ref.is_unique:
        at = have.get_indexer(ref)  # where each asset's label sits in x
        if (at >= 0).all():  # the same labels in another order
            return x.iloc[at] if axis == "rows" or x.ndim == 1 else x.iloc[:, at]
    what = what or ("the periods'" if axis == "rows" else "the assets'")
    if have.has_duplicates:
        raise InputError(name, f"{subject} repeat: {_few(have[have.duplicated()].unique())} (each label once)")
    missing, foreign = ref[~ref.isin(have)], have[~have.isin(ref)]
    if len(missing) or len(foreign):
        parts = ([f"missing {_few(missing)}"] if len(missing) else []) + (
            [f"unknown {_few(foreign)}"] if len(foreign) else []
        )
        raise InputError(name, f"{subject} are not {what} labels: {'; '.join(parts)}")
    # the same set of unique labels in another order was aligned above: what is left is a
    # reference that repeats labels
    raise InputError(name, f"{subject} cannot be matched: {what} labels repeat {_few(ref[ref.duplicated()].unique())}")


def _as_float_array(x: Any, name: str) -> np.ndarray:
    if type(x) is np.ndarray and x.dtype == _F64 and x.flags.c_contiguous:
        return x  # the common case, without further checks
    if is_pandas(x):
        x = x.to_numpy()
    if isinstance(x, Mapping):  # the order of a dict's values is no asset order
        raise InputError(name, "got a dict: pass pandas.Series(d) to give values by label (aligned to the assets)")
    try:
        a = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise InputError(name, f"cannot be read as a numeric array ({exc})") from None
    if a.dtype.kind not in "fiub":
        raise InputError(name, f"expected real numbers, got an array of dtype {a.dtype}")
    return np.asarray(a, dtype=np.float64, order="C")


def as_vector(
    x: Any, n: int, name: str, *, allow_scalar: bool = False, allow_inf: bool = False,
    labels: Sequence[Any] | None = None,
) -> np.ndarray:
    """A length-n float64 vector in the assets' order (a labelled one aligned by :func:`align`);
    a scalar is broadcast when allowed."""
    a = _shaped_vector(align(x, labels, name), n, name, allow_scalar)
    bad = _core.find_non_finite(a, allow_inf)
    if bad is not None:
        k, count, value = bad
        what = "NaN" if allow_inf else "not finite"
        raise NonFiniteError(name, f"{_entry(labels, k)} is {_num(value)} ({what}); {count} such entries")
    return a


def _shaped_vector(x: Any, n: int, name: str, allow_scalar: bool) -> np.ndarray:
    a = _as_float_array(x, name)
    if a.ndim == 1 and a.shape[0] == n:
        return a
    if a.ndim == 0 and allow_scalar:
        return _constant(n, float(a))
    if a.ndim == 0:
        raise ShapeError(name, f"expected a vector of length {n}, got a scalar")
    raise ShapeError(name, f"expected shape ({n},), got {a.shape}")


def _constant(n: int, value: float) -> np.ndarray:
    """A read-only length-n vector of one value (scalar bounds broadcast on every call); small
    ones are shared between calls."""
    if n > _CONSTANT_MAX_N or value != value:  # large, or NaN (never a cache hit)
        a = np.full(n, value)
        a.flags.writeable = False
        return a
    return _cached_constant(n, value)


_CONSTANT_MAX_N = 65536


@functools.lru_cache(maxsize=16)
def _cached_constant(n: int, value: float) -> np.ndarray:
    a = np.full(n, value)
    a.flags.writeable = False
    return a


def as_scalar(
    x: Any, name: str, *, minimum: float | None = None, strict: bool = False, allow_inf: bool = False
) -> float:
    """A real number (never an array, even of one element); ``allow_inf`` lets +-inf through."""
    if getattr(x, "ndim", 0) != 0 or isinstance(x, (str, bytes, bool, np.bool_)):
        raise InputError(name, f"expected a single real number, got {_describe(x)}")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise InputError(name, f"expected a real number, got {_describe(x)}") from None
    if v != v or (not allow_inf and not math.isfinite(v)):
        raise NonFiniteError(name, f"must be {'a number' if allow_inf else 'finite'}, got {_num(v)}")
    if minimum is not None and (v < minimum or (strict and v == minimum)):
        raise InputError(name, f"must be {'>' if strict else '>='} {_num(minimum)}, got {_num(v)}")
    return v


def as_choice(x: Any, choices: Any, name: str) -> str:
    """One of the named options of a string argument (``combine="min"``, ``action="band_edge"``),
    exactly as spelled; anything else (another word, None, bytes, a list or array of words) raises
    an InputError naming ``name`` and listing the choices. ``choices`` is any iterable of strings
    (a mapping's keys), listed in the message in the order given."""
    options = list(choices)
    if isinstance(x, str) and x in options:  # a str first: a list or array is never hashed or compared
        return x
    raise InputError(name, f"expected one of {', '.join(repr(c) for c in options)}, got {_describe(x)}")


#: The most periods a year accepted for annualising: one a second over a leap year. More is a
#: mistake (a count of something else), and annualising by it overflows (growth ** periods).
MAX_PERIODS_PER_YEAR = 366 * 24 * 3600


def as_periods_per_year(x: Any) -> float:
    """Periods a year for annualising: one finite number > 0 and at most MAX_PERIODS_PER_YEAR
    (not a bool, a string or an array)."""
    v = as_scalar(x, "periods_per_year", minimum=0.0, strict=True)
    if v > MAX_PERIODS_PER_YEAR:
        raise InputError("periods_per_year", f"{_num(v)} is above the limit of {MAX_PERIODS_PER_YEAR} "
                         "(one period a second; 252 for daily, 12 for monthly data)")
    return v


def _describe(x: Any) -> str:
    """A short description of a rejected value (arrays by shape, not by content)."""
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) > 0:
        return f"an array of shape {tuple(shape)}"
    if isinstance(x, np.generic):  # a numpy scalar as the plain number it holds: -3, not np.int64(-3)
        x = x.item()
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def as_flag(x: Any, name: str) -> bool:
    """A yes/no argument (check_psd, raise_on_failure): True or False, as a Python or numpy bool.
    Anything else is refused, not read by its truth: ``"no"`` and ``nan`` are true, 2 is a typo and
    an array has no single truth value."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    raise InputError(name, f"expected True or False, got {_describe(x)}")


def _positive_int(x: Any, name: str, *, maximum: int | None = None) -> None:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
        raise InputError(name, f"expected a positive integer, got {_describe(x)}")
    if maximum is not None and x > maximum:
        raise InputError(name, f"{int(x)} is above the limit of {maximum}")


def default_threads() -> int:
    """The core's threads when a call does not say: ``MICROALLOC_THREADS`` when set; one inside a
    Dask worker's task (the worker already runs as many tasks at once as it has threads, so more
    would oversubscribe its cores); else the machine's cores."""
    env = os.environ.get("MICROALLOC_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            value = 0
        if not 1 <= value <= MAX_THREADS:
            raise InputError("MICROALLOC_THREADS", f"expected a positive integer up to {MAX_THREADS}, got {env!r}")
        return value
    return 1 if _in_dask_task() else (os.cpu_count() or 1)


def _in_dask_task() -> bool:
    distributed = sys.modules.get("distributed")  # never imported here: only if the caller runs on Dask
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:  # not in a worker's task
        return False
    return True


#: The most threads a call may ask for. Each is an OS thread with its own workspace, and the core
#: starts min(threads, tasks) of them, so a count far above the cores is a mistake: it is refused
#: (not clipped), which also keeps it inside the core's int range.
MAX_THREADS = max(1024, os.cpu_count() or 1)


def as_threads(threads: Any) -> int:
    """Validated worker-thread count for the core; None: :func:`default_threads`."""
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise InputError("threads", f"expected a positive integer (or None for all cores), got {_describe(threads)}")
    if threads > MAX_THREADS:
        raise InputError(
            "threads", f"{int(threads)} is above the limit of {MAX_THREADS} (this machine has {os.cpu_count()} cores)"
        )
    return int(threads)


#: The smallest tolerance let in, 64 u (u = 2**-52, the machine epsilon): a relative gap is a ratio
#: of sums whose terms are each rounded at u, so a tolerance within a few dozen u of it cannot be
#: certified; asking for one is refused rather than failing in the solver (near the floor, large
#: problems may still end NUMERICAL_ERROR: their sums round more).
TOL_MIN = 64 * float(np.finfo(np.float64).eps)
#: The frontier functions certify every turning point (and the minimum-variance start) at ``tol``,
#: and raise when one fails: they ask for a margin above the rounding of the sums in the gap.
FRONTIER_TOL_MIN = 1e-12


def as_tolerance(tol: Any, *, maximum: float | None = None, minimum: float = TOL_MIN) -> float:
    """A relative tolerance: one finite number in [minimum, maximum] (``maximum`` where a looser
    one would break a guarantee, e.g. the bounds of risk budgeting; ``minimum`` at least the
    rounding of float64, TOL_MIN)."""
    v = as_scalar(tol, "tol", minimum=0.0, strict=True)
    if v < minimum:
        raise InputError("tol", f"{_num(v)} is below {_fmt(minimum)}, the smallest this function can certify "
                         "(the rounding of float64 in the certificate's sums)")
    if maximum is not None and v > maximum:
        raise InputError("tol", f"{_num(v)} is above the largest tolerance of this solver, {_num(maximum)}")
    return v


def _tolerance_and_limit(tol: Any, max_iter: Any, *, max_tol: float | None = None) -> tuple[float, int]:
    """Validated (tol, max_iter), the limit clipped to the core's int range."""
    tol_f = as_tolerance(tol, maximum=max_tol)
    _positive_int(max_iter, "max_iter")
    return tol_f, int(min(max_iter, 2**31 - 1))


def as_bounds(
    lower: Any, upper: Any, n: int, budget: float, labels: Sequence[Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validated bound vectors in the assets' order (labelled ones aligned by :func:`align`; one
    C++ pass); infeasible bounds raise InfeasibleError."""
    lo = _shaped_vector(align(lower, labels, "lower"), n, "lower", True)
    up = _shaped_vector(align(upper, labels, "upper"), n, "upper", True)
    issue = _core.check_bounds(lo, up, budget)
    if issue is not None:
        _raise_for_bounds(*issue, labels=labels)
    return lo, up


def _raise_for_bounds(
    kind: Any, argument: int, k: int, count: int, value: float, other: float, *, labels: Sequence[Any] | None = None
) -> None:
    name = ("lower", "upper")[argument]
    issue = _core.BoundsIssue
    if kind == issue.NAN:
        raise NonFiniteError(name, f"{_entry(labels, k)} is nan (NaN); {count} such entries")
    if kind in (issue.LOWER_PLUS_INF, issue.UPPER_MINUS_INF):
        sign = "+inf" if kind == issue.LOWER_PLUS_INF else "-inf"
        raise InputError(name, f"{_entry(labels, k)} is {sign}; {count} such entries")
    a, b = _nums(value, other)
    if kind == issue.CROSSED:
        raise InfeasibleError(name, f"lower{_at(labels, k)} = {a} exceeds upper{_at(labels, k)} = {b}")
    if kind == issue.LOWER_ABOVE_BUDGET:
        raise InfeasibleError(name, f"sum(lower) = {a} exceeds budget = {b}: no portfolio is feasible")
    raise InfeasibleError(name, f"sum(upper) = {a} is below budget = {b}: no portfolio is feasible")


# -- scales --------------------------------------------------------------------------------------
#: Largest product of the data let in. With |S_ij| <= max variance (correlations within [-1, 1]),
#: (w-b)'S(w-b) <= n max_var max|w-b|^2 and mu'w <= n max|mu| max|w|: both, and the certificate's
#: sums and scales built from them, must stay below the float64 maximum (1.8e308) with room.
SCALE_HUGE = 1e300
#: Smallest largest-variance let in: terms down to 1e-16 of the largest must still be normal
#: numbers (above 2.2e-308), or products lose their relative precision unseen.
SCALE_TINY = 1e-290
#: The frontier's parameter tau = 1 / risk_aversion reaches about max_var max|w| / max|mu| and its
#: square enters the risk along the path: with max|mu| below 1e-150 of max_var max|w| it overflows;
#: the other way round (max|mu| above 1e150 times max_var max|w|) the risk aversions and the
#: products of mu with them along the path overflow. Both are refused.
FRONTIER_RATIO = 1e-150


def _fmt(x: float) -> str:
    return f"{float(x):.3g}"


def check_scales(
    report: Any, n: int, *, budget: float, mu: np.ndarray | None = None, benchmark: np.ndarray | None = None,
    risk_aversion: float | None = None, frontier: bool = False, mu_name: str = "mu", cov_name: str = "cov",
) -> None:
    """Refuse data whose products overflow or underflow in float64 (InputError naming the argument
    responsible), instead of reporting non-finite numbers. The limits: SCALE_HUGE, SCALE_TINY and,
    for the frontier and its targets, FRONTIER_RATIO (both ways). ``mu_name`` and ``cov_name`` are
    the caller's names of mu and the covariance (alpha, active_cov)."""
    with np.errstate(over="ignore"):  # products that overflow are inf, and refused below
        _check_scales(report, n, budget, mu, benchmark, risk_aversion, frontier, mu_name, cov_name)


def _check_scales(
    report: Any, n: int, budget: float, mu: np.ndarray | None, benchmark: np.ndarray | None,
    risk_aversion: float | None, frontier: bool, mu_name: str, cov_name: str,
) -> None:
    var = np.float64(report.max_variance)
    if var < SCALE_TINY:
        raise InputError(cov_name, f"the largest variance is {_fmt(var)}, below {_fmt(SCALE_TINY)}: products of the "
                         "covariance underflow (rescale the returns, e.g. to percent)")
    bmax = np.abs(benchmark).max() if benchmark is not None and benchmark.size else np.float64(0.0)
    w = np.float64(max(1.0, abs(budget)))  # the size of the weights: the budget, or 1 for a long-short book
    if n * var * w * w > SCALE_HUGE:
        name = "budget" if n * var <= SCALE_HUGE else cov_name  # the budget alone tips it over
        raise InputError(name, f"n * max variance * max(1, |budget|)^2 = {_fmt(n * var * w * w)} exceeds "
                         f"{_fmt(SCALE_HUGE)}: the risk overflows (rescale the returns or the budget)")
    risk = n * var * (w + bmax) ** 2  # the largest (w-b)'S(w-b)
    if bmax and risk > SCALE_HUGE:
        # a benchmark of the weights' size at most cannot be blamed: the covariance is too large
        name = "benchmark" if bmax > w else cov_name
        raise InputError(name, f"max |benchmark| = {_fmt(bmax)}: n * max variance * max|w - b|^2 = "
                         f"{_fmt(risk)} exceeds {_fmt(SCALE_HUGE)}, the active risk overflows")
    mmax = np.abs(mu).max() if mu is not None and mu.size else np.float64(0.0)
    if n * mmax * (w + bmax) > SCALE_HUGE:
        raise InputError(mu_name, f"max |{mu_name}| = {_fmt(mmax)}: n * max|{mu_name}| * max|w| = "
                         f"{_fmt(n * mmax * (w + bmax))} exceeds {_fmt(SCALE_HUGE)}, the expected return overflows")
    if risk_aversion is not None and risk_aversion * risk > SCALE_HUGE:
        # both factors are below the limit: blame the one further from a plausible size (1)
        name = "risk_aversion"
        if abs(math.log10(risk_aversion)) < abs(math.log10(risk)):
            name = "benchmark" if bmax > w else cov_name
        raise InputError(name, f"risk_aversion = {_fmt(risk_aversion)} times the largest risk "
                         f"{_fmt(risk)} exceeds {_fmt(SCALE_HUGE)}: the objective overflows")
    scale = var * (w + bmax)
    # the ratio of mu to the risk's scale is out of range: blame the one further from a plausible size (1)
    ratio_name = mu_name if mmax == 0 or abs(math.log10(mmax)) >= abs(math.log10(scale)) else cov_name
    if frontier and 0.0 < mmax < FRONTIER_RATIO * scale:
        raise InputError(ratio_name, f"max |{mu_name}| = {_fmt(mmax)} is below {_fmt(FRONTIER_RATIO)} of max variance * "
                         f"max|w| = {_fmt(scale)}: the frontier's risk aversions underflow "
                         f"(1 / risk_aversion overflows); rescale {mu_name} or the covariance")
    if frontier and mmax * FRONTIER_RATIO > scale:
        raise InputError(ratio_name, f"max |{mu_name}| = {_fmt(mmax)} is above 1 / {_fmt(FRONTIER_RATIO)} times max "
                         f"variance * max|w| = {_fmt(scale)}: the frontier's risk aversions overflow "
                         f"(the path's products of {mu_name} are not finite); rescale {mu_name} or the covariance")


def row_scale_violations(
    report: Any, n: int, m: int, *, budget: np.ndarray, mu: np.ndarray, benchmark: np.ndarray,
    risk_aversion: np.ndarray,
) -> np.ndarray:
    """The limits of :func:`check_scales`, row by row for a batch: a boolean (m,) mask of the
    problems whose products overflow (each of ``mu`` and ``benchmark`` is (1, n), (m, n) or empty;
    ``budget`` and ``risk_aversion`` (1,) or (m,)). The covariance's own limits (the same for every
    row) raise as in :func:`check_scales`."""
    var = np.float64(report.max_variance)
    if var < SCALE_TINY or n * var > SCALE_HUGE:
        check_scales(report, n, budget=1.0)  # raises naming cov
    with np.errstate(over="ignore", invalid="ignore"):
        w = np.maximum(1.0, np.abs(budget))
        bmax = np.abs(benchmark).max(axis=1) if benchmark.size else np.zeros(1)
        mmax = np.abs(mu).max(axis=1) if mu.size else np.zeros(1)
        active = n * var * (w + bmax) ** 2
        bad = (active > SCALE_HUGE) | (n * mmax * (w + bmax) > SCALE_HUGE) | (risk_aversion * active > SCALE_HUGE)
    return np.broadcast_to(bad, (m,))


def _cell(flat: int, a: np.ndarray, columns: Sequence[Any] | None, rows: Sequence[Any] | None) -> str:
    """The entry at a flat index of a vector (labelled by ``columns``) or a matrix (rows by columns),
    by label when labelled: ``entry 'XOM'``, ``entry ['XOM', 'value']``."""
    if a.ndim == 1:
        return _entry(columns, flat)
    row, col = divmod(int(flat), a.shape[1])
    return _row_entry(row, col, columns, rows)
