"""Results travel between processes (a worker returns them): each kind survives a pickle round trip
with every number and its status unchanged, and a payload changed on the way is refused. Covariance objects: tests/test_covariance_object.py and
tests/test_factor_covariance.py (digests, no re-run of the expensive checks)."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

import microalloc as ma
from microalloc.estimation import portfolio_summary

RNG = np.random.default_rng(7)
N = 6
S = np.cov(RNG.normal(size=(40, N)).T)
MU = RNG.normal(0.05, 0.02, N)


def same(a, b) -> None:
    """Field by field: arrays equal bit for bit (NaN where NaN), the rest by ==."""
    fields = [f.name for f in dataclasses.fields(a)] if dataclasses.is_dataclass(a) else list(vars(a))
    assert fields
    for name in fields:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        elif dataclasses.is_dataclass(x):
            same(x, y)
        elif isinstance(x, float) and np.isnan(x):
            assert np.isnan(y)
        elif not isinstance(x, dict):
            assert x == y, name


@pytest.mark.parametrize("make", [
    lambda: ma.solve_mean_variance(S, MU),
    lambda: ma.solve_mean_variance(S, MU, constraints=ma.Constraints(groups=np.arange(N) % 2, group_upper={0: 0.5},
                                                                   current_weights=np.full(N, 1 / N), costs=0.001)),
    lambda: ma.efficient_frontier(S, MU),
    lambda: ma.max_sharpe(S, MU),
    lambda: ma.min_risk(S, MU, target_return=float(MU.mean())),
], ids=["mean-variance", "rebalance", "frontier", "max-sharpe", "min-risk"])
def test_results_survive_a_pickle_round_trip(make):
    res = make()
    back = pickle.loads(pickle.dumps(res, protocol=pickle.HIGHEST_PROTOCOL))
    assert type(back) is type(res)
    same(res, back)


def test_a_batch_result_survives_a_pickle_round_trip():
    res = ma.solve_mean_variance_batch(S, np.tile(MU, (4, 1)) * np.arange(1, 5)[:, None])
    back = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(back.weights, res.weights)
    np.testing.assert_array_equal(np.asarray(back.status), np.asarray(res.status))


RESULTS = {
    "mean-variance": lambda: ma.solve_mean_variance(S, MU),
    "batch": lambda: ma.solve_mean_variance_batch(S, np.tile(MU, (3, 1))),
    "frontier": lambda: ma.efficient_frontier(S, MU),
    "max-sharpe": lambda: ma.max_sharpe(S, MU),
    "min-risk": lambda: ma.min_risk(S, MU, target_return=float(MU.mean())),
    "risk": lambda: ma.risk_contributions(S, np.full(N, 1 / N)),
    "bands": lambda: ma.check_bands(np.full(N, 1 / N), np.r_[0.3, np.full(N - 1, 0.7 / (N - 1))], absolute=0.02),
    "rebalance": lambda: ma.rebalance_trades(np.full(N, 1 / N), np.r_[0.3, np.full(N - 1, 0.7 / (N - 1))],
                                             absolute=0.02),
    "risk-budgeting": lambda: ma.risk_budgeting(S),
    "summary": lambda: portfolio_summary(RNG.normal(0.0, 0.01, (20, N)), np.full(N, 1 / N), periods_per_year=252,
                                         benchmark=np.r_[0.5, np.full(N - 1, 0.5 / (N - 1))]),
}


@pytest.mark.parametrize("kind", list(RESULTS))
def test_a_result_changed_on_the_way_is_refused(kind):
    """A number of the result changed in the pickle: refused (CorruptPayloadError). Any byte flipped
    anywhere: refused one way or another, or the same result (a flip in the pickle's bookkeeping,
    such as a memo index), never a result with a changed number."""
    res = RESULTS[kind]()
    blob = pickle.dumps(res, protocol=pickle.HIGHEST_PROTOCOL)
    same(res, pickle.loads(blob))
    arrays = [v for v in vars(res).values() if isinstance(v, np.ndarray) and v.size and v.dtype == float]
    arrays += [v for c in vars(res).values() if dataclasses.is_dataclass(c) for v in vars(c).values()
               if isinstance(v, np.ndarray) and v.size and v.dtype == float]
    for a in arrays[:3]:
        value = np.ascontiguousarray(a).reshape(-1)[-1]
        old = np.float64(value).tobytes()
        assert blob.count(old) >= 1
        with pytest.raises(ma.CorruptPayloadError):
            pickle.loads(blob.replace(old, np.float64(value * 1.5 + 1.0).tobytes()))
    rng = np.random.default_rng(len(kind))
    for k in rng.integers(0, len(blob), 40):
        bad = bytearray(blob)
        bad[k] ^= 0x10
        try:
            back = pickle.loads(bytes(bad))
        except Exception:
            continue
        same(res, back)
