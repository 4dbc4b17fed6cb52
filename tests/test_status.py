"""Statuses read as their names, compare equal to them, and are truthy only for OPTIMAL."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import microalloc as ma

S = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.16]])
MU = np.array([0.05, 0.07, 0.10])


def test_a_status_prints_and_formats_as_its_name(capsys):
    res = ma.solve_mean_variance(S, MU)
    print(res.status)
    assert capsys.readouterr().out == "OPTIMAL\n"
    assert str(res.status) == f"{res.status}" == "%s" % res.status == "OPTIMAL"
    assert f"[{res.status:>9}]" == "[  OPTIMAL]" and f"{res.status:<9}|" == "OPTIMAL  |"
    assert repr(res.status) == "Status.OPTIMAL"
    assert json.dumps({"status": res.status}) == '{"status": "OPTIMAL"}'
    assert pickle.loads(pickle.dumps(res.status)) is ma.Status.OPTIMAL


def test_a_status_compares_equal_to_its_name_and_member():
    res = ma.solve_mean_variance(S, MU)
    assert res.status == "OPTIMAL" and res.status == ma.Status.OPTIMAL and res.status is ma.Status.OPTIMAL
    assert res.status != "MAX_ITER" and res.status != ma.Status.MAX_ITER
    assert {res.status: 1}["OPTIMAL"] == 1  # hashes as its name
    assert ma.Status("NOT_CONVEX") is ma.Status.NOT_CONVEX


def test_only_optimal_is_truthy():
    ok = ma.solve_mean_variance(S, MU)
    assert ok.status and bool(ok.status) is True
    stopped = ma.solve_mean_variance(S, MU, method="projected_gradient", max_iter=1)
    assert stopped.status == "MAX_ITER"
    assert not stopped.status and bool(stopped.status) is False
    assert [bool(s) for s in ma.Status] == [s.name == "OPTIMAL" for s in ma.Status]


def test_codes_round_trip_with_the_core():
    from microalloc import _core

    for s in ma.Status:
        assert s.value == s.name
        assert s.code == int(getattr(_core.Status, s.name))
        assert ma.Status(s.code) is s
    with pytest.raises(ValueError):
        ma.Status(99)
    with pytest.raises(ValueError):
        ma.Status(True)


def test_every_result_holds_a_readable_status():
    results = [
        ma.solve_mean_variance(S, MU),
        ma.efficient_frontier(S, MU),
        ma.min_risk(S, MU, 0.07),
        ma.max_return(S, MU, target_volatility=0.25),
        ma.risk_budgeting(S),
        ma.active_portfolio(S, MU, np.full(3, 1 / 3), target_alpha=0.005),
        ma.combine_funds(S, MU),
    ]
    for r in results:
        assert type(r.status) is ma.Status, type(r).__name__
        assert f"{r.status}" == "OPTIMAL" and r.status == "OPTIMAL" and r.status
        assert "status=OPTIMAL" in repr(r)


def test_batch_statuses_print_and_compare_as_names():
    mu_rows = np.tile(MU, (4, 1))
    mu_rows[2, 1] = np.nan  # a bad row: INVALID_INPUT, the others solve
    r = ma.solve_mean_variance_batch(S, mu_rows, threads=2)
    assert str(r.status) == "['OPTIMAL' 'OPTIMAL' 'INVALID_INPUT' 'OPTIMAL']"
    np.testing.assert_array_equal(r.status == "OPTIMAL", [True, True, False, True])
    np.testing.assert_array_equal(r.status == ma.Status.INVALID_INPUT, [False, False, True, False])
    np.testing.assert_array_equal(r.is_optimal, r.status == "OPTIMAL")
    assert r.status_code.dtype == np.int32
    assert [ma.Status(int(c)) for c in r.status_code] == list(r.status)
    assert "INVALID_INPUT" in repr(r)
