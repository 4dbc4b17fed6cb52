"""Plots (the ``microalloc[plot]`` extra, matplotlib). Each function draws on the ``ax`` given (a
new figure's axes otherwise) and returns it; none touches pyplot's global state beyond creating
that figure."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["frontier", "risk_contributions", "weights"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    return Figure(figsize=(7, 4.5), layout="constrained").add_subplot()


def frontier(front: Any, cov: Any, mu: Any, *, ax: Any = None, assets: bool = True, tangency: Any = None,
             risk_free: float = 0.0, points: int = 120) -> Any:
    """The efficient frontier (volatility against expected return), its turning points, the assets,
    and with ``tangency`` (a :func:`~microalloc.max_sharpe` result) the capital market line from
    the risk-free rate through it: the line of portfolios mixing cash and the tangency portfolio."""
    if points < 2:
        raise InputError("points", f"expected at least 2, got {points}")
    s = np.asarray(getattr(cov, "matrix", cov), dtype=float)
    m = np.asarray(mu, dtype=float)
    er = np.asarray(front.expected_return, dtype=float)
    targets = np.linspace(er[0], er[-1], points)
    w = np.array([np.asarray(front.at_return(t), dtype=float) for t in targets])
    vol = np.sqrt(np.einsum("ij,jk,ik->i", w, s, w))
    ax = _axes(ax)
    ax.plot(vol, w @ m, color="C0", label="efficient frontier")
    ax.plot(front.volatility, front.expected_return, "o", color="C0", markersize=3, label="turning points")
    if assets:
        ax.scatter(np.sqrt(np.diag(s)), m, color="C7", s=12, label="assets")
    if tangency is not None:
        slope = (tangency.expected_return - risk_free) / tangency.volatility
        x = np.array([0.0, max(vol.max(), tangency.volatility) * 1.1])
        ax.plot(x, risk_free + slope * x, "--", color="C3", label=f"capital market line (Sharpe {slope:.2f})")
        ax.plot([tangency.volatility], [tangency.expected_return], "*", color="C3", markersize=10,
                label="maximum Sharpe")
    ax.set_xlabel("volatility")
    ax.set_ylabel("expected return")
    ax.legend(loc="best", fontsize="small")
    return ax


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
