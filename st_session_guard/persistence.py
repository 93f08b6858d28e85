"""The write-behind engine users build: sessions written behind, recovered and removed.

``SessionPersistenceEngine`` schedules writes as ``WriteBehind`` does and
answers recovery and removals from what it holds unwritten and what is
stored, so a removal is never undone by a write taken before it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Final

from sqlalchemy.exc import DBAPIError

from .clock import utcnow
from .config import resolve_settings
from .database import DatabaseManager, describe_error
from .session import UserSession
from .write_behind import EXIT_FLUSH_TIMEOUT, WRITE_BATCH, WriteBehind

logger = logging.getLogger(__name__)

CLEANUP_BATCH: Final = 10_000
"""Rows deleted per cleanup transaction; memory stays flat however many rows expire."""


class SessionPersistenceEngine(WriteBehind):
    """Debounced, batched, revision-guarded writes of ``UserSession`` objects, and their recovery.

    Parameters
    ----------
    debounce_delay, session_timeout, database_url
        Seconds to coalesce changes; seconds of inactivity before a session
        expires; where to store. None takes each from ``resolve_settings()``.
    db
        A ``DatabaseManager`` to use instead of building one from the URL.
    retry_initial, retry_max
        Backoff between attempts while the database is down, in seconds: the
        first retry waits ``retry_initial``, each next one twice as long, up to
        ``retry_max``.
    """

    def __init__(
        self,
        debounce_delay: float | None = None,
        session_timeout: float | None = None,
        database_url: str | None = None,
        *,
        db: DatabaseManager | None = None,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        settings = resolve_settings(
            debounce_delay=debounce_delay,
            session_timeout=session_timeout,
            database_url=database_url,
        )
        super().__init__(
            db if db is not None else DatabaseManager(settings.database_url),
            debounce_delay=settings.debounce_delay,
            session_timeout=settings.session_timeout,
            retry_initial=retry_initial,
            retry_max=retry_max,
        )
        self.cleanup_batch = CLEANUP_BATCH

    # -- recovery --------------------------------------------------------

    def recover_session(self, session_id: str) -> UserSession | None:
        """The newest live state of ``session_id``: this engine's unwritten copy, else the stored row.

        None when the id is unknown, expired, or stored in a form this release
        cannot read (logged). Never raises for a database that is down: that
        is logged and answered with None as well.
        """
        unwritten = self._unwritten(session_id)
        if unwritten is not None:
            return unwritten if self._is_live(unwritten) else None
        return self.stored_session(session_id)

    def stored_session(self, session_id: str) -> UserSession | None:
        """The stored copy of ``session_id`` if it is live, past any unwritten copy held here:
        what another server wrote of it. None as for ``recover_session``."""
        try:
            return self.store.recover(session_id, utcnow())
        except DBAPIError as error:
            logger.warning("st-session-guard: cannot read session %s…: %s", session_id[:8],
                           describe_error(error))
        except ValueError:  # the JSON column failed to decode
            logger.warning("st-session-guard: stored session %s… is not valid JSON; ignored",
                           session_id[:8])
        return None

    def is_known(self, session_id: str) -> bool | None:
        """Whether ``session_id`` is held, stored or was ended (also after cleanup); None if unreadable.

        A signed cookie naming an id that is not known at all means the server
        died before its first write, so the id may be taken up again (and the
        browser's mirror restores into it); an id that was ever ended may not,
        for as long as a token for it can be valid.
        """
        if self._unwritten(session_id) is not None:
            return True
        try:
            return self.store.is_known(session_id, utcnow())
        except DBAPIError as error:
            logger.warning("st-session-guard: cannot read session %s…: %s", session_id[:8], describe_error(error))
            return None

    def was_ended(self, session_id: str) -> bool | None:
        """Whether ``session_id`` was ended, here or on another server; None if unreadable."""
        try:
            return self.store.was_ended(session_id)
        except DBAPIError as error:
            logger.warning("st-session-guard: cannot read session %s…: %s", session_id[:8], describe_error(error))
            return None

    def recover_user_sessions(self, user_id: str) -> list[UserSession]:
        """Every live session of ``user_id``, newest copy of each, most recently active first."""
        found = {
            s.session_id: s
            for s in self._unwritten_where(lambda s: s.user_id == user_id and self._is_live(s))
        }
        try:
            stored = self.store.user_sessions(user_id, utcnow())
        except (DBAPIError, ValueError) as error:
            logger.warning("st-session-guard: cannot read sessions of a user: %s", describe_error(error))
            stored = []
        for session in stored:
            found.setdefault(session.session_id, session)
        return sorted(found.values(), key=lambda s: s.metrics.last_activity, reverse=True)

    def _is_live(self, session: UserSession) -> bool:
        timeout = timedelta(seconds=self.session_timeout)
        return session.metrics.last_activity + timeout > utcnow()

    # -- removal ---------------------------------------------------------

    def delete_session(self, session_id: str) -> bool:
        """Forget ``session_id`` here and in the database; True when a stored row was removed.

        A write of it already under way is cancelled or undone, so the row
        does not come back.
        """
        self._forget([session_id])
        try:
            with self._write_lock:
                removed = self.store.delete([session_id], utcnow())
        except DBAPIError as error:
            logger.warning("st-session-guard: cannot delete session %s…: %s", session_id[:8],
                           describe_error(error))
            return False
        return removed > 0

    def expire_session(self, session_id: str) -> bool:
        """End ``session_id`` now, keeping its row until the next cleanup; True when a live row expired.

        Its unwritten changes here are dropped and a write of it already under
        way is cancelled, so the write-behind engine does not revive it.
        """
        self._forget([session_id])
        now = utcnow()
        try:
            with self._write_lock:
                expired = self.store.expire(session_id, now)
        except DBAPIError as error:
            logger.warning("st-session-guard: cannot expire session %s…: %s", session_id[:8],
                           describe_error(error))
            return False
        return expired

    def ended_elsewhere(self, session_ids: Sequence[str]) -> None:
        """Another server ended these sessions: drop their unwritten changes here, so no page load
        is served this engine's copy of one, and cancel writes of them under way."""
        self._forget(session_ids)

    def cleanup_expired_sessions(self, *, on_batch: Callable[[int], object] | None = None) -> int:
        """Delete every session whose expiry has passed, in batches; the number of rows deleted.

        ``on_batch(deleted)`` is called after each committed batch, for progress reports.
        """
        now = utcnow()
        return self._delete_where(
            lambda: self.store.delete_expired(now, self.cleanup_batch),
            lambda s: not self._is_live(s),
            on_batch,
        )

    def cleanup_inactive_sessions(
        self, inactive_days: float = 7, *, on_batch: Callable[[int], object] | None = None
    ) -> int:
        """Delete every session idle for ``inactive_days`` or longer, expired or not; the count.

        ``on_batch(deleted)`` is called after each committed batch, for progress reports.
        """
        now = utcnow()
        cutoff = now - timedelta(days=inactive_days)
        return self._delete_where(
            lambda: self.store.delete_inactive(cutoff, self.cleanup_batch, now),
            lambda s: s.metrics.last_activity <= cutoff,
            on_batch,
        )

    def _delete_where(
        self,
        delete_batch: Callable[[], Sequence[str]],
        doomed: Callable[[UserSession], bool],
        on_batch: Callable[[int], object] | None = None,
    ) -> int:
        """Delete matching sessions and their rows ``cleanup_batch`` at a time, never loading them all.

        ``doomed`` is the batch's test for the sessions this engine holds. Ended
        ids no valid token can name any more are forgotten at the end.
        """
        self._drop_unwritten(doomed)
        total = 0
        while True:
            try:
                with self._write_lock:
                    ids = delete_batch()
                    self._forget(ids, doomed)
            except DBAPIError as error:
                logger.warning("st-session-guard: session cleanup stopped: %s", describe_error(error))
                return total
            total += len(ids)
            if on_batch is not None:
                on_batch(len(ids))
            if len(ids) < self.cleanup_batch:
                break
        try:
            self.store.prune_revoked(utcnow())
        except DBAPIError as error:
            logger.warning("st-session-guard: ended ids not pruned: %s", describe_error(error))
        return total


__all__ = ["CLEANUP_BATCH", "EXIT_FLUSH_TIMEOUT", "WRITE_BATCH", "SessionPersistenceEngine"]
