"""Band checks and trades over a holdings table in long format, the shape platforms keep holdings
in: one row per (account, asset).

Columns: ``account``, ``asset``, ``target`` (target weight), and either ``units`` with ``price``
(weights are units * price over the account's value) or ``weight``. Targets may instead come as a
second table: one model shared by every account (``asset, target``), model portfolios (``model,
asset, target``, the holdings naming each account's ``model``) or per account (``account, asset,
target``); it may carry a ``price`` for assets an account does not yet hold.

An account's bad data never fails the call: the account gets ``INVALID_INPUT`` and a message in
the status table and trades nothing, the others go on. Only a table that cannot be read at all
(a missing column, rows without an account) raises :class:`~microalloc.InputError`.

The work is the batch kernels of :mod:`microalloc.rebalance`. Accounts are grouped by how many
rows they have; each group is one (accounts x rows) matrix whose columns are the accounts' own
rows, not a shared asset axis: a shared axis would be as wide as the union of every account's
assets, mostly zeros. Band widths are therefore scalars here (the same for every holding).
Peak memory: a few float64 copies of the table's numeric columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .result import Result, timed
from ._validate import _label_text, _nums, _num
from .errors import InputError, MicroallocError
from .rebalance import rebalance_trades, self_financing_off

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HoldingsRebalance", "rebalance_holdings"]

OK = "OK"
INVALID = "INVALID_INPUT"
STATUS_COLUMNS = ["account", "status", "traded", "n_breaches", "max_drift", "l1_drift", "value", "message"]
TRADE_COLUMNS = ["account", "asset", "weight", "units", "price"]


@dataclass(frozen=True, repr=False, eq=False)
class HoldingsRebalance(Result):
    """What :func:`rebalance_holdings` returns.

    trades : pandas.DataFrame
        One row per trade, in the holdings' long shape: ``account, asset, weight`` (the trade in
        weight), ``units`` (in units; NaN when the holdings came as weights) and ``price``. Only
        non-zero trades of triggered accounts; accounts in the order they first appear, and within
        one its rows in table order.
    status : pandas.DataFrame
        One row per account: ``status`` ("OK" or "INVALID_INPUT"), ``traded``, ``n_breaches``,
        ``max_drift``, ``l1_drift``, ``value`` (units * price summed; NaN for weights) and
        ``message`` (why an account was refused, else "").
    """

    trades: Any
    status: Any

    @property
    def is_optimal(self) -> Any:
        """Per account (a boolean Series indexed by account): True where it was checked and traded
        as asked, False where its data were refused (``INVALID_INPUT``)."""
        import pandas as pd

        return pd.Series((self.status["status"] == OK).to_numpy(), index=self.status["account"].to_numpy(),
                         name="is_optimal")

    def _why(self) -> str:
        bad = self.status[self.status["status"] != OK]
        first = bad.iloc[0]
        return f"{len(bad)} of {len(self.status)} accounts refused; first: {first['account']!r}: {first['message']}"

    def to_frame(self) -> pd.DataFrame:
        """The status table: one row per account."""
        return self.status.copy()

    def _figure_items(self) -> list[tuple[str, Any]]:
        s = self.status
        return [("accounts", len(s)), ("traded", int(s["traded"].sum())), ("invalid", int((s["status"] != OK).sum())),
                ("trades", len(self.trades)), ("solve_time_s", self.solve_time_s)]

    def _shape_text(self) -> str:
        return ""


@timed
def rebalance_holdings(
    holdings: pd.DataFrame,
    targets: pd.DataFrame | None = None,
    *,
    absolute: float | None = None,
    relative: float | None = None,
    combine: str = "min",
    action: str = "band_edge",
    min_trade: float = 0.0,
    trigger: str = "any",
    threshold: float | None = None,
    threads: int | None = None,
) -> HoldingsRebalance:
    """Check every account of a long holdings table against its bands and trade the triggered ones.

    Bands, ``combine``, ``action``, ``min_trade``, ``trigger`` ("any" or "l1") and ``threshold``
    are those of :func:`~microalloc.rebalance_trades`, with scalar band widths. An asset held but
    not targeted has target 0 (sold down to its band); one targeted but not held enters with 0
    units and needs a price. Each account's targets must sum to 1 (to its weights' sum when
    holdings come as weights), within 1e-9.
    """
    import pandas as pd

    table = _long_table(holdings, targets, pd)
    kw = dict(absolute=absolute, relative=relative, combine=combine, action=action, min_trade=min_trade,
              trigger=trigger, threshold=threshold, threads=threads)
    if trigger == "tracking_error":
        raise InputError("trigger", "a holdings table has no covariance: use 'any' or 'l1'")
    _probe_arguments(kw)  # argument mistakes raise here, not as every account's status
    acc = _Accounts(table)
    message = acc.bad_messages()
    new_trades = np.zeros(len(table))
    check = {k: np.zeros(acc.m, dtype=dt) for k, dt in (("traded", bool), ("n_breaches", np.int64),
                                                        ("max_drift", float), ("l1_drift", float))}
    for rows, members in acc.groups(message):
        _rebalance_group(acc, rows, members, kw, new_trades, check, message)
    return HoldingsRebalance(trades=acc.trades_frame(new_trades, pd), status=acc.status_frame(check, message, pd))


def _probe_arguments(kw: dict) -> None:
    """Run the arguments once on a trivial account so a mistake in them (an unknown action, a
    negative band) raises the usual InputError naming it."""
    rebalance_trades(np.ones((1, 1)), np.ones((1, 1)), **kw)


def _long_table(holdings: Any, targets: Any, pd: Any) -> Any:
    """The columns used, with the targets merged in; refused when it cannot be read at all."""
    if not isinstance(holdings, pd.DataFrame):
        raise InputError("holdings", f"expected a pandas DataFrame in long format, got {type(holdings).__name__}")
    cols = set(holdings.columns)
    amount = "units" if "units" in cols else "weight"
    need = {"account", "asset", amount} | ({"price"} if amount == "units" else set())
    if targets is None:
        need.add("target")
    missing = sorted(need - cols)
    if missing:
        raise InputError("holdings", f"missing column(s) {missing}: expected account, asset, units and price "
                                     "(or weight), and target unless a targets table is given")
    keep = [c for c in ("account", "asset", amount, "price", "target", "model") if c in cols]
    table = holdings[keep]
    if targets is not None:
        table = _merge_targets(table, targets, pd)
    if table["account"].isna().any():
        raise InputError("holdings", f"{int(table['account'].isna().sum())} row(s) have no account")
    return table.reset_index(drop=True)


def _merge_targets(table: Any, targets: Any, pd: Any) -> Any:
    """Targets joined on (account, asset): per account, per model (holdings and targets both with a
    ``model`` column), or one model shared by every account. Target assets an account does not
    hold join with 0 units (their price from the targets, when it has one); holdings without a
    target get 0."""
    if not isinstance(targets, pd.DataFrame) or not {"asset", "target"} <= set(targets.columns):
        raise InputError("targets", "expected a DataFrame with columns asset and target (and account or model when "
                                    "targets differ by account; price for assets not held)")
    by = "account" if "account" in targets.columns else "model" if "model" in targets.columns else None
    keys = [k for k in (by, "asset") if k]
    if targets.duplicated(keys).any():
        raise InputError("targets", f"{int(targets.duplicated(keys).sum())} duplicated {'/'.join(keys)} row(s)")
    t = targets[keys + ["target"] + (["price"] if "price" in targets.columns else [])]
    t = t.rename(columns={"price": "_target_price"})
    if by == "model" and "model" not in table.columns:
        raise InputError("holdings", "the targets are by model: the holdings need a model column")
    if by != "account":  # each account gets every asset of its model
        accounts = table[["account"] + (["model"] if by else [])].drop_duplicates()
        t = accounts.merge(t, on="model") if by else accounts.merge(t, how="cross")
        t = t.drop(columns=[c for c in ("model",) if c in t.columns])
    table = table.drop(columns=[c for c in ("target", "model") if c in table.columns])
    try:
        merged = table.merge(t, on=["account", "asset"], how="outer", sort=False)
    except ValueError as e:  # keys of different types (int assets in one table, str in the other)
        raise InputError("targets", f"its account and asset columns do not match the holdings' ({e})") from None
    merged["target"] = merged["target"].fillna(0.0)
    amount = "units" if "units" in merged.columns else "weight"
    not_held = merged[amount].isna()
    if "_target_price" in merged.columns:
        if "price" in merged.columns:  # only where not held: a holding's own missing price is bad data
            merged["price"] = merged["price"].mask(not_held, merged["_target_price"])
        merged = merged.drop(columns="_target_price")
    merged[amount] = merged[amount].mask(not_held, 0.0)
    # accounts together, in their first appearance in the holdings (a targets-only account last)
    order = pd.factorize(merged["account"])[0]
    return merged.iloc[np.argsort(order, kind="stable")]


class _Accounts:
    """The table's rows grouped by account: codes, row ranges, weights and targets as arrays."""

    def __init__(self, table: Any) -> None:
        import pandas as pd

        codes, self.names = pd.factorize(table["account"], sort=False)
        order = np.argsort(codes, kind="stable") if (np.diff(codes) < 0).any() else None
        if order is not None:  # an account's rows together, accounts in first-appearance order
            table, codes = table.iloc[order].reset_index(drop=True), codes[order]
        self.table, self.codes, self.m = table, codes, len(self.names)
        self.count = np.bincount(codes, minlength=self.m)
        self.start = np.concatenate(([0], np.cumsum(self.count)[:-1]))
        self.units = "units" in table.columns
        num = {c: table[c].to_numpy(dtype=float, na_value=np.nan) for c in ("units", "weight", "price", "target")
               if c in table.columns}
        self.target = num["target"]
        # holdings as weights have no price and no value: NaN, and so are their trades in units
        self.price = num.get("price", np.full(len(codes), np.nan))
        self.value = np.full(self.m, np.nan)
        self.weight = num.get("weight", np.empty(0))
        if self.units:
            with np.errstate(invalid="ignore", over="ignore"):
                amount = num["units"] * self.price
                self.value = np.bincount(codes, weights=amount, minlength=self.m)
                self.weight = amount / self.value[codes]

    def bad_messages(self) -> dict[int, str]:
        """Account -> why it is refused, for the accounts whose data cannot be rebalanced."""
        bad: dict[int, str] = {}
        t = self.table
        asset = t["asset"].to_numpy()

        def of(what: str, values: np.ndarray, rule: str = "") -> Callable[[int], str]:
            return lambda r: f"{what} of asset {_label_text(asset[r])} is {_num(values[r])}{rule}"

        rules = [
            (self._repeated_assets(), lambda r: f"asset {_label_text(asset[r])} appears twice"),
            (~np.isfinite(self.target), of("the target", self.target)),
        ]
        if self.units:
            units = t["units"].to_numpy(dtype=float, na_value=np.nan)
            rules += [(~np.isfinite(units), of("units", units)),
                      (~(self.price > 0) | ~np.isfinite(self.price), of("the price", self.price, "; it must be finite and > 0"))]
        else:
            rules.append((~np.isfinite(self.weight), of("the weight", self.weight)))
        for mask, say in rules:
            for a, r in _first_row_per_account(self.codes, mask):
                bad.setdefault(a, say(r))
        self._check_totals(bad)
        return bad

    def _repeated_assets(self) -> np.ndarray:
        """Rows whose asset came earlier in the same account: the assets' codes sorted within each
        account (accounts grouped by row count, O(rows log count))."""
        import pandas as pd

        code = pd.factorize(self.table["asset"], sort=False)[0]
        repeated = np.zeros(len(code), dtype=bool)
        for k in np.unique(self.count[self.count > 1]):
            rows = self.start[self.count == k][:, None] + np.arange(k)
            order = np.argsort(code[rows], axis=1, kind="stable")
            ranked = np.take_along_axis(rows, order, axis=1)
            same = code[ranked[:, 1:]] == code[ranked[:, :-1]]
            repeated[ranked[:, 1:][same]] = True
        return repeated

    def _check_totals(self, bad: dict[int, str]) -> None:
        with np.errstate(invalid="ignore"):
            t_sum = np.bincount(self.codes, weights=self.target, minlength=self.m)
            # from units, the weights sum to 1 by construction (up to rounding)
            w_sum = np.ones(self.m) if self.units else np.bincount(self.codes, weights=self.weight, minlength=self.m)
        if self.units:
            for a in np.flatnonzero(~(self.value > 0)):
                bad.setdefault(int(a), f"the account's value is {_num(self.value[a])}; it must be > 0")
        for a in np.flatnonzero(self_financing_off(w_sum, t_sum)):
            tw, ww = _nums(t_sum[a], w_sum[a])
            bad.setdefault(int(a), f"the targets sum to {tw} but the weights to {ww} "
                                   "(they must match within 1e-9: trades are self-financing)")

    def groups(self, bad: dict[int, str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(row index matrix, account indices) for each row count, the refused accounts left out."""
        ok = np.ones(self.m, dtype=bool)
        ok[list(bad)] = False
        for k in np.unique(self.count[ok]):
            members = np.flatnonzero(ok & (self.count == k))
            yield self.start[members][:, None] + np.arange(k), members

    def trades_frame(self, trades: np.ndarray, pd: Any) -> Any:
        rows = np.flatnonzero(trades != 0.0)
        t = self.table
        price = self.price[rows]
        return pd.DataFrame({"account": t["account"].to_numpy()[rows], "asset": t["asset"].to_numpy()[rows],
                             "weight": trades[rows], "units": trades[rows] * self.value[self.codes[rows]] / price,
                             "price": price}, copy=False)

    def status_frame(self, check: dict, message: dict[int, str], pd: Any) -> Any:
        status = np.full(self.m, OK, dtype=object)
        text = np.full(self.m, "", dtype=object)
        for a, say in message.items():
            status[a], text[a] = INVALID, say
        return pd.DataFrame({"account": np.asarray(self.names), "status": status, **check, "value": self.value,
                             "message": text}, columns=STATUS_COLUMNS, copy=False)


def _first_row_per_account(codes: np.ndarray, mask: np.ndarray) -> Iterator[tuple[int, int]]:
    rows = np.flatnonzero(mask)
    accounts, first = np.unique(codes[rows], return_index=True)
    return zip(accounts.tolist(), rows[first].tolist())


def _rebalance_group(acc: _Accounts, rows: np.ndarray, members: np.ndarray, kw: dict, new_trades: np.ndarray,
                     check: dict, message: dict[int, str]) -> None:
    """One batch call for the accounts with the same row count; should it refuse (data the checks
    above let through), each account again alone, so only the offending ones are refused."""
    try:
        _apply(rebalance_trades(acc.weight[rows], acc.target[rows], **kw), rows, members, new_trades, check)
        return
    except MicroallocError as e:
        if len(members) == 1:
            message[int(members[0])] = str(e)
            return
    for r, a in zip(rows, members):
        _rebalance_group(acc, r[None], a[None], kw, new_trades, check, message)


def _apply(res: Any, rows: np.ndarray, members: np.ndarray, new_trades: np.ndarray, check: dict) -> None:
    new_trades[rows] = res.trades
    c = res.check
    for name, v in (("traded", c.triggered), ("n_breaches", c.n_breaches), ("max_drift", c.max_drift),
                    ("l1_drift", c.l1_drift)):
        check[name][members] = v
