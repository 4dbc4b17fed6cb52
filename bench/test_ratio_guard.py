"""CI guard of the dense paths' speed: for each main case, microalloc's time over a numpy reference
timed in the same run must stay within 2x of the ratio committed in bench/ratios.json.

Runs in the short benchmark run of CI (``python -m pytest bench --benchmark-disable``); it times
with its own paired loops in a fresh process per case (bench/_ratios.py), not with
pytest-benchmark, so it is skipped by
``--benchmark-only`` runs. A case over the limit is measured a second time and fails only if both
measurements are over. ``MICROALLOC_RATIO_GUARD=0`` skips it (e.g. under a profiler or coverage).
Regenerate the committed ratios with ``python bench/_ratios.py --update``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest


def _load_ratios_module():
    mod = sys.modules.get("_bench_ratios")
    if mod is None:
        spec = importlib.util.spec_from_file_location("_bench_ratios", Path(__file__).with_name("_ratios.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules["_bench_ratios"] = mod
        spec.loader.exec_module(mod)
    return mod


rg = _load_ratios_module()

pytestmark = pytest.mark.skipif(os.environ.get("MICROALLOC_RATIO_GUARD", "1") == "0",
                                reason="MICROALLOC_RATIO_GUARD=0")


@pytest.fixture(scope="module")
def committed() -> dict:
    assert rg.RATIOS_FILE.exists(), f"{rg.RATIOS_FILE} is missing: regenerate it with `{rg.UPDATE_COMMAND}`"
    return rg.load()


@pytest.mark.parametrize("case", list(rg.CASES))
def test_speed_ratio(case, committed):
    assert case in committed["cases"], f"no committed ratio for {case!r}: regenerate with `{rg.UPDATE_COMMAND}`"
    old = committed["cases"][case]
    limit = float(committed.get("limit", rg.LIMIT))
    runs = [rg.measure_isolated(case)]
    if runs[0]["ratio"] > limit * old["ratio"]:  # confirm: one slow stretch of the machine is not a regression
        runs.append(rg.measure_isolated(case))
    now = min(runs, key=lambda r: r["ratio"])
    rg.RESULTS.append((case, now["ratio"], old["ratio"], now["reference"]))  # printed by conftest's summary
    m = committed.get("machine", {})
    assert now["ratio"] <= limit * old["ratio"], (
        f"{case}: microalloc takes {now['ratio']:.4g} x {now['reference']} in this run "
        f"({now['microalloc_s'] * 1e6:.4g} µs vs {now['reference_s'] * 1e6:.4g} µs), against {old['ratio']:.4g} x "
        f"committed on {m.get('cpu', '?')} ({committed.get('generated', '?')}): "
        f"{now['ratio'] / old['ratio']:.2f} x slower, limit {limit:g} x. If the change is intended, regenerate "
        f"the ratios with `{rg.UPDATE_COMMAND}`."
    )

