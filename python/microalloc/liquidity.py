"""Liquidity and capacity: how much of each asset a portfolio can trade in a given time, and how
large the portfolio can grow before the cost of trading eats its alpha.

Both use the square-root market impact of :func:`~microalloc.backtest_rebalancing`: trading a
weight d_i of a portfolio of value V costs the fraction ``impact_i |d_i|^1.5`` of V, where

    impact_i = k sigma_i sqrt(V / (volume_i price_i))

(sigma_i the asset's daily volatility, volume_i its average daily volume in shares, k a constant
of order one). That is the usual per-share cost ``k sigma_i sqrt(Q_i / volume_i)`` of a trade of
Q_i = |d_i| V / price_i shares, written per unit of portfolio value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._deprecated import renamed_arguments
from ._validate import _entry, _num, as_scalar, as_vector, asset_labels, labelled, require_entries
from .errors import InfeasibleError, InputError
from ._typing import ArrayLike, Vector, Bounds, Labelled

__all__ = ["impact_coefficients", "liquidity_bounds", "capacity"]


def _market_data(volume: Any, prices: Any, labels: Any, n: int) -> np.ndarray:
    """The assets' average daily traded value, volume_i price_i (> 0, finite)."""
    v = as_vector(volume, n, "daily_volume", labels=labels)
    p = as_vector(prices, n, "prices", labels=labels)
    for name, a in (("daily_volume", v), ("prices", p)):
        require_entries(a, a > 0, name, labels, "must be > 0")
    traded = v * p
    if not np.isfinite(traded).all():
        i = int(np.flatnonzero(~np.isfinite(traded))[0])
        raise InputError("daily_volume", f"{_entry(labels, i)}: daily_volume * prices overflows")
    return traded


def _assets(*inputs: Any) -> tuple[Any, int]:
    """The labels of the call (the first labelled input's) and the number of assets."""
    labels = asset_labels(*inputs)
    if labels is not None:
        return labels, len(labels)
    for x in inputs:
        a = np.asarray(x) if x is not None else None
        if a is not None and a.ndim == 1:
            return None, a.shape[0]
    raise InputError("daily_volume", "expected a vector with one entry per asset")


def impact_coefficients(
    portfolio_value: float, daily_volume: Vector, prices: Vector, volatility: Vector, *, k: float = 1.0
) -> Labelled:
    """The square-root impact coefficients ``k sigma_i sqrt(V / (volume_i price_i))`` of a
    portfolio of value V: the ``impact`` argument of :func:`~microalloc.backtest_rebalancing` for
    that portfolio.

    Parameters
    ----------
    portfolio_value : float
        V, > 0, in the currency of the prices.
    daily_volume, prices, volatility : (n,) array_like or pandas.Series
        Average daily volume in shares (> 0), price (> 0) and daily volatility of returns (>= 0).
        Series are aligned by their labels, or refused.
    k : float
        The impact constant (>= 0), of order one in the empirical literature.

    Returns an (n,) array, or a Series when an input is labelled.
    """
    labels, n = _assets(daily_volume, prices, volatility)
    value = as_scalar(portfolio_value, "portfolio_value", minimum=0.0, strict=True)
    traded = _market_data(daily_volume, prices, labels, n)
    sigma = _volatility(volatility, labels, n)
    kk = as_scalar(k, "k", minimum=0.0)
    return labelled(kk * sigma * np.sqrt(value / traded), labels)


def _volatility(volatility: Any, labels: Any, n: int) -> np.ndarray:
    s = as_vector(volatility, n, "volatility", labels=labels)
    bad = np.flatnonzero(s < 0)
    if bad.size:
        raise InputError("volatility", f"{_entry(labels, int(bad[0]))} = {_num(s[bad[0]])} is negative")
    return s


def liquidity_bounds(
    portfolio_value: float,
    daily_volume: Vector,
    prices: Vector,
    *,
    participation: float = 0.1,
    days: float = 1.0,
    current_weights: Vector | None = None,
    lower: Bounds = 0.0,
    upper: Bounds = 1.0,
) -> tuple[Labelled, Labelled]:
    """Bounds on the weights that keep every trade within what the market can absorb.

    Trading at most a share ``participation`` of an asset's average daily volume for ``days``
    days moves its weight by at most ``m_i = participation * days * volume_i * price_i / V``.
    The bounds are ``max(lower, w0_i - m_i)`` and ``min(upper, w0_i + m_i)`` around the current
    weights w0 (0 by default: a portfolio built from cash), ready for the ``lower`` and ``upper``
    of the solving functions.

    Parameters
    ----------
    portfolio_value : float
        V, > 0, in the currency of the prices.
    daily_volume, prices : (n,) array_like or pandas.Series
        Average daily volume in shares (> 0) and price (> 0).
    participation : float
        The largest share of the daily volume traded, in (0, 1].
    days : float
        Days to trade, > 0.
    current_weights : (n,) array_like or pandas.Series, optional
    lower, upper : float or (n,) array_like or pandas.Series
        The bounds the portfolio has anyway (defaults: long-only, 0 and 1).

    Returns ``(lower, upper)``, arrays (Series when an input is labelled).

    Raises an :class:`~microalloc.errors.InfeasibleError` naming ``current_weights`` when a
    current weight outside [lower, upper] cannot be brought inside in that time.
    """
    labels, n = _assets(daily_volume, prices, current_weights, lower, upper)
    value = as_scalar(portfolio_value, "portfolio_value", minimum=0.0, strict=True)
    traded = _market_data(daily_volume, prices, labels, n)
    rate = as_scalar(participation, "participation", minimum=0.0, strict=True)
    if rate > 1.0:
        raise InputError("participation", f"must be in (0, 1] (a share of the daily volume), got {_num(rate)}")
    span = as_scalar(days, "days", minimum=0.0, strict=True)
    w0 = np.zeros(n) if current_weights is None else as_vector(current_weights, n, "current_weights", labels=labels)
    lo = as_vector(lower, n, "lower", allow_scalar=True, allow_inf=True, labels=labels)
    up = as_vector(upper, n, "upper", allow_scalar=True, allow_inf=True, labels=labels)
    reach = rate * span * traded / value
    new_lo, new_up = np.maximum(lo, w0 - reach), np.minimum(up, w0 + reach)
    stuck = np.flatnonzero(new_lo > new_up)
    if stuck.size:
        i = int(stuck[0])
        side = f"upper {_num(up[i])}" if w0[i] > up[i] else f"lower {_num(lo[i])}"
        raise InfeasibleError(
            "current_weights",
            f"{_entry(labels, i)} = {_num(w0[i])} cannot reach its {side} in {_num(span)} day(s) at "
            f"participation {_num(rate)}: at most {_num(reach[i])} of weight can be traded "
            f"({stuck.size} such assets)",
        )
    return labelled(new_lo, labels), labelled(new_up, labels)


@renamed_arguments(alpha="expected_return")
def capacity(
    weights: Vector,
    daily_volume: Vector,
    prices: Vector,
    volatility: Vector,
    expected_return: float,
    *,
    current_weights: Vector | None = None,
    costs: float | ArrayLike = 0.0,
    k: float = 1.0,
) -> float:
    """The portfolio value at which the cost of trading into ``weights`` equals its ``expected_return``.

    The trade d = weights - current_weights (from cash by default) costs, per unit of portfolio
    value V, ``sum_i costs_i |d_i| + sqrt(V) sum_i k sigma_i |d_i|^1.5 / sqrt(volume_i price_i)``:
    a proportional part and the square-root impact, which grows as sqrt(V). The capacity is the V
    where that cost reaches ``expected_return`` (the return the trade is expected to earn, in the
    same units: a fraction of V), in closed form:

        V* = ((expected_return - sum costs_i |d_i|) / sum_i k sigma_i |d_i|^1.5 / sqrt(volume_i price_i))^2.

    Returns 0.0 when the proportional costs alone reach the expected return, and inf when nothing is traded (or
    every traded asset has zero volatility or k = 0).

    Parameters
    ----------
    weights : (n,) array_like or pandas.Series
        The target weights.
    daily_volume, prices, volatility : (n,) array_like or pandas.Series
        As for :func:`impact_coefficients`.
    expected_return : float
        The expected gain of the trade as a fraction of the portfolio value (> 0); ``alpha=`` is
        the deprecated name.
    current_weights : (n,) array_like or pandas.Series, optional
    costs : float or (n,) array_like
        Proportional costs as a fraction of the traded value (10 bp = 0.001), >= 0.
    k : float
        The impact constant, >= 0.
    """
    labels, n = _assets(weights, daily_volume, prices, volatility, current_weights, costs)
    w = as_vector(weights, n, "weights", labels=labels)
    w0 = np.zeros(n) if current_weights is None else as_vector(current_weights, n, "current_weights", labels=labels)
    traded = _market_data(daily_volume, prices, labels, n)
    sigma = _volatility(volatility, labels, n)
    gain = as_scalar(expected_return, "expected_return", minimum=0.0, strict=True)
    c = as_vector(costs, n, "costs", allow_scalar=True, labels=labels)
    if (c < 0).any():
        i = int(np.flatnonzero(c < 0)[0])
        raise InputError("costs", f"{_entry(labels, i)} = {_num(c[i])} is negative")
    kk = as_scalar(k, "k", minimum=0.0)
    d = np.abs(w - w0)
    left = gain - float(c @ d)
    if left <= 0.0:
        return 0.0
    per_root_value = kk * float(np.sum(sigma * d * np.sqrt(d / traded)))
    if per_root_value == 0.0:
        return math.inf
    return (left / per_root_value) ** 2
