"""``microalloc optimize FILE``: weights from a user's own prices or returns (CSV or Parquet, dates
in the first column or the index, one column per asset)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from ._progress import add_progress_flags, progress_bar
from .errors import InputError

OBJECTIVES = ("min-variance", "max-sharpe", "risk-aversion", "target-return", "target-volatility", "erc")
ESTIMATORS = ("sample", "ewma", "ledoit-wolf")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("optimize", help="optimise a portfolio from your own prices or returns (CSV or Parquet)")
    p.add_argument("file", metavar="FILE", help="CSV or Parquet: dates in the first column, one column per asset")
    p.add_argument("--returns", action="store_true", help="FILE holds returns (default: prices)")
    p.add_argument("--objective", choices=OBJECTIVES, default="min-variance")
    p.add_argument("--cap", type=float, default=1.0, help="largest weight per asset (default 1: long-only)")
    p.add_argument("--risk-aversion", type=float, default=5.0, help="for --objective risk-aversion (default 5)")
    p.add_argument("--target", type=float, help="annual target return or volatility for the target objectives")
    p.add_argument("--risk-free", type=float, default=0.0, help="annual risk-free rate for max-sharpe")
    p.add_argument("--estimator", choices=ESTIMATORS, default="sample", help="covariance estimator (default sample)")
    p.add_argument("--halflife", type=float, default=63.0, help="rows, for --estimator ewma (default 63)")
    p.add_argument("--periods-per-year", type=float, help="rows a year (default: read off the dates)")
    p.add_argument("--out", help="write the weights here (CSV: asset, weight)")
    add_progress_flags(p)


def read_table(path: str) -> Any:
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InputError("FILE", f"{path} is not a file")
    if p.suffix.lower() in (".parquet", ".pq"):
        table = pd.read_parquet(p)
        if not isinstance(table.index, pd.DatetimeIndex):
            table = table.set_index(table.columns[0])
    else:
        table = pd.read_csv(p, index_col=0)
    try:
        table.index = pd.to_datetime(table.index)
    except (ValueError, TypeError):
        raise InputError("FILE", f"the first column of {path} must hold dates") from None
    numeric = table.apply(pd.to_numeric, errors="coerce")
    if numeric.isna().all().any():
        bad = [c for c in table.columns if numeric[c].isna().all()]
        raise InputError("FILE", f"column(s) {bad} hold no numbers")
    return numeric.sort_index()


def returns_of(table: Any, is_returns: bool) -> Any:
    from .estimation import returns_from_prices

    values = table.to_numpy()
    if is_returns:
        if np.nanmedian(values) > 1.0 and (values > 0).all():
            raise InputError("FILE", "looks like prices (every value positive, median "
                                     f"{np.nanmedian(values):.4g}): drop --returns")
        return table.dropna()
    if (values <= 0).any():
        raise InputError("FILE", "holds values <= 0, which prices cannot be: if these are returns, pass --returns")
    return returns_from_prices(table.dropna())


def estimate(r: Any, args: Any) -> tuple[Any, Any]:
    from . import estimation as est

    kw = dict(periods_per_year=args.periods_per_year)
    cov = {"sample": lambda: est.sample_covariance(r, **kw),
           "ewma": lambda: est.ewma_covariance(r, halflife=args.halflife, **kw),
           "ledoit-wolf": lambda: est.ledoit_wolf_covariance(r, **kw)}[args.estimator]()
    return cov, est.mean_return(r, **kw)


def solve(cov: Any, mu: Any, args: Any) -> Any:
    """The weights (labelled) and the status, for the objective asked."""
    import microalloc as ma

    cap = args.cap
    o = args.objective
    if o in ("target-return", "target-volatility") and args.target is None:
        raise InputError("--target", f"--objective {o} needs --target")
    if o == "min-variance":
        return ma.solve_mean_variance(cov, None, upper=cap)
    if o == "risk-aversion":
        return ma.solve_mean_variance(cov, mu, risk_aversion=args.risk_aversion, upper=cap)
    if o == "max-sharpe":
        with progress_bar("frontier", getattr(args, "progress", "auto")) as bar:
            return ma.max_sharpe(cov, mu, risk_free=args.risk_free, upper=cap, progress=bar)
    if o == "target-return":
        return ma.min_risk(cov, mu, args.target, upper=cap)
    if o == "target-volatility":
        return ma.max_return(cov, mu, target_volatility=args.target, upper=cap)
    return ma.risk_budgeting(cov, upper=None if cap >= 1.0 else cap)


def run(args: Any) -> int:
    import pandas as pd

    try:
        r = returns_of(read_table(args.file), args.returns)
        cov, mu = estimate(r, args)
        res = solve(cov, mu, args)
    except (OSError, InputError) as exc:
        print(f"microalloc optimize: {exc}", file=sys.stderr)
        return 2
    # max_sharpe's certificate is its frontier's
    status = res.frontier.status if hasattr(res, "frontier") else res.status
    w = pd.Series(np.asarray(res.weights, dtype=float), index=list(cov.columns), name="weight")
    s = np.asarray(cov, dtype=float)
    vol = float(np.sqrt(w.to_numpy() @ s @ w.to_numpy()))
    ret = float(w.to_numpy() @ np.asarray(mu, dtype=float))
    print(f"objective {args.objective}, {len(w)} assets, {len(r)} rows of returns; status {status}")
    print(f"expected return {ret:.4%}, volatility {vol:.4%}, Sharpe {(ret - args.risk_free) / vol:.3f}"
          if vol > 0 else f"expected return {ret:.4%}, volatility 0")
    for name, weight in w[w.abs() > 1e-6].sort_values(ascending=False).items():
        print(f"  {name:<24} {weight:8.4f}")
    if args.out:
        w.rename_axis("asset").reset_index().to_csv(args.out, index=False)
    return 0 if status == "OPTIMAL" else 1
