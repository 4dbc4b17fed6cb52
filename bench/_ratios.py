"""Speed guard of the main dense paths: microalloc's time over a numpy reference timed in the same
run, compared with the ratios committed in bench/ratios.json (see bench/README.md).

Each case pairs a microalloc call with a numpy reference on the same data (``S @ w`` on the same
matrix, or one pass of numpy over the same batch). Both run on one thread (microalloc's
``threads=1``, BLAS limited to one thread through threadpoolctl when it is installed), in
alternating blocks, in a fresh process per case; the ratio is median(microalloc) /
median(reference) over the blocks, so that a hiccup in a few blocks moves neither median.

Regenerate the committed ratios (on an otherwise idle machine) with

    python bench/_ratios.py --update          # writes bench/ratios.json

and print the ratios of this machine without writing anything with ``python bench/_ratios.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import statistics
import sys
import timeit
from pathlib import Path
from typing import Callable

import numpy as np

RATIOS_FILE = Path(__file__).with_name("ratios.json")
UPDATE_COMMAND = "python bench/_ratios.py --update"
#: fail when microalloc / reference grew by more than this factor over the committed ratio
LIMIT = 2.0
BLOCKS = 21  # alternating blocks of microalloc and reference calls
MIN_BLOCK_S = 0.02  # each block lasts at least this long (the inner loop count is calibrated)
#: (case, ratio measured, ratio committed, reference) of the guard's runs in this process
RESULTS: list[tuple[str, float, float, str]] = []


def _conftest():
    """bench/conftest.py's data factory, loaded by path (also when run as a script)."""
    mod = sys.modules.get("_bench_conftest")
    if mod is None:
        spec = importlib.util.spec_from_file_location("_bench_conftest", Path(__file__).with_name("conftest.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules["_bench_conftest"] = mod
        spec.loader.exec_module(mod)
    return mod


def _solve(n: int, cap: float):
    import microalloc as ma

    cov, mu = _conftest().make_data(n, "factor")
    w = np.full(n, 1.0 / n)
    return (lambda: ma.solve_mean_variance(cov, mu, risk_aversion=5.0, upper=cap),
            lambda: cov @ w, f"numpy S @ w (n={n})")


def _batch():
    import microalloc as ma

    cov, mu = _conftest().make_data(100, "factor")
    mus = mu + 0.02 * np.random.default_rng(7).standard_normal((50, 100))
    w = np.full(100, 0.01)
    return (lambda: ma.solve_mean_variance_batch(cov, mus, risk_aversion=5.0, upper=0.05, threads=1),
            lambda: cov @ w, "numpy S @ w (n=100)")


def _frontier():
    import microalloc as ma

    cov, mu = _conftest().make_data(100, "factor")
    w = np.full(100, 0.01)
    return lambda: ma.efficient_frontier(cov, mu, upper=0.05), lambda: cov @ w, "numpy S @ w (n=100)"


def _decomposition():
    import microalloc as ma

    rng = np.random.default_rng(1)
    s = ma.Covariance(_conftest().make_data(100, "factor")[0])
    w = rng.dirichlet(np.ones(100), size=1000)
    b = rng.dirichlet(np.ones(100))
    alpha = rng.normal(0.0, 0.02, 100)
    m = s.matrix
    return (lambda: ma.risk_contributions(s, w, benchmark=b, mu=alpha, threads=1),
            lambda: w @ m, "numpy W @ S (1000 x 100)")


def _band_check():
    import microalloc as ma

    rng = np.random.default_rng(7)
    t = rng.dirichlet(np.full(50, 5.0))
    w = t * np.exp(rng.normal(0.0, 0.15, (20_000, 50)))
    w /= w.sum(axis=1, keepdims=True)
    return (lambda: ma.check_bands(w, t, absolute=0.03, relative=0.25, threads=1),
            lambda: w.sum(axis=1), "numpy W.sum(axis=1) (20,000 x 50)")


#: case -> builder of (microalloc call, numpy reference, reference's name)
CASES: dict[str, Callable] = {
    "solve n=200 cap=none": lambda: _solve(200, 1.0),
    "solve n=200 cap=0.05": lambda: _solve(200, 0.05),
    "batch 50 x n=100": _batch,
    "frontier n=100": _frontier,
    "risk decomposition 1000 x 100": _decomposition,
    "band check 20000 x 50": _band_check,
}


def _loops(fn: Callable, min_s: float) -> int:
    """Inner loop count so that one block lasts at least min_s (after one warm-up call)."""
    fn()
    timer = timeit.Timer(fn)
    number = 1
    while True:
        if timer.timeit(number) >= min_s or number >= 1 << 20:
            return number
        number *= 2


def measure(case: str, blocks: int = BLOCKS, min_block_s: float = MIN_BLOCK_S) -> dict:
    """Paired timing of one case: median seconds per call of each, and their ratio."""
    target, reference, ref_name = CASES[case]()
    with _conftest().one_blas_thread():
        nt, nr = _loops(target, min_block_s), _loops(reference, min_block_s)
        tt, tr = timeit.Timer(target), timeit.Timer(reference)  # timeit switches gc off while timing
        t_target, t_ref = [], []
        for _ in range(blocks):
            t_target.append(tt.timeit(nt) / nt)
            t_ref.append(tr.timeit(nr) / nr)
    med_t, med_r = statistics.median(t_target), statistics.median(t_ref)
    return {"ratio": med_t / med_r, "microalloc_s": med_t, "reference_s": med_r, "reference": ref_name}


def measure_isolated(case: str) -> dict:
    """measure(case) in a fresh interpreter: the times must not depend on what ran before in the
    process (the allocator's state does: risk_contributions at 1000 x 100 ran 5x faster after a
    batch solve had raised glibc's mmap and trim thresholds)."""
    import subprocess

    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure", case],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"measuring {case!r} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import microalloc as ma

    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "microalloc_core_isa": str(ma.CORE_ISA)}


def load() -> dict:
    return json.loads(RATIOS_FILE.read_text())


def update(repeats: int = 3) -> dict:
    """Measure every case `repeats` times and commit the median ratio of each."""
    cases = {}
    for case in CASES:
        runs = [measure_isolated(case) for _ in range(repeats)]
        best = sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2]
        cases[case] = best
        print(f"{case:32s} {best['ratio']:10.4g}  ({best['microalloc_s'] * 1e6:.4g} µs / {best['reference_s'] * 1e6:.4g} µs)")
    data = {
        "about": "microalloc's median time / a numpy reference's median time, measured together (bench/_ratios.py); "
                 f"CI fails when a case's ratio exceeds {LIMIT:g} x the committed one",
        "command": UPDATE_COMMAND,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "limit": LIMIT,
        "cases": cases,
    }
    RATIOS_FILE.write_text(json.dumps(data, indent=2) + "\n")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help=f"write {RATIOS_FILE.name}")
    ap.add_argument("--measure", metavar="CASE", choices=list(CASES), help="measure one case in this process (JSON)")
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    if args.update:
        update()
        return 0
    committed = load()["cases"] if RATIOS_FILE.exists() else {}
    for case in CASES:
        r = measure_isolated(case)
        old = committed.get(case, {}).get("ratio")
        change = f"{r['ratio'] / old:6.2f}x committed" if old else ""
        print(f"{case:32s} {r['ratio']:10.4g}  {change}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
