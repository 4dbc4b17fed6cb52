"""Estimates from prices and returns: returns from prices, annualised sample, exponentially
weighted and Ledoit-Wolf covariances, the annualised mean return, and the realised summary of a
portfolio held at given weights (return, volatility, Sharpe, tracking error, information ratio,
active share, drawdown).

Inputs are (T, n) arrays or DataFrames (dates as rows, assets as columns); a labelled input gives
labelled outputs. Annualising needs the periods a year: given, or read off a DatetimeIndex (or
``dates``) as the backtests do (252 business days, 52 weeks, 12 months, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._sealed import Sealed
from ._validate import _num, _row_entry, as_scalar, as_vector, is_pandas
from .errors import InputError, ShapeError
from .rebalance import _periods_per_year, _require_finite
from ._typing import ArrayLike, Vector, Matrix, Labelled

if TYPE_CHECKING:
    from .covariance import FactorCovariance

__all__ = ["PortfolioSummary", "ewma_covariance", "factor_covariance", "ledoit_wolf_covariance", "mean_return",
           "portfolio_summary", "returns_from_prices", "sample_covariance"]


def returns_from_prices(prices: Matrix, *, kind: str = "simple") -> Labelled:
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


def mean_return(returns: Matrix, *, periods_per_year: float | None = None, dates: ArrayLike | None = None) -> Labelled:
    """The annualised arithmetic mean of the returns, periods_per_year * mean."""
    r, labels, index = _panel(returns, "returns")
    ppy, _ = _periods_per_year(periods_per_year, _dates(index, dates))
    return _vector(ppy * r.mean(axis=0), labels)


def sample_covariance(returns: Matrix, *, periods_per_year: float | None = None, dates: ArrayLike | None = None) -> Labelled:
    """The annualised sample covariance (divisor T - 1)."""
    r, labels, index = _panel(returns, "returns", min_rows=2)
    ppy, _ = _periods_per_year(periods_per_year, _dates(index, dates))
    c = r - r.mean(axis=0)
    return _matrix(ppy * (c.T @ c) / (r.shape[0] - 1), labels)


def ewma_covariance(returns: Matrix, *, halflife: float, periods_per_year: float | None = None,
                    dates: ArrayLike | None = None) -> Labelled:
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


def ledoit_wolf_covariance(returns: Matrix, *, periods_per_year: float | None = None, dates: ArrayLike | None = None) -> Labelled:
    """The annualised Ledoit-Wolf covariance (shrinkage towards a multiple of the identity), by
    scikit-learn's ``LedoitWolf`` (the ``microalloc[estimate]`` extra)."""
    try:
        from sklearn.covariance import LedoitWolf
    except ImportError:  # pragma: no cover - the extra is missing
        raise ImportError("ledoit_wolf_covariance needs scikit-learn: pip install 'microalloc[estimate]'") from None
    r, labels, index = _panel(returns, "returns", min_rows=2)
    ppy, _ = _periods_per_year(periods_per_year, _dates(index, dates))
    return _matrix(ppy * LedoitWolf().fit(r).covariance_, labels)


def factor_covariance(returns: Matrix, n_factors: int, *, periods_per_year: float | None = None, dates: ArrayLike | None = None,
                      specific_floor: float = 1e-3) -> FactorCovariance:
    """The annualised statistical factor model of the returns: the first ``n_factors`` principal
    components of :meth:`FactorCovariance.from_returns <microalloc.FactorCovariance.from_returns>`
    (per period), with F and d scaled by the periods a year."""
    from .covariance import FactorCovariance

    r, labels, index = _panel(returns, "returns", min_rows=2)
    ppy, _ = _periods_per_year(periods_per_year, _dates(index, dates))
    model = FactorCovariance.from_returns(returns, n_factors, specific_floor=specific_floor)
    x: Any = model.loadings
    if labels is not None:
        import pandas as pd

        x = pd.DataFrame(x, index=labels, columns=list(model.factors or range(model.k)))
    return FactorCovariance(x, ppy * model.factor_cov, ppy * model.specific_var)


@dataclass(frozen=True, repr=False, eq=False)
class PortfolioSummary(Sealed):
    """What :func:`portfolio_summary` returns. Benchmark-relative fields are None without a
    benchmark; ``active_share`` needs benchmark weights (not returns)."""

    annual_return: float  # periods_per_year * mean(r_p): arithmetic, as mean_return
    volatility: float  # sqrt(periods_per_year) * std(r_p, ddof=1), as sample_covariance
    sharpe: float  # (annual_return - risk_free) / volatility; NaN when the volatility is 0
    max_drawdown: float  # the largest fall of the value prod(1 + r_p) from a peak (1 at the start), >= 0
    tracking_error: float | None  # sqrt(periods_per_year) * std(r_p - r_b, ddof=1)
    information_ratio: float | None  # periods_per_year * mean(r_p - r_b) / tracking_error
    active_share: float | None  # 0.5 * sum |w - b|
    periods_per_year: float
    periods_per_year_source: str
    periods: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.__dict__.items() if isinstance(v, float))
        return f"PortfolioSummary({shown})"


def portfolio_summary(returns: Matrix, weights: Vector, *, benchmark: str | Vector | None = None, risk_free: float = 0.0,
                      periods_per_year: float | None = None, dates: ArrayLike | None = None) -> PortfolioSummary:
    """The realised figures of a portfolio held at constant ``weights`` (rebalanced to them every
    period) over simple ``returns`` (T, n): its returns are r_p = R w.

    ``benchmark``: weights (a length-n vector, or a Series labelled by the assets), the
    benchmark's returns (a length-T vector, or a Series labelled by the periods), or the name of a
    column of ``returns`` holding them (the weights then cover the other columns). An unlabelled
    vector with T = n is ambiguous and refused. ``risk_free`` is an annual rate. The periods a
    year are given, or read off the returns' DatetimeIndex (or ``dates``) as the backtests do.
    """
    if isinstance(benchmark, str):
        frame: Any = returns  # a DataFrame, when it has the benchmark's column
        if not hasattr(frame, "columns") or benchmark not in frame.columns:
            raise InputError("benchmark", f"{benchmark!r} is not a column of the returns")
        returns, benchmark = frame.drop(columns=benchmark), frame[benchmark]
    r, labels, index = _panel(returns, "returns", min_rows=2)
    t, n = r.shape
    ppy, source = _periods_per_year(periods_per_year, _dates(index, dates))
    w = as_vector(weights, n, "weights", labels=labels)
    rf = as_scalar(risk_free, "risk_free")
    rp = r @ w
    bw, rb = _benchmark(benchmark, r, labels, index)
    ann = ppy * float(rp.mean())
    vol = float(np.sqrt(ppy) * rp.std(ddof=1))
    value = np.cumprod(np.r_[1.0, 1.0 + rp])
    te = ir = share = None
    if rb is not None:
        active = rp - rb
        te = float(np.sqrt(ppy) * active.std(ddof=1))
        ir = ppy * float(active.mean()) / te if te > 0 else float("nan")
    if bw is not None:
        from .risk import active_share

        share = float(active_share(w, bw))  # one portfolio: a float
    return PortfolioSummary(
        annual_return=ann, volatility=vol, sharpe=(ann - rf) / vol if vol > 0 else float("nan"),
        max_drawdown=float(1.0 - (value / np.maximum.accumulate(value)).min()), tracking_error=te,
        information_ratio=ir, active_share=share, periods_per_year=ppy, periods_per_year_source=source, periods=t)


def _benchmark(benchmark: Any, r: np.ndarray, labels: Any, index: Any) -> tuple[Any, Any]:
    """(benchmark weights or None, benchmark returns or None) of a summary's ``benchmark``."""
    if benchmark is None:
        return None, None
    t, n = r.shape
    if is_pandas(benchmark) and getattr(benchmark, "ndim", 0) == 1:
        if index is not None and len(benchmark) == t and benchmark.index.isin(index).all():  # on the dates
            rb = np.asarray(benchmark.reindex(index), dtype=float)
            _require_finite(rb, "benchmark")
            return None, rb
        bw = as_vector(benchmark, n, "benchmark", labels=labels)
        return bw, r @ bw
    a = np.asarray(benchmark, dtype=float)
    if a.ndim != 1 or a.shape[0] not in (t, n):
        raise ShapeError("benchmark", f"expected {n} weights or {t} returns, got shape {a.shape}")
    if t == n:
        raise InputError("benchmark", f"{n} values for {n} assets and {t} periods: weights or returns? pass a "
                                      "pandas Series labelled by the assets (weights) or by the dates (returns)")
    _require_finite(a, "benchmark")
    return (a, r @ a) if a.shape[0] == n else (None, a)


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
