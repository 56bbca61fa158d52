"""24-hex object ids (MongoDB ObjectId style): time-ordered, generated server-side, lower case."""

from __future__ import annotations

import itertools
import os
import re
import threading
import time

_ID_RE = re.compile(r"^[0-9a-f]{24}$")
_process_random = os.urandom(5)
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_lock = threading.Lock()


def new_id() -> str:
    """4 bytes of seconds, 5 random bytes per process, a 3-byte counter: as ObjectId does."""
    with _lock:
        count = next(_counter) & 0xFFFFFF
    return (int(time.time()).to_bytes(4, "big") + _process_random + count.to_bytes(3, "big")).hex()


def normalize_id(value: object) -> str | None:
    """The id in canonical lower case, or None when it is not a well-formed id."""
    if not isinstance(value, str):
        return None
    value = value.lower()
    return value if _ID_RE.match(value) else None
