"""The exact efficient frontier (critical line algorithm in C++), maximum Sharpe, and targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core
from ._progress import as_progress
from ._validate import (
    EMPTY,
    _num,
    _positive_int,
    as_bounds,
    as_scalar,
    FRONTIER_TOL_MIN,
    as_tolerance,
    as_vector,
    asset_labels,
    check_scales,
)
from .covariance import as_covariance
from .errors import InfeasibleError, InputError, SolverError
from ._deprecated import renamed_attribute
from .result import Result
from .status import Status, finite_status, from_core
from ._typing import Vector, Bounds, ProgressCallback, Labelled
from .covariance import CovarianceLike

if TYPE_CHECKING:
    from .constraints import Constraints
    import pandas as pd

__all__ = ["Frontier", "MaxSharpeResult", "efficient_frontier", "max_sharpe"]

#: the most points :meth:`Frontier.path` returns (two float64 arrays of this length)
MAX_PATH_POINTS = 10_000_000


@dataclass(frozen=True, repr=False)
class Frontier(Result):
    """The whole efficient frontier: the turning points and the exact path between them.

    The frontier is the set of solutions of ``max mu'w - (risk_aversion/2) (w-b)'S(w-b)`` over
    ``sum(w) = budget, lower <= w <= upper`` for every risk aversion from infinity (minimum
    variance, or minimum tracking error with a benchmark) down to 0 (maximum expected return).
    The weights are piecewise linear in ``1 / risk_aversion``: between two turning points every
    portfolio is a known combination of them, so any point is exact, not interpolated from a grid.

    Attributes
    ----------
    risk_aversion : (K,) array
        The turning points, decreasing from ``inf`` (the minimum-variance end).
    weights : (K, n) array, or a DataFrame (a row per turning point, the assets as columns)
        with labelled inputs.
    expected_return, volatility : (K,) arrays
        ``mu'w`` and ``sqrt(w'Sw)`` at the turning points.
    tracking_error : (K,) array or None
        ``sqrt((w-b)'S(w-b))`` with a benchmark.
    benchmark_return : float or None
        ``mu'b`` with a benchmark (see :attr:`active_return` and :attr:`information_ratio`).
    status : Status
        OPTIMAL when every turning point passed its certificate (both ends of every segment).
    max_rel_gap : float
        The worst relative duality gap met along the path.
    unbounded : bool
        True when the expected return grows without limit (an infinite bound): the last segment
        never ends.
    """

    risk_aversion: np.ndarray
    _w: np.ndarray  # (K, n): the turning points' weights (``weights`` labels them)
    expected_return: np.ndarray
    volatility: np.ndarray
    tracking_error: np.ndarray | None
    status: Status
    max_rel_gap: float
    unbounded: bool
    solve_time_s: float
    budget: float
    benchmark_return: float | None = None
    labels: Any = None
    message: str = ""
    _tau: np.ndarray = None  # type: ignore[assignment]
    _seg: np.ndarray = None  # type: ignore[assignment]  # (K, 5): mean0, mean1, var0, var1, var2
    _ray: np.ndarray = None  # type: ignore[assignment]
    _truncated: bool = False  # stopped at a target: the path ends before the maximum return

    _figures = ("turning_points", "max_rel_gap", "unbounded")
    _columns = (("risk_aversion", "risk_aversion"), ("expected_return", "expected_return"),
                ("volatility", "volatility"), ("tracking_error", "tracking_error"),
                ("active_return", "active_return"), ("information_ratio", "information_ratio"))
    risk_aversions = renamed_attribute("risk_aversions", "risk_aversion")
    expected_returns = renamed_attribute("expected_returns", "expected_return")
    volatilities = renamed_attribute("volatilities", "volatility")
    tracking_errors = renamed_attribute("tracking_errors", "tracking_error")
    risks = renamed_attribute("risks", "tracking_error (with a benchmark) or volatility", "_risk")
    active_returns = renamed_attribute("active_returns", "active_return")
    information_ratios = renamed_attribute("information_ratios", "information_ratio")

    def __len__(self) -> int:
        return len(self._tau)

    @property
    def turning_points(self) -> int:
        return len(self._tau)

    @property
    def weights(self) -> Labelled:
        """(K, n): a row per turning point; a DataFrame with the assets as columns when labelled."""
        if self.labels is None:
            return self._w
        import pandas as pd

        return pd.DataFrame(self._w, columns=self.labels).rename_axis("turning_point")

    @property
    def _risk(self) -> np.ndarray:
        """The risk the frontier trades off: tracking errors with a benchmark, else volatilities."""
        return self.tracking_error if self.tracking_error is not None else self.volatility

    @property
    def active_return(self) -> np.ndarray | None:
        """With a benchmark: ``mu'(w - b)`` at the turning points (the alpha of each portfolio)."""
        if self.benchmark_return is None:
            return None
        return self.expected_return - self.benchmark_return

    @property
    def information_ratio(self) -> np.ndarray | None:
        """With a benchmark: active return / tracking error at the turning points (NaN where the
        tracking error is zero, to rounding: below 1e-10 of the largest on the path)."""
        if self.benchmark_return is None or self.tracking_error is None:
            return None
        te = self.tracking_error
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(te > 1e-10 * te.max(), (self.expected_return - self.benchmark_return) / te, np.nan)

    def to_frame(self) -> pd.DataFrame:
        """One row per turning point: risk aversion, expected return, volatility (and tracking
        error, active return and information ratio with a benchmark)."""
        return super().to_frame().rename_axis("turning_point")

    def _shape_text(self) -> str:
        return f"n={self._w.shape[1]}"

    # -- points on the path -------------------------------------------------------------------
    def _at_tau(self, tau: float) -> np.ndarray:
        t = self._tau
        k = int(np.searchsorted(t, tau, side="right")) - 1
        k = max(k, 0)
        if k + 1 < len(t):
            span = t[k + 1] - t[k]
            s = 0.0 if span <= 0 else min(max((tau - t[k]) / span, 0.0), 1.0)
            w = self._w[k] + s * (self._w[k + 1] - self._w[k])
        elif self.unbounded:
            w = self._w[k] + (tau - t[k]) * self._ray
        else:
            w = self._w[k].copy()
        return self._label(w)

    def _label(self, w: np.ndarray) -> Any:
        if self.labels is None:
            return w
        import pandas as pd

        return pd.Series(w, index=self.labels, name="weight")

    # The at_* methods take one number each (an array raises InputError naming the parameter):
    # one portfolio per call; loop, or use :meth:`path` for plotting.
    def at_risk_aversion(self, risk_aversion: float) -> Labelled:
        """The frontier portfolio at a risk aversion (``inf``: minimum variance; ``0``: maximum return)."""
        ra = as_scalar(risk_aversion, "risk_aversion", minimum=0.0, allow_inf=True)
        if ra == 0.0:
            if self.unbounded:
                raise InputError("risk_aversion", "0 has no solution: the expected return is unbounded")
            return self._label(self._w[-1].copy())
        return self._at_tau(1.0 / ra)

    def at_return(self, target: float) -> Labelled:
        """The least risky portfolio with ``mu'w >= target``.

        A target at or below the minimum-variance portfolio's return gives that portfolio; one
        above the highest feasible return raises InfeasibleError naming the achievable range.
        Errors name the parameter, ``target``.
        """
        r = as_scalar(target, "target")
        er = self.expected_return
        tol = 1e-12 * max(1.0, abs(r))
        if r <= er[0]:
            return self._label(self._w[0].copy())
        if not self.unbounded and r > er[-1] + tol:
            raise InfeasibleError(
                "target",
                f"{_num(r)} is above the highest expected return of a feasible portfolio; achievable range "
                f"[{_num(er[0])}, {_num(er[-1])}] (from minimum variance to maximum return)",
            )
        return self._at_tau(self._tau_for(r, er, mean=True))

    def at_volatility(self, target: float) -> Labelled:
        """The highest-return portfolio with risk <= target (volatility; tracking error with a benchmark).

        A target below the minimum risk raises InfeasibleError naming the achievable range; one
        above the risk of the maximum-return portfolio gives that portfolio. Errors name the
        parameter, ``target``.
        """
        v = as_scalar(target, "target", minimum=0.0)
        risk = self._risk
        what = "tracking error" if self.tracking_error is not None else "volatility"
        if v < risk[0] * (1 - 1e-12):
            raise InfeasibleError(
                "target",
                f"{_num(v)} is below the lowest {what} of a feasible portfolio; achievable range "
                f"[{_num(risk[0])}, {'inf' if self.unbounded else _num(risk[-1])}]",
            )
        if not self.unbounded and v >= risk[-1]:
            return self._label(self._w[-1].copy())
        return self._at_tau(self._tau_for(v, risk, mean=False))

    def _tau_for(self, target: float, along: np.ndarray, *, mean: bool) -> float:
        """tau where the (nondecreasing) mean or risk along the path equals target."""
        k = int(np.searchsorted(along, target, side="left")) - 1
        k = min(max(k, 0), len(along) - 1)
        t0 = self._tau[k]
        t1 = self._tau[k + 1] if k + 1 < len(self._tau) else np.inf
        m0, m1, v0, v1, v2 = self._seg[k]
        if mean:  # m0 + m1 tau = target
            tau = t0 if m1 <= 0 else (target - m0) / m1
        else:  # risk^2: v0 + 2 v1 tau + v2 tau^2 = target^2, the root in [t0, t1]
            c = v0 - target * target
            if v2 > 0:
                # scaled by m so that v1^2 and v2 c cannot overflow (v1 ~ max|mu| max|w|)
                m = max(abs(v1), np.sqrt(v2) * np.sqrt(abs(c)), 1e-300)
                disc = max((v1 / m) * (v1 / m) - (v2 / m) * (c / m), 0.0)
                tau = m * (-(v1 / m) + np.sqrt(disc)) / v2
            elif v1 > 0:
                tau = -c / (2 * v1)
            else:
                tau = t0
        return float(min(max(tau, t0), t1))

    def path(self, points_per_segment: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """Plot-ready (risk, expected return) arrays along the exact path (the risk: the tracking error with a benchmark, else the volatility).

        ``points_per_segment`` is at most ``MAX_PATH_POINTS // (turning points)`` (10 million
        points in all, 160 MB of output): the path is exact between the points, so more is never
        needed."""
        segments = max(len(self._tau) - 1, 1)
        _positive_int(points_per_segment, "points_per_segment", maximum=max(MAX_PATH_POINTS // segments, 1))
        risks, rets = [], []
        for k in range(len(self._tau) - 1):
            t = np.linspace(self._tau[k], self._tau[k + 1], points_per_segment, endpoint=False)
            m0, m1, v0, v1, v2 = self._seg[k]
            rets.append(m0 + m1 * t)
            risks.append(np.sqrt(np.maximum(v0 + 2 * v1 * t + v2 * t * t, 0.0)))
        risks.append(self._risk[-1:])
        rets.append(self.expected_return[-1:])
        return np.concatenate(risks), np.concatenate(rets)


def efficient_frontier(
    cov: CovarianceLike,
    mu: Vector,
    *,
    lower: Bounds = 0.0,
    upper: Bounds = 1.0,
    budget: float = 1.0,
    benchmark: Vector | None = None,
    constraints: Constraints | None = None,
    tol: float = 1e-9,
    max_points: int | None = None,
    check_psd: bool = True,
    progress: ProgressCallback | None = None,
) -> Frontier:
    """The whole efficient frontier by the critical line algorithm (parametric active set, C++).

    Starts from the certified minimum-variance portfolio (minimum tracking error with a benchmark)
    and follows the piecewise-linear path of solutions as the risk aversion falls to 0, recording
    every turning point (an asset reaching or leaving a bound). Both ends of every segment are
    certified by the duality gap of the mean-variance problem there.

    Ties (equal expected returns, duplicated assets) are broken by the lowest index; where the
    maximum-return portfolio is not unique, the path ends at the least risky of them. Equal
    expected returns everywhere give a frontier of one point.

    ``progress(done, total)``, if given, is called at most every 50 ms and at the end, ``done``
    out of ``total`` thousandths of the way in expected return from the start to the end; an
    exception it raises stops the walk and propagates (as Ctrl-C does, with KeyboardInterrupt).
    """
    progress = as_progress(progress)
    prob, rows = _prepare_with(cov, mu, lower, upper, budget, benchmark, constraints, tol, check_psd)
    if max_points is not None:
        _positive_int(max_points, "max_points")
    # clipped so that the core's int arithmetic on it (4 * max_points) cannot overflow
    return _path(prob, rows, max_points=int(min(max_points or 0, (2**31 - 1) // 4)), progress=progress)


@dataclass(frozen=True)
class _Problem:
    """A validated frontier problem (internal)."""

    cov: np.ndarray
    mu: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    benchmark: np.ndarray  # EMPTY without one
    budget: float
    tol: float
    labels: Any


def _prepare_with(cov, mu, lower, upper, budget, benchmark, constraints, tol, check_psd, **kw):
    """The problem and, with ``constraints=`` holding rows or a turnover limit, its rows."""
    from ._targets_rows import resolve_rows
    from .solvers import _constraints_or_keywords

    given = _constraints_or_keywords(constraints, lower, upper, budget)
    labels = kw.pop("labels", None)
    if labels is None:
        labels = asset_labels(cov, mu, given.lower, given.upper, benchmark, given.groups, given.current_weights)
    p = _prepare(cov, mu, given.lower, given.upper, given.budget, benchmark, tol, check_psd, labels=labels, **kw)
    rows = None if constraints is None else resolve_rows(given, len(p.mu), p.labels, cov)
    return p, rows


def _path(p: _Problem, rows: Any, max_points: int = 0, *, whole: bool = False, progress: Any = None) -> Frontier:
    """The frontier of a prepared problem: the core's walk, or with rows the rows' walk. ``whole``:
    the caller needs the whole path, so a covariance under which the rows' path is not unique
    raises InputError naming ``cov`` instead of returning the path up to there. The rows' walk
    reports its progress only at its end."""
    if rows is None:
        return _run(p, max_points=max_points, progress=progress)
    if rows.trading is not None:
        raise InputError("constraints", "the frontier takes bounds, a budget, group limits, linear rows and exposure "
                                        "limits; current weights and a turnover limit belong to solve_mean_variance")
    from ._frontier_rows import walk

    raw = walk(p, rows, max_points)
    if progress is not None:
        progress(1, 1)
    if raw["singular"] and (whole or not len(raw["tau"])):
        raise InputError("cov", "is singular where the constraints' rows bind, so the frontier under them is not "
                                "unique; give a positive definite covariance (shrinkage, or a factor model with "
                                "positive specific variances)")
    return _from_raw(p, raw)


def _prepare(
    cov: Any, mu: Any, lower: Any, upper: Any, budget: Any, benchmark: Any, tol: Any, check_psd: bool,
    *, mu_name: str = "mu", cov_name: str = "cov", labels: Any = None,
) -> _Problem:
    """``labels``: the assets' labels when the caller knows them already (else read off the inputs)."""
    if labels is None:
        labels = asset_labels(cov, mu, lower, upper, benchmark)
    s, report = as_covariance(cov, check_psd=check_psd, name=cov_name)
    n = s.shape[0]
    mu_a = as_vector(mu, n, mu_name, labels=labels)
    budget_f = as_scalar(budget, "budget")
    lo, up = as_bounds(lower, upper, n, budget_f, labels)
    b = EMPTY if benchmark is None else as_vector(benchmark, n, "benchmark", labels=labels)
    tol_f = as_tolerance(tol, minimum=FRONTIER_TOL_MIN)
    check_scales(report, n, budget=budget_f, mu=mu_a, benchmark=b, frontier=True, mu_name=mu_name, cov_name=cov_name)
    return _Problem(s, mu_a, lo, up, b, budget_f, tol_f, tuple(labels) if labels is not None else None)


def _run(p: _Problem, *, max_points: int = 0, stop_return: float = np.inf, stop_risk: float = np.inf,
         progress: Any = None) -> Frontier:
    """The core's path, optionally stopped at the first turning point past a target."""
    raw = _core.efficient_frontier(
        p.cov, p.mu, p.lower, p.upper, p.benchmark, p.budget, p.tol, max_points, stop_return, stop_risk, progress
    )
    return _from_raw(p, raw)


def _from_raw(p: _Problem, raw: Any) -> Frontier:
    """The Frontier of a walk's fields (the core's, or the rows' walk's with a Status)."""
    rows = isinstance(raw["status"], Status)  # the rows' walk reports a Status, the core a code
    status = raw["status"] if rows else from_core(raw["status"])
    if status == Status.INFEASIBLE:
        raise InfeasibleError("constraints" if rows else "lower", raw["message"])
    # + 0.0 turns a -0.0 from the core (a one-point path) into +0.0: 1 / tau is then +inf, the
    # minimum-variance end, never -inf
    tau = np.asarray(raw["tau"], dtype=np.float64) + 0.0
    if tau.size == 0:
        raise SolverError(f"frontier ended with status {status.name}: {raw['message']}", raw)
    weights = np.asarray(raw["weights"])
    risk = np.asarray(raw["risk"])
    b = p.benchmark
    if b.size:
        sb = p.cov @ b
        # w'Sw = (w-b)'S(w-b) + 2 (Sb)'(w - b) + b'Sb
        vol = np.sqrt(np.maximum(risk**2 + 2 * (weights - b) @ sb + b @ sb, 0.0))
        te = risk
    else:
        vol, te = risk, None
    with np.errstate(divide="ignore"):
        ra = 1.0 / tau
    seg = np.column_stack([raw["mean0"], raw["mean1"], raw["var0"], raw["var1"], raw["var2"]])
    expected = np.asarray(raw["expected_return"])
    guarded = finite_status(status, weights, expected, vol, te, tau, seg, raw["max_rel_gap"])
    message = str(raw["message"])
    if guarded != status:
        status, message = guarded, "a number on the path is not finite (the data's scale overflows or underflows)"
    return Frontier(
        risk_aversion=ra, _w=weights, expected_return=expected, volatility=vol,
        tracking_error=te, status=status, max_rel_gap=float(raw["max_rel_gap"]), unbounded=bool(raw["unbounded"]),
        solve_time_s=float(raw["solve_time_s"]), budget=p.budget,
        benchmark_return=float(p.mu @ b) if b.size else None,
        labels=p.labels, message=message,
        _tau=tau, _seg=seg, _ray=np.asarray(raw["ray"]), _truncated=bool(raw["truncated"]),
    )


@dataclass(frozen=True, repr=False, eq=False)
class MaxSharpeResult(Result):
    """The portfolio of highest Sharpe ratio ``(mu'w - risk_free * budget) / sqrt(w'Sw)``.

    ``status`` is the frontier's (OPTIMAL when every turning point passed its certificate: the
    tangency is then exact on a certified path); ``solve_time_s`` the frontier walk's."""

    weights: Any
    sharpe: float
    expected_return: float
    volatility: float
    risk_aversion: float  #: where it sits on the frontier (the tangency point)
    frontier: Frontier
    status: Status = Status.OPTIMAL
    solve_time_s: float = 0.0

    _figures = ("sharpe", "expected_return", "volatility", "risk_aversion")
    _columns = (("weight", "weights"),)

    def _why(self) -> str:
        return self.frontier.message


def max_sharpe(
    cov: CovarianceLike,
    mu: Vector,
    *,
    risk_free: float = 0.0,
    lower: Bounds = 0.0,
    upper: Bounds = 1.0,
    budget: float = 1.0,
    constraints: Constraints | None = None,
    tol: float = 1e-9,
    check_psd: bool = True,
    progress: ProgressCallback | None = None,
) -> MaxSharpeResult:
    """Maximum Sharpe ratio over ``sum(w) = budget, lower <= w <= upper``, exactly.

    On each frontier segment the Sharpe ratio of ``w(tau) = alpha + tau beta`` is maximised in
    closed form (a linear equation in tau); the best segment wins. Raises InfeasibleError naming
    ``risk_free`` when no feasible portfolio has an expected return above the risk-free rate.
    ``progress``: the frontier's walk's, as in :func:`efficient_frontier`.
    """
    progress = as_progress(progress)
    rf = as_scalar(risk_free, "risk_free")
    p, rows = _prepare_with(cov, mu, lower, upper, budget, None, constraints, tol, check_psd)
    fr = _path(p, rows, whole=True, progress=progress)
    fr.raise_for_status()
    excess_top = fr.expected_return[-1] - rf * fr.budget
    if not fr.unbounded and not excess_top > 0:
        raise InfeasibleError(
            "risk_free",
            f"no feasible portfolio has an expected return above the risk-free rate: the highest is "
            f"{_num(fr.expected_return[-1])} against risk_free * budget = {_num(rf * fr.budget)}",
        )
    vol0 = fr.volatility[0]
    if vol0 <= 1e-9 * np.sqrt(p.cov.diagonal().sum() / len(p.mu)) * max(1.0, abs(fr.budget)) and (
        fr.expected_return[0] - rf * fr.budget > 0
    ):
        raise InfeasibleError(
            "risk_free",
            f"a riskless portfolio (volatility {_num(vol0)}) earns {_num(fr.expected_return[0])}, above "
            f"risk_free * budget = {_num(rf * fr.budget)}: the Sharpe ratio is unbounded",
        )
    best = (-np.inf, 0.0)
    tau = fr._tau
    for k in range(len(tau)):
        m0, m1, v0, v1, v2 = fr._seg[k]
        t0, t1 = tau[k], (tau[k + 1] if k + 1 < len(tau) else (np.inf if fr.unbounded else tau[k]))
        a0, a1 = m0 - rf * fr.budget, m1
        cands = [t0] + ([t1] if np.isfinite(t1) else [])
        den = a1 * v1 - a0 * v2
        if den != 0:
            t_star = (a0 * v1 - a1 * v0) / den
            if t0 < t_star < t1:
                cands.append(t_star)
        for t in cands:
            var = v0 + 2 * v1 * t + v2 * t * t
            ex = a0 + a1 * t
            if var > 0 and ex > 0:
                sr = ex / np.sqrt(var)
                if sr > best[0]:
                    best = (sr, t)
    if fr.unbounded:  # along the endless last segment the ratio tends to mean1 / sqrt(var2)
        m0, m1, v0, v1, v2 = fr._seg[-1]
        limit = m1 / np.sqrt(v2) if v2 > 0 else (np.inf if m1 > 0 else -np.inf)
        if limit > 0 and (not np.isfinite(best[0]) or limit > best[0] * (1 + 1e-12)):
            raise InfeasibleError(
                "upper" if np.isinf(p.upper).any() else "lower",
                f"the Sharpe ratio has no maximum: it rises towards {_num(limit)} as the weights grow "
                f"without limit (infinite bounds); give finite bounds",
            )
    if not np.isfinite(best[0]):
        raise InfeasibleError("risk_free", "no frontier portfolio has an expected return above the risk-free rate")
    t = best[1]
    w = fr._at_tau(t)
    wa = np.asarray(w, dtype=float)
    ret = float(p.mu @ wa)
    return MaxSharpeResult(
        weights=w, sharpe=float(best[0]), expected_return=ret,
        volatility=float((ret - rf * fr.budget) / best[0]), risk_aversion=float(np.inf if t == 0 else 1.0 / t),
        frontier=fr, status=finite_status(fr.status, wa, best[0], ret), solve_time_s=fr.solve_time_s,
    )
