"""Merging a browser's copy into a session: per path the newest revision wins.

What arrives here has passed ``protocol.read_message``. The rules of trust
that remain are merging rules: a revision from the future is clamped to now
so no browser can pin a value above later edits, excluded paths are never
taken, and a value the session refuses is dropped with a logged warning.
Nothing here raises into the user's script.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from . import process_metrics
from .process_metrics import RestoreSource
from .protocol import ChangeMessage, DraftOut, Path, RestoreMessage
from .session import Change, UserSession, next_revision

logger = logging.getLogger("st_session_guard")


def clamp_revision(revision: int) -> int:
    """A browser revision, never later than now: clocks and devtools can lie."""
    return min(revision, time.time_ns() // 1_000_000)


def as_change(message: ChangeMessage) -> Change:
    """A validated change from the browser, its revision clamped."""
    deleted = message.get("d") is True
    return Change(tuple(message["p"]), None if deleted else message.get("v"),
                  clamp_revision(message["r"]), deleted)


@dataclass
class Outcome:
    applied: int = 0
    dropped: int = 0
    oldest: int | None = None
    """The oldest revision taken: the browser must be sent everything since, as it
    may hold an older value of a path it offered (a draft, say)."""
    paths: set[Path] = field(default_factory=set)
    """The paths taken."""

    def took(self, change: Change) -> None:
        self.applied += 1
        self.oldest = change.revision if self.oldest is None else min(self.oldest, change.revision)
        self.paths.add(change.path)


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
                outcome.took(change)
        except (ValueError, KeyError, TypeError) as error:
            logger.warning("st-session-guard: dropped browser value for %s: %s", list(change.path), error)
            outcome.dropped += 1
    return outcome


def draft_paths_of(session: UserSession) -> dict[str, Path]:
    """Widget key -> the form field of each wrapped widget the session named for drafts."""
    return {key: ("forms", *at) for key, at in session.draft_widgets.items()}


def restore_from_browser(
    session: UserSession,
    message: RestoreMessage,
    draft_paths: Mapping[str, Path],
    excluded: Collection[Path],
    counted_as: RestoreSource | None = None,
) -> Outcome:
    """Merge a ``restore`` message: mirrored changes, then drafts typed over their field as it still is.

    Counted as a restore from the mirror and one from drafts, or (``counted_as``)
    as one from where else the message came.
    """
    merged = apply_changes(session, [as_change(change) for change in message["changes"]], excluded)
    changes_taken = merged.applied > 0
    drafts_taken = False
    for draft in message["drafts"]:
        change = _draft_as_change(session, draft, draft_paths)
        if change is None:
            merged.dropped += 1
            continue
        taken = apply_changes(session, [change], excluded)
        merged.dropped += taken.dropped
        if taken.applied:
            merged.took(change)
            drafts_taken = True
    if counted_as is not None:
        if changes_taken or drafts_taken:
            process_metrics.count_restore(counted_as)
        return merged
    if changes_taken:
        process_metrics.count_restore("browser")
    if drafts_taken:
        process_metrics.count_restore("drafts")
    return merged


def _draft_as_change(session: UserSession, draft: DraftOut, draft_paths: Mapping[str, Path]) -> Change | None:
    """Typing not yet committed, as a change at the server's next revision.

    Only if its field has not changed since the draft was typed over it
    (``base``): drafts are ordered against server revisions, never the
    browser's clock.
    """
    path = draft_paths.get(draft["key"])
    if path is None:
        logger.warning("st-session-guard: dropped a draft for a widget the server did not name")
        return None
    if session.path_revision(path) > draft["base"]:
        logger.info("st-session-guard: dropped a draft typed over a value that has changed since")
        return None
    if session.holds(path, draft["value"]):  # typing that ended on the committed value: nothing new
        return None
    return Change(path, draft["value"], next_revision(session.revision))
