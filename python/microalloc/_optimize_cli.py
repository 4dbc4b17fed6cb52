"""``microalloc optimize FILE``: weights from a user's own prices or returns (CSV or Parquet, dates
in the first column or the index, one column per asset), with sector caps, trading costs from
current weights, a statistical factor model, a report and a plot."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _cli_files as files
from ._progress import add_progress_flags, progress_bar
from .errors import InputError

OBJECTIVES = ("min-variance", "max-sharpe", "risk-aversion", "target-return", "target-volatility", "erc")
ESTIMATORS = ("sample", "ewma", "ledoit-wolf")
#: the objectives whose utility charges trading costs (the others take none, see targets.py)
WITH_COSTS = ("min-variance", "risk-aversion")


def add_data_flags(p: Any) -> None:
    """FILE and the prices/returns flags, shared by the subcommands that read a dated table."""
    p.add_argument("file", metavar="FILE", help="CSV or Parquet: dates in the first column, one column per asset")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--returns", action="store_true", help="FILE holds returns")
    kind.add_argument("--prices", action="store_true", help="FILE holds prices (the default)")
    p.add_argument("--periods-per-year", type=float, help="rows a year (default: read off the dates)")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("optimize", help="optimise a portfolio from your own prices or returns (CSV or Parquet)")
    add_data_flags(p)
    p.add_argument("--objective", choices=OBJECTIVES, default="min-variance")
    p.add_argument("--cap", type=float, default=1.0, help="largest weight per asset (default 1: long-only)")
    p.add_argument("--risk-aversion", type=float, default=5.0, help="for --objective risk-aversion (default 5)")
    p.add_argument("--target", type=float, help="annual target return or volatility for the target objectives")
    p.add_argument("--risk-free", type=float, default=0.0, help="annual risk-free rate for max-sharpe and Sharpe")
    p.add_argument("--estimator", choices=ESTIMATORS, help="covariance estimator (default sample)")
    p.add_argument("--halflife", type=float, default=63.0, help="rows, for --estimator ewma (default 63)")
    p.add_argument("--factors", type=int, metavar="K", help="a K-factor statistical model (principal components) "
                   "instead of --estimator")
    p.add_argument("--sectors", metavar="FILE", help="CSV or Parquet with columns asset, sector")
    p.add_argument("--sector-cap", metavar="X|SECTOR=X,...", help="largest weight per sector: one cap for all, "
                   "or per sector (needs --sectors)")
    p.add_argument("--costs", type=float, metavar="BP", help="proportional trading costs in bp of the traded "
                   "weight (needs --current; min-variance and risk-aversion)")
    p.add_argument("--current", metavar="WEIGHTS", help="the weights held now (CSV or Parquet: asset, weight; an "
                   "asset not listed is held at 0)")
    p.add_argument("--out", help="write the weights here (CSV: asset, weight)")
    p.add_argument("--report", metavar="FILE", help="write a report (.json: JSON, else Markdown)")
    p.add_argument("--plot", metavar="PNG", help="draw the frontier and the weights (needs matplotlib)")
    add_progress_flags(p)


def read_returns(args: Any) -> Any:
    return files.returns_of(files.read_table(args.file), args.returns)


def estimate(r: Any, args: Any) -> tuple[Any, Any]:
    """The annualised covariance (a matrix or a factor model) and mean of the returns."""
    from . import estimation as est

    kw = dict(periods_per_year=args.periods_per_year)
    if args.factors is not None:
        if args.estimator not in (None, "sample"):
            raise InputError("--factors", f"a factor model is its own estimator: drop --estimator {args.estimator}")
        try:
            return est.factor_covariance(r, args.factors, **kw), est.mean_return(r, **kw)
        except InputError as exc:
            raise InputError("--factors", str(exc).split(": ", 1)[-1]) from None
    cov = {None: lambda: est.sample_covariance(r, **kw), "sample": lambda: est.sample_covariance(r, **kw),
           "ewma": lambda: est.ewma_covariance(r, halflife=args.halflife, **kw),
           "ledoit-wolf": lambda: est.ledoit_wolf_covariance(r, **kw)}[args.estimator]()
    return cov, est.mean_return(r, **kw)


def sector_caps(text: str, sectors: list[Any]) -> dict[Any, float]:
    """``--sector-cap``: one number for every sector, or SECTOR=X,... naming some of them."""
    try:
        if "=" not in text:
            return {s: float(text) for s in sectors}
        caps = {k.strip(): float(v) for k, v in (part.split("=", 1) for part in text.split(",") if part.strip())}
    except ValueError:
        raise InputError("--sector-cap", f"{text!r}: expected a number (0.3) or SECTOR=X,... "
                                         "(Tech=0.3,Energy=0.2)") from None
    unknown = [k for k in caps if k not in sectors]
    if unknown:
        raise InputError("--sector-cap", f"unknown sector(s) {unknown}: the sectors file has {sorted(sectors)}")
    return caps


def read_sectors(path: str, assets: list[str]) -> Any:
    """A sector per asset (None for an asset the file does not list)."""
    frame = files.read_frame(path, "--sectors")
    missing = [c for c in ("asset", "sector") if c not in frame.columns]
    if missing:
        raise InputError("--sectors", f"{path} has no column(s) {missing} (it has {list(frame.columns)}): expected "
                                      "asset, sector")
    s = frame.assign(asset=frame["asset"].astype(str)).drop_duplicates("asset").set_index("asset")["sector"]
    s = s[s.notna()].astype(str)  # labels as --sector-cap spells them
    foreign = [a for a in s.index if a not in assets]
    if foreign:
        raise InputError("--sectors", f"asset(s) {foreign[:5]} are not columns of the data")
    return s.reindex(assets).astype(object).where(s.reindex(assets).notna(), None)


def constraints(args: Any, assets: list[str]) -> tuple[Any, dict[str, Any]]:
    """The Constraints of the options (None when only --cap is given) and their description."""
    from .constraints import Constraints

    if args.sector_cap is not None and args.sectors is None:
        raise InputError("--sector-cap", "needs --sectors FILE (columns asset, sector)")
    if (args.costs is None) != (args.current is None):
        raise InputError("--costs" if args.current is None else "--current", "--costs BP and --current WEIGHTS "
                         "go together: the costs are paid on the trades from the current weights")
    if args.costs is not None and args.objective not in WITH_COSTS:
        raise InputError("--costs", f"--objective {args.objective} takes no trading costs: use min-variance or "
                                    "risk-aversion, whose utility pays them")
    if args.objective == "erc" and args.sectors is not None:
        raise InputError("--sectors", "--objective erc takes per-asset caps only (no sector limits)")
    kw: dict[str, Any] = {}
    described: dict[str, Any] = {"cap": args.cap}
    if args.sectors is not None:
        groups = read_sectors(args.sectors, assets)
        names = sorted({g for g in groups if g is not None}, key=str)
        caps = sector_caps(args.sector_cap, names) if args.sector_cap is not None else {}
        kw.update(groups=groups.to_numpy(), group_upper=caps or None)
        described["sector_caps"] = caps
    if args.costs is not None:
        current = files.on_assets(files.read_weights(args.current, "--current"), assets, "--current", fill=True)
        kw.update(current_weights=current.to_numpy(), costs=args.costs * 1e-4)
        described["costs_bp"] = args.costs
    return (Constraints(upper=args.cap, **kw) if kw else None), described


def solve(cov: Any, mu: Any, args: Any, given: Any) -> Any:
    """The result of the objective asked, under the constraints (or the --cap alone)."""
    import microalloc as ma

    o = args.objective
    if o in ("target-return", "target-volatility") and args.target is None:
        raise InputError("--target", f"--objective {o} needs --target (an annual return or volatility, 0.08 = 8%)")
    kw = dict(constraints=given) if given is not None else dict(upper=args.cap)
    if o == "min-variance":
        return ma.solve_mean_variance(cov, None, **kw)
    if o == "risk-aversion":
        return ma.solve_mean_variance(cov, mu, risk_aversion=args.risk_aversion, **kw)
    if o == "max-sharpe":
        with progress_bar("frontier", getattr(args, "progress", "auto")) as bar:
            return ma.max_sharpe(cov, mu, risk_free=args.risk_free, progress=bar, **kw)
    if o == "target-return":
        return ma.min_risk(cov, mu, args.target, **kw)
    if o == "target-volatility":
        return ma.max_return(cov, mu, target_volatility=args.target, **kw)
    return ma.risk_budgeting(cov, upper=None if args.cap >= 1.0 else args.cap)


def run(args: Any) -> int:
    return files.guarded("optimize", _run, args)


def _run(args: Any) -> int:
    import pandas as pd

    from . import _cli_report

    if args.plot:
        _cli_report.require_matplotlib()
    table = files.read_table(args.file)
    r = files.returns_of(table, args.returns)
    ppy, how = files.periods_a_year(r.index, args.periods_per_year)
    args.periods_per_year = ppy
    assets = [str(c) for c in r.columns]
    r.columns = assets
    given, described = constraints(args, assets)
    cov, mu = estimate(r, args)
    res = solve(cov, mu, args, given)
    status, _, _ = _cli_report.certificate(res)
    w = pd.Series(np.asarray(res.weights, dtype=float), index=assets, name="weight")
    ret, vol = float(w.to_numpy() @ mu.to_numpy()), float(np.sqrt(w.to_numpy() @ (cov @ w.to_numpy())))
    # the files first: a reader that closes stdout early (| head) must not cost them
    if args.out:
        w.rename_axis("asset").reset_index().to_csv(args.out, index=False)
    facts = dict(periods_per_year=ppy, periods_per_year_source=how, expected_return=ret, volatility=vol,
                 constraints=described)
    if args.report:
        _cli_report.write_report(args.report, args, res, r, w, facts)
    if args.plot:
        _cli_report.plot(args.plot, args, cov, mu, w, res, given)
    print(f"objective {args.objective}, {len(w)} assets, {len(r)} rows of returns; status {status}")
    print(f"expected return {ret:.4%}, volatility {vol:.4%}, Sharpe {(ret - args.risk_free) / vol:.3f}"
          if vol > 0 else f"expected return {ret:.4%}, volatility 0")
    for name, weight in w[w.abs() > 1e-6].sort_values(ascending=False).items():
        print(f"  {name:<24} {weight:8.4f}")
    return 0 if status == "OPTIMAL" else 1
