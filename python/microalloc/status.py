"""How a solve ended: :class:`Status`, a string enum that reads as its name.

The compiled core reports integer codes (its ``_core.Status``, kept internal); every result
converts them to this class, so that a status prints, formats and compares as the word it is::

    print(res.status)                 # OPTIMAL
    f"{res.status:>10}"               # '   OPTIMAL'
    res.status == "OPTIMAL"           # True (and == Status.OPTIMAL)
    if res.status:                    # "if it succeeded": only OPTIMAL is truthy

Batches hold their statuses as a numpy array of these names (see
:class:`~microalloc.MeanVarianceBatchResult`).
"""

from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np

from . import _core

__all__ = ["Status"]


class Status(str, enum.Enum):
    """How a solve ended. Only ``OPTIMAL`` is certified.

    A ``str`` whose value is its name: ``str()``, f-strings and format specs give the name,
    ``Status.OPTIMAL == "OPTIMAL"``, and it serialises (JSON, CSV) as the name. ``bool(status)``
    is True only for ``OPTIMAL``, so ``if res.status:`` reads "if the solve succeeded" (every
    other status, a feasible but uncertified point included, is falsy). ``code`` is the integer
    the core uses; ``Status(code)`` converts back.
    """

    OPTIMAL = "OPTIMAL"
    MAX_ITER = "MAX_ITER"
    INFEASIBLE = "INFEASIBLE"
    NUMERICAL_ERROR = "NUMERICAL_ERROR"
    NOT_CONVEX = "NOT_CONVEX"
    INVALID_INPUT = "INVALID_INPUT"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __repr__(self) -> str:
        return f"Status.{self.name}"

    def __bool__(self) -> bool:
        return self is Status.OPTIMAL

    # str's hash and equality are kept (value == name), so a status is a valid dict key next to
    # its name; defining __bool__ does not touch them.
    __hash__ = str.__hash__

    @property
    def code(self) -> int:
        """The core's integer code of this status."""
        return _CODE[self]

    @classmethod
    def _missing_(cls, value: Any) -> Status | None:
        # integer codes and the core's IntEnum members convert; names were matched already
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return _BY_CODE.get(int(value))
        return None


_CODE = {s: int(getattr(_core.Status, s.name)) for s in Status}
_BY_CODE = {c: s for s, c in _CODE.items()}
if set(_core.Status.__members__) != {s.name for s in Status}:  # pragma: no cover - a build out of step
    raise ImportError(f"microalloc.Status is out of step with the core's {sorted(_core.Status.__members__)}")

#: names indexed by the core's codes, for turning a batch's int codes into names in one take
_NAMES = np.array([_BY_CODE[c].value for c in range(max(_BY_CODE) + 1)])


def from_core(code: Any) -> Status:
    """The Status of a core code (an int or the core's IntEnum member)."""
    return _BY_CODE[int(code)]


def status_names(codes: np.ndarray) -> np.ndarray:
    """Fixed-width strings (``<U15``) holding the names of an array of core status codes."""
    return _NAMES[np.asarray(codes)]


def finite_status(status: Status, *values: Any) -> Status:
    """The final guard of every result: OPTIMAL only when every number reported with it is finite.

    A certificate computed from overflowed or underflowed numbers can pass vacuously (a gap of 0
    next to an infinite objective); such a result says NUMERICAL_ERROR instead."""
    if status == Status.OPTIMAL:
        for v in values:
            if v is None:
                continue
            if type(v) is float:  # the core's numbers: math.isfinite, not a numpy reduction per number
                if not math.isfinite(v):
                    return Status.NUMERICAL_ERROR
            elif not np.isfinite(np.asarray(v, dtype=float)).all():
                return Status.NUMERICAL_ERROR
    return status
