"""Result of a mean-variance solve: the weights and the evidence that they are optimal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._core import Status
from .errors import SolverError

__all__ = ["MeanVarianceResult", "Status"]

_STATUS_HELP = {
    Status.OPTIMAL: "certified optimal: relative duality gap <= tol and constraints hold",
    Status.MAX_ITER: "iteration limit reached before the certificate passed; weights are feasible",
    Status.INFEASIBLE: "no portfolio satisfies the bounds and the budget",
    Status.NUMERICAL_ERROR: "no further progress in floating point before the certificate passed",
    Status.NOT_CONVEX: "negative curvature met: the covariance is not positive semidefinite",
    Status.INVALID_INPUT: "the input of this problem was rejected",
}


@dataclass(frozen=True, repr=False, eq=False)
class MeanVarianceResult:
    """Outcome of :func:`microalloc.solve_mean_variance`.

    The problem solved is ``minimise f(w) = (risk_aversion/2) (w-b)'S(w-b) - mu'w`` subject to
    ``sum(w) = budget`` and ``lower <= w <= upper`` (b = 0 without a benchmark, mu = 0 without mu).

    Attributes
    ----------
    weights : numpy.ndarray or pandas.Series
        The portfolio (read-only). Labelled when the inputs were labelled.
    status : Status
        How the solve ended; only ``Status.OPTIMAL`` is certified.
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
