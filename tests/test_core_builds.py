"""The two builds of the core (baseline and x86-64-v3) give the same certified answers."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import microalloc as ma
from microalloc import _cpu

SCRIPT = r"""
import json, sys
import numpy as np
import microalloc as ma
rng = np.random.default_rng(5)
out = {"isa": ma.CORE_ISA, "runs": []}
for n, lo, up in ((30, 0.0, 1.0), (120, 0.0, 0.05), (300, -0.5, 0.5)):
    b = rng.normal(size=(n, 4)) * 0.15
    s = b @ b.T + np.diag(rng.uniform(0.02, 0.1, n))
    mu = rng.normal(0.06, 0.04, n)
    for m in (mu, None):
        r = ma.solve_mean_variance(s, m, risk_aversion=5.0, lower=lo, upper=up)
        out["runs"].append({"status": r.status.name, "objective": r.objective, "rel_gap": r.rel_gap,
                            "weights": r.weights.tolist()})
# Band checks: the v3 build has its own vectorised row loop (four assets per step, scalar tail).
out["bands"] = []
for n in (1, 3, 4, 7, 50):
    t = rng.dirichlet(np.ones(n))
    t[rng.random(n) < 0.2] = 0.0
    w = t * np.exp(rng.normal(0.0, 0.3, (400, n))) + (t == 0) * rng.choice([0.0, 0.01], (400, n))
    h = np.minimum(0.03, 0.25 * t)
    h[t == 0] = 0.0
    w[::7] = t + h  # exactly on the upper edges: inside
    c = ma.check_bands(w, t, absolute=0.03, relative=0.25)
    out["bands"].append({"breach": c.breach.tolist(), "n_breaches": c.n_breaches.tolist(),
                         "max_drift": c.max_drift.tolist(), "l1_drift": c.l1_drift.tolist()})
# Frontiers with exact ties: a duplicated asset (another share class of asset 0, its expected
# return shifted by gap) enters at tau = 0 exactly, which rounding (FMA or not) must not decide.
out["frontiers"] = []
for seed in (3, 8):
    r2 = np.random.default_rng(seed)
    n = 6
    f = r2.normal(size=(n, 2)) * 0.2
    s0 = f @ f.T + np.diag(r2.uniform(0.01, 0.04, n))
    mu0 = r2.normal(0.06, 0.03, n)
    s = np.zeros((n + 1, n + 1))
    s[:n, :n] = s0
    s[n, :n] = s[:n, n] = s0[0]
    s[n, n] = s0[0, 0]
    for gap in (0.01, -0.01, 0.0):
        for cap in (1.0, 0.3, 0.2):
            fr = ma.efficient_frontier(s, np.append(mu0, mu0[0] + gap), upper=cap)
            out["frontiers"].append({"gap": gap, "cap": cap, "status": fr.status.name, "tau": list(fr._tau),
                                     "weights": np.asarray(fr.weights).tolist()})
print(json.dumps(out))
"""


def _run(isa: str) -> dict:
    env = dict(os.environ, MICROALLOC_ISA=isa)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def test_the_loaded_build_matches_the_cpu():
    assert ma.CORE_ISA in ("baseline", "x86-64-v3")
    if not _cpu.has_x86_64_v3():
        assert ma.CORE_ISA == "baseline"


def test_baseline_and_v3_builds_agree():
    base = _run("baseline")
    assert base["isa"] == "baseline"
    if not _cpu.has_x86_64_v3():
        pytest.skip("this CPU cannot run the x86-64-v3 build")
    try:
        v3 = _run("x86-64-v3")
    except subprocess.CalledProcessError as exc:  # not built here (another compiler or architecture)
        pytest.skip(f"x86-64-v3 build unavailable: {exc.stderr.strip().splitlines()[-1]}")
    assert v3["isa"] == "x86-64-v3"
    for a, b in zip(base["runs"], v3["runs"], strict=True):
        assert a["status"] == b["status"] == "OPTIMAL"
        assert max(a["rel_gap"], b["rel_gap"]) <= 1e-9
        scale = max(abs(a["objective"]), 1e-12)
        assert abs(a["objective"] - b["objective"]) <= 1e-9 * scale
        np.testing.assert_allclose(a["weights"], b["weights"], rtol=0, atol=1e-6)
    for a, b in zip(base["bands"], v3["bands"], strict=True):
        assert a["breach"] == b["breach"] and a["n_breaches"] == b["n_breaches"]
        assert sum(map(sum, a["breach"])) > 0 and sum(a["n_breaches"]) < len(a["breach"]) * len(a["breach"][0])
        assert a["max_drift"] == b["max_drift"]  # the same products, only the order of the max differs
        np.testing.assert_allclose(a["l1_drift"], b["l1_drift"], rtol=1e-14, atol=1e-16)


def test_baseline_and_v3_frontiers_agree_on_exact_ties():
    """Both builds give the same turning points when a duplicated asset ties exactly at the start, and
    both start from the higher-return twin (no move along the pair, which leaves the risk unchanged,
    raises the expected return)."""
    if not _cpu.has_x86_64_v3():
        pytest.skip("this CPU cannot run the x86-64-v3 build")
    base = _run("baseline")
    try:
        v3 = _run("x86-64-v3")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"x86-64-v3 build unavailable: {exc.stderr.strip().splitlines()[-1]}")
    assert len(base["frontiers"]) == len(v3["frontiers"]) == 18
    for a, b in zip(base["frontiers"], v3["frontiers"], strict=True):
        assert a["status"] == b["status"] == "OPTIMAL"
        assert len(a["tau"]) == len(b["tau"]), (a["gap"], a["cap"], a["tau"], b["tau"])
        np.testing.assert_allclose(a["tau"], b["tau"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a["weights"], b["weights"], rtol=0, atol=1e-9)
        for run in (a, b):
            w0 = np.asarray(run["weights"][0])
            cap, gap = run["cap"], run["gap"]
            room = min(cap - w0[6], w0[0]) if gap > 0 else min(cap - w0[0], w0[6]) if gap < 0 else 0.0
            assert room <= 1e-12, (run["gap"], run["cap"], w0)


def test_an_unknown_isa_request_is_refused():
    env = dict(os.environ, MICROALLOC_ISA="avx9000")
    proc = subprocess.run([sys.executable, "-c", "import microalloc"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "MICROALLOC_ISA" in proc.stderr
