"""Progress of long runs: the check of a ``progress=`` argument, and the command line's bar.

The core calls ``progress(done, total)`` from the calling thread at most every 50 ms and once at
the end (``done == total``); ``done`` never decreases. An exception raised by the callback stops
the run and propagates; Ctrl-C stops it the same way (the core checks for signals even without a
callback) and raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .errors import InputError

ProgressCallback = Callable[[int, int], Any]


def as_progress(progress: Any) -> ProgressCallback | None:
    """``progress`` checked: None or a callable ``progress(done, total)``."""
    if progress is not None and not callable(progress):
        raise InputError("progress", f"must be a callable progress(done, total) or None, not {type(progress).__name__}")
    return progress


@contextmanager
def progress_bar(desc: str, *, enabled: bool = True, force: bool = False, unit: str = "it",
                 file: Any = None) -> Iterator[ProgressCallback | None]:
    """A ``progress(done, total)`` callback drawing a tqdm bar on stderr, or None (no bar) when
    ``enabled`` is false, tqdm is not installed, or stderr is not a terminal (unless ``force``)."""
    out = sys.stderr if file is None else file
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is None or not enabled or not (force or out.isatty()):
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
