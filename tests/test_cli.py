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


def test_funds_table_against_closed_forms(capsys):
    """Uncorrelated funds: the least tracking error for the average alpha is at most the 1/N mix's
    (which reaches exactly the average alpha), and the 1/N column is the closed form sqrt(sum TE^2)/N."""
    assert main(["funds"]) == 0
    out = capsys.readouterr().out
    te = np.linspace(0.030, 0.045, 12)
    cells = _row(out, "all pairs +0.0")
    assert cells[-1] == "OPTIMAL"
    assert float(cells[2]) == round(np.sqrt((te**2).sum()) / 12 * 1e4)  # the 1/N column
    assert float(cells[3]) <= float(cells[2])
    assert float(cells[4]) == round(float(np.mean(np.tile([0.3, 0.4, 0.5], 4) * te)) * 1e4)  # alpha = target


def test_funds_on_a_prices_csv_is_the_least_tracking_error(capsys):
    quadprog = pytest.importorskip("quadprog")
    assert main(["funds", "--prices", str(DATA / "factor_etfs_sp500.csv"), "--benchmark", "SP500"]) == 0
    out = capsys.readouterr().out
    px = np.loadtxt(DATA / "factor_etfs_sp500.csv", delimiter=",", skiprows=1, usecols=range(1, 7))
    dates = np.loadtxt(DATA / "factor_etfs_sp500.csv", delimiter=",", skiprows=1, usecols=0, dtype="datetime64[D]")
    r = np.diff(np.log(px), axis=0)
    active = r[:, :5] - r[:, [5]]
    omega = np.cov(active, rowvar=False) * len(r) / ((dates[-1] - dates[0]).astype(float) / 365.25)
    a = np.column_stack([np.ones(5), np.eye(5)])
    x = quadprog.solve_qp(omega, np.zeros(5), a, np.concatenate([[1.0], np.zeros(5)]), meq=1)[0]
    line = next(ln for ln in out.splitlines() if ln.startswith("combined: TE"))
    assert float(line.split()[2]) == round(np.sqrt(x @ omega @ x) * 1e4)
    for i, nm in enumerate(["MTUM", "QUAL", "SIZE", "USMV", "VLUE"]):
        row = next(ln for ln in out.splitlines() if ln.startswith(nm + " ") and len(ln.split()) == 3)
        assert float(row.split()[1]) == pytest.approx(100 * x[i], abs=0.051)


def test_funds_names_a_missing_benchmark(capsys):
    assert main(["funds", "--prices", str(DATA / "factor_etfs_sp500.csv")]) == 2
    assert "benchmark" in capsys.readouterr().err
