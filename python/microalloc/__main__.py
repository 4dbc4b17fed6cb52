"""Command line: ``python -m microalloc demo``."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from . import __version__
from .datasets import load_industry_returns
from .risk import risk_budgeting, risk_contributions
from .solvers import solve_mean_variance


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


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
        te = f"{res.risk:.2%}" if "benchmark" in kw else ""
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
    act = risk_contributions(cov, weights[4], benchmark=bench, expected_returns=mu)
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
        "\nforecasts: treat the mean-variance rows as an illustration, not advice."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="microalloc", description=__doc__)
    parser.add_argument("--version", action="version", version=f"microalloc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="solve a few portfolios on the shipped industry returns")
    p_demo.add_argument("--years", type=int, default=20, help="estimation window in years (default 20)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if not 1 <= args.years <= 68:
            parser.error("--years must be between 1 and 68")
        return demo(args.years)
    return 1  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
