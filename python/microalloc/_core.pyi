"""Type stubs of the compiled core (private; use the microalloc package)."""

import enum
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn, SupportsIndex, SupportsInt

import numpy as np
import numpy.typing as npt

__version__: str
ISA: str  # "baseline" or "x86-64-v3": the build loaded (set by _core.py, not the compiled module)

# progress(done, total), called from the calling thread at most every 50 ms and at the end; an
# exception it raises (or a pending signal: Ctrl-C) stops the run and is raised by the call.
_Progress = Callable[[int, int], object]

# The metaclass of pybind11 classes (pybind11_builtins.pybind11_type, not importable).
class _Pybind11Type(type): ...

# Classes the core returns but Python cannot construct: pybind11's generic __init__ raises TypeError.
class _Result(metaclass=_Pybind11Type):
    def __init__(self, *args: NoReturn, **kwargs: NoReturn) -> None: ...

class Status(enum.IntEnum):
    OPTIMAL = 0
    MAX_ITER = 1
    INFEASIBLE = 2
    NUMERICAL_ERROR = 3
    NOT_CONVEX = 4
    INVALID_INPUT = 5

class CovarianceIssue(enum.IntEnum):
    NONE = 0
    NON_FINITE = 1
    NON_POSITIVE_VARIANCE = 2
    NOT_SYMMETRIC = 3
    CORRELATION_ABOVE_ONE = 4

class CovarianceReport(_Result):
    @property
    def issue(self) -> CovarianceIssue: ...
    @property
    def row(self) -> int: ...
    @property
    def col(self) -> int: ...
    @property
    def value(self) -> float: ...
    @property
    def other(self) -> float: ...
    @property
    def mean_variance(self) -> float: ...
    @property
    def max_variance(self) -> float: ...

class PsdReport(_Result):
    @property
    def psd(self) -> bool: ...
    @property
    def min_eigenvalue(self) -> float: ...
    @property
    def max_eigenvalue(self) -> float: ...

class SolveResult(_Result):
    @property
    def weights(self) -> npt.NDArray[np.float64]: ...
    @property
    def status(self) -> Status: ...
    @property
    def objective(self) -> float: ...
    @property
    def expected_return(self) -> float: ...
    @property
    def risk(self) -> float: ...
    @property
    def iterations(self) -> int: ...
    @property
    def primal_residual(self) -> float: ...
    @property
    def dual_residual(self) -> float: ...
    @property
    def gap(self) -> float: ...
    @property
    def rel_gap(self) -> float: ...
    @property
    def budget_multiplier(self) -> float: ...
    @property
    def active_lower(self) -> npt.NDArray[np.int64]: ...
    @property
    def active_upper(self) -> npt.NDArray[np.int64]: ...
    @property
    def solve_time_s(self) -> float: ...
    @property
    def lipschitz(self) -> float: ...
    @property
    def restarts(self) -> int: ...
    @property
    def factorizations(self) -> int: ...
    @property
    def zero_curvature_steps(self) -> int: ...
    @property
    def crossover_iterations(self) -> int: ...
    @property
    def fields(self) -> tuple[Any, ...]: ...

class BatchResult(_Result):
    @property
    def weights(self) -> npt.NDArray[np.float64]: ...
    @property
    def turnover(self) -> npt.NDArray[np.float64]: ...
    @property
    def costs_paid(self) -> npt.NDArray[np.float64]: ...
    @property
    def trade_gain(self) -> npt.NDArray[np.float64]: ...
    @property
    def status(self) -> npt.NDArray[np.int32]: ...
    @property
    def iterations(self) -> npt.NDArray[np.int32]: ...
    @property
    def objective(self) -> npt.NDArray[np.float64]: ...
    @property
    def expected_return(self) -> npt.NDArray[np.float64]: ...
    @property
    def risk(self) -> npt.NDArray[np.float64]: ...
    @property
    def gap(self) -> npt.NDArray[np.float64]: ...
    @property
    def rel_gap(self) -> npt.NDArray[np.float64]: ...
    @property
    def solve_time_s(self) -> npt.NDArray[np.float64]: ...

def inspect_covariance(cov: npt.NDArray[np.float64], symmetry_tol: float) -> CovarianceReport: ...
def covariance_fingerprint(cov: npt.NDArray[np.float64]) -> tuple[int, int, int]: ...
def check_positive_semidefinite(cov: npt.NDArray[np.float64], rel_tol: float) -> PsdReport: ...
class BoundsIssue(enum.IntEnum):
    NONE = 0
    NAN = 1
    LOWER_PLUS_INF = 2
    UPPER_MINUS_INF = 3
    CROSSED = 4
    LOWER_ABOVE_BUDGET = 5
    UPPER_BELOW_BUDGET = 6

def check_bounds(
    lower: npt.NDArray[np.float64], upper: npt.NDArray[np.float64], budget: float
) -> tuple[BoundsIssue, int, int, int, float, float] | None: ...
def find_non_finite(v: npt.NDArray[np.float64], allow_infinite: bool = False) -> tuple[int, int, float] | None: ...
def project_box_budget(
    y: npt.NDArray[np.float64], lower: npt.NDArray[np.float64], upper: npt.NDArray[np.float64], budget: float
) -> tuple[npt.NDArray[np.float64], float]: ...
def solve_projected_gradient(
    cov: npt.NDArray[np.float64] | FactorModel,
    mu: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    benchmark: npt.NDArray[np.float64],
    risk_aversion: float,
    budget: float,
    warm_start: npt.NDArray[np.float64],
    tol: float,
    max_iter: int,
    check_curvature: bool,
) -> SolveResult: ...
def solve_active_set(
    cov: npt.NDArray[np.float64] | FactorModel,
    mu: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    benchmark: npt.NDArray[np.float64],
    risk_aversion: float,
    budget: float,
    warm_start: npt.NDArray[np.float64],
    tol: float,
    max_iter: int,
) -> SolveResult: ...
def solve_with_rows(
    cov: npt.NDArray[np.float64] | FactorModel,
    mu: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    benchmark: npt.NDArray[np.float64],
    risk_aversion: float,
    budget: float,
    a: npt.NDArray[np.float64],
    row_lower: npt.NDArray[np.float64],
    row_upper: npt.NDArray[np.float64],
    warm_start: npt.NDArray[np.float64],
    tol: float,
    max_iter: int,
    current: npt.NDArray[np.float64],
    buy: npt.NDArray[np.float64],
    sell: npt.NDArray[np.float64],
    turnover: float,
    multipliers_start: npt.NDArray[np.float64],
) -> tuple[SolveResult, npt.NDArray[np.float64], npt.NDArray[np.float64], float, int, dict[str, float]]: ...
def certify_weights(
    cov: npt.NDArray[np.float64] | FactorModel,
    mu: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    benchmark: npt.NDArray[np.float64],
    risk_aversion: float,
    budget: float,
    weights: npt.NDArray[np.float64],
    tol: float,
) -> SolveResult: ...
def solve_batch(
    cov: npt.NDArray[np.float64] | FactorModel,
    mu: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    benchmark: npt.NDArray[np.float64],
    warm_start: npt.NDArray[np.float64],
    risk_aversion: npt.NDArray[np.float64],
    budget: npt.NDArray[np.float64],
    m: int,
    tol: float,
    max_iter: int,
    method: int,
    threads: int,
    a: npt.NDArray[np.float64],
    row_lower: npt.NDArray[np.float64],
    row_upper: npt.NDArray[np.float64],
    current: npt.NDArray[np.float64],
    buy: npt.NDArray[np.float64],
    sell: npt.NDArray[np.float64],
    turnover: npt.NDArray[np.float64],
    progress: _Progress | None = None,
) -> BatchResult: ...
def minimum_turnover(
    current: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    budget: float,
) -> float: ...

class RiskDecomposition(_Result):
    @property
    def volatility(self) -> npt.NDArray[np.float64]: ...
    @property
    def marginal(self) -> npt.NDArray[np.float64]: ...
    @property
    def component(self) -> npt.NDArray[np.float64]: ...
    @property
    def percent(self) -> npt.NDArray[np.float64]: ...
    @property
    def tracking_error(self) -> npt.NDArray[np.float64]: ...
    @property
    def active_marginal(self) -> npt.NDArray[np.float64]: ...
    @property
    def active_component(self) -> npt.NDArray[np.float64]: ...
    @property
    def active_percent(self) -> npt.NDArray[np.float64]: ...
    @property
    def active_return(self) -> npt.NDArray[np.float64]: ...
    @property
    def active_return_contribution(self) -> npt.NDArray[np.float64]: ...
    @property
    def efficiency(self) -> npt.NDArray[np.float64]: ...

class RiskBudgetingResult(_Result):
    @property
    def weights(self) -> npt.NDArray[np.float64]: ...
    @property
    def status(self) -> Status: ...
    @property
    def iterations(self) -> int: ...
    @property
    def newton_steps(self) -> int: ...
    @property
    def risk_contributions(self) -> npt.NDArray[np.float64]: ...
    @property
    def max_budget_error(self) -> float: ...
    @property
    def volatility(self) -> float: ...
    @property
    def solve_time_s(self) -> float: ...
    @property
    def kkt_residual(self) -> float: ...
    @property
    def budget_shift(self) -> float: ...
    @property
    def bound_state(self) -> npt.NDArray[np.int64]: ...
    @property
    def bound_rounds(self) -> int: ...

def decompose_risk(
    cov: npt.NDArray[np.float64] | FactorModel,
    weights: npt.NDArray[np.float64],
    benchmark: npt.NDArray[np.float64],
    expected_returns: npt.NDArray[np.float64],
    threads: int,
) -> RiskDecomposition: ...
def risk_budgeting(
    cov: npt.NDArray[np.float64] | FactorModel, budgets: npt.NDArray[np.float64], tol: float, max_sweeps: int, newton_max_n: int
) -> RiskBudgetingResult: ...
def risk_budgeting_bounded(
    cov: npt.NDArray[np.float64] | FactorModel,
    budgets: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    tol: float,
    max_iter: int,
    guess_rounds: int,
) -> RiskBudgetingResult: ...

class Trigger(metaclass=_Pybind11Type):  # a pybind11 enum (py::enum_), not an enum.Enum
    ANY_BREACH: ClassVar[Trigger]  # value 0
    L1_DRIFT: ClassVar[Trigger]  # value 1
    TRACKING_ERROR: ClassVar[Trigger]  # value 2
    __members__: ClassVar[dict[str, Trigger]]
    def __init__(self, value: SupportsInt | SupportsIndex) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    def __getstate__(self) -> int: ...
    def __setstate__(self, state: SupportsInt | SupportsIndex) -> None: ...

class Action(metaclass=_Pybind11Type):  # a pybind11 enum (py::enum_), not an enum.Enum
    TARGET: ClassVar[Action]  # value 0
    BAND_EDGE: ClassVar[Action]  # value 1
    HALFWAY: ClassVar[Action]  # value 2
    __members__: ClassVar[dict[str, Action]]
    def __init__(self, value: SupportsInt | SupportsIndex) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    def __getstate__(self) -> int: ...
    def __setstate__(self, state: SupportsInt | SupportsIndex) -> None: ...

def check_bands(
    weights: npt.NDArray[np.float64],
    targets: npt.NDArray[np.float64],
    absolute: npt.NDArray[np.float64],
    relative: npt.NDArray[np.float64],
    combine_max: bool,
    cov: npt.NDArray[np.float64] | FactorModel,
    trigger: Trigger,
    threshold: float,
    with_breach: bool,
    threads: int,
) -> tuple[
    npt.NDArray[np.bool_] | None,
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64] | None,
    npt.NDArray[np.bool_],
]: ...
def rebalance(
    weights: npt.NDArray[np.float64],
    targets: npt.NDArray[np.float64],
    absolute: npt.NDArray[np.float64],
    relative: npt.NDArray[np.float64],
    combine_max: bool,
    rows: npt.NDArray[np.bool_] | None,
    action: Action,
    min_trade: float,
    threads: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def backtest(
    prices: npt.NDArray[np.float64],
    targets: npt.NDArray[np.float64],
    kinds: list[int],
    check_days: npt.NDArray[np.uint8],
    absolute: npt.NDArray[np.float64],
    relative: npt.NDArray[np.float64],
    has_absolute: list[bool],
    has_relative: list[bool],
    combine_max: list[bool],
    actions: list[Action],
    min_trade: npt.NDArray[np.float64],
    proportional: npt.NDArray[np.float64],
    impact: npt.NDArray[np.float64],
    threads: int,
    progress: _Progress | None = None,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]: ...
def drift(
    weights: npt.NDArray[np.float64], returns: npt.NDArray[np.float64], threads: int
) -> npt.NDArray[np.float64]: ...
def efficient_frontier(
    cov: npt.NDArray[np.float64] | FactorModel,
    mu: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    benchmark: npt.NDArray[np.float64],
    budget: float,
    tol: float,
    max_points: int,
    stop_return: float = ...,
    stop_risk: float = ...,
    progress: _Progress | None = None,
) -> dict[str, Any]: ...  # turning points and segment coefficients (see bind_frontier.cpp)

# Covariance models (bind_covariance.cpp). FactorModel borrows its three arrays (C-contiguous
# float64, no copy: anything else is a TypeError) and keeps them alive; they must not change while
# it lives. Inconsistent sizes raise ValueError, out-of-range indices IndexError.
class FactorModel(metaclass=_Pybind11Type):
    def __init__(
        self,
        loadings: npt.NDArray[np.float64],
        factor_cov: npt.NDArray[np.float64],
        specific_var: npt.NDArray[np.float64],
    ) -> None: ...
    @property
    def n(self) -> int: ...
    @property
    def shape(self) -> tuple[int, int]: ...
    @property
    def k(self) -> int: ...
    @property
    def rank(self) -> int: ...
    def diagonal(self) -> npt.NDArray[np.float64]: ...
    def __matmul__(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def apply(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def apply_rows(self, w: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def quadratic(self, x: npt.NDArray[np.float64]) -> float: ...
    def gather(self, rows: npt.ArrayLike, cols: npt.ArrayLike) -> npt.NDArray[np.float64]: ...
    def add_column(self, j: int, alpha: float, y: npt.NDArray[np.float64]) -> None: ...
    def free_block(self) -> FreeBlock: ...

class FreeBlock(_Result):  # from FactorModel.free_block(); keeps its model alive
    def reset(self, assets: npt.ArrayLike, ra: float, sigma: float) -> bool: ...
    def assign(self, assets: npt.ArrayLike, ra: float, sigma: float) -> bool: ...
    def append(self, j: int) -> tuple[str, npt.NDArray[np.float64] | None]: ...
    def remove(self, pos: int) -> None: ...
    def solve(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def size(self) -> int: ...
    def factorizations(self) -> int: ...
def round_to_lots(
    target: npt.NDArray[np.float64],
    lot_value: npt.NDArray[np.float64],
    value: float,
    cov: npt.NDArray[np.float64],
    max_nodes: int,
) -> tuple[npt.NDArray[np.int64], float, float, float, int, int]: ...
def round_to_lots_batch(
    targets: npt.NDArray[np.float64],
    lot_values: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    cov: npt.NDArray[np.float64],
    max_nodes: int,
    threads: int,
    progress: _Progress | None = None,
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int32],
]: ...
