"""Objects that travel between processes (to and from workers) carry a SHA-256 digest of their
content, so a payload truncated, edited or corrupted on the way is refused, not trusted.

The digest is an integrity check, no defence against a crafted pickle, which can run any code when
it is loaded: unpickle only what your own processes wrote.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

from .errors import CorruptPayloadError


def require_digest(matches: bool, what: str) -> None:
    """The one rule for every sealed object: a digest that does not match refuses the payload."""
    if not matches:
        raise CorruptPayloadError(f"{what}: the pickled content does not match its SHA-256 digest "
                                  "(changed after it was pickled); refused")


class Sealed:
    """A mixin for the result dataclasses: pickles the fields as one payload with its digest.

    Results hold no expensive checks to skip; the seal is what makes a changed number refused
    instead of returned. The payload is the fields pickled once more (one copy of the arrays)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        payload = pickle.dumps(self.__dict__, protocol=pickle.HIGHEST_PROTOCOL)
        return (_unseal, (type(self), payload, hashlib.sha256(payload).digest()))


def _unseal(cls: Any, payload: bytes, digest: bytes) -> Any:
    require_digest(hashlib.sha256(payload).digest() == digest, cls.__name__)
    obj = cls.__new__(cls)
    obj.__dict__.update(pickle.loads(payload))  # frozen dataclasses: their fields, as pickled
    return obj
