"""Micro-rebalancing: drift of weights, tolerance-band checks over a batch of portfolios, and the
trades that restore the bands (docs/methods.md §7). The loops run in C++ on threads, with the
GIL released; outputs are written straight into new numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core
from ._progress import as_progress
from ._validate import (
    SCALE_HUGE,
    _as_float_array,
    _at,
    _describe,
    _entry,
    _label_text,
    _num,
    _nums,
    _row_entry,
    align,
    as_choice,
    as_periods_per_year,
    as_scalar,
    as_threads,
    asset_labels,
    is_pandas,
    labels_of,
)
from .covariance import as_covariance
from .errors import InputError, NonFiniteError, ShapeError
from .result import Result, _pandas, timed
from ._typing import ArrayLike, Vector, Matrix, ProgressCallback, Labelled
from .covariance import CovarianceLike

if TYPE_CHECKING:
    import pandas as pd

_TRIGGERS = {"any": _core.Trigger.ANY_BREACH, "l1": _core.Trigger.L1_DRIFT, "tracking_error": _core.Trigger.TRACKING_ERROR}
_ACTIONS = {"target": _core.Action.TARGET, "band_edge": _core.Action.BAND_EDGE, "halfway": _core.Action.HALFWAY}
#: the band-combination rules: the tighter band ("min") or the looser ("max")
_COMBINES = ("min", "max")
_NO_COV = np.empty((0, 0))
_NO_BAND = np.empty(0)


@dataclass(frozen=True, repr=False, eq=False)
class BandCheck(Result):
    """Outcome of :func:`check_bands`, one entry per portfolio (a leading axis of length m for a
    batch; scalars and (n,) arrays for one portfolio).

    Attributes
    ----------
    breach : (m, n) bool
        The weight is outside its band (a weight exactly on an edge is inside).
    n_breaches : (m,) int
    max_drift : (m,) float
        Largest |w_i - t_i| / width_i, in band widths (> 1 for a breach; inf for a drift where the
        width is 0, and 0/0 counts as 0).
    l1_drift : (m,) float
        Half the L1 distance to target, 0.5 sum |w - t| (the one-way turnover back to target).
    triggered : (m,) bool
        The portfolio-level trigger: any breach (default), ``l1_drift > threshold``, or
        ``tracking_error > threshold``.
    tracking_error : (m,) float or None
        sqrt(d'Sd) of the drift d = w - t when a covariance was given.
    """

    breach: Any
    n_breaches: Any
    max_drift: Any
    l1_drift: Any
    triggered: Any
    tracking_error: Any = None

    _columns = (("n_breaches", "n_breaches"), ("max_drift", "max_drift"), ("l1_drift", "l1_drift"),
                ("triggered", "triggered"), ("tracking_error", "tracking_error"))

    def _figure_items(self) -> list[tuple[str, Any]]:
        return [("status", "OPTIMAL"), ("portfolios", int(np.size(self.triggered))),
                ("triggered", int(np.sum(self.triggered))), ("breaches", int(np.sum(self.n_breaches))),
                ("solve_time_s", self.solve_time_s)]

    def _shape_text(self) -> str:
        return ""


@dataclass(frozen=True, repr=False, eq=False)
class Rebalance(Result):
    """Outcome of :func:`rebalance_trades`.

    Attributes
    ----------
    weights : (m, n) float
        Weights after trading (unchanged for portfolios that were not triggered).
    trades : (m, n) float
        ``weights`` after minus before (each row sums to 0).
    units : (m, n) float or None
        Trades in units, ``trades * portfolio_value / price``, when prices were given.
    traded : (m,) bool
        The portfolios that traded (the trigger of ``check``).
    check : BandCheck
        The band check before trading.
    """

    weights: Any
    trades: Any
    units: Any
    traded: Any
    check: BandCheck

    _columns = (("traded", "traded"), ("n_breaches", "check.n_breaches"), ("max_drift", "check.max_drift"),
                ("l1_drift", "check.l1_drift"))

    def _figure_items(self) -> list[tuple[str, Any]]:
        return [("status", "OPTIMAL"), ("portfolios", int(np.size(self.traded))),
                ("traded", int(np.sum(self.traded))), ("solve_time_s", self.solve_time_s)]

    def _shape_text(self) -> str:
        return ""


class _Batch:
    """Weights as a C-ordered (m, n) float64 matrix in the assets' order, with what is needed to
    give results back in the caller's shape and labels.

    ``labels`` are the assets' labels of the call (:func:`~microalloc._validate.asset_labels` of
    its inputs); every per-asset input is aligned to them by label."""

    def __init__(self, weights: Any, name: str = "weights", labels: Any = None) -> None:
        weights = align(weights, labels, name)
        a = _as_float_array(weights, name)
        self.single = a.ndim == 1
        self.columns = labels
        self.index = list(weights.index) if is_pandas(weights) and a.ndim == 2 else None
        if a.ndim not in (1, 2):
            raise ShapeError(name, f"expected (n,) or (m, n), got {a.shape}")
        self.matrix = np.ascontiguousarray(a.reshape(1, -1) if a.ndim == 1 else a)
        self.m, self.n = self.matrix.shape
        if self.n == 0:
            raise ShapeError(name, "no assets")

    def rows(self, x: Any, name: str, *, finite: bool = True) -> np.ndarray:
        """A per-portfolio input: (n,) shared or (m, n)."""
        a = _as_float_array(align(x, self.columns, name), name)
        if not ((a.ndim == 1 and a.shape[0] == self.n) or (a.ndim == 2 and a.shape[1] == self.n and a.shape[0] in (1, self.m))):
            raise ShapeError(name, f"expected ({self.n},) or ({self.m}, {self.n}), got {a.shape}")
        if finite:
            _require_finite(a, name, self.columns)
        return np.ascontiguousarray(a.reshape(1, -1) if a.ndim == 1 else a)

    def per_asset(self, x: Any, name: str) -> np.ndarray:
        """A band: None, a scalar or (n,), finite and >= 0."""
        if x is None:
            return _NO_BAND
        a = _as_float_array(align(x, self.columns, name), name)
        if a.ndim == 0:
            a = np.full(self.n, float(a))
        if a.shape != (self.n,):
            raise ShapeError(name, f"expected a scalar or ({self.n},), got {a.shape}")
        _require_finite(a, name, self.columns)
        if (a < 0).any():
            k = int(np.flatnonzero(a < 0)[0])
            raise InputError(name, f"{_entry(self.columns, k)} = {_num(a[k])} is negative; band widths must be >= 0")
        return a

    def require_finite(self, name: str) -> None:
        _require_finite(self.matrix[0] if self.single else self.matrix, name, self.columns)

    def where(self, row: int, col: int) -> str:
        """A position of the (m, n) matrix as the caller sees it, by label when labelled."""
        return _entry(self.columns, col) if self.single else _row_entry(row, col, self.columns)

    def per_row(self, v: np.ndarray) -> Any:
        if self.single:
            return v[0].item()
        if self.index is not None:
            import pandas as pd

            return pd.Series(v, index=self.index)
        return v

    def matrix_out(self, a: np.ndarray) -> Any:
        if self.single:
            a = a[0]
            if self.columns is not None:
                import pandas as pd

                return pd.Series(a, index=self.columns)
            return a
        if self.columns is not None or self.index is not None:
            import pandas as pd

            return pd.DataFrame(a, index=self.index, columns=self.columns)
        return a


def _require_finite(a: np.ndarray, name: str, labels: Any = None) -> None:
    """The core's one-pass check (as for vectors in _validate.as_vector), on any shape; the asset
    (last) axis is named by label when labelled."""
    bad = _core.find_non_finite(np.ascontiguousarray(a).reshape(-1), False)
    if bad is not None:
        k, count, value = bad
        index = [int(i) for i in np.unravel_index(k, a.shape)]
        if a.ndim == 1:
            where = _entry(labels, index[0])
        elif a.ndim == 2:
            where = _row_entry(index[0], index[1], labels)
        else:
            where = f"entry {index}"
        raise NonFiniteError(name, f"{where} is {_num(value)} (not finite); {count} such entries")


def _bands(batch: _Batch, targets: Any, absolute: Any, relative: Any, combine: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    if absolute is None and relative is None:
        raise InputError("absolute", "give an absolute band, a relative band, or both")
    combine = as_choice(combine, _COMBINES, "combine")
    return (
        batch.rows(targets, "targets"),
        batch.per_asset(absolute, "absolute"),
        batch.per_asset(relative, "relative"),
        combine == "max",
    )


def _trigger(trigger: str, threshold: Any, cov: Any) -> tuple[_core.Trigger, float]:
    trigger = as_choice(trigger, _TRIGGERS, "trigger")
    if trigger == "any":
        return _TRIGGERS[trigger], 0.0
    if threshold is None:
        raise InputError("threshold", f"the {trigger!r} trigger needs a threshold")
    t = as_scalar(threshold, "threshold", minimum=0.0)
    if trigger == "tracking_error" and cov is None:
        raise InputError("cov", "the 'tracking_error' trigger needs a covariance")
    return _TRIGGERS[trigger], t


def _band_check(batch: _Batch, bands: tuple[np.ndarray, np.ndarray, np.ndarray, bool], cov: Any, trigger: str,
                threshold: float | None, threads: int | None, with_breach: bool = True) -> BandCheck:
    kind, thr = _trigger(trigger, threshold, cov)
    nthreads = as_threads(threads)
    s = _NO_COV
    if cov is not None:  # labelled: its labels are the batch's (asset_labels takes the covariance's first)
        s, report = as_covariance(cov, check_psd=True)
        if s.shape[0] != batch.n:
            raise ShapeError("cov", f"expected ({batch.n}, {batch.n}), got {s.shape}")
        _require_drift_scale(batch.matrix, bands[0], report.max_variance)
    try:
        breach, count, worst, l1, te, triggered = _core.check_bands(
            batch.matrix, *bands, s, kind, thr, with_breach, nthreads
        )
    except ValueError as e:  # the kernel's one-pass finiteness check names the entry
        batch.require_finite("weights")  # the same check here names it by label
        raise NonFiniteError("weights", str(e).removeprefix("weights: ")) from None
    return BandCheck(
        breach=batch.matrix_out(breach) if breach is not None else None,
        n_breaches=batch.per_row(count),
        max_drift=batch.per_row(worst),
        l1_drift=batch.per_row(l1),
        triggered=batch.per_row(triggered),
        tracking_error=None if te is None else batch.per_row(te),
    )


def _require_drift_scale(w: np.ndarray, t: np.ndarray, max_variance: float) -> None:
    """Refuse data so large that the tracking error of the drift, (w-t)'S(w-t) <= n max variance
    max|w - t|^2, overflows (the rule of check_scales, with SCALE_HUGE): the covariance when it
    overflows with weights of size 1 (|w - t| <= 2), else the larger of weights and targets.
    Non-finite entries are left to the finiteness check that follows."""
    with np.errstate(over="ignore"):  # inf: refused
        wmax, tmax = np.abs(w).max(initial=0.0), np.abs(t).max(initial=0.0)
        base = w.shape[1] * np.float64(max_variance)
        risk = base * (wmax + tmax) ** 2
    if np.isfinite(wmax) and np.isfinite(tmax) and risk > SCALE_HUGE:
        if base * 4.0 > SCALE_HUGE:
            raise InputError("cov", f"n * max variance = {base:.3g}: the tracking error of a drift of size 2 "
                             f"({base * 4.0:.3g}) exceeds {SCALE_HUGE:.3g} and overflows (rescale the returns)")
        name, big = ("weights", wmax) if wmax >= tmax else ("targets", tmax)
        raise InputError(name, f"max |{name}| = {big:.3g}: n * max variance * max|weights - targets|^2 = {risk:.3g} "
                         f"exceeds {SCALE_HUGE:.3g}, the tracking error of the drift overflows (rescale weights and targets)")


@timed
def check_bands(
    weights: Matrix,
    targets: Matrix,
    *,
    absolute: float | Vector | None = None,
    relative: float | Vector | None = None,
    combine: str = "min",
    cov: CovarianceLike | None = None,
    trigger: str = "any",
    threshold: float | None = None,
    threads: int | None = None,
) -> BandCheck:
    """Check m portfolios against tolerance bands around their targets.

    Parameters
    ----------
    weights : (n,) or (m, n) array_like or pandas object
        Current weights (after drift, see :func:`drift`).
    targets : (n,) or (m, n) array_like
        Target weights, shared by every portfolio or one row each.
    absolute : float or (n,) array_like, optional
        Half-width in weight points: 0.03 is +-3 points.
    relative : float or (n,) array_like, optional
        Half-width as a fraction of the target: 0.25 is +-25% of t_i.
    combine : {"min", "max"}
        With both bands, the tighter ("min", the usual reading of the 5/25 rule: whichever is
        breached first) or the looser applies. A zero target gets only the absolute band (width 0
        without one: any holding of it is a breach).
    cov : (n, n) array_like or Covariance, optional
        Adds the ex-ante tracking error of the drift, sqrt((w - t)'S(w - t)) (one GEMM per block of
        256 portfolios).
    trigger : {"any", "l1", "tracking_error"}
        Portfolio-level trigger: any breach; ``l1_drift > threshold``; ``tracking_error >
        threshold``.
    threshold : float, optional
        For the "l1" and "tracking_error" triggers.
    threads : int, optional
        Threads for the batch (default: all cores).

    A weight breaches its band when w_i > t_i + width_i or w_i < t_i - width_i, with the edges
    computed as written: a weight exactly on an edge is inside.
    """
    batch = _Batch(weights, labels=asset_labels(cov, weights, targets, absolute, relative))
    return _band_check(batch, _bands(batch, targets, absolute, relative, combine), cov, trigger, threshold, threads)


@timed
def rebalance_trades(
    weights: Matrix,
    targets: Matrix,
    *,
    absolute: float | Vector | None = None,
    relative: float | Vector | None = None,
    combine: str = "min",
    action: str = "band_edge",
    min_trade: float = 0.0,
    cov: CovarianceLike | None = None,
    trigger: str = "any",
    threshold: float | None = None,
    portfolio_values: float | Vector | None = None,
    prices: Matrix | None = None,
    threads: int | None = None,
) -> Rebalance:
    """The trades that bring the triggered portfolios back within their bands.

    Bands, trigger and covariance are as in :func:`check_bands`; only the triggered portfolios
    trade. ``action``:

    - ``"band_edge"`` (default): the least-squares smallest trade that puts every weight back in
      its band and keeps the budget, the projection onto {t - h <= w <= t + h, sum w = sum t}
      (the policy that is optimal under proportional costs, Leland; Dybvig);
    - ``"target"``: back to the targets;
    - ``"halfway"``: midway between the band-edge portfolio and the targets (Daryanani's trade
      back to a half-band).

    Band edges never go below 0 for a non-negative target: rebalancing does not short a long
    target. Each row's weights must sum to its targets' sum within 1e-9 (trades are
    self-financing; data rounded in float32, to about 1e-7, must be renormalised in float64 first).
    A mismatch names ``targets`` when every row of weights sums to 1 (fully invested), else
    ``weights``.

    min_trade : float
        Trades smaller than this (in weight) are skipped for holdings inside their bands; the
        other trades absorb the difference (least squares, bands kept), repeated until no such
        trade is left, or until the others cannot absorb a round of skips within their bands (that
        round's small trades are then kept).
    portfolio_values : float or (m,) array_like, optional
        With ``prices``: the trades in units, trades * value / price.
    prices : (n,) or (m, n) array_like, optional
        Positive prices.
    """
    batch = _Batch(weights, labels=asset_labels(cov, weights, targets, absolute, relative, prices))
    batch.require_finite("weights")
    action = as_choice(action, _ACTIONS, "action")
    mt = as_scalar(min_trade, "min_trade", minimum=0.0)
    bands = _bands(batch, targets, absolute, relative, combine)
    if (portfolio_values is None) != (prices is None):
        raise InputError("prices", "trades in units need both portfolio_values and prices")
    if prices is not None:
        p = batch.rows(prices, "prices")
        if not (p > 0).all():
            raise InputError("prices", "prices must be > 0")
        v = _as_float_array(portfolio_values, "portfolio_values")
        if v.ndim == 0:
            v = np.full(batch.m, float(v))
        if v.shape != (batch.m,):
            raise ShapeError("portfolio_values", f"expected a scalar or ({batch.m},), got {v.shape}")
        _require_finite(v, "portfolio_values")
        if not (v > 0).all():
            raise InputError("portfolio_values", "portfolio values must be > 0")
    _require_self_financing(batch, bands[0])
    check = _band_check(batch, bands, cov, trigger, threshold, threads)
    rows = np.ascontiguousarray(np.atleast_1d(np.asarray(check.triggered, dtype=bool)))
    try:
        new, trades = _core.rebalance(batch.matrix, *bands, rows, _ACTIONS[action], mt, as_threads(threads))
    except ValueError as e:  # the core's own check, should rounding differ at the tolerance's edge
        raise InputError("weights", str(e).removeprefix("weights: ")) from None
    units = None if prices is None else batch.matrix_out(trades * v[:, None] / p)
    return Rebalance(
        weights=batch.matrix_out(new),
        trades=batch.matrix_out(trades),
        units=units,
        traded=check.triggered,
        check=check,
    )


def self_financing_off(w_sum: np.ndarray, t_sum: np.ndarray) -> np.ndarray:
    """Where a portfolio's weights and targets have different totals (the core's tolerance, 1e-9
    relative to max(1, |total|)), so its trades could not be self-financing; NaN totals are off."""
    return ~(np.abs(w_sum - t_sum) <= 1e-9 * np.maximum(1.0, np.abs(t_sum)))


def _require_self_financing(batch: _Batch, targets: np.ndarray) -> None:
    """Each row's weights sum to its targets' sum (the core's tolerance), else trades cannot be
    self-financing."""
    w_sum = batch.matrix.sum(axis=1)
    t_sum = np.broadcast_to(targets.sum(axis=1), w_sum.shape)
    off = self_financing_off(w_sum, t_sum)
    if off.any():
        k = int(np.flatnonzero(off)[0])
        where = "" if batch.single else f" of row {k}"
        a, b = _nums(w_sum[k], t_sum[k])
        # the totals are coupled: blame the targets when every portfolio is fully invested (sums to 1)
        shared = bool((np.abs(w_sum - 1.0) <= 1e-9).all())
        name = "targets" if shared else "weights"
        t_where = where if targets.shape[0] > 1 else ""  # shared targets: one total for every row
        what = f"the targets{t_where} sum to {b} but the weights to {a}" if shared else f"sum{where} = {a} but the targets sum to {b}"
        rounding = abs(w_sum[k] - t_sum[k]) <= 1e-6 * max(1.0, abs(t_sum[k]))  # e.g. float32 data (1e-7)
        raise InputError(
            name,
            f"{what}; trades are self-financing, so weights and targets must have the same total, within 1e-9 of "
            f"it ({int(off.sum())} such rows{'; renormalise lower-precision data in float64' if rounding else ''})",
        )


def drift(weights: Matrix, returns: Matrix, *, threads: int | None = None) -> Labelled:
    """Weights after one period of returns, w_i (1 + r_i) / (1 + w'r) (weights that sum to b keep
    summing to b). ``returns`` is (n,) shared or (m, n); a return below -1 (a negative price) is an
    error, as is a portfolio left with no positive value."""
    batch = _Batch(weights, labels=asset_labels(weights, returns))
    batch.require_finite("weights")
    r = batch.rows(returns, "returns")
    if (r < -1).any():
        at = tuple(int(i) for i in np.argwhere(r < -1)[0])
        where = _entry(batch.columns, at[1]) if np.ndim(returns) == 1 else batch.where(*at)
        raise InputError("returns", f"{where} = {_num(r[at])} is below -1 (a negative price)")
    total = batch.matrix.sum(axis=1)
    if not (total > 0).all():
        k = int(np.flatnonzero(~(total > 0))[0])
        where = "" if batch.single else f" of portfolio {k}"
        raise InputError("weights", f"sum{where} = {_num(total[k])}; drift needs a positive total (a portfolio's value)")
    nthreads = as_threads(threads)
    try:
        return batch.matrix_out(_core.drift(batch.matrix, r, nthreads))
    except ValueError as e:  # the core's check of the value left after the returns names its argument
        name, _, message = str(e).partition(": ")
        raise InputError(name if name in ("weights", "returns") else "returns", message) from None


def weights_from_holdings(units: Matrix, prices: Matrix) -> Labelled:
    """Weights from holdings: units_i price_i / sum_j units_j price_j, for one portfolio (n,) or a
    batch (m, n); prices (n,) shared or (m, n), positive and finite."""
    batch = _Batch(units, "units", labels=asset_labels(units, prices))
    batch.require_finite("units")
    p = batch.rows(prices, "prices")
    if not (p > 0).all():
        at = tuple(int(i) for i in np.argwhere(~(p > 0))[0])
        where = _entry(batch.columns, at[1]) if np.ndim(prices) == 1 else batch.where(*at)
        raise InputError("prices", f"{where} = {_num(p[at])}; prices must be > 0")
    value = batch.matrix * p
    total = value.sum(axis=1, keepdims=True)
    if not (total > 0).all():
        k = int(np.flatnonzero(~(total[:, 0] > 0))[0])
        raise InputError("units", f"portfolio {k} has a total value of {_num(total[k, 0])}; it must be > 0")
    return batch.matrix_out(value / total)


_PERIODS = {"weekly": 5, "monthly": 21, "quarterly": 63, "annual": 252}
_FREQUENCIES = ("daily", *_PERIODS)
_KINDS = {"buy_and_hold": 0, "calendar": 1, "band": 2}


@dataclass(frozen=True)
class Policy:
    """A rebalancing policy for :func:`backtest_rebalancing`; build one with :meth:`buy_and_hold`,
    :meth:`calendar` or :meth:`band`.

    ``check`` is how often the policy looks: "daily", "weekly", "monthly", "quarterly", "annual"
    (the first trading day of each new period when dates are known; otherwise every 5, 21, 63 or
    252 rows), an integer number of rows, or None (never).

    The three builders check their arguments (an InputError names the builder's parameter); the
    band widths' length and labels are checked against the assets by :func:`backtest_rebalancing`,
    which also checks every policy again (a Policy built directly is not checked): its errors name
    ``policies`` and the policy at fault.
    """

    kind: str
    check: Any = "daily"
    absolute: Any = None
    relative: Any = None
    combine: str = "min"
    action: str = "band_edge"
    min_trade: float = 0.0

    @classmethod
    def buy_and_hold(cls) -> "Policy":
        return cls("buy_and_hold", check=None)

    @classmethod
    def calendar(cls, frequency: str | int = "monthly") -> "Policy":
        """Back to the targets on every check day."""
        _as_frequency(frequency, "frequency")
        return cls("calendar", check=frequency)

    @classmethod
    def band(
        cls,
        absolute: float | Vector | None = None,
        relative: float | Vector | None = None,
        *,
        combine: str = "min",
        action: str = "band_edge",
        check: str | int | None = "daily",
        min_trade: float = 0.0,
    ) -> "Policy":
        """Trade (with ``action``) when a weight leaves its band on a check day: "look often,
        trade rarely" with ``check="daily"``, or bands checked only on a calendar. ``min_trade``
        is as in :func:`rebalance_trades` (a finite number >= 0)."""
        pol = cls("band", check=check, absolute=absolute, relative=relative, combine=combine, action=action,
                  min_trade=min_trade)
        _checked_policy(pol)
        return pol


def _as_frequency(check: Any, name: str) -> Any:
    """A policy's check frequency: None, a whole number of rows >= 1, or one of _FREQUENCIES."""
    if check is None:
        return None
    if isinstance(check, (int, np.integer)) and not isinstance(check, bool):
        if check < 1:
            raise InputError(name, f"check every {int(check)} rows: must be >= 1")
        return int(check)
    if isinstance(check, str):
        return as_choice(check, _FREQUENCIES, name)
    raise InputError(name, f"expected one of {', '.join(map(repr, _FREQUENCIES))}, a whole number of rows or None, "
                     f"got {_describe(check)}")


def _band_width(x: Any, name: str) -> None:
    """A band width before the assets are known: None, or finite numbers >= 0 (a scalar or a vector)."""
    if x is None:
        return
    a = _as_float_array(x, name)
    if a.ndim > 1:
        raise ShapeError(name, f"expected a scalar or a vector, got shape {a.shape}")
    _require_finite(a.reshape(-1) if a.ndim == 0 else a, name, labels_of(x) if a.ndim == 1 else None)
    if (a < 0).any():
        k = int(np.flatnonzero(a.reshape(-1) < 0)[0])
        raise InputError(name, f"{'' if a.ndim == 0 else _entry(labels_of(x), k) + ' = '}{_num(a.reshape(-1)[k])} "
                         "is negative; band widths must be >= 0")


def _checked_policy(pol: "Policy") -> tuple[str, Any, str, str, float]:
    """(kind, check, combine, action, min_trade) of a policy, validated; errors name the field."""
    kind = as_choice(pol.kind, _KINDS, "kind")
    check = _as_frequency(pol.check, "check")
    if kind != "band":
        return kind, check, "min", "band_edge", 0.0
    if pol.absolute is None and pol.relative is None:
        raise InputError("absolute", "give an absolute band, a relative band, or both")
    _band_width(pol.absolute, "absolute")
    _band_width(pol.relative, "relative")
    combine = as_choice(pol.combine, _COMBINES, "combine")
    action = as_choice(pol.action, _ACTIONS, "action")
    return kind, check, combine, action, as_scalar(pol.min_trade, "min_trade", minimum=0.0)


@dataclass(frozen=True, repr=False, eq=False)
class BacktestResult(Result):
    """Outcome of :func:`backtest_rebalancing`.

    Attributes
    ----------
    values : (T, P) array or pandas.DataFrame
        Portfolio value of each policy, 1 on the first day.
    summary : dict of (P,) arrays, or pandas.DataFrame (one row per policy)
        ``annual_return`` (geometric), ``volatility`` (of the returns from row to row, annualised by
        ``sqrt(periods_per_year)``, ddof=1), ``sharpe`` (their mean over their standard deviation,
        annualised, risk-free rate 0),
        ``max_drawdown`` (largest fall from a peak, as a positive fraction), ``rebalances``,
        ``turnover`` (one-way, 0.5 sum |trade| summed over trades, per year), ``costs`` (paid, as a
        fraction of the initial value), ``cost_drag`` (the yearly fraction of value lost to costs,
        1 - prod(1 - c_k)^(1/years) over the trades' cost fractions c_k: the annual return
        without costs times 1 - cost_drag is the annual return with them, in growth terms),
        ``tracking_error`` (annualised, ddof=0, of the row-to-row returns
        against the constant-mix portfolio rebalanced to target every row at no cost),
        ``periods_per_year`` (the rows a year used to annualise).
    names : list of str
    periods_per_year : float
        The periods a year used to annualise (also the summary's ``periods_per_year`` column).
    periods_per_year_source : str
        Where it came from: ``"given"``, or ``"inferred from the dates: ..."`` with the median
        spacing it was read from.
    """

    values: Any
    summary: Any
    names: list
    periods_per_year: float
    periods_per_year_source: str

    _figures = ("periods_per_year", "periods_per_year_source")

    def to_frame(self) -> pd.DataFrame:
        """The summary: one row per policy (return, volatility, Sharpe, drawdown, turnover, costs)."""
        pd = _pandas("to_frame")
        return self.summary.copy() if hasattr(self.summary, "columns") else pd.DataFrame(self.summary, index=self.names)

    def _shape_text(self) -> str:
        return f"days={np.shape(self.values)[0]}, policies={len(self.names)}"


#: (shortest, longest) median spacing of the dates in days, and the periods a year it means
_SPACINGS = (
    (5, 9, 52.0, "weekly"),
    (27, 33, 12.0, "monthly"),
    (88, 94, 4.0, "quarterly"),
    (179, 186, 2.0, "semi-annual"),
    (360, 370, 1.0, "annual"),
)


def _periods_per_year(given: Any, dates: Any) -> tuple[float, str]:
    """(periods a year, where it came from): the given number, else read off the dates' median
    spacing. Without either, or from dates of no standard spacing, an InputError asks for it."""
    if given is not None:
        return as_periods_per_year(given), "given"
    if dates is None:
        raise InputError(
            "periods_per_year",
            "is needed to annualise when the prices have no DatetimeIndex and no dates are given "
            "(252 for daily, 52 weekly, 12 monthly, 4 quarterly, 1 annual data)",
        )
    return infer_periods_per_year(dates)


def infer_periods_per_year(dates: ArrayLike) -> tuple[float, str]:
    """Periods a year of a dated series from the median spacing of its dates: daily 252 (365
    when weekends are a tenth of the dates or more), weekly 52, monthly 12, quarterly 4,
    semi-annual 2, annual 1. Returns (periods, a description of how it was read); other spacings
    raise InputError naming ``periods_per_year``."""
    d = np.asarray(dates, dtype="datetime64[D]")
    gaps = np.diff(d).astype("int64")
    median = float(np.median(gaps)) if gaps.size else 0.0
    how = f"inferred from the dates: median spacing {median:g} days"
    if gaps.size and (gaps > 0).all():
        if median == 1:
            weekday = (d.astype("int64") + 3) % 7  # Monday = 0 (1970-01-01 was a Thursday)
            if np.mean(weekday >= 5) >= 0.1:
                return 365.0, f"{how} (daily, weekends included)"
            return 252.0, f"{how} (daily, business days)"
        for low, high, ppy, name in _SPACINGS:
            if low <= median <= high:
                return ppy, f"{how} ({name})"
    raise InputError(
        "periods_per_year",
        f"cannot be inferred from the dates (median spacing {median:g} days"
        f"{'' if gaps.size and (gaps > 0).all() else ', not strictly increasing'}): give it",
    )


def _as_dates(dates: Any, days: int) -> np.ndarray:
    """(days,) datetime64[D] dates, or an InputError naming ``dates``."""
    try:
        d = np.asarray(dates, dtype="datetime64[D]")
    except (TypeError, ValueError) as exc:
        raise InputError("dates", f"cannot be read as dates ({exc})") from None
    if d.ndim != 1 or d.shape[0] != days:
        raise ShapeError("dates", f"expected {days} dates, got shape {d.shape}")
    if np.isnat(d).any():
        raise InputError("dates", f"entry [{int(np.flatnonzero(np.isnat(d))[0])}] is not a date (NaT)")
    return d


def _check_days(check: Any, days: int, dates: Any) -> np.ndarray:
    """The rows a policy looks on, of a frequency validated by _as_frequency."""
    mask = np.zeros(days, dtype=np.uint8)
    if check is None:
        return mask
    if isinstance(check, int):
        mask[check::check] = 1
        return mask
    if check == "daily":
        mask[1:] = 1
        return mask
    if dates is None:
        k = _PERIODS[check]
        mask[k::k] = 1
        return mask
    d = np.asarray(dates, dtype="datetime64[D]")
    if check == "weekly":
        key = (d.astype("int64") + 3) // 7  # weeks starting on Monday (1970-01-01 was a Thursday)
    else:
        months = d.astype("datetime64[M]").astype("int64")
        key = months if check == "monthly" else months // 3 if check == "quarterly" else months // 12
    mask[1:] = key[1:] != key[:-1]
    return mask


@timed
def backtest_rebalancing(
    prices: Matrix,
    targets: Matrix,
    policies: Mapping[str, Policy] | Sequence[Policy],
    *,
    costs: float | Vector = 0.0,
    impact: float | Vector = 0.0,
    dates: ArrayLike | None = None,
    periods_per_year: float | None = None,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> BacktestResult:
    """Simulate rebalancing policies side by side on the same prices.

    Every policy starts on the first day with value 1 invested at the targets (no entry cost).
    Each day the weights drift with the prices; on a check day a calendar policy trades back to
    the targets, and a band policy trades with its action if a weight is outside its band.
    Trades pay ``costs`` (proportional, as a fraction of the traded value: 10 bp = 0.001, scalar
    or per asset) plus a square-root market impact ``impact * |d_i|^1.5`` of the portfolio value
    for a trade of d_i in weight. Costs are taken out of the portfolio, so the weights after a
    trade are as traded. ``max(costs) + max(impact)`` must be below 0.5, which keeps the cost of
    any trade (at most 2 in weight) below the portfolio's value. The policies run in parallel in C++ (GIL released).

    Parameters
    ----------
    prices : (T, n) array_like or pandas.DataFrame
        Positive prices (total-return indices for returns with dividends), one row per day; a
        DataFrame's DatetimeIndex gives the dates.
    targets : (n,) array_like
        Target weights (sum 1).
    policies : dict of name -> Policy, or a list of Policy
    dates : (T,) array_like of dates, optional
        For calendar checks when ``prices`` has no DatetimeIndex.
    periods_per_year : float, optional
        Rows a year, to annualise the summary (> 0 and finite). Default: inferred from the dates
        (the DatetimeIndex or ``dates``) by their median spacing, daily business days 252 (365
        with weekends), weekly 52, monthly 12, quarterly 4, annual 1; without dates it must be
        given. The value used and its source are on the result (``periods_per_year``,
        ``periods_per_year_source``) and in the summary's ``periods_per_year`` column.
    progress : callable, optional
        ``progress(done, total)``: policy-days simulated out of P T, at most every 50 ms and at
        the end. An exception it raises stops the backtest and propagates (as Ctrl-C does).
    """
    progress = as_progress(progress)
    if isinstance(policies, dict):
        names, pols = list(policies), list(policies.values())
    elif isinstance(policies, (list, tuple)):
        names, pols = None, list(policies)
    else:
        raise InputError(
            "policies", f"expected a non-empty dict or list of microalloc.Policy, got {type(policies).__name__}"
        )
    if not pols or not all(isinstance(p, Policy) for p in pols):
        raise InputError("policies", "expected a non-empty dict or list of microalloc.Policy")
    names = names or [f"{p.kind}_{i}" for i, p in enumerate(pols)]
    if dates is None and is_pandas(prices) and np.ndim(prices) == 2 and np.issubdtype(prices.index.dtype, np.datetime64):
        dates = prices.index.to_numpy()
    per_asset = [x for pol in pols for x in (pol.absolute, pol.relative)]
    batch = _Batch(prices, "prices", labels=asset_labels(prices, targets, costs, impact, *per_asset))
    p = batch.matrix
    _require_finite(p, "prices", batch.columns)
    if not (p > 0).all():
        k = tuple(int(i) for i in np.argwhere(~(p > 0))[0])
        raise InputError("prices", f"{_row_entry(k[0], k[1], batch.columns)} = {_num(p[k])}; prices must be > 0")
    days, n = p.shape
    if days < 2:
        raise ShapeError("prices", f"need at least 2 days, got {days}")
    _require_price_range(p, batch.columns)
    if dates is not None:
        dates = _as_dates(dates, days)
    t = batch.rows(targets, "targets")
    if t.shape[0] != 1:
        raise ShapeError("targets", f"expected ({n},)")
    t = t[0]
    if (t < 0).any() or abs(t.sum() - 1.0) > 1e-9:
        raise InputError("targets", f"must be >= 0 and sum to 1 (sum = {_num(t.sum())})")
    # None: no costs (as the default 0)
    prop = batch.per_asset(0.0 if costs is None else costs, "costs")
    imp = batch.per_asset(0.0 if impact is None else impact, "impact")
    # A trade moves at most 2 in weight (sum |d_i| <= 2 between long-only weights), and |d|^1.5 <= |d|,
    # so a trade costs less than 2 (max costs + max impact) of the value: below 1 keeps every value > 0.
    if prop.max(initial=0.0) + imp.max(initial=0.0) >= 0.5:
        raise InputError(
            "costs",
            f"max(costs) + max(impact) = {_num(prop.max(initial=0.0) + imp.max(initial=0.0))} must be < 0.5 "
            "(fractions of the traded value: 10 bp = 0.001), so that no trade can cost the whole portfolio",
        )
    kinds, check, absolute, relative, has_abs, has_rel, combine_max, actions, min_trade = _policy_arrays(
        pols, names, batch, t, days, dates
    )
    ppy, ppy_source = _periods_per_year(periods_per_year, dates)
    values, rebalances, turnover, paid, kept = _core.backtest(
        p, t, kinds, check, absolute, relative, has_abs, has_rel, combine_max, actions,
        min_trade, prop, imp, as_threads(threads), progress,
    )
    return _backtest_result(values.T, rebalances, turnover, paid, kept, p, t, names, dates, ppy, ppy_source)


#: The largest ratio of an asset's highest price to its lowest let into a backtest. The values and
#: returns grow with it and the summary squares the returns: beyond 1e100 (no real price series,
#: hyperinflations included, moves that far) they would overflow to inf.
MAX_PRICE_RANGE = 1e100


def _require_price_range(p: np.ndarray, labels: Any) -> None:
    """Refuse prices (finite, > 0) whose highest/lowest ratio for an asset exceeds MAX_PRICE_RANGE."""
    with np.errstate(over="ignore"):  # inf: refused
        ratio = p.max(axis=0) / p.min(axis=0)
    if (ratio > MAX_PRICE_RANGE).any():
        k = int(np.argmax(ratio))
        raise InputError(
            "prices", f"column {_at(labels, k)}: the highest price is {_fmt_ratio(ratio[k])} times the lowest, above the limit "
            f"of {MAX_PRICE_RANGE:.0e}: returns and values would overflow (a data error, or rescale the series)",
        )


def _fmt_ratio(x: float) -> str:
    return "inf" if not np.isfinite(x) else f"{x:.3g}"


def _policy_arrays(pols: list, names: list, batch: _Batch, t: np.ndarray, days: int, dates: Any) -> tuple:
    """The policies as the core's arrays. Each is checked (a Policy may be built directly, unchecked)
    and its bands fitted to the assets; an error names ``policies`` and the policy, then what is
    wrong with which of its fields."""
    count, n = len(pols), batch.n
    absolute, relative = np.zeros((count, n)), np.zeros((count, n))
    kinds, has_abs, has_rel, combine_max, actions = [], [], [], [], []
    min_trade, check = np.zeros(count), np.zeros((count, days), dtype=np.uint8)
    for k, pol in enumerate(pols):
        try:
            kind, frequency, combine, action, mt = _checked_policy(pol)
            if kind == "band":
                _, a, r, cm = _bands(batch, t, pol.absolute, pol.relative, combine)
            else:
                a, r, cm = _NO_BAND, _NO_BAND, False
        except InputError as e:
            raise type(e)("policies", f"policy {_label_text(names[k])} ({_describe(pol.kind)}): {e}") from None
        kinds.append(_KINDS[kind])
        has_abs.append(a.size > 0)
        has_rel.append(r.size > 0)
        if a.size:
            absolute[k] = a
        if r.size:
            relative[k] = r
        combine_max.append(cm)
        actions.append(_ACTIONS[action])
        min_trade[k] = mt
        check[k] = _check_days(frequency, days, dates)
    return kinds, check, absolute, relative, has_abs, has_rel, combine_max, actions, min_trade


def _backtest_result(values, rebalances, turnover, paid, kept, prices, targets, names, dates, ppy, source) -> BacktestResult:
    days = values.shape[0]
    years = (days - 1) / ppy
    rets = values[1:] / values[:-1] - 1.0
    constant_mix = (prices[1:] / prices[:-1] - 1.0) @ targets
    peak = np.maximum.accumulate(values, axis=0)
    vol = rets.std(axis=0, ddof=1) if days > 2 else np.zeros(values.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = rets.mean(axis=0) / vol * np.sqrt(ppy)
    with np.errstate(over="ignore"):  # inf for an explosive path over a short span: refused below
        annual = values[-1] ** (1.0 / years) - 1.0
    if not np.isfinite(annual).all():
        k = int(np.flatnonzero(~np.isfinite(annual))[0])
        raise InputError(
            "periods_per_year" if source == "given" else "prices",
            f"policy {_label_text(names[k])} grows {_num(values[-1, k])}-fold in {days - 1} rows: annualised at "
            f"{_num(ppy)} periods a year, its annual return overflows (check periods_per_year and the prices)",
        )
    summary = {
        "annual_return": annual,
        "volatility": vol * np.sqrt(ppy),
        "sharpe": sharpe,
        "max_drawdown": -(values / peak - 1.0).min(axis=0),
        "rebalances": rebalances,
        "turnover": turnover / years,
        "costs": paid,
        "cost_drag": -np.expm1(kept / years) + 0.0,  # + 0.0: no -0.0 without trades
        "tracking_error": (rets - constant_mix[:, None]).std(axis=0) * np.sqrt(ppy),
        "periods_per_year": np.full(values.shape[1], ppy),
    }
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        return BacktestResult(values=values, summary=summary, names=names, periods_per_year=ppy,
                              periods_per_year_source=source)
    index = pd.DatetimeIndex(dates) if dates is not None else None
    table = pd.DataFrame(summary, index=names)
    table.attrs["periods_per_year_source"] = source
    return BacktestResult(
        values=pd.DataFrame(values, index=index, columns=names),
        summary=table,
        names=names,
        periods_per_year=ppy,
        periods_per_year_source=source,
    )
