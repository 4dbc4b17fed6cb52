"""Breadth and skill: how much of the forecasts' skill a constructed portfolio lets through.

The fundamental law of active management: IR = TC * IC * sqrt(BR), with IC the information
coefficient (the correlation of forecasts with outcomes), BR the breadth (independent bets a
year) and TC the transfer coefficient of the portfolio. For forecasts alpha and active weights a
under a covariance S:

- the best information ratio the forecasts allow, IR* = sqrt(alpha' S^-1 alpha), reached by
  a proportional to S^-1 alpha (no constraints);
- the portfolio's ex-ante information ratio, IR(a) = alpha'a / sqrt(a'Sa);
- its transfer coefficient TC = IR(a) / IR* = alpha'a / (||S^-1/2 alpha|| ||S^1/2 a||), the cosine
  between the risk-adjusted forecasts and the risk-adjusted active weights: 1 for the
  unconstrained optimum, less as constraints bind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .result import Result, timed
from ._validate import as_scalar, as_vector, asset_labels, check_scales
from .covariance import FactorCovariance, as_covariance
from .errors import InputError
from ._typing import Vector
from .covariance import CovarianceLike

__all__ = ["Transfer", "fundamental_law", "transfer_coefficient"]


def fundamental_law(ic: float, breadth: float, transfer_coefficient: float = 1.0) -> float:
    """The information ratio the law gives: TC * IC * sqrt(breadth)."""
    ic = as_scalar(ic, "ic")
    if not -1.0 <= ic <= 1.0:
        raise InputError("ic", f"{ic:g} is not a correlation (between -1 and 1)")
    br = as_scalar(breadth, "breadth", minimum=0.0)
    tc = as_scalar(transfer_coefficient, "transfer_coefficient")
    if not -1.0 <= tc <= 1.0:
        raise InputError("transfer_coefficient", f"{tc:g} is not between -1 and 1")
    return tc * ic * float(np.sqrt(br))


@dataclass(frozen=True, repr=False, eq=False)
class Transfer(Result):
    """What :func:`transfer_coefficient` returns (see the module's formulas)."""

    transfer_coefficient: float
    information_ratio: float  # IR(a), ex ante
    best_information_ratio: float  # IR*, the forecasts' own
    tracking_error: float  # sqrt(a'Sa)

    _figures = ("transfer_coefficient", "information_ratio", "best_information_ratio", "tracking_error")


@timed
def transfer_coefficient(cov: CovarianceLike, mu: Vector, active_weights: Vector) -> Transfer:
    """The transfer coefficient of active weights for forecasts mu (expected active returns) under cov (an array, a
    Covariance or a FactorCovariance, whose inverse is applied by the Woodbury identity). cov must
    be positive definite: S^-1 mu is the forecasts' optimum."""
    labels = asset_labels(cov, mu, active_weights)
    s, report = as_covariance(cov, check_psd=True)  # square, symmetric, PSD, finite: or an InputError naming cov
    n = s.shape[0]
    mu_v = as_vector(mu, n, "mu", labels=labels)
    a = as_vector(active_weights, n, "active_weights", labels=labels)
    check_scales(report, n, budget=1.0, mu=mu_v)
    dense = cov if isinstance(cov, FactorCovariance) else np.asarray(s, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        best2 = float(mu_v @ _solve(dense, mu_v))
        te2 = float(a @ (s @ a))
    if not np.isfinite(best2):
        raise InputError("mu", f"mu' S^-1 mu = {best2}: mu is too large for the covariance (rescale one of them)")
    if not np.isfinite(te2):
        raise InputError("active_weights", f"a'Sa = {te2}: the active weights are too large (rescale them)")
    if not best2 > 0:
        raise InputError("mu", "mu' S^-1 mu is 0: the forecasts carry no information")
    if not te2 > 0:
        raise InputError("active_weights", "the active weights carry no risk (a'Sa = 0)")
    ir = float(mu_v @ a) / np.sqrt(te2)
    return Transfer(transfer_coefficient=ir / np.sqrt(best2), information_ratio=ir,
                    best_information_ratio=float(np.sqrt(best2)), tracking_error=float(np.sqrt(te2)))


def _solve(cov: Any, b: np.ndarray) -> np.ndarray:
    """S^-1 b: by Cholesky for a matrix, by Woodbury for a factor model
    (S^-1 = D^-1 - D^-1 X (F^-1 + X'D^-1 X)^-1 X'D^-1)."""
    if isinstance(cov, FactorCovariance):
        d, x, f = cov.specific_var, cov.loadings, cov.factor_cov
        if not (d > 0).all():
            raise InputError("cov", "a factor model with a zero specific variance is singular here")
        xd = x / d[:, None]
        inner = np.linalg.inv(f) + x.T @ xd
        return b / d - xd @ np.linalg.solve(inner, xd.T @ b)
    try:
        lower = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise InputError("cov", "is not positive definite: S^-1 alpha, the forecasts' optimum, is undefined") from None
    return np.linalg.solve(lower.T, np.linalg.solve(lower, b))
