"""Merging a browser's copy into a session, and the rules of trust that guard it.

Whatever the browser sends is untrusted: it is bounded (bytes, depth, count)
before anything is read, only the user-editable path roots are accepted,
per path the newest revision wins, and a revision from the future is
clamped to now so no browser can pin a value above later edits. Nothing
here raises into the user's script: a bad message or change is dropped
with a logged warning and the session stays as it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .session import PATH_ROOTS, Change, Path, UserSession

logger = logging.getLogger("st_session_guard")

PATH_LENGTHS: Final = {"page": 1, "navigation": 1, "forms": 3, "form_meta": 2, "snapshots": 3}
assert set(PATH_LENGTHS) == set(PATH_ROOTS)


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 2_000_000
    """Rough JSON size of one message; larger messages are dropped whole."""
    max_depth: int = 32
    max_items: int = 100_000
    """Containers and scalars in one message."""
    max_changes: int = 25_000
    """Paths in one message: a form with a full undo history alone has 52 (line, saved, 50 steps)."""
    max_drafts: int = 1_000
    max_name: int = 256
    """Length of a form id, field name or widget key."""


class Rejected(ValueError):
    """Input from the browser that breaks a rule; the message says which."""


def check_bounds(value: object, limits: Limits) -> None:
    """Walk ``value`` without recursion and stop at the first bound it breaks."""
    size = 0
    items = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        items += 1
        if depth > limits.max_depth:
            raise Rejected(f"nested deeper than {limits.max_depth}")
        if items > limits.max_items:
            raise Rejected(f"more than {limits.max_items} values")
        if isinstance(item, str):
            size += len(item) + 2
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise Rejected("object keys must be strings")
                size += len(key) + 4
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            size += 2
            stack.extend((child, depth + 1) for child in item)
        elif item is None or isinstance(item, (bool, int, float)):
            size += 8
        else:
            raise Rejected(f"{type(item).__name__} is not JSON")
        if size > limits.max_bytes:
            raise Rejected(f"larger than {limits.max_bytes} bytes")


def parse_path(raw: object, limits: Limits) -> Path:
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) for p in raw):
        raise Rejected("a path is a non-empty list of strings")
    root = raw[0]
    if root not in PATH_LENGTHS:
        raise Rejected(f"path root {root!r} is not user-editable")
    if len(raw) != PATH_LENGTHS[root]:
        raise Rejected(f"a {root!r} path has {PATH_LENGTHS[root]} parts")
    if any(len(p) > limits.max_name for p in raw):
        raise Rejected("path part too long")
    return tuple(raw)


def clamp_revision(raw: object) -> int:
    """A browser revision, never later than now: clocks and devtools can lie."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise Rejected("a revision is a non-negative integer")
    return min(raw, time.time_ns() // 1_000_000)


def parse_change(raw: object, limits: Limits) -> Change:
    if not isinstance(raw, Mapping):
        raise Rejected("a change is an object")
    path = parse_path(raw.get("p"), limits)
    deleted = raw.get("d") is True
    return Change(path, None if deleted else raw.get("v"), clamp_revision(raw.get("r")), deleted)


@dataclass
class Outcome:
    applied: int = 0
    dropped: int = 0
    oldest: int | None = None
    """The oldest revision taken: the browser must be sent everything since, as it
    may hold an older value of a path it offered (a draft, say)."""

    def took(self, revision: int) -> None:
        self.applied += 1
        self.oldest = revision if self.oldest is None else min(self.oldest, revision)


def apply_changes(
    session: UserSession,
    changes: list[Change],
    excluded: Collection[Path] = (),
) -> Outcome:
    """Take each change that is newer than the session's; never an excluded path."""
    outcome = Outcome()
    for change in changes:
        if change.path in excluded:
            logger.warning("st-session-guard: dropped a browser value for excluded %s", list(change.path))
            outcome.dropped += 1
            continue
        try:
            if session.apply_change(change):
                outcome.took(change.revision)
        except (ValueError, KeyError, TypeError) as error:
            logger.warning("st-session-guard: dropped browser value for %s: %s", list(change.path), error)
            outcome.dropped += 1
    return outcome


def read_message(
    raw: object, session_id: str, last_seq: int, limits: Limits
) -> Mapping[str, Any] | None:
    """The message if it is one we should act on; None (with a warning if bad) otherwise."""
    if raw is None:
        return None
    try:
        check_bounds(raw, limits)
        if not isinstance(raw, Mapping) or raw.get("v") != 1:
            raise Rejected("not a version 1 guard message")
        seq = raw.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise Rejected("seq must be an integer")
        if seq <= last_seq:
            return None
        if raw.get("session_id") != session_id:
            raise Rejected("message for another session")
        if raw.get("type") not in ("restore", "resync"):
            raise Rejected(f"unknown message type {raw.get('type')!r}")
        return raw
    except Rejected as error:
        logger.warning("st-session-guard: dropped a browser message: %s", error)
        return None


def restore_from_browser(
    session: UserSession,
    message: Mapping[str, Any],
    draft_paths: Mapping[str, Path],
    excluded: Collection[Path],
    limits: Limits,
) -> Outcome:
    """Merge a ``restore`` message: mirrored changes, then drafts newer than their field."""
    outcome = Outcome()
    raw_changes = message.get("changes") or []
    raw_drafts = message.get("drafts") or []
    if not isinstance(raw_changes, list) or len(raw_changes) > limits.max_changes:
        logger.warning("st-session-guard: dropped a restore message: bad change list")
        return Outcome(dropped=1)
    changes: list[Change] = []
    for raw in raw_changes:
        try:
            changes.append(parse_change(raw, limits))
        except Rejected as error:
            logger.warning("st-session-guard: dropped a browser change: %s", error)
            outcome.dropped += 1
    if isinstance(raw_drafts, list) and len(raw_drafts) <= limits.max_drafts:
        changes.extend(_drafts_as_changes(raw_drafts, draft_paths, outcome))
    merged = apply_changes(session, changes, excluded)
    merged.dropped += outcome.dropped
    return merged


def _drafts_as_changes(
    raw_drafts: list[Any], draft_paths: Mapping[str, Path], outcome: Outcome
) -> list[Change]:
    """A draft is typing not yet committed: it counts as a change at the time it was typed."""
    changes = []
    for draft in raw_drafts:
        key = draft.get("key") if isinstance(draft, Mapping) else None
        path = draft_paths.get(key) if isinstance(key, str) else None
        value = draft.get("value") if isinstance(draft, Mapping) else None
        try:
            if path is None or not isinstance(value, str):
                raise Rejected("draft for an unknown widget, or not text")
            changes.append(Change(path, value, clamp_revision(draft.get("ts"))))
        except Rejected as error:
            logger.warning("st-session-guard: dropped a draft: %s", error)
            outcome.dropped += 1
    return changes
