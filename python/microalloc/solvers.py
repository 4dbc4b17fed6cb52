"""Mean-variance optimisation with box and budget constraints."""

from __future__ import annotations

import copy

from typing import Any

import numpy as np

from . import _core
from ._progress import as_progress
from ._validate import (
    EMPTY,
    _as_float_array,
    _describe,
    _tolerance_and_limit,
    as_choice,
    as_flag,
    is_pandas,
    row_scale_violations,
    as_scalar,
    as_threads,
    as_vector,
    align,
    asset_labels,
    check_scales,
    labelled,
)
from ._screening import universe_solve
from .constraints import Constraints
from .covariance import as_covariance
from .errors import InputError, ShapeError
from .result import MeanVarianceBatchResult, MeanVarianceResult, Status, volatility_of
from .status import from_core
from ._typing import Vector, Matrix, Bounds, ProgressCallback
from .covariance import CovarianceLike

__all__ = ["solve_mean_variance", "solve_mean_variance_batch", "METHODS"]

METHODS = ("active_set", "projected_gradient")

# Result fields copied as they are from the core's SolveResult (the order of its `fields` tuple).
_CORE_FIELDS = (
    "weights", "status", "objective", "expected_return", "risk", "gap", "rel_gap", "primal_residual", "dual_residual",
    "budget_multiplier", "active_lower", "active_upper", "iterations", "solve_time_s",
)


def _check_method(method: Any) -> None:
    as_choice(method, METHODS, "method")


def _constraints_or_keywords(constraints: Any, lower: Any, upper: Any, budget: Any) -> Constraints:
    """The call's constraints: the object given, with the bounds and budget given as keywords
    merged in where the object leaves them at their defaults; one given both ways is refused."""
    if constraints is None:
        return Constraints(lower, upper, budget)
    if not isinstance(constraints, Constraints):
        raise InputError("constraints", f"expected a microalloc.Constraints, got {type(constraints).__name__}")
    keywords = {k: v for k, v, d in (("lower", lower, 0.0), ("upper", upper, 1.0), ("budget", budget, 1.0))
                if not _is_default(v, d)}
    if not keywords:
        return constraints
    for name in keywords:
        if not _is_default(getattr(constraints, name), 0.0 if name == "lower" else 1.0):
            raise InputError(name, f"given both as a keyword and in constraints ({name}="
                                   f"{_describe(getattr(constraints, name))}): give it once")
    merged = copy.copy(constraints)
    merged.lower = keywords.get("lower", constraints.lower)
    merged.upper = keywords.get("upper", constraints.upper)
    merged.budget = as_scalar(keywords.get("budget", constraints.budget), "budget")
    return merged


def _is_default(x: Any, value: float) -> bool:
    if np.ndim(x) != 0 or isinstance(x, (str, bytes)) or x is None:
        return False
    try:
        return float(x) == value
    except (TypeError, ValueError):  # an object that is no number: not the default
        return False


def solve_mean_variance(
    cov: CovarianceLike,
    mu: Vector | None = None,
    *,
    risk_aversion: float = 1.0,
    lower: Bounds = 0.0,
    upper: Bounds = 1.0,
    budget: float = 1.0,
    benchmark: Vector | None = None,
    constraints: Constraints | None = None,
    method: str = "active_set",
    warm_start: Vector | None = None,
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
    constraints : microalloc.Constraints, optional
        Bounds, budget, group limits and linear rows in one object (then ``lower``, ``upper`` and
        ``budget`` stay at their defaults). With group limits or linear rows the active-set method
        solves Newton's method on the rows' multipliers around its box-and-budget solves, and the
        certificate covers the rows (``info["row_multipliers"]``, ``info["row_values"]``); they
        need ``risk_aversion > 0`` and ``method="active_set"``.
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
        matrix: the verdict is remembered by the SHA-256 of the exact entries, so re-solving with
        the same covariance costs one O(n^2) hashing pass; a ``Covariance`` skips even that). When False the certificate's
        convexity assumption is the caller's: projected gradient reports ``Status.NOT_CONVEX`` when
        an iterate meets negative curvature, the active-set method when a pivot of a face it
        visits is negative; negative curvature elsewhere goes unseen.
    raise_on_failure : bool
        Raise :class:`~microalloc.errors.SolverError` unless the status is OPTIMAL.

    Labelled (pandas) inputs are matched by label: the assets' labels are the covariance's (else
    those of the first labelled argument); a Series labelled by the same assets in another order
    is aligned, any other labelling raises an InputError naming the argument.

    Returns
    -------
    MeanVarianceResult
    """
    _check_method(method)
    raise_on_failure = as_flag(raise_on_failure, "raise_on_failure")
    w_start = warm_start.weights if isinstance(warm_start, MeanVarianceResult) else warm_start
    given = _constraints_or_keywords(constraints, lower, upper, budget)
    lower, upper, budget = given.lower, given.upper, given.budget
    labels = asset_labels(cov, mu, lower, upper, benchmark, w_start, given.groups, given.current_weights,
                          *(given.costs or ()))
    s, report = as_covariance(cov, check_psd=check_psd)
    n = s.shape[0]
    budget_f = given.budget  # checked by Constraints
    ra = as_scalar(risk_aversion, "risk_aversion", minimum=0.0)
    if mu is None:
        mu_a = EMPTY
        if ra == 0.0:
            raise InputError("risk_aversion", "must be > 0 for minimum variance (mu is None)")
    else:
        mu_a = as_vector(mu, n, "mu", labels=labels)
    resolved = given._resolve(n, labels, cov=cov)
    lo, up = resolved.lower, resolved.upper
    b = EMPTY if benchmark is None else as_vector(benchmark, n, "benchmark", labels=labels)
    w0 = EMPTY if w_start is None else as_vector(w_start, n, "warm_start", labels=labels)
    check_scales(report, n, budget=budget_f, mu=mu_a, benchmark=b, risk_aversion=ra)
    tol_f, iters = _tolerance_and_limit(tol, max_iter)

    trading = resolved.trading
    if resolved.has_rows or trading is not None:
        raw, info = _solve_constrained(cov, s, mu_a, b, ra, resolved, w0, tol_f, iters, method)
    elif method == "active_set":
        raw = _core.solve_active_set(s, mu_a, lo, up, b, ra, budget_f, w0, tol_f, iters)
        info = {
            "factorizations": raw.factorizations,
            "zero_curvature_steps": raw.zero_curvature_steps,
            "crossover_iterations": raw.crossover_iterations,
        }
    else:
        raw = _core.solve_projected_gradient(s, mu_a, lo, up, b, ra, budget_f, w0, tol_f, iters, not check_psd)
        info = {"lipschitz": raw.lipschitz, "restarts": raw.restarts}
    fields = dict(zip(_CORE_FIELDS, raw.fields, strict=True))
    vol = volatility_of(s, fields["weights"]) if b.size else None  # the core's risk is the tracking error
    result = MeanVarianceResult._from_core(fields, method, tol_f, info, vol)
    if trading is not None:
        _add_trades(result, resolved, info.pop("trading"), labels)
    if labels is not None:
        object.__setattr__(result, "weights", labelled(result.weights, labels, "weight"))
    if raise_on_failure:
        result.raise_for_status()
    return result


def _solve_constrained(cov, s, mu_a, b, ra, resolved, w0, tol_f, iters, method):
    """Group limits, linear rows, costs and a turnover limit: the core's rows solve (the rows'
    Newton method around the active set, the costs solver inside)."""
    trading = resolved.trading
    has_turnover = trading is not None and np.isfinite(trading.turnover)
    if method != "active_set":
        raise InputError("method", "group limits, linear rows, costs and turnover are solved by method='active_set'")
    if ra == 0.0 and (resolved.has_rows or has_turnover):
        raise InputError("risk_aversion", "must be > 0 with group limits, linear rows or a turnover limit")
    n = s.shape[0]
    a = resolved.a if resolved.has_rows else np.zeros((0, n))
    row_lo = resolved.row_lower if resolved.has_rows else EMPTY
    row_up = resolved.row_upper if resolved.has_rows else EMPTY
    current, buy, sell, limit = (
        (trading.current, trading.buy, trading.sell, trading.turnover) if trading is not None
        else (EMPTY, EMPTY, EMPTY, np.inf)
    )
    screened = universe_solve(cov, s, mu_a, b, ra, resolved, tol_f, iters) if w0.size == 0 else None
    start, multipliers = (screened[0], screened[1]) if screened is not None else (w0, EMPTY)

    def solve(start, multipliers):
        return _core.solve_with_rows(s, mu_a, resolved.lower, resolved.upper, b, ra, resolved.budget, a, row_lo,
                                     row_up, start, tol_f, iters, current, buy, sell, limit, multipliers)

    raw, lam, vals, violation, outer, traded = solve(start, multipliers)
    if screened is not None and from_core(raw.status) != Status.OPTIMAL:  # the universe misled: from cold
        raw, lam, vals, violation, outer, traded = solve(w0, EMPTY)
        screened = None
    info: dict[str, Any] = {"outer_iterations": outer}
    if screened is not None:
        info["screened_universe"] = screened[2]
    if resolved.has_rows:
        info.update(row_names=list(resolved.row_names), row_values=vals, row_multipliers=lam, row_violation=violation)
    if trading is not None:
        info["turnover_multiplier"] = traded["turnover_multiplier"]
        info["trading"] = traded
    return raw, info


def _add_trades(result, resolved, traded, labels) -> None:
    """trades (labelled as the inputs were), turnover, costs_paid and trade_gain (the core's) of a
    solve from current weights."""
    trades = np.asarray(result.weights) - resolved.trading.current
    trades.flags.writeable = False
    object.__setattr__(result, "trades", labelled(trades, labels, "trade"))
    object.__setattr__(result, "turnover", traded["turnover"])
    object.__setattr__(result, "costs_paid", traded["costs_paid"])
    object.__setattr__(result, "trade_gain", traded["trade_gain"])


def _rows(x: Any, m: int, n: int, name: str, *, allow_inf: bool = False) -> np.ndarray:
    """A (1, n) or (m, n) float64 C-ordered matrix from a scalar, a length-n vector or an m x n matrix.

    NaN (and, unless allowed, infinite) entries are left for the per-row check in C++, which marks
    those rows INVALID_INPUT instead of raising."""
    a = _as_float_array(x, name)
    if a.ndim == 0:
        a = np.full((1, n), float(a))
    elif a.ndim == 1:
        if a.shape[0] != n:
            raise ShapeError(name, f"expected shape ({n},) or ({m}, {n}), got {a.shape}")
        a = a.reshape(1, n)
    elif a.ndim != 2 or a.shape[1] != n or a.shape[0] not in (1, m):
        raise ShapeError(name, f"expected shape ({n},) or ({m}, {n}), got {a.shape}")
    if allow_inf:
        # a +inf lower or -inf upper bound makes its row invalid (NaN marks it for the C++ check)
        wrong = np.isposinf(a) if name == "lower" else np.isneginf(a)
        if wrong.any():
            a = np.where(wrong, np.nan, a)
    return np.ascontiguousarray(a)


def _per_problem(x: Any, m: int, name: str) -> np.ndarray:
    a = _as_float_array(x, name)
    if a.ndim == 0:
        return a.reshape(1)
    if a.ndim != 1 or a.shape[0] not in (1, m):
        raise ShapeError(name, f"expected a scalar or shape ({m},), got {a.shape}")
    return a


def _number_of_problems(rows: list[tuple[str, int]], m: Any) -> int:
    """The number of problems: ``m`` if given, else the number of rows the per-problem inputs
    agree on (one row is shared by all). An input whose rows disagree with ``m``, or with the
    number most inputs have (the first one's on a tie), raises ShapeError naming it."""
    if m is not None:
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0:
            raise InputError("m", f"expected a non-negative integer, got {_describe(m)}")
    counts = [(name, k) for name, k in rows if k != 1]
    if not counts:
        return 1 if m is None else int(m)
    if m is None:
        order = [k for _, k in counts]
        expected = max(order, key=lambda k: (order.count(k), -order.index(k)))
        basis = " and ".join(name for name, k in counts if k == expected)
    else:
        expected, basis = int(m), "m"
    verb = "is" if basis == "m" else "have" if " and " in basis else "has"
    for name, k in counts:
        if k != expected:
            given = ", ".join(f"{nm} {c}" for nm, c in rows)
            raise ShapeError(
                name,
                f"has {k} rows (problems) but {basis} {verb} {expected}; rows per input: {given} "
                "(1 row is shared by every problem)",
            )
    return expected


def _problem_index(*inputs: Any) -> Any:
    """The problems' labels: the index of the first per-problem DataFrame (None without one)."""
    for x in inputs:
        if is_pandas(x) and getattr(x, "ndim", 1) == 2:
            return x.index
    return None


def solve_mean_variance_batch(
    cov: CovarianceLike,
    mu: Matrix | None = None,
    *,
    risk_aversion: float | Vector = 1.0,
    lower: Bounds = 0.0,
    upper: Bounds = 1.0,
    budget: float | Vector = 1.0,
    benchmark: Matrix | None = None,
    m: int | None = None,
    constraints: Constraints | None = None,
    method: str = "active_set",
    warm_start: Matrix | None = None,
    tol: float = 1e-9,
    max_iter: int = 20000,
    check_psd: bool = True,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> MeanVarianceBatchResult:
    """Solve m mean-variance problems that share one covariance, on a pool of C++ threads.

    Each problem is the one of :func:`solve_mean_variance`. Per-problem data vary by row: ``mu``,
    ``lower``, ``upper``, ``benchmark`` and ``warm_start`` are m x n matrices (or one length-n row,
    or a scalar for the bounds, shared by all); ``risk_aversion`` and ``budget`` are scalars or
    length-m vectors. The number of problems m is read off those shapes (or given as ``m``).

    The covariance is validated once, as in :func:`solve_mean_variance`; shape errors raise. A bad
    row (NaN, infeasible bounds, a negative risk aversion, numbers beyond the scale limits of the
    single solve) does not raise: its status says so (INVALID_INPUT, INFEASIBLE) and its weights and
    numbers are NaN. Labelled inputs are aligned by label as in :func:`solve_mean_variance` (the
    assets are the columns of a per-problem DataFrame). The GIL is released for the whole batch;
    every thread has its own workspace and each problem is solved independently, so the results
    are identical for any ``threads``.

    Parameters
    ----------
    constraints : microalloc.Constraints, optional
        Bounds, budget, group limits and linear rows shared by every problem (then ``lower``,
        ``upper`` and ``budget`` stay at their defaults); with group limits or rows the active-set
        method only, and a row with ``risk_aversion`` 0 is INVALID_INPUT. With
        ``current_weights`` (an (m, n) matrix, one row per account, or one shared row) every
        problem is a rebalance: ``costs`` (rates per asset, or (m, n) per account) and
        ``turnover`` (a scalar or one limit per account) apply row by row; a limit below what the
        bounds and budget need makes that row INFEASIBLE. The result then has ``turnover``,
        ``costs_paid`` and ``trade_gain`` per problem (a nightly run skips the accounts whose
        gain does not pay for a rebalance).
    threads : int, optional
        Worker threads; default: the machine's cores, or ``MICROALLOC_THREADS``, or one inside a
        Dask task (docs/scale-out.md); at most
        1024 (or the number of cores if larger): more is refused, not clipped.
    progress : callable, optional
        ``progress(done, total)``: problems solved out of m, at most every 50 ms and at the end.
        An exception it raises stops the batch and propagates (as Ctrl-C does).

    Returns
    -------
    MeanVarianceBatchResult
        ``weights`` (m, n): a DataFrame with the assets as columns when the inputs are labelled
        (rows: the first per-problem DataFrame's index, else 0..m-1), ``status`` (m,) names and
        ``status_code`` (m,) ints, ``iterations``, ``objective``, ``expected_return``, ``risk``,
        ``gap``, ``rel_gap`` and ``solve_time_s`` (m,).
    """
    _check_method(method)
    progress = as_progress(progress)
    given = None if constraints is None else _constraints_or_keywords(constraints, lower, upper, budget)
    if given is not None:
        lower, upper, budget = given.lower, given.upper, given.budget
    # per-problem rows are labelled by the assets along their columns
    labels = asset_labels(cov, mu, lower, upper, benchmark, warm_start, *(
        () if given is None else (given.groups, given.current_weights, *(given.costs or ()))))
    mu, lower, upper, benchmark, warm_start = (
        align(x, labels, name)
        for name, x in (("mu", mu), ("lower", lower), ("upper", upper), ("benchmark", benchmark), ("warm_start", warm_start))
    )
    s, report = as_covariance(cov, check_psd=check_psd)
    n = s.shape[0]
    problem_index = _problem_index(mu, lower, upper, benchmark, warm_start)
    mu_a, lo, up, b, w0, ra, bud, m = _batch_rows(n, m, mu, lower, upper, benchmark, warm_start, risk_aversion, budget,
                                                  _trading_rows(given))
    tol_f, iters = _tolerance_and_limit(tol, max_iter)
    threads = as_threads(threads)
    # a row whose products overflow (check_scales, row by row) is INVALID_INPUT with NaN numbers,
    # marked for the core's per-row check by a NaN bound, instead of ending with inf
    overflow = row_scale_violations(report, n, m, budget=bud, mu=mu_a, benchmark=b, risk_aversion=ra)
    if overflow.any():
        lo = np.array(np.broadcast_to(lo, (m, n)), order="C")
        lo[overflow] = np.nan
    a, row_lo, row_up = _shared_rows(given, n, labels, method, cov)
    current, buy, sell, limit = _batch_trading(given, m, n, labels, method)
    raw = _core.solve_batch(
        s, mu_a, lo, up, b, w0, ra, bud, m, tol_f, iters, METHODS.index(method), int(threads), a, row_lo, row_up,
        current, buy, sell, limit, progress,
    )
    return _batch_result(raw, labels, problem_index, m, method, tol_f, int(threads), current, s, b)


def _trading_rows(given: Constraints | None) -> list[tuple[str, int]]:
    """The number of rows (accounts) of the batch's per-account trading inputs, for the count."""
    if given is None or given.current_weights is None:
        return []
    out = [("current_weights", np.shape(given.current_weights)), ("turnover", np.shape(given.turnover))]
    out += [("costs", np.shape(c)) for c in (given.costs or ())]
    return [(name, shape[0]) for name, shape in out if len(shape) == (1 if name == "turnover" else 2)]


def _batch_rows(n: int, m: Any, mu: Any, lower: Any, upper: Any, benchmark: Any, warm_start: Any,
                risk_aversion: Any, budget: Any, extra: list[tuple[str, int]]) -> tuple:
    """The batch's per-problem inputs as arrays (m x n rows, or one shared row) and the number of
    problems m, read once (ragged lists raise InputError naming them)."""
    mu, lower, upper, benchmark, warm_start, risk_aversion, budget = (
        None if x is None else _as_float_array(x, name)
        for name, x in (("mu", mu), ("lower", lower), ("upper", upper), ("benchmark", benchmark),
                        ("warm_start", warm_start), ("risk_aversion", risk_aversion), ("budget", budget))
    )
    rows = [
        (name, x.shape[0])
        for name, x, dim in (("mu", mu, 2), ("lower", lower, 2), ("upper", upper, 2), ("benchmark", benchmark, 2),
                             ("warm_start", warm_start, 2), ("risk_aversion", risk_aversion, 1), ("budget", budget, 1))
        if x is not None and x.ndim == dim
    ] + extra
    m = _number_of_problems(rows, m)
    empty2 = np.empty((0, 0))
    mu_a = empty2 if mu is None else _rows(mu, m, n, "mu")
    lo = _rows(lower, m, n, "lower", allow_inf=True)
    up = _rows(upper, m, n, "upper", allow_inf=True)
    b = empty2 if benchmark is None else _rows(benchmark, m, n, "benchmark")
    if warm_start is None:
        w0 = empty2
    else:
        w0 = _rows(warm_start, m, n, "warm_start")
        if w0.shape[0] != m:
            raise ShapeError("warm_start", f"expected shape ({m}, {n}), got {w0.shape}")
    return mu_a, lo, up, b, w0, _per_problem(risk_aversion, m, "risk_aversion"), _per_problem(budget, m, "budget"), m


def _batch_trading(given: Constraints | None, m: int, n: int, labels: Any, method: str) -> tuple:
    """Per-problem current weights (m x n or one shared row), cost rates and turnover limits of a
    batch of rebalances, or empty arrays. Bad entries of a row are left for the core's per-row
    check (its status), as for the other per-problem inputs."""
    if given is None or given.current_weights is None:
        return np.empty((0, 0)), np.empty((0, 0)), np.empty((0, 0)), EMPTY
    if method != "active_set":
        raise InputError("method", "costs and turnover are solved by method='active_set'")
    current = _rows(align(given.current_weights, labels, "current_weights"), m, n, "current_weights")
    buy_in, sell_in = given.costs if given.costs is not None else (0.0, 0.0)
    buy = _rows(align(buy_in, labels, "costs"), m, n, "costs")
    sell = buy if sell_in is buy_in else _rows(align(sell_in, labels, "costs"), m, n, "costs")
    limit = np.array([np.inf]) if given.turnover is None else _per_problem(given.turnover, m, "turnover")
    return current, buy, sell, limit


def _batch_result(raw: Any, labels: Any, problem_index: Any, m: int, method: str, tol: float,
                  threads: int, current: np.ndarray, s: Any, benchmark: np.ndarray) -> MeanVarianceBatchResult:
    """The core's batch as a result, with the final guard per row: OPTIMAL only with finite numbers
    (status.finite_status)."""
    status = np.array(raw.status, copy=True)
    numbers = np.column_stack([raw.weights, raw.objective, raw.expected_return, raw.risk, raw.gap, raw.rel_gap])
    status[(status == Status.OPTIMAL.code) & ~np.isfinite(numbers).all(axis=1)] = Status.NUMERICAL_ERROR.code
    weights = raw.weights
    if labels is not None:
        import pandas as pd  # only reached when the caller passed pandas objects

        index = problem_index if problem_index is not None and len(problem_index) == m else None
        weights = pd.DataFrame(weights, index=index, columns=labels)
    trading = {}
    if current.size:
        trading = dict(turnover=raw.turnover, costs_paid=raw.costs_paid, trade_gain=raw.trade_gain)
    return MeanVarianceBatchResult(
        **trading,
        weights=weights,
        status_code=status,
        iterations=raw.iterations,
        objective=raw.objective,
        expected_return=raw.expected_return,
        volatility=volatility_of(s, raw.weights) if benchmark.size else raw.risk,
        tracking_error=raw.risk if benchmark.size else None,
        gap=raw.gap,
        rel_gap=raw.rel_gap,
        solve_time_s=raw.solve_time_s,
        method=method,
        tol=tol,
        threads=threads,
    )


def _shared_rows(given: Constraints | None, n: int, labels: Any, method: str, cov: Any) -> tuple[np.ndarray, ...]:
    """The batch's rows (group limits and linear rows shared by every problem), or empty arrays."""
    resolved = None if given is None else given._resolve(n, labels, trading=False, cov=cov)
    if resolved is None or not resolved.has_rows:
        return np.empty((0, n)), EMPTY, EMPTY
    if method != "active_set":
        raise InputError("method", "group limits and linear rows are solved by method='active_set'")
    return resolved.a, resolved.row_lower, resolved.row_upper
