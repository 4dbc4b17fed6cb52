"""What every result shares (:class:`Result`), and the result of a mean-variance solve.

Every function of the package returns a :class:`Result`: a frozen record with a ``status``
(``is_optimal`` says whether it is certified; ``raise_for_status()`` turns anything else into an
exception), ``solve_time_s``, ``to_series()`` (its figures: one number each) and ``to_frame()``
(its vectors: one row per asset, problem, turning point or account), a compact ``repr`` and an
HTML table in notebooks. A subclass declares which fields are its figures and which its columns;
the rules live here once.
"""

from __future__ import annotations

import functools
import html
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

import numpy as np

from ._deprecated import renamed_attribute
from .errors import SolverError
from .status import Status, finite_status, from_core, status_names
from ._sealed import Sealed

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Result", "MeanVarianceResult", "MeanVarianceBatchResult", "Status"]

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R", bound="Result")

#: rows of a vector an HTML table shows (the rest are elided)
_HTML_ROWS = 12


class Result(Sealed):
    """The shape every result shares.

    ``status``
        A :class:`Status`. Solves report theirs; results computed in closed form from validated
        inputs (risk contributions, band checks, backtests) have nothing to certify and are
        ``OPTIMAL``. Batches hold one status per row.
    ``is_optimal``
        ``status == OPTIMAL`` (a boolean mask for batches).
    ``raise_for_status()``
        Returns the result when every status is OPTIMAL, else raises
        :class:`~microalloc.errors.SolverError` saying which and why.
    ``solve_time_s``
        Seconds spent computing it: for solves, the compiled solver alone (the checks of the
        inputs, which a call also pays, are excluded; time the call for its wall time).
    ``to_series()`` / ``to_frame()``
        The figures as a pandas Series; the vectors as a DataFrame, labelled as the inputs were.
    """

    __slots__ = ()
    #: the figures (scalar fields) shown by repr and to_series, in order
    _figures: ClassVar[tuple[str, ...]] = ()
    #: (column, attribute) pairs of to_frame; an attribute may be dotted (``check.n_breaches``)
    _columns: ClassVar[tuple[tuple[str, str], ...]] = ()

    # Results without a solve are exact (nothing to certify: OPTIMAL) and record their time when
    # computed (``timed``). Not class attributes: a dataclass would take them as its fields' defaults.
    def __getattr__(self, name: str) -> Any:
        if name == "status":
            return Status.OPTIMAL
        if name == "solve_time_s":
            return float("nan")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def is_optimal(self) -> Any:
        """True when the status is OPTIMAL (the certificate passed)."""
        return self.status == Status.OPTIMAL

    def _why(self) -> str:
        """What a failed status means, for raise_for_status."""
        return str(getattr(self, "message", "") or "")

    def raise_for_status(self: R) -> R:
        """Return self when OPTIMAL, else raise :class:`~microalloc.errors.SolverError`."""
        if not np.all(self.is_optimal):
            why = self._why()
            raise SolverError(f"{type(self).__name__} ended with status {self.status}" + (f": {why}" if why else ""),
                              self)
        return self

    # -- figures and vectors ---------------------------------------------------------------------
    def _value(self, name: str) -> Any:
        v: Any = self
        for part in name.split("."):
            v = getattr(v, part)
        return v

    def _figure_items(self) -> list[tuple[str, Any]]:
        items = []
        for name in ("status", *self._figures, "solve_time_s"):
            v = self._value(name)
            if v is not None and np.ndim(v) == 0:
                items.append((name, v.value if isinstance(v, Status) else v))
        return items

    def to_series(self) -> pd.Series:
        """The figures (status, risk, return, gaps, time, ...) as a pandas Series named by the class
        (the weights are ``.weights``, a Series already when the inputs were labelled)."""
        pd = _pandas("to_series")
        return pd.Series(dict(self._figure_items()), name=type(self).__name__, dtype=object)

    def _column_items(self) -> list[tuple[str, Any]]:
        return [(col, v) for col, attr in self._columns if (v := self._value(attr)) is not None]

    def to_frame(self) -> pd.DataFrame:
        """The vectors as a DataFrame: one row per asset (or problem, turning point, account), a
        column per quantity, indexed by the input's labels (else 0..n-1). Matrices (one row per
        problem and a column per asset) come out long, indexed by (row, asset)."""
        pd = _pandas("to_frame")
        items = self._column_items()
        if not items:
            raise TypeError(f"{type(self).__name__} has no vectors; to_series() gives its figures")
        if any(np.ndim(v) == 2 for _, v in items):
            return pd.DataFrame({c: _long(pd, v) for c, v in items if np.ndim(v) == 2})
        index = next((v.index for _, v in items if hasattr(v, "index") and not callable(v.index)), None)
        return pd.DataFrame({c: np.asarray(v).reshape(-1) if np.ndim(v) else [v] for c, v in items}, index=index)

    # -- display ---------------------------------------------------------------------------------
    def _shape_text(self) -> str:
        """The sizes a repr shows (``n=12``, ``m=100, n=12``); subclasses say theirs."""
        for _, v in self._column_items():
            shape = np.shape(v)
            return f"n={shape[0]}" if len(shape) == 1 else f"m={shape[0]}, n={shape[1]}" if len(shape) == 2 else ""
        return ""

    def __repr__(self) -> str:
        parts = [f"{k}={_short(v)}" for k, v in self._figure_items()]
        shape = self._shape_text()
        return f"{type(self).__name__}({', '.join(parts + ([shape] if shape else []))})"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(_short(v))}</td></tr>"
                       for k, v in self._figure_items())
        out = f"<b>{html.escape(type(self).__name__)}</b><table>{rows}</table>"
        items = [(c, v) for c, v in self._column_items() if np.ndim(v) == 1]
        if items:
            out += _vectors_html(items)
        return out


def _pandas(what: str) -> Any:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas comes with every extra
        raise ImportError(f"{what}() needs pandas: pip install pandas") from None
    return pd


def _long(pd: Any, v: Any) -> Any:
    """A (rows, assets) matrix as one long Series indexed by (row, asset)."""
    a = np.asarray(v)
    rows = v.index if hasattr(v, "columns") else range(a.shape[0])
    cols = v.columns if hasattr(v, "columns") else range(a.shape[1])
    return pd.Series(a.reshape(-1), index=pd.MultiIndex.from_product([rows, cols]))


def _short(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return str(v)


def _vectors_html(items: list[tuple[str, Any]]) -> str:
    n = len(items[0][1])
    index = items[0][1].index if hasattr(items[0][1], "index") else range(n)
    shown = list(range(min(n, _HTML_ROWS)))
    head = "".join(f"<th>{html.escape(c)}</th>" for c, _ in items)
    body = "".join(
        "<tr><th style='text-align:left'>" + html.escape(str(index[i])) + "</th>"
        + "".join(f"<td>{html.escape(_short(np.asarray(v)[i]))}</td>" for _, v in items) + "</tr>"
        for i in shown
    )
    more = f"<tr><td colspan='{len(items) + 1}'>... {n - len(shown)} more</td></tr>" if n > len(shown) else ""
    return f"<table><tr><th></th>{head}</tr>{body}{more}</table>"


def timed(fn: F) -> F:
    """Record ``solve_time_s`` on the result of a function that computes without a solver."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        res = fn(*args, **kwargs)
        object.__setattr__(res, "solve_time_s", time.perf_counter() - t0)
        return res

    return call  # type: ignore[return-value]


#: Numbers of a solve that must be finite under OPTIMAL (with the weights).
_FINITE_FIELDS = (
    "objective", "expected_return", "volatility", "tracking_error", "gap", "rel_gap", "primal_residual",
    "dual_residual", "budget_multiplier",
)

_STATUS_HELP = {
    Status.OPTIMAL: "certified optimal: relative duality gap <= tol and constraints hold",
    Status.MAX_ITER: "iteration limit reached before the certificate passed; weights are feasible",
    Status.INFEASIBLE: "no portfolio satisfies the bounds and the budget",
    Status.NUMERICAL_ERROR: "no further progress in floating point before the certificate passed",
    Status.NOT_CONVEX: "negative curvature met: the covariance is not positive semidefinite",
    Status.INVALID_INPUT: "the input of this problem was rejected",
}


def volatility_of(s: Any, w: np.ndarray) -> Any:
    """``sqrt(w'Sw)`` of one portfolio (w of shape (n,)) or of each row of (m, n) weights, for a
    dense matrix or a covariance model (anything with ``s @ x``)."""
    if w.ndim == 1:
        return float(np.sqrt(max(float(w @ (s @ w)), 0.0)))
    if isinstance(s, np.ndarray):
        var = np.einsum("ij,ij->i", w, w @ s)
    else:
        var = np.array([row @ (s @ row) for row in w])
    return np.sqrt(np.maximum(var, 0.0))


@dataclass(frozen=True, repr=False, eq=False)
class MeanVarianceResult(Result):
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
    volatility : float
        ``sqrt(w'Sw)``.
    tracking_error : float or None
        ``sqrt((w-b)'S(w-b))`` with a benchmark b (the risk the problem minimised), else None.
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
    volatility: float
    tracking_error: float | None
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

    _figures = ("objective", "expected_return", "volatility", "tracking_error", "rel_gap", "iterations", "method")
    _columns = (("weight", "weights"), ("trade", "trades"))
    risk = renamed_attribute("risk", "tracking_error (with a benchmark) or volatility", "_risk")

    @property
    def _risk(self) -> Any:
        return self.tracking_error if self.tracking_error is not None else self.volatility

    @classmethod
    def _from_core(cls, fields: dict[str, Any], method: str, tol: float, info: dict,
                   volatility: float | None = None) -> "MeanVarianceResult":
        """Build from the core's fields without the per-field frozen-dataclass __init__ (a few
        microseconds that matter for small solves); every field is set exactly once. The core's
        ``risk`` is the volatility, or with a benchmark the tracking error (then ``volatility`` is
        given)."""
        self = object.__new__(cls)
        risk = fields.pop("risk")
        fields["volatility"], fields["tracking_error"] = (risk, None) if volatility is None else (volatility, risk)
        fields["status"] = finite_status(
            from_core(fields["status"]), fields["weights"], *(fields[k] for k in _FINITE_FIELDS)
        )
        fields.update(method=method, tol=tol, info=info, trades=None, turnover=None, costs_paid=None, trade_gain=None)
        self.__dict__.update(fields)
        return self

    def _why(self) -> str:
        return f"{_STATUS_HELP[self.status]}; rel_gap={self.rel_gap:.3g}, iterations={self.iterations}"

    def _shape_text(self) -> str:
        n = np.asarray(self.weights).size
        return f"n={n}, n_free={n - self.active_lower.size - self.active_upper.size}"


@dataclass(frozen=True, repr=False)
class MeanVarianceBatchResult(Result):
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
    volatility: np.ndarray  # (m,) sqrt(w'Sw)
    tracking_error: np.ndarray | None  # (m,) sqrt((w-b)'S(w-b)) with a benchmark, else None
    gap: np.ndarray
    rel_gap: np.ndarray
    solve_time_s: np.ndarray  # per problem, in its worker thread
    method: str
    tol: float
    threads: int
    turnover: np.ndarray | None = None  # (m,) with current weights: sum |w - w0|
    costs_paid: np.ndarray | None = None  # (m,) the costs at the given rates (in objective)
    trade_gain: np.ndarray | None = None  # (m,) f(w0) - objective; inf where w0 breaks a limit

    _columns = (("status", "status"), ("objective", "objective"), ("expected_return", "expected_return"),
                ("volatility", "volatility"), ("tracking_error", "tracking_error"), ("gap", "gap"),
                ("rel_gap", "rel_gap"), ("iterations", "iterations"), ("solve_time_s", "solve_time_s"),
                ("turnover", "turnover"), ("costs_paid", "costs_paid"), ("trade_gain", "trade_gain"))
    risk = renamed_attribute("risk", "tracking_error (with a benchmark) or volatility", "_risk")

    @property
    def _risk(self) -> Any:
        return self.tracking_error if self.tracking_error is not None else self.volatility

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

    def raise_for_status(self) -> "MeanVarianceBatchResult":
        """Return self when every row is OPTIMAL, else raise SolverError naming the first that is not."""
        bad = np.flatnonzero(~self.is_optimal)
        if bad.size:
            i = int(bad[0])
            raise SolverError(
                f"{bad.size} of {len(self)} problems not solved; first: row {i} ended {from_core(self.status_code[i])}",
                self,
            )
        return self

    def to_frame(self) -> pd.DataFrame:
        """One row per problem (indexed as the weights' rows): status, objective, risk, gaps, time."""
        frame = super().to_frame()
        if hasattr(self.weights, "index"):
            frame.index = self.weights.index
        return frame

    def _figure_items(self) -> list[tuple[str, Any]]:
        counts = {from_core(c).name: int(k) for c, k in zip(*np.unique(self.status_code, return_counts=True))}
        return [("status", counts), ("method", self.method), ("threads", self.threads),
                ("solve_time_s", float(np.sum(self.solve_time_s)))]

    def _shape_text(self) -> str:
        m, n = self.weights.shape
        return f"m={m}, n={n}"
