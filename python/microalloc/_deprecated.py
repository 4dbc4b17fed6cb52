"""Old names kept for one release: result attributes and keyword arguments that were renamed so
that one quantity has one name everywhere (``mu``, ``volatility``, ``tracking_error``,
``expected_return``). Each use warns with a ``DeprecationWarning`` pointing at the caller's line.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: the release that removes the old names
REMOVED_IN = "0.3"


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    warnings.warn(f"{old!r} is deprecated and will be removed in microalloc {REMOVED_IN}; use {new!r}",
                  DeprecationWarning, stacklevel=stacklevel)


def renamed_attribute(old: str, new: str, attribute: str | None = None) -> property:
    """A read-only property ``old`` that warns (naming ``new``) and returns ``self.<attribute>``
    (``new`` unless given)."""

    def get(self: Any) -> Any:
        warn_renamed(f"{type(self).__name__}.{old}", new)
        return getattr(self, attribute or new)

    get.__doc__ = f"Deprecated: use :attr:`{new}`."
    return property(get)


def renamed_arguments(**old_to_new: str) -> Callable[[F], F]:
    """Accept the old keyword names of a function for one release: each is mapped to its new
    name with a warning; giving both is an error (a TypeError, as Python gives for a duplicate)."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {old!r} (deprecated) and {new!r}")
                    warn_renamed(f"{fn.__name__}({old}=...)", f"{new}=")
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return call  # type: ignore[return-value]

    return wrap
