"""microalloc on Dask: the single-machine batch functions over dask collections.

Each function takes the arguments of its single-machine namesake. Any argument that is a dask
collection is per account (chunked by rows, the whole asset axis in each chunk); everything else
(the covariance, shared vectors, options) is shared and sent to each worker once, as one key of
the graph. Each chunk is one call of the single-machine function in a task (chunks of risk and band
functions cut at multiples of 256 rows, see GEMM_ROWS); the result is a
:class:`DaskResult`, lazy: its fields are dask arrays (or dask DataFrames for labelled inputs) and
``compute()`` gives the single-machine result, equal field by field to the single-machine call on
the computed inputs.

Threads: inside a task the C++ core runs one thread by default (a worker runs as many tasks at
once as it has threads; see docs/scale-out.md). Needs the ``microalloc[dask]`` extra.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import dask
import dask.array as da
import numpy as np

from . import holdings as _holdings
from . import rebalance as _rebalance
from . import risk as _risk
from . import solvers as _solvers
from .errors import InputError
from ._typing import ArrayLike
from .covariance import CovarianceLike

__all__ = ["DaskResult", "check_bands", "rebalance_holdings", "rebalance_trades", "risk_contributions",
           "solve_mean_variance_batch"]


def solve_mean_variance_batch(cov: CovarianceLike, mu: ArrayLike | None = None, **kwargs: Any) -> DaskResult:
    """:func:`microalloc.solve_mean_variance_batch` with ``mu`` (and any other per-problem input)
    a dask array or DataFrame chunked by problems."""
    return _map_rows(_solvers.solve_mean_variance_batch, dict(cov=cov, mu=mu, **kwargs))


def check_bands(weights: ArrayLike, targets: ArrayLike, **kwargs: Any) -> DaskResult:
    """:func:`microalloc.check_bands` over a dask array or DataFrame of weights (accounts as rows)."""
    return _map_rows(_rebalance.check_bands, dict(weights=weights, targets=targets, **kwargs), GEMM_ROWS)


def rebalance_trades(weights: ArrayLike, targets: ArrayLike, **kwargs: Any) -> DaskResult:
    """:func:`microalloc.rebalance_trades` over a dask array or DataFrame of weights."""
    return _map_rows(_rebalance.rebalance_trades, dict(weights=weights, targets=targets, **kwargs), GEMM_ROWS)


def risk_contributions(cov: CovarianceLike, weights: ArrayLike, **kwargs: Any) -> DaskResult:
    """:func:`microalloc.risk_contributions` (with the factor decomposition for a factor model)
    over a dask array or DataFrame of portfolios."""
    return _map_rows(_risk.risk_contributions, dict(cov=cov, weights=weights, **kwargs), GEMM_ROWS)


def rebalance_holdings(holdings: Any, targets: Any = None, **kwargs: Any) -> DaskResult:
    """:func:`microalloc.holdings.rebalance_holdings` over a dask DataFrame in long format,
    partitioned by account (every row of an account in one partition: read it so, or
    ``holdings.shuffle("account")``); ``targets`` is a pandas DataFrame, shared. ``compute()``
    refuses a result in which an account came from two partitions."""
    if not _is_dask_frame(holdings):
        raise InputError("holdings", f"expected a dask DataFrame, got {type(holdings).__name__}")
    return _map_rows(_holdings.rebalance_holdings, dict(holdings=holdings, targets=targets, **kwargs))


# -- mapping over row chunks ------------------------------------------------------------------------
#: The core's batch kernels (risk, band checks with a covariance) multiply blocks of 256 rows: a
#: row's last bits depend on its place in the block (the GEMM's edge panels round otherwise), so
#: array chunks are cut at multiples of 256 rows, where the single-machine call cuts its blocks.
GEMM_ROWS = 256


def _map_rows(func: Callable[..., Any], kwargs: dict[str, Any], align: int = 1) -> DaskResult:
    per_row = {k: v for k, v in kwargs.items() if dask.is_dask_collection(v)}
    if not per_row:
        raise InputError(next(iter(kwargs)), "no argument is a dask collection: call microalloc's own function")
    lead_name, lead = next(iter(per_row.items()))
    if _is_dask_frame(lead):
        blocks, rows = _frame_blocks(per_row, lead_name)
    else:
        blocks, rows = _array_blocks(per_row, lead_name, align)
    shared = {k: dask.delayed(v, pure=False) if _is_bulky(v) else v  # one key: shipped once per worker
              for k, v in kwargs.items() if k not in per_row}
    chunks = [dask.delayed(_call, pure=True)(func, {**shared, **{k: b[i] for k, b in blocks.items()}})
              for i in range(len(rows))]
    return DaskResult(chunks, rows, lead if _is_dask_frame(lead) else None, _tails(kwargs))


def _call(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    return func(**kwargs)


def _is_bulky(v: Any) -> bool:
    return not (v is None or isinstance(v, (bool, int, float, str, np.generic)))


def _is_dask_frame(v: Any) -> bool:
    import sys

    dd = sys.modules.get("dask.dataframe")
    return dd is not None and isinstance(v, (dd.DataFrame, dd.Series))


def _array_blocks(per_row: dict[str, Any], lead_name: str, align: int) -> tuple[dict[str, list], tuple]:
    """Each dask array chunked like the lead on rows (cut at multiples of ``align``), whole on the
    other axes."""
    lead = per_row[lead_name]
    if lead.ndim not in (1, 2) or np.isnan(lead.shape[0]):
        raise InputError(lead_name, f"expected a dask array of known shape (m,) or (m, n), got {lead.shape}")
    rows = _aligned(lead.chunks[0], align)
    blocks = {}
    for name, x in per_row.items():
        if not isinstance(x, da.Array):
            raise InputError(name, f"expected a dask array like {lead_name!r}, got {type(x).__name__}")
        if x.ndim == 0 or x.shape[0] != lead.shape[0]:
            raise InputError(name, f"expected {lead.shape[0]} rows like {lead_name!r}, got shape {x.shape} "
                                   "(pass shared inputs as numpy arrays)")
        x = x.rechunk((rows,) + tuple(-1 for _ in x.shape[1:]))
        blocks[name] = list(x.to_delayed().reshape(len(rows), -1)[:, 0])
    return blocks, rows


def _aligned(rows: tuple[int, ...], align: int) -> tuple[int, ...]:
    """The chunks' typical size rounded up to a multiple of align, the rest in the last chunk."""
    if align == 1 or all(r % align == 0 for r in rows[:-1]):
        return tuple(rows)
    m, size = sum(rows), -(-max(rows) // align) * align
    return (size,) * (m // size) + ((m % size,) if m % size else ())


def _frame_blocks(per_row: dict[str, Any], lead_name: str) -> tuple[dict[str, list], tuple]:
    """Dask DataFrames and Series go partition by partition (the same number of partitions)."""
    k = per_row[lead_name].npartitions
    blocks = {}
    for name, x in per_row.items():
        if not _is_dask_frame(x) or x.npartitions != k:
            raise InputError(name, f"expected a dask DataFrame or Series of {k} partitions like {lead_name!r}")
        blocks[name] = list(x.to_delayed())
    return blocks, (np.nan,) * k


# -- the lazy result ------------------------------------------------------------------------------
#: Fields with an asset axis or a factor axis after the rows; the dtypes that are not float64.
_ASSET_FIELDS = {"weights", "trades", "units", "breach", "marginal", "component", "percent", "active_marginal",
                 "active_component", "active_percent", "active_return_contribution", "efficiency",
                 "component_factor", "component_specific", "active_component_factor", "active_component_specific"}
_FACTOR_FIELDS = {"factor_exposures", "factor_contribution", "active_factor_exposures", "active_factor_contribution"}
_DTYPES = {"status_code": np.int32, "iterations": np.int32, "n_breaches": np.int64, "breach": bool,
           "triggered": bool, "traded": bool}


def _tails(kwargs: dict[str, Any]) -> dict[str, int]:
    n = next((v.shape[-1] for k, v in kwargs.items() if k in ("mu", "weights") and getattr(v, "ndim", 0) == 2), 0)
    k = getattr(kwargs.get("cov"), "k", 0)
    return {"asset": int(n) if not np.isnan(n) else 0, "factor": int(k)}


class DaskResult:
    """A lazy batch result: one single-machine result per chunk of rows.

    - ``compute()``: the single-machine result, the chunks' fields concatenated along the rows;
    - a field (``res.weights``, ``res.status_code``, ...): a dask array over the chunks (a dask
      DataFrame or Series when the input was one), for further lazy work or ``to_parquet``;
    - ``to_delayed()``: the chunks' results as delayed objects.
    """

    def __init__(self, chunks: list[Any], rows: tuple, frame: Any, tails: dict[str, int]) -> None:
        self._chunks, self._rows, self._frame, self._tails = chunks, tuple(rows), frame, tails

    @property
    def npartitions(self) -> int:
        return len(self._chunks)

    def to_delayed(self) -> list[Any]:
        return list(self._chunks)

    def compute(self, **kwargs: Any) -> Any:
        client = _distributed_client() if not kwargs else None
        if client is None:
            return concat(list(dask.compute(*self._chunks, **kwargs)))
        # straight from the workers: through the scheduler, every result would cross twice
        return concat(client.gather(client.compute(self._chunks), direct=True))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        parts = [dask.delayed(_field, pure=True)(c, name) for c in self._chunks]
        if self._frame is not None:
            import dask.dataframe as dd

            return dd.from_delayed(parts, verify_meta=False)
        tail = (self._tails["asset"],) if name in _ASSET_FIELDS else (self._tails["factor"],) if name in _FACTOR_FIELDS else ()
        dtype = _DTYPES.get(name, np.float64)
        return da.concatenate([da.from_delayed(p, shape=(r, *tail), dtype=dtype) for p, r in zip(parts, self._rows)])

    def __repr__(self) -> str:
        return f"DaskResult(chunks={len(self._chunks)}, rows={sum(self._rows)})"


def _distributed_client() -> Any:
    import sys

    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.get_client()
    except ValueError:  # no client: dask's default scheduler
        return None


def _field(result: Any, name: str) -> Any:
    value = getattr(result, name)
    if value is None:
        raise InputError(name, f"{type(result).__name__} has no {name!r} for this call's arguments")
    return value


def concat(parts: list[Any]) -> Any:
    """One result from the chunks' results: arrays and pandas objects joined along the rows,
    nested results likewise, the rest (method, tolerance, threads) from the first chunk."""
    first = parts[0]
    if isinstance(first, _holdings.HoldingsRebalance):
        return _with_time(_concat_holdings(parts), parts)
    if dataclasses.is_dataclass(first) and not isinstance(first, type):
        values = {f.name: concat([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(first)}
        return _with_time(dataclasses.replace(first, **values), parts)
    if isinstance(first, np.ndarray) and first.ndim >= 1:
        return np.concatenate(parts)
    if hasattr(first, "iloc"):  # pandas
        import pandas as pd

        return pd.concat(parts)
    return first


def _with_time(result: Any, parts: list[Any]) -> Any:
    """The chunks' computing time summed, for results that record it apart from their fields."""
    if "solve_time_s" in parts[0].__dict__ and not any(f.name == "solve_time_s" for f in dataclasses.fields(result)):
        object.__setattr__(result, "solve_time_s", float(sum(p.solve_time_s for p in parts)))
    return result


def _concat_holdings(parts: list[Any]) -> Any:
    import pandas as pd

    status = pd.concat([p.status for p in parts], ignore_index=True)
    twice = status["account"].duplicated()
    if twice.any():
        raise InputError("holdings", f"account {status['account'][twice].iloc[0]!r} is in more than one partition "
                                     "(partition the table by account, e.g. holdings.shuffle('account'))")
    return _holdings.HoldingsRebalance(trades=pd.concat([p.trades for p in parts], ignore_index=True), status=status)
