"""Merging two stored states of one session path by path: what a write does when another
server wrote the same session since this one last saw it.

Every path keeps its newest change (by its revision; a tie keeps the newer
session's); everything else, the server-owned fields included, comes from
the state with the newer session revision.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any


class Verdict(Enum):
    """What merging two states comes to."""

    OURS = "ours"
    """Ours holds every newest change of both: written as it is."""
    THEIRS = "theirs"
    """Theirs holds every newest change of both: nothing to write."""
    MERGE = "merge"
    """Each holds a newest change the other lacks."""


def merge_verdict(ours_revision: int, ours_paths: Mapping[tuple[Any, ...], int],
                  theirs: dict[str, Any]) -> Verdict:
    """What merging ours (its session revision, and its revision of each path) with ``theirs``
    comes to, told without ours' values: a write that finds the stored state older than its
    own in every path need not decode its own state to know it."""
    theirs_changes = theirs.get("changes", [])
    if ours_revision > theirs.get("revision", 0):
        for change in theirs_changes:  # a tie keeps ours, the newer session's
            try:  # a path of plain parts, as nearly all are: one hash, no call (a write's hot loop)
                revision = ours_paths.get(tuple(change["p"]))
            except TypeError:  # a list inside the path
                revision = ours_paths.get(_key(change["p"]))
            if revision is None or revision < change["r"]:
                return Verdict.MERGE
        return Verdict.OURS
    theirs_paths = {_key(change["p"]): change["r"] for change in theirs_changes}
    for path, revision in ours_paths.items():  # a tie keeps theirs, the newer session's
        kept = theirs_paths.get(path)
        if kept is None or kept < revision:
            return Verdict.MERGE
    return Verdict.THEIRS


def merge_states(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any] | None:
    """One state holding the newest change of every path of both: ``ours`` itself when it holds
    everything of ``theirs``, None when ``theirs`` holds everything of ``ours`` (nothing to write)."""
    ours_changes = ours.get("changes", [])
    verdict = merge_verdict(ours.get("revision", 0),
                            {_key(change["p"]): change["r"] for change in ours_changes}, theirs)
    if verdict is Verdict.THEIRS:
        return None
    if verdict is Verdict.OURS:
        return ours
    ours_newer = ours.get("revision", 0) > theirs.get("revision", 0)
    newer, older = (ours, theirs) if ours_newer else (theirs, ours)
    changes: dict[tuple[Any, ...], dict[str, Any]] = {}
    for change in (*older.get("changes", []), *newer.get("changes", [])):
        path = _key(change["p"])
        kept = changes.get(path)
        if kept is None or change["r"] >= kept["r"]:
            changes[path] = change
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
