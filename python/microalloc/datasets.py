"""Small real datasets shipped inside the package."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["IndustryReturns", "load_industry_returns"]


@dataclass(frozen=True)
class IndustryReturns:
    """Monthly decimal returns of the 12 Fama-French industry portfolios, 1949-01 to 2017-03.

    Source: Kenneth R. French Data Library, as redistributed by linearmodels 7.1.
    """

    months: np.ndarray  #: (T,) datetime64[M]
    names: tuple[str, ...]  #: the 12 industries
    returns: np.ndarray  #: (T, 12) decimal monthly returns
    risk_free: np.ndarray  #: (T,) decimal monthly one-month T-bill return

    def to_pandas(self) -> pd.DataFrame:  # pragma: no cover - convenience for pandas users
        """The returns as a pandas DataFrame indexed by month (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.returns, index=pd.PeriodIndex(self.months, freq="M"), columns=list(self.names))


def load_industry_returns() -> IndustryReturns:
    """Load the shipped 12-industry monthly returns (no network, numpy only)."""
    ref = resources.files("microalloc") / "data" / "ff12_industry_monthly.csv"
    with ref.open("r") as fh:
        lines = [ln for ln in fh.read().splitlines() if ln and not ln.startswith("#")]
    header = lines[0].split(",")
    body = [ln.split(",") for ln in lines[1:]]
    months = np.array([row[0] for row in body], dtype="datetime64[M]")
    values = np.array([[float(v) for v in row[1:]] for row in body]) / 100.0
    names = tuple(header[1:-1])
    return IndustryReturns(months=months, names=names, returns=values[:, :-1], risk_free=values[:, -1])
