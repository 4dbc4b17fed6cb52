"""microalloc: certified mean-variance portfolio construction with a C++ core."""

from __future__ import annotations

from . import errors
from ._core import ISA as CORE_ISA
from ._core import __version__
from .constraints import Constraints
from .covariance import Covariance, FactorCovariance, clear_covariance_cache
from .datasets import load_industry_returns
from .errors import *  # noqa: F403 - the exception classes are part of the public API
from .active import ActivePortfolio, FundCombination, active_portfolio, combine_funds
from .frontier import Frontier, MaxSharpeResult, efficient_frontier, max_sharpe
from .targets import TargetResult, max_return, min_risk
from .projection import project_box_budget
from .liquidity import capacity, impact_coefficients, liquidity_bounds
from .shares import SharesBatchResult, SharesResult, whole_shares, whole_shares_batch
from .rebalance import (
    BacktestResult,
    BandCheck,
    Policy,
    Rebalance,
    backtest_rebalancing,
    check_bands,
    drift,
    rebalance_trades,
    weights_from_holdings,
)
from .result import MeanVarianceBatchResult, MeanVarianceResult, Result
from . import estimation, skill  # numpy only; plot (matplotlib) and dask are imported by name
from .status import Status
from .risk import (
    MoneyRiskBudget,
    RiskBudgetingResult,
    RiskContributions,
    active_share,
    money_risk_budget,
    risk_budgeting,
    risk_contributions,
    tracking_error,
)
from .solvers import METHODS, solve_mean_variance, solve_mean_variance_batch

__all__ = [
    "__version__",
    "CORE_ISA",
    "Status",
    "Result",
    "Covariance",
    "FactorCovariance",
    "clear_covariance_cache",
    "Constraints",
    "MeanVarianceResult",
    "solve_mean_variance",
    "solve_mean_variance_batch",
    "MeanVarianceBatchResult",
    "METHODS",
    "whole_shares",
    "whole_shares_batch",
    "SharesResult",
    "SharesBatchResult",
    "project_box_budget",
    "efficient_frontier",
    "Frontier",
    "max_sharpe",
    "MaxSharpeResult",
    "min_risk",
    "max_return",
    "TargetResult",
    "active_portfolio",
    "ActivePortfolio",
    "combine_funds",
    "FundCombination",
    "risk_contributions",
    "RiskContributions",
    "active_share",
    "tracking_error",
    "risk_budgeting",
    "RiskBudgetingResult",
    "money_risk_budget",
    "MoneyRiskBudget",
    "check_bands",
    "BandCheck",
    "rebalance_trades",
    "Rebalance",
    "drift",
    "weights_from_holdings",
    "backtest_rebalancing",
    "Policy",
    "BacktestResult",
    "impact_coefficients",
    "liquidity_bounds",
    "capacity",
    "load_industry_returns",
    "estimation",
    "skill",
    "errors",
    *errors.__all__,
]


def __getattr__(name: str) -> object:
    """The optional submodules (their extras' dependencies) load on first use: ``ma.plot``."""
    if name in ("plot", "dask", "holdings"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'microalloc' has no attribute {name!r}")
