"""Estimates from prices and returns: returns from prices, annualised sample, exponentially
weighted and Ledoit-Wolf covariances, and the annualised mean return.

Inputs are (T, n) arrays or DataFrames (dates as rows, assets as columns); a labelled input gives
labelled outputs. Annualising needs the periods a year: given, or read off a DatetimeIndex (or
``dates``) as the backtests do (252 business days, 52 weeks, 12 months, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import _num, _row_entry, as_scalar
from .errors import InputError, ShapeError
from .rebalance import _periods_per_year, _require_finite

__all__ = ["ewma_covariance", "ledoit_wolf_covariance", "mean_return", "returns_from_prices", "sample_covariance"]


def returns_from_prices(prices: Any, *, kind: str = "simple") -> Any:
    """Period returns from prices, one row fewer: simple p_t / p_{t-1} - 1, or log
    ln(p_t / p_{t-1}). Prices must be finite and > 0."""
    if kind not in ("simple", "log"):
        raise InputError("kind", f"expected 'simple' or 'log', got {kind!r}")
    p, labels, index = _panel(prices, "prices", min_rows=2)
    if not (p > 0).all():
        t, i = (int(v) for v in np.argwhere(~(p > 0))[0])
        raise InputError("prices", f"{_row_entry(t, i, labels)} = {_num(p[t, i])}; prices must be > 0 "
                                   "(returns, not prices? pass them to the estimators directly)")
    ratio = p[1:] / p[:-1]
    r = np.log(ratio) if kind == "log" else ratio - 1.0
    return _like(prices, r, labels, None if index is None else index[1:])


def mean_return(returns: Any, *, periods_per_year: float | None = None, dates: Any = None) -> Any:
    """The annualised arithmetic mean of the returns, periods_per_year * mean."""
    r, labels, index = _panel(returns, "returns")
    ppy, _ = _periods_per_year(periods_per_year, _dates(index, dates))
    return _vector(ppy * r.mean(axis=0), labels)


def sample_covariance(returns: Any, *, periods_per_year: float | None = None, dates: Any = None) -> Any:
    """The annualised sample covariance (divisor T - 1)."""
    r, labels, index = _panel(returns, "returns", min_rows=2)
    ppy, _ = _periods_per_year(periods_per_year, _dates(index, dates))
    c = r - r.mean(axis=0)
    return _matrix(ppy * (c.T @ c) / (r.shape[0] - 1), labels)


def ewma_covariance(returns: Any, *, halflife: float, periods_per_year: float | None = None,
                    dates: Any = None) -> Any:
    """The annualised exponentially weighted covariance: weights 2^(-age / halflife) (age 0 for
    the last row), about the weighted mean, with the unbiased correction (sum w)^2 /
    ((sum w)^2 - sum w^2), as pandas' ``ewm(halflife=...).cov()`` on its last row."""
    h = as_scalar(halflife, "halflife", minimum=0.0, strict=True)
    r, labels, index = _panel(returns, "returns", min_rows=2)
    ppy, _ = _periods_per_year(periods_per_year, _dates(index, dates))
    age = np.arange(r.shape[0] - 1, -1, -1, dtype=float)
    w = np.exp2(-age / h)
    w /= w.sum()
    c = r - w @ r
    return _matrix(ppy * ((c * w[:, None]).T @ c) / (1.0 - w @ w), labels)


def ledoit_wolf_covariance(returns: Any, *, periods_per_year: float | None = None, dates: Any = None) -> Any:
    """The annualised Ledoit-Wolf covariance (shrinkage towards a multiple of the identity), by
    scikit-learn's ``LedoitWolf`` (the ``microalloc[estimate]`` extra)."""
    try:
        from sklearn.covariance import LedoitWolf
    except ImportError:  # pragma: no cover - the extra is missing
        raise ImportError("ledoit_wolf_covariance needs scikit-learn: pip install 'microalloc[estimate]'") from None
    r, labels, index = _panel(returns, "returns", min_rows=2)
    ppy, _ = _periods_per_year(periods_per_year, _dates(index, dates))
    return _matrix(ppy * LedoitWolf().fit(r).covariance_, labels)


# -- inputs and outputs ---------------------------------------------------------------------------
def _panel(x: Any, name: str, min_rows: int = 1) -> tuple[np.ndarray, list[Any] | None, Any]:
    """(T, n) float64 data, the assets' labels and the rows' index (pandas) or None."""
    labels = list(x.columns) if hasattr(x, "columns") else None
    index = x.index if hasattr(x, "columns") else None
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(name, f"cannot be read as numbers ({exc})") from None
    if a.ndim != 2 or a.shape[1] == 0:
        raise ShapeError(name, f"expected (T, n) with dates as rows and assets as columns, got {a.shape}")
    if a.shape[0] < min_rows:
        raise ShapeError(name, f"needs at least {min_rows} rows, got {a.shape[0]}")
    _require_finite(a, name, labels)
    return a, labels, index


def _dates(index: Any, dates: Any) -> Any:
    if dates is not None:
        return dates
    return index if index is not None and np.issubdtype(np.asarray(index).dtype, np.datetime64) else None


def _like(x: Any, a: np.ndarray, labels: Any, index: Any) -> Any:
    if labels is None:
        return a
    import pandas as pd

    return pd.DataFrame(a, index=index, columns=labels)


def _vector(v: np.ndarray, labels: Any) -> Any:
    if labels is None:
        return v
    import pandas as pd

    return pd.Series(v, index=labels)


def _matrix(s: np.ndarray, labels: Any) -> Any:
    s = 0.5 * (s + s.T)  # exactly symmetric, as the covariance checks require
    if labels is None:
        return s
    import pandas as pd

    return pd.DataFrame(s, index=labels, columns=labels)
