"""Exact projection onto the box-and-budget set."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._validate import SCALE_HUGE, _as_float_array, _fmt, align, as_bounds, as_scalar, as_vector, asset_labels
from .errors import InputError, ShapeError
from ._typing import Vector, Bounds, Labelled

__all__ = ["project_box_budget"]

#: nu beyond this many times the bounds' and budget's scale is re-solved on y shifted by an entry
#: at the root (see :func:`_project`); below, the free entries keep all but ~1e-12 of their digits
_SHIFT_AT = 1e4


def project_box_budget(y: Vector, lower: Bounds = 0.0, upper: Bounds = 1.0, budget: float = 1.0) -> Labelled:
    """Euclidean projection of ``y`` onto ``{x : lower <= x <= upper, sum(x) = budget}``.

    The result is ``x_i = clip(y_i - nu, lower_i, upper_i)`` with the scalar ``nu`` found exactly
    (safeguarded Newton on nu ending in the closed form on the final free set; Condat's algorithm
    on the simplex). Bounds may be scalars or vectors and may be infinite. Any scale of ``y`` up to
    1e300 gives a result that meets the budget and the bounds (``y`` far from the bounds' scale is
    shifted by a constant first, which leaves the projection unchanged); beyond, InputError('y').

    Raises
    ------
    InfeasibleError
        When ``lower > upper`` somewhere, or ``sum(lower) > budget``, or ``sum(upper) < budget``.
    """
    labels = asset_labels(y, lower, upper)
    arr = _as_float_array(align(y, labels, "y"), "y")
    if arr.ndim != 1:
        raise ShapeError("y", f"expected a 1-D vector, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ShapeError("y", "expected at least one entry, got an empty vector")
    n = arr.shape[0]
    v = as_vector(arr, n, "y", labels=labels)
    big = float(np.abs(v).max())
    if big > SCALE_HUGE:
        raise InputError("y", f"max |y| = {_fmt(big)} exceeds {_fmt(SCALE_HUGE)}: the projection's sums "
                         "overflow (rescale y)")
    b = as_scalar(budget, "budget")
    lo, up = as_bounds(lower, upper, n, b, labels)
    x = _project(v, lo, up, b)
    if labels is not None:
        import pandas as pd

        return pd.Series(x, index=labels, name=getattr(y, "name", None))  # type: ignore[call-overload]  # labels: an Index, list or tuple (the stubs refuse a Sequence: it may be a str)
    return x


def _project(v: np.ndarray, lo: np.ndarray, up: np.ndarray, budget: float) -> np.ndarray:
    """The core's projection, accurate at any scale of ``v``.

    A free entry is ``v_i - nu``, a difference that keeps only the digits of ``v_i`` and ``nu``
    below their size: with ``nu`` far above the scale of the bounds and the budget (y = 1e298 with
    bounds in [0, 1]) the free entries are rounding noise, and an entry's two breakpoints
    ``v_i - upper_i`` and ``v_i - lower_i`` can round to one number, so that it jumps from one bound
    to the other and no nu meets the budget. The projection of ``v - c`` is the same for any
    constant c; with c the entry of v at the root (free there, so within the bounds' width of nu)
    the free entries become small differences computed exactly. That entry is the owner of the
    breakpoint next to the core's nu on the side the budget asks for, or the entry nearest nu.
    """
    x, nu = _core.project_box_budget(v, lo, up, budget)
    finite = np.concatenate([np.abs(lo[np.isfinite(lo)]), np.abs(up[np.isfinite(up)]), [1.0, abs(budget)]])
    scale = float(finite.max())
    if abs(nu) <= _SHIFT_AT * scale and _budget_holds(x, budget):
        return x
    excess = float(x.sum()) - budget
    with np.errstate(invalid="ignore"):  # inf - inf of an infinite bound's breakpoint: left out
        bp = np.concatenate([v - up, v - lo])
    owner = np.tile(np.arange(v.size), 2)
    ok = np.isfinite(bp)
    bp, owner = bp[ok], owner[ok]
    candidates = [int(np.argmin(np.abs(v - nu)))]
    side = bp > nu if excess > 0 else bp <= nu  # a sum above the budget needs a larger nu
    if side.any():
        at = np.flatnonzero(side)
        candidates.insert(0, int(owner[at[np.argmin(bp[at])] if excess > 0 else at[np.argmax(bp[at])]]))
    for k in dict.fromkeys(candidates):
        shifted, _ = _core.project_box_budget(v - v[k], lo, up, budget)
        if _budget_holds(shifted, budget):
            return shifted
    raise InputError("y", f"max |y| = {_fmt(float(np.abs(v).max()))} against bounds and budget of size "
                     f"{_fmt(scale)}: the projection cannot meet the budget in float64 (rescale y)")


def _budget_holds(x: np.ndarray, budget: float) -> bool:
    """sum(x) = budget to the rounding of the sum (the core keeps every entry within its bounds)."""
    return bool(abs(float(x.sum()) - budget) <= 64 * np.finfo(float).eps * max(abs(budget), float(np.abs(x).sum()), 1e-300))
