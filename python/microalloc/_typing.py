"""The type aliases of the public signatures (for annotations only; nothing here runs a check).

Inputs are numpy's ``ArrayLike``: a numpy array, a list, a scalar, or a pandas Series or
DataFrame (which label the results). pandas is optional and imported here only by the type
checker. ``CovarianceLike`` lives with the covariance classes, in :mod:`microalloc.covariance`.

Outputs that are a numpy array for numpy inputs and a pandas Series or DataFrame for labelled
ones are typed :data:`Labelled` (``Any``): a union would make every use of a result's field
narrow it first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias, Union

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike

__all__ = [
    "ArrayLike", "Vector", "Matrix", "Bounds", "ProgressCallback", "FloatArray", "Labelled",
]

#: a length-n vector (or, where a function takes a batch, an (m, n) matrix): array, list, Series
Vector: TypeAlias = ArrayLike
#: an (m, n) or (n, n) matrix: array, nested lists, DataFrame
Matrix: TypeAlias = ArrayLike
#: a bound on each weight: one number for every asset, or one per asset (``-inf``/``inf`` allowed)
Bounds: TypeAlias = Union[float, ArrayLike]
#: ``progress(done, total)``, called by long runs (see :mod:`microalloc._progress`)
ProgressCallback: TypeAlias = Callable[[int, int], object]
#: a float64 numpy array (what the package returns for unlabelled inputs)
FloatArray: TypeAlias = npt.NDArray[np.float64]
#: a numpy array for numpy inputs, a pandas Series or DataFrame labelled as the inputs were
Labelled: TypeAlias = Any
