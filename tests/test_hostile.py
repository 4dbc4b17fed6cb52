"""Every public function, driven with hostile arguments: one argument at a time is corrupted (NaN,
infinities, empty, 0-d, ragged, strings, objects, complex, bool, wrong shapes, 1e300 / 1e-300
scales, foreign or shuffled pandas labels, bad scalars such as 0, -1, NaN, inf, True, "5", 2**40,
None) in an otherwise valid call.

The outcome must be either a result that is right (every number finite unless its status documents
NaN, budget and bounds holding within 1e-8 of the problem's scale, statuses that are Status members)
or an ``InputError`` whose ``.argument`` is the corrupted parameter, with a short message free of
numpy reprs. Shuffled labels, lists and Covariance objects are the same data spelled differently:
they must give the same result as the plain call. Anything else (TypeError, ZeroDivisionError,
MemoryError, a pybind11 signature error, a wrong ``.argument``, non-finite numbers under OPTIMAL)
fails. The table of functions, parameters and hostile values is in ``hostile_cases.py``.

Examples per (function, parameter): ``HOSTILE_EXAMPLES`` (default 12, deterministic). A larger
sweep that counts every outcome instead of stopping at the first failure:
``PYTHONPATH=python python tests/test_hostile.py 40`` (examples per case).
"""

from __future__ import annotations

import collections
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_cases import CASES, SPEC_BY_NAME, classify, draw_case

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "12"))

HOSTILE_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("function, param", CASES, ids=[f"{f}-{p}" for f, p in CASES])
@HOSTILE_SETTINGS
@given(data=st.data())
def test_hostile_argument(function, param, data):
    spec = SPEC_BY_NAME[function]
    hostile, bad, base, p = draw_case(spec, param, data.draw)
    outcome = classify(spec, param, hostile, bad, p, base)
    assert outcome.ok, f"{function}({param}: {hostile.name}) -> {outcome.kind}: {outcome.detail}"


def sweep(examples: int) -> dict:
    """Every case with ``examples`` hostile calls, counting outcomes instead of stopping."""
    import signal

    counts: collections.Counter = collections.Counter()
    failures: dict = collections.defaultdict(set)

    def on_alarm(signum, frame):  # a hang is a finding, not a reason to stop the sweep
        raise TimeoutError("no answer after 30 s")

    signal.signal(signal.SIGALRM, on_alarm)
    for function, param in CASES:
        spec = SPEC_BY_NAME[function]

        @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def one(data):
            hostile, bad, base, p = draw_case(spec, param, data.draw)
            signal.alarm(30)
            try:
                outcome = classify(spec, param, hostile, bad, p, base)
            except TimeoutError as e:
                from hostile_cases import Outcome

                outcome = Outcome("hang", str(e))
            finally:
                signal.alarm(0)
            counts["calls"] += 1
            counts[outcome.kind] += 1
            if not outcome.ok:
                failures[(function, param, hostile.name, outcome.kind)].add(outcome.detail[:240])

        one()
    return {"counts": counts, "failures": failures}


if __name__ == "__main__":
    out = sweep(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
    print(dict(out["counts"]))
    for (function, param, hostile, kind), details in sorted(out["failures"].items()):
        print(f"{function} | {param} | {hostile} | {kind} | {len(details)} | {sorted(details)[0]}")
