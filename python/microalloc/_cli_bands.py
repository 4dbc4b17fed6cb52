"""``microalloc bands HOLDINGS``: band breaches and trades for a holdings file (CSV or Parquet, the
long shape of :func:`microalloc.holdings.rebalance_holdings`: account, asset, units and price or
weight, and target unless a targets file is given)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from . import _cli_files as files
from .errors import InputError


def add_band_options(p: Any) -> None:
    """The bands and the trading rule, the same for ``bands`` and ``nightly``."""
    p.add_argument("--absolute", type=float, help="absolute band half-width in weight points (0.05 = 5 points)")
    p.add_argument("--relative", type=float, help="relative band half-width as a fraction of the target")
    p.add_argument("--combine", choices=["min", "max"], default="min", help="with both bands (default: min)")
    p.add_argument("--action", choices=["band_edge", "target", "halfway"], default="band_edge",
                   help="where triggered accounts trade to (default: band_edge)")
    p.add_argument("--min-trade", type=float, default=0.0, help="skip trades below this weight (default 0)")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bands", help="band breaches and trades for a holdings file (CSV or Parquet)")
    p.add_argument("holdings", metavar="HOLDINGS", help="CSV or Parquet: account, asset, units, price (or weight), "
                   "and target unless --targets")
    p.add_argument("--targets", metavar="FILE", help="CSV or Parquet: asset, target (one model for every account), "
                   "or account, asset, target, or model, asset, target")
    add_band_options(p)
    p.add_argument("--out", metavar="DIR|FILE", help="a directory (trades.csv and status.csv in it), or a .csv or "
                   ".parquet file for the trades (the status beside it, FILE_status)")


def run(args: Any) -> int:
    return files.guarded("bands", _run, args)


def _run(args: Any) -> int:
    from .holdings import rebalance_holdings

    if args.absolute is None and args.relative is None:
        raise InputError("--absolute", "give a band: --absolute X (weight points) and/or --relative Y (of the target)")
    holdings = files.read_frame(args.holdings, "HOLDINGS")
    targets = None if args.targets is None else files.read_frame(args.targets, "--targets")
    res = rebalance_holdings(holdings, targets, absolute=args.absolute, relative=args.relative, combine=args.combine,
                             action=args.action, min_trade=args.min_trade)
    if args.out:  # before the printout, which a reader may cut short
        _write(res, args.out)
    s = res.status
    invalid = s[s["status"] != "OK"]
    print(f"{len(s)} accounts checked, {int(s['traded'].sum())} traded ({int(s['n_breaches'].sum())} breaches), "
          f"{len(invalid)} invalid, {len(res.trades)} trades")
    shown = s[s["traded"] | (s["status"] != "OK")]
    if len(shown):
        print(shown.to_string(index=False, float_format=lambda x: f"{x:.4f}", max_rows=40))
    for _, row in invalid.head(5).iterrows():
        print(f"microalloc bands: account {row['account']!r}: {row['message']}", file=sys.stderr)
    return 1 if len(invalid) else 0


def _write(res: Any, out: str) -> None:
    """Trades and status as CSV (or Parquet for a .parquet FILE)."""
    path = Path(out)
    if path.suffix.lower() in (".csv", *files.PARQUET):
        pairs = ((res.trades, path), (res.status, path.with_name(f"{path.stem}_status{path.suffix}")))
    else:
        path.mkdir(parents=True, exist_ok=True)
        pairs = ((res.trades, path / "trades.csv"), (res.status, path / "status.csv"))
    for frame, target in pairs:
        if target.suffix.lower() in files.PARQUET:
            frame.to_parquet(target, index=False)
        else:
            frame.to_csv(target, index=False)
