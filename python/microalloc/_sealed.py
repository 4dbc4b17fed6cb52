"""Objects that travel between processes (to and from workers) carry a SHA-256 digest of their
content, so a payload truncated, edited or corrupted on the way is refused, not trusted.

The digest is an integrity check, no defence against a crafted pickle, which can run any code when
it is loaded: unpickle only what your own processes wrote.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import numpy as np

from .errors import CorruptPayloadError


def require_digest(matches: bool, what: str) -> None:
    """The one rule for every sealed object: a digest that does not match refuses the payload."""
    if not matches:
        raise CorruptPayloadError(f"{what}: the pickled content does not match its SHA-256 digest "
                                  "(changed after it was pickled); refused")


class Sealed:
    """A mixin for the result dataclasses: pickles the fields with a digest of their content.

    Results hold no expensive checks to skip; the seal is what makes a changed number refused
    instead of returned. Arrays are hashed in place and pickled as they are, so they still travel
    as out-of-band buffers (no copy); other fields are hashed through their own pickle."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        fields = dict(self.__dict__)
        return (_unseal, (type(self), fields, _fields_digest(fields)))


def _fields_digest(fields: dict[str, Any]) -> bytes:
    h = hashlib.sha256()
    for name in sorted(fields):
        h.update(name.encode())
        _hash_value(h, fields[name])
    return h.digest()


def _hash_value(h: Any, value: Any) -> None:
    """Hash a field by its content, the same in every process: arrays by their bytes, pandas
    objects by their values, index and columns (their pickles are not byte-for-byte stable),
    nested results by their own fields, the rest through pickle."""
    if isinstance(value, np.ndarray) and value.dtype != object:
        a = np.ascontiguousarray(value)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data.cast("B"))
    elif isinstance(value, Sealed):
        h.update(_fields_digest(value.__dict__))
    elif hasattr(value, "iloc") and hasattr(value, "index"):  # pandas, imported by whoever made it
        import pandas as pd

        h.update(type(value).__name__.encode())
        labels = list(value.columns) if isinstance(value, pd.DataFrame) else [value.name]
        h.update(pickle.dumps([list(value.index), labels]))
        dtypes = list(value.dtypes) if isinstance(value, pd.DataFrame) else [value.dtype]
        h.update(pickle.dumps([str(d) for d in dtypes]))
        h.update(np.ascontiguousarray(pd.util.hash_pandas_object(value, index=False).to_numpy()).data.cast("B"))
        if isinstance(value, pd.DataFrame):  # hash_pandas_object combines a row's columns: add each column
            for col in value.columns:
                h.update(np.ascontiguousarray(pd.util.hash_pandas_object(value[col], index=False)
                                              .to_numpy()).data.cast("B"))
    else:
        h.update(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _unseal(cls: Any, fields: dict[str, Any], digest: bytes) -> Any:
    require_digest(isinstance(fields, dict) and _fields_digest(fields) == digest, cls.__name__)
    obj = cls.__new__(cls)
    obj.__dict__.update(fields)  # frozen dataclasses: their fields, as pickled
    return obj
