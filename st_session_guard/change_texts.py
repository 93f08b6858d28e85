"""The JSON text of a session's path changes, kept from one database write to the next.

A session written again after one edit needs that one path encoded, not
all of them. The texts are kept as one buffer per session, with the path,
revision and end of each text in arrays beside it, rather than as an object
per path: with thousands of sessions in memory, allocating and keeping tens
of small objects per session cost more than encoding them had.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping

Path = tuple[str, ...]


class ChangeTexts:
    """Every path's change as JSON text, as of the last ``join``."""

    __slots__ = ("_ends", "_joined", "_paths", "_revisions")

    def __init__(self) -> None:
        self._paths: list[Path] = []
        self._revisions = array("q")
        self._ends = array("q")
        """Where each path's text ends in ``_joined`` (a comma follows each but the last)."""
        self._joined = memoryview(b"")

    def join(self, revisions: Mapping[Path, int], encode: Callable[[Path, int], bytes]) -> bytes:
        """The changes of every path in ``revisions``, comma-separated, in its order.

        ``encode(path, revision)`` is called only for a path whose revision
        differs from the one its kept text was made at. The order of
        ``revisions`` may change between calls; a path that moved is encoded
        again.
        """
        paths, kept, ends, joined = self._paths, self._revisions, self._ends, self._joined
        known = len(paths)
        parts: list[bytes | memoryview] = []
        new_ends = array("q")
        end = 0
        for index, (path, revision) in enumerate(revisions.items()):
            if index < known and kept[index] == revision and paths[index] == path:
                part: bytes | memoryview = joined[ends[index - 1] + 1 if index else 0 : ends[index]]
            else:
                part = encode(path, revision)
            parts.append(part)
            end += len(part)
            new_ends.append(end)
            end += 1
        text = b",".join(parts)
        self._paths = list(revisions)
        self._revisions = array("q", revisions.values())
        self._ends = new_ends
        self._joined = memoryview(text)
        return text
