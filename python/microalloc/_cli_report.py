"""``microalloc optimize``'s report (Markdown or JSON) and plot (PNG, matplotlib)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .errors import InputError


def require_matplotlib() -> None:
    """Checked before solving, so a missing plotting library costs no solve."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("--plot", "needs matplotlib: pip install 'microalloc[plot]' (or drop --plot)") from None


def report(args: Any, res: Any, r: Any, w: Any, facts: dict[str, Any]) -> dict[str, Any]:
    """The report's content: the solve, the estimates, the data, and the in-sample summary."""
    from .estimation import portfolio_summary

    status, cert_name, cert = certificate(res)
    vol = facts["volatility"]
    realised = portfolio_summary(r, w, risk_free=args.risk_free, periods_per_year=facts["periods_per_year"])
    return {
        "objective": args.objective,
        "status": status,
        "certificate": {"measure": cert_name, "value": cert},
        "expected_return": facts["expected_return"],
        "volatility": vol,
        "sharpe": (facts["expected_return"] - args.risk_free) / vol if vol > 0 else None,
        "risk_free": args.risk_free,
        "estimator": f"{args.factors}-factor statistical model (principal components)" if args.factors
        else (args.estimator or "sample") + (f" (halflife {args.halflife:g} rows)" if args.estimator == "ewma" else ""),
        "periods_per_year": facts["periods_per_year"],
        "periods_per_year_source": facts["periods_per_year_source"],
        "data": {"file": args.file, "kind": "returns" if args.returns else "prices",
                 "first_date": str(r.index[0].date()), "last_date": str(r.index[-1].date()), "rows_of_returns": len(r), "assets": r.shape[1]},
        "constraints": facts["constraints"],
        "in_sample": {k: realised.to_dict()[k] for k in ("annual_return", "volatility", "sharpe", "max_drawdown")},
        "weights": {str(k): float(v) for k, v in w.items()},
    }


def write_report(path: str, args: Any, res: Any, r: Any, w: Any, facts: dict[str, Any]) -> None:
    content = report(args, res, r, w, facts)
    with open(path, "w", encoding="utf-8") as fh:
        if path.lower().endswith(".json"):
            json.dump(content, fh, indent=2)
        else:
            fh.write(markdown(content))


def markdown(c: dict[str, Any]) -> str:
    d, s = c["data"], c["in_sample"]
    pct = lambda x: "n/a" if x is None else f"{100 * x:.2f}%"  # noqa: E731
    lines = [
        f"# microalloc optimize: {c['objective']}", "",
        f"- status: **{c['status']}** ({c['certificate']['measure']} {c['certificate']['value']:.2e})",
        f"- expected return {pct(c['expected_return'])}, volatility {pct(c['volatility'])}, Sharpe "
        + ("n/a" if c["sharpe"] is None else f"{c['sharpe']:.3f}") + f" (risk-free {pct(c['risk_free'])})",
        f"- estimator: {c['estimator']}; {c['periods_per_year']:g} periods a year ({c['periods_per_year_source']})",
        f"- data: {d['file']} ({d['kind']}), {d['first_date']} .. {d['last_date']}, {d['rows_of_returns']} rows of "
        f"returns, {d['assets']} assets",
        f"- constraints: {json.dumps(c['constraints'])}",
        f"- in sample, held at these weights: return {pct(s['annual_return'])}, volatility {pct(s['volatility'])}, "
        f"Sharpe {s['sharpe']:.3f}, max drawdown {pct(s['max_drawdown'])}", "",
        "| asset | weight |", "|---|---:|",
        *(f"| {k} | {v:.6f} |" for k, v in c["weights"].items()), "",
    ]
    return "\n".join(lines)


def plot(path: str, args: Any, cov: Any, mu: Any, w: Any, res: Any, given: Any) -> None:
    """The efficient frontier under the same limits (without costs: the frontier has none), the
    portfolio chosen on it, and its weights."""
    from matplotlib.figure import Figure

    from . import plot as mplot
    from .constraints import Constraints
    from .frontier import efficient_frontier

    s = cov.to_dense() if hasattr(cov, "to_dense") else np.asarray(cov, dtype=float)
    limits = None if given is None else Constraints(upper=args.cap, groups=given.groups, group_upper=given.group_upper
                                                    or None)
    kw = dict(constraints=limits) if limits is not None else dict(upper=args.cap)
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    front = efficient_frontier(s, np.asarray(mu, dtype=float), **kw)
    tangency = res if args.objective == "max-sharpe" else None
    mplot.frontier(front, s, np.asarray(mu, dtype=float), ax=left, tangency=tangency, risk_free=args.risk_free)
    wv = w.to_numpy()
    left.plot([np.sqrt(wv @ s @ wv)], [wv @ np.asarray(mu, dtype=float)], "X", color="k", markersize=9,
              label=args.objective)
    left.legend(loc="best", fontsize="small")
    mplot.weights(w, ax=right, threshold=1e-6)
    right.set_title(f"{args.objective}: weights")
    try:
        fig.savefig(path, dpi=100)
    except (OSError, ValueError) as exc:
        raise InputError("--plot", f"cannot write {path} ({exc})") from None


__all__ = ["markdown", "plot", "report", "require_matplotlib", "write_report"]


def certificate(res: Any) -> tuple[str, str, float]:
    """(status, what certifies it, its value): max_sharpe's is its frontier's, risk budgeting's
    the largest budget error."""
    if hasattr(res, "frontier"):
        return str(res.frontier.status), "max relative gap", float(res.frontier.max_rel_gap)
    if hasattr(res, "max_budget_error"):
        return str(res.status), "max budget error", float(res.max_budget_error)
    return str(res.status), "relative gap", float(res.rel_gap)
