"""Rebalancing policies side by side: the one code path of ``microalloc rebalancing`` (the shipped
data or a prices CSV, a fixed set of policies) and ``microalloc backtest`` (a user's CSV or Parquet
prices or returns, the policies named on the command line, targets from a weights file)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _cli_files as files
from ._cli_files import table as _table
from .errors import InputError
from ._progress import add_progress_flags, progress_bar
from .rebalance import Policy, backtest_rebalancing, infer_periods_per_year

CALENDARS = ("daily", "weekly", "monthly", "quarterly", "annual")
DEFAULT_POLICIES = "buy-and-hold,monthly,quarterly,annual,band:0.05:0.25,band:0.05:0.25:target,band:0.02"
#: the policies of the per-decade table, when present
FOCUS = ["monthly", "annual", "band 5/25, to edge", "band 5/25, to target"]


def window(dates: np.ndarray, prices: np.ndarray, start: str | None, end: str | None) -> tuple[np.ndarray, np.ndarray]:
    keep = np.ones(len(dates), bool)
    if start:
        keep &= dates >= np.datetime64(start, "D")
    if end:
        keep &= dates <= np.datetime64(end, "D")
    if keep.sum() < 2:
        raise InputError("--start", f"fewer than 2 rows between {start or 'the start'} and {end or 'the end'}")
    return dates[keep], prices[keep]


def periods(dates: np.ndarray, given: float | None) -> tuple[float, str]:
    """Rows a year and how they were found, worded for the table's heading."""
    if given is not None:
        return float(given), f"{float(given):g} rows a year (given)"
    ppy, how = infer_periods_per_year(dates)
    return ppy, f"{how.rsplit('(', 1)[-1].rstrip(')')} ({ppy:g} rows a year)"


def side_by_side(dates: np.ndarray, prices: np.ndarray, targets: np.ndarray, pols: dict[str, Policy], costs_bp: float,
                 ppy: float, source: str, what: str, out: str | None = None, progress: str = "auto") -> None:
    """Print the policies' table (and the per-decade one); ``out``: the summary's CSV, written
    before the printout (which a reader may cut short); ``progress``: the bar's mode for the
    whole span's backtest (auto, always, never)."""
    with progress_bar("backtest", progress, unit="day") as bar:
        res = backtest_rebalancing(prices, targets, pols, costs=costs_bp * 1e-4, dates=dates, periods_per_year=ppy,
                                   progress=bar)
    if out:
        res.summary.rename_axis("policy").to_csv(out)
    final = np.asarray(res.values)[-1]
    s = {k: np.asarray(v) for k, v in dict(res.summary).items()}  # a DataFrame with pandas, else a dict
    ann = s["annual_return"]
    names_p = list(pols)
    print(f"Rebalancing {what}: {source}, {dates[0]} .. {dates[-1]} ({len(dates)} rows)")
    print(f"{len(pols)} policies in one call, costs {costs_bp:g} bp of the traded value, value 1 at the start; "
          "bands are checked on every row unless stated")
    monthly = 1 if len(names_p) > 1 else 0  # the second policy is the second reference
    rows = []
    for k, nm in enumerate(names_p):
        rows.append([
            nm, f"{final[k]:.1f}", f"{100 * (final[k] / final[0] - 1):+.0f}", f"{100 * ann[k]:.2f}",
            f"{1e4 * (ann[k] - ann[0]):+.0f}", f"{1e4 * (ann[k] - ann[monthly]):+.0f}",
            f"{100 * s['volatility'][k]:.1f}", f"{s['sharpe'][k]:.3f}", f"{100 * s['max_drawdown'][k]:.1f}",
            str(int(s["rebalances"][k])), f"{100 * s['turnover'][k]:.1f}", f"{1e4 * s['cost_drag'][k]:.1f}",
            f"{100 * s['tracking_error'][k]:.2f}",
        ])
    first, second = names_p[0], names_p[monthly]
    print(_table(["policy", "final value", f"vs {_short(first)} %", "return %/yr", f"vs {_short(first)} bp",
                  f"vs {_short(second)} bp", "vol %", "Sharpe", "max DD %", "trades", "turnover %/yr", "costs bp/yr",
                  "TE %"], rows))
    _per_decade(dates, prices, targets, pols, costs_bp, ppy)


def _short(name: str) -> str:
    return "B&H" if name == "buy and hold" else name


def _per_decade(dates: np.ndarray, prices: np.ndarray, targets: np.ndarray, pols: dict[str, Policy], costs_bp: float,
                ppy: float) -> None:
    """The same comparison decade by decade: how much of the difference is one period's."""
    first = list(pols)[0]
    focus = [k for k in FOCUS if k in pols and k != first] or [k for k in pols if k != first][:4]
    decade = dates.astype("datetime64[Y]").astype(int) // 10 * 10 + 1970
    drows = []
    for dec in np.unique(decade):
        rows_in = np.flatnonzero(decade == dec)
        if len(rows_in) < 2 * ppy:  # too short a span for yearly figures
            continue
        lo = max(rows_in[0] - 1, 0)  # from the last row of the previous decade
        sub = backtest_rebalancing(prices[lo: rows_in[-1] + 1], targets, {k: pols[k] for k in [first, *focus]},
                                   costs=costs_bp * 1e-4, dates=dates[lo: rows_in[-1] + 1], periods_per_year=ppy)
        a = np.asarray(dict(sub.summary)["annual_return"])
        drows.append([f"{dec}s", f"{100 * a[0]:.2f}", *(f"{1e4 * (x - a[0]):+.0f}" for x in a[1:])])
    if len(drows) > 1:
        print(f"\nper decade, each starting again from the targets: {_short(first)} return %/yr, and each policy's "
              "difference from it in bp/yr")
        print(_table(["decade", f"{_short(first)} %/yr", *focus], drows))


# -- microalloc backtest ---------------------------------------------------------------------------
def parse_policies(text: str) -> dict[str, Policy]:
    """``buy-and-hold``, a calendar (``monthly``, ...), or ``band:A[:R][:ACTION][@CHECK]``: an
    absolute band of A weight points and a relative one of R (a fraction of the target), trading
    to the band's edge, the target or halfway, looked at on every row or on a calendar."""
    pols: dict[str, Policy] = {}
    for spec in (s.strip() for s in text.split(",")):
        if not spec:
            continue
        try:
            pols[_policy_name(spec)] = _policy(spec)
        except (InputError, ValueError) as exc:
            raise InputError("--policies", f"{spec!r}: {exc} (expected buy-and-hold, {', '.join(CALENDARS)} or "
                                           "band:A[:R][:edge|target|halfway][@monthly], e.g. band:0.05:0.25)") from None
    if not pols:
        raise InputError("--policies", "no policy named")
    return pols


def _policy(spec: str) -> Policy:
    if spec == "buy-and-hold":
        return Policy.buy_and_hold()
    if spec in CALENDARS:
        return Policy.calendar(spec)
    if not spec.startswith("band:"):
        raise ValueError("unknown policy")
    body, _, check = spec[5:].partition("@")
    parts = body.split(":")
    action = {"edge": "band_edge", "target": "target", "halfway": "halfway"}.get(parts[-1])
    numbers = [float(x) for x in (parts[:-1] if action else parts)]
    if not 1 <= len(numbers) <= 2:
        raise ValueError("a band takes one or two widths")
    return Policy.band(numbers[0], numbers[1] if len(numbers) == 2 else None, action=action or "band_edge",
                       check=check or "daily")


def _policy_name(spec: str) -> str:
    if spec == "buy-and-hold":
        return "buy and hold"
    return spec


def add_parser(sub: Any) -> None:
    from ._optimize_cli import add_data_flags

    p = sub.add_parser("backtest", help="rebalancing policies side by side on your own prices (CSV or Parquet)")
    add_data_flags(p)
    p.add_argument("--policies", default=DEFAULT_POLICIES, help=f"comma-separated (default {DEFAULT_POLICIES}); "
                   "band:A[:R][:edge|target|halfway][@CALENDAR]")
    p.add_argument("--costs-bp", type=float, default=10.0, help="proportional costs in bp (default 10)")
    p.add_argument("--targets", metavar="WEIGHTS", help="target weights (CSV or Parquet: asset, weight; default "
                   "equal weights)")
    p.add_argument("--start", help="first date kept (YYYY or YYYY-MM-DD)")
    p.add_argument("--end", help="last date kept (YYYY or YYYY-MM-DD)")
    p.add_argument("--out", metavar="CSV", help="write the summary, one row per policy")
    add_progress_flags(p)


def run(args: Any) -> int:
    return files.guarded("backtest", _run, args)


def _run(args: Any) -> int:
    pols = parse_policies(args.policies)
    table = files.read_table(args.file).dropna()
    if args.returns:  # levels from the returns, 1 one spacing before the first
        r = files.returns_of(table, True)
        step = r.index[1] - r.index[0]
        levels = np.vstack([np.ones(r.shape[1]), np.cumprod(1.0 + r.to_numpy(), axis=0)])
        dates = np.r_[np.datetime64(r.index[0] - step, "D"), r.index.to_numpy().astype("datetime64[D]")]
    else:
        files.returns_of(table, False)  # the prices/returns guess, with its message
        levels, dates = table.to_numpy(dtype=float), table.index.to_numpy().astype("datetime64[D]")
    dates, levels = window(dates, levels, args.start, args.end)
    assets = [str(c) for c in table.columns]
    if args.targets:
        targets = files.on_assets(files.read_weights(args.targets, "--targets"), assets, "--targets", fill=True)
        targets, what = targets.to_numpy(), f"to the targets of {args.targets}"
    else:
        targets, what = np.full(len(assets), 1.0 / len(assets)), "an equally weighted portfolio"
    ppy, how = periods(dates, args.periods_per_year)
    side_by_side(dates, levels, targets, pols, args.costs_bp, ppy, f"{len(assets)} assets from {args.file}, {how}",
                 what, args.out, args.progress)
    return 0
