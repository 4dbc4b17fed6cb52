"""The constraints room: bounds, budget, group limits, linear rows, and trading from current
weights (costs, a turnover limit) of a portfolio, made once and passed as ``constraints=`` to the
solving functions."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from . import _core
from ._validate import (
    _as_float_array, _entry, _few, _num, align, as_bounds, as_scalar, as_vector, is_pandas, require_entries,
)
from .errors import InfeasibleError, InputError, ShapeError
from ._typing import ArrayLike, Vector, Matrix, Bounds

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Constraints"]


class Constraints:
    """Bounds, budget, group limits and linear rows on the weights w:

        lower <= w <= upper,   sum(w) = budget,
        group_lower[g] <= sum of w over the assets of group g <= group_upper[g],
        linear_lower <= A w <= linear_upper,
        sum |w - current_weights| <= turnover,

    and, with current weights, the trading costs ``sum buy_i (w_i - w0_i)^+ + sell_i (w0_i - w_i)^+``
    charged in the objective (the utility maximised is net of them).

    Parameters
    ----------
    lower, upper : float or (n,) array_like or pandas.Series
        Bounds on each weight (``-inf`` / ``inf`` allowed), as the solving functions' keywords.
    budget : float
        Required sum of the weights.
    groups : (n,) array_like or pandas.Series, optional
        A label per asset (a sector, a country); None (or NaN) for an asset in no group. A Series
        is aligned to the assets by its index, or refused.
    group_lower, group_upper : mapping of group label -> float, or pandas.Series, optional
        Limits on each group's summed weight; a group without an entry is unlimited on that side.
        A label that is not one of the groups is refused.
    linear : tuple (A, lower, upper), optional
        Rows ``lower <= A w <= upper``: A an (m, n) array (or a DataFrame whose columns are aligned
        to the assets and whose index names the rows), the limits scalars or (m,) arrays
        (``-inf`` / ``inf`` for one-sided rows).
    current_weights : (n,) array_like or pandas.Series, optional
        The weights held now (w0); trades are ``w - w0``. Needed by ``costs`` and ``turnover``.
        In :func:`~microalloc.solve_mean_variance_batch` an (m, n) matrix (or DataFrame) of one
        row per account, and the costs and the turnover limit may vary by row too.
    costs : float, (n,) array_like, pandas.Series or a pair (buy, sell) of these, optional
        Proportional cost rates per unit of weight traded, as fractions (10 basis points is
        0.001): one rate for buying and selling, or a pair when they differ. Treated exactly: an
        asset that does not trade sits at its current weight as at a bound.
    turnover : float, optional
        Limit on ``sum |w - current_weights|`` (a one-way turnover of 10% is ``turnover=0.2``).
    exposure_lower, exposure_upper : mapping of factor -> float, or pandas.Series, optional
        Limits on the portfolio's factor exposures ``X'w`` under a
        :class:`~microalloc.FactorCovariance` (factors by name, or by position when the model's
        factors are unnamed): one row per limited factor. Refused with any other covariance.

    The checks that need the number of assets (shapes, labels, feasibility of the group limits
    against the bounds and the budget) run when the constraints meet a covariance, in the solving
    call. A group range that no portfolio meets is an
    :class:`~microalloc.errors.InfeasibleError` naming ``group_lower`` or ``group_upper``, the
    group and the range its assets can reach.
    """

    __module__ = "microalloc"

    def __init__(
        self,
        lower: Bounds = 0.0,
        upper: Bounds = 1.0,
        budget: float = 1.0,
        *,
        groups: Sequence[Any] | ArrayLike | None = None,
        group_lower: Mapping[Any, float] | pd.Series | None = None,
        group_upper: Mapping[Any, float] | pd.Series | None = None,
        linear: tuple[Matrix, Bounds, Bounds] | None = None,
        current_weights: Vector | None = None,
        costs: float | ArrayLike | None = None,
        turnover: float | None = None,
        exposure_lower: Mapping[Any, float] | pd.Series | None = None,
        exposure_upper: Mapping[Any, float] | pd.Series | None = None,
    ) -> None:
        self.lower, self.upper = lower, upper
        self.budget = as_scalar(budget, "budget")
        self.groups = groups
        self.group_lower = _group_limits(group_lower, "group_lower")
        self.group_upper = _group_limits(group_upper, "group_upper")
        if groups is None and (self.group_lower or self.group_upper):
            raise InputError("groups", "group limits were given without groups (a label per asset)")
        self.linear = _linear_triple(linear)
        self.current_weights = current_weights
        self.costs = _cost_pair(costs)
        self.turnover = _turnover_limit(turnover)
        self.exposure_lower = _group_limits(exposure_lower, "exposure_lower")
        self.exposure_upper = _group_limits(exposure_upper, "exposure_upper")
        if current_weights is None and (costs is not None or turnover is not None):
            which = "costs" if costs is not None else "turnover"
            raise InputError(which, "costs and a turnover limit need current_weights (the weights held now)")

    def __repr__(self) -> str:
        parts = [f"lower={_short(self.lower)}", f"upper={_short(self.upper)}", f"budget={self.budget:g}"]
        if self.groups is not None:
            parts.append(f"groups: {len(self.group_lower)} lower and {len(self.group_upper)} upper limits")
        if self.linear is not None:
            parts.append(f"linear: {np.shape(self.linear[0])[0] if np.ndim(self.linear[0]) == 2 else '?'} rows")
        if self.current_weights is not None:
            parts.append("current_weights")
        if self.costs is not None:
            parts.append(f"costs={_short(self.costs[0])}" if self.costs[0] is self.costs[1] else "costs=(buy, sell)")
        if self.turnover is not None:
            parts.append(f"turnover={_short(self.turnover)}")
        return f"Constraints({', '.join(parts)})"

    # -- resolved against the assets of a call ----------------------------------------------
    def _resolve(
        self, n: int, labels: Sequence[Any] | None, trading: bool = True, cov: Any = None
    ) -> "ResolvedConstraints":
        lo, up = as_bounds(self.lower, self.upper, n, self.budget, labels)
        names: list[Any] = []
        rows: list[np.ndarray] = []
        row_lo: list[float] = []
        row_up: list[float] = []
        if self.groups is not None:
            for name, row, glo, gup in _group_rows(self.groups, self.group_lower, self.group_upper, n, labels, lo, up):
                names.append(name)
                rows.append(row)
                row_lo.append(glo)
                row_up.append(gup)
            _check_groups_meet_budget(rows, row_lo, row_up, names, lo, up, self.budget)
        if self.exposure_lower or self.exposure_upper:
            for name, row, elo, eup in _exposure_rows(cov, self.exposure_lower, self.exposure_upper):
                names.append(name)
                rows.append(row)
                row_lo.append(elo)
                row_up.append(eup)
        if self.linear is not None:
            a, llo, lup, lnames = _linear_rows(self.linear, n, labels)
            names += lnames
            rows += list(a)
            row_lo += list(llo)
            row_up += list(lup)
        out = ResolvedConstraints(lo, up, self.budget, None, None, None, [])
        if rows:
            out.a = np.ascontiguousarray(np.vstack(rows), dtype=np.float64)
            out.row_lower, out.row_upper, out.row_names = np.array(row_lo), np.array(row_up), names
        if trading and self.current_weights is not None:
            out.trading = self._trading(n, labels, lo, up)
        return out

    def _trading(self, n: int, labels: Sequence[Any] | None, lo: np.ndarray, up: np.ndarray) -> "Trading":
        w0 = as_vector(self.current_weights, n, "current_weights", labels=labels)
        buy_in, sell_in = self.costs if self.costs is not None else (0.0, 0.0)
        buy = as_vector(buy_in, n, "costs", allow_scalar=True, labels=labels)
        sell = buy if sell_in is buy_in else as_vector(sell_in, n, "costs", allow_scalar=True, labels=labels)
        for rates in (buy, sell):
            require_entries(rates, rates >= 0, "costs", labels, "rates must be >= 0")
        if np.ndim(self.turnover) != 0:
            raise ShapeError("turnover", "one limit per account is for solve_mean_variance_batch; give a scalar")
        limit = np.inf if self.turnover is None else self.turnover
        least = _core.minimum_turnover(w0, lo, up, self.budget)
        if limit < least * (1 - 1e-12) - 1e-15:
            raise InfeasibleError(
                "turnover",
                f"the limit {_num(limit)} is below {_num(least)}, the least turnover that brings the current "
                "weights inside the bounds and onto the budget",
            )
        return Trading(w0, buy, sell, limit)


class Trading:
    """Current weights, cost rates and the turnover limit in the assets' order (internal)."""

    __slots__ = ("current", "buy", "sell", "turnover")

    def __init__(self, current: np.ndarray, buy: np.ndarray, sell: np.ndarray, turnover: float) -> None:
        self.current, self.buy, self.sell, self.turnover = current, buy, sell, turnover


class ResolvedConstraints:
    """Constraints as arrays in the assets' order (internal)."""

    __slots__ = ("lower", "upper", "budget", "a", "row_lower", "row_upper", "row_names", "trading")

    def __init__(self, lower, upper, budget, a, row_lower, row_upper, row_names) -> None:
        self.lower, self.upper, self.budget = lower, upper, budget
        self.a, self.row_lower, self.row_upper, self.row_names = a, row_lower, row_upper, row_names
        self.trading: Trading | None = None

    @property
    def has_rows(self) -> bool:
        return self.a is not None


def _turnover_limit(turnover: Any) -> Any:
    """A limit >= 0, or (for a batch) one limit per account: checked here, NaN rows by the core."""
    if turnover is None or np.ndim(turnover) == 0:
        return None if turnover is None else as_scalar(turnover, "turnover", minimum=0.0, allow_inf=True)
    limits = _as_float_array(turnover, "turnover")
    if (limits < 0).any():
        k = int(np.flatnonzero(limits < 0)[0])
        raise InputError("turnover", f"entry {k} is {_num(limits[k])}; limits must be >= 0")
    return limits


def _cost_pair(costs: Any) -> tuple[Any, Any] | None:
    """(buy, sell) rates as given (checked per asset at the call); one rate serves both sides."""
    if costs is None:
        return None
    if isinstance(costs, tuple):
        if len(costs) != 2:
            raise InputError("costs", "expected a rate or a pair (buy, sell) of rates")
        return costs
    return (costs, costs)


def _short(x: Any) -> str:
    return f"{float(x):g}" if np.ndim(x) == 0 and not isinstance(x, (str, bytes)) else "per asset"


def _group_limits(x: Any, name: str) -> dict[Any, float]:
    if x is None:
        return {}
    if is_pandas(x) and getattr(x, "ndim", 0) == 1:
        items = list(x.items())
    elif isinstance(x, Mapping):
        items = list(x.items())
    else:
        raise InputError(name, "expected a mapping of group label -> limit (a dict or a pandas Series)")
    out: dict[Any, float] = {}
    for key, value in items:
        v = as_scalar(value, name, allow_inf=True)
        out[key] = v
    return out


def _linear_triple(linear: Any) -> tuple[Any, Any, Any] | None:
    if linear is None:
        return None
    if not isinstance(linear, (tuple, list)) or len(linear) != 3:
        raise InputError("linear", "expected a triple (A, lower, upper) of rows lower <= A w <= upper")
    return tuple(linear)


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _members(g: Any, n: int, labels: Any) -> dict[Any, Any]:
    """Group label -> the indices of its assets, in order of first appearance; missing labels
    (None, NaN) are in no group. Numbers and strings in a typed numpy array (or a pandas column's
    values) are grouped by np.unique
    (a per-asset Python loop costs 10 ms at 10,000 assets); anything else asset by asset."""
    # only an array typed already: np.asarray of a mixed list would turn 1 and "1" into one label
    arr = g if isinstance(g, np.ndarray) else np.asarray(g, dtype=object)
    if arr.dtype.kind in "iuUSf" and arr.size == n:
        arr = arr.reshape(-1)
        keep = ~np.isnan(arr) if arr.dtype.kind == "f" else np.ones(n, dtype=bool)
        uniq, first, inverse = np.unique(arr[keep], return_index=True, return_inverse=True)
        where = np.flatnonzero(keep)
        by_group = np.split(where[np.argsort(inverse, kind="stable")], np.cumsum(np.bincount(inverse))[:-1])
        return {uniq[k].item(): by_group[k] for k in np.argsort(first)}
    items = list(np.asarray(g, dtype=object).reshape(-1))
    if len(items) != n:
        raise ShapeError("groups", f"expected one label per asset ({n}), got {len(items)}")
    members: dict[Any, list[int]] = {}
    for i, label in enumerate(items):
        if _is_missing(label):
            continue
        try:
            members.setdefault(label, []).append(i)
        except TypeError:
            raise InputError("groups", f"{_entry(labels, i)} = {label!r} is not a usable label (unhashable)") from None
    return members


def _group_rows(groups, group_lower, group_upper, n, labels, lo, up):
    """One row per group with a limit: (group label, indicator row, lower, upper)."""
    g = align(groups, labels, "groups")
    members = _members(g.to_numpy() if is_pandas(g) else g, n, labels)
    for name, limits in (("group_lower", group_lower), ("group_upper", group_upper)):
        unknown = [k for k in limits if k not in members]
        if unknown:
            raise InputError(name, f"no asset is in the group(s) {_few(unknown)}; the groups are {_few(list(members))}")
    out = []
    for label, idx in members.items():
        glo, gup = group_lower.get(label, -np.inf), group_upper.get(label, np.inf)
        if glo == -np.inf and gup == np.inf:
            continue
        reach_lo, reach_up = float(np.sum(lo[idx])), float(np.sum(up[idx]))
        if glo > gup:
            raise InputError("group_lower", f"group {label!r}: lower {_num(glo)} is above upper {_num(gup)}")
        tol = 1e-12 * max(1.0, abs(reach_lo), abs(reach_up))
        if glo > reach_up + tol or gup < reach_lo - tol:
            which = "group_lower" if glo > reach_up + tol else "group_upper"
            raise InfeasibleError(
                which,
                f"group {label!r} can hold between {_num(reach_lo)} and {_num(reach_up)} (the bounds of its "
                f"{len(idx)} assets), which misses [{_num(glo)}, {_num(gup)}]",
            )
        row = np.zeros(n)
        row[idx] = 1.0
        out.append((label, row, glo, gup))
    return out


def _check_groups_meet_budget(rows, row_lo, row_up, names, lo, up, budget) -> None:
    """The groups with limits partition part of the assets: the budget must be reachable with
    every group inside its limits and the other assets inside their bounds."""
    if not rows:
        return
    in_group = np.zeros(lo.shape[0], dtype=bool)
    least = most = 0.0
    for row, glo, gup in zip(rows, row_lo, row_up):
        idx = row > 0
        in_group |= idx
        least += max(glo, float(np.sum(lo[idx])))
        most += min(gup, float(np.sum(up[idx])))
    least += float(np.sum(lo[~in_group]))
    most += float(np.sum(up[~in_group]))
    # finite ends only: an infinite one (a -inf bound) made the tolerance inf and skipped the test
    tol = 1e-12 * max(1.0, abs(budget), *(abs(x) for x in (least, most) if np.isfinite(x)))
    if budget < least - tol or budget > most + tol:
        side = "group_lower" if budget < least - tol else "group_upper"
        raise InfeasibleError(
            side,
            f"with every group inside its limits the weights sum to between {_num(least)} and {_num(most)}, "
            f"which misses the budget {_num(budget)} (groups {_few(names)})",
        )


def _exposure_rows(cov, exposure_lower, exposure_upper):
    """One row per limited factor: (name, its loadings column, lower, upper)."""
    from .covariance import FactorCovariance

    which = "exposure_upper" if exposure_upper else "exposure_lower"
    if not isinstance(cov, FactorCovariance):
        raise InputError(which, "factor exposure limits need a microalloc.FactorCovariance (the loadings X)")
    factors = list(cov.factors) if cov.factors is not None else list(range(cov.k))
    for name, limits in (("exposure_lower", exposure_lower), ("exposure_upper", exposure_upper)):
        unknown = [f for f in limits if f not in factors]
        if unknown:
            raise InputError(name, f"no factor {_few(unknown)}; the model's factors are {_few(factors)}")
    out = []
    for j, f in enumerate(factors):
        lo, up = exposure_lower.get(f, -np.inf), exposure_upper.get(f, np.inf)
        if lo == -np.inf and up == np.inf:
            continue
        if lo > up or lo == np.inf or up == -np.inf:
            side = "exposure_upper" if up == -np.inf else "exposure_lower"
            raise InputError(side, f"factor {f!r}: no exposure lies in [{_num(lo)}, {_num(up)}]")
        out.append((f"exposure {f}", np.ascontiguousarray(cov.loadings[:, j]), lo, up))
    return out


def _linear_rows(linear, n, labels):
    a_in, lo_in, up_in = linear
    names = None
    if is_pandas(a_in) and getattr(a_in, "ndim", 0) == 2:
        a_in = align(a_in, labels, "linear")
        names = list(a_in.index)
        a = a_in.to_numpy(dtype=np.float64)
    else:
        try:
            a = np.asarray(a_in, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("linear", "A must be a numeric (m, n) array") from None
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != n:
        raise ShapeError("linear", f"A must have one column per asset ({n}), got shape {a.shape}")
    m = a.shape[0]
    if not np.isfinite(a).all():
        r, c = (int(v) for v in np.argwhere(~np.isfinite(a))[0])
        raise InputError("linear", f"A[{r}, {c}] = {_num(a[r, c])}; every entry must be finite")
    llo = as_vector(lo_in, m, "linear", allow_scalar=True, allow_inf=True)
    lup = as_vector(up_in, m, "linear", allow_scalar=True, allow_inf=True)
    bad = np.flatnonzero(llo > lup)
    if bad.size:
        j = int(bad[0])
        raise InputError("linear", f"row {j}: lower {_num(llo[j])} is above upper {_num(lup[j])}")
    names = names if names is not None else [f"row {j}" for j in range(m)]
    return a, llo, lup, names
