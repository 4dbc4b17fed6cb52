"""Exact projection onto the box-and-budget set."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._validate import _as_float_array, as_bounds, as_scalar, as_vector, labels_of

__all__ = ["project_box_budget"]


def project_box_budget(y: Any, lower: Any = 0.0, upper: Any = 1.0, budget: float = 1.0) -> Any:
    """Euclidean projection of ``y`` onto ``{x : lower <= x <= upper, sum(x) = budget}``.

    The result is ``x_i = clip(y_i - nu, lower_i, upper_i)`` with the scalar ``nu`` found exactly
    (safeguarded Newton on nu ending in the closed form on the final free set; Condat's algorithm
    on the simplex). Bounds may be scalars or vectors and may be infinite.

    Raises
    ------
    InfeasibleError
        When ``lower > upper`` somewhere, or ``sum(lower) > budget``, or ``sum(upper) < budget``.
    """
    labels = labels_of(y)
    arr = _as_float_array(y, "y")
    if arr.ndim != 1:
        from .errors import ShapeError

        raise ShapeError("y", f"expected a 1-D vector, got shape {arr.shape}")
    n = arr.shape[0]
    v = as_vector(arr, n, "y")
    b = as_scalar(budget, "budget")
    lo, up = as_bounds(lower, upper, n, b)
    x, _ = _core.project_box_budget(v, lo, up, b)
    if labels is not None:
        import pandas as pd

        return pd.Series(x, index=labels, name=getattr(y, "name", None))
    return x
