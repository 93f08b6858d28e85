"""Merging two stored states of one session path by path: what a write does when another
server wrote the same session since this one last saw it.

Every path keeps its newest change (by its revision; a tie keeps the newer
session's); everything else, the server-owned fields included, comes from
the state with the newer session revision.
"""

from __future__ import annotations

from typing import Any


def merge_states(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any] | None:
    """One state holding the newest change of every path of both: ``ours`` itself when it holds
    everything of ``theirs``, None when ``theirs`` holds everything of ``ours`` (nothing to write)."""
    ours_newer = ours.get("revision", 0) > theirs.get("revision", 0)
    newer, older = (ours, theirs) if ours_newer else (theirs, ours)
    changes: dict[tuple[Any, ...], dict[str, Any]] = {}
    for change in (*older.get("changes", []), *newer.get("changes", [])):
        path = _key(change["p"])
        kept = changes.get(path)
        if kept is None or change["r"] >= kept["r"]:
            changes[path] = change
    if not ours_newer and all(changes[_key(c["p"])] is not c for c in ours.get("changes", [])):
        return None
    if ours_newer and all(changes[_key(c["p"])] is not c for c in theirs.get("changes", [])):
        return ours  # holds everything of theirs: written as it is
    return {
        **newer,
        "revision": max(ours.get("revision", 0), theirs.get("revision", 0)),
        # replayed in revision order, so a later change to a path inside another wins
        "changes": sorted(changes.values(), key=lambda change: change["r"]),
    }


def _key(path: list[Any]) -> tuple[Any, ...]:
    try:
        key = tuple(path)
        hash(key)
    except TypeError:  # a list inside the path
        return tuple(_key(part) if isinstance(part, list) else part for part in path)
    return key
