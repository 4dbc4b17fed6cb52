"""Risk analytics: risk-contribution decomposition, active risk, active share."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeGuard

import numpy as np

from . import _core
from ._validate import (
    SCALE_HUGE,
    _as_float_array,
    _describe,
    _tolerance_and_limit,
    as_flag,
    as_bounds,
    as_periods_per_year,
    as_scalar,
    _at,
    _entry,
    _num,
    _row_entry,
    align,
    as_threads,
    as_vector,
    asset_labels,
    is_pandas,
)
from . import risk_sources
from .covariance import FactorCovariance, as_covariance
from .errors import InfeasibleError, InputError, NonFiniteError, ShapeError, SolverError
from .status import Status, from_core
from ._deprecated import renamed_arguments
from .result import Result, timed
from ._typing import Vector, Matrix, Bounds, FloatArray, Labelled
from .covariance import CovarianceLike

__all__ = ["RiskContributions", "risk_contributions", "active_share", "tracking_error", "RiskBudgetingResult", "risk_budgeting", "MoneyRiskBudget", "money_risk_budget"]


@dataclass(frozen=True, repr=False, eq=False)
class RiskContributions(Result):
    """Risk decomposition of one portfolio (vectors of length n) or of a batch (a leading axis m).

    With sigma = sqrt(w'Sw) and m = S w:

    - ``volatility``: sigma;
    - ``marginal``: d sigma / d w_i = m_i / sigma;
    - ``component``: w_i m_i / sigma, summing to sigma (Euler);
    - ``percent``: w_i m_i / sigma^2, summing to 1.

    With a benchmark b, the same for the active weights a = w - b: ``tracking_error``
    sqrt(a'Sa) (ex ante), ``active_marginal``, ``active_component`` (summing to the tracking
    error) and ``active_percent``. With expected returns mu as well: ``active_return`` a'mu,
    ``active_return_contribution`` a_i mu_i (summing to it) and ``efficiency``, each holding's
    share of active return minus its share of active risk,
    a_i mu_i / a'mu - a_i (Sa)_i / a'Sa (zero for every holding of the
    information-ratio-optimal portfolio; positive: the holding earns more than its risk share).

    With a :class:`FactorCovariance` S = X F X' + diag(d), the risk by source (labelled by the
    factors' names where the model is): ``factor_exposures`` X'w; ``factor_contribution``, each
    factor's share of the volatility y_j (F y)_j / sigma with y = X'w; ``specific_contribution``
    w'Dw / sigma (the factors' contributions and this one sum to the volatility);
    ``systematic_variance`` y'Fy and ``specific_variance`` w'Dw (summing to the variance); and
    each asset's component split into ``component_factor`` w_i (X F y)_i / sigma and
    ``component_specific`` d_i w_i^2 / sigma. With a benchmark, the same for the active weights
    and the tracking error: ``active_factor_exposures``, ``active_factor_contribution``,
    ``active_specific_contribution``, ``active_systematic_variance``,
    ``active_specific_variance``, ``active_component_factor`` and ``active_component_specific``.

    Undefined values are NaN, never a division by ~0: ``marginal`` and ``percent`` when the
    volatility is 0 (components are then 0), the active versions when the tracking error is 0,
    and ``efficiency`` when the active return or the tracking error vanishes, i.e. when the sum is
    at most 1e-12 times the sum of the absolute values of its terms. Fields that do not apply are
    None.
    """

    volatility: Any
    marginal: Any
    component: Any
    percent: Any
    tracking_error: Any = None
    active_marginal: Any = None
    active_component: Any = None
    active_percent: Any = None
    active_return: Any = None
    active_return_contribution: Any = None
    efficiency: Any = None
    factor_exposures: Any = None
    factor_contribution: Any = None
    specific_contribution: Any = None
    systematic_variance: Any = None
    specific_variance: Any = None
    component_factor: Any = None
    component_specific: Any = None
    active_factor_exposures: Any = None
    active_factor_contribution: Any = None
    active_specific_contribution: Any = None
    active_systematic_variance: Any = None
    active_specific_variance: Any = None
    active_component_factor: Any = None
    active_component_specific: Any = None

    _figures = ("volatility", "tracking_error", "active_return", "systematic_variance", "specific_variance",
                "active_systematic_variance", "active_specific_variance")
    _columns = tuple((name, name) for name in (
        "marginal", "component", "percent", "active_marginal", "active_component", "active_percent",
        "active_return_contribution", "efficiency", "component_factor", "component_specific",
        "active_component_factor", "active_component_specific"))


#: fields with one value per portfolio (the others have one per asset)
_PER_PORTFOLIO = frozenset({"volatility", "tracking_error", "active_return", *risk_sources.PORTFOLIO_FIELDS})


def _matrix_rows(x: Any, n: int, name: str, m: int | None, labels: Any = None) -> np.ndarray:
    """(1, n) from a vector, (m, n) from a matrix (labelled ones aligned to the assets' labels);
    finite entries only."""
    a = _as_float_array(align(x, labels, name), name)
    if a.ndim == 1 and a.shape[0] == n:
        a = a.reshape(1, n)
    elif not (a.ndim == 2 and a.shape[1] == n and (m is None or a.shape[0] in (1, m))):
        want = f"({n},)" + (f" or ({m}, {n})" if m is not None else f" or (m, {n})")
        raise ShapeError(name, f"expected shape {want}, got {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        r, c = (int(v[0]) for v in np.nonzero(bad))
        where = _entry(labels, c) if np.ndim(x) == 1 else _row_entry(r, c, labels)
        raise NonFiniteError(name, f"{where} is {_num(a[r, c])}; {int(bad.sum())} non-finite entries")
    return np.ascontiguousarray(a)


def _labelled_rows(values: np.ndarray, single: bool, index: Any, columns: Any) -> Any:
    if single:
        v = values[0]
        if columns is None:
            return v
        import pandas as pd

        return pd.Series(v, index=columns)
    if columns is None and index is None:
        return values
    import pandas as pd

    return pd.DataFrame(values, index=index, columns=columns)


def _labelled_scalars(values: np.ndarray, single: bool, index: Any) -> Any:
    if single:
        return float(values[0])
    if index is None:
        return values
    import pandas as pd

    return pd.Series(values, index=index)


@timed
@renamed_arguments(expected_returns="mu")
def risk_contributions(
    cov: CovarianceLike,
    weights: Matrix,
    *,
    benchmark: Matrix | None = None,
    mu: Matrix | None = None,
    check_psd: bool = True,
    threads: int | None = None,
) -> RiskContributions:
    """Exact (analytic) risk decomposition of one portfolio or a batch.

    Parameters
    ----------
    cov : (n, n) array_like, pandas.DataFrame, Covariance or FactorCovariance
        A factor model adds the risk by source (see RiskContributions).
    weights : (n,) or (m, n) array_like, pandas.Series or DataFrame
        One portfolio, or m portfolios as rows (one GEMM for the batch).
    benchmark : (n,) or (m, n) array_like, optional
        Benchmark weights: adds the tracking error and the active contributions.
    mu : (n,) or (m, n) array_like, optional
        Expected (active) returns; needs ``benchmark`` (pass zeros for absolute returns). Adds the
        contributions to active return and the efficiency. (``expected_returns=`` is the
        deprecated name.)
    check_psd : bool
        Test that cov is positive semidefinite (remembered per matrix, as for the solvers).
    threads : int, optional
        Threads for large batches (rows split in blocks); default: the machine's cores.

    Returns
    -------
    RiskContributions
        Labelled (pandas) by the assets' labels when an input is labelled (the covariance's,
        else those of the first labelled input; the others are aligned to them by label).
    """
    labels = asset_labels(cov, weights, benchmark, mu)
    s, _ = as_covariance(cov, check_psd=check_psd)
    n = s.shape[0]
    single = _as_float_array(weights, "weights").ndim == 1
    index = list(weights.index) if not single and is_pandas(weights) else None
    w = _matrix_rows(weights, n, "weights", None, labels)
    m = w.shape[0]
    empty = np.empty((0, 0))
    b = empty if benchmark is None else _matrix_rows(benchmark, n, "benchmark", m, labels)
    if mu is not None and benchmark is None:
        raise InputError(
            "mu",
            "the return contributions and the efficiency are benchmark-relative: pass benchmark "
            "(zeros for absolute returns)",
        )
    al = empty if mu is None else _matrix_rows(mu, n, "mu", m, labels)
    raw = _core.decompose_risk(s, w, b, al, as_threads(threads))

    # read-only views of the core's arrays (no copy; they keep the core result alive)
    def rows(x: np.ndarray) -> Any:
        return _labelled_rows(np.asarray(x), single, index, labels)

    def scalars(x: np.ndarray) -> Any:
        return _labelled_scalars(np.asarray(x), single, index)

    groups = (
        (True, ("volatility", "marginal", "component", "percent")),
        (benchmark is not None, ("tracking_error", "active_marginal", "active_component", "active_percent")),
        (mu is not None, ("active_return", "active_return_contribution", "efficiency")),
    )
    out = {
        name: (scalars if name in _PER_PORTFOLIO else rows)(getattr(raw, name))
        for present, names in groups
        if present
        for name in names
    }
    if isinstance(cov, FactorCovariance):
        sources = risk_sources.risk_by_source(
            cov, w, None if benchmark is None else b, np.asarray(raw.volatility),
            None if benchmark is None else np.asarray(raw.tracking_error))
        for name, values in sources.items():
            if name in risk_sources.FACTOR_FIELDS:
                out[name] = _labelled_rows(values, single, index, cov.factors)
            else:
                out[name] = (scalars if name in _PER_PORTFOLIO else rows)(values)
    return RiskContributions(**out)


def active_share(weights: Matrix, benchmark: Matrix, *, tol: float = 1e-6) -> float | FloatArray:
    """Active share 0.5 * sum_i |w_i - b_i| (Cremers & Petajisto 2009), of one portfolio or a batch.

    Both weight vectors cover the same universe (benchmark names the portfolio does not hold
    included, at 0) and must have the same total, within ``tol`` (relative to the benchmark's
    total; a finite number >= 0), else the measure is meaningless and an InputError names
    ``weights``. Returns a float, or an (m,) array for an (m, n) batch of portfolios.
    """
    tol = as_scalar(tol, "tol", minimum=0.0)
    labels = asset_labels(weights, benchmark)
    wa = _as_float_array(align(weights, labels, "weights"), "weights")
    single = wa.ndim == 1
    n = wa.shape[-1] if wa.ndim in (1, 2) else -1
    if n < 1:
        raise ShapeError("weights", f"expected shape (n,) or (m, n), got {wa.shape}")
    w = _matrix_rows(wa, n, "weights", None, labels)
    b = _matrix_rows(benchmark, n, "benchmark", w.shape[0], labels)
    total_w, total_b = w.sum(axis=1), b.sum(axis=1)
    off = np.abs(total_w - total_b) > tol * np.maximum(np.abs(total_b), 1.0)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        where = "" if single else f" (row {i})"
        raise InputError(
            "weights",
            f"sum{where} = {_num(total_w[i])} but the benchmark sums to {_num(total_b[i % total_b.size])}: active share "
            "compares portfolios of the same total (include cash or rescale)",
        )
    share = 0.5 * np.abs(w - b).sum(axis=1)
    return float(share[0]) if single else share


def _is_frame_or_series(x: object) -> TypeGuard[Any]:
    return is_pandas(x) and hasattr(x, "index")


def tracking_error(
    portfolio_returns: Matrix,
    benchmark_returns: Matrix,
    *,
    periods_per_year: float | None = None,
    ddof: int = 0,
) -> Labelled:
    """Ex-post tracking error: the standard deviation of the active returns r_p - r_b.

    Conventions: the active returns are demeaned (a standard deviation, not a root mean square);
    ``ddof=0`` (default) is the population convention (divide by T), ``ddof=1`` the sample one
    (divide by T - 1); with ``periods_per_year`` the result is annualised by
    sqrt(periods_per_year) (12 for monthly, 52 weekly, 252 daily returns), else it is per period.

    Parameters
    ----------
    portfolio_returns : (T,) or (T, k) array_like
        Simple returns per period (k portfolios in columns).
    benchmark_returns : (T,) or (T, k) array_like
        The benchmark's returns over the same periods (one column shared by all portfolios, or one
        per portfolio).

    Returns
    -------
    float, or a (k,) array for k portfolios.
    """
    # both are labelled by their periods (the index) and, in columns, by the portfolios
    periods = next((tuple(x.index) for x in (portfolio_returns, benchmark_returns) if _is_frame_or_series(x)), None)
    portfolio_returns = align(portfolio_returns, periods, "portfolio_returns", axis="rows")
    benchmark_returns = align(benchmark_returns, periods, "benchmark_returns", axis="rows")
    # ragged lists and the like are refused here, before numpy is asked for their shape
    rp = portfolio_returns if _is_frame_or_series(portfolio_returns) else _as_float_array(portfolio_returns, "portfolio_returns")
    rb = benchmark_returns if _is_frame_or_series(benchmark_returns) else _as_float_array(benchmark_returns, "benchmark_returns")
    portfolio_returns, benchmark_returns = rp, rb
    if np.ndim(portfolio_returns) == 2 and np.ndim(benchmark_returns) == 2 and np.shape(benchmark_returns)[1] > 1:
        portfolios = asset_labels(portfolio_returns, benchmark_returns)
        portfolio_returns = align(portfolio_returns, portfolios, "portfolio_returns", what="portfolios")
        benchmark_returns = align(benchmark_returns, portfolios, "benchmark_returns", what="portfolios")
    rp = _as_float_array(portfolio_returns, "portfolio_returns")
    rb = _as_float_array(benchmark_returns, "benchmark_returns")
    if rp.ndim not in (1, 2) or rp.shape[0] < 1:
        raise ShapeError("portfolio_returns", f"expected shape (T,) or (T, k), got {rp.shape}")
    k = rp.shape[1] if rp.ndim == 2 else 1
    if rb.ndim not in (1, 2) or rb.shape[0] != rp.shape[0] or (rb.ndim == 2 and rb.shape[1] not in (1, k)):
        raise ShapeError("benchmark_returns", f"expected {rp.shape[0]} periods matching portfolio_returns {rp.shape}, got {rb.shape}")
    for name, x, a in (("portfolio_returns", portfolio_returns, rp), ("benchmark_returns", benchmark_returns, rb)):
        if not np.isfinite(a).all():
            k = int(np.flatnonzero(~np.isfinite(a.ravel()))[0])
            t, c = divmod(k, a.shape[1]) if a.ndim == 2 else (k, 0)
            if a.ndim == 2:
                where = _row_entry(t, c, list(x.columns) if _is_frame_or_series(x) else None, periods)
            else:
                where = _entry(periods, t)
            raise NonFiniteError(name, f"{where} is {_num(a.ravel()[k])}; every return must be finite")
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or ddof < 0:
        raise InputError("ddof", f"expected 0 or a positive integer, got {_describe(ddof)}")
    t = rp.shape[0]
    if t - ddof < 1:
        raise InputError("ddof", f"needs more than {ddof} periods, got {t}")
    if periods_per_year is not None:
        periods_per_year = as_periods_per_year(periods_per_year)
    _require_return_scale(rp, rb)
    active = (rp if rp.ndim == 2 else rp[:, None]) - (rb if rb.ndim == 2 else rb[:, None])
    te = np.std(active, axis=0, ddof=ddof)
    if periods_per_year is not None:
        te = te * np.sqrt(periods_per_year)
    return float(te[0]) if rp.ndim == 1 else te


def _require_return_scale(rp: np.ndarray, rb: np.ndarray) -> None:
    """Refuse returns so large that the active returns' sum of squares, at most T max|r_p - r_b|^2,
    overflows (above SCALE_HUGE, as for the covariance's products); the larger side is named."""
    with np.errstate(over="ignore"):  # inf: refused
        pmax, bmax = np.abs(rp).max(initial=0.0), np.abs(rb).max(initial=0.0)  # numpy floats: inf, not OverflowError
        squares = rp.shape[0] * (pmax + bmax) ** 2
    if squares > SCALE_HUGE:
        name, big = ("portfolio_returns", pmax) if pmax >= bmax else ("benchmark_returns", bmax)
        raise InputError(name, f"max |{name}| = {big:.3g}: T * max|active return|^2 = {squares:.3g} exceeds "
                         f"{SCALE_HUGE:.3g}, the active returns' variance overflows (returns are fractions: 0.01 = 1%)")


@dataclass(frozen=True, repr=False, eq=False)
class RiskBudgetingResult(Result):
    """Outcome of :func:`risk_budgeting`.

    Attributes
    ----------
    weights : numpy.ndarray or pandas.Series
        Long-only weights summing to 1; 0 exactly where the budget is 0 (with bounds: the lower
        bound).
    status : Status
        OPTIMAL when ``kkt_residual <= tol``.
    iterations : int
        Coordinate-descent sweeps (each O(k^2) for k positive budgets).
    newton_steps : int
        Damped Newton steps (each O(k^3)) taken after the sweeps.
    risk_contributions : numpy.ndarray or pandas.Series
        Realised contributions as fractions of total risk, w_i (Sw)_i / w'Sw (sum 1), recomputed
        from an exact S w.
    max_budget_error : float
        max_i |risk_contributions_i / budget_i - 1| over the positive budgets (budgets normalised).
    volatility : float
        sqrt(w'Sw).
    solve_time_s : float
    kkt_residual : float
        The certificate. Without binding bounds it is ``max_budget_error``. With bounds it is the
        largest violation of the optimality conditions of the bounded problem (see
        :func:`risk_budgeting`), relative to the budgets, together with any bound violation.
    budget_shift : float
        With binding bounds, the common shift c of the budgets: ``risk_contributions = budgets +
        c * weights`` for every asset strictly inside its bounds; 0 otherwise.
    active_bounds : numpy.ndarray or pandas.Series
        int8: -1 where the weight is held at its lower bound, +1 at its upper bound, 0 elsewhere
        (an asset of zero budget held at weight 0 counts as 0).
    """

    weights: Any
    status: Status
    iterations: int
    newton_steps: int
    risk_contributions: Any
    max_budget_error: float
    volatility: float
    solve_time_s: float
    kkt_residual: float = 0.0
    budget_shift: float = 0.0
    active_bounds: Any = None

    _figures = ("volatility", "max_budget_error", "kkt_residual", "budget_shift", "iterations", "newton_steps")
    _columns = (("weight", "weights"), ("risk_contribution", "risk_contributions"), ("active_bound", "active_bounds"))

    def _why(self) -> str:
        return (f"kkt_residual={self.kkt_residual:.3g} after {self.iterations} sweeps and {self.newton_steps} "
                "Newton steps")


def risk_budgeting(
    cov: CovarianceLike,
    budgets: Vector | None = None,
    *,
    lower: Bounds | None = None,
    upper: Bounds | None = None,
    tol: float = 1e-12,
    max_iter: int = 10000,
    check_psd: bool = True,
    raise_on_failure: bool = False,
) -> RiskBudgetingResult:
    """The long-only, fully invested portfolio whose risk contributions match the budgets.

    Solves w_i (Sw)_i / w'Sw = b_i for all i (Maillard, Roncalli & Teiletche 2010) through
    Spinu's convex problem min 0.5 y'Cy - sum b_i ln y_i on the correlation matrix C, whose unique
    positive solution gives w = (y / sd) / sum(y / sd). Cyclical coordinate descent (positivity by
    construction), handing over to damped Newton with fraction-to-boundary steps when the
    coordinate sweeps converge slowly (strongly correlated assets).

    Parameters
    ----------
    cov : (n, n) array_like, pandas.DataFrame, Covariance or FactorCovariance
        Positive definite on the assets with a positive budget. A FactorCovariance is never formed
        without bounds (O(n k) per sweep: n = 100,000 assets in well under a second); with bounds
        it is formed as a dense matrix, and refused above 5,000 assets (InputError naming cov).
    budgets : (n,) array_like, optional
        Non-negative risk budgets, normalised to sum 1; default equal (equal risk contribution).
        A zero budget gives that asset zero weight (with bounds: its lower bound).
    lower, upper : float or (n,) array_like, optional
        Bounds on the weights. Bounds below 0 or above 1 never bind (the weights are positive and
        sum to 1). With binding bounds, the budgets cannot all be met; the problem solved is
        Spinu's over the cone l_i 1'x <= x_i <= u_i 1'x (convex, unique solution; docs/methods.md
        §6.2), whose solution satisfies, for one scalar c (``budget_shift``),

        - ``rc_i = b_i + c w_i`` for every asset strictly inside its bounds,
        - ``rc_i <= b_i + c w_i`` at an upper bound and ``rc_i >= b_i + c w_i`` at a lower bound,

        where rc are the realised ``risk_contributions``. Assets with a zero budget, or with
        lower == upper, are held at their lower bound. Cost: a few dense Newton solves on the
        assets inside their bounds, O(n^3) each.
    tol : float
        Target of ``kkt_residual`` (without binding bounds: of ``max_budget_error``, the relative
        error of each contribution against its budget), plus the rounding floor of that
        certificate, ``8 u max_i (|S||w|)_i / |(S w)_i|`` (u = 2**-53, at most 1e-8), which grows
        with n when the terms of S w cancel (README, risk budgeting).
    max_iter : int
        Coordinate-descent sweeps at most (with bounds, also the Newton steps of the barrier path,
        the fallback when the guessed active bounds do not settle).

    raise_on_failure : bool
        Raise :class:`~microalloc.errors.SolverError` unless the status is OPTIMAL (the weights
        may be NaN otherwise, e.g. for a covariance singular on the support).
    """
    raise_on_failure = as_flag(raise_on_failure, "raise_on_failure")
    labels = asset_labels(cov, budgets, lower, upper)
    s, _ = as_covariance(cov, check_psd=check_psd)
    n = s.shape[0]
    b = _risk_budgets(budgets, n, labels)
    tol_f, sweeps = _tolerance_and_limit(tol, max_iter, max_tol=RISK_BUDGETING_MAX_TOL)
    status_override = None
    if lower is None and upper is None:
        raw = _core.risk_budgeting(s, b, tol_f, sweeps, 5000)
    else:
        raw, status_override = _bounded_risk_budgeting(cov, s, b, lower, upper, labels, tol_f, sweeps)

    def lab(v: np.ndarray, name: str) -> Any:
        if labels is None:
            return np.array(v)
        import pandas as pd

        return pd.Series(np.array(v), index=labels, name=name)  # type: ignore[call-overload]  # labels: an Index, list or tuple (the stubs refuse a Sequence: it may be a str)

    result = RiskBudgetingResult(
        weights=lab(raw.weights, "weight"),
        status=status_override or from_core(raw.status),
        iterations=raw.iterations,
        newton_steps=raw.newton_steps,
        risk_contributions=lab(raw.risk_contributions, "risk_contribution"),
        max_budget_error=raw.max_budget_error,
        volatility=raw.volatility,
        solve_time_s=raw.solve_time_s,
        kkt_residual=raw.kkt_residual,
        budget_shift=raw.budget_shift,
        active_bounds=lab(np.asarray(raw.bound_state, dtype=np.int8), "active_bound"),
    )
    return result.raise_for_status() if raise_on_failure else result


def _risk_budgets(budgets: Any, n: int, labels: Any) -> np.ndarray:
    """The budgets (equal without any), each >= 0 and not all 0."""
    if budgets is None:
        return np.full(n, 1.0 / n)
    b = as_vector(budgets, n, "budgets", labels=labels)
    if (b < 0).any():
        k = int(np.flatnonzero(b < 0)[0])
        raise InputError("budgets", f"{_entry(labels, k)} = {_num(b[k])} is negative; budgets must be >= 0")
    if not (b.max() > 0):
        raise InputError("budgets", "all budgets are 0; at least one must be positive")
    return b


def _bounded_risk_budgeting(
    cov: Any, s: Any, b: np.ndarray, lower: Any, upper: Any, labels: Any, tol_f: float, sweeps: int
) -> tuple[Any, Status | None]:
    """The core's bounded solve, and NUMERICAL_ERROR to report instead of its status when its
    weights leave the bounds (None otherwise)."""
    n = s.shape[0]
    if isinstance(cov, FactorCovariance) and n > BOUNDED_FACTOR_MAX_N:
        raise InputError(
            "cov",
            f"risk budgeting with bounds is dense by nature (Newton on all of S, O(n^3)): a "
            f"FactorCovariance of {n} assets would be formed as a {n} x {n} matrix "
            f"({_num(round(8.0 * n * n / 1e9, 1))} GB); bounds are taken for factor models up to "
            f"{BOUNDED_FACTOR_MAX_N} assets (or pass cov.to_dense() for a moderate n), and without "
            "lower and upper any n is solved through the model",
        )
    lo, up = _risk_budgeting_bounds(lower, upper, b, labels)
    raw = _core.risk_budgeting_bounded(s, b, lo, up, tol_f, sweeps, 8)
    # The core's kkt_residual counts a bound violation like any other residual, so a loose tol
    # lets a weight out of its bounds: the bounds must hold at any tol (to BOUND_TOL), so the
    # solve is repeated at that tolerance, and a result still outside is not OPTIMAL.
    if from_core(raw.status) == Status.OPTIMAL and _bound_violation(raw.weights, lo, up) > BOUND_TOL:
        raw = _core.risk_budgeting_bounded(s, b, lo, up, min(tol_f, BOUND_TOL), sweeps, 8)
        if from_core(raw.status) == Status.OPTIMAL and _bound_violation(raw.weights, lo, up) > BOUND_TOL:
            return raw, Status.NUMERICAL_ERROR
    return raw, None


#: The loosest tolerance of risk budgeting: a relative error of the risk contributions above 1%
#: is no risk budget.
RISK_BUDGETING_MAX_TOL = 1e-2
#: The largest FactorCovariance that risk budgeting with bounds takes: that method forms S (n x n;
#: 200 MB at this size) and factors it (O(n^3)).
BOUNDED_FACTOR_MAX_N = 5000
#: How far a weight of an OPTIMAL risk-budgeting result may lie outside its bounds, whatever tol.
BOUND_TOL = 1e-10


def _bound_violation(w: np.ndarray, lo: np.ndarray, up: np.ndarray) -> float:
    w = np.asarray(w)
    return float(max(np.max(lo - w, initial=0.0), np.max(w - up, initial=0.0)))


def _risk_budgeting_bounds(lower: Any, upper: Any, b: np.ndarray, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated bounds of a risk-budgeting problem, as the core takes them (0 <= l <= u <= 1)."""
    n = b.shape[0]
    lo, up = as_bounds(-np.inf if lower is None else lower, np.inf if upper is None else upper, n, 1.0, labels)
    if (up < 0).any():
        k = int(np.flatnonzero(up < 0)[0])
        raise InfeasibleError("upper", f"upper{_at(labels, k)} = {_num(up[k])} is negative; risk-budgeting weights are >= 0")
    lo, up = np.maximum(lo, 0.0), np.minimum(up, 1.0)
    blocked = (b > 0) & (up == 0)
    if blocked.any():
        k = int(np.flatnonzero(blocked)[0])
        raise InfeasibleError("upper", f"upper{_at(labels, k)} = 0 for an asset with a positive budget (its weight must be > 0)")
    held = (b == 0) | (lo == up)
    room = 1.0 - lo[held].sum()
    free_lower, free_upper = lo[~held].sum(), up[~held].sum()
    if not (room > 0 and free_lower <= room + 1e-12 and free_upper >= room - 1e-12) or (~held).sum() == 0:
        raise InfeasibleError(
            "upper" if room > 0 and free_upper < room else "lower",
            f"assets with a zero budget (or lower == upper) are held at their lower bound, which leaves "
            f"{_num(room)} of weight for the others, whose bounds allow [{_num(free_lower)}, {_num(free_upper)}]",
        )
    if free_lower >= room - 1e-12 and ((b > 0) & ~held & (lo == 0)).any():
        k = int(np.flatnonzero((b > 0) & ~held & (lo == 0))[0])
        raise InfeasibleError("lower", f"the lower bounds leave no room: asset {_at(labels, k)} has a positive budget but would get 0")
    return lo, up


@dataclass(frozen=True, repr=False, eq=False)
class MoneyRiskBudget(Result):
    """Per-holding risk budgets in money, and how far a portfolio is from them.

    ``budget`` (money per holding) = total risk budget x allocation; ``actual`` (money) = portfolio
    value x the holding's component contribution to volatility, so that ``actual`` sums to
    ``total_actual`` = value x volatility; ``excess`` = actual - budget (positive: over budget);
    ``utilisation`` = actual / budget (NaN where the budget is 0).
    """

    budget: Any
    actual: Any
    excess: Any
    utilisation: Any
    total_budget: float
    total_actual: float
    volatility: float

    _figures = ("total_budget", "total_actual", "volatility")
    _columns = (("budget", "budget"), ("actual", "actual"), ("excess", "excess"), ("utilisation", "utilisation"))


@timed
def money_risk_budget(
    cov: CovarianceLike,
    weights: Vector,
    *,
    portfolio_value: float,
    risk_budget: float,
    allocation: Vector,
    check_psd: bool = True,
) -> MoneyRiskBudget:
    """Turn a total risk budget in money into per-holding budgets and compare a portfolio with them.

    Example: a $1,000,000 portfolio with a $60,000 risk budget (6% volatility) split 40/30/30
    across three holdings gets budgets of $24,000, $18,000 and $18,000 of risk; each holding's
    actual risk is $1,000,000 x its component contribution to volatility (Euler: they add up to
    $1,000,000 x volatility).

    Parameters
    ----------
    cov : (n, n) array_like, pandas.DataFrame or Covariance
        Covariance of returns over the horizon the risk budget refers to.
    weights : (n,) array_like or pandas.Series
    portfolio_value : float
        > 0, in money.
    risk_budget : float
        > 0: the total risk (one standard deviation of value) allowed, in money.
    allocation : (n,) array_like
        Shares of the risk budget per holding, >= 0, summing to 1.
    """
    value = as_scalar(portfolio_value, "portfolio_value", minimum=0.0, strict=True)
    total = as_scalar(risk_budget, "risk_budget", minimum=0.0, strict=True)
    shape = _as_float_array(weights, "weights").shape
    if len(shape) != 1:
        raise ShapeError("weights", f"expected one portfolio (a vector), got shape {shape}")
    labels = asset_labels(cov, weights, allocation)
    rc = risk_contributions(cov, align(weights, labels, "weights"), check_psd=check_psd)
    n = np.size(rc.component)
    alloc = _as_float_array(align(allocation, labels, "allocation"), "allocation")
    if alloc.ndim != 1 or alloc.shape[0] != n:
        raise ShapeError("allocation", f"expected shape ({n},), got {alloc.shape}")
    if not np.isfinite(alloc).all() or (alloc < 0).any():
        raise InputError("allocation", "shares must be finite and >= 0")
    if abs(float(alloc.sum()) - 1.0) > 1e-9:
        raise InputError("allocation", f"shares must sum to 1, got sum = {_num(alloc.sum())}")
    budget = total * alloc
    actual = value * np.asarray(rc.component)
    with np.errstate(divide="ignore", invalid="ignore"):
        utilisation = np.where(budget > 0, actual / np.where(budget > 0, budget, 1.0), np.nan)

    def lab(v: np.ndarray) -> Any:
        if labels is None:
            return v
        import pandas as pd

        return pd.Series(v, index=labels)  # type: ignore[call-overload]  # labels: an Index, list or tuple (the stubs refuse a Sequence: it may be a str)

    return MoneyRiskBudget(
        budget=lab(budget),
        actual=lab(actual),
        excess=lab(actual - budget),
        utilisation=lab(utilisation),
        total_budget=total,
        total_actual=value * float(rc.volatility),
        volatility=float(rc.volatility),
    )

