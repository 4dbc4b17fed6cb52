"""The command line's one reader of a user's files (CSV or Parquet): dated tables of prices or
returns, weights, holdings and the like; and the one rule for a bad input (exit 2 with a message
that says what to do). Every subcommand that reads a user's file reads it here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import InputError, MicroallocError

#: the exit status of a bad input (a missing file, column or option, a wrong guess)
EXIT_BAD_INPUT = 2
PARQUET = (".parquet", ".pq")


def guarded(command: str, body: Callable[[Any], int], args: Any) -> int:
    """Run a subcommand; a bad input exits 2 with ``microalloc COMMAND: what is wrong``."""
    try:
        return body(args)
    except BrokenPipeError:
        raise
    except ImportError as exc:  # an optional dependency: name the package to install
        print(f"microalloc {command}: {exc.name or exc} is needed here: pip install {_package(exc)}", file=sys.stderr)
    except (OSError, MicroallocError, ValueError) as exc:
        print(f"microalloc {command}: {exc}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _package(exc: ImportError) -> str:
    return {"pyarrow": "pyarrow", "matplotlib": "'microalloc[plot]'", "sklearn": "'microalloc[estimate]'"}.get(
        (exc.name or "").split(".")[0], exc.name or "pandas")


def read_frame(path: str, what: str) -> Any:
    """A CSV or Parquet file as it is (no index), or an InputError naming ``what``."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InputError(what, f"{path} is not a file")
    if p.suffix.lower() in PARQUET:
        return pd.read_parquet(p)
    try:
        return pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(what, f"{path} cannot be read as CSV ({exc})") from None


def read_table(path: str, what: str = "FILE") -> Any:
    """A dated table: dates in the first column (or a Parquet file's DatetimeIndex), one column of
    numbers per asset, sorted by date. A cell that is not a number is refused, naming it; an empty
    cell stays NaN (see :func:`returns_of`)."""
    import pandas as pd

    table = read_frame(path, what)
    if not isinstance(table.index, pd.DatetimeIndex):
        if table.shape[1] < 2:
            raise InputError(what, f"{path} needs dates in the first column and at least one asset column")
        table = table.set_index(table.columns[0])
    try:
        if pd.api.types.is_numeric_dtype(table.index):  # numbers would read as nanoseconds since 1970
            raise ValueError
        table.index = pd.to_datetime(table.index)
    except (ValueError, TypeError):
        raise InputError(what, f"the first column of {path} must hold dates (YYYY-MM-DD); it holds "
                               f"{str(table.index[0])!r}, ...") from None
    numeric = table.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & table.notna()
    if bad.any().any():
        col = bad.any().idxmax()
        row = bad[col].idxmax()
        raise InputError(what, f"{path}: column {col!r} on {row.date()} holds {table.at[row, col]!r}, not a number "
                               f"({int(bad.to_numpy().sum())} such cells); fix or empty them")
    return numeric.sort_index()


def returns_of(table: Any, is_returns: bool, what: str = "FILE") -> Any:
    """Returns from a table of prices (the default) or of returns (``is_returns``); rows with an
    empty cell are dropped. A table that looks like the other kind is refused, saying which flag
    to pass."""
    from .estimation import looks_like_prices, returns_from_prices

    table = table.dropna()
    values = table.to_numpy()
    if len(table) < 3:
        raise InputError(what, f"{len(table)} complete rows (no empty cell): at least 3 are needed")
    if is_returns:
        if looks_like_prices(values):
            fix = "drop --returns" if what == "FILE" else "give the file with --prices instead of --returns"
            raise InputError(what, f"looks like prices (every value positive, median {np.median(values):.4g}), not "
                                   f"returns: {fix}")
        return table
    if (values <= 0).any():
        fix = "pass --returns" if what == "FILE" else "give the file with --returns instead of --prices"
        raise InputError(what, f"holds values <= 0, which prices cannot be: if these are returns, {fix}")
    return returns_from_prices(table)


def periods_a_year(index: Any, given: float | None) -> tuple[float, str]:
    """(rows a year, how it was found): given, or read off the dates as the backtests do."""
    from .rebalance import _periods_per_year

    try:
        return _periods_per_year(given, None if given is not None else np.asarray(index, dtype="datetime64[D]"))
    except InputError as exc:
        raise InputError("--periods-per-year", str(exc).split(": ", 1)[-1] + " (e.g. --periods-per-year 252)") from None


def read_weights(path: str, what: str) -> Any:
    """Weights by asset from a CSV or Parquet file with columns ``asset`` and ``weight`` (as
    ``microalloc optimize --out`` writes them)."""
    frame = read_frame(path, what)
    missing = [c for c in ("asset", "weight") if c not in frame.columns]
    if missing:
        raise InputError(what, f"{path} has no column(s) {missing} (it has {list(frame.columns)}): expected asset, "
                               "weight, one row per asset")
    if frame["asset"].duplicated().any():
        raise InputError(what, f"{path}: asset {frame['asset'][frame['asset'].duplicated()].iloc[0]!r} appears twice")
    w = frame.set_index("asset")["weight"]
    import pandas as pd

    numeric = pd.to_numeric(w, errors="coerce")
    if numeric.isna().any():
        bad = numeric.index[numeric.isna()][0]
        raise InputError(what, f"{path}: the weight of {bad!r} is {w[bad]!r}, not a number")
    numeric.index = numeric.index.astype(str)
    return numeric.astype(float)


def on_assets(w: Any, assets: Any, what: str, fill: bool = False) -> Any:
    """Weights in the order of the assets; an asset of one and not the other is refused (or, with
    ``fill``, an asset missing from the weights gets 0)."""
    assets = [str(a) for a in assets]
    foreign = [a for a in w.index if a not in assets]
    missing = [a for a in assets if a not in w.index]
    if foreign or (missing and not fill):
        parts = ([f"not in the data: {foreign[:5]}"] if foreign else []) + (
            [f"missing: {missing[:5]}"] if missing and not fill else [])
        raise InputError(what, f"its assets do not match the data's columns ({'; '.join(parts)})")
    return w.reindex(assets, fill_value=0.0)


def date_range(index: Any) -> str:
    return f"{index[0].date()} .. {index[-1].date()}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table, the first column left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])
