"""Band checks and trades over a long holdings table (microalloc.holdings).

Checked against the wide single-portfolio calls account by account, against the bands' own
definition (every new weight inside its band, trades self-financing, units = weight * value /
price), and for bad accounts: each gets its status and message and the others are unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma
from microalloc.holdings import rebalance_holdings

BANDS = dict(absolute=0.02, relative=0.25)


def table(m=6, k=5, seed=0, universe=12):
    """m accounts of k holdings each (assets drawn from a universe), drifted from random targets."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(m):
        assets = rng.choice(universe, k, replace=False)
        t = rng.dirichlet(np.full(k, 3.0))
        w = t * np.exp(rng.normal(0, 0.4, k))
        w /= w.sum()
        price = rng.uniform(5, 50, k)
        rows.append(pd.DataFrame({"account": f"acc{a}", "asset": [f"s{i}" for i in assets],
                                  "units": w * 1e5 / price, "price": price, "target": t}))
    return pd.concat(rows, ignore_index=True)


def by_account(h: pd.DataFrame, res, **kw):
    """Each account alone through the wide single-portfolio call: trades, and the bands held."""
    for acc, g in h.groupby("account", sort=False):
        value = (g.units * g.price).sum()
        w = (g.units * g.price / value).to_numpy()
        one = ma.rebalance_trades(w, g.target.to_numpy(), **kw)
        got = res.trades[res.trades.account == acc].set_index("asset")["weight"].reindex(g.asset, fill_value=0.0)
        np.testing.assert_allclose(got.to_numpy(), one.trades, rtol=0, atol=1e-13)
        status = res.status.set_index("account").loc[acc]
        assert status.status == "OK" and bool(status.traded) == bool(one.traded)
        assert status.n_breaches == one.check.n_breaches
        assert status.value == pytest.approx(value, rel=1e-13)


def test_each_account_trades_as_the_single_portfolio_call_would():
    h = table()
    res = rebalance_holdings(h, **BANDS)
    assert list(res.status.account) == list(h.account.unique())  # first-appearance order
    by_account(h, res, **BANDS)


def test_new_weights_lie_in_their_bands_and_trades_are_self_financing():
    h = table(m=40, k=8, seed=3)
    res = rebalance_holdings(h, **BANDS)
    assert res.status.traded.sum() > 10
    merged = h.merge(res.trades, on=["account", "asset"], how="left", suffixes=("", "_trade")).fillna(
        {"weight": 0.0, "units_trade": 0.0})
    value = (merged.units * merged.price).groupby(merged.account).transform("sum")
    w_new = merged.units * merged.price / value + merged.weight
    t = merged.target
    width = np.minimum(0.02, 0.25 * t)  # the tighter of the two bands ("min")
    traded = merged.account.isin(res.status.account[res.status.traded])
    assert (w_new[traded] <= t[traded] + width[traded] + 1e-12).all()
    assert (w_new[traded] >= np.maximum(t[traded] - width[traded], 0) - 1e-12).all()
    np.testing.assert_allclose(res.trades.groupby("account").weight.sum(), 0.0, atol=1e-14)
    # units from weights: trade value / price
    tr = res.trades.merge(res.status[["account", "value"]], on="account")
    np.testing.assert_allclose(tr.units * tr.price, tr.weight * tr.value, rtol=1e-12)


def test_bad_accounts_get_a_status_and_the_others_are_unchanged():
    h = table(m=8)
    clean = rebalance_holdings(h, **BANDS)
    bad = h.copy()
    rows = {a: bad.index[bad.account == a] for a in bad.account.unique()}
    bad.loc[rows["acc1"][0], "price"] = np.nan
    bad.loc[rows["acc2"][1], "price"] = -3.0
    bad.loc[rows["acc3"][0], "target"] += 0.01  # targets sum to 1.01
    bad.loc[rows["acc4"][2], "units"] = np.inf
    bad.loc[rows["acc5"], "units"] = 0.0  # nothing held: no value
    bad = pd.concat([bad, bad.loc[[rows["acc6"][0]]]]).sort_index(kind="stable")  # an asset twice
    res = rebalance_holdings(bad, **BANDS)
    status = res.status.set_index("account")
    expect = {"acc1": "price of asset", "acc2": "price of asset", "acc3": "targets sum to 1.01",
              "acc4": "units of asset", "acc5": "value is 0", "acc6": "appears twice"}
    for acc, words in expect.items():
        assert status.loc[acc, "status"] == "INVALID_INPUT" and words in status.loc[acc, "message"], acc
        assert not status.loc[acc, "traded"] and acc not in set(res.trades.account)
    good = ["acc0", "acc7"]
    pd.testing.assert_frame_equal(res.trades[res.trades.account.isin(good)].reset_index(drop=True),
                                  clean.trades[clean.trades.account.isin(good)].reset_index(drop=True))


def test_targets_from_a_model_table():
    """Targets by model: an asset targeted and not held is bought at the targets' price; one held
    and not targeted is sold down to its band (target 0: the absolute band only)."""
    h = pd.DataFrame({"account": [1, 1, 2, 2], "model": ["A", "A", "B", "B"], "asset": ["x", "z", "x", "y"],
                      "units": [10.0, 1.0, 5.0, 5.0], "price": [10.0, 10.0, 10.0, 10.0]})
    targets = pd.DataFrame({"model": ["A", "A", "B", "B"], "asset": ["x", "y", "x", "y"],
                            "target": [0.5, 0.5, 0.7, 0.3], "price": [10.0, 20.0, 10.0, 20.0]})
    res = rebalance_holdings(h, targets, absolute=0.02, action="target")
    t = res.trades.set_index(["account", "asset"])
    # account 1: value 110; x 100/110 -> 0.5, y 0 -> 0.5 (bought at 20), z 10/110 -> 0
    assert t.loc[(1, "y"), "weight"] == pytest.approx(0.5) and t.loc[(1, "y"), "units"] == pytest.approx(0.5 * 110 / 20)
    assert t.loc[(1, "z"), "weight"] == pytest.approx(-10 / 110)
    assert t.loc[(1, "x"), "weight"] == pytest.approx(0.5 - 100 / 110)
    assert t.loc[(2, "x"), "weight"] == pytest.approx(0.2) and t.loc[(2, "y"), "weight"] == pytest.approx(-0.2)
    shared = rebalance_holdings(h.drop(columns="model"), targets[targets.model == "A"].drop(columns="model"),
                                absolute=0.02, action="target")  # model A for both: account 2 is on target
    assert list(shared.status.account[shared.status.traded]) == [1]


@pytest.mark.parametrize("kwargs, name", [
    (dict(action="sideways"), "action"), (dict(absolute=-0.1), "absolute"), (dict(trigger="tracking_error"), "trigger"),
    (dict(trigger="l1"), "threshold"), (dict(absolute=None, relative=None), "absolute"),
])
def test_argument_mistakes_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ma.InputError) as e:
        rebalance_holdings(table(m=2), **{**BANDS, **kwargs})
    assert e.value.argument == name


def test_a_table_that_cannot_be_read_raises_naming_it():
    h = table(m=2)
    with pytest.raises(ma.InputError, match="missing column") as e:
        rebalance_holdings(h.drop(columns="price"), **BANDS)
    assert e.value.argument == "holdings"
    h.loc[0, "account"] = None
    with pytest.raises(ma.InputError, match="no account"):
        rebalance_holdings(h, **BANDS)
    with pytest.raises(ma.InputError) as e:
        rebalance_holdings(table(m=2).drop(columns="target"), pd.DataFrame({"asset": [1], "target": [1.0]}), **BANDS)
    assert e.value.argument == "targets"  # int assets against str ones


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.sampled_from(["band_edge", "target", "halfway"]))
def test_ragged_accounts_match_the_single_portfolio_calls(seed, m, action):
    """Accounts of 1 to 9 holdings, shuffled row order within the table's accounts kept together."""
    rng = np.random.default_rng(seed)
    parts = [table(m=1, k=int(rng.integers(1, 10)), seed=seed + i).assign(account=f"a{i}") for i in range(m)]
    h = pd.concat(parts, ignore_index=True)
    kw = dict(absolute=float(rng.uniform(0.0, 0.05)), relative=0.2, action=action)
    res = rebalance_holdings(h, **kw)
    by_account(h, res, **kw)


def test_holdings_given_as_weights():
    """Weights instead of units and prices: the same trades, no units, no value; weights that do not
    sum to the targets' total refuse that account only."""
    h = table(m=5, seed=8)
    w = h.assign(weight=h.units * h.price / (h.units * h.price).groupby(h.account).transform("sum"))
    w = w.drop(columns=["units", "price"])
    res = rebalance_holdings(w, **BANDS)
    by_units = rebalance_holdings(h, **BANDS)
    np.testing.assert_allclose(res.trades.weight, by_units.trades.weight, rtol=0, atol=1e-14)
    assert res.trades.units.isna().all() and res.status.value.isna().all()
    w.loc[w.account == "acc2", "weight"] *= 1.1
    res = rebalance_holdings(w, **BANDS).status.set_index("account")
    assert res.loc["acc2", "status"] == "INVALID_INPUT" and "the weights to 1.1" in res.loc["acc2", "message"]
    assert (res.drop(index="acc2").status == "OK").all()
