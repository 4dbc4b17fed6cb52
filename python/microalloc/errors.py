"""Exceptions raised by microalloc.

Caller mistakes raise an :class:`InputError` (a :class:`ValueError`) whose message names the
argument and what is wrong with it. Solver outcomes are statuses on the result; only
``raise_for_status()`` (or ``raise_on_failure=True``) turns them into a :class:`SolverError`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MicroallocError",
    "InputError",
    "ShapeError",
    "NonFiniteError",
    "NotSymmetricError",
    "NotPSDError",
    "InfeasibleError",
    "SolverError",
    "CorruptPayloadError",
]


class MicroallocError(Exception):
    """Base class of every exception raised by microalloc."""


class InputError(MicroallocError, ValueError):
    """An argument is invalid. ``argument`` names it."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"{argument}: {message}")
        self.argument = argument


class ShapeError(InputError):
    """An argument has the wrong number of dimensions or the wrong length."""


class NonFiniteError(InputError):
    """An argument holds NaN or an infinity where a finite number is required."""


class NotSymmetricError(InputError):
    """The covariance matrix is not symmetric."""


class NotPSDError(InputError):
    """The covariance matrix is not positive semidefinite."""


class InfeasibleError(InputError):
    """No portfolio satisfies the bounds and the budget."""


class SolverError(MicroallocError, RuntimeError):
    """A solve ended without a certified optimum. ``result`` holds what it found."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result


class CorruptPayloadError(MicroallocError, ValueError):
    """A pickled object (a covariance model or a result) does not match the digest it was sealed
    with: its bytes changed on the way, so it is refused rather than trusted."""
