"""`microalloc optimize FILE`: the contract (one row per asset with its label and weight), the
weights of the library call on returns and a covariance estimated here independently (pandas'
pct_change, numpy's cov), and the exit codes and messages of wrong guesses and bad arguments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import microalloc as ma
from microalloc.__main__ import main

RNG = np.random.default_rng(4)
DATES = pd.bdate_range("2023-01-02", periods=260, name="date")
PRICES = pd.DataFrame(50 * np.exp(np.cumsum(RNG.normal(0.0004, 0.01, (260, 5)), axis=0)), index=DATES,
                      columns=["AAA", "BBB", "CCC", "DDD", "EEE"])


@pytest.fixture()
def files(tmp_path):
    PRICES.to_csv(tmp_path / "prices.csv")
    PRICES.to_parquet(tmp_path / "prices.parquet")
    PRICES.pct_change().iloc[1:].to_csv(tmp_path / "returns.csv")
    return tmp_path


def expected(objective: str, cap: float) -> np.ndarray:
    r = PRICES.pct_change().iloc[1:].to_numpy()
    s, mu = 252 * np.cov(r.T), 252 * r.mean(axis=0)
    if objective == "min-variance":
        return ma.solve_mean_variance(s, None, upper=cap).weights
    if objective == "max-sharpe":
        return ma.max_sharpe(s, mu, upper=cap).weights
    return ma.solve_mean_variance(s, mu, risk_aversion=5.0, upper=cap).weights


@pytest.mark.parametrize("objective", ["min-variance", "max-sharpe", "risk-aversion"])
@pytest.mark.parametrize("source", ["prices.csv", "prices.parquet", "returns.csv"])
def test_the_contract_writes_one_row_per_asset(files, objective, source, capsys):
    out = files / "w.csv"
    args = ["optimize", str(files / source), "--objective", objective, "--cap", "0.35", "--out", str(out)]
    assert main(args + (["--returns"] if source.startswith("returns") else [])) == 0
    w = pd.read_csv(out)
    assert list(w.columns) == ["asset", "weight"] and list(w.asset) == list(PRICES.columns)
    np.testing.assert_allclose(w.weight, expected(objective, 0.35), rtol=0, atol=1e-9)
    assert w.weight.max() <= 0.35 + 1e-12 and w.weight.sum() == pytest.approx(1.0, abs=1e-12)
    assert "status OPTIMAL" in capsys.readouterr().out


def test_erc_and_the_targets(files, capsys):
    assert main(["optimize", str(files / "prices.csv"), "--objective", "erc"]) == 0
    assert main(["optimize", str(files / "prices.csv"), "--objective", "target-volatility", "--target", "0.1"]) == 0
    assert "volatility 10.0000%" in capsys.readouterr().out


@pytest.mark.parametrize("extra, words", [
    (["--returns"], "looks like prices"),
    (["--objective", "target-return"], "needs --target"),
])
def test_wrong_guesses_and_missing_arguments_exit_2(files, extra, words, capsys):
    assert main(["optimize", str(files / "prices.csv"), *extra]) == 2
    assert words in capsys.readouterr().err


def test_returns_read_as_prices_and_missing_files_exit_2(files, capsys):
    assert main(["optimize", str(files / "returns.csv")]) == 2
    assert "pass --returns" in capsys.readouterr().err
    assert main(["optimize", str(files / "nope.csv")]) == 2
    assert "is not a file" in capsys.readouterr().err
