"""`microalloc risk`, `bands` and `backtest` on a user's own files, and the shared reader's bad
inputs: the numbers against the library called here on a covariance estimated here (numpy), the
bands against rebalance_holdings, the backtest against backtest_rebalancing, and every bad input
exits 2 with a message saying what to do (two through a real `python -m microalloc` process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import microalloc as ma
from microalloc.__main__ import main
from microalloc.holdings import rebalance_holdings

DATA = Path(__file__).parent / "data"
RNG = np.random.default_rng(8)
DATES = pd.bdate_range("2022-01-03", periods=300, name="date")
ASSETS = ["AAA", "BBB", "CCC", "DDD"]
PRICES = pd.DataFrame(20 * np.exp(np.cumsum(RNG.normal(0.0003, 0.012, (300, 4)), axis=0)), index=DATES,
                      columns=ASSETS)
W = pd.Series([0.4, 0.3, 0.2, 0.1], index=ASSETS)
B = pd.Series([0.25, 0.25, 0.25, 0.25], index=ASSETS)


@pytest.fixture()
def d(tmp_path):
    PRICES.to_csv(tmp_path / "prices.csv")
    PRICES.to_parquet(tmp_path / "prices.parquet")
    PRICES.pct_change().iloc[1:].to_csv(tmp_path / "returns.csv")
    W.rename_axis("asset").rename("weight").reset_index().to_csv(tmp_path / "w.csv", index=False)
    B.rename_axis("asset").rename("weight").reset_index().to_parquet(tmp_path / "b.parquet")
    return tmp_path


def cov_here() -> np.ndarray:
    return 252 * np.cov(PRICES.pct_change().iloc[1:].to_numpy().T)


# -- risk ------------------------------------------------------------------------------------------
def test_risk_contributions_recomputed(d, capsys):
    out = d / "rc.csv"
    assert main(["risk", str(d / "w.csv"), "--prices", str(d / "prices.parquet"), "--out", str(out)]) == 0
    t = pd.read_csv(out).set_index("asset")
    s, w = cov_here(), W.to_numpy()
    vol = np.sqrt(w @ s @ w)
    np.testing.assert_allclose(t.marginal, s @ w / vol, rtol=1e-10)
    np.testing.assert_allclose(t.component, w * (s @ w) / vol, rtol=1e-10)
    np.testing.assert_allclose(t.percent, w * (s @ w) / vol**2, rtol=1e-10)
    assert f"volatility {vol:.4%}" in capsys.readouterr().out and "active_percent" not in t.columns


def test_active_risk_and_the_summary_against_a_benchmark(d, capsys):
    out = d / "rc.csv"
    assert main(["risk", str(d / "w.csv"), "--returns", str(d / "returns.csv"), "--benchmark", str(d / "b.parquet"),
                 "--out", str(out)]) == 0
    t = pd.read_csv(out).set_index("asset")
    s, a = cov_here(), (W - B).to_numpy()
    te = np.sqrt(a @ s @ a)
    np.testing.assert_allclose(t.active_component, a * (s @ a) / te, rtol=1e-10)
    np.testing.assert_allclose(t.active_percent.sum(), 1.0, rtol=1e-12)
    text = capsys.readouterr().out
    r = PRICES.pct_change().iloc[1:]
    realised = np.sqrt(252) * (r @ (W - B)).std()
    assert f"tracking error {te:.4%} (ex ante)" in text and f"tracking error {realised:.2%}" in text
    assert "active share 20.00%" in text  # 0.5 * (0.15 + 0.05 + 0.05 + 0.15)


def test_risk_needs_data_and_matching_assets(d, capsys):
    assert main(["risk", str(d / "w.csv")]) == 2
    assert "--prices FILE or --returns FILE" in capsys.readouterr().err
    pd.DataFrame({"asset": ["AAA", "ZZZ"], "weight": [0.5, 0.5]}).to_csv(d / "bad.csv", index=False)
    assert main(["risk", str(d / "bad.csv"), "--prices", str(d / "prices.csv")]) == 2
    assert "not in the data: ['ZZZ']" in capsys.readouterr().err
    pd.DataFrame({"name": ["AAA"], "w": [1.0]}).to_csv(d / "cols.csv", index=False)
    assert main(["risk", str(d / "cols.csv"), "--prices", str(d / "prices.csv")]) == 2
    assert "no column(s) ['asset', 'weight']" in capsys.readouterr().err


# -- bands -----------------------------------------------------------------------------------------
HOLDINGS = pd.DataFrame({"account": ["a", "a", "a", "b", "b", "c"], "asset": ["X", "Y", "Z", "X", "Y", "X"],
                         "units": [10.0, 5.0, 2.0, 1.0, 9.0, 4.0], "price": [10.0, 20.0, 50.0, 10.0, 20.0, 10.0]})
TARGETS = pd.DataFrame({"asset": ["X", "Y", "Z"], "target": [0.4, 0.4, 0.2], "price": [10.0, 20.0, 50.0]})


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_bands_are_rebalance_holdings(tmp_path, fmt, capsys):
    h, t = tmp_path / f"h.{fmt}", tmp_path / "t.csv"
    HOLDINGS.to_parquet(h) if fmt == "parquet" else HOLDINGS.to_csv(h, index=False)
    TARGETS.to_csv(t, index=False)
    assert main(["bands", str(h), "--targets", str(t), "--absolute", "0.05", "--action", "target", "--out",
                 str(tmp_path / "out")]) == 0
    direct = rebalance_holdings(HOLDINGS, TARGETS, absolute=0.05, action="target")
    trades = pd.read_csv(tmp_path / "out" / "trades.csv")
    np.testing.assert_allclose(trades.weight, direct.trades.weight, atol=1e-12)
    assert list(trades.account) == list(direct.trades.account) and list(trades.asset) == list(direct.trades.asset)
    status = pd.read_csv(tmp_path / "out" / "status.csv")
    assert list(status.traded) == list(direct.status.traded)
    assert f"{int(direct.status.traded.sum())} traded" in capsys.readouterr().out


def test_bands_to_a_file_and_an_invalid_account_exits_1(tmp_path, capsys):
    h = HOLDINGS.assign(target=[0.5, 0.5, 0.0, 0.5, 0.5, 1.0])
    h.loc[5, "price"] = -1.0
    h.to_csv(tmp_path / "h.csv", index=False)
    assert main(["bands", str(tmp_path / "h.csv"), "--relative", "0.1", "--out", str(tmp_path / "tr.parquet")]) == 1
    direct = rebalance_holdings(h, relative=0.1)
    assert len(pd.read_parquet(tmp_path / "tr.parquet")) == len(direct.trades)
    status = pd.read_parquet(tmp_path / "tr_status.parquet")
    assert list(status.status) == ["OK", "OK", "INVALID_INPUT"]
    assert "account 'c'" in capsys.readouterr().err


@pytest.mark.parametrize("extra, words", [
    ([], "give a band"),
    (["--absolute", "0.05", "--targets", "NOPE"], "is not a file"),
    (["--absolute", "-1"], "absolute"),
])
def test_bands_bad_inputs_exit_2(tmp_path, extra, words, capsys):
    HOLDINGS.assign(target=[0.5, 0.5, 0.0, 0.5, 0.5, 1.0]).to_csv(tmp_path / "h.csv", index=False)
    extra = [str(tmp_path / "nope.csv") if a == "NOPE" else a for a in extra]
    assert main(["bands", str(tmp_path / "h.csv"), *extra]) == 2
    err = capsys.readouterr().err
    assert words in err and err.startswith("microalloc bands: ")


def test_bands_without_targets_names_the_missing_column(tmp_path, capsys):
    HOLDINGS.to_csv(tmp_path / "h.csv", index=False)
    assert main(["bands", str(tmp_path / "h.csv"), "--absolute", "0.05"]) == 2
    assert "missing column(s) ['target']" in capsys.readouterr().err


# -- backtest --------------------------------------------------------------------------------------
def test_backtest_is_backtest_rebalancing(d, capsys):
    out = d / "bt.csv"
    assert main(["backtest", str(d / "prices.csv"), "--policies", "buy-and-hold,monthly,band:0.03:0.2:target@weekly",
                 "--targets", str(d / "w.csv"), "--costs-bp", "15", "--out", str(out)]) == 0
    direct = ma.backtest_rebalancing(PRICES, W.to_numpy(), {
        "buy and hold": ma.Policy.buy_and_hold(), "monthly": ma.Policy.calendar("monthly"),
        "band:0.03:0.2:target@weekly": ma.Policy.band(0.03, 0.2, action="target", check="weekly")}, costs=15e-4)
    got = pd.read_csv(out).set_index("policy")
    pd.testing.assert_frame_equal(got, direct.summary.rename_axis("policy"), check_dtype=False, rtol=1e-12)
    # buy and hold from the prices directly: the value of the initial units
    units = W.to_numpy() / PRICES.iloc[0].to_numpy()
    final = float(units @ PRICES.iloc[-1].to_numpy())
    assert got.loc["buy and hold", "annual_return"] == pytest.approx(final ** (252 / 299) - 1, rel=1e-10)
    assert "Rebalancing to the targets of" in capsys.readouterr().out


def test_backtest_of_returns_and_the_default_policies(d, capsys):
    out = d / "bt.csv"
    assert main(["backtest", str(d / "returns.csv"), "--returns", "--out", str(out), "--costs-bp", "0"]) == 0
    got = pd.read_csv(out).set_index("policy")
    levels = np.cumprod(1 + PRICES.pct_change().iloc[1:].to_numpy(), axis=0)
    final = levels[-1].mean()  # equal weights at 1, never traded
    assert got.loc["buy and hold", "annual_return"] == pytest.approx(final ** (252 / 299) - 1, rel=1e-10)
    assert len(got) == 7 and "equally weighted" in capsys.readouterr().out


@pytest.mark.parametrize("policies, words", [("weekly,sometimes", "unknown policy"),
                                             ("band:0.1:0.2:0.3", "one or two widths"),
                                             ("band:-0.1", "negative")])
def test_backtest_refuses_a_bad_policy(d, policies, words, capsys):
    assert main(["backtest", str(d / "prices.csv"), "--policies", policies]) == 2
    err = capsys.readouterr().err
    assert words in err and "e.g. band:0.05:0.25" in err


def test_the_rebalancing_command_and_backtest_share_their_table(capsys):
    """The shipped prices CSV through both commands: the same rows for the same policies."""
    prices = str(DATA / "sp500_prices.csv")
    assert main(["rebalancing", "--prices", prices, "--start", "2020"]) == 0
    one = capsys.readouterr().out
    assert main(["backtest", prices, "--start", "2020", "--policies", "buy-and-hold,monthly,annual"]) == 0
    two = capsys.readouterr().out
    for label in ("buy and hold", "monthly", "annual"):
        row = lambda text: next(ln for ln in text.splitlines() if ln.startswith(label + "  ")).split()[-12:]  # noqa: E731
        assert row(one) == row(two)


# -- the shared reader -----------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["optimize"], ["backtest"], ["risk", "W", "--prices"]])
def test_a_cell_that_is_not_a_number_is_named(d, command, capsys):
    bad = PRICES.astype(object)
    bad.iloc[5, 2] = "n/a?"
    bad.to_csv(d / "bad.csv")
    args = [str(d / "w.csv") if a == "W" else a for a in command]
    assert main([*args, str(d / "bad.csv")]) == 2
    err = capsys.readouterr().err
    assert f"column 'CCC' on {DATES[5].date()} holds 'n/a?', not a number" in err


def test_dates_that_are_not_dates_and_an_unknown_spacing(d, capsys):
    PRICES.reset_index(drop=True).to_csv(d / "nodates.csv")
    assert main(["optimize", str(d / "nodates.csv")]) == 2
    assert "must hold dates (YYYY-MM-DD); it holds '0'" in capsys.readouterr().err
    PRICES.iloc[::17].to_csv(d / "odd.csv")  # every 17th business day: no standard spacing
    assert main(["optimize", str(d / "odd.csv")]) == 2
    assert "cannot be inferred from the dates" in capsys.readouterr().err
    assert main(["optimize", str(d / "odd.csv"), "--periods-per-year", "15"]) == 0


def test_the_shipped_prices_through_risk(capsys, tmp_path):
    names = pd.read_csv(DATA / "sp500_prices.csv", nrows=0).columns[1:]
    pd.DataFrame({"asset": names, "weight": 1 / len(names)}).to_csv(tmp_path / "ew.csv", index=False)
    assert main(["risk", str(tmp_path / "ew.csv"), "--prices", str(DATA / "sp500_prices.csv")]) == 0
    assert "business days" in capsys.readouterr().out


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(Path(ma.__file__).parents[1]),
                                                                    os.environ.get("PYTHONPATH", "")] if p)}
    return subprocess.run([sys.executable, "-m", "microalloc", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_end_to_end_a_missing_file_and_a_wrong_guess(d):
    p = run("risk", str(d / "w.csv"), "--returns", str(d / "prices.csv"))
    assert p.returncode == 2 and "looks like prices" in p.stderr and "with --prices instead of --returns" in p.stderr
    p = run("risk", str(d / "w.csv"), "--prices", str(d / "returns.csv"))
    assert p.returncode == 2 and "with --returns instead of --prices" in p.stderr
    p = run("backtest", str(d / "missing.parquet"))
    assert p.returncode == 2 and p.stderr.strip() == f"microalloc backtest: FILE: {d / 'missing.parquet'} is not a file"


def test_end_to_end_a_missing_required_argument():
    p = run("bands")
    assert p.returncode == 2 and "HOLDINGS" in p.stderr  # argparse's usage message


def test_a_reader_closing_stdout_early_does_not_cost_the_files(d):
    """`... --out W | head -1`: the files are written before the printout a closed pipe stops."""
    env = {**os.environ, "PYTHONPATH": str(Path(ma.__file__).parents[1])}
    cmd = (f"{sys.executable} -m microalloc optimize {d / 'prices.csv'} --out {d / 'o.csv'} --report {d / 'o.md'} "
           f"| head -1; {sys.executable} -m microalloc backtest {d / 'prices.csv'} --out {d / 'b.csv'} | head -1")
    subprocess.run(cmd, shell=True, env=env, check=True, capture_output=True, timeout=120)
    assert len(pd.read_csv(d / "o.csv")) == 4 and (d / "o.md").stat().st_size > 0
    assert len(pd.read_csv(d / "b.csv")) == 7
