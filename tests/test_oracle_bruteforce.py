"""microalloc against a brute-force KKT enumeration (n <= 8), written from scratch in numpy.

The oracle enumerates every assignment of the assets to {at lower, at upper, free} (3^n faces),
solves the equality-constrained QP of each face (its KKT linear system, least squares when the
block is singular), keeps the feasible candidates and takes the smallest objective. Because f is
convex the optimum of the problem lies on one of the faces and is the stationary point of that
face's affine hull, so the smallest feasible candidate is the global minimum f*. Nothing here calls
microalloc to produce an expected value.

Problems are drawn by hypothesis: positive definite covariances (A A' + eps I, correlation-scaled,
volatilities spread over up to four decades), rank-deficient PSD covariances, optional mu, risk
aversion in [0.1, 50], scalar or vector bounds (lower == upper for some assets, negative lower
bounds, sum(upper) == budget), optional benchmark and budgets other than 1. The generation is
always feasible: sum(lower) <= budget <= sum(upper).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import microalloc as ma

# --------------------------------------------------------------------------------------------------
# Problem description and independent evaluation helpers (numpy only)
# --------------------------------------------------------------------------------------------------


from oracle_problem import Problem  # noqa: E402



def objective(p: Problem, w: np.ndarray) -> np.ndarray:
    """f(w) for one weight vector (n,) or a stack of them (k, n)."""
    d = np.atleast_2d(w) - p.b
    val = 0.5 * p.ra * np.einsum("ki,ij,kj->k", d, p.cov, d) - np.atleast_2d(w) @ p.m
    return val if np.ndim(w) == 2 else float(val[0])


def gradient(p: Problem, w: np.ndarray) -> np.ndarray:
    return p.ra * p.cov @ (w - p.b) - p.m


def abs_terms(p: Problem, w: np.ndarray) -> float:
    """Magnitude of the objective's terms, computed with absolute values (a rounding scale)."""
    d = np.abs(w - p.b)
    return float(0.5 * p.ra * d @ np.abs(p.cov) @ d + np.abs(p.m) @ np.abs(w))


def terms(p: Problem, w: np.ndarray) -> float:
    d = w - p.b
    return float(0.5 * p.ra * d @ p.cov @ d + abs(p.m @ w))


def objective_scale(p: Problem, *points: np.ndarray) -> float:
    """|objective terms| at the given points, floored by a fraction of the problem's natural size
    (the optimum can be ~0, e.g. a reachable benchmark)."""
    floor = 1e-4 * p.ra * float(np.mean(np.diag(p.cov))) * max(1.0, p.budget**2)
    floor += 1e-12 * float(np.max(np.abs(p.m))) * max(1.0, abs(p.budget))
    return max([floor] + [abs(objective(p, w)) for w in points] + [terms(p, w) for w in points])


def certificate_gap(g: np.ndarray, w: np.ndarray, lo: np.ndarray, up: np.ndarray, nu: float) -> float:
    """The documented certificate: sum max(r,0)(w-lo) + max(-r,0)(up-w) with r = g + nu."""
    r = g + nu
    return float(np.sum(np.maximum(r, 0.0) * (w - lo) + np.maximum(-r, 0.0) * (up - w)))


# --------------------------------------------------------------------------------------------------
# The brute-force oracle
# --------------------------------------------------------------------------------------------------


@dataclass
class BruteForce:
    f_star: float
    w_star: np.ndarray
    nu_star: float  # budget multiplier of the winning face (grad f + nu 1 = 0 on its free set)
    free: np.ndarray  # free set of the winning face


def brute_force(p: Problem) -> BruteForce:
    """Global minimum by enumeration of all 3^n faces (grouped by free set: one lstsq per free set
    with one right-hand side per assignment of the fixed assets to their bounds)."""
    n = p.n
    S, ra, B = p.cov, p.ra, p.budget
    lo, up = p.lo, p.up
    c = p.m + ra * S @ p.b  # f(w) = (ra/2) w'Sw - c'w + const
    pinned = lo == up  # "at lower", "at upper" and "free" are the same point: enumerate once
    sum_scale = max(1.0, abs(B), float(np.abs(lo).sum()), float(np.abs(up).sum()))
    best = BruteForce(np.inf, np.full(n, np.nan), np.nan, np.empty(0, dtype=int))
    for free_mask in itertools.product((False, True), repeat=n):
        free_mask = np.array(free_mask)
        if np.any(free_mask & pinned):
            continue
        F = np.flatnonzero(free_mask)
        X = np.flatnonzero(~free_mask)
        # Every assignment of the fixed assets to {lower, upper} (pinned ones only once).
        choices = [(lo[i],) if pinned[i] else (lo[i], up[i]) for i in X]
        WX = np.array(list(itertools.product(*choices)), dtype=float)  # (m, |X|)
        if X.size == 0:
            WX = np.empty((1, 0))
        W = np.empty((WX.shape[0], n))
        W[:, X] = WX
        nus = np.zeros(WX.shape[0])
        if F.size:
            k = F.size
            K = np.zeros((k + 1, k + 1))
            K[:k, :k] = ra * S[np.ix_(F, F)]
            K[:k, k] = 1.0
            K[k, :k] = 1.0
            rhs = np.empty((k + 1, WX.shape[0]))
            rhs[:k] = c[F, None] - ra * S[np.ix_(F, X)] @ WX.T
            rhs[k] = B - WX.sum(axis=1)
            # Symmetric Jacobi scaling so that badly scaled volatilities do not upset lstsq.
            dF = 1.0 / np.sqrt(np.diag(K)[:k])
            dd = np.append(dF, 1.0 / np.linalg.norm(dF))
            Ks = dd[:, None] * K * dd[None, :]
            y = np.linalg.lstsq(Ks, dd[:, None] * rhs, rcond=None)[0]
            sol = dd[:, None] * y
            resid = np.abs(K @ sol - rhs).max(axis=0)
            size = np.abs(K).max() * np.abs(sol).max(axis=0) + np.abs(rhs).max(axis=0)
            consistent = resid <= 1e-9 * size  # inconsistent: no stationary point on this face
            W[:, F] = sol[:k].T
            nus = sol[k]
        else:
            consistent = np.ones(WX.shape[0], dtype=bool)
        feasible = (
            consistent
            & np.all(W >= lo - 1e-12, axis=1)
            & np.all(W <= up + 1e-12, axis=1)
            & (np.abs(W.sum(axis=1) - B) <= 1e-12 * sum_scale)
        )
        if not feasible.any():
            continue
        Wf = W[feasible]
        fv = objective(p, Wf)
        j = int(np.argmin(fv))
        if fv[j] < best.f_star:
            best = BruteForce(float(fv[j]), Wf[j].copy(), float(nus[feasible][j]), F)
    assert np.isfinite(best.f_star), "the oracle found no feasible candidate (generation bug)"
    return best


# --------------------------------------------------------------------------------------------------
# Problem generation (hypothesis)
# --------------------------------------------------------------------------------------------------

unit = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False)
sym = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def covariances(draw, n: int, kind: str):
    """kind: "pd" (A A' + eps I), "badly_scaled" (pd with vols over four decades), "psd" (rank < n)."""
    if kind == "psd":
        k = draw(st.integers(1, max(1, n - 1)))
        A = draw(hnp.arrays(float, (n, k), elements=sym))
        A[:, 0] = 0.5 + np.abs(A[:, 0])  # a market factor: no zero variance
        C = A @ A.T
    else:
        k = draw(st.integers(1, n + 2))
        A = draw(hnp.arrays(float, (n, k), elements=sym))
        eps = draw(st.sampled_from([1e-3, 1e-2, 0.1, 1.0]))
        C = A @ A.T + eps * np.eye(n)
    sd = np.sqrt(np.diag(C))
    C = C / np.outer(sd, sd)
    lo_v, hi_v = (-3.0, 1.0) if kind == "badly_scaled" else (-1.5, -0.3)
    log_vol = draw(hnp.arrays(float, n, elements=st.floats(lo_v, hi_v)))
    vol = 10.0**log_vol
    S = vol[:, None] * C * vol[None, :]
    return 0.5 * (S + S.T)


@st.composite
def bounds_and_budget(draw, n: int):
    """(lower, upper, budget) with sum(lower) <= budget <= sum(upper)."""
    kind = draw(st.sampled_from(["simplex", "scalar_cap", "vector", "long_short", "upper_sum_is_budget"]))
    if kind == "simplex":
        B = draw(st.sampled_from([1.0, 0.5, 2.0, 3.75]))
        return 0.0, B, B
    if kind == "scalar_cap":
        B = draw(st.sampled_from([1.0, 0.8, 2.5]))
        n_tight = draw(st.booleans())
        if n_tight and (B / n) * n == B:
            return 0.0, B / n, B  # sum(upper) == budget exactly: the only portfolio is B/n each
        cap = B / n + draw(unit) * (B - B / n)
        return 0.0, cap, B
    if kind == "long_short":
        lo = -draw(st.sampled_from([0.05, 0.1, 0.3, 1.0]))
        up = draw(st.sampled_from([0.2, 0.3, 0.5, 1.0]))
        lo_min, up_max = n * lo, n * up
        B = draw(st.sampled_from([0.0, 1.0, lo_min, up_max, None]))
        if B is None:
            B = lo_min + draw(unit) * (up_max - lo_min)
        B = float(min(max(B, lo_min), up_max))
        if draw(st.booleans()):
            return lo, up, B  # scalar bounds
        return np.full(n, lo), np.full(n, up), B
    # vector bounds, some assets pinned (lower == upper), maybe negative lower bounds
    lo = draw(hnp.arrays(float, n, elements=st.floats(-0.3, 0.3)))
    if not draw(st.booleans()):
        lo = np.abs(lo) * 0.5  # long only
    width = draw(hnp.arrays(float, n, elements=st.floats(0.0, 1.0)))
    pinned = draw(hnp.arrays(bool, n))
    width[pinned] = 0.0
    width[draw(st.integers(0, n - 1))] += 0.05  # at least one asset can move
    up = lo + width
    if kind == "upper_sum_is_budget":
        return lo, up, float(np.sum(up))
    t = draw(st.sampled_from([0.0, 1.0, None]))
    if t is None:
        t = draw(unit)
    B = float(np.sum(lo) + t * np.sum(width))
    return lo, up, B


@st.composite
def problems(draw, cov_kinds=("pd", "pd", "badly_scaled", "psd"), n_max: int = 7):
    n = draw(st.integers(1, n_max))
    kind = draw(st.sampled_from(cov_kinds))
    S = draw(covariances(n, kind))
    ra = draw(st.floats(0.1, 50.0))
    mu = None
    if draw(st.booleans()):
        vol = np.sqrt(np.diag(S))
        mu = draw(hnp.arrays(float, n, elements=st.floats(-0.5, 1.0))) * vol  # Sharpe-like scale
    lower, upper, B = draw(bounds_and_budget(n))
    benchmark = None
    if draw(st.booleans()):
        raw = draw(hnp.arrays(float, n, elements=st.floats(0.0, 1.0)))
        raw[draw(st.integers(0, n - 1))] += 0.1
        benchmark = raw / raw.sum() * (B if B != 0.0 else 1.0)
    method = draw(st.sampled_from(ma.METHODS))
    return Problem(S, mu, ra, lower, upper, B, benchmark, pd=(kind != "psd"), method=method)


# --------------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------------


def comparison_scales(p: Problem, w: np.ndarray, bf: BruteForce) -> tuple[float, float]:
    """(scale, rounding): the objective scale of the relative comparison, and the rounding slack
    of f(w) - f* (floating-point error of both evaluations, plus the 1e-12 feasibility tolerance
    of the oracle, which may let its candidate undercut f* by |grad| * 1e-12)."""
    scale = objective_scale(p, w, bf.w_star)
    sum_scale = max(1.0, abs(p.budget), float(np.abs(p.lo).max()), float(np.abs(p.up).max()))
    feas = 1e-12 * (p.n + 1) * sum_scale * float(np.abs(gradient(p, bf.w_star)).max())
    rounding = 1e-12 * max(abs_terms(p, w), abs_terms(p, bf.w_star), scale) + feas
    return scale, rounding


# Limit for a second solve when the default limit (20000) ends in MAX_ITER; see solve_checked.
LARGE_MAX_ITER = 2_000_000


def solve_checked(p: Problem, bf: BruteForce):
    """Solve with the default settings. MAX_ITER is an honest outcome on a few degenerate inputs
    (e.g. a direction of zero risk along which only a tiny mu varies: accelerated gradient then
    needs O(1/sqrt(|mu|)) iterations, see test_zero_risk_direction_with_tiny_mu), so it is accepted
    only when its certificate is honest (above the tolerance, bounding the true suboptimality, at
    feasible weights) and the solve certifies when given more iterations; that result is returned
    for the comparison. Any other non-OPTIMAL status is left for the comparison to reject."""
    r = p.solve()
    if r.status != ma.Status.MAX_ITER:
        return r
    w = np.asarray(r.weights, dtype=float)
    _, rounding = comparison_scales(p, w, bf)
    info = f"default max_iter ended in MAX_ITER: {r!r}"
    assert r.iterations == 20000, info
    assert r.rel_gap > r.tol, info
    assert r.gap >= objective(p, w) - bf.f_star - rounding, info
    assert abs(w.sum() - p.budget) <= 1e-10 * max(1.0, abs(p.budget)), info
    assert np.all(w >= p.lo - 1e-10) and np.all(w <= p.up + 1e-10), info
    return p.solve(max_iter=LARGE_MAX_ITER)


def check_against_bruteforce(p: Problem, r=None) -> None:
    bf = brute_force(p)
    if r is None:
        r = solve_checked(p, bf)
    w = np.asarray(r.weights, dtype=float)
    lo, up, B = p.lo, p.up, p.budget
    scale, rounding = comparison_scales(p, w, bf)
    f_w = objective(p, w)
    info = f"\nstatus={r.status!r} f={r.objective!r} f*={bf.f_star!r} gap={r.gap!r} w={w!r} w*={bf.w_star!r}"

    # Status and constraints.
    assert r.status == ma.Status.OPTIMAL, info
    assert abs(w.sum() - B) <= 1e-10 * max(1.0, abs(B)), info
    assert np.all(w >= lo - 1e-10) and np.all(w <= up + 1e-10), info
    assert r.primal_residual <= 1e-10 * max(1.0, abs(B)), info

    # Reported quantities describe the returned weights.
    assert r.objective == pytest.approx(f_w, rel=1e-9, abs=rounding), info
    assert r.expected_return == pytest.approx(float(p.m @ w), rel=1e-9, abs=1e-15 * float(np.abs(p.m) @ np.abs(w)))
    d = w - p.b
    wb = np.abs(w) + np.abs(p.b)  # risk^2 is computed as (w-b)'(Sw - Sb): cancellation
    risk_sq_round = 1e-13 * float(wb @ np.abs(p.cov) @ wb)
    risk = r.tracking_error if r.tracking_error is not None else r.volatility
    assert risk**2 == pytest.approx(float(d @ p.cov @ d), rel=1e-9, abs=risk_sq_round)
    vol_round = 1e-13 * float(np.abs(w) @ np.abs(p.cov) @ np.abs(w))
    assert r.volatility**2 == pytest.approx(float(w @ p.cov @ w), rel=1e-9, abs=vol_round)
    np.testing.assert_array_equal(r.active_lower, np.flatnonzero(w == lo))
    np.testing.assert_array_equal(r.active_upper, np.flatnonzero(w == up))

    # Objective: within 1e-8 (relative to the objective's terms) of the global minimum.
    assert abs(f_w - bf.f_star) <= 1e-8 * scale + rounding, info + f"\n|f - f*|/scale = {abs(f_w - bf.f_star) / scale:.3g}"

    # Certificate: it bounds the true suboptimality, and it passed the requested tolerance.
    assert r.gap >= (f_w - bf.f_star) - rounding, info
    assert r.rel_gap <= r.tol, info

    if p.pd:
        # Strong convexity: f(w) - f* >= (ra * lambda_min / 2) ||w - w*||^2, and f(w) - f* <= gap.
        lam_min = float(np.linalg.eigvalsh(p.cov)[0])
        assert lam_min > 0
        radius = np.sqrt(2.0 * (max(r.gap, 0.0) + rounding) / (p.ra * lam_min))
        radius += 1e-10 * max(1.0, abs(B), float(np.abs(lo).max()), float(np.abs(up).max()))
        dist = float(np.linalg.norm(w - bf.w_star))
        assert dist <= radius, info + f"\n||w - w*|| = {dist:.3g} > {radius:.3g}"


def check_budget_multiplier(p: Problem, r=None) -> None:
    """r.budget_multiplier is a KKT multiplier of the budget for the problem as posed: at nu, the
    documented certificate sum max(r,0)(w-lower) + max(-r,0)(upper-w), r = grad f(w) + nu, is
    (up to the tolerance) the reported gap; and nu matches the oracle's multiplier when the latter
    is unique (some asset strictly inside its bounds at the optimum and at w)."""
    bf = brute_force(p)
    if r is None:
        r = solve_checked(p, bf)
    assert r.status == ma.Status.OPTIMAL
    w = np.asarray(r.weights, dtype=float)
    lo, up = p.lo, p.up
    scale, rounding = comparison_scales(p, w, bf)
    g = gradient(p, w)
    nu = r.budget_multiplier
    h = certificate_gap(g, w, lo, up, nu)
    info = (
        f"\nnu={nu!r} gap={r.gap!r} certificate at nu with the given bounds={h!r}"
        f"\nw={w!r}\ngrad f(w)+nu={g + nu!r}"
    )
    assert h <= max(r.gap, 0.0) + r.tol * scale + rounding, info
    # Against the oracle: the gradient at the optimum is unique (S w* is, for a convex quadratic);
    # |grad f(w) - grad f(w*)| <= sqrt(2 ra lambda_max (f(w) - f*)).
    lam_max = float(np.linalg.eigvalsh(p.cov)[-1])
    g_err = np.sqrt(2.0 * p.ra * lam_max * (max(r.gap, 0.0) + rounding))
    g_star = gradient(p, bf.w_star)
    margin_star = np.minimum(bf.w_star - lo, up - bf.w_star)
    margin_w = np.minimum(w - lo, up - w)
    inside = np.flatnonzero((margin_star > 1e-9) & (margin_w > 1e-9))
    if inside.size:
        i = inside[np.argmax(margin_w[inside])]
        nu_star = -g_star[i]  # grad_i f(w*) + nu* = 0 for an asset strictly inside its bounds
        tol_nu = h / margin_w[i] + g_err + 1e-9 * max(1.0, float(np.abs(g_star).max()))
        assert abs(nu - nu_star) <= tol_nu, info + f"\nnu*={nu_star!r} (asset {i} strictly inside its bounds)"


# --------------------------------------------------------------------------------------------------
# Self-test of the oracle on cases with known answers
# --------------------------------------------------------------------------------------------------


def test_oracle_known_answers():
    # Two assets, no bounds active: minimum variance weights w1 = (s22 - s12) / (s11 + s22 - 2 s12).
    S = np.array([[0.04, 0.01], [0.01, 0.09]])
    p = Problem(S, None, 1.0, 0.0, 1.0, 1.0, None, pd=True)
    bf = brute_force(p)
    np.testing.assert_allclose(bf.w_star, [0.08 / 0.11, 0.03 / 0.11], rtol=1e-14)
    # Diagonal covariance with a cap: inverse-variance weights clipped at the cap.
    S = np.diag([0.01, 0.04, 0.09, 0.16])
    p = Problem(S, None, 2.0, 0.0, 0.5, 1.0, None, pd=True)
    bf = brute_force(p)
    inv = 1.0 / np.diag(S)
    w_free = inv[1:] / inv[1:].sum() * 0.5  # asset 0 at the cap, the rest share 0.5
    np.testing.assert_allclose(bf.w_star, np.r_[0.5, w_free], rtol=1e-13)
    assert bf.nu_star == pytest.approx(-2.0 * 0.04 * w_free[0], rel=1e-12)  # grad_1 + nu = 0
    # Singular covariance (perfectly correlated assets): the risk is the same for every portfolio,
    # so the optimum is the linear program's vertex.
    p = Problem(np.full((2, 2), 0.01), np.array([0.1, 0.0]), 1.0, 0.0, 1.0, 1.0, None, pd=False)
    bf = brute_force(p)
    np.testing.assert_allclose(bf.w_star, [1.0, 0.0], atol=1e-15)
    assert bf.f_star == pytest.approx(0.005 - 0.1, rel=1e-14)
    # The LP-like vertex case: sum(upper) == budget.
    p = Problem(S, np.ones(4), 1.0, 0.0, 0.25, 1.0, None, pd=True)
    np.testing.assert_allclose(brute_force(p).w_star, 0.25, atol=1e-12)
    # A reachable benchmark: the optimum of the tracking error is the benchmark, f* = 0.
    b = np.array([0.1, 0.2, 0.3, 0.4])
    p = Problem(S, None, 3.0, 0.0, 1.0, 1.0, b, pd=True)
    bf = brute_force(p)
    np.testing.assert_allclose(bf.w_star, b, atol=1e-15)
    assert abs(bf.f_star) <= 1e-17


# --------------------------------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------------------------------


@settings(max_examples=60)
@given(problems())
def test_matches_bruteforce(p: Problem):
    check_against_bruteforce(p)


@settings(max_examples=6)
@given(problems(n_max=8).filter(lambda p: p.n == 8))
def test_matches_bruteforce_n8(p: Problem):
    check_against_bruteforce(p)


@settings(max_examples=25)
@given(problems(cov_kinds=("badly_scaled",)))
def test_matches_bruteforce_badly_scaled(p: Problem):
    check_against_bruteforce(p)


@settings(max_examples=25)
@given(problems(cov_kinds=("psd",)))
def test_matches_bruteforce_singular_psd(p: Problem):
    check_against_bruteforce(p)


@settings(max_examples=25)
@given(problems(), st.sampled_from([1e-6, 1e-10, 1e-12]))
def test_other_tolerances(p: Problem, tol: float):
    r = p.solve(tol=tol)
    bf = brute_force(p)
    w = np.asarray(r.weights, dtype=float)
    scale, rounding = comparison_scales(p, w, bf)
    f_w = objective(p, w)
    info = f"\ntol={tol} {r!r} f*={bf.f_star!r}"
    assert r.gap >= f_w - bf.f_star - rounding, info
    if r.status == ma.Status.OPTIMAL:
        assert r.rel_gap <= tol, info
        assert f_w - bf.f_star <= max(tol, 1e-10) * scale * 1.0001 + rounding, info
    else:
        # The status must agree with the certificate; rounding may stop a solve (NUMERICAL_ERROR)
        # only at the tolerance near machine precision.
        assert r.rel_gap > tol, info
        assert r.status == ma.Status.MAX_ITER or tol <= 1e-12, info


@settings(max_examples=40)
@given(problems())
def test_budget_multiplier_is_a_kkt_multiplier(p: Problem):
    check_budget_multiplier(p)


@pytest.mark.parametrize(
    "cov, mu, lower, upper, budget, nu_star",
    [
        # Long-only with a minimum holding in asset 1: w = (0.7, 0.3). Asset 0 is strictly inside
        # its bounds [0, 1] (at the *implied* cap 1 - 0.3 only), so grad_0 + nu = 0 forces
        # nu* = 0.3 - 0.04 * 0.7 = 0.272, the utility gained per unit of extra budget.
        (np.diag([0.04, 0.09]), np.array([0.3, 0.0]), [0.0, 0.3], 1.0, 1.0, 0.272),
        # Dollar-neutral long-short: w = (0.1, -0.1); asset 0 is strictly inside [-0.1, 0.5].
        (np.diag([0.04, 0.04]), np.array([1.0, 0.0]), -0.1, 0.5, 0.0, 0.996),
    ],
)
def test_budget_multiplier_when_an_implied_bound_is_active(cov, mu, lower, upper, budget, nu_star):
    p = Problem(cov, mu, 1.0, np.asarray(lower, dtype=float) if np.ndim(lower) else lower, upper, budget, None, pd=True)
    r = p.solve()
    check_against_bruteforce(p, r)
    w = np.asarray(r.weights, dtype=float)
    g = gradient(p, w)
    assert r.budget_multiplier == pytest.approx(nu_star, abs=1e-12), (
        f"w={w!r} grad={g!r} nu={r.budget_multiplier!r}: grad + nu = {g + r.budget_multiplier!r} is not 0 "
        f"on the asset strictly inside its bounds; reported dual_residual={r.dual_residual!r}"
    )
    check_budget_multiplier(p, r)


def test_zero_risk_direction_with_tiny_mu():
    """Perfectly correlated assets, dollar neutral: w = (t, -t) has zero risk, and f = -1e-11 t is
    linear along the feasible segment t in [-0.05, 0.05]; the optimum is the vertex t = 0.05.
    The relative gap is measured against the floor 1e-4 * ra * mean variance = 1e-6, so OPTIMAL
    needs an absolute gap of 1e-15 and ~40000 iterations, above the default limit."""
    S = np.array([[0.01, 0.01], [0.01, 0.01]])
    p = Problem(S, np.array([1e-11, 0.0]), 1.0, np.array([-0.05, -0.05]), np.array([0.2, 0.2]), 0.0, None, pd=False)
    bf = brute_force(p)
    np.testing.assert_allclose(bf.w_star, [0.05, -0.05], rtol=1e-12)
    r = solve_checked(p, bf)  # honest at the default limit (if it stops there), certified beyond it
    check_against_bruteforce(p, r)


def test_single_asset():
    p = Problem(np.array([[0.04]]), None, 1.0, 0.0, 2.0, 1.5, None, pd=True)
    r = p.solve()
    assert r.status == ma.Status.OPTIMAL
    assert np.asarray(r.weights)[0] == pytest.approx(1.5, abs=1e-15)
    check_against_bruteforce(p, r)


def test_all_pinned_but_one():
    S = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.16]])
    lo = np.array([0.2, 0.3, 0.0])
    up = np.array([0.2, 0.3, 1.0])
    p = Problem(S, np.array([0.05, 0.08, 0.1]), 4.0, lo, up, 1.0, None, pd=True)
    check_against_bruteforce(p)
