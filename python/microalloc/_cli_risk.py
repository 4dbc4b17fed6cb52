"""``microalloc risk WEIGHTS --prices FILE | --returns FILE``: the risk contributions of given
weights (marginal, component, percent; active ones against a benchmark), the volatility and
tracking error, and the realised summary of the weights held over the file's dates."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _cli_files as files
from .errors import InputError

COLUMNS = ("marginal", "component", "percent")
ACTIVE = ("active_marginal", "active_component", "active_percent")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("risk", help="risk contributions of given weights on your own prices or returns")
    p.add_argument("weights", metavar="WEIGHTS", help="CSV or Parquet: asset, weight (an asset not listed: 0)")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--prices", metavar="FILE", help="CSV or Parquet of prices: dates first, one column per asset")
    data.add_argument("--returns", metavar="FILE", help="the same, of returns")
    p.add_argument("--benchmark", metavar="WEIGHTS", help="benchmark weights (asset, weight): active contributions, "
                   "tracking error, information ratio, active share")
    p.add_argument("--estimator", choices=("sample", "ewma", "ledoit-wolf"), default="sample",
                   help="covariance estimator (default sample)")
    p.add_argument("--halflife", type=float, default=63.0, help="rows, for --estimator ewma (default 63)")
    p.add_argument("--periods-per-year", type=float, help="rows a year (default: read off the dates)")
    p.add_argument("--out", metavar="CSV", help="write the contributions, one row per asset")


def run(args: Any) -> int:
    return files.guarded("risk", _run, args)


def _run(args: Any) -> int:
    import pandas as pd

    from . import estimation as est
    from .risk import risk_contributions

    if args.prices is None and args.returns is None:
        raise InputError("--prices", "give the data: --prices FILE or --returns FILE")
    path, what = (args.prices, "--prices") if args.prices else (args.returns, "--returns")
    r = files.returns_of(files.read_table(path, what), args.returns is not None, what)
    r.columns = assets = [str(c) for c in r.columns]
    ppy, how = files.periods_a_year(r.index, args.periods_per_year)
    w = files.on_assets(files.read_weights(args.weights, "WEIGHTS"), assets, "WEIGHTS", fill=True)
    b = None if args.benchmark is None else files.on_assets(
        files.read_weights(args.benchmark, "--benchmark"), assets, "--benchmark", fill=True)
    cov = {"sample": lambda: est.sample_covariance(r, periods_per_year=ppy),
           "ewma": lambda: est.ewma_covariance(r, halflife=args.halflife, periods_per_year=ppy),
           "ledoit-wolf": lambda: est.ledoit_wolf_covariance(r, periods_per_year=ppy)}[args.estimator]()
    rc = risk_contributions(cov, w, benchmark=b)
    table = pd.DataFrame({"weight": w, **({"benchmark": b} if b is not None else {})})
    for name in COLUMNS + (ACTIVE if b is not None else ()):
        table[name] = np.asarray(getattr(rc, name), dtype=float)
    vol = float(np.sqrt(w.to_numpy() @ cov.to_numpy() @ w.to_numpy()))
    if args.out:  # before the printout, which a reader may cut short
        table.rename_axis("asset").to_csv(args.out)
    print(f"{len(assets)} assets, {len(r)} rows of returns, {files.date_range(r.index)}; {args.estimator} "
          f"covariance, {ppy:g} periods a year ({how})")
    print(table.to_string(float_format=lambda x: f"{x:.4f}"))
    line = f"\nvolatility {vol:.4%}"
    if b is not None:
        a = (w - b).to_numpy()
        line += f", tracking error {np.sqrt(a @ cov.to_numpy() @ a):.4%} (ex ante)"
    print(line)
    _print_summary(r, w, b, ppy)
    return 0


def _print_summary(r: Any, w: Any, b: Any, ppy: float) -> None:
    """The weights held over the file's dates (rebalanced every row): what they realised."""
    from .estimation import portfolio_summary

    s = portfolio_summary(r, w, benchmark=b, periods_per_year=ppy)
    line = (f"realised, held at these weights: return {s.annual_return:.2%}, volatility {s.volatility:.2%}, "
            f"Sharpe {s.sharpe:.3f}, max drawdown {s.max_drawdown:.2%}")
    if b is not None:
        line += (f"; tracking error {s.tracking_error:.2%}, information ratio {s.information_ratio:.3f}, "
                 f"active share {s.active_share:.2%}")
    print(line)
