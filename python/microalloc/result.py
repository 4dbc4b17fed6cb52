"""Result of a mean-variance solve: the weights and the evidence that they are optimal."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .errors import SolverError
from .status import Status, finite_status, from_core, status_names
from ._sealed import Sealed

__all__ = ["MeanVarianceResult", "MeanVarianceBatchResult", "Status"]

#: Numbers of a solve that must be finite under OPTIMAL (with the weights).
_FINITE_FIELDS = (
    "objective", "expected_return", "risk", "gap", "rel_gap", "primal_residual", "dual_residual", "budget_multiplier",
)

_STATUS_HELP = {
    Status.OPTIMAL: "certified optimal: relative duality gap <= tol and constraints hold",
    Status.MAX_ITER: "iteration limit reached before the certificate passed; weights are feasible",
    Status.INFEASIBLE: "no portfolio satisfies the bounds and the budget",
    Status.NUMERICAL_ERROR: "no further progress in floating point before the certificate passed",
    Status.NOT_CONVEX: "negative curvature met: the covariance is not positive semidefinite",
    Status.INVALID_INPUT: "the input of this problem was rejected",
}


@dataclass(frozen=True, repr=False, eq=False)
class MeanVarianceResult(Sealed):
    """Outcome of :func:`microalloc.solve_mean_variance`.

    The problem solved is ``minimise f(w) = (risk_aversion/2) (w-b)'S(w-b) - mu'w`` subject to
    ``sum(w) = budget`` and ``lower <= w <= upper`` (b = 0 without a benchmark, mu = 0 without mu).

    Attributes
    ----------
    weights : numpy.ndarray or pandas.Series
        The portfolio (read-only). Labelled when the inputs were labelled.
    status : Status
        How the solve ended; only ``Status.OPTIMAL`` is certified (and truthy: ``if res.status:``
        reads "if the certificate passed"). Prints and compares as its name (``"OPTIMAL"``).
    objective : float
        ``f(weights)``, the minimised value (minus the mean-variance utility).
    expected_return : float
        ``mu'w`` (0.0 when mu was not given).
    risk : float
        ``sqrt((w-b)'S(w-b))``: the volatility, or the tracking error when a benchmark was given.
    gap : float
        Certified upper bound on ``f(weights) - f*`` (duality gap).
    rel_gap : float
        ``gap`` divided by the objective's magnitude; ``<= tol`` for OPTIMAL.
    primal_residual : float
        ``max(|sum(w) - budget|, bound violations)``.
    dual_residual : float
        Largest violation of the KKT conditions by ``r = grad f(w) + budget_multiplier``
        (``|r_i|`` for free assets, wrong-signed ``r_i`` for assets at a bound).
    budget_multiplier : float
        Multiplier of the budget: the utility gained per unit of extra budget.
    active_lower, active_upper : numpy.ndarray
        Indices of the assets held exactly at their lower / upper bound.
    iterations : int
    solve_time_s : float
        Time in the compiled solver (validation excluded).
    method : str
    trades, turnover, costs_paid, trade_gain
        With current weights (``Constraints(current_weights=...)``): the trades ``w - w0``, their
        turnover ``sum |w - w0|``, the costs paid at the given rates (included in ``objective``)
        and the utility gained by trading net of costs, ``f(w0) - objective`` (``>= 0`` when the
        current weights meet the constraints; ``inf`` when they do not and trading is forced). A
        nightly job can skip an account whose ``trade_gain`` is below what a rebalance is worth
        to it. None without current weights.
    """

    weights: Any
    status: Status
    objective: float
    expected_return: float
    risk: float
    gap: float
    rel_gap: float
    primal_residual: float
    dual_residual: float
    budget_multiplier: float
    active_lower: np.ndarray
    active_upper: np.ndarray
    iterations: int
    solve_time_s: float
    method: str
    tol: float
    info: dict = field(default_factory=dict)
    trades: Any = None
    turnover: float | None = None
    costs_paid: float | None = None
    trade_gain: float | None = None

    @classmethod
    def _from_core(cls, fields: dict[str, Any], method: str, tol: float, info: dict) -> "MeanVarianceResult":
        """Build from the core's fields without the per-field frozen-dataclass __init__ (a few
        microseconds that matter for small solves); every field is set exactly once."""
        self = object.__new__(cls)
        fields["status"] = finite_status(
            from_core(fields["status"]), fields["weights"], *(fields[k] for k in _FINITE_FIELDS)
        )
        fields.update(method=method, tol=tol, info=info, trades=None, turnover=None, costs_paid=None, trade_gain=None)
        self.__dict__.update(fields)
        return self

    @property
    def is_optimal(self) -> bool:
        """True when the status is OPTIMAL (the certificate passed)."""
        return self.status == Status.OPTIMAL

    def raise_for_status(self) -> "MeanVarianceResult":
        """Return self if OPTIMAL, else raise :class:`~microalloc.errors.SolverError`."""
        if self.status != Status.OPTIMAL:
            raise SolverError(
                f"solve ended with status {self.status.name} ({_STATUS_HELP[self.status]}); "
                f"rel_gap={self.rel_gap:.3g}, iterations={self.iterations}",
                self,
            )
        return self

    def __repr__(self) -> str:
        w = np.asarray(self.weights)
        return (
            f"MeanVarianceResult(status={self.status.name}, objective={self.objective:.10g}, "
            f"risk={self.risk:.6g}, expected_return={self.expected_return:.6g}, rel_gap={self.rel_gap:.2e}, "
            f"iterations={self.iterations}, n={w.size}, n_free={w.size - self.active_lower.size - self.active_upper.size}, "
            f"method={self.method!r}, solve_time_s={self.solve_time_s:.3g})"
        )


@dataclass(frozen=True, repr=False)
class MeanVarianceBatchResult(Sealed):
    """Results of :func:`microalloc.solve_mean_variance_batch`, one row (or entry) per problem.

    ``status`` holds the :class:`Status` names as a numpy array of fixed-width strings, so it
    prints as names and compares elementwise with a name or a member (``r.status == "OPTIMAL"``);
    ``status_code`` holds the core's int32 codes (the names are built from them on first access,
    one indexing pass). ``is_optimal`` is the boolean mask of the certified rows. A row whose
    inputs were bad (NaN, infeasible bounds) has ``INVALID_INPUT`` or ``INFEASIBLE`` and NaN
    weights, and never stops the others.
    """

    weights: Any  # (m, n) array; a DataFrame (assets as columns) with labelled inputs
    status_code: np.ndarray  # (m,) int32 codes of the core (Status(code) converts one)
    iterations: np.ndarray  # (m,)
    objective: np.ndarray
    expected_return: np.ndarray
    risk: np.ndarray
    gap: np.ndarray
    rel_gap: np.ndarray
    solve_time_s: np.ndarray  # per problem, in its worker thread
    method: str
    tol: float
    threads: int
    turnover: np.ndarray | None = None  # (m,) with current weights: sum |w - w0|
    costs_paid: np.ndarray | None = None  # (m,) the costs at the given rates (in objective)
    trade_gain: np.ndarray | None = None  # (m,) f(w0) - objective; inf where w0 breaks a limit

    @cached_property
    def status(self) -> np.ndarray:
        """(m,) array of status names (dtype ``<U15``), elementwise comparable with names."""
        return status_names(self.status_code)

    def __len__(self) -> int:
        return int(self.status_code.shape[0])

    @property
    def is_optimal(self) -> np.ndarray:
        """Boolean mask of the rows solved to OPTIMAL."""
        return self.status_code == Status.OPTIMAL.code

    def raise_for_status(self) -> None:
        """Raise SolverError naming the first row that is not OPTIMAL."""
        bad = np.flatnonzero(~self.is_optimal)
        if bad.size:
            i = int(bad[0])
            raise SolverError(
                f"{bad.size} of {len(self)} problems not solved; first: row {i} ended {from_core(self.status_code[i])}",
                self,
            )

    def __repr__(self) -> str:
        counts = {from_core(c).name: int(k) for c, k in zip(*np.unique(self.status_code, return_counts=True))}
        m, n = self.weights.shape
        return f"MeanVarianceBatchResult(m={m}, n={n}, status={counts}, method={self.method!r}, threads={self.threads})"
