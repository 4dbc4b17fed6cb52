"""Plots (the ``microalloc[plot]`` extra, matplotlib). Each function draws on the ``ax`` given (a
new figure's axes otherwise) and returns it; none touches pyplot's global state beyond creating
that figure."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError, ShapeError

__all__ = ["frontier", "risk_contributions", "weights"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    return Figure(figsize=(7, 4.5), layout="constrained").add_subplot()


def frontier(front: Any, cov: Any, mu: Any, *, ax: Any = None, assets: bool = True, tangency: Any = None,
             risk_free: float | None = None, points: int = 120, cloud: Any = 0, seed: Any = None) -> Any:
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
    er, vols, budget = front.expected_returns, front.volatilities, front.budget  # the fields read
    s = np.asarray(getattr(cov, "matrix", cov), dtype=float)
    m = np.asarray(mu, dtype=float)
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


def weights(w: Any, *, ax: Any = None, labels: Any = None, threshold: float = 0.0) -> Any:
    """Weights as horizontal bars, largest first; those at most ``threshold`` in size left out."""
    values = np.asarray(w, dtype=float)
    names = list(labels if labels is not None else getattr(w, "index", range(len(values))))
    keep = np.flatnonzero(np.abs(values) > threshold)
    order = keep[np.argsort(values[keep])]
    ax = _axes(ax)
    ax.barh([str(names[i]) for i in order], values[order], color="C0")
    ax.set_xlabel("weight")
    return ax


def risk_contributions(rc: Any, *, ax: Any = None, kind: str = "percent", labels: Any = None) -> Any:
    """One portfolio's risk contributions as bars: ``kind`` is a field of the result ("percent",
    "component", "active_percent", "active_component", "component_factor", ...)."""
    values = getattr(rc, kind, None)
    if values is None:
        raise InputError("kind", f"the result has no {kind!r} (a benchmark gives the active ones, a factor model "
                                 "the factor ones)")
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise InputError("rc", "expected the contributions of one portfolio")
    names = list(labels if labels is not None else getattr(getattr(rc, kind), "index", range(len(values))))
    ax = _axes(ax)
    ax.bar([str(n) for n in names], values, color=np.where(values >= 0, "C0", "C3"))
    ax.set_ylabel(kind.replace("_", " "))
    ax.tick_params(axis="x", labelrotation=90)
    return ax
