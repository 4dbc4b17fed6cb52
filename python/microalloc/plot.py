"""Plots (the ``microalloc[plot]`` extra, matplotlib). Each function draws on the ``ax`` given (a
new ``matplotlib.figure.Figure``'s axes otherwise) and returns it; pyplot and its global state
are never used, so the plots are safe in servers and threads (save with ``ax.figure.savefig``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validate import as_choice, asset_labels
from .errors import InputError, ShapeError
from .rebalance import _bands, _Batch, check_bands
from ._typing import Vector, Matrix
from .covariance import CovarianceLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from .frontier import Frontier, MaxSharpeResult
    from .rebalance import BacktestResult, BandCheck
    from .risk import RiskContributions

__all__ = ["backtest", "band_map", "frontier", "risk_contributions", "weights"]


def _axes(ax: Any, size: tuple[float, float] = (7, 4.5)) -> Any:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    return Figure(figsize=size, layout="constrained").add_subplot()


def frontier(front: Frontier, cov: CovarianceLike, mu: Vector, *, ax: Axes | None = None, assets: bool = True, tangency: MaxSharpeResult | None = None,
             risk_free: float | None = None, points: int = 120, cloud: int | Matrix = 0, seed: int | None = None) -> Axes:
    """The efficient frontier (volatility against expected return), its turning points, the assets,
    and with ``tangency`` (a :func:`~microalloc.max_sharpe` result) the capital market line from
    the risk-free rate (0 if not given) through it: the portfolios mixing cash and the tangency.

    ``cloud``: a number of random long-only portfolios (Dirichlet weights summing to the
    frontier's budget, drawn with ``seed``), or a (k, n) array of portfolios, drawn beneath the
    frontier to show what diversification gains; coloured by Sharpe ratio when ``risk_free`` is
    given. With bounds tighter than long-only, pass portfolios that respect them: random ones may
    lie beyond that frontier."""
    if points < 2:
        raise InputError("points", f"expected at least 2, got {points}")
    er, vols, budget = front.expected_return, front.volatility, front.budget  # the fields read
    s, m = _frontier_data(front, cov, mu)
    targets = np.linspace(er[0], er[-1], points)
    w = np.array([np.asarray(front.at_return(t), dtype=float) for t in targets])
    vol = np.sqrt(np.einsum("ij,jk,ik->i", w, s, w))
    ax = _axes(ax)
    ax.plot(vol, w @ m, color="C0", label="efficient frontier")
    ax.plot(vols, er, "o", color="C0", markersize=3, label="turning points")
    if assets:
        _assets(ax, np.sqrt(np.diag(s)), m, getattr(mu, "index", None))
    if tangency is not None:
        _capital_market_line(ax, tangency, 0.0 if risk_free is None else risk_free, vol.max())
    if np.ndim(cloud) or cloud:
        _cloud(ax, _cloud_weights(cloud, len(m), budget, seed), s, m, budget, risk_free)
    ax.set_xlabel("volatility")
    ax.set_ylabel("expected return")
    ax.set_title("efficient frontier")
    ax.legend(loc="best", fontsize="small")
    return ax


def _frontier_data(front: Any, cov: Any, mu: Any) -> tuple[np.ndarray, np.ndarray]:
    """cov and mu as arrays in the frontier's asset order (labelled ones aligned by label, as
    everywhere), checked to be the frontier's own: its turning points' returns and volatilities
    recomputed from them. A plot of other data would draw a curve that is no frontier of them."""
    from ._validate import align

    labels = front.labels
    if hasattr(cov, "matrix"):  # a Covariance: its own order (checked below)
        s = np.asarray(cov.matrix, dtype=float)
    else:
        s = np.asarray(align(align(cov, labels, "cov"), labels, "cov", axis="rows"), dtype=float)
    m = np.asarray(align(mu, labels, "mu"), dtype=float)
    w = np.asarray(front._w, dtype=float)
    n = w.shape[1]
    if s.shape != (n, n):
        raise ShapeError("cov", f"expected ({n}, {n}) for the frontier's {n} assets, got {s.shape}")
    if m.shape != (n,):
        raise ShapeError("mu", f"expected ({n},) for the frontier's {n} assets, got {m.shape}")
    scale = float(np.abs(w).sum(axis=1).max())
    if not np.allclose(w @ m, front.expected_return, rtol=1e-8, atol=1e-12 * np.abs(m).max() * scale):
        raise InputError("mu", "is not the frontier's: its turning points' expected returns differ (another mu, or "
                               "the same values in another order)")
    vol = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", w, s, w), 0.0))
    if not np.allclose(vol, front.volatility, rtol=1e-6, atol=1e-9 * np.sqrt(np.abs(np.diag(s)).max()) * scale):
        raise InputError("cov", "is not the frontier's: its turning points' volatilities differ")
    return s, m


def _capital_market_line(ax: Any, tangency: Any, risk_free: float, right: float) -> None:
    ret, vol = tangency.expected_return, tangency.volatility
    slope = (ret - risk_free) / vol
    x = np.array([0.0, max(right, vol) * 1.1])
    ax.plot(x, risk_free + slope * x, "--", color="C3", label=f"capital market line (Sharpe {slope:.2f})")
    ax.plot([vol], [ret], "*", color="C3", markersize=10, label="maximum Sharpe")


def _assets(ax: Any, vol: np.ndarray, ret: np.ndarray, names: Any) -> None:
    ax.scatter(vol, ret, color="k", s=12, label="assets")
    for x, y, name in zip(vol, ret, names if names is not None else ()):
        ax.annotate(str(name), (x, y), xytext=(3, 3), textcoords="offset points", fontsize="x-small")


def _cloud_weights(cloud: Any, n: int, budget: float, seed: Any) -> np.ndarray:
    """(k, n) portfolios: given, or k long-only ones scaled to the budget, Dirichlet with a
    concentration drawn per portfolio in [0.1, 1] (1 alone, uniform on the simplex, crowds them
    near equal weights; smaller ones reach towards the assets)."""
    if np.ndim(cloud) == 0:
        if int(cloud) != cloud or cloud < 0:
            raise InputError("cloud", f"expected a number of portfolios >= 0 or a (k, n) array, got {cloud!r}")
        rng = np.random.default_rng(seed)
        g = rng.gamma(10.0 ** rng.uniform(-1.0, 0.0, (int(cloud), 1)), size=(int(cloud), n))
        return budget * g / g.sum(axis=1, keepdims=True)
    w = np.asarray(cloud, dtype=float)
    if w.ndim != 2 or w.shape[1] != n:
        raise ShapeError("cloud", f"expected (k, {n}) portfolios, got shape {w.shape}")
    return w


def _cloud(ax: Any, w: np.ndarray, s: np.ndarray, m: np.ndarray, budget: float, risk_free: float | None) -> None:
    vol = np.sqrt(np.einsum("ij,jk,ik->i", w, s, w))
    ret = w @ m
    style = dict(s=5, linewidths=0, alpha=0.7, zorder=0, label="random portfolios")  # beneath the lines
    if risk_free is None:
        ax.scatter(vol, ret, color="0.75", **style)
        return
    dots = ax.scatter(vol, ret, c=(ret - risk_free * budget) / vol, cmap="viridis", **style)
    ax.figure.colorbar(dots, ax=ax, label=f"Sharpe ratio (risk-free {risk_free:.3g})")


def weights(w: Vector, *, ax: Axes | None = None, labels: Sequence[Any] | None = None, threshold: float = 0.0) -> Axes:
    """Weights as horizontal bars, largest first; those at most ``threshold`` in size left out."""
    values = np.asarray(w, dtype=float)
    names = list(labels if labels is not None else getattr(w, "index", range(len(values))))
    keep = np.flatnonzero(np.abs(values) > threshold)
    order = keep[np.argsort(values[keep])]
    ax = _axes(ax)
    ax.barh([str(names[i]) for i in order], values[order], color="C0")
    ax.set_xlabel("weight")
    shown = "" if len(keep) == len(values) else f" ({len(keep)} of {len(values)} above {threshold:g})"
    ax.set_title(f"weights{shown}")
    return ax


#: per-asset kinds: (field of RiskContributions, what it is, what it needs)
_PER_ASSET = {
    "component": ("component", "contribution to volatility", None),
    "absolute": ("component", "contribution to volatility", None),
    "percent": ("percent", "share of risk", None),
    "active": ("active_component", "contribution to tracking error", "a benchmark"),
    "active_percent": ("active_percent", "share of active risk", "a benchmark"),
}
#: kinds by source: (factors' field, specific field, what it is)
_BY_SOURCE = {
    "factor": ("factor_contribution", "specific_contribution", "contribution to volatility"),
    "active_factor": ("active_factor_contribution", "active_specific_contribution", "contribution to tracking error"),
    "specific": ("component_factor", "component_specific", "contribution to volatility"),
    "active_specific": ("active_component_factor", "active_component_specific", "contribution to tracking error"),
}


def risk_contributions(rc: RiskContributions, *, ax: Axes | None = None, kind: str = "percent", labels: Sequence[Any] | None = None) -> Axes:
    """One portfolio's risk contributions (a :func:`~microalloc.risk_contributions` result) as bars.

    ``kind``: "component" (or "absolute"), each asset's w_i (S w)_i / sigma, summing to the
    volatility; "percent", those over the volatility; "active" and "active_percent", the same for
    the tracking error (the result needs a benchmark); with a FactorCovariance model, "factor",
    one bar per factor and one for the specific risk, and "specific", each asset's contribution
    split into its factor and specific parts ("active_factor", "active_specific": of the tracking
    error). ``labels`` name the assets (default: the result's labels)."""
    kind = as_choice(kind, [*_PER_ASSET, *_BY_SOURCE], "kind")
    if kind in _PER_ASSET:
        field, what, needs = _PER_ASSET[kind]
        values = _contribution(rc, field, kind, needs)
        ax = _axes(ax)
        _bars(ax, _names(values, labels), np.asarray(values, dtype=float), what, "asset")
        if kind.endswith("percent"):
            _percent(ax.yaxis)
        return ax
    first, second, what = _BY_SOURCE[kind]
    needs = "a FactorCovariance model" + (" and a benchmark" if kind.startswith("active") else "")
    a, b = _contribution(rc, first, kind, needs), _contribution(rc, second, kind, needs)
    ax = _axes(ax)
    if kind.endswith("factor"):  # the factors' bars and the specific one sum to the risk
        factors = _names(a, None, "factor ")
        colors = ["C0"] * len(factors) + ["C1"]
        _bars(ax, [*factors, "specific"], np.append(np.asarray(a, dtype=float), float(b)), what, "source", colors)
    else:
        _paired_bars(ax, _names(a, labels), np.asarray(a, dtype=float), np.asarray(b, dtype=float), what)
    return ax


def _percent(axis: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(1.0))


def _contribution(rc: Any, field: str, kind: str, needs: str | None) -> Any:
    values = getattr(rc, field)
    if values is None:
        raise InputError("kind", f"{kind!r} needs a result computed with {needs}; this one has no {field}")
    if np.ndim(values) == 2:
        raise InputError("rc", f"expected one portfolio's contributions, got a batch of {np.shape(values)[0]}: "
                               "pass one")
    return values


def _names(values: Any, labels: Any, prefix: str = "") -> list[str]:
    index = labels if labels is not None else getattr(values, "index", None)
    return [str(n) for n in index] if index is not None else [f"{prefix}{i}" for i in range(np.size(values))]


def _bars(ax: Any, names: list[str], values: np.ndarray, what: str, by: str, colors: Any = None) -> None:
    """Bars (negative ones red) titled with their sum: the volatility or tracking error, or 100%."""
    ax.bar(names, values, color=np.where(values >= 0, "C0", "C3") if colors is None else colors)
    ax.axhline(0.0, color="k", linewidth=0.6)
    ax.set_ylabel(what)
    total = f"{values.sum():.1%}" if what.startswith("share") else f"{values.sum():.4g}"
    ax.set_title(f"{what} by {by} (sum {total})")
    ax.tick_params(axis="x", labelrotation=90 if by == "asset" else 0)


def _paired_bars(ax: Any, names: list[str], factor: np.ndarray, specific: np.ndarray, what: str) -> None:
    x = np.arange(len(names))
    ax.bar(x - 0.2, factor, 0.4, color="C0", label="factor")
    ax.bar(x + 0.2, specific, 0.4, color="C1", label="specific")
    ax.axhline(0.0, color="k", linewidth=0.6)
    ax.set_xticks(x, names, rotation=90)
    ax.set_ylabel(what)
    ax.set_title(f"{what} by source (sum {factor.sum() + specific.sum():.4g})")
    ax.legend(fontsize="small")


def backtest(result: BacktestResult, *, ax: Axes | None = None, kind: str = "value", log: bool = False) -> Axes:
    """A :func:`~microalloc.backtest_rebalancing` result, one line a policy: ``kind="value"`` the
    value paths (1 at the start; ``log`` for a log scale over long spans), ``kind="drawdown"``
    the fall from the running peak, value / running max - 1 (the summary's max drawdown is the
    deepest). Dated results are drawn against their dates. For both, draw twice on two axes
    sharing x."""
    kind = as_choice(kind, ("value", "drawdown"), "kind")
    values, names = result.values, result.names  # the fields read
    y = np.asarray(values, dtype=float)
    index = getattr(values, "index", None)
    dated = index is not None and np.issubdtype(index.dtype, np.datetime64)
    x = np.asarray(index) if dated else np.arange(len(y))
    if kind == "drawdown":
        y = y / np.maximum.accumulate(y, axis=0) - 1.0
    ax = _axes(ax)
    for k, name in enumerate(names):
        line, = ax.plot(x, y[:, k], linewidth=1.0, label=str(name))
        if kind == "drawdown":  # each policy's trough, in its colour
            ax.scatter(x[np.argmin(y[:, k])], y[:, k].min(), color=line.get_color(), s=18, zorder=3)
    if kind == "value":
        ax.set_yscale("log" if log else "linear")
        ax.set_ylabel("value (1 at the start)")
        ax.set_title("value of each policy")
    else:
        _percent(ax.yaxis)
        ax.set_ylabel("drawdown")
        ax.set_title("drawdown from the running peak (dots: the deepest)")
    if not dated:
        ax.set_xlabel("row")
    ax.legend(loc="best", fontsize="small")
    return ax


def band_map(weights: Matrix, targets: Matrix, *, absolute: float | Vector | None = None, relative: float | Vector | None = None, combine: str = "min",
             check: BandCheck | None = None, ax: Axes | None = None, accounts: Sequence[Any] | None = None, assets: Sequence[Any] | None = None, max_accounts: int = 40,
             limit: float = 3.0) -> Axes:
    """Which accounts and holdings breached their bands: an image, one row an account (a row of
    ``weights``) and one column a holding, of the signed drift in band widths (w - t) / width,
    the widths as :func:`~microalloc.check_bands` takes them (same arguments), red over target
    and blue under, clipped at +-``limit`` (a drift where the width is 0 shows at the limit);
    a cross marks each breach of ``check`` (a BandCheck of these weights; computed if not given).
    With more than ``max_accounts`` accounts, those of largest drift are shown, in their order.
    ``accounts`` and ``assets`` label the rows and columns (default: the weights' labels)."""
    if int(max_accounts) != max_accounts or max_accounts < 1:
        raise InputError("max_accounts", f"expected a whole number >= 1, got {max_accounts!r}")
    if not limit > 1:
        raise InputError("limit", f"expected a number of band widths > 1, got {limit!r}")
    batch = _Batch(weights, labels=asset_labels(weights, targets, absolute, relative))
    t, a, r, combine_max = _bands(batch, targets, absolute, relative, combine)
    if check is None:
        check = check_bands(weights, targets, absolute=absolute, relative=relative, combine=combine)
    breach, worst = np.asarray(check.breach, dtype=bool), np.asarray(check.max_drift, dtype=float)  # fields read
    if breach.size != batch.m * batch.n:
        raise ShapeError("check", f"expected the check of {batch.m} x {batch.n} weights, got {breach.shape}")
    shown = np.sort(np.argsort(-worst.reshape(-1), kind="stable")[: int(max_accounts)])
    drift = _band_drift(batch.matrix, t, a, r, combine_max, limit)[shown]
    rows = _labels(accounts, batch.index, batch.m, "accounts")
    cols = _labels(assets, batch.columns, batch.n, "assets")
    ax = _axes(ax, (max(5.0, 0.4 * batch.n + 2.5), max(3.0, 0.25 * len(shown) + 1.5)))
    image = ax.imshow(drift, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, extend="both", label="drift in band widths, (w - t) / width")
    i, j = np.nonzero(breach.reshape(batch.m, batch.n)[shown])
    ax.scatter(j, i, marker="x", color="k", s=30, linewidths=1.2, label="breach")
    ax.set_xticks(range(batch.n), cols, rotation=90)
    ax.set_yticks(range(len(shown)), [rows[k] for k in shown])
    ax.set_xlabel("holding")
    ax.set_ylabel("account")
    hit = int(breach.reshape(batch.m, -1).any(axis=1).sum())
    ax.set_title(f"band drift: {hit} of {batch.m} accounts breached"
                 + (f" ({len(shown)} of largest drift shown)" if len(shown) < batch.m else ""))
    return ax


def _band_drift(w: np.ndarray, t: np.ndarray, a: np.ndarray, r: np.ndarray, combine_max: bool,
                limit: float) -> np.ndarray:
    """(w - t) / width with check_bands' widths (docs/methods.md §7): 0/0 is 0, x/0 is +-inf,
    then clipped to +-limit so that the colour scale stays finite."""
    rel = r * np.abs(t) if r.size else np.zeros_like(t)
    if a.size and r.size:
        width = np.maximum(a, rel) if combine_max else np.minimum(a, rel)
    else:
        width = np.broadcast_to(a, t.shape) if a.size else rel
    width = np.where(t == 0, a if a.size else 0.0, width)  # a zero target: the absolute band only
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (w - t) / width
    return np.clip(np.where(np.isnan(ratio), 0.0, ratio), -limit, limit)


def _labels(given: Any, own: Any, count: int, name: str) -> list[str]:
    names = list(given if given is not None else own if own is not None else range(count))
    if len(names) != count:
        raise ShapeError(name, f"expected {count} labels, got {len(names)}")
    return [str(x) for x in names]
