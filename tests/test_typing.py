"""The types: mypy passes on the package (with the pyproject.toml configuration), on the README's
Python examples, and refuses deliberate misuses (the public signatures are typed, not ``Any``).

mypy runs three times on a cache shared by the three tests (in a temporary directory): the
package first, then the README's examples and the misuses, which import it (their runs reuse
what the first cached).
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

# about 35 s: mypy checks the package from a cold cache
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONFIG = ROOT / "pyproject.toml"

# The README's examples are fragments: they use names that earlier examples or the prose define
# (``cov``, ``mu``, a benchmark ``b``, ...). Each example is checked as a module of its own that
# declares those names with the types below. A new name in the README fails the test until it is
# declared here.
PRELUDE = """\
from __future__ import annotations
from typing import Any
import numpy as np
import numpy.typing as npt
import pandas as pd
import microalloc
import microalloc as ma
"""
_VEC = "npt.NDArray[np.float64]"
NAMES = {
    # vectors and matrices of floats
    **dict.fromkeys(
        ["cov", "mu", "b", "w", "w0", "weights", "W", "targets", "returns", "units", "alphas", "te", "corr",
         "active_cov", "rp", "rb", "budgets", "A", "values", "adv_shares", "daily_vol", "X", "F", "d", "MU",
         "period_returns", "a_max"],
        _VEC,
    ),
    "prices": "pd.DataFrame",  # a DataFrame, as the estimation example has it (ArrayLike everywhere)
    "price_history": "pd.DataFrame",
    "res": "ma.MeanVarianceResult",  # the first example's solve
    "sectors": "list[str]",  # a group label per asset
    "caps": "dict[str, float]",  # group label -> limit
    # Spark's session and a Spark DataFrame: not dependencies of the package
    "spark": "Any",
    "holdings_sdf": "Any",
}
# Modules an example imports that the package does not depend on: typed as Any by a stub.
ANY_MODULES = ["ray"]

# Deliberate misuses, each line marked with the error code mypy must report on it; the unmarked
# lines are correct uses that must pass.
MISUSE = PRELUDE + f"""
cov: {_VEC}
mu: {_VEC}
ma.solve_mean_variance(cov, mu, risk_aversion="high")  # E: arg-type
ma.solve_mean_variance(cov, mu, risk_aversion=4.0, upper=0.05)
ma.solve_mean_variance(cov, mu, riskaversion=4.0)  # E: call-arg
ma.solve_mean_variance(cov, mu, constraints={{"upper": 0.05}})  # E: arg-type
ma.solve_mean_variance_batch(cov, mu, threads=2.5)  # E: arg-type
ma.efficient_frontier(cov, mu, progress=42)  # E: arg-type
ma.efficient_frontier(cov, mu, progress=lambda done, total: None)
ma.max_return(cov, mu, target_volatility="15%")  # E: arg-type
ma.Constraints(upper=0.05, turnover="a lot")  # E: arg-type
ma.risk_contributions(ma.Covariance(cov), mu, threads=None)
ma.risk_contributions(ma.FactorCovariance.from_returns(cov, 3), mu)
ma.risk_contributions("cov.csv", mu, check_psd="yes")  # E: arg-type
res: ma.MeanVarianceResult = ma.solve_mean_variance(cov, mu).raise_for_status()
front: ma.Frontier = ma.solve_mean_variance(cov, mu).raise_for_status()  # E: assignment
vol: float = ma.solve_mean_variance(cov, mu).volatility
name: str = ma.solve_mean_variance(cov, mu).method
code: str = ma.solve_mean_variance(cov, mu).iterations  # E: assignment
"""

_ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def _mypy(cache: Path, *args: str, stubs: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if stubs is not None:
        env["MYPYPATH"] = str(stubs)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(CONFIG), "--cache-dir", str(cache),
         "--no-color-output", "--no-error-summary", "--show-error-codes", *args],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy_cache")


def readme_blocks() -> list[tuple[int, str]]:
    """(line, code) of each ```python block of the README."""
    text = README.read_text()
    return [(text[: m.start()].count("\n") + 2, m.group(1))
            for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)]


def _free_names(code: str) -> set[str]:
    """Names an example reads and neither binds nor imports (nor are builtins or the prelude's)."""
    tree = ast.parse(code)
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).partition(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return read - bound - set(dir(builtins)) - {"np", "npt", "pd", "microalloc", "ma", "Any"}


def test_the_package_passes_mypy(cache: Path) -> None:
    proc = _mypy(cache)  # the files of [tool.mypy]: the package
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_readme_examples_pass_mypy(cache: Path, tmp_path: Path) -> None:
    blocks = readme_blocks()
    assert len(blocks) >= 10, "the README's ```python blocks were not found"
    stubs = tmp_path / "stubs"
    for module in ANY_MODULES:
        (stubs / module).mkdir(parents=True)
        (stubs / module / "__init__.pyi").write_text("from typing import Any\ndef __getattr__(name: str) -> Any: ...\n")
    files, where = [], {}
    for line, code in blocks:
        free = _free_names(code)
        unknown = free - set(NAMES)
        assert not unknown, f"README.md:{line}: declare the type of {sorted(unknown)} in NAMES of {__file__}"
        declared = "".join(f"{n}: {NAMES[n]}\n" for n in sorted(free))
        head = PRELUDE + declared
        path = tmp_path / f"readme_line_{line}.py"
        path.write_text(head + code)
        files.append(str(path))
        where[path.name] = (line, head.count("\n"))
    proc = _mypy(cache, *files, stubs=stubs)
    # each error pointed back at the README's line
    errors = []
    for text in proc.stdout.splitlines():
        m = re.match(r"^(?:.*/)?(readme_line_\d+\.py):(\d+): (.*)$", text)
        if m:
            line, offset = where[m.group(1)]
            errors.append(f"README.md:{line + int(m.group(2)) - offset - 1}: {m.group(3)}")
        else:
            errors.append(text)
    assert proc.returncode == 0, "\n".join(errors) + proc.stderr


def test_mypy_refuses_misuses(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "misuse.py"
    path.write_text(MISUSE)
    expected = {i: m.group(1) for i, text in enumerate(MISUSE.splitlines(), start=1)
                if (m := re.search(r"# E: ([a-z-]+)$", text))}
    proc = _mypy(cache, str(path))
    found: dict[int, set[str]] = {}
    for text in proc.stdout.splitlines():
        m = _ERROR.match(text)
        if m and Path(m.group("path")).name == path.name:
            found.setdefault(int(m.group("line")), set()).add(m.group("code"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert {k: {v} for k, v in expected.items()} == found, proc.stdout
