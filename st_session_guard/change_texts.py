"""The JSON text of a session's path changes, kept from one database write to the next.

A session written again after one edit needs that one path encoded, not
all of them, and its other texts copied over in a few long slices. The
texts are kept as one buffer per session, with the length of each path's
text in an array beside it, rather than as an object per path: with
thousands of sessions in memory, allocating and keeping tens of small
objects per session cost more than encoding them had. Finding what changed
is done by C-level comparisons, so the work in Python grows with the number
of paths that changed, not with the size of the session.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping
from itertools import compress, count
from operator import ne

Path = tuple[str, ...]


class ChangeTexts:
    """Every path's change as JSON text, as of the last ``join``."""

    __slots__ = ("_joined", "_lengths", "_paths", "_revisions")

    def __init__(self) -> None:
        self._paths: list[Path] = []
        self._revisions: list[int] = []
        self._lengths = array("q")
        """Bytes of each path's text in ``_joined``, where a comma follows each but the last."""
        self._joined = memoryview(b"")

    def join(self, revisions: Mapping[Path, int], encode: Callable[[Path, int], bytes]) -> bytes:
        """The changes of every path in ``revisions``, comma-separated, in its order.

        ``encode(path, revision)`` is called only for a path whose revision
        differs from the one its kept text was made at, or that is new. Paths
        only ever join the end of a session's revisions; if the kept ones
        are not a prefix of them any more, everything is encoded afresh.
        """
        paths = list(revisions)
        stamps = list(revisions.values())
        kept = len(self._paths)
        if kept > len(paths) or paths[:kept] != self._paths:
            kept = 0
        changed = list(compress(count(), map(ne, stamps[:kept], self._revisions)))
        changed += range(kept, len(paths))
        old, joined = self._lengths, self._joined
        lengths = array("q", old[:kept])
        parts: list[bytes | memoryview] = []
        start = after = 0  # the first index not yet in parts, and where its old text starts
        for index in changed:
            if index > after:  # the kept texts of after..index-1, as one slice
                stop = start + sum(old[after:index]) + (index - after)
                parts.append(joined[start : stop - 1])
                start = stop
            text = encode(paths[index], stamps[index])
            parts.append(text)
            if index < kept:
                lengths[index] = len(text)
                start += old[index] + 1
            else:
                lengths.append(len(text))
            after = index + 1
        if after < kept:
            parts.append(joined[start:])
        text = b",".join(parts)
        self._paths, self._revisions, self._lengths = paths, stamps, lengths
        self._joined = memoryview(text)
        return text
