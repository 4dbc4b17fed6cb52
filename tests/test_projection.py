"""Projection onto {lower <= x <= upper, sum(x) = budget} against an independent reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma


def reference_projection(y, lo, up, budget):
    """Independent reference: bisection on nu to adjacent floats, then the closed form on the free set."""
    y, lo, up = (np.asarray(a, dtype=float) for a in (y, lo, up))
    phi = lambda nu: np.clip(y - nu, lo, up).sum() - budget  # noqa: E731
    a, b = -1.0, 1.0
    # Bracket the root; the doublings are capped because with sum(upper) (or sum(lower)) equal to
    # the budget up to rounding phi never changes sign, and the widest finite bracket then serves.
    for _ in range(1000):
        if phi(a) >= 0:
            break
        a *= 2
    for _ in range(1000):
        if phi(b) <= 0:
            break
        b *= 2
    lo_nu, hi_nu = a, b
    for _ in range(2000):
        mid = 0.5 * (lo_nu + hi_nu)
        if mid in (lo_nu, hi_nu):
            break
        if phi(mid) > 0:
            lo_nu = mid
        else:
            hi_nu = mid
    nu = 0.5 * (lo_nu + hi_nu)
    x = np.clip(y - nu, lo, up)
    free = (y - nu > lo) & (y - nu < up)
    if free.any():
        nu = (y[free].sum() + x[~free].sum() - budget) / free.sum()
        x = np.clip(y - nu, lo, up)
    return x


def assert_is_projection(x, y, lo, up, budget, atol=1e-12):
    scale = max(1.0, abs(budget), float(np.abs(y).max()))
    assert np.all(x >= lo) and np.all(x <= up)  # clipping is exact
    assert abs(x.sum() - budget) <= atol * scale * len(x)
    # Optimality: x = clip(y - nu) for one scalar nu. Free coordinates share y - x = nu; at a lower
    # bound y - x <= nu, at an upper bound y - x >= nu.
    r = y - x
    free = (x > lo) & (x < up)
    if free.any():
        nu = r[free].mean()
        assert np.ptp(r[free]) <= 1e-11 * scale
        movable = lo < up
        assert np.all(r[(x == lo) & movable] <= nu + 1e-11 * scale)
        assert np.all(r[(x == up) & movable] >= nu - 1e-11 * scale)


finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False)


@st.composite
def box_problems(draw, max_n=40, allow_inf=True):
    n = draw(st.integers(1, max_n))
    y = np.array(draw(st.lists(finite, min_size=n, max_size=n)))
    if draw(st.booleans()):  # ties
        y = np.round(y)
    lo = np.array(draw(st.lists(st.floats(-2, 1), min_size=n, max_size=n)))
    width = np.array(draw(st.lists(st.floats(0, 3), min_size=n, max_size=n)))
    up = lo + width
    if allow_inf and draw(st.booleans()):
        up[draw(st.integers(0, n - 1))] = np.inf
    if allow_inf and draw(st.booleans()):
        lo[draw(st.integers(0, n - 1))] = -np.inf
    slo, sup = lo.sum(), up.sum()
    t = draw(st.floats(0, 1))
    if np.isfinite(slo) and np.isfinite(sup):
        budget = slo + t * (sup - slo)
    elif np.isfinite(slo):
        budget = slo + 10 * t
    elif np.isfinite(sup):
        budget = sup - 10 * t
    else:
        budget = 10 * t - 5
    return y, lo, up, float(budget)


@given(box_problems())
def test_projection_matches_reference_and_is_optimal(problem):
    y, lo, up, budget = problem
    x = ma.project_box_budget(y, lo, up, budget)
    assert_is_projection(x, y, lo, up, budget)
    ref = reference_projection(y, lo, up, budget)
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-10 * max(1, np.abs(y).max()))


@given(box_problems())
def test_projection_is_idempotent(problem):
    y, lo, up, budget = problem
    x = ma.project_box_budget(y, lo, up, budget)
    x2 = ma.project_box_budget(x, lo, up, budget)
    np.testing.assert_allclose(x2, x, rtol=0, atol=1e-12 * max(1, np.abs(x).max()))


@given(st.integers(1, 60), st.floats(0.1, 10), st.integers(0, 2**31 - 1))
def test_simplex_fast_path_matches_reference(n, budget, seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n) * rng.choice([0.01, 1, 100])
    x = ma.project_box_budget(y, 0.0, np.inf, budget)
    assert_is_projection(x, y, np.zeros(n), np.full(n, np.inf), budget)
    np.testing.assert_allclose(x, reference_projection(y, np.zeros(n), np.full(n, np.inf), budget), atol=1e-10 * max(1, np.abs(y).max()))


def test_projection_known_values():
    # Worked by hand: nu = 0.15 frees the first two coordinates, the third is capped at 0.6.
    x = ma.project_box_budget(np.array([0.5, 0.2, 0.9, -1.0]), 0.0, 0.6, 1.0)
    np.testing.assert_allclose(x, [0.35, 0.05, 0.6, 0.0], atol=1e-15)
    # Already feasible points are fixed points.
    w = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(ma.project_box_budget(w), w)


def test_projection_degenerate_sets_return_the_single_point():
    lo = np.array([0.1, 0.2, 0.3])
    up = np.array([0.5, 0.5, 0.5])
    np.testing.assert_allclose(ma.project_box_budget(np.array([3.0, -1.0, 0.0]), lo, up, 0.6), lo, atol=1e-15)
    np.testing.assert_allclose(ma.project_box_budget(np.array([3.0, -1.0, 0.0]), lo, up, 1.5), up, atol=1e-15)


def test_projection_all_ties_large_n():
    n = 100_000
    y = np.full(n, 0.3)
    x = ma.project_box_budget(y, 0.0, 1.0, 1.0)
    # x = y - tau loses eps * |y| absolutely to cancellation; nothing more is lost.
    np.testing.assert_allclose(x, 1.0 / n, rtol=0, atol=4 * np.finfo(float).eps * 0.3)
    assert abs(x.sum() - 1.0) <= 4 * n * np.finfo(float).eps * 0.3  # each x_i is within eps*|y| of exact


def test_projection_large_n_with_caps():
    rng = np.random.default_rng(3)
    n = 100_000
    y = 1.0 / n + rng.normal(scale=1e-5, size=n)
    up = np.full(n, 3.0 / n)
    x = ma.project_box_budget(y, 0.0, up, 1.0)
    assert_is_projection(x, y, np.zeros(n), up, 1.0, atol=1e-15)
    np.testing.assert_allclose(x, reference_projection(y, np.zeros(n), up, 1.0), rtol=0, atol=1e-15)


def test_projection_unbounded_is_a_shift():
    y = np.array([1.0, 2.0, 4.0])
    x = ma.project_box_budget(y, -np.inf, np.inf, 1.0)
    np.testing.assert_allclose(x, y - 2.0, atol=1e-15)


@pytest.mark.parametrize(
    "lo, up, budget, argument",
    [
        (0.5, 1.0, 1.0, "lower"),  # sum(lower) = 1.5 > 1
        (0.0, 0.2, 1.0, "upper"),  # sum(upper) = 0.6 < 1
        (np.array([0.0, 0.6, 0.0]), np.array([1.0, 0.5, 1.0]), 1.0, "lower"),  # lower > upper
    ],
)
def test_projection_infeasible_bounds_raise(lo, up, budget, argument):
    with pytest.raises(ma.InfeasibleError) as exc:
        ma.project_box_budget(np.zeros(3), lo, up, budget)
    assert exc.value.argument == argument
    assert isinstance(exc.value, ValueError)


def test_projection_rejects_nan_and_bad_shapes():
    with pytest.raises(ma.NonFiniteError, match="^y:"):
        ma.project_box_budget(np.array([0.1, np.nan]))
    with pytest.raises(ma.ShapeError, match="^y:"):
        ma.project_box_budget(np.zeros((2, 2)))
    with pytest.raises(ma.ShapeError, match="^lower:"):
        ma.project_box_budget(np.zeros(3), np.zeros(2))
    with pytest.raises(ma.NonFiniteError, match="^upper:"):
        ma.project_box_budget(np.zeros(2), 0.0, np.array([1.0, np.nan]))


@settings(max_examples=30)
@given(st.integers(2, 30), st.integers(0, 2**31 - 1))
def test_projection_is_the_closest_feasible_point(n, seed):
    """Variational inequality: (y - x)'(z - x) <= 0 for every feasible z (checked on random ones)."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    up = rng.uniform(0.05, 1.0, size=n)
    up *= max(1.0, 1.2 / up.sum())
    x = ma.project_box_budget(y, 0.0, up, 1.0)
    for _ in range(20):
        z = ma.project_box_budget(rng.normal(size=n) * 3, 0.0, up, 1.0)
        assert (y - x) @ (z - x) <= 1e-12


def test_an_empty_y_is_named():
    with pytest.raises(ma.ShapeError) as info:
        ma.project_box_budget([], lower=np.zeros(2), upper=np.ones(2))
    assert info.value.argument == "y"


def test_huge_y_meets_the_budget_and_the_bounds():
    """y of size 1e298 against bounds of size 1: y_i - nu keeps none of the bounds' digits, and
    an entry's two breakpoints round to one number. The result must still meet the budget and the
    bounds (the same projection, of y shifted by a constant)."""
    lo, up = np.array([0.2, 0.2]), np.array([0.9, 0.9])
    # the larger entry is free at 1 - 0.2 = 0.8, the other at its lower bound
    np.testing.assert_allclose(ma.project_box_budget(np.array([3e298, 1e298]), lo, up), [0.8, 0.2], rtol=1e-15)
    np.testing.assert_allclose(ma.project_box_budget(np.array([-1e300, 1e300]), lo, up), [0.2, 0.8], rtol=1e-15)
    # the projection does not change when a constant is added to y: equal huge entries split evenly
    np.testing.assert_allclose(ma.project_box_budget(np.full(3, 7e250), np.zeros(3), np.ones(3)), np.full(3, 1 / 3))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 8), st.integers(0, 2**32 - 1), st.integers(0, 300))
def test_any_scale_of_y_meets_the_budget_and_the_bounds_or_is_refused(n, seed, exponent):
    rng = np.random.default_rng(seed)
    lo = rng.uniform(0, 0.2, n)
    up = lo + rng.uniform(0.05, 0.9, n)
    up[-1] = max(up[-1], 1.0)  # feasible: sum(lo) <= 1 <= sum(up)
    lo *= 0.9 / max(lo.sum(), 0.9)
    y = rng.normal(size=n) * 10.0**exponent
    try:
        x = ma.project_box_budget(y, lo, up, 1.0)
    except ma.InputError as e:
        assert e.argument == "y"
        return
    assert abs(x.sum() - 1.0) <= 1e-12
    assert (x >= lo).all() and (x <= up).all()
    if exponent <= 3:  # at ordinary scales, the independent reference
        np.testing.assert_allclose(x, reference_projection(y, lo, up, 1.0), atol=1e-12)


def test_y_beyond_the_scale_limit_is_refused():
    with pytest.raises(ma.InputError) as info:
        ma.project_box_budget(np.array([1e305, 0.0]))
    assert info.value.argument == "y"
