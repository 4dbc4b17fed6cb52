"""Risk by source under a factor model S = X F X' + diag(d) (docs/methods.md §5.1).

For weights w (a row of W) with factor exposures y = X'w and volatility sigma:

- variance splits into systematic y'Fy and specific w'Dw;
- factor j contributes y_j (F y)_j / sigma to the volatility, the specific risk w'Dw / sigma
  (together: sigma);
- asset i's component w_i (S w)_i / sigma splits into its factor part w_i (X F y)_i / sigma and
  its specific part d_i w_i^2 / sigma.

With a benchmark b the same holds for the active weights a = w - b and the tracking error.
Everything is O(m n k): two products of the (m, n) weights with the (n, k) loadings; nothing n x n.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: fields per factor (labelled by the factors' names), per asset, and per portfolio
FACTOR_FIELDS = ("factor_exposures", "factor_contribution", "active_factor_exposures", "active_factor_contribution")
ASSET_FIELDS = ("component_factor", "component_specific", "active_component_factor", "active_component_specific")
PORTFOLIO_FIELDS = (
    "systematic_variance", "specific_variance", "specific_contribution",
    "active_systematic_variance", "active_specific_variance", "active_specific_contribution",
)


def _split(loadings: np.ndarray, factor_cov: np.ndarray, specific: np.ndarray, w: np.ndarray,
           risk: np.ndarray) -> dict[str, np.ndarray]:
    """The sources of the risk of the rows of w (m, n), whose volatility (or tracking error) is
    ``risk`` (m,). A zero risk gives zero contributions, as the components do."""
    y = w @ loadings                       # (m, k) exposures
    fy = y @ factor_cov                    # (m, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(risk > 0.0, 1.0 / risk, 0.0)[:, None]
    specific_part = w * w * specific       # (m, n)
    specific_total = specific_part.sum(axis=1)
    return {
        "exposures": y,
        "contribution": y * fy * inv,
        "systematic": np.einsum("ij,ij->i", y, fy),
        "specific": specific_total,
        "specific_contribution": specific_total * inv[:, 0],
        "component_factor": w * (fy @ loadings.T) * inv,
        "component_specific": specific_part * inv,
    }


def risk_by_source(model: Any, w: np.ndarray, b: np.ndarray | None, volatility: np.ndarray,
                   tracking_error: np.ndarray | None) -> dict[str, np.ndarray]:
    """The factor fields of RiskContributions for the rows of w (and w - b with a benchmark),
    unlabelled: (m, k) per factor, (m, n) per asset, (m,) per portfolio."""
    x, f, d = model.loadings, model.factor_cov, model.specific_var
    out: dict[str, np.ndarray] = {}
    parts: list[tuple[str, np.ndarray, np.ndarray | None]] = [("", w, volatility)]
    if b is not None:
        parts.append(("active_", w - b, tracking_error))
    for prefix, rows, risk in parts:
        s = _split(x, f, d, rows, np.asarray(risk, dtype=float).reshape(-1))
        out[prefix + "factor_exposures"] = s["exposures"]
        out[prefix + "factor_contribution"] = s["contribution"]
        out[prefix + "systematic_variance"] = s["systematic"]
        out[prefix + "specific_variance"] = s["specific"]
        out[prefix + "specific_contribution"] = s["specific_contribution"]
        out[prefix + "component_factor"] = s["component_factor"]
        out[prefix + "component_specific"] = s["component_specific"]
    return out
