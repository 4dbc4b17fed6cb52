"""The result of a frontier target (min_risk, max_return, active_portfolio's target), shared by
the frontier walk (targets.py) and the rows' solves (_targets_rows.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._deprecated import renamed_attribute
from .result import Result
from .status import Status

__all__ = ["TargetResult"]


@dataclass(frozen=True, repr=False)
class TargetResult(Result):
    """A frontier portfolio chosen by a target, with the certificate of the target problem.

    Attributes
    ----------
    weights : (n,) array or pandas.Series
    expected_return, volatility : float
    tracking_error : float or None
        With a benchmark.
    risk_aversion : float
        Where the portfolio sits on the frontier (``inf``: the minimum-risk portfolio; ``0``: the
        maximum-return one). For :func:`min_risk` ``2 / risk_aversion`` is the price of the target:
        the variance added per unit of required return.
    target, target_value : str, float
        The target's name (``"target_return"``, ``"target_volatility"``, ``"target_tracking_error"``)
        and value.
    binding : bool
        False when the target does not constrain the answer: the minimum-risk portfolio already
        earns the target return, or the maximum-return portfolio is within the target risk.
    status : Status
        OPTIMAL when the certificate passed ``tol`` and the target holds (to 1e-10 relative).
    gap, rel_gap : float
        Duality gap of the target problem: in variance units (tracking variance with a
        benchmark) for :func:`min_risk`, in return units for :func:`max_return` (except at a
        target equal to the minimum risk, where it is the minimum-risk problem's, in variance
        units); relative to the objective (for returns: to the larger of ``|mu'w|`` and the
        spread of ``mu`` times the budget, so that a constant added to ``mu`` does not change it).
    primal_residual : float
        The largest violation of the budget, a bound, or the target.
    dual_residual : float
        KKT sign and stationarity violation of the mean-variance problem at this risk aversion.
    """

    weights: Any
    expected_return: float
    volatility: float
    tracking_error: float | None
    risk_aversion: float
    target: str
    target_value: float
    binding: bool
    status: Status
    gap: float
    rel_gap: float
    primal_residual: float
    dual_residual: float
    solve_time_s: float
    message: str = ""

    _figures = ("target", "target_value", "binding", "expected_return", "volatility", "tracking_error",
                "risk_aversion", "rel_gap")
    _columns = (("weight", "weights"),)
    risk = renamed_attribute("risk", "tracking_error (with a benchmark) or volatility", "_risk")

    @property
    def _risk(self) -> float:
        """The risk the target is about: the tracking error with a benchmark, else the volatility."""
        return self.tracking_error if self.tracking_error is not None else self.volatility


def variance_floor(p: Any) -> float:
    """The variance below which relative gaps become absolute: the solvers' floor (1e-4 of the
    average variance times the squared budget in their half-variance objective, so 2e-4 here)."""
    return 2e-4 * float(p.cov.diagonal().sum()) / len(p.mu) * max(1.0, p.budget * p.budget)
