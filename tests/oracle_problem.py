"""A mean-variance problem as the oracle tests state it (numpy only, shared by the oracle tests)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import microalloc as ma


@dataclass
class Problem:
    cov: np.ndarray
    mu: np.ndarray | None
    ra: float
    lower: float | np.ndarray  # as passed to microalloc (scalar or vector)
    upper: float | np.ndarray
    budget: float = 1.0
    benchmark: np.ndarray | None = None
    pd: bool = True  # S positive definite (unique optimum)
    method: str = "active_set"

    @property
    def n(self) -> int:
        return self.cov.shape[0]

    @property
    def lo(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.lower, dtype=float), (self.n,)).copy()

    @property
    def up(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.upper, dtype=float), (self.n,)).copy()

    @property
    def b(self) -> np.ndarray:
        return np.zeros(self.n) if self.benchmark is None else self.benchmark

    @property
    def m(self) -> np.ndarray:
        return np.zeros(self.n) if self.mu is None else self.mu

    def solve(self, **kw):
        kw.setdefault("method", self.method)
        return ma.solve_mean_variance(
            self.cov,
            self.mu,
            risk_aversion=self.ra,
            lower=self.lower,
            upper=self.upper,
            budget=self.budget,
            benchmark=self.benchmark,
            **kw,
        )
