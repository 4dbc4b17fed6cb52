"""`microalloc optimize FILE`: the contract (one row per asset with its label and weight), the
weights of the library call on returns and a covariance estimated here independently (pandas'
pct_change, numpy's cov), and the exit codes and messages of wrong guesses and bad arguments."""

from __future__ import annotations

import json
import sys

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


# -- sectors, costs, factors, report and plot ------------------------------------------------------
SECTORS = {"AAA": "tech", "BBB": "tech", "CCC": "energy", "DDD": "energy", "EEE": "fin"}


@pytest.fixture()
def extras(files):
    pd.DataFrame({"asset": list(SECTORS), "sector": list(SECTORS.values())}).to_csv(files / "sectors.csv", index=False)
    pd.DataFrame({"asset": ["AAA", "DDD"], "weight": [0.7, 0.3]}).to_csv(files / "current.csv", index=False)
    return files


def estimates() -> tuple[np.ndarray, np.ndarray]:
    r = PRICES.pct_change().iloc[1:].to_numpy()
    return 252 * np.cov(r.T), 252 * r.mean(axis=0)


@pytest.mark.parametrize("objective", ["min-variance", "max-sharpe", "risk-aversion", "target-volatility"])
def test_sector_caps_hold_and_match_the_library(extras, objective):
    out = extras / "w.csv"
    extra = ["--target", "0.12"] if objective == "target-volatility" else []
    assert main(["optimize", str(extras / "prices.csv"), "--objective", objective, "--cap", "0.5", "--sectors",
                 str(extras / "sectors.csv"), "--sector-cap", "tech=0.3,energy=0.35", "--out", str(out), *extra]) == 0
    w = pd.read_csv(out).set_index("asset").weight
    sums = w.groupby(pd.Series(SECTORS)).sum()
    assert sums["tech"] <= 0.3 + 1e-9 and sums["energy"] <= 0.35 + 1e-9 and w.max() <= 0.5 + 1e-9
    s, mu = estimates()
    c = ma.Constraints(upper=0.5, groups=list(SECTORS.values()), group_upper={"tech": 0.3, "energy": 0.35})
    direct = {"min-variance": lambda: ma.solve_mean_variance(s, None, constraints=c),
              "max-sharpe": lambda: ma.max_sharpe(s, mu, constraints=c),
              "risk-aversion": lambda: ma.solve_mean_variance(s, mu, risk_aversion=5.0, constraints=c),
              "target-volatility": lambda: ma.max_return(s, mu, target_volatility=0.12, constraints=c)}[objective]()
    np.testing.assert_allclose(w.to_numpy(), direct.weights, atol=1e-8)


def test_one_cap_for_every_sector_and_an_infeasible_one(extras, capsys):
    out = extras / "w.csv"
    args = ["optimize", str(extras / "prices.csv"), "--sectors", str(extras / "sectors.csv"), "--objective",
            "max-sharpe", "--out", str(out), "--sector-cap"]
    assert main(args + ["0.4"]) == 0
    w = pd.read_csv(out).set_index("asset").weight
    assert (w.groupby(pd.Series(SECTORS)).sum() <= 0.4 + 1e-9).all() and w.sum() == pytest.approx(1.0, abs=1e-12)
    assert main(args + ["0.25"]) == 2  # three sectors of at most 25% cannot hold 100%
    assert "misses the budget 1" in capsys.readouterr().err


def test_costs_from_current_weights_match_the_library(extras, capsys):
    out = extras / "w.csv"
    assert main(["optimize", str(extras / "prices.csv"), "--objective", "risk-aversion", "--costs", "25",
                 "--current", str(extras / "current.csv"), "--out", str(out)]) == 0
    w = pd.read_csv(out).weight.to_numpy()
    s, mu = estimates()
    w0 = np.array([0.7, 0, 0, 0.3, 0])
    direct = ma.solve_mean_variance(s, mu, risk_aversion=5.0, constraints=ma.Constraints(
        current_weights=w0, costs=25e-4))
    free = ma.solve_mean_variance(s, mu, risk_aversion=5.0)
    np.testing.assert_allclose(w, direct.weights, atol=1e-8)
    # the costs keep the weights nearer the ones held
    assert np.abs(w - w0).sum() < np.abs(np.asarray(free.weights) - w0).sum()


def test_a_factor_model_matches_the_principal_components_estimated_here(files):
    out = files / "w.csv"
    assert main(["optimize", str(files / "prices.parquet"), "--factors", "2", "--cap", "0.4", "--out",
                 str(out)]) == 0
    r = PRICES.pct_change().iloc[1:].to_numpy()
    s = np.cov(r.T)
    vals, vecs = np.linalg.eigh(s)
    x, f = vecs[:, -2:], vals[-2:]
    d = np.maximum(np.diag(s - x @ np.diag(f) @ x.T), 1e-3 * np.diag(s))
    model = 252 * (x @ np.diag(f) @ x.T + np.diag(d))
    direct = ma.solve_mean_variance(model, None, upper=0.4)
    np.testing.assert_allclose(pd.read_csv(out).weight, direct.weights, atol=1e-7)


def test_the_report_json_and_markdown(files):
    rep = files / "r.json"
    assert main(["optimize", str(files / "prices.csv"), "--objective", "max-sharpe", "--risk-free", "0.01",
                 "--report", str(rep)]) == 0
    c = json.loads(rep.read_text())
    s, mu = estimates()
    w = np.array(list(c["weights"].values()))
    assert c["status"] == "OPTIMAL" and c["certificate"]["value"] < 1e-8
    assert c["volatility"] == pytest.approx(np.sqrt(w @ s @ w), rel=1e-9)
    assert c["expected_return"] == pytest.approx(w @ mu, rel=1e-9)
    assert c["sharpe"] == pytest.approx((w @ mu - 0.01) / np.sqrt(w @ s @ w), rel=1e-9)
    assert c["periods_per_year"] == 252 and "business days" in c["periods_per_year_source"]
    assert c["data"]["first_date"] == str(DATES[1].date()) and c["data"]["last_date"] == str(DATES[-1].date())
    md = files / "r.md"
    assert main(["optimize", str(files / "returns.csv"), "--returns", "--estimator", "ewma", "--report", str(md)]) == 0
    text = md.read_text()
    assert "status: **OPTIMAL**" in text and "ewma (halflife 63 rows)" in text and "| AAA |" in text


def test_the_plot_is_written_and_matplotlib_missing_exits_2(files, monkeypatch, capsys):
    png = files / "p.png"
    assert main(["optimize", str(files / "prices.csv"), "--objective", "max-sharpe", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    assert main(["optimize", str(files / "prices.csv"), "--plot", str(files / "q.png")]) == 2
    assert "pip install 'microalloc[plot]'" in capsys.readouterr().err and not (files / "q.png").exists()


@pytest.mark.parametrize("extra, words", [
    (["--sector-cap", "0.3"], "needs --sectors"),
    (["--sectors", "SECTORS", "--sector-cap", "retail=0.3"], "unknown sector"),
    (["--sectors", "SECTORS", "--sector-cap", "lots"], "expected a number"),
    (["--costs", "10"], "go together"),
    (["--costs", "10", "--current", "CURRENT", "--objective", "max-sharpe"], "takes no trading costs"),
    (["--factors", "2", "--estimator", "ewma"], "drop --estimator"),
    (["--factors", "9"], "--factors"),
    (["--objective", "erc", "--sectors", "SECTORS"], "per-asset caps only"),
])
def test_bad_combinations_exit_2_with_a_message(extras, extra, words, capsys):
    extra = [str(extras / "sectors.csv") if a == "SECTORS" else str(extras / "current.csv") if a == "CURRENT" else a
             for a in extra]
    assert main(["optimize", str(extras / "prices.csv"), *extra]) == 2
    assert words in capsys.readouterr().err
