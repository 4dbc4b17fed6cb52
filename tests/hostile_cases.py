"""The catalogue behind tests/test_hostile.py: valid calls of every public function, hostile values
for each kind of argument, and the rule every outcome must obey.

How it fits together
--------------------
- :func:`make_problem` draws a small generic problem (2..8 assets, a random positive definite
  covariance of moderate scale, returns, feasible bounds, a benchmark) from a seed.
- ``SPECS`` is the one table: for each public function (or Frontier method) a :class:`Spec` says how to
  build valid keyword arguments from a problem, how to call, which parameters to corrupt and of
  which :class:`Kind` each is, and how to check a result (budget, bounds, finiteness, statuses).
- A :class:`Kind` lists its hostile values (:class:`Hostile`): NaN, infinities, empty, 0-d,
  ragged, strings, objects, complex, bool, wrong shapes, 1e300 / 1e-300 scales, foreign or
  shuffled pandas labels, bad scalars...
- :func:`run_case` draws one problem and, for every hostile value of the parameter's kind,
  corrupts that one argument, calls, and classifies the outcome (:class:`Outcome`).

Allowed outcomes: a result that passes its checks, or an ``InputError`` whose ``.argument`` is the
corrupted parameter and whose message is short and free of numpy reprs. Where the library cannot
know which of several arguments is the wrong one, the error may name another of them:

- ``Spec.coupled``: an ``InfeasibleError`` for a combination that has no solution (bounds that
  cross or miss the budget, a target out of reach of the data);
- ``MISMATCHING`` hostile values (a length or label set that disagrees with the other arguments'):
  any argument of the disagreement;
- ``Spec.together``: leaving out (None) one of arguments that go together;
- ``Spec.excuses``: listed one by one, each with its reason.

A hostile value marked ``aligned`` (shuffled labels, a list, strided or read-only memory, a
Covariance object) is a legitimate spelling of the same data: the result must equal the one of the
plain call. A numpy warning escaping the library (an error under the project's pytest settings) is
reported as such when the outcome is otherwise allowed.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from hypothesis import strategies as st

import microalloc as ma
from microalloc.errors import InfeasibleError, InputError, ShapeError

Status = ma.Status

# ------------------------------------------------------------------------------------------------
# Valid problems
# ------------------------------------------------------------------------------------------------


@dataclass
class Problem:
    n: int
    labels: list
    cov: np.ndarray
    mu: np.ndarray
    lower: Any
    upper: Any
    bench: np.ndarray
    rng: np.random.Generator


def make_problem(n: int, seed: int) -> Problem:
    """Generic data (no ties): a positive definite covariance with volatilities of 3%..100%,
    expected returns in [1%, 15%], vector bounds under which equal weights are feasible."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n + 2))
    c = a @ a.T / (n + 2) + 0.1 * np.eye(n)
    d = rng.uniform(0.03, 1.0, n) / np.sqrt(np.diag(c))
    c = c * d[:, None] * d[None, :]
    cov = (c + c.T) / 2
    mu = rng.uniform(0.01, 0.15, n)
    # distinct bounds per asset, so that bounds given in another order are noticed (scalar bounds
    # come from the hostile values)
    lower = rng.uniform(0.0, 0.5 / n, n)
    upper = rng.uniform(1.2 / n, 1.0, n)
    bench = rng.dirichlet(np.ones(n))
    labels = [f"A{i}" for i in range(n)]
    return Problem(n, labels, cov, mu, lower, upper, bench, rng)


# ------------------------------------------------------------------------------------------------
# Hostile values, by kind of argument
# ------------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a hostile-value maker may look at: the valid value, the whole valid call, the problem."""

    param: str
    value: Any
    kw: dict
    p: Problem
    draw: Callable


@dataclass(frozen=True)
class Hostile:
    name: str
    make: Callable[[Ctx], Any]
    #: "any": a checked result or a named InputError; "aligned": the same result as the plain data;
    #: "labelled": the whole call is first given pandas labels (the comparison base), then this argument
    #: is changed: "labelled-aligned" must give the base's result, "labelled-any" may also raise;
    #: "dated-aligned": return series with dates in another order: the result by date, or a named
    #: InputError (dates are not the assets: refusing them is as good as aligning them).
    expect: str = "any"


def _entry(ctx: Ctx, value: float) -> Any:
    v = _arr(ctx)
    idx = tuple(ctx.draw(st.integers(0, s - 1)) for s in v.shape)
    v[idx] = value
    if v.ndim == 2 and v.shape[0] == v.shape[1] and ctx.param in COV_PARAMS:
        v[idx[::-1]] = value  # keep a covariance symmetric
    return v


def _arr(ctx: Ctx) -> np.ndarray:
    """The valid value as a float array (a scalar bound broadcast to the n assets)."""
    v = np.array(_num(ctx.value), dtype=float, copy=True)
    return np.full(ctx.p.n, float(v)) if v.ndim == 0 else v


def _perm(ctx: Ctx, n: int) -> list:
    perm = ctx.draw(st.permutations(range(n)))
    if n > 1 and list(perm) == list(range(n)):
        perm = list(range(n))[::-1]
    return list(perm)


def _pandas_shuffled(ctx: Ctx) -> Any:
    """The labelled value with its assets in another order (same data by label)."""
    v = ctx.value
    perm = _perm(ctx, ctx.p.n)
    lab = [ctx.p.labels[i] for i in perm]
    if isinstance(v, pd.DataFrame):
        if ctx.param in COV_PARAMS:
            return v.loc[lab, lab]
        return v.loc[:, lab]
    if isinstance(v, pd.Series):
        return v.loc[lab]
    return v


def _pandas_index_shuffled(ctx: Ctx) -> Any:
    """A covariance DataFrame with its rows (only) reordered: consistent by label, not by position."""
    v = ctx.value
    if isinstance(v, pd.DataFrame):
        perm = _perm(ctx, ctx.p.n)
        return v.iloc[perm, :]
    return v


def _relabelled(ctx: Ctx, lab: list) -> Any:
    """The pandas value of ``ctx`` with its asset labels replaced by ``lab`` (anything else as is)."""
    v = ctx.value
    if isinstance(v, pd.DataFrame):
        out = v.copy()
        out.columns = lab
        if ctx.param in COV_PARAMS:
            out.index = lab
        return out
    if isinstance(v, pd.Series):
        out = v.copy()
        out.index = lab
        return out
    return v


def _pandas_foreign(ctx: Ctx) -> Any:
    """One label that is not an asset's."""
    k = ctx.draw(st.integers(0, ctx.p.n - 1))
    lab = list(ctx.p.labels)
    lab[k] = "FOREIGN"
    return _relabelled(ctx, lab)


def _pandas_duplicate(ctx: Ctx) -> Any:
    """A label used twice (and one missing)."""
    lab = list(ctx.p.labels)
    lab[-1] = lab[0]
    return _relabelled(ctx, lab)


def _pandas_na(ctx: Ctx) -> Any:
    """A nullable-float pandas object with one missing value (pd.NA)."""
    v = ctx.value
    if isinstance(v, (pd.Series, pd.DataFrame)):
        out = v.astype("Float64")
        if isinstance(out, pd.Series):
            out.iloc[0] = pd.NA
        else:
            out.iloc[0, 0] = pd.NA
        return out
    return v


def _labelled_covariance(ctx: Ctx) -> Any:
    """A Covariance built from the labelled DataFrame (it keeps the labels)."""
    v = ctx.value
    return ma.Covariance(v) if isinstance(v, pd.DataFrame) else v


def _non_contiguous(ctx: Ctx) -> Any:
    """The same numbers in strided (non-contiguous) memory."""
    v = _arr(ctx)
    big = np.repeat(v, 2, axis=-1)
    return big[..., ::2]


def _read_only(ctx: Ctx) -> Any:
    v = _arr(ctx)
    v.flags.writeable = False
    return v


def _ragged(ctx: Ctx) -> Any:
    v = _arr(ctx)
    if v.ndim == 2:
        rows = [list(r) for r in v]
        rows[0] = rows[0][:-1] if len(rows[0]) > 1 else rows[0] + [1.0]
        return rows
    out: list[Any] = list(v)
    out[0] = [out[0], 0.5]
    return out


def _object(ctx: Ctx) -> Any:
    v = _arr(ctx).astype(object)
    v.flat[0] = None
    return v


def _wrong_length(ctx: Ctx, delta: int) -> Any:
    v = _arr(ctx)
    if v.ndim == 0:
        return np.full(ctx.p.n + delta, float(v))
    if delta < 0:
        return v[..., :-1] if v.shape[-1] > 1 else v[..., :0]
    pad = np.zeros(v.shape[:-1] + (delta,))
    return np.concatenate([v, pad], axis=-1)


_SCALES = [
    Hostile("huge_1e300", lambda c: _arr(c) * 1e300),
    Hostile("tiny_1e-300", lambda c: _arr(c) * 1e-300),
]

ARRAY_COMMON = [
    Hostile("nan_entry", lambda c: _entry(c, np.nan)),
    Hostile("posinf_entry", lambda c: _entry(c, np.inf)),
    Hostile("neginf_entry", lambda c: _entry(c, -np.inf)),
    Hostile("huge_entry", lambda c: _entry(c, 1e300)),
    Hostile("empty", lambda c: np.array([])),
    Hostile("ragged", _ragged),
    Hostile("strings", lambda c: _arr(c).astype(str)),
    Hostile("word", lambda c: "abc"),
    Hostile("object_with_none", _object),
    Hostile("complex", lambda c: _arr(c) + 1j),
    Hostile("complex_zero_imag", lambda c: _arr(c).astype(complex)),
    Hostile("bool", lambda c: np.ones(_arr(c).shape, dtype=bool)),
    Hostile("too_short", lambda c: _wrong_length(c, -1)),
    Hostile("too_long", lambda c: _wrong_length(c, 1)),
    Hostile("three_d", lambda c: _arr(c).reshape((1, 1) + _arr(c).shape)),
    Hostile("none", lambda c: None),
    Hostile("dict", lambda c: {"a": 1.0}),
    Hostile("list", lambda c: _arr(c).tolist(), expect="aligned"),
    Hostile("non_contiguous", _non_contiguous, expect="aligned"),
    Hostile("read_only", _read_only, expect="aligned"),
    Hostile("float32", lambda c: _arr(c).astype(np.float32)),
    Hostile("integers", lambda c: np.round(_arr(c) * 100).astype(np.int64)),
    *_SCALES,
]

VECTOR = ARRAY_COMMON + [
    Hostile("zero_d", lambda c: np.array(float(_arr(c).flat[0]))),
    Hostile("python_float", lambda c: 0.5),
    Hostile("two_d_row", lambda c: _arr(c)[None, :]),
    Hostile("two_d_col", lambda c: _arr(c)[:, None]),
    Hostile("negative", lambda c: -np.abs(_arr(c)) - 0.01),
    Hostile("all_zero", lambda c: np.zeros_like(_arr(c))),
    Hostile("labels_shuffled", _pandas_shuffled, expect="labelled-aligned"),
    Hostile("labels_foreign", _pandas_foreign, expect="labelled-any"),
    Hostile("labels_duplicate", _pandas_duplicate, expect="labelled-any"),
    Hostile("pandas_na", _pandas_na, expect="labelled-any"),
]


def _crossed(ctx: Ctx) -> Any:
    """lower above upper at one asset (or upper below lower)."""
    n = ctx.p.n
    lo = np.broadcast_to(np.asarray(_num(ctx.kw.get("lower", 0.0)), float), (n,)).copy()
    up = np.broadcast_to(np.asarray(_num(ctx.kw.get("upper", 1.0)), float), (n,)).copy()
    k = ctx.draw(st.integers(0, n - 1))
    if ctx.param == "lower":
        lo[k] = min(up[k], 1.0) + 0.25
        return lo
    up[k] = max(lo[k], 0.0) - 0.25
    return up


def _sum_infeasible(ctx: Ctx) -> Any:
    n = ctx.p.n
    return np.full(n, 2.0 / n) if ctx.param == "lower" else np.full(n, 0.5 / n)


def _one_row_crossed(ctx: Ctx) -> Any:
    """Batch bounds, one row per problem (3), with the bounds of one problem crossed."""
    rows = np.vstack([np.broadcast_to(_arr(ctx), (ctx.p.n,))] * 3)
    k = ctx.draw(st.integers(0, 2))
    rows[k] = _crossed(ctx)
    return rows


BOUND = VECTOR + [
    Hostile("crossed", _crossed),
    Hostile("misses_budget", _sum_infeasible),
    Hostile("scalar_nan", lambda c: np.nan),
    Hostile("scalar_posinf", lambda c: np.inf),
    Hostile("scalar_neginf", lambda c: -np.inf),
    Hostile("scalar_true", lambda c: True),
    Hostile("scalar_str", lambda c: "0.5"),
]

SCALAR_VALUES: list[tuple[str, Any]] = [
    ("zero", 0),
    ("half", 0.5),
    ("negative", -1.0),
    ("nan", float("nan")),
    ("posinf", float("inf")),
    ("neginf", float("-inf")),
    ("true", True),
    ("false", False),
    ("numeric_string", "5"),
    ("word", "high"),
    ("two_pow_40", 2**40),
    ("none", None),
    ("huge", 1e300),
    ("tiny", 1e-300),
    ("complex", 1 + 1j),
    ("np_nan", np.float64("nan")),
    ("array_2", np.array([1.0, 2.0])),
    ("array_0d", np.array(0.5)),
    ("empty_list", []),
]

SCALAR = [Hostile(f"scalar_{k}", (lambda v: lambda c: v)(v)) for k, v in SCALAR_VALUES]

INT_VALUES: list[tuple[str, Any]] = [
    ("zero", 0),
    ("negative", -1),
    ("minus_2_pow_40", -(2**40)),
    ("fraction", 1.5),
    ("integral_float", 2.0),
    ("nan", float("nan")),
    ("posinf", float("inf")),
    ("true", True),
    ("false", False),
    ("numeric_string", "5"),
    ("two_pow_40", 2**40),
    ("two_pow_63", 2**63),
    ("none", None),
    ("np_int", np.int64(3)),
    ("np_int_negative", np.int64(-3)),
    ("array_2", np.array([3, 4])),
]

INTEGER = [Hostile(f"int_{k}", (lambda v: lambda c: v)(v)) for k, v in INT_VALUES]


def _choices(valid: str) -> list[Hostile]:
    values = [("empty", ""), ("unknown", "nope"), ("none", None), ("number", 5), ("upper_case", valid.upper()),
              ("bytes", valid.encode()), ("list", [valid]), ("array", np.array([valid, valid]))]
    return [Hostile(f"choice_{k}", (lambda v: lambda c: v)(v)) for k, v in values]


FLAG = [Hostile(f"flag_{k}", (lambda v: lambda c: v)(v)) for k, v in [
    ("none", None), ("string_no", "no"), ("two", 2), ("nan", float("nan")), ("array", np.array([True, False])),
]]


def _not_symmetric(ctx: Ctx) -> Any:
    v = _arr(ctx)
    v[0, -1] += 0.5 * math.sqrt(v[0, 0] * v[-1, -1])
    return v


def _not_psd(ctx: Ctx) -> Any:
    v = _arr(ctx)
    w, q = np.linalg.eigh(v)
    w[0] = -0.5 * w[-1]
    out = q @ np.diag(w) @ q.T
    return (out + out.T) / 2


def _diag_entry(ctx: Ctx, value: float) -> Any:
    v = _arr(ctx)
    k = ctx.draw(st.integers(0, ctx.p.n - 1))
    v[k, k] = value
    return v


def _cov_wrong_size(ctx: Ctx) -> Any:
    n = ctx.p.n
    out = np.eye(n + 1) * 0.04
    out[:n, :n] = ctx.value
    return out


COV_PARAMS = {"cov", "active_cov", "correlations"}

COV = ARRAY_COMMON + [
    Hostile("not_symmetric", _not_symmetric),
    Hostile("not_psd", _not_psd),
    Hostile("zero_variance", lambda c: _diag_entry(c, 0.0)),
    Hostile("negative_variance", lambda c: _diag_entry(c, -0.01)),
    Hostile("zero_by_zero", lambda c: np.zeros((0, 0))),
    Hostile("one_d", lambda c: np.diag(_arr(c))),
    Hostile("rectangular", lambda c: _arr(c)[:, :-1] if c.p.n > 1 else np.zeros((1, 2))),
    Hostile("one_bigger", _cov_wrong_size),
    Hostile("identity_bool", lambda c: np.eye(c.p.n, dtype=bool)),
    Hostile("covariance_object", lambda c: ma.Covariance(_arr(c)), expect="aligned"),
    Hostile("covariance_object_labelled", _labelled_covariance, expect="labelled-aligned"),
    Hostile("fortran_order", lambda c: np.asfortranarray(_arr(c)), expect="aligned"),
    Hostile("labels_duplicate", _pandas_duplicate, expect="labelled-any"),
    Hostile("pandas_na", _pandas_na, expect="labelled-any"),
    Hostile("labels_shuffled", _pandas_shuffled, expect="labelled-aligned"),
    Hostile("labels_rows_only_shuffled", _pandas_index_shuffled, expect="labelled-any"),
    Hostile("labels_foreign", _pandas_foreign, expect="labelled-any"),
]


def _rows_matrix(ctx: Ctx) -> np.ndarray:
    v = _arr(ctx)
    return v if v.ndim == 2 else v[None, :]


ROWS = ARRAY_COMMON + [
    Hostile("one_row_nan", lambda c: _entry(c, np.nan), expect="other-rows"),
    Hostile("wrong_m", lambda c: np.vstack([_rows_matrix(c)] * 3)[:5]),
    Hostile("zero_rows", lambda c: np.zeros((0, c.p.n))),
    Hostile("labels_shuffled", _pandas_shuffled, expect="labelled-aligned"),
    Hostile("labels_foreign", _pandas_foreign, expect="labelled-any"),
    Hostile("labels_duplicate", _pandas_duplicate, expect="labelled-any"),
]


def _series_shuffled_dates(ctx: Ctx) -> Any:
    """A time series whose dates are in another order (the same data by date)."""
    v = _arr(ctx)
    dates = pd.date_range("2024-01-01", periods=len(v), freq="D")
    perm = ctx.draw(st.permutations(range(len(v))))
    if list(perm) == list(range(len(v))):
        perm = list(range(len(v)))[::-1]
    s = pd.Series(v, index=dates)
    return s.iloc[list(perm)]


TIME_SERIES = ARRAY_COMMON + [
    Hostile("zero_d", lambda c: np.array(0.01)),
    Hostile("dates_shuffled", _series_shuffled_dates, expect="dated-aligned"),
]


def _policy_hostiles() -> list[Hostile]:
    P = ma.Policy

    def band(**kw: Any) -> Any:  # built directly: the builder would refuse these itself
        return P("band", **kw)

    def calendar(check: Any) -> Any:
        return P("calendar", check=check)

    values = [
        ("none", None), ("empty_list", []), ("empty_dict", {}), ("number", 1), ("string", "band"),
        ("list_of_ints", [1]), ("dict_of_str", {"a": "band"}),
        ("band_without_width", [band()]),
        ("band_negative", [band(absolute=-0.1)]),
        ("band_nan", [band(absolute=np.nan)]),
        ("band_string_width", [band(absolute="x")]),
        ("band_wrong_length", [band(absolute=[0.05] * 9)]),
        ("band_bad_action", [band(absolute=0.05, action="x")]),
        ("band_bad_combine", [band(absolute=0.05, relative=0.2, combine="avg")]),
        ("band_min_trade_nan", [band(absolute=0.05, min_trade=np.nan)]),
        ("band_min_trade_str", [band(absolute=0.05, min_trade="x")]),
        ("band_min_trade_none", [band(absolute=0.05, min_trade=None)]),
        ("calendar_unknown", [calendar("hourly")]),
        ("calendar_zero", [calendar(0)]),
        ("calendar_true", [calendar(True)]),
        ("calendar_float", [calendar(2.5)]),
        ("calendar_huge", [calendar(2**40)]),
        ("calendar_none", [calendar(None)]),
        ("unknown_kind", [P("weird")]),
        ("dict_key_not_str", {1: P.buy_and_hold(), 2: P.calendar()}),
        ("duplicate_names", {"a": P.buy_and_hold()} | {"a": P.calendar()}),
    ]
    return [Hostile(f"policies_{k}", (lambda v: lambda c: v)(v)) for k, v in values]


POLICIES = _policy_hostiles()

DATES = [
    Hostile("dates_wrong_length", lambda c: pd.date_range("2024-01-01", periods=len(c.value) + 1).to_numpy()),
    Hostile("dates_words", lambda c: np.array(["x"] * len(c.value))),
    Hostile("dates_nat", lambda c: np.array(["NaT"] * len(c.value), dtype="datetime64[D]")),
    Hostile("dates_unsorted", lambda c: c.value[::-1].copy()),
    Hostile("dates_ints", lambda c: np.arange(len(c.value))),
    Hostile("dates_scalar", lambda c: np.datetime64("2024-01-01")),
    Hostile("dates_floats_nan", lambda c: np.full(len(c.value), np.nan)),
]


def _symmetric_entry(ctx: Ctx, value: float) -> Any:
    """One entry of a factor covariance and its mirror set to ``value``."""
    v = _arr(ctx)
    i, j = (ctx.draw(st.integers(0, v.shape[0] - 1)) for _ in range(2))
    v[i, j] = v[j, i] = value
    return v


#: FactorCovariance and its estimators: arrays that are not indexed by the problem's assets alone
#: (loadings and exposures: assets by factors; returns: periods by assets; F: factors by factors),
#: so no label hostiles here (tests/test_factor_covariance.py tests their labels)
MATRIX = ARRAY_COMMON + _SCALES
FACTOR_COV = [h for h in ARRAY_COMMON if not h.name.endswith("_entry")] + _SCALES + [
    Hostile("nan_entry", lambda c: _symmetric_entry(c, np.nan)),
    Hostile("posinf_entry", lambda c: _symmetric_entry(c, np.inf)),
    Hostile("huge_entry", lambda c: _symmetric_entry(c, 1e300)),
    Hostile("not_symmetric", _not_symmetric),
    Hostile("not_psd", _not_psd),
    Hostile("negative_variance", lambda c: np.diag(-np.abs(np.diag(_arr(c))))),
    Hostile("covariance_object", lambda c: ma.Covariance(_arr(c)), expect="aligned"),
    Hostile("fortran_order", lambda c: np.asfortranarray(_arr(c)), expect="aligned"),
]
SPECIFIC = [h for h in VECTOR if not h.expect.startswith("labelled")]


@dataclass(frozen=True)
class Kind:
    name: str
    hostiles: tuple
    #: how the argument is labelled when the whole call is given pandas labels
    label: str | None = None


K_COV = Kind("cov", tuple(COV), "cov")
K_VEC = Kind("vector", tuple(VECTOR), "vec")
K_BOUND = Kind("bound", tuple(BOUND), "vec")
#: a batch's bounds: also one row per problem, one of them bad
K_BATCH_BOUND = Kind("batch_bound", tuple(BOUND + [Hostile("one_row_crossed", _one_row_crossed, expect="other-rows"),
                                                   Hostile("one_row_nan", lambda c: _entry(Ctx(c.param, np.vstack([_arr(c)] * 3), c.kw, c.p, c.draw), np.nan), expect="other-rows")]), "vec")
K_ROWS = Kind("rows", tuple(ROWS + [h for h in VECTOR if h.name in ("zero_d", "python_float", "negative")]), "vec")
K_REAL = Kind("real", tuple(SCALAR))
K_REAL_OR_ROWS = Kind("real_or_rows", tuple(SCALAR + [h for h in VECTOR if h.name in ("nan_entry", "empty", "two_d_row", "strings", "ragged")]))
K_INT = Kind("int", tuple(INTEGER))
K_FLAG = Kind("flag", tuple(FLAG))
K_TIME = Kind("time", tuple(TIME_SERIES))
K_POLICIES = Kind("policies", tuple(POLICIES))
K_DATES = Kind("dates", tuple(DATES))
K_MATRIX = Kind("matrix", tuple(MATRIX))
K_PANEL = Kind("panel", tuple(MATRIX), "vec")  # (T, n): a row per period, a column per asset
K_FACTOR_COV = Kind("factor_cov", tuple(FACTOR_COV))
K_SPECIFIC = Kind("specific_var", tuple(SPECIFIC))


def K_CHOICE(valid: str) -> Kind:
    return Kind(f"choice:{valid}", tuple(_choices(valid)))


# ------------------------------------------------------------------------------------------------
# Result checks
# ------------------------------------------------------------------------------------------------


def _num(x: Any, labels: list | None = None) -> Any:
    """An accepted argument as plain floats, aligned to ``labels`` when it is labelled."""
    if isinstance(x, pd.Series) and labels is not None and set(x.index) == set(labels):
        x = x.reindex(labels)
    elif isinstance(x, pd.DataFrame) and labels is not None and set(x.columns) == set(labels):
        x = x.reindex(columns=labels)
    if isinstance(x, ma.Covariance):
        return np.array(x.matrix)
    if isinstance(x, (str, bytes)):
        return float(x)
    a = np.asarray(x)
    return a.astype(float) if a.ndim else float(a)


class Checks:
    """Collects the problems found in one result."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, what: str) -> None:
        self.problems.append(what)

    def finite(self, name: str, x: Any, *, allow_nan_where: Any = None) -> None:
        if x is None:
            return
        try:
            a = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            self.fail(f"{name} is not numeric: {type(x).__name__}")
            return
        bad = ~np.isfinite(a)
        if allow_nan_where is not None:
            bad &= ~(np.isnan(a) & np.asarray(allow_nan_where, dtype=bool))
        if bad.any():
            self.fail(f"{name} has non-finite entries: {a[bad][:3].tolist()}")

    def status(self, name: str, s: Any, *, name_only: bool = False) -> None:
        """A Status member (or, for a batch's array of names, one of their names)."""
        if isinstance(s, Status):
            return
        if name_only and isinstance(s, str) and s in {v.value for v in Status}:
            return
        self.fail(f"{name} = {s!r} is not a Status")

    def feasible(self, w: np.ndarray, lower: Any, upper: Any, budget: float, what: str = "weights") -> None:
        """sum(w) = budget and lower <= w <= upper, within 1e-8 of the problem's scale."""
        w = np.asarray(w, dtype=float)
        lo = np.broadcast_to(np.asarray(lower, dtype=float), w.shape)
        up = np.broadcast_to(np.asarray(upper, dtype=float), w.shape)
        finite_bounds = np.concatenate([lo[np.isfinite(lo)], up[np.isfinite(up)], [1.0, abs(budget)]])
        scale = max(float(np.max(np.abs(finite_bounds))), float(np.sum(np.abs(w))) if np.isfinite(w).all() else 1.0)
        tol = 1e-8 * scale
        if not np.isfinite(w).all():
            self.fail(f"{what} not finite: {w.tolist()}")
            return
        if abs(float(w.sum()) - budget) > tol:
            self.fail(f"{what}: sum = {float(w.sum())!r}, budget = {budget!r}")
        if (w < lo - tol).any() or (w > up + tol).any():
            k = int(np.flatnonzero((w < lo - tol) | (w > up + tol))[0])
            self.fail(f"{what}[{k}] = {w[k]!r} outside [{lo[k]!r}, {up[k]!r}]")


def _w(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _bounds_of(kw: dict, labels: list | None, lower_default: Any = 0.0, upper_default: Any = 1.0) -> tuple:
    lo = kw.get("lower", lower_default)
    up = kw.get("upper", upper_default)
    return _num(lo, labels), _num(up, labels)


def _labels(kw: dict) -> list | None:
    for key in ("cov", "active_cov", "weights", "prices"):
        x = kw.get(key)
        if isinstance(x, pd.DataFrame):
            return list(x.columns)
    return None


NAN_OK = (Status.INFEASIBLE, Status.INVALID_INPUT)


def check_mean_variance(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    c.status("status", res.status)
    labels = _labels(kw)
    w = _w(res.weights)
    if res.status not in NAN_OK:
        c.finite("weights", w)
        for f in ("objective", "expected_return", "volatility", "gap", "rel_gap", "primal_residual", "dual_residual",
                  "budget_multiplier"):
            c.finite(f, getattr(res, f))
    if res.status == Status.OPTIMAL:
        lo, up = _bounds_of(kw, labels)
        c.feasible(w, lo, up, float(_num(kw.get("budget", 1.0))))
    return c.problems


def _batch_rows(x: Any, m: int, n: int) -> np.ndarray:
    """A batch's per-row bounds (scalar, (n,) or (m, n)) as an (m, n) matrix."""
    return np.broadcast_to(np.asarray(_num(x), dtype=float), (m, n))


def check_batch(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    m, n = res.weights.shape
    # labelled weights (a DataFrame, assets as columns in the assets' order): bounds read by label
    labels = list(res.weights.columns) if isinstance(res.weights, pd.DataFrame) else None
    weights = np.asarray(res.weights, dtype=float)
    lo = _batch_rows(_num(kw.get("lower", 0.0), labels), m, n)
    up = _batch_rows(_num(kw.get("upper", 1.0), labels), m, n)
    bud = np.broadcast_to(np.asarray(_num(kw.get("budget", 1.0)), dtype=float), (m,))
    for i in range(m):
        c.status(f"status[{i}]", str(res.status[i]), name_only=True)
        s = Status(str(res.status[i]))
        if s in NAN_OK:
            continue
        c.finite(f"weights[{i}]", weights[i])
        for f in ("objective", "expected_return", "volatility", "gap", "rel_gap"):
            c.finite(f"{f}[{i}]", getattr(res, f)[i])
        if s == Status.OPTIMAL:
            c.feasible(weights[i], lo[i], up[i], float(bud[i]), what=f"row {i}")
    return c.problems


def check_projection(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    # a labelled result is in the assets' order (the first labelled argument's, README "Labelled
    # inputs"): the bounds are read by label, not by position
    lo, up = _bounds_of(kw, list(res.index) if isinstance(res, pd.Series) else None)
    c.feasible(_w(res), lo, up, float(_num(kw.get("budget", 1.0))))
    return c.problems


def check_shares(res: Any, kw: dict, p: Problem) -> list[str]:
    """Whole shares: whole, non-negative counts that the value affords, weights that follow."""
    c = Checks()
    c.status("status", res.status)
    shares = np.asarray(res.shares)
    prices = np.asarray(_num(kw["prices"]), dtype=float)
    if isinstance(res.shares, pd.Series) and isinstance(kw["prices"], pd.Series):
        prices = kw["prices"].reindex(res.shares.index).to_numpy(dtype=float)
    value = float(_num(kw["value"]))
    if shares.dtype.kind != "i" or (shares < 0).any():
        c.fail(f"shares not whole and non-negative: {shares.dtype}")
    spent = float(shares @ prices) if prices.shape == shares.shape else np.nan
    if not (res.cash >= 0 and abs(value - spent - res.cash) <= 1e-9 * value):
        c.fail(f"cash {res.cash!r} against value {value!r} - spent {spent!r}")
    c.finite("gap", res.gap)
    c.finite("lower_bound", res.lower_bound)
    if res.lower_bound > res.gap * (1 + 1e-7) + 1e-12:
        c.fail(f"lower_bound {res.lower_bound!r} above gap {res.gap!r}")
    return c.problems


def _trading_call(kw: dict) -> Any:
    c = ma.Constraints(kw["lower"], kw["upper"], current_weights=kw["current_weights"], costs=kw["costs"],
                       turnover=kw["turnover"])
    return ma.solve_mean_variance(kw["cov"], kw["mu"], risk_aversion=3.0, constraints=c)


def _half_capped(kw: dict) -> Any:
    """The bounds of the call with one row: the first half of the assets together at most 0.6."""
    labels = _labels(kw)
    if labels is not None:  # by name, so that a shuffled input caps the same assets
        names = sorted(labels, key=str)
        row: Any = pd.DataFrame([[float(x in names[: max(len(names) // 2, 1)]) for x in labels]], columns=labels)
    else:
        n = kw["_n"]
        row = (np.arange(n) < max(n // 2, 1)).astype(float)
    return ma.Constraints(kw["lower"], kw["upper"], linear=(row, -np.inf, 0.6))


def _frontier_rows_call(kw: dict) -> Any:
    return ma.efficient_frontier(kw["cov"], kw["mu"], constraints=_half_capped(kw))


def _max_sharpe_rows_call(kw: dict) -> Any:
    return ma.max_sharpe(kw["cov"], kw["mu"], risk_free=0.005, constraints=_half_capped(kw))


def check_trading(res: Any, kw: dict, p: Problem) -> list[str]:
    """A rebalance: the mean-variance checks, then trades, turnover and costs from their definitions."""
    problems = check_mean_variance(res, kw, p)
    if res.status == Status.OPTIMAL:
        c = Checks()
        w0 = _num(kw["current_weights"], list(res.weights.index) if isinstance(res.weights, pd.Series) else None)
        trades = _w(res.weights) - np.asarray(w0, dtype=float)
        if not np.allclose(_w(res.trades), trades, atol=1e-12, rtol=0):
            c.fail("trades are not weights - current_weights")
        if abs(res.turnover - np.abs(trades).sum()) > 1e-12 * max(1.0, res.turnover):
            c.fail(f"turnover {res.turnover!r} is not sum |trades|")
        if kw["turnover"] is not None:
            limit = float(_num(kw["turnover"]))
            if res.turnover > limit * (1 + 1e-9) + 1e-12:
                c.fail(f"turnover {res.turnover!r} above the limit {limit!r}")
        c.finite("costs_paid", res.costs_paid)
        problems += c.problems
    return problems


def check_frontier(fr: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    c.status("status", fr.status)
    labels = _labels(kw)
    lo, up = _bounds_of(kw, labels)
    ra = np.asarray(fr.risk_aversion, dtype=float)
    c.finite("risk_aversions[1:]", ra[1:])
    if ra.size and not (ra[0] == np.inf or np.isfinite(ra[0])):
        c.fail(f"risk_aversions[0] = {ra[0]!r}")
    for f in ("expected_return", "volatility", "tracking_error", "max_rel_gap"):
        c.finite(f, getattr(fr, f))
    if fr.status == Status.OPTIMAL:
        for k, w in enumerate(np.asarray(fr.weights, dtype=float)):
            c.feasible(w, lo, up, float(fr.budget), what=f"turning point {k}")
    return c.problems


def check_frontier_point(w: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    lo, up = _bounds_of(kw["_frontier"], None)
    c.feasible(_w(w), lo, up, float(kw["_frontier"].get("budget", 1.0)))
    return c.problems


def check_path(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    risk, ret = res
    c.finite("risks", risk)
    c.finite("returns", ret)
    if np.shape(risk) != np.shape(ret):
        c.fail(f"shapes {np.shape(risk)} and {np.shape(ret)}")
    return c.problems


def check_max_sharpe(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    lo, up = _bounds_of(kw, _labels(kw))
    c.feasible(_w(res.weights), lo, up, float(_num(kw.get("budget", 1.0))))
    for f in ("sharpe", "expected_return", "volatility"):
        c.finite(f, getattr(res, f))
    c.problems += check_frontier(res.frontier, kw, p)
    return c.problems


def _check_target(c: Checks, res: Any, lo: Any, up: Any, budget: float) -> None:
    c.status("status", res.status)
    c.finite("weights", _w(res.weights))
    for f in ("expected_return", "volatility", "tracking_error", "gap", "rel_gap", "primal_residual", "dual_residual"):
        c.finite(f, getattr(res, f))
    if res.status == Status.OPTIMAL:
        c.feasible(_w(res.weights), lo, up, budget)


def check_min_risk(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    labels = _labels(kw)
    lo, up = _bounds_of(kw, labels)
    _check_target(c, res, lo, up, float(_num(kw.get("budget", 1.0))))
    if res.status == Status.OPTIMAL:
        r = float(_num(kw["target_return"]))
        got = float(_num(kw["mu"], labels) @ _w(res.weights))
        if got < r - 1e-8 * max(1.0, abs(r)):
            c.fail(f"mu'w = {got!r} below target_return = {r!r}")
    return c.problems


def check_max_return(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    labels = _labels(kw)
    lo, up = _bounds_of(kw, labels)
    _check_target(c, res, lo, up, float(_num(kw.get("budget", 1.0))))
    if res.status == Status.OPTIMAL:
        name = "target_volatility" if kw.get("target_volatility") is not None else "target_tracking_error"
        sigma = float(_num(kw[name]))
        risk = res.volatility if name == "target_volatility" else res.tracking_error
        if risk > sigma * (1 + 1e-8) + 1e-300:
            c.fail(f"risk {risk!r} above {name} = {sigma!r}")
    return c.problems


def check_active(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    labels = _labels(kw)
    b = _num(kw["benchmark"], labels)
    lo, up = _bounds_of(kw, labels)
    d = kw.get("active_bound")
    if d is not None:
        d = _num(d, labels)
        lo, up = np.maximum(lo, b - d), np.minimum(up, b + d)
    budget = float(np.sum(b)) if kw.get("budget") is None else float(_num(kw["budget"]))
    c.status("status", res.status)
    for f in ("weights", "active_weights", "active_return", "tracking_error", "active_share", "volatility"):
        c.finite(f, getattr(res, f))
    c.finite("information_ratio", res.information_ratio, allow_nan_where=res.tracking_error == 0)
    if res.status == Status.OPTIMAL:
        c.feasible(_w(res.weights), lo, up, budget)
    return c.problems


def check_combine(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    c.status("status", res.status)
    labels = _labels(kw)
    lo, up = _bounds_of(kw, labels)
    te0 = res.tracking_error == 0
    for f in ("weights", "active_return", "tracking_error", "fund_tracking_error", "fund_information_ratio",
              "average_tracking_error", "rel_gap"):
        c.finite(f, getattr(res, f))
    c.finite("information_ratio", res.information_ratio, allow_nan_where=te0)
    c.finite("percent_risk", res.percent_risk, allow_nan_where=te0)
    if not (np.isfinite(res.diversification) or te0):
        c.fail(f"diversification = {res.diversification!r}")
    if res.status == Status.OPTIMAL:
        c.feasible(_w(res.weights), lo, up, 1.0)
    return c.problems


def check_risk_contributions(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    vol = np.asarray(res.volatility, dtype=float)
    c.finite("volatility", vol)
    c.finite("component", res.component)
    zero = np.asarray(vol == 0)[..., None] if np.ndim(res.component) == 2 else vol == 0
    c.finite("marginal", res.marginal, allow_nan_where=np.broadcast_to(zero, np.shape(res.marginal)))
    c.finite("percent", res.percent, allow_nan_where=np.broadcast_to(zero, np.shape(res.percent)))
    if np.isfinite(vol).all() and np.isfinite(np.asarray(res.component, dtype=float)).all():
        total = np.asarray(res.component, dtype=float).sum(axis=-1)
        if (np.abs(total - vol) > 1e-8 * np.maximum(vol, 1e-300) + 1e-300).any():
            c.fail(f"sum(component) = {total!r} but volatility = {vol!r}")
    if res.tracking_error is not None:
        te = np.asarray(res.tracking_error, dtype=float)
        c.finite("tracking_error", te)
        c.finite("active_component", res.active_component)
        zte = np.broadcast_to(np.asarray(te == 0)[..., None] if te.ndim else te == 0, np.shape(res.active_marginal))
        c.finite("active_marginal", res.active_marginal, allow_nan_where=zte)
        c.finite("active_percent", res.active_percent, allow_nan_where=zte)
    if res.active_return is not None:
        c.finite("active_return", res.active_return)
        c.finite("active_return_contribution", res.active_return_contribution)
        c.finite("efficiency", res.efficiency, allow_nan_where=True)  # documented: NaN when undefined
    return c.problems


def check_nonneg_finite(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    c.finite("result", res)
    if np.isfinite(np.asarray(res, dtype=float)).all() and (np.asarray(res, dtype=float) < 0).any():
        c.fail(f"negative: {res!r}")
    return c.problems


def check_risk_budgeting(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    c.status("status", res.status)
    if res.status == Status.OPTIMAL:
        labels = _labels(kw)
        lo = 0.0 if kw.get("lower") is None else np.maximum(_num(kw["lower"], labels), 0.0)
        up = 1.0 if kw.get("upper") is None else np.minimum(_num(kw["upper"], labels), 1.0)
        c.feasible(_w(res.weights), lo, up, 1.0)
        for f in ("risk_contributions", "max_budget_error", "volatility", "kkt_residual", "budget_shift"):
            c.finite(f, getattr(res, f))
    return c.problems


def check_money(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    for f in ("budget", "actual", "excess", "total_budget", "total_actual", "volatility"):
        c.finite(f, getattr(res, f))
    c.finite("utilisation", res.utilisation, allow_nan_where=_w(res.budget) == 0)
    return c.problems


def check_bands_result(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    c.finite("n_breaches", res.n_breaches)
    c.finite("l1_drift", res.l1_drift)
    md = np.asarray(res.max_drift, dtype=float)
    if np.isnan(md).any() or (md < 0).any():
        c.fail(f"max_drift = {md!r}")  # +inf is documented for a drift where the width is 0
    c.finite("tracking_error", res.tracking_error)
    return c.problems


def check_rebalance(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    w, t = _w(res.weights), _w(res.trades)
    c.finite("weights", w)
    c.finite("trades", t)
    c.finite("units", res.units)
    if np.isfinite(t).all() and t.size:
        scale = max(1.0, float(np.abs(w).sum(axis=-1).max()) if np.isfinite(w).all() else 1.0)
        if (np.abs(t.sum(axis=-1)) > 1e-8 * scale).any():
            c.fail(f"trades do not sum to 0: {t.sum(axis=-1)!r}")
    res_check = check_bands_result(res.check, kw, p)
    c.problems += res_check
    return c.problems


def check_drift(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    out = _w(res)
    c.finite("weights", out)
    try:
        before = np.asarray(_num(kw["weights"], _labels(kw)), dtype=float)
    except Exception:
        return c.problems
    if np.isfinite(out).all() and before.shape == out.shape and out.size:
        scale = max(1.0, float(np.abs(before).sum(axis=-1).max()))
        if (np.abs(out.sum(axis=-1) - before.sum(axis=-1)) > 1e-8 * scale).any():
            c.fail(f"sums changed: {before.sum(axis=-1)!r} -> {out.sum(axis=-1)!r}")
    return c.problems


def check_holdings(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    out = _w(res)
    c.finite("weights", out)
    if out.size and np.isfinite(out).all() and (np.abs(out.sum(axis=-1) - 1.0) > 1e-8 * np.abs(out).sum(axis=-1).max()).any():
        c.fail(f"weights do not sum to 1: {out.sum(axis=-1)!r}")
    return c.problems


def check_backtest(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    v = _w(res.values)
    c.finite("values", v)
    if np.isfinite(v).all() and (v <= 0).any():
        c.fail("a value <= 0")
    summary = res.summary
    for col in summary:
        vals = np.asarray(summary[col], dtype=float)
        ok_nan = np.asarray(summary["volatility"], dtype=float) == 0 if col == "sharpe" else None
        c.finite(f"summary[{col}]", vals, allow_nan_where=ok_nan)
    return c.problems


def check_covariance(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    m = np.asarray(res.matrix)
    c.finite("matrix", m)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or res.n != m.shape[0]:
        c.fail(f"matrix shape {m.shape}, n = {res.n}")
    elif not np.array_equal(m, m.T):
        # the tolerance test accepts tiny asymmetries; a large one must not pass
        if np.abs(m - m.T).max() > 1e-8 * np.sqrt(np.outer(np.diag(m), np.diag(m))).max():
            c.fail("matrix is not symmetric")
    return c.problems


def check_finite_estimate(res: Any, kw: dict, p: Problem) -> list[str]:
    """An estimate (returns, a mean, a number): finite."""
    c = Checks()
    c.finite("result", np.asarray(res, dtype=float))
    return c.problems


def check_covariance_estimate(res: Any, kw: dict, p: Problem) -> list[str]:
    """A covariance estimate: finite, square (one row and column per column of the returns),
    symmetric, with a nonnegative diagonal."""
    c = Checks()
    a = np.asarray(res, dtype=float)
    c.finite("result", a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        c.fail(f"shape {a.shape}, not square")
    elif not c.problems:
        if not np.allclose(a, a.T, rtol=0, atol=1e-14 * max(np.abs(a).max(), 1e-300)):
            c.fail("the covariance is not symmetric")
        if (np.diag(a) < 0).any():
            c.fail("a negative variance")
    return c.problems


def check_summary(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    for f in ("annual_return", "volatility", "max_drawdown", "tracking_error", "information_ratio", "active_share"):
        v = getattr(res, f)
        if v is not None:
            c.finite(f, v, allow_nan_where=(f == "information_ratio" and res.tracking_error == 0))
    c.finite("sharpe", res.sharpe, allow_nan_where=res.volatility == 0)
    if not c.problems and not 0.0 <= res.max_drawdown <= 1.0:
        c.fail(f"max_drawdown {res.max_drawdown!r} outside [0, 1]")
    return c.problems


def check_transfer(res: Any, kw: dict, p: Problem) -> list[str]:
    c = Checks()
    for f in ("transfer_coefficient", "information_ratio", "best_information_ratio", "tracking_error"):
        c.finite(f, getattr(res, f))
    if not c.problems and abs(res.transfer_coefficient) > 1 + 1e-9:
        c.fail(f"|transfer coefficient| {res.transfer_coefficient!r} above 1 (it is a cosine)")
    return c.problems


def check_factor_model(res: Any, kw: dict, p: Problem) -> list[str]:
    """A FactorCovariance, formed: finite, symmetric, positive variances, positive semidefinite."""
    c = Checks()
    if not isinstance(res, ma.FactorCovariance):
        c.fail(f"a {type(res).__name__}, not a FactorCovariance")
        return c.problems
    m = res.to_dense()
    c.finite("to_dense()", m)
    c.finite("diagonal()", res.diagonal())
    if c.problems:
        return c.problems
    if not np.array_equal(m, m.T):
        c.fail("to_dense() is not symmetric")
    if not (np.diag(m) > 0).all() or not np.allclose(np.diag(m), res.diagonal(), rtol=1e-12, atol=0):
        c.fail("variances not positive or not the diagonal")
    if np.linalg.eigvalsh(m)[0] < -1e-9 * np.abs(m).max():
        c.fail(f"not PSD: smallest eigenvalue {np.linalg.eigvalsh(m)[0]}")
    return c.problems


# ------------------------------------------------------------------------------------------------
# Valid calls
# ------------------------------------------------------------------------------------------------

_FEASIBILITY = frozenset({"lower", "upper", "budget"})


def _frontier_kw(p: Problem) -> dict:
    return dict(cov=p.cov, mu=p.mu, lower=p.lower, upper=p.upper, budget=1.0, tol=1e-9, check_psd=True)


def _equal_weight_return(p: Problem) -> float:
    return float(p.mu.mean())


def _equal_weight_vol(p: Problem) -> float:
    w = np.full(p.n, 1.0 / p.n)
    return float(np.sqrt(w @ p.cov @ w))


def _te_of(p: Problem, w: np.ndarray) -> float:
    d = w - p.bench
    return float(np.sqrt(d @ p.cov @ d))


def _prices(p: Problem, days: int = 30) -> np.ndarray:
    r = p.rng.normal(0.0003, 0.01, (days, p.n))
    return 100 * np.cumprod(1 + r, axis=0)


def _drifted(p: Problem, m: int = 3) -> np.ndarray:
    w = np.vstack([p.rng.dirichlet(np.ones(p.n)) for _ in range(m)])
    return w


def _reachable_target(p: Problem) -> dict:
    """Bounds around the benchmark and half the alpha of moving t from the worst asset to the best
    (feasible within those bounds and an active bound of 0.2), so that the target is reachable."""
    bounds = _bounds_around_benchmark(p)
    a = p.mu - p.mu.mean()
    best, worst = int(np.argmax(a)), int(np.argmin(a))
    t = min(p.bench[worst] - bounds["lower"][worst], bounds["upper"][best] - p.bench[best], 0.2)
    return dict(bounds, target_alpha=0.5 * t * float(a[best] - a[worst]))


def _bounds_around_benchmark(p: Problem) -> dict:
    """Vector bounds that hold the benchmark (so that any tracking-error limit > 0 is reachable)."""
    b = p.bench
    return dict(lower=b * p.rng.uniform(0.0, 0.9, p.n), upper=b + (1.0 - b) * p.rng.uniform(0.1, 1.0, p.n))


@dataclass
class Spec:
    name: str
    call: Callable[[dict], Any]
    valid: Callable[[Problem], dict]
    params: dict
    check: Callable[[Any, dict, Problem], list[str]]
    #: groups of parameters one InfeasibleError may name for any of them (infeasible combinations)
    coupled: tuple = (_FEASIBILITY,)
    #: groups of parameters that go together (one needs another, or one gives the size of another):
    #: leaving one out (None) may raise an InputError naming another of the group
    together: tuple = ()
    #: {(param, hostile name or "*"): arguments an InputError may name instead}, each with its reason
    excuses: dict = field(default_factory=dict)
    #: relative tolerance of "the same result" (solutions certified to tol, reached by another path)
    same_tol: float = 1e-7


def _fmethod(method: str, arg: str) -> Callable[[dict], Any]:
    def call(kw: dict) -> Any:
        fr = ma.efficient_frontier(**kw["_frontier"])
        return getattr(fr, method)(kw[arg])

    return call


def _kw_call(fn: Callable) -> Callable[[dict], Any]:
    def call(kw: dict) -> Any:
        return fn(**{k: v for k, v in kw.items() if not k.startswith("_")})

    return call


SPECS: list[Spec] = [
    Spec(
        "solve_mean_variance", _kw_call(ma.solve_mean_variance),
        lambda p: dict(cov=p.cov, mu=p.mu, risk_aversion=3.0, lower=p.lower, upper=p.upper, budget=1.0,
                       benchmark=p.bench, method="active_set", warm_start=p.bench, tol=1e-9, max_iter=20000,
                       check_psd=True),
        dict(cov=K_COV, mu=K_VEC, risk_aversion=K_REAL, lower=K_BOUND, upper=K_BOUND, budget=K_REAL,
             benchmark=K_VEC, method=K_CHOICE("active_set"), warm_start=K_VEC, tol=K_REAL, max_iter=K_INT,
             check_psd=K_FLAG),
        check_mean_variance,
    ),
    Spec(
        "solve_mean_variance[projected_gradient]", _kw_call(ma.solve_mean_variance),
        lambda p: dict(cov=p.cov, mu=p.mu, risk_aversion=3.0, lower=p.lower, upper=p.upper, budget=1.0,
                       method="projected_gradient", warm_start=p.bench, tol=1e-7, max_iter=20000),
        dict(cov=K_COV, mu=K_VEC, risk_aversion=K_REAL, lower=K_BOUND, upper=K_BOUND, budget=K_REAL,
             warm_start=K_VEC, tol=K_REAL, max_iter=K_INT),
        check_mean_variance, same_tol=1e-3,  # first-order method: weights agree to about sqrt(tol)
    ),
    Spec(
        "solve_mean_variance_batch", _kw_call(ma.solve_mean_variance_batch),
        lambda p: dict(cov=p.cov, mu=np.vstack([p.mu, p.mu[::-1], 0.5 * p.mu]), risk_aversion=np.array([1.0, 3.0, 10.0]),
                       lower=p.lower, upper=p.upper, budget=np.ones(3), benchmark=p.bench,
                       warm_start=np.vstack([p.bench] * 3), method="active_set", tol=1e-9, max_iter=20000,
                       threads=2, m=3),
        dict(cov=K_COV, mu=K_ROWS, risk_aversion=K_REAL_OR_ROWS, lower=K_BATCH_BOUND, upper=K_BATCH_BOUND,
             budget=K_REAL_OR_ROWS,
             benchmark=K_ROWS, warm_start=K_ROWS, method=K_CHOICE("active_set"), tol=K_REAL, max_iter=K_INT,
             threads=K_INT, m=K_INT),
        check_batch,
        # m gives the number of rows the per-problem arguments must have: with an m that disagrees
        # with their rows, a ShapeError may name either side
        excuses={("m", h): {"mu", "benchmark", "warm_start", "lower", "upper", "risk_aversion", "budget"}
                 for h in ("int_zero", "int_two_pow_40", "int_two_pow_63", "int_np_int")},
    ),
    Spec(
        "project_box_budget", _kw_call(ma.project_box_budget),
        lambda p: dict(y=p.mu * 10, lower=p.lower, upper=p.upper, budget=1.0),
        dict(y=K_VEC, lower=K_BOUND, upper=K_BOUND, budget=K_REAL),
        check_projection,
    ),
    Spec(
        "efficient_frontier", _kw_call(ma.efficient_frontier),
        lambda p: dict(_frontier_kw(p), benchmark=p.bench, max_points=50),
        dict(cov=K_COV, mu=K_VEC, lower=K_BOUND, upper=K_BOUND, budget=K_REAL, benchmark=K_VEC, tol=K_REAL,
             max_points=K_INT, check_psd=K_FLAG),
        check_frontier,
    ),
    Spec(
        "Frontier.at_risk_aversion", _fmethod("at_risk_aversion", "risk_aversion"),
        lambda p: dict(_frontier=_frontier_kw(p), risk_aversion=2.0),
        dict(risk_aversion=K_REAL), check_frontier_point,
    ),
    Spec(
        "Frontier.at_return", _fmethod("at_return", "target"),
        lambda p: dict(_frontier=_frontier_kw(p), target=_equal_weight_return(p)),
        dict(target=K_REAL), check_frontier_point,
    ),
    Spec(
        "Frontier.at_volatility", _fmethod("at_volatility", "target"),
        lambda p: dict(_frontier=_frontier_kw(p), target=_equal_weight_vol(p)),
        dict(target=K_REAL), check_frontier_point,
    ),
    Spec(
        "Frontier.path", _fmethod("path", "points_per_segment"),
        lambda p: dict(_frontier=_frontier_kw(p), points_per_segment=8),
        dict(points_per_segment=K_INT), check_path,
    ),
    Spec(
        "max_sharpe", _kw_call(ma.max_sharpe),
        lambda p: dict(_frontier_kw(p), risk_free=0.005),
        dict(cov=K_COV, mu=K_VEC, risk_free=K_REAL, lower=K_BOUND, upper=K_BOUND, budget=K_REAL, tol=K_REAL,
             check_psd=K_FLAG),
        check_max_sharpe, coupled=(_FEASIBILITY | {"mu", "risk_free", "cov"},),
    ),
    Spec(
        "min_risk", _kw_call(ma.min_risk),
        lambda p: dict(_frontier_kw(p), target_return=_equal_weight_return(p), benchmark=p.bench),
        dict(cov=K_COV, mu=K_VEC, target_return=K_REAL, lower=K_BOUND, upper=K_BOUND, budget=K_REAL,
             benchmark=K_VEC, tol=K_REAL, check_psd=K_FLAG),
        check_min_risk, coupled=(_FEASIBILITY | {"mu", "target_return", "benchmark", "cov"},),
    ),
    Spec(
        "max_return", _kw_call(ma.max_return),
        lambda p: dict(_frontier_kw(p), target_volatility=_equal_weight_vol(p)),
        dict(cov=K_COV, mu=K_VEC, target_volatility=K_REAL, lower=K_BOUND, upper=K_BOUND, budget=K_REAL,
             tol=K_REAL, check_psd=K_FLAG),
        check_max_return, coupled=(_FEASIBILITY | {"mu", "target_volatility", "cov"},),
    ),
    Spec(
        "max_return[tracking_error]", _kw_call(ma.max_return),
        lambda p: dict(_frontier_kw(p), target_tracking_error=_te_of(p, np.full(p.n, 1.0 / p.n)) + 1e-3,
                       benchmark=p.bench),
        dict(cov=K_COV, mu=K_VEC, target_tracking_error=K_REAL, benchmark=K_VEC, lower=K_BOUND, upper=K_BOUND,
             budget=K_REAL),
        check_max_return, coupled=(_FEASIBILITY | {"mu", "target_tracking_error", "benchmark", "cov"},),
        together=({"target_volatility", "target_tracking_error", "benchmark"},),
    ),
    Spec(
        "active_portfolio[target_alpha]", _kw_call(ma.active_portfolio),
        lambda p: dict(cov=p.cov, mu=p.mu - p.mu.mean(), benchmark=p.bench, max_tracking_error=0.5,
                       active_bound=0.2, **_reachable_target(p), tol=1e-9),
        dict(cov=K_COV, mu=K_VEC, benchmark=K_VEC, target_alpha=K_REAL, max_tracking_error=K_REAL,
             active_bound=K_BOUND, lower=K_BOUND, upper=K_BOUND, budget=K_REAL, tol=K_REAL),
        check_active,
        coupled=(_FEASIBILITY | {"mu", "benchmark", "active_bound", "target_alpha", "max_tracking_error", "cov"},),
    ),
    Spec(
        "active_portfolio[max_tracking_error]", _kw_call(ma.active_portfolio),
        lambda p: dict(cov=p.cov, mu=p.mu - p.mu.mean(), benchmark=p.bench, max_tracking_error=0.02,
                       **_bounds_around_benchmark(p), budget=1.0),
        dict(cov=K_COV, mu=K_VEC, benchmark=K_VEC, max_tracking_error=K_REAL, lower=K_BOUND, upper=K_BOUND,
             budget=K_REAL),
        check_active,
        coupled=(_FEASIBILITY | {"mu", "benchmark", "max_tracking_error", "cov"},),
        together=({"target_alpha", "max_tracking_error"},),
    ),
    Spec(
        "combine_funds[cov]", _kw_call(ma.combine_funds),
        lambda p: dict(mu=p.mu - 0.02, cov=p.cov, lower=p.lower, upper=p.upper, tol=1e-9),
        dict(mu=K_VEC, cov=K_COV, lower=K_BOUND, upper=K_BOUND, tol=K_REAL),
        check_combine, coupled=(_FEASIBILITY | {"mu", "cov"},),
    ),
    Spec(
        "combine_funds[correlations]", _kw_call(ma.combine_funds),
        lambda p: dict(mu=p.mu - 0.02, tracking_errors=np.sqrt(np.diag(p.cov)),
                       correlations=p.cov / np.sqrt(np.outer(np.diag(p.cov), np.diag(p.cov))),
                       target_alpha=float(np.mean(p.mu - 0.02))),
        dict(mu=K_VEC, tracking_errors=K_VEC, correlations=K_COV, target_alpha=K_REAL),
        check_combine, coupled=(_FEASIBILITY | {"mu", "target_alpha", "tracking_errors", "correlations"},),
        together=({"cov", "tracking_errors", "correlations"},),
    ),
    Spec(
        "risk_contributions", _kw_call(ma.risk_contributions),
        lambda p: dict(cov=p.cov, weights=_drifted(p), benchmark=p.bench, mu=p.mu, check_psd=True,
                       threads=2),
        dict(cov=K_COV, weights=K_ROWS, benchmark=K_ROWS, mu=K_ROWS, check_psd=K_FLAG,
             threads=K_INT),
        check_risk_contributions,
        together=({"benchmark", "mu"},),
    ),
    Spec(
        "active_share", _kw_call(ma.active_share),
        lambda p: dict(weights=_drifted(p)[0], benchmark=p.bench, tol=1e-6),
        dict(weights=K_ROWS, benchmark=K_ROWS, tol=K_REAL),
        check_nonneg_finite,
        # tol = 0 (or 1e-300) demands sums equal to the last bit, which rounding breaks: refusing the
        # weights is then right
        excuses={("tol", h): {"weights"} for h in ("scalar_zero", "scalar_false", "scalar_tiny")}
        # the two totals must agree: either side may be blamed
        | {("benchmark", "*"): {"weights"}},
    ),
    Spec(
        "tracking_error", _kw_call(ma.tracking_error),
        lambda p: dict(portfolio_returns=p.rng.normal(0, 0.01, 24), benchmark_returns=p.rng.normal(0, 0.01, 24),
                       periods_per_year=12, ddof=1),
        dict(portfolio_returns=K_TIME, benchmark_returns=K_TIME, periods_per_year=K_REAL, ddof=K_INT),
        check_nonneg_finite,
    ),
    Spec(
        "risk_budgeting", _kw_call(ma.risk_budgeting),
        lambda p: dict(cov=p.cov, budgets=p.rng.dirichlet(np.ones(p.n)), lower=p.lower, upper=p.upper, tol=1e-10,
                       max_iter=10000, check_psd=True),
        dict(cov=K_COV, budgets=K_VEC, lower=K_BOUND, upper=K_BOUND, tol=K_REAL, max_iter=K_INT, check_psd=K_FLAG),
        check_risk_budgeting,
    ),
    Spec(
        "money_risk_budget", _kw_call(ma.money_risk_budget),
        lambda p: dict(cov=p.cov, weights=p.bench, portfolio_value=1e6, risk_budget=6e4,
                       allocation=p.rng.dirichlet(np.ones(p.n))),
        dict(cov=K_COV, weights=K_VEC, portfolio_value=K_REAL, risk_budget=K_REAL, allocation=K_VEC, check_psd=K_FLAG),
        check_money,
    ),
    Spec(
        "check_bands", _kw_call(ma.check_bands),
        lambda p: dict(weights=_drifted(p), targets=p.bench, absolute=0.03, relative=0.25, combine="min", cov=p.cov,
                       trigger="tracking_error", threshold=0.01, threads=2),
        dict(weights=K_ROWS, targets=K_ROWS, absolute=K_BOUND, relative=K_BOUND, combine=K_CHOICE("min"), cov=K_COV,
             trigger=K_CHOICE("tracking_error"), threshold=K_REAL, threads=K_INT),
        check_bands_result,
    ),
    Spec(
        "rebalance_trades", _kw_call(ma.rebalance_trades),
        lambda p: dict(weights=_drifted(p), targets=p.bench, absolute=0.03, relative=0.25, combine="min",
                       action="band_edge", min_trade=0.001, cov=p.cov, trigger="any", portfolio_values=np.full(3, 1e6),
                       prices=np.full(p.n, 50.0), threads=2),
        dict(weights=K_ROWS, targets=K_ROWS, absolute=K_BOUND, relative=K_BOUND, combine=K_CHOICE("min"),
             action=K_CHOICE("band_edge"), min_trade=K_REAL, cov=K_COV, trigger=K_CHOICE("any"),
             portfolio_values=K_REAL_OR_ROWS, prices=K_ROWS, threads=K_INT),
        check_rebalance,
        together=({"portfolio_values", "prices"},),
    ),
    Spec(
        "drift", _kw_call(ma.drift),
        lambda p: dict(weights=_drifted(p), returns=p.rng.normal(0, 0.05, p.n), threads=2),
        dict(weights=K_ROWS, returns=K_ROWS, threads=K_INT),
        check_drift,
    ),
    Spec(
        "weights_from_holdings", _kw_call(ma.weights_from_holdings),
        lambda p: dict(units=p.rng.uniform(1, 100, (2, p.n)), prices=p.rng.uniform(10, 200, p.n)),
        dict(units=K_ROWS, prices=K_ROWS),
        check_holdings,
    ),
    Spec(
        "backtest_rebalancing", _kw_call(ma.backtest_rebalancing),
        lambda p: (lambda prices: dict(
            prices=prices, targets=p.bench,
            policies={"hold": ma.Policy.buy_and_hold(), "monthly": ma.Policy.calendar("monthly"),
                      "band": ma.Policy.band(absolute=0.03, relative=0.2)},
            costs=0.001, impact=0.01, dates=pd.date_range("2024-01-01", periods=len(prices), freq="B").to_numpy(),
            periods_per_year=252.0, threads=2))(_prices(p)),
        dict(prices=K_ROWS, targets=K_VEC, policies=K_POLICIES, costs=K_BOUND, impact=K_BOUND, dates=K_DATES,
             periods_per_year=K_REAL, threads=K_INT),
        check_backtest,
        # max(costs) + max(impact) < 0.5 is one condition on the two
        excuses={("impact", "*"): {"costs"}},
    ),
    Spec(
        "FactorCovariance", _kw_call(ma.FactorCovariance),
        lambda p: dict(loadings=p.rng.normal(0.0, 0.3, (p.n, 2)), factor_cov=np.array([[0.04, 0.01], [0.01, 0.02]]),
                       specific_var=p.rng.uniform(0.01, 0.05, p.n)),
        dict(loadings=K_MATRIX, factor_cov=K_FACTOR_COV, specific_var=K_SPECIFIC),
        check_factor_model,
    ),
    Spec(
        "FactorCovariance.from_returns", _kw_call(ma.FactorCovariance.from_returns),
        lambda p: dict(returns=p.rng.normal(0.0, 0.05, (24, p.n)), n_factors=1, specific_floor=1e-3),
        dict(returns=K_MATRIX, n_factors=K_INT, specific_floor=K_REAL),
        check_factor_model,
    ),
    Spec(
        "FactorCovariance.from_exposures", _kw_call(ma.FactorCovariance.from_exposures),
        lambda p: dict(returns=p.rng.normal(0.0, 0.05, (24, p.n)),
                       exposures=np.column_stack([np.ones(p.n), p.rng.normal(size=p.n)]), specific_floor=1e-3),
        dict(returns=K_MATRIX, exposures=K_MATRIX, specific_floor=K_REAL),
        check_factor_model,
    ),
    Spec(
        "efficient_frontier[rows]", _frontier_rows_call,
        lambda p: dict(cov=p.cov, mu=p.mu, lower=p.lower, upper=p.upper, _n=p.n),
        dict(cov=K_COV, mu=K_VEC, lower=K_BOUND, upper=K_BOUND),
        check_frontier, coupled=(_FEASIBILITY | {"mu"},),
    ),
    Spec(
        "max_sharpe[rows]", _max_sharpe_rows_call,
        lambda p: dict(cov=p.cov, mu=p.mu, lower=p.lower, upper=p.upper, _n=p.n),
        dict(cov=K_COV, mu=K_VEC, lower=K_BOUND, upper=K_BOUND),
        check_max_sharpe, coupled=(_FEASIBILITY | {"mu", "cov", "risk_free"},),
    ),
    Spec(
        "solve_mean_variance[trading]", _trading_call,
        # a limit that every drawn problem can meet (bounds and budget may need most of the weights moved)
        lambda p: dict(cov=p.cov, mu=p.mu, lower=p.lower, upper=p.upper, current_weights=p.bench, costs=0.002,
                       turnover=4.0),
        dict(cov=K_COV, mu=K_VEC, lower=K_BOUND, upper=K_BOUND, current_weights=K_VEC, costs=K_BOUND, turnover=K_REAL),
        check_trading,
        # a turnover limit below what the current weights need to reach the bounds and the budget
        coupled=(_FEASIBILITY | {"current_weights", "turnover"},),
        # costs and a turnover limit need current weights: without them either may be named
        together=({"current_weights", "costs", "turnover"},),
    ),
    Spec(
        "whole_shares", _kw_call(ma.whole_shares),
        lambda p: dict(weights=np.full(p.n, 0.9 / p.n), prices=p.rng.uniform(5.0, 200.0, p.n), value=10_000.0,
                       lot_sizes=1, cov=p.cov, max_nodes=500),
        dict(weights=K_VEC, prices=K_VEC, value=K_REAL, lot_sizes=K_INT, cov=K_COV, max_nodes=K_INT),
        check_shares,
        # targets and value together decide what is affordable and exact
        coupled=(_FEASIBILITY, {"weights", "prices", "value", "lot_sizes"}),
        # the ratio value / price is what must stay below 2^53 shares: either side may be named
        excuses={("prices", "*"): {"value"}, ("value", "*"): {"prices"}},
    ),
    Spec(
        "estimation.returns_from_prices", _kw_call(ma.estimation.returns_from_prices),
        lambda p: dict(prices=_prices(p)),
        dict(prices=K_ROWS),
        check_finite_estimate,
    ),
    *(
        Spec(
            f"estimation.{fn.__name__}", _kw_call(fn),
            lambda p, extra=extra: dict(returns=p.rng.normal(0.005, 0.05, (36, p.n)), periods_per_year=12.0,
                                        **extra),
            dict(returns=K_PANEL, periods_per_year=K_REAL, **{k: K_REAL for k in extra}),
            check_finite_estimate if fn is ma.estimation.mean_return else check_covariance_estimate,
        )
        for fn, extra in ((ma.estimation.mean_return, {}), (ma.estimation.sample_covariance, {}),
                          (ma.estimation.ewma_covariance, {"halflife": 12.0}),
                          (ma.estimation.ledoit_wolf_covariance, {}))
    ),
    Spec(
        "estimation.factor_covariance", _kw_call(ma.estimation.factor_covariance),
        lambda p: dict(returns=p.rng.normal(0.0, 0.05, (36, p.n)), n_factors=1, periods_per_year=12.0,
                       specific_floor=1e-3),
        dict(returns=K_PANEL, n_factors=K_INT, periods_per_year=K_REAL, specific_floor=K_REAL),
        check_factor_model,
    ),
    Spec(
        "estimation.portfolio_summary", _kw_call(ma.estimation.portfolio_summary),
        lambda p: dict(returns=p.rng.normal(0.005, 0.05, (36, p.n)), weights=p.bench, benchmark=np.full(p.n, 1 / p.n),
                       risk_free=0.01, periods_per_year=12.0),
        dict(returns=K_PANEL, weights=K_VEC, benchmark=K_VEC, risk_free=K_REAL, periods_per_year=K_REAL),
        check_summary,
    ),
    Spec(
        "skill.transfer_coefficient", _kw_call(ma.skill.transfer_coefficient),
        lambda p: dict(cov=p.cov, mu=p.mu - p.mu.mean(), active_weights=p.bench - 1 / p.n),
        dict(cov=K_COV, mu=K_VEC, active_weights=K_VEC),
        check_transfer,
    ),
    Spec(
        "skill.fundamental_law", _kw_call(ma.skill.fundamental_law),
        lambda p: dict(ic=0.05, breadth=500.0, transfer_coefficient=0.6),
        dict(ic=K_REAL, breadth=K_REAL, transfer_coefficient=K_REAL),
        check_finite_estimate,
    ),
    Spec(
        "Covariance", lambda kw: ma.Covariance(kw["cov"], check_psd=kw["check_psd"]),
        lambda p: dict(cov=p.cov, check_psd=True),
        dict(cov=K_COV, check_psd=K_FLAG),
        check_covariance,
    ),
]

SPEC_BY_NAME = {s.name: s for s in SPECS}

#: the table the test is parametrised over: (function, parameter)
CASES = [(s.name, param) for s in SPECS for param in s.params]


# ------------------------------------------------------------------------------------------------
# Labels
# ------------------------------------------------------------------------------------------------


def labelled(spec: Spec, kw: dict, p: Problem) -> dict:
    """The same call with every asset-indexed array as a pandas object labelled by asset."""
    out = dict(kw)
    for name, kind in spec.params.items():
        v = kw.get(name)
        if kind.label is None or v is None or isinstance(v, (pd.Series, pd.DataFrame)):
            continue
        a = np.asarray(v)
        if a.dtype.kind not in "fiub":
            continue
        if kind.label == "cov" and a.shape == (p.n, p.n):
            out[name] = pd.DataFrame(a, index=p.labels, columns=p.labels)
        elif a.ndim == 1 and a.shape[0] == p.n:
            out[name] = pd.Series(a, index=p.labels)
        elif a.ndim == 2 and a.shape[1] == p.n and name not in COV_PARAMS:
            out[name] = pd.DataFrame(a, columns=p.labels)
    if "_frontier" in kw:
        out["_frontier"] = labelled(SPEC_BY_NAME["efficient_frontier"], kw["_frontier"], p)
    return out


def dated(spec: Spec, kw: dict) -> dict:
    """tracking_error's return series, as pandas Series indexed by dates in order."""
    out = dict(kw)
    for name, kind in spec.params.items():
        if kind is K_TIME and isinstance(kw.get(name), np.ndarray):
            v = kw[name]
            out[name] = pd.Series(v, index=pd.date_range("2024-01-01", periods=len(v), freq="D"))
    return out


# ------------------------------------------------------------------------------------------------
# Outcomes
# ------------------------------------------------------------------------------------------------

#: result fields that legitimately depend on the order of the assets or on timing
_ORDER_DEPENDENT = {"gap", "rel_gap", "primal_residual", "dual_residual", "max_rel_gap", "kkt_residual",
                    "max_budget_error", "active_lower", "active_upper", "iterations", "solve_time_s", "info", "factorizations",
                    "newton_steps", "message", "frontier", "target", "risk_report", "check", "lower", "upper",
                    "labels", "_tau", "_seg", "_ray", "threads", "names", "summary"}


def _flatten(x: Any, labels: list | None, prefix: str = "") -> dict:
    """Numbers of a result, label-aligned where labelled."""
    out: dict = {}
    if isinstance(x, pd.Series):
        if labels is not None and set(x.index) == set(labels):
            x = x.reindex(labels)
        out[prefix] = np.asarray(x, dtype=float)
    elif isinstance(x, pd.DataFrame):
        if labels is not None and set(x.columns) == set(labels):
            x = x.reindex(columns=labels)
        out[prefix] = np.asarray(x, dtype=float)
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        for f in dataclasses.fields(x):
            if f.name not in _ORDER_DEPENDENT:
                out.update(_flatten(getattr(x, f.name), labels, f"{prefix}.{f.name}"))
    elif isinstance(x, tuple):
        for i, v in enumerate(x):
            out.update(_flatten(v, labels, f"{prefix}[{i}]"))
    elif isinstance(x, (np.ndarray, float, int, np.floating, np.integer)) and not isinstance(x, bool):
        a = np.asarray(x)
        if a.dtype.kind in "fiub":
            out[prefix] = a.astype(float)
    return out


def same_numbers(a: Any, b: Any, labels: list | None, alt_perm: list | None = None, tol: float = 1e-7) -> str | None:
    """None when the two results hold the same numbers (label-aligned), else what differs."""
    fa, fb = _flatten(a, labels), _flatten(b, labels)
    if fa.keys() != fb.keys():
        return f"fields differ: {sorted(fa.keys() ^ fb.keys())}"
    for k in fa:
        x, y = fa[k], fb[k]
        if x.shape != y.shape:
            return f"{k}: shapes {x.shape} vs {y.shape}"
        if _close(x, y, tol):
            continue
        if alt_perm is not None and x.ndim >= 1 and x.shape[-1] == len(alt_perm) and _close(x, y[..., alt_perm], tol):
            continue  # an unlabelled output in the (reordered) covariance's order
        return f"{k}: {np.round(x, 12).tolist()!r} vs {np.round(y, 12).tolist()!r}"
    return None


def _close(x: np.ndarray, y: np.ndarray, tol: float) -> bool:
    finite = np.abs(y[np.isfinite(y)])
    scale = max(1.0, float(finite.max()) if finite.size else 1.0)
    return bool(np.allclose(x, y, rtol=tol, atol=tol * scale, equal_nan=True))


@dataclass
class Outcome:
    #: "result", "input_error", "coupled_input_error" (allowed) or a failure kind
    kind: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind in ("result", "input_error", "coupled_input_error")


def _message_problems(exc: BaseException) -> str | None:
    msg = str(exc)
    if "np.float64(" in msg or "np.int64(" in msg:
        return "message shows numpy reprs"
    if len(msg) >= 500:
        return f"message of {len(msg)} characters"
    return None


def _call(spec: Spec, kw: dict, p: Problem) -> tuple[Any, BaseException | None, list[str]]:
    """(result, exception, warnings raised inside the call)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res, exc = spec.call(kw), None
        except Exception as e:  # noqa: BLE001 - every exception is a verdict here (MemoryError included)
            res, exc = None, e
    return res, exc, [f"{w.category.__name__}: {w.message}" for w in caught]


#: hostile values that change an argument's number of assets (or periods, or portfolios) or its asset
#: labels, leaving it inconsistent with the others: an InputError may name any of them
MISMATCHING = frozenset({"too_short", "too_long", "one_bigger", "wrong_m", "zero_rows", "labels_foreign",
                         "labels_duplicate"})
NONE_VALUES = frozenset({"none", "scalar_none", "int_none", "choice_none", "flag_none"})


def classify(spec: Spec, param: str, hostile: Hostile, kw: dict, p: Problem, base_kw: dict | None) -> Outcome:
    """Call with the corrupted ``kw`` and judge the outcome (see the module docstring)."""
    res, exc, warned = _call(spec, kw, p)
    outcome = _judge(spec, param, hostile, kw, p, base_kw, res, exc)
    if outcome.ok and warned:
        # a numpy warning escaping the library is an error under the project's pytest settings
        return Outcome("warning", "; ".join(sorted(set(warned)))[:300])
    return outcome


def _other_rows(spec: Spec, kw: dict, param: str, p: Problem, base_kw: dict, res: Any) -> Outcome:
    """A batch with one bad row: that row says so (a status other than OPTIMAL), the others are
    solved exactly as without it ("a bad row never stops the others")."""
    base, base_exc, _ = _call(spec, base_kw, p)
    if base_exc is not None:
        return Outcome("base_failed", f"{type(base_exc).__name__}: {base_exc}")
    bad = np.broadcast_to(np.asarray(kw[param], dtype=float), res.weights.shape)  # a shared row: all bad
    lo = np.broadcast_to(np.asarray(_num(kw.get("lower", 0.0)), dtype=float), res.weights.shape)
    up = np.broadcast_to(np.asarray(_num(kw.get("upper", 1.0)), dtype=float), res.weights.shape)
    rows = np.isnan(bad).any(axis=1) | (lo > up).any(axis=1)
    for i in range(len(res.status)):
        if rows[i] and res.status[i] == Status.OPTIMAL:
            return Outcome("bad_result", f"row {i} ({param} bad) reported OPTIMAL")
        if not rows[i] and not np.allclose(res.weights[i], base.weights[i], rtol=1e-9, atol=1e-12):
            return Outcome("bad_result", f"row {i} changed by another row's {param}")
    return Outcome("result")


def _judge_input_error(spec: Spec, param: str, hostile: Hostile, p: Problem, base_kw: dict | None,
                       exc: InputError) -> Outcome:
    """Whether an InputError names the right argument (see the module docstring)."""
    if hostile.expect == "dated-aligned" and exc.argument == param:
        return Outcome("input_error", "dates in another order refused")  # refusing is fine for dates
    if hostile.expect.endswith("aligned"):
        _, base_exc, _ = _call(spec, base_kw, p) if base_kw is not None else (None, None, None)
        if type(base_exc) is type(exc) and getattr(base_exc, "argument", None) == exc.argument:
            return Outcome("input_error", "as the plain call")
        return Outcome("refused_aligned", f"{type(exc).__name__}: {exc}")
    if exc.argument == param:
        return Outcome("input_error", type(exc).__name__)
    if isinstance(exc, InfeasibleError) and any(param in g and exc.argument in g for g in spec.coupled):
        return Outcome("coupled_input_error", f"{exc.argument}")
    if hostile.name in MISMATCHING and exc.argument in spec.params:
        # lengths or labels that disagree: the library cannot tell which argument is the wrong one
        return Outcome("coupled_input_error", f"{exc.argument}")
    if hostile.name in NONE_VALUES and any(param in g and exc.argument in g for g in spec.together):
        return Outcome("coupled_input_error", f"{exc.argument}")
    if exc.argument in spec.excuses.get((param, hostile.name), ()) or exc.argument in spec.excuses.get((param, "*"), ()):
        return Outcome("coupled_input_error", f"{exc.argument}")
    return Outcome("wrong_argument", f"{type(exc).__name__} names {exc.argument!r}: {exc}")


def _judge(spec: Spec, param: str, hostile: Hostile, kw: dict, p: Problem, base_kw: dict | None, res: Any,
           exc: BaseException | None) -> Outcome:
    if exc is not None:
        if isinstance(exc, InputError):
            outcome = _judge_input_error(spec, param, hostile, p, base_kw, exc)
            bad_message = _message_problems(exc)
            if outcome.ok and bad_message:
                return Outcome("bad_message", f"{type(exc).__name__}({exc.argument!r}): {bad_message}: {str(exc)[:300]}")
            return outcome
        kind = "memory_error" if isinstance(exc, MemoryError) else f"exception:{type(exc).__name__}"
        return Outcome(kind, f"{type(exc).__name__}: {str(exc)[:300]}")
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the checks' own arithmetic on extreme numbers
            problems = spec.check(res, kw, p)
    except Exception as e:  # noqa: BLE001 - a result the checks cannot read is itself a finding
        return Outcome("unreadable_result", f"{type(e).__name__}: {str(e)[:200]}")
    if problems:
        status = getattr(res, "status", None)
        if isinstance(status, np.ndarray):
            status = [str(v) for v in status]
        elif status is not None:
            status = str(status)
        return Outcome("bad_result", f"status {status}: " + "; ".join(problems)[:400])
    if hostile.expect == "other-rows" and isinstance(getattr(res, "status", None), np.ndarray):
        return _other_rows(spec, kw, param, p, base_kw, res)
    if hostile.expect.endswith("aligned") and base_kw is not None:
        base, base_exc, _ = _call(spec, base_kw, p)
        if base_exc is not None:
            return Outcome("base_failed", f"{type(base_exc).__name__}: {base_exc}")
        alt = None
        if param in COV_PARAMS and isinstance(kw.get(param), pd.DataFrame):
            alt = [p.labels.index(c) for c in kw[param].columns]
        with np.errstate(all="ignore"):
            if isinstance(res, ma.Frontier) and param in COV_PARAMS:
                diff = same_frontier_path(res, base)
            else:
                diff = same_numbers(res, base, list(p.labels), alt, spec.same_tol)
        if diff is not None:
            return Outcome("misaligned_result", diff[:400])
        if param not in COV_PARAMS and hasattr(res, "iterations"):
            # the same data in the same order must take the same path: a warm start (or bounds)
            # read in another order shows only here, the optimum being the same
            if not np.array_equal(np.asarray(res.iterations), np.asarray(base.iterations)):
                return Outcome("misaligned_result", f"iterations {res.iterations} vs {base.iterations} on the same data")
    return Outcome("result")


def same_frontier_path(res: Any, base: Any) -> str | None:
    """Two frontiers of the same problem with the covariance's rows and columns in another order
    trace the same path, but rounding differs, and an event that moves no weight (a bound reached
    exactly at the path's end) may be listed as a turning point in one order and not in the other:
    compare the weights along the path (at every turning point of either and between them)."""
    taus = np.concatenate([1 / np.asarray(res.risk_aversion), 1 / np.asarray(base.risk_aversion)])
    taus = np.unique(taus[np.isfinite(taus) & (taus > 0)])
    grid = np.concatenate([taus, (taus[1:] + taus[:-1]) / 2, taus[:1] / 2, taus[-1:] * 1.5])
    for tau in grid:
        ra = 1 / tau
        w1, w2 = (pd.Series(f.at_risk_aversion(ra)) if hasattr(f.at_risk_aversion(ra), "index")
                  else np.asarray(f.at_risk_aversion(ra)) for f in (res, base))
        if isinstance(w1, pd.Series) and isinstance(w2, pd.Series):
            w1 = w1.reindex(w2.index)
        gap = float(np.max(np.abs(np.asarray(w1, dtype=float) - np.asarray(w2, dtype=float))))
        if not gap <= 1e-9:
            return f"weights at risk aversion {ra:.6g} differ by {gap:.3g}"
    return None


def draw_problem(spec: Spec, draw: Callable) -> tuple[Problem, dict]:
    """A generic problem (2..8 assets, data from a drawn seed) and a valid call of ``spec`` on it."""
    n = draw(st.integers(2, 8), label="n")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    p = make_problem(n, seed)
    return p, spec.valid(p)


def corrupt(spec: Spec, param: str, hostile: Hostile, p: Problem, kw: dict, draw: Callable) -> tuple[dict, dict]:
    """(corrupted call, comparison base): ``param`` replaced by the hostile value. For label hostiles
    both are the labelled call; for date hostiles both have dated series."""
    base = kw
    if hostile.expect.startswith("labelled"):
        base = labelled(spec, kw, p)
    elif hostile.expect.startswith("dated"):
        base = dated(spec, kw)
    bad = dict(base)
    bad[param] = hostile.make(Ctx(param, base.get(param), base, p, draw))
    return bad, base


def run_case(spec: Spec, param: str, draw: Callable) -> list[tuple[Hostile, Outcome]]:
    """Every hostile value of the parameter's kind, each in its own call on one drawn problem."""
    p, kw = draw_problem(spec, draw)
    out = []
    for hostile in spec.params[param].hostiles:
        bad, base = corrupt(spec, param, hostile, p, kw, draw)
        out.append((hostile, classify(spec, param, hostile, bad, p, base)))
    return out
