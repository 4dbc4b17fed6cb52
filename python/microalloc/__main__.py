"""Command line: ``python -m microalloc demo``, ``rebalancing``, ``funds`` and ``nightly``; on a user's own files
``optimize``, ``risk``, ``bands`` and ``backtest``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

from . import __version__
from .active import combine_funds
from .constraints import Constraints
from . import _cli_backtest, _cli_bands, _cli_risk, _optimize_cli
from ._cli_files import table as _table
from .errors import InfeasibleError, MicroallocError
from .datasets import load_industry_returns
from ._progress import add_progress_flags
from .rebalance import Policy
from .risk import risk_budgeting, risk_contributions
from .solvers import solve_mean_variance


def demo(years: int = 20) -> int:
    data = load_industry_returns()
    r = data.returns[-12 * years :]
    months = data.months[-12 * years :]
    names = list(data.names)
    n = len(names)
    excess = r - data.risk_free[-12 * years :, None]
    cov = np.cov(r, rowvar=False) * 12
    mu = excess.mean(axis=0) * 12
    bench = np.full(n, 1.0 / n)
    print(f"microalloc {__version__}: mean-variance demo on {n} Fama-French industry portfolios")
    print(f"monthly returns {months[0]} .. {months[-1]} ({len(r)} months); annualised sample mean and covariance")
    print("source: Kenneth R. French Data Library (shipped inside the package)\n")

    cases = [
        ("minimum variance, long-only", dict()),
        ("minimum variance, cap 20%", dict(upper=0.20)),
        ("mean-variance, gamma=4, cap 35%", dict(mu=mu, risk_aversion=4.0, upper=0.35)),
        ("mean-variance, gamma=10, -10%..40%", dict(mu=mu, risk_aversion=10.0, lower=-0.10, upper=0.40)),
        ("active vs 1/N benchmark, gamma=40", dict(mu=mu, risk_aversion=40.0, benchmark=bench, upper=0.25)),
    ]
    rows, weights = [], []
    for label, kw in cases:
        t0 = time.perf_counter()
        res = solve_mean_variance(cov, **kw)
        wall = time.perf_counter() - t0
        w = np.asarray(res.weights)
        weights.append(w)
        ret = float(mu @ w)
        vol = float(np.sqrt(w @ cov @ w))
        te = f"{res.tracking_error:.2%}" if "benchmark" in kw else ""
        rows.append([
            label, res.status.name, f"{ret:.2%}", f"{vol:.2%}", te, str(int(np.count_nonzero(np.abs(w) > 1e-10))),
            str(res.iterations), f"{res.rel_gap:.1e}", f"{wall * 1e3:.2f}",
        ])
    print(_table(["portfolio", "status", "excess ret", "vol", "TE", "holdings", "iters", "rel gap", "ms"], rows))
    print("\nweights (%):")
    short = ["minvar", "minvar20", "mv4", "mv10ls", "te"]
    wrows = [[nm] + [f"{100 * w[i]:.1f}" for w in weights] for i, nm in enumerate(names)]
    print(_table(["industry", *short], wrows))
    erc = risk_budgeting(cov)
    rc_mv = risk_contributions(cov, weights[2])
    act = risk_contributions(cov, weights[4], benchmark=bench, mu=mu)
    print(f"\nrisk contributions (% of risk): equal risk contribution ({erc.status.name}, max error "
          f"{erc.max_budget_error:.1e}), mv4, and the active portfolio's share of tracking error and efficiency")
    rrows = [
        [nm, f"{100 * erc.weights[i]:.1f}", f"{100 * erc.risk_contributions[i]:.1f}", f"{100 * rc_mv.percent[i]:.1f}",
         f"{100 * act.active_percent[i]:.1f}", f"{100 * act.efficiency[i]:+.1f}"]
        for i, nm in enumerate(names)
    ]
    print(_table(["industry", "erc w", "erc rc", "mv4 rc", "te rc", "efficiency"], rrows))
    print(
        "\nEvery OPTIMAL status is backed by a duality-gap certificate: 'rel gap' bounds the relative"
        "\ndistance of the objective from the true optimum. Sample means of the past are noisy"
        "\nforecasts: treat the mean-variance rows as an illustration, not advice.\n"
    )
    frontier_demo(cov, mu, names)
    rebalance_demo(data, years)
    large_universe_demo()
    rc = rebalancing()
    print()
    return rc or funds()


_SECTORS = {"NoDur": "defensive", "Hlth": "defensive", "Utils": "defensive", "Telcm": "defensive",
            "Durbl": "cyclical", "Manuf": "cyclical", "Enrgy": "cyclical", "Chems": "cyclical",
            "BusEq": "growth", "Shops": "growth", "Money": "growth", "Other": "growth"}


def rebalance_demo(data, years: int) -> None:
    """A year-old mean-variance portfolio, drifted by the last 12 months' returns, rebalanced to
    today's estimates with sector caps, trading costs and a turnover limit."""
    names = list(data.names)
    r, rf = data.returns, data.risk_free

    def estimates(end: int) -> tuple[np.ndarray, np.ndarray]:
        window = slice(end - 12 * years, end)
        return np.cov(r[window], rowvar=False) * 12, (r[window] - rf[window, None]).mean(axis=0) * 12
    cov_then, mu_then = estimates(len(r) - 12)
    sectors = [_SECTORS[nm] for nm in names]
    caps = {g: 0.40 for g in set(sectors)}
    then = solve_mean_variance(cov_then, mu_then, risk_aversion=4.0, constraints=Constraints(
        upper=0.35, groups=sectors, group_upper=caps))
    grown = np.asarray(then.weights) * np.prod(1 + r[-12:], axis=0)
    held = grown / grown.sum()
    cov, mu = estimates(len(r))
    costs = (0.0020, 0.0030)  # 20 bp to buy, 30 bp to sell
    cases = [
        ("no costs", Constraints(upper=0.35, groups=sectors, group_upper=caps, current_weights=held)),
        ("costs 20/30 bp", Constraints(upper=0.35, groups=sectors, group_upper=caps, current_weights=held,
                                       costs=costs)),
        ("costs + turnover 10%", Constraints(upper=0.35, groups=sectors, group_upper=caps, current_weights=held,
                                             costs=costs, turnover=0.10)),
    ]
    print("rebalancing a year-old mean-variance portfolio (gamma=4, cap 35%, each sector <= 40%: defensive,"
          " cyclical, growth) to today's estimates; it drifted with the last 12 months' returns")
    rows, weights = [], []
    for label, c in cases:
        res = solve_mean_variance(cov, mu, risk_aversion=4.0, constraints=c)
        weights.append(np.asarray(res.weights))
        turnover, costs_paid, gain = res.turnover, res.costs_paid, res.trade_gain
        assert turnover is not None and costs_paid is not None and gain is not None  # set: current weights given
        rows.append([label, res.status.name, f"{100 * turnover:.1f}", f"{1e4 * costs_paid:.1f}",
                     "forced" if np.isinf(gain) else f"{1e4 * gain:.1f}", str(int(np.count_nonzero(np.abs(res.trades) > 1e-9))),
                     f"{res.rel_gap:.1e}"])
    print(_table(["rebalance", "status", "turnover %", "costs bp", "gain net bp", "trades", "rel gap"], rows))
    wrows = [[nm, _SECTORS[nm], f"{100 * held[i]:.1f}", *(f"{100 * w[i]:.1f}" for w in weights)]
             for i, nm in enumerate(names)]
    print(_table(["industry", "sector", "held %", "no costs", "costs", "+turnover"], wrows))
    held_sectors = {g: float(sum(held[i] for i, sg in enumerate(sectors) if sg == g)) for g in sorted(caps)}
    over = ", ".join(f"{g} {100 * v:.1f}%" for g, v in held_sectors.items() if v > caps[g])
    print("'gain net': the utility gained by trading, net of the costs paid (a nightly job skips an account"
          "\nwhose gain is below what a rebalance is worth); 'forced' where the held portfolio breaks a limit"
          f"\n({over or 'none here'} above its cap). With costs, small trades are not made.\n")


def large_universe_demo(n: int = 50_000, k: int = 40, seed: int = 7) -> None:
    """A simulated factor model of n assets, solved without forming its n x n covariance."""
    from .covariance import FactorCovariance

    rng = np.random.default_rng(seed)
    factor_vol = np.r_[0.16, rng.uniform(0.02, 0.08, k - 1)]
    loadings = np.column_stack([rng.normal(1.0, 0.3, n), rng.normal(0.0, 1.0, (n, k - 1))])
    vol = rng.uniform(0.15, 0.45, n)
    r2 = rng.uniform(0.2, 0.6, n)  # the share of each asset's variance the factors explain
    loadings *= np.sqrt(r2 * vol**2 / ((loadings**2) @ factor_vol**2))[:, None]
    t0 = time.perf_counter()
    model = FactorCovariance(loadings, np.diag(factor_vol**2), (1.0 - r2) * vol**2)
    build = time.perf_counter() - t0
    alpha = rng.normal(0.0, 0.02, n) + 0.1 * (vol - vol.mean())
    print(f"large universe: a simulated {k}-factor model of {n:,} assets (S = X F X' + D, never formed: "
          f"{8 * n * n / 2**30:.0f} GiB as a matrix); model checked in {build * 1e3:.0f} ms")
    rows = []
    for label, kw in (("minimum variance, cap 0.5%", dict(upper=0.005)),
                      ("mean-variance, gamma=20, cap 0.5%", dict(mu=alpha, risk_aversion=20.0, upper=0.005))):
        t0 = time.perf_counter()
        res = solve_mean_variance(model, **kw)
        wall = time.perf_counter() - t0
        w = np.asarray(res.weights)
        rows.append([label, res.status.name, f"{res.volatility:.2%}", str(int(np.count_nonzero(w > 1e-10))),
                     str(res.iterations), f"{res.rel_gap:.1e}", f"{wall * 1e3:.0f}"])
    t0 = time.perf_counter()
    erc = risk_budgeting(model)
    wall = time.perf_counter() - t0
    rows.append(["equal risk contribution", erc.status.name, f"{erc.volatility:.2%}",
                 str(int(np.count_nonzero(np.asarray(erc.weights) > 0))), str(erc.iterations),
                 f"{erc.max_budget_error:.1e}", f"{wall * 1e3:.0f}"])
    print(_table(["portfolio", "status", "vol", "holdings", "iters", "gap/error", "ms"], rows))
    print()


def frontier_demo(cov: np.ndarray, mu: np.ndarray, names: list[str]) -> None:
    from .frontier import efficient_frontier, max_sharpe
    from .targets import max_return, min_risk

    t0 = time.perf_counter()
    fr = efficient_frontier(cov, mu, upper=0.35)
    wall = time.perf_counter() - t0
    ms = max_sharpe(cov, mu, upper=0.35)
    target = float(np.quantile(fr.expected_return, 0.5))
    lo = min_risk(cov, mu, target, upper=0.35)
    hi = max_return(cov, mu, target_volatility=float(fr.volatility[0]) * 1.2, upper=0.35)
    print(f"efficient frontier, long-only, cap 35% ({fr.status.name}, max rel gap {fr.max_rel_gap:.1e}): "
          f"{len(fr)} turning points in {wall * 1e3:.2f} ms")
    rows = [[f"{ra:.3g}", f"{ret:.2%}", f"{vol:.2%}", ", ".join(f"{names[i]} {100 * w[i]:.0f}" for i in
             np.argsort(-w)[:3] if w[i] > 1e-9)] for ra, ret, vol, w in
            zip(fr.risk_aversion, fr.expected_return, fr.volatility, fr.weights)]
    print(_table(["risk aversion", "excess ret", "vol", "largest holdings %"], rows))
    for label, r in (("maximum Sharpe", ms), (f"least risk for {target:.2%}", lo),
                     (f"most return at {hi.target_value:.2%} vol", hi)):
        w = np.asarray(r.weights)
        cert = "" if isinstance(r, type(ms)) else f", {r.status.name}, rel gap {r.rel_gap:.1e}"
        print(f"  {label}: return {r.expected_return:.2%}, vol {r.volatility:.2%}{cert}; "
              + ", ".join(f"{names[i]} {100 * w[i]:.0f}%" for i in np.argsort(-w)[:4] if w[i] > 1e-9))
    print(f"  (Sharpe {ms.sharpe:.3f} at risk aversion {ms.risk_aversion:.3g})\n")


def read_prices_csv(path: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Dates, prices and names from a CSV with a header, ISO dates in the first column and one
    column of positive prices per asset (numpy only)."""
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
        rows = [ln.strip().split(",") for ln in fh if ln.strip()]
    if len(header) < 2 or not rows:
        raise ValueError(f"prices: {path} needs a header, a date column and at least one price column")
    dates = np.array([r[0][:10] for r in rows], dtype="datetime64[D]")
    try:
        prices = np.array([[float(v) for v in r[1:]] for r in rows])
    except ValueError as exc:
        raise ValueError(f"prices: {path} has a value that is not a number ({exc})") from None
    if prices.shape[1] != len(header) - 1:
        raise ValueError(f"prices: {path} rows do not match the {len(header) - 1} columns of its header")
    return dates, prices, header[1:]


def _policies(monthly: bool) -> dict[str, Policy]:
    """The policies compared: calendars, 5/25 bands with each action, fixed-width bands, and a band
    looked at only on a calendar ("look often, trade rarely")."""
    pols = {
        "buy and hold": Policy.buy_and_hold(),
        "monthly": Policy.calendar("monthly"),
        "quarterly": Policy.calendar("quarterly"),
        "annual": Policy.calendar("annual"),
        "band 5/25, to edge": Policy.band(0.05, 0.25),
        "band 5/25, to target": Policy.band(0.05, 0.25, action="target"),
        "band 5/25, halfway": Policy.band(0.05, 0.25, action="halfway"),
        "band +-1 pt, to edge": Policy.band(0.01),
        "band +-2 pt, to edge": Policy.band(0.02),
        "band +-2 pt, to target": Policy.band(0.02, action="target"),
    }
    if monthly:
        pols["band 5/25, checked quarterly"] = Policy.band(0.05, 0.25, check="quarterly")
    else:
        pols["band 5/25, checked monthly"] = Policy.band(0.05, 0.25, check="monthly")
    return pols


def rebalancing(prices_csv: str | None = None, costs_bp: float = 10.0, start: str | None = None,
                end: str | None = None, periods_per_year: float | None = None, progress: str = "auto") -> int:
    """Buy-and-hold, calendar and band rebalancing of an equally weighted portfolio, side by side,
    with proportional costs, over the whole span and per decade (``microalloc backtest``'s code
    path, on the shipped data or a prices CSV). ``progress``: the bar's mode (auto, always,
    never) for the whole span's backtest."""
    if prices_csv is None:
        data = load_industry_returns()
        growth = np.cumprod(1.0 + data.returns, axis=0)
        prices = np.vstack([np.ones(len(data.names)), growth])  # index levels at each month's end, 1 at the start
        months = np.concatenate([[data.months[0] - np.timedelta64(1, "M")], data.months])
        dates = months.astype("datetime64[D]")  # the month of each level (its first day, for the calendar)
        names, source = list(data.names), "12 Fama-French industry portfolios (shipped)"
    else:
        dates, prices, names = read_prices_csv(prices_csv)
        source = f"{len(names)} assets from {prices_csv}"
    dates, prices = _cli_backtest.window(dates, prices, start, end)
    # the library's reading of the dates' spacing (daily, weekly, monthly, ...), unless given
    ppy, how = _cli_backtest.periods(dates, periods_per_year)
    n = len(names)
    _cli_backtest.side_by_side(dates, prices, np.full(n, 1.0 / n), _policies(ppy == 12.0), costs_bp, ppy,
                               f"{source}, {how}", "an equally weighted portfolio", progress=progress)
    print(
        "\nA single history of a few assets: the differences between policies are of the order of tens of"
        "\nbasis points a year, change sign between periods, and are not a forecast."
    )
    return 0


def _fund_row(label: str, alphas: np.ndarray, te: np.ndarray, corr: np.ndarray, target: float | None) -> list[str]:
    m = len(te)
    omega = te[:, None] * corr * te[None, :]
    ew = np.full(m, 1.0 / m)
    res = combine_funds(omega, alphas, target_alpha=target)
    best = combine_funds(omega, alphas)
    x = np.asarray(res.weights)
    return [
        label, str(m), f"{te.mean() * 1e4:.0f}", f"{np.sqrt(ew @ omega @ ew) * 1e4:.0f}",
        f"{res.tracking_error * 1e4:.0f}", f"{res.active_return * 1e4:.0f}", f"{res.information_ratio:.2f}",
        f"{res.diversification:.2f}", str(int(np.count_nonzero(x > 1e-9))),
        f"{best.tracking_error * 1e4:.0f}", f"{best.information_ratio:.2f}", res.status.name,
    ]


_FUND_HEADERS = ["correlations", "funds", "avg TE", "1/N TE", "min TE", "alpha", "IR", "divers.", "held",
                 "max-IR TE", "max IR", "status"]


def funds(prices: str | None = None, benchmark: str | None = None, target_alpha_bp: float | None = None) -> int:
    """Alpha diversification: funds combined long-only and fully invested for the least tracking error."""
    if prices is None:
        m = 12
        te = np.linspace(0.030, 0.045, m)  # 300 .. 450 bp, 375 bp on average
        alphas = np.tile([0.3, 0.4, 0.5], m // 3) * te  # information ratios 0.3 .. 0.5
        target = alphas.mean() if target_alpha_bp is None else target_alpha_bp / 1e4
        print(f"Team of {m} funds: tracking errors 300..450 bp (mean {te.mean() * 1e4:.0f} bp), information ratios "
              f"0.3..0.5, alphas {alphas.min() * 1e4:.0f}..{alphas.max() * 1e4:.0f} bp")
        print(f"(assumed numbers). Least tracking error for the target alpha {target * 1e4:.0f} bp, long-only and "
              "fully invested, under several correlations of the funds' active returns; bp a year.\n")
        rows = []
        for rho in (0.5, 0.3, 0.1, 0.0):
            corr = np.full((m, m), rho)
            np.fill_diagonal(corr, 1.0)
            rows.append(_fund_row(f"all pairs {rho:+.1f}", alphas, te, corr, target))
        for k, inside, across in ((3, 0.3, -0.2), (2, 0.2, -0.3)):
            g = np.repeat(np.arange(k), m // k)
            corr = np.where(g[:, None] == g[None, :], inside, across)
            np.fill_diagonal(corr, 1.0)
            rows.append(_fund_row(f"{k} styles {inside:+.1f} in, {across:+.1f} across", alphas, te, corr, target))
        print(_table(_FUND_HEADERS, rows))
        print("\n'min TE': the least tracking error reaching the target alpha; 'divers.': the funds' weighted average"
              "\ntracking error over the combination's. 'max-IR': the allocation of highest information ratio.")
        return 0
    dates, px, names = read_prices_csv(prices)
    if benchmark is None or benchmark not in names:
        raise ValueError(f"benchmark: give the benchmark's column name, one of {names}")
    if (px <= 0).any() or not np.isfinite(px).all():
        raise ValueError(f"prices: {prices} holds a price that is not a positive number")
    j = names.index(benchmark)
    fund_names = [nm for nm in names if nm != benchmark]
    r = np.diff(np.log(px), axis=0)
    active = np.delete(r, j, axis=1) - r[:, [j]]
    years = (dates[-1] - dates[0]).astype(float) / 365.25
    per_year = len(r) / years
    omega = np.cov(active, rowvar=False) * per_year
    alphas = active.mean(axis=0) * per_year
    te = np.sqrt(np.diag(omega))
    print(f"{len(fund_names)} funds against {benchmark}, {dates[0]} .. {dates[-1]} ({len(r)} returns): "
          "annualised active returns (log), bp a year\n")
    print(_table(["fund", "TE", "alpha", "IR"], [[nm, f"{te[i] * 1e4:.0f}", f"{alphas[i] * 1e4:.0f}",
                                                   f"{alphas[i] / te[i]:.2f}"] for i, nm in enumerate(fund_names)]))
    corr = omega / np.outer(te, te)
    print("\ncorrelations of the active returns:")
    print(_table(["", *fund_names], [[nm, *(f"{c:+.2f}" for c in corr[i])] for i, nm in enumerate(fund_names)]))
    target = float(alphas.min()) - 1.0 if target_alpha_bp is None else target_alpha_bp / 1e4
    try:
        res = combine_funds(omega, alphas, target_alpha=target)
    except InfeasibleError as exc:
        raise ValueError(f"--target-alpha-bp: {target_alpha_bp:g} bp is out of reach ({exc}; in fractions a year)") from None
    x = np.asarray(res.weights)
    what = "least tracking error" if target_alpha_bp is None else f"least tracking error for alpha >= {target_alpha_bp:g} bp"
    print(f"\n{what}, long-only, fully invested ({res.status.name}, rel gap {res.target.rel_gap:.1e}):")
    print(_table(["fund", "weight %", "share of TE %"],
                 [[nm, f"{100 * x[i]:.1f}", f"{100 * np.asarray(res.percent_risk)[i]:.1f}"]
                  for i, nm in enumerate(fund_names)]))
    print(f"\ncombined: TE {res.tracking_error * 1e4:.0f} bp against {res.average_tracking_error * 1e4:.0f} bp for the "
          f"weighted average of the funds' TEs (diversification {res.diversification:.2f}x); alpha "
          f"{res.active_return * 1e4:.0f} bp, IR {res.information_ratio:.2f}")
    return 0


#: the exit status of a command whose output pipe was closed early (128 + SIGPIPE, as the shell
#: reports a tool killed by it)
EXIT_BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    """Run a command; a reader that closes stdout early (``| head``) ends it quietly."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # a pipe closed early fails here, while the handler below still runs
        return code
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at devnull so that flush cannot fail
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _nightly_parser(sub: Any) -> None:
    p = sub.add_parser("nightly", help="band-check every account of a Parquet holdings table on Dask and write "
                       "the trades (needs microalloc[dask])",
                       description="Check every account of HOLDINGS (Parquet: account, asset, units, price; a "
                       "directory of files partitioned by account) against its TARGETS and write the trades and a "
                       "per-account status to OUT, one Parquet file per partition. Rerun the same command after a "
                       "stop: only the partitions not yet written run.")
    p.add_argument("holdings", metavar="HOLDINGS", help="a Parquet file or a directory of them")
    p.add_argument("targets", metavar="TARGETS", help="Parquet or CSV: asset, target[, price] shared by every "
                   "account, or account, asset, target")
    p.add_argument("--out", required=True, help="output directory (trades/ and status/ are written in it)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler's address (default: a local cluster)")
    p.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default 2)")
    _cli_bands.add_band_options(p)
    p.add_argument("--trigger", choices=["any", "l1"], default="any", help="account-level trigger (default: any)")
    p.add_argument("--threshold", type=float, help="for --trigger l1")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def nightly_command(args: Any) -> int:
    try:
        from ._nightly import EXIT_PARTIAL, nightly, overlapping_accounts
    except ImportError as exc:  # pragma: no cover - the extra is missing
        print(f"microalloc nightly: {exc.name} is missing: pip install 'microalloc[dask]'", file=sys.stderr)
        return 2
    options = dict(absolute=args.absolute, relative=args.relative, combine=args.combine, action=args.action,
                   min_trade=args.min_trade, trigger=args.trigger, threshold=args.threshold)
    if args.workers < 1:
        print("microalloc nightly: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        s = nightly(args.holdings, args.targets, args.out, scheduler=args.scheduler, workers=args.workers,
                    progress=not args.no_progress, options=options)
    except (OSError, MicroallocError) as exc:
        print(f"microalloc nightly: {exc}", file=sys.stderr)
        return 2
    print(f"nightly: {s.partitions} partitions ({s.skipped} already written), {s.accounts:,} accounts checked, "
          f"{s.traded:,} traded, {s.invalid:,} invalid (see status), {s.trades:,} trades in {s.seconds:.1f} s "
          f"-> {args.out}")
    code = 0
    for index, error in sorted(s.failed.items()):
        print(f"microalloc nightly: partition {index} failed: {error}", file=sys.stderr)
        code = EXIT_PARTIAL
    if s.failed:
        print("microalloc nightly: rerun the same command to finish (written partitions are kept)", file=sys.stderr)
    twice = overlapping_accounts(args.out)
    if twice:
        print(f"microalloc nightly: {len(twice)} account(s) appear in more than one partition (first: {twice[0]!r}); "
              "partition HOLDINGS by account", file=sys.stderr)
        code = EXIT_PARTIAL
    return code


def _run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="microalloc", description=__doc__)
    parser.add_argument("--version", action="version", version=f"microalloc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="solve a few portfolios on the shipped industry returns")
    p_demo.add_argument("--years", type=int, default=20, help="estimation window in years (default 20)")
    p_reb = sub.add_parser("rebalancing", help="backtest buy-and-hold, calendar and band rebalancing policies")
    p_reb.add_argument("--prices", help="CSV of prices: a header, ISO dates in the first column (default: the "
                       "shipped monthly industry returns)")
    p_reb.add_argument("--costs-bp", type=float, default=10.0, help="proportional costs in bp (default 10)")
    p_reb.add_argument("--start", help="first date kept (YYYY or YYYY-MM-DD)")
    p_reb.add_argument("--end", help="last date kept (YYYY or YYYY-MM-DD)")
    p_reb.add_argument("--periods-per-year", type=float, help="rows a year, to annualise (default: read off the "
                       "dates' spacing: 252 daily, 52 weekly, 12 monthly, ...)")
    add_progress_flags(p_reb)
    p_funds = sub.add_parser("funds", help="alpha diversification: combine funds for the least tracking error")
    p_funds.add_argument("--prices", help="CSV of fund and benchmark prices (default: an assumed team of 12 funds)")
    p_funds.add_argument("--benchmark", help="the benchmark's column in --prices")
    p_funds.add_argument("--target-alpha-bp", type=float, help="target alpha in bp a year (default: the team's "
                         "average alpha; with --prices, none: the least tracking error)")
    _nightly_parser(sub)
    for module in (_optimize_cli, _cli_risk, _cli_bands, _cli_backtest):
        module.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "nightly":
        return nightly_command(args)
    files_commands = {"optimize": _optimize_cli, "risk": _cli_risk, "bands": _cli_bands, "backtest": _cli_backtest}
    if args.command in files_commands:
        return files_commands[args.command].run(args)
    if args.command == "demo":
        if not 1 <= args.years <= 68:
            parser.error("--years must be between 1 and 68")
        return demo(args.years)
    if args.command == "rebalancing":
        try:
            return rebalancing(args.prices, args.costs_bp, args.start, args.end, args.periods_per_year, args.progress)
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:
            print(f"microalloc rebalancing: {exc}", file=sys.stderr)
            return 2
    if args.command == "funds":
        try:
            return funds(args.prices, args.benchmark, args.target_alpha_bp)
        except BrokenPipeError:
            raise
        except (OSError, ValueError, MicroallocError) as exc:
            print(f"microalloc funds: {exc}", file=sys.stderr)
            return 2
    return 1  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
