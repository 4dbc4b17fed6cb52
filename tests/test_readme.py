"""Every example in the README runs: the Python fragments in order, in one namespace, and the
command lines that work on a user's own files, in a temporary directory.

The fragments take a few names as given (the weights ``W`` of some accounts, a benchmark ``b``,
sector labels, ...); ``_given`` defines them on the shipped data, at the sizes the README's
shapes imply. What does not run here is listed in ``NOT_RUN`` with the reason, and the test checks
that list against the README, so a new example cannot be skipped silently.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: blocks not run, by a phrase they contain: why
NOT_RUN = {
    "pip install . && python -m microalloc demo": "the set-up command: CI runs the install, test_cli runs the demo",
    'pip install ".[test]" && python -m pytest': "the test command itself (.ci/run)",
    "MICROALLOC_ISA=baseline python -m pytest  # the suite": "the suite and the sanitizers (.ci/run, .ci/sanitize)",
    "pip install \".[bench]\"\nMICROALLOC_BENCH_FULL=1": "the benchmarks' full mode (minutes; short mode runs in CI)",
    "microalloc nightly holdings/": "a remote scheduler's address; test_dask runs the nightly command end to end",
    "import glob, ray": "Ray and Spark recipes: neither is a dependency",
    "pip install scikit-build-core": "the developer set-up (the CI install does the same)",
}


def _blocks() -> list[tuple[str, int, str]]:
    """(language, line, code) of every fenced block."""
    out, lines = [], README.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if m:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            out.append((m.group(1), i + 1, "\n".join(lines[i + 1 : j])))
            i = j
        i += 1
    return out


def _skipped(code: str) -> str | None:
    return next((why for phrase, why in NOT_RUN.items() if phrase in code), None)


def test_every_phrase_of_the_not_run_list_names_a_block():
    codes = [code for _, _, code in _blocks()]
    for phrase in NOT_RUN:
        assert sum(phrase in c for c in codes) >= 1, phrase


def _given() -> dict:
    """The names the fragments take as given, on the shipped data (12 industries)."""
    import pandas as pd

    import microalloc

    rng = np.random.default_rng(0)
    n = 12
    data = microalloc.load_industry_returns()
    names = list(data.names)
    te = rng.uniform(0.03, 0.05, 6)
    corr = np.full((6, 6), 0.2) + 0.8 * np.eye(6)
    prices = np.linspace(20.0, 200.0, n)
    W = rng.dirichlet(np.ones(n), size=5)
    k, n_big = 20, 500
    X = rng.normal(size=(n_big, k)) * 0.2
    sectors = ["Tech", "Energy", "Utilities", "Other"] * 3
    dates = pd.date_range("2020-01-01", periods=300, freq="B")
    return dict(
        microalloc=microalloc, np=np, b=np.full(n, 1.0 / n), weights=np.full(n, 1.0 / n),
        alphas=rng.uniform(0.009, 0.0225, 6), te=te, corr=corr, active_cov=corr * np.outer(te, te),
        budgets=np.full(n, 1.0 / n), rp=data.returns[-60:, 0], rb=data.returns[-60:].mean(axis=1),
        W=W, targets=np.full(n, 1.0 / n), period_returns=data.returns[-1], units=np.full(n, 100.0), prices=prices,
        sectors=sectors, caps={"Tech": 0.4, "Energy": 0.3}, A=np.ones((1, n)) / n, a_max=np.array([0.2]),
        w0=np.full(n, 1.0 / n), values=np.full(5, 25_000.0), adv_shares=np.full(n, 1e6),
        daily_vol=np.full(n, 0.02), X=X, F=np.eye(k) * 0.01, d=rng.uniform(0.01, 0.05, n_big),
        MU=rng.normal(0.06, 0.04, size=(1_000, n_big)),
        price_history=pd.DataFrame(100 * np.cumprod(1 + rng.normal(0, 0.01, (300, n)), axis=0), index=dates,
                                   columns=names),
    )


def test_the_python_examples_run_in_order(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # files the examples write (frontier.png) land here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    ns = _given()
    ran = 0
    try:
        for lang, line, code in _blocks():
            if lang != "python" or _skipped(code):
                continue
            with warnings.catch_warnings():
                # the Dask example's local cluster: its sockets close after the test's own check
                warnings.filterwarnings("ignore", category=ResourceWarning)
                warnings.filterwarnings("ignore", message=".*[Pp]ort.*is already in use")
                exec(compile(code, f"README.md:{line}", "exec"), ns)  # noqa: S102 - the README's own code
            ran += 1
    finally:
        client = ns.get("client")
        if client is not None:
            cluster = client.cluster
            client.close()
            cluster.close()
    assert ran >= 14
    assert (tmp_path / "frontier.png").is_file()
    full = ns["full"]  # the Dask example's gathered batch
    assert full.is_optimal.all() and np.isfinite(np.asarray(full.weights)).all()


def _commands(code: str) -> list[str]:
    """The lines of a shell block, continuation lines joined, ``microalloc`` run by this Python."""
    text = code.replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.split("  #")[0].strip()
        if line.startswith("microalloc "):
            line = f"{shlex.quote(sys.executable)} -m {line}"
        if line:
            out.append(line)
    return out


def test_the_command_line_examples_run(tmp_path):
    pytest.importorskip("pyarrow")
    import microalloc

    home = Path(microalloc.__file__).resolve().parents[1]  # the package this test imports: installed, or the tree
    shutil.copytree(ROOT / "tests" / "data", tmp_path / "tests" / "data")
    ran = 0
    for lang, line, code in _blocks():
        if lang != "bash" or _skipped(code):
            continue
        for cmd in _commands(code):
            done = subprocess.run(cmd, shell=True, cwd=tmp_path, capture_output=True, text=True,
                                  env={"PYTHONPATH": str(home), "PATH": "/usr/bin:/bin",
                                       "MPLBACKEND": "Agg"})
            assert done.returncode == 0, (f"README.md:{line}", cmd, done.stderr[-2000:])
            ran += 1
    assert ran >= 7
    assert (tmp_path / "weights.csv").is_file() and (tmp_path / "frontier.png").is_file()
