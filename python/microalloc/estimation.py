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

from .result import Result, timed
from ._validate import SCALE_HUGE, SCALE_TINY, _as_float_array, _num, _row_entry, as_scalar, as_vector, asset_labels, is_pandas
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
    if not (p >= SCALE_TINY).all():
        t, i = (int(v) for v in np.argwhere(~(p >= SCALE_TINY))[0])
        raise InputError("prices", f"{_row_entry(t, i, labels)} = {_num(p[t, i])}; prices must be > 0 (and at least "
                                   f"{SCALE_TINY:.0e}: returns, not prices? pass them to the estimators directly)")
    ratio = p[1:] / p[:-1]
    r = np.log(ratio) if kind == "log" else ratio - 1.0
    _require_scale(r, "prices", labels)  # a jump of 1e300 from one row to the next
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
    with np.errstate(over="ignore"):
        w = np.exp2(-age / h)
    w /= w.sum()
    if not 1.0 - w @ w > 1e-12:  # all the weight on the last row: no spread to measure
        raise InputError("halflife", f"{_num(h)} rows is too short: the weights fall on the last row alone "
                                     f"(give at least about 0.1)")
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
    try:
        return FactorCovariance(x, ppy * model.factor_cov, ppy * model.specific_var)
    except InputError as exc:  # the per-period model was accepted: the annualising factor tipped it over
        raise InputError("periods_per_year", f"{_num(ppy)} scales the model out of range ({exc})") from None


@dataclass(frozen=True, repr=False, eq=False)
class PortfolioSummary(Result):
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

    _figures = ("annual_return", "volatility", "sharpe", "max_drawdown", "tracking_error", "information_ratio",
                "active_share", "periods_per_year", "periods")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "solve_time_s"}


@timed
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
    if (r < -1.0).any():
        k, i = (int(v) for v in np.argwhere(r < -1.0)[0])
        raise InputError("returns", f"{_row_entry(k, i, labels)} = {_num(r[k, i])}: a simple return below -100% "
                                    "(log returns? prices? pass simple returns, see returns_from_prices)")
    assets = labels if labels is not None else asset_labels(weights, benchmark if _by_asset(benchmark, n) else None)
    ppy, source = _periods_per_year(periods_per_year, _dates(index, dates))
    w = as_vector(weights, n, "weights", labels=assets)
    rf = as_scalar(risk_free, "risk_free")
    rp = _returns_of(r, w, "weights")
    bw, rb = _benchmark(benchmark, r, assets, index)
    ann = ppy * float(rp.mean())
    vol = float(np.sqrt(ppy) * rp.std(ddof=1))
    if (rp < -1.0).any():
        k = int(np.flatnonzero(rp < -1.0)[0])
        raise InputError("weights", f"the portfolio's return in row {k} is {_num(rp[k])}: below -100% (it loses more "
                                    "than its value), which the summary's value path cannot hold")
    # the value path in logs (it may outgrow float64 over a long history; a drawdown is a ratio)
    with np.errstate(divide="ignore"):
        log_value = np.cumsum(np.r_[0.0, np.log1p(rp)])
    te = ir = share = None
    if rb is not None:
        active = rp - rb
        te = float(np.sqrt(ppy) * active.std(ddof=1))
        ir = ppy * float(active.mean()) / te if te > 0 else float("nan")
    if bw is not None:
        from .risk import active_share

        ws, bs = float(w.sum()), float(bw.sum())
        if abs(bs - ws) > 1e-6 * max(1.0, abs(ws)):  # the tolerance of active_share
            name = "weights" if abs(ws - 1.0) > abs(bs - 1.0) else "benchmark"  # the total further from 1
            raise InputError(name, f"the weights sum to {_num(ws)}, the benchmark to {_num(bs)}: the active share "
                                   "compares portfolios of the same total")
        share = float(active_share(w, bw))  # one portfolio: a float
    return PortfolioSummary(
        annual_return=ann, volatility=vol, sharpe=(ann - rf) / vol if vol > 0 else float("nan"),
        max_drawdown=float(1.0 - np.exp(log_value - np.maximum.accumulate(log_value)).min()), tracking_error=te,
        information_ratio=ir, active_share=share, periods_per_year=ppy, periods_per_year_source=source, periods=t)


def _returns_of(r: np.ndarray, w: np.ndarray, name: str) -> np.ndarray:
    """R w, refused (naming the weights) when it leaves the range the figures can square and sum."""
    with np.errstate(over="ignore", invalid="ignore"):
        rp = r @ w
    if not np.isfinite(rp).all() or (np.abs(rp) > np.sqrt(SCALE_HUGE / max(len(rp), 1))).any():
        raise InputError(name, f"max |weight| = {_num(np.abs(w).max())}: the portfolio's returns R w leave the range "
                               "whose squares and sums stay finite (rescale the weights)")
    return rp


def _by_asset(benchmark: Any, n: int) -> bool:
    """A labelled benchmark of weights (not of returns on the dates): it may give the assets' labels."""
    return is_pandas(benchmark) and getattr(benchmark, "ndim", 0) == 1 and len(benchmark) == n


def _benchmark(benchmark: Any, r: np.ndarray, labels: Any, index: Any) -> tuple[Any, Any]:
    """(benchmark weights or None, benchmark returns or None) of a summary's ``benchmark``."""
    if benchmark is None:
        return None, None
    t, n = r.shape
    if is_pandas(benchmark) and getattr(benchmark, "ndim", 0) == 1:
        if index is not None and len(benchmark) == t and benchmark.index.isin(index).all():  # on the dates
            rb = np.asarray(benchmark.reindex(index), dtype=float)
            _require_finite(rb, "benchmark")
            _require_scale(rb[:, None], "benchmark", None)
            return None, rb
        bw = as_vector(benchmark, n, "benchmark", labels=labels)
        return bw, _returns_of(r, bw, "benchmark")
    a = _as_float_array(benchmark, "benchmark")
    if a.ndim != 1 or a.shape[0] not in (t, n):
        raise ShapeError("benchmark", f"expected {n} weights or {t} returns, got shape {a.shape}")
    if t == n:
        raise InputError("benchmark", f"{n} values for {n} assets and {t} periods: weights or returns? pass a "
                                      "pandas Series labelled by the assets (weights) or by the dates (returns)")
    _require_finite(a, "benchmark")
    if a.shape[0] == n:
        return a, _returns_of(r, a, "benchmark")
    _require_scale(a[:, None], "benchmark", None)
    return None, a


# -- inputs and outputs ---------------------------------------------------------------------------
def _panel(x: Any, name: str, min_rows: int = 1) -> tuple[np.ndarray, list[Any] | None, Any]:
    """(T, n) float64 data, the assets' labels and the rows' index (pandas) or None."""
    labels = list(x.columns) if hasattr(x, "columns") else None
    index = x.index if hasattr(x, "columns") else None
    a = _as_float_array(x, name)  # ragged, complex, strings and objects are refused here
    if a.ndim != 2 or a.shape[1] == 0:
        raise ShapeError(name, f"expected (T, n) with dates as rows and assets as columns, got {a.shape}")
    if a.shape[0] < min_rows:
        raise ShapeError(name, f"needs at least {min_rows} rows, got {a.shape[0]}")
    _require_finite(a, name, labels)
    _require_scale(a, name, labels)
    if name == "returns" and looks_like_prices(a):
        raise InputError(name, f"looks like prices (every value positive, median {_num(np.median(a))}), not returns: "
                               "pass returns_from_prices(prices)")
    return a, labels, index


def looks_like_prices(values: np.ndarray) -> bool:
    """The one rule that tells prices from returns: every value positive with a median above 1
    (a return of more than 100% a period), which returns never have and price levels do."""
    return bool(values.size) and bool((values > 0).all()) and float(np.median(values)) > 1.0


def _require_scale(a: np.ndarray, name: str, labels: Any) -> None:
    """Entries small enough that T times a square stays finite (a covariance's sums), so that no
    estimate overflows: |x| <= sqrt(1e300 / T)."""
    limit = np.sqrt(SCALE_HUGE / max(a.shape[0], 1))
    big = np.abs(a) > limit
    if big.any():
        t, i = (int(v) for v in np.argwhere(big)[0])
        raise InputError(name, f"{_row_entry(t, i, labels)} = {_num(a[t, i])} is beyond {limit:.3g}: the sums of "
                               "squares over the rows would overflow (rescale the data)")


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
