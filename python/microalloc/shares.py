"""Whole shares: the integer share counts (in lots) closest to target weights for a portfolio
value, for one account (proven best by branch and bound where it can) or many at once in C++.

The gap to the targets is the tracking error of the rounded portfolio against the target one when
a covariance is given (``(w - t)' S (w - t)``), else the distance ``|w - t|``; w_i is the value
held in asset i over the portfolio value, and what the value does not buy stays in cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from ._progress import as_progress
from ._validate import (
    _as_float_array, _entry, _num, align, as_scalar, as_threads, as_vector, asset_labels, labelled, require_entries,
)
from .covariance import FactorCovariance, as_covariance
from .errors import InputError, ShapeError
from .status import Status, from_core, status_names
from .result import Result, timed
from ._typing import Vector, Matrix, ProgressCallback
from .covariance import CovarianceLike

__all__ = ["whole_shares", "whole_shares_batch", "SharesResult", "SharesBatchResult"]

#: Branch and bound runs by default up to this many assets (each node is one small QP).
EXACT_MAX_ASSETS = 30
#: Share and lot counts stay below 2^53: exact in a float64 and far from int64's end.
_MAX_COUNT = 2.0**53


@dataclass(frozen=True, repr=False)
class SharesResult(Result):
    """Outcome of :func:`whole_shares`.

    Attributes
    ----------
    shares : numpy.ndarray or pandas.Series
        Integer share counts (multiples of the lot sizes), labelled when the inputs were.
    weights : numpy.ndarray or pandas.Series
        ``shares * prices / value``: the weights the shares make.
    cash : float
        The value left over, ``value - shares @ prices`` (>= 0).
    gap : float
        The tracking error against the targets (with ``cov``), else the distance ``|w - t|``.
    lower_bound : float
        No share counts come closer than this (the proof of branch and bound: within its pruning
        slack of 1e-9 of the squared gap when OPTIMAL; 0 for the local search alone).
    status : Status
        OPTIMAL: proven the closest; MAX_ITER: the closest found (the local search, or branch and
        bound stopped at ``max_nodes``).
    nodes : int
        Branch-and-bound nodes solved.
    trades : numpy.ndarray or pandas.Series or None
        ``shares - current_shares`` when current shares were given.
    """

    shares: Any
    weights: Any
    cash: float
    gap: float
    lower_bound: float
    status: Status
    nodes: int
    trades: Any = None

    _figures = ("gap", "lower_bound", "cash", "nodes")
    _columns = (("shares", "shares"), ("weight", "weights"), ("trade", "trades"))

    def _why(self) -> str:
        return f"the closest found, not proven (gap {self.gap:.6g} against the lower bound {self.lower_bound:.6g})"


@dataclass(frozen=True, repr=False)
class SharesBatchResult(Result):
    """Outcome of :func:`whole_shares_batch`, one row (or entry) per account: ``shares`` (m, n)
    int64 (-1 on a row whose input was bad), ``cash``, ``gap``, ``lower_bound`` (m,), and
    ``status_code`` (m,) (``status`` as names)."""

    shares: Any
    cash: np.ndarray
    gap: np.ndarray
    lower_bound: np.ndarray
    status_code: np.ndarray

    _columns = (("status", "status"), ("cash", "cash"), ("gap", "gap"), ("lower_bound", "lower_bound"))

    @property
    def status(self) -> np.ndarray:
        return status_names(self.status_code)

    @property
    def is_optimal(self) -> np.ndarray:
        """Boolean mask of the accounts whose share counts are proven the closest."""
        return self.status_code == Status.OPTIMAL.code

    def __len__(self) -> int:
        return int(self.cash.shape[0])

    def _figure_items(self) -> list[tuple[str, Any]]:
        return [("status", {n: int(k) for n, k in zip(*np.unique(self.status, return_counts=True))}),
                ("solve_time_s", self.solve_time_s)]

    def _shape_text(self) -> str:
        m, n = np.shape(self.shares)
        return f"m={m}, n={n}"


def _lot_sizes(lot_sizes: Any, n: int, labels: Any) -> np.ndarray:
    lots = as_vector(lot_sizes, n, "lot_sizes", allow_scalar=True, labels=labels)
    require_entries(lots, (lots >= 1) & (lots == np.round(lots)) & (lots <= _MAX_COUNT), "lot_sizes", labels,
                    "a lot is a whole number of shares from 1 to 2^53")
    return lots


def _counts_fit(value: float, prices: np.ndarray, labels: Any) -> None:
    """value / price at most 2^53 shares of any asset, so that every count is exact: the value is
    named when even the dearest asset overflows, else the price that does."""
    most = value / prices
    if (most > _MAX_COUNT).any():
        k = int(np.argmax(most))
        if value / prices.max() > _MAX_COUNT:
            raise InputError("value", f"{_num(value)} buys more than 2^53 shares of every asset (the counts would "
                                      "not be exact)")
        raise InputError("prices", f"{_entry(labels, k)} = {_num(prices[k])}: the value {_num(value)} buys "
                                   f"{_num(most[k])} shares of it; at most 2^53 (the counts would not be exact)")


def _max_nodes(max_nodes: Any) -> int:
    m = as_scalar(max_nodes, "max_nodes", minimum=1.0)
    if m > 2.0**62:
        raise InputError("max_nodes", f"{_num(m)} is beyond 2^62")
    return int(m)


def _targets(t: np.ndarray, name: str, labels: Any) -> None:
    require_entries(t, t >= 0, name, labels, "target weights must be >= 0 (long only)")
    total = float(t.sum())
    if total > 1 + 1e-9:
        raise InputError(name, f"the target weights sum to {_num(total)}; at most 1 (the rest is cash)")


def _dense_cov(cov: Any, n: int) -> np.ndarray:
    """The covariance as a dense n x n matrix for the core (a factor model is formed: n is an
    account's holdings), or an empty one for the distance."""
    if cov is None:
        return np.zeros((0, 0))
    if isinstance(cov, FactorCovariance):
        cov = cov.to_dense()
    s, _ = as_covariance(cov, check_psd=True)
    if not isinstance(s, np.ndarray) or s.shape != (n, n):
        raise ShapeError("cov", f"expected ({n}, {n}), got {getattr(s, 'shape', None)}")
    return s


@timed
def whole_shares(
    weights: Vector,
    prices: Vector,
    value: float,
    *,
    lot_sizes: float | Vector = 1,
    cov: CovarianceLike | None = None,
    current_shares: Vector | None = None,
    exact: bool | None = None,
    max_nodes: int = 20_000,
) -> SharesResult:
    """Whole shares closest to target weights for one account.

    Parameters
    ----------
    weights : (n,) array_like or pandas.Series
        Target weights (>= 0, summing to at most 1; the rest is cash).
    prices : (n,) array_like or pandas.Series
        Price of one share (> 0).
    value : float
        Portfolio value to invest (> 0).
    lot_sizes : int or (n,) array_like
        Shares per lot (trades come in whole lots); 1 by default.
    cov : covariance, optional
        With it the gap is the tracking error of the rounded portfolio against the targets; without
        it the distance between the weights.
    current_shares : (n,) array_like, optional
        Shares held now: the result reports ``trades``.
    exact : bool, optional
        Branch and bound from the local search's answer (proves the closest shares, or stops at
        ``max_nodes`` with the closest found and a lower bound). Default: up to
        ``EXACT_MAX_ASSETS`` assets.
    max_nodes : int
        Node limit of branch and bound.

    Labelled inputs are aligned by label as everywhere (the covariance's labels first, then the
    weights').
    """
    labels = asset_labels(cov, weights, prices, lot_sizes, current_shares)
    t = _as_float_array(align(weights, labels, "weights"), "weights")
    if t.ndim != 1 or t.shape[0] == 0:
        raise ShapeError("weights", f"expected one target weight per asset (a non-empty vector), got shape {t.shape}")
    n = t.shape[0]
    t = as_vector(t, n, "weights", labels=labels)
    p = as_vector(prices, n, "prices", labels=labels)
    _targets(t, "weights", labels)
    require_entries(p, p > 0, "prices", labels, "must be > 0")
    v = as_scalar(value, "value", minimum=0.0, strict=True)
    lots = _lot_sizes(lot_sizes, n, labels)
    _counts_fit(v, p, labels)
    s = _dense_cov(cov, n)
    exact = n <= EXACT_MAX_ASSETS if exact is None else bool(exact)
    nodes_limit = _max_nodes(max_nodes) if exact else 0
    q, cash, objective, lower, code, nodes = _core.round_to_lots(
        np.ascontiguousarray(t), np.ascontiguousarray(p * lots), v, s, nodes_limit)
    shares = np.asarray(q, dtype=np.int64) * lots.astype(np.int64)
    trades = None
    if current_shares is not None:
        held = as_vector(current_shares, n, "current_shares", labels=labels)
        require_entries(held, (held == np.round(held)) & (np.abs(held) <= _MAX_COUNT), "current_shares", labels,
                        "a whole number of shares up to 2^53 in size")
        trades = labelled(shares - held.astype(np.int64), labels)
    return SharesResult(
        shares=labelled(shares, labels), weights=labelled(shares * p / v, labels), cash=float(cash),
        gap=float(np.sqrt(objective)), lower_bound=float(np.sqrt(lower)), status=from_core(code), nodes=int(nodes),
        trades=trades,
    )


@timed
def whole_shares_batch(
    weights: Matrix,
    prices: Matrix,
    values: float | Vector,
    *,
    lot_sizes: float | Vector = 1,
    cov: CovarianceLike | None = None,
    exact: bool = False,
    max_nodes: int = 2_000,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> SharesBatchResult:
    """Whole shares for many accounts over one universe of n assets, on C++ threads.

    ``weights`` is (m, n) (one row per account, a DataFrame with the assets as columns aligned by
    label), ``prices`` (n,) or (m, n), ``values`` a scalar or (m,), ``lot_sizes`` an int or (n,).
    The local search by default; ``exact=True`` adds branch and bound per account (``max_nodes``
    each). A row with a bad entry (NaN, a negative target, a non-positive price or value) gets
    INVALID_INPUT and shares of -1, never an exception (also a row whose targets sum to more
    than 1, or whose value buys more than 2^53 lots of an asset). ``progress(done, total)``:
    accounts done out of m, as in :func:`solve_mean_variance_batch`.
    """
    progress = as_progress(progress)
    labels = asset_labels(cov, weights, prices, lot_sizes)
    w = _as_float_array(align(weights, labels, "weights"), "weights")
    if w.ndim != 2 or w.shape[1] == 0:
        raise ShapeError("weights", f"expected an (m, n) matrix of target weights (n >= 1), got shape {w.shape}")
    m, n = w.shape
    p = _as_float_array(align(prices, labels, "prices"), "prices")
    p = p.reshape(1, n) if p.ndim == 1 and p.shape[0] == n else p
    if p.ndim != 2 or p.shape[1] != n or p.shape[0] not in (1, m):
        raise ShapeError("prices", f"expected ({n},) or ({m}, {n}), got {np.shape(prices)}")
    lots = _lot_sizes(lot_sizes, n, labels)
    vals = _as_float_array(values, "values").reshape(-1)
    if vals.shape[0] not in (1, m):
        raise ShapeError("values", f"expected a scalar or ({m},), got {np.shape(values)}")
    s = _dense_cov(cov, n)
    nodes_limit = _max_nodes(max_nodes) if exact else 0
    q, cash, objective, lower, status = _core.round_to_lots_batch(
        w, np.ascontiguousarray(p * lots), vals, s, nodes_limit, as_threads(threads), progress)
    q = np.asarray(q)
    shares = np.where(q >= 0, q * lots.astype(np.int64), -1)
    if labels is not None:
        import pandas as pd

        shares = pd.DataFrame(shares, columns=labels)  # type: ignore[call-overload]  # labels: an Index, list or tuple (the stubs refuse a Sequence: it may be a str)
    return SharesBatchResult(shares=shares, cash=np.asarray(cash), gap=np.sqrt(np.asarray(objective)),
                             lower_bound=np.sqrt(np.asarray(lower)), status_code=np.asarray(status))
