"""Progress of long runs: the check of a ``progress=`` argument, and the command line's bar.

The core calls ``progress(done, total)`` from the calling thread at most every 50 ms and once at
the end (``done == total``); ``done`` never decreases. An exception raised by the callback stops
the run and propagates; Ctrl-C stops it the same way (the core checks for signals even without a
callback) and raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._typing import ProgressCallback
from .errors import InputError


def as_progress(progress: Any) -> ProgressCallback | None:
    """``progress`` checked: None or a callable ``progress(done, total)``."""
    if progress is not None and not callable(progress):
        raise InputError("progress", f"must be a callable progress(done, total) or None, not {type(progress).__name__}")
    return progress


def add_progress_flags(parser: Any) -> None:
    """``--progress`` / ``--no-progress`` on a subcommand (``args.progress``: auto, always, never)."""
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_const", const="always", default="auto",
                   help="draw the progress bar on stderr even when it is not a terminal")
    g.add_argument("--no-progress", dest="progress", action="store_const", const="never",
                   help="no progress bar (default: one on a terminal's stderr, with tqdm installed)")


@contextmanager
def progress_bar(desc: str, mode: str = "auto", *, unit: str = "it") -> Iterator[ProgressCallback | None]:
    """A ``progress(done, total)`` callback drawing a tqdm bar on stderr, or None (no bar) when
    ``mode`` is "never", tqdm is not installed, or ``mode`` is "auto" and stderr is not a terminal."""
    out = sys.stderr
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    isatty = getattr(out, "isatty", None)
    if tqdm is None or mode == "never" or (mode != "always" and not (isatty is not None and isatty())):
        yield None
        return
    bar = tqdm(total=0, desc=desc, unit=unit, file=out, leave=False, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
