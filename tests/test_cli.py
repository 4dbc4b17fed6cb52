"""The command line: the demo runs, and the rebalancing table's buy-and-hold row is the direct
computation from the data (shipped monthly industry returns, and a daily prices CSV)."""

from pathlib import Path

import numpy as np
import pytest

import microalloc as ma
from microalloc.__main__ import main

DATA = Path(__file__).parent / "data"


def _row(out: str, label: str) -> list[str]:
    line = next(ln for ln in out.splitlines() if ln.startswith(label + "  "))
    return line[len(label) :].split()


def test_demo_runs_and_certifies(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.count("OPTIMAL") >= 5 and "buy and hold" in out


def test_rebalancing_on_the_shipped_returns_matches_buy_and_hold(capsys):
    assert main(["rebalancing"]) == 0
    out = capsys.readouterr().out
    data = ma.load_industry_returns()
    value = np.prod(1 + data.returns, axis=0).mean()  # equal weights at the start, never traded
    annual = value ** (12 / len(data.returns)) - 1
    final, vs, ret = _row(out, "buy and hold")[:3]
    assert float(final) == pytest.approx(value, abs=0.05) and vs == "+0"
    assert float(ret) == pytest.approx(100 * annual, abs=0.005)


def test_monthly_rebalancing_without_costs_is_the_constant_mix(capsys):
    assert main(["rebalancing", "--costs-bp", "0", "--start", "2000"]) == 0
    out = capsys.readouterr().out
    data = ma.load_industry_returns()
    r = data.returns[data.months > np.datetime64("2000-01")]  # the row of 2000-01 is the level at its end
    mix = np.prod(1 + r.mean(axis=1))  # equal weights again at every month's end
    assert float(_row(out, "monthly")[0]) == pytest.approx(mix, abs=0.05)
    assert _row(out, "monthly")[-2] == "0.0"  # no costs


def test_rebalancing_on_a_prices_csv(capsys, tmp_path):
    assert main(["rebalancing", "--prices", str(DATA / "sp500_prices.csv"), "--start", "2015", "--costs-bp", "0"]) == 0
    out = capsys.readouterr().out
    lines = (DATA / "sp500_prices.csv").read_text().splitlines()
    rows = [ln.split(",") for ln in lines[1:] if ln[:4] >= "2015"]
    p = np.array([[float(v) for v in r[1:]] for r in rows])
    assert float(_row(out, "buy and hold")[0]) == pytest.approx((p[-1] / p[0]).mean(), abs=0.05)
    assert "daily" in out and "checked monthly" in out


def test_rebalancing_reports_a_bad_file(capsys, tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("Date,A,B\n2020-01-01,1.0,x\n")
    assert main(["rebalancing", "--prices", str(bad)]) == 2
    assert "not a number" in capsys.readouterr().err
    assert main(["rebalancing", "--prices", str(tmp_path / "missing.csv")]) == 2
