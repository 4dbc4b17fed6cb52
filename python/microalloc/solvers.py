"""Mean-variance optimisation with box and budget constraints."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._validate import EMPTY, as_bounds, as_covariance, as_scalar, as_vector, check_labels, labels_of
from .errors import InputError
from .result import MeanVarianceResult, Status

__all__ = ["solve_mean_variance", "METHODS"]

METHODS = ("active_set", "projected_gradient")

# Result fields copied as they are from the core's SolveResult.
_CORE_FIELDS = (
    "objective", "expected_return", "risk", "gap", "rel_gap", "primal_residual", "dual_residual",
    "budget_multiplier", "active_lower", "active_upper", "iterations", "solve_time_s",
)


def _labelled(values: np.ndarray, labels: Any) -> Any:
    if labels is None:
        return values
    import pandas as pd  # only reached when the caller passed pandas objects

    return pd.Series(values, index=labels, name="weight")


def solve_mean_variance(
    cov: Any,
    mu: Any = None,
    *,
    risk_aversion: float = 1.0,
    lower: Any = 0.0,
    upper: Any = 1.0,
    budget: float = 1.0,
    benchmark: Any = None,
    method: str = "active_set",
    warm_start: Any = None,
    tol: float = 1e-9,
    max_iter: int = 20000,
    check_psd: bool = True,
    raise_on_failure: bool = False,
) -> MeanVarianceResult:
    """Solve ``max mu'w - (risk_aversion/2) (w-b)'S(w-b)`` s.t. ``sum(w) = budget``, ``lower <= w <= upper``.

    Parameters
    ----------
    cov : (n, n) array_like or pandas.DataFrame
        Covariance matrix S: symmetric, positive variances, positive semidefinite.
    mu : (n,) array_like, optional
        Expected returns. ``None`` solves minimum variance (minimum tracking error with a benchmark).
    risk_aversion : float
        ``>= 0``. Zero with mu gives the linear program max mu'w (solved exactly).
    lower, upper : float or (n,) array_like
        Bounds on each weight; ``-inf`` / ``inf`` allowed.
    budget : float
        Required sum of the weights.
    benchmark : (n,) array_like, optional
        Benchmark weights b: the risk term becomes the active risk (w-b)'S(w-b).
    method : {"active_set", "projected_gradient"}
        The solver. ``"active_set"`` (default): a primal active-set method, exact in a finite
        number of steps, fastest when the optimum holds few free assets (the usual long-only case).
        ``"projected_gradient"``: accelerated projected gradient (FISTA), whose cost per iteration
        does not depend on the number of free assets.
    warm_start : (n,) array_like or MeanVarianceResult, optional
        Starting weights, projected onto the feasible set first. The active-set method also takes
        its working set from them: the assets at a bound stay there until priced out, so a
        re-solve after a small change of the data starts from the previous optimum's faces.
    tol : float
        Target relative duality gap of the certificate.
    max_iter : int
        Iteration limit.
    check_psd : bool
        Test that cov is positive semidefinite (an O(n^3) factorisation, run once per distinct
        matrix: the verdict is remembered by a fingerprint of the exact entries, so re-solving with
        the same covariance costs one O(n^2) fingerprint pass). When False the certificate's
        convexity assumption is the caller's: projected gradient reports ``Status.NOT_CONVEX`` when
        an iterate meets negative curvature, the active-set method when a pivot of a face it
        visits is negative; negative curvature elsewhere goes unseen.
    raise_on_failure : bool
        Raise :class:`~microalloc.errors.SolverError` unless the status is OPTIMAL.

    Returns
    -------
    MeanVarianceResult
    """
    if method not in METHODS:
        raise InputError("method", f"unknown method {method!r}; expected one of {METHODS}")
    labels = labels_of(cov)
    s, _ = as_covariance(cov, check_psd=check_psd)
    n = s.shape[0]
    budget_f = as_scalar(budget, "budget")
    ra = as_scalar(risk_aversion, "risk_aversion", minimum=0.0)
    if mu is None:
        mu_a = EMPTY
        if ra == 0.0:
            raise InputError("risk_aversion", "must be > 0 for minimum variance (mu is None)")
    else:
        labels = check_labels(labels, mu, "mu")
        mu_a = as_vector(mu, n, "mu")
    lo, up = as_bounds(lower, upper, n, budget_f)
    if benchmark is None:
        b = EMPTY
    else:
        labels = check_labels(labels, benchmark, "benchmark")
        b = as_vector(benchmark, n, "benchmark")
    if warm_start is None:
        w0 = EMPTY
    else:
        w0 = as_vector(warm_start.weights if isinstance(warm_start, MeanVarianceResult) else warm_start, n, "warm_start")
    tol_f = as_scalar(tol, "tol", minimum=0.0, strict=True)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise InputError("max_iter", f"expected a positive integer, got {max_iter!r}")

    iters = int(min(max_iter, 2**31 - 1))
    if method == "active_set":
        raw = _core.solve_active_set(s, mu_a, lo, up, b, ra, budget_f, w0, tol_f, iters)
        info = {"factorizations": raw.factorizations, "zero_curvature_steps": raw.zero_curvature_steps}
    else:
        raw = _core.solve_projected_gradient(s, mu_a, lo, up, b, ra, budget_f, w0, tol_f, iters, not check_psd)
        info = {"lipschitz": raw.lipschitz, "restarts": raw.restarts}
    result = MeanVarianceResult(
        weights=_labelled(raw.weights, labels),
        status=Status(raw.status),
        **{name: getattr(raw, name) for name in _CORE_FIELDS},
        method=method,
        tol=tol_f,
        info=info,
    )
    if raise_on_failure:
        result.raise_for_status()
    return result
