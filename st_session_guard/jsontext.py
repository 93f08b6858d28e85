"""JSON text of stored state: one encoder for every write, and its decoder.

orjson, not the standard library: encoding sessions is most of what a
database write costs in Python, and orjson does it about ten times faster
(5 us rather than 60 us for 5 KB here). What it writes differs from
``json.dumps`` where stored state is concerned in that a float that is not
finite (NaN, infinity) is written as ``null``, as the browser's
``JSON.stringify`` writes it, rather than failing the write, and text is
UTF-8 rather than escaped. Keys that are not strings become strings, as
with ``json.dumps``.

The session's stored state leans on orjson writing two types itself, in
native code: a datetime as ``isoformat()`` writes it, and a dataclass as
an object of its fields (navigation entries, snapshots), as their
``to_json()`` would.
"""

from __future__ import annotations

from typing import Any

import orjson


def _fallback(value: object) -> object:
    """Store what JSON has no type for in a readable form rather than not at all.

    Sets as sorted lists, NumPy values as the numbers and lists they hold
    (``tolist``), dates as ISO text, anything else as its ``repr``.
    """
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    for method in ("tolist", "isoformat"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    return repr(value)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; raises ``TypeError`` for what cannot be stored (an integer past 64 bits).

    Keys that are not strings are rare, and orjson's option for them doubles
    the time of every encoding (docs/performance.md): it is taken only for a
    value that has one, which orjson refuses without it.
    """
    try:
        return orjson.dumps(value, default=_fallback)
    except orjson.JSONEncodeError:
        return orjson.dumps(value, default=_fallback, option=orjson.OPT_NON_STR_KEYS)


def loads(text: str | bytes) -> Any:
    """Raises ``ValueError`` for text that is not JSON."""
    return orjson.loads(text)
