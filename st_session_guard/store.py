"""The SQL of the session store, per dialect: what writing, recovering and removing sessions say.

Pure database: no threads, no pending sessions, no retries (``persistence``
schedules the writes and decides what a failure means). Statements that sit
on measured hot paths use SQLAlchemy Core, built once per store; the figures
are in bench/README.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    bindparam,
    case,
    delete,
    func,
    select,
    update,
)

from . import jsontext
from .database import DatabaseManager
from .id_lists import IdLists
from .models import SERVER_OWNED, UTCDateTime, revoked, sessions
from .notices import announce
from .session import UserSession
from .store_writes import SessionWriter
from .stored_rows import SessionRecord, rebuild

_RECOVER: Final = select(sessions.c.state, sessions.c.expires_at, sessions.c.revision).where(
    sessions.c.session_id == bindparam("session_id")
)
"""A primary-key lookup, built once: recovery sits on the path of every page load."""

_KNOWN: Final = select(sessions.c.session_id).where(
    sessions.c.session_id == bindparam("session_id")
).union_all(
    select(revoked.c.session_id).where(
        revoked.c.session_id == bindparam("session_id"), revoked.c.ended_at > bindparam("cutoff")
    )
)
"""A stored row, or an end recent enough that a token for the id may still be valid."""


_ENDED: Final = select(revoked.c.session_id).where(revoked.c.session_id == bindparam("session_id"))


class SessionStore(IdLists):
    """Sessions in the database of record: batched revision-guarded upserts, lookups and removals.

    Every method is one transaction and raises what the database raised
    (``sqlalchemy.exc.DBAPIError``). Id lists travel as one parameter (a JSON
    array on SQLite, an array on PostgreSQL), never a placeholder per id.
    An id that is ended is remembered ``session_timeout`` seconds (the longest
    a token lives) after its row is gone, so it is never taken up again.
    """

    def __init__(self, db: DatabaseManager, session_timeout: float) -> None:
        super().__init__(db)
        self.session_timeout = session_timeout
        self._writer = SessionWriter(db)

    # -- writing ---------------------------------------------------------

    def write(
        self, records: Sequence[SessionRecord], *, before_commit: Callable[[], object] | None = None
    ) -> None:
        """Store ``records`` in one transaction, merged path by path with rows another writer
        wrote (see ``store_writes``); ``before_commit`` runs just before the commit."""
        self._writer.write(records, before_commit=before_commit)

    # -- reading ---------------------------------------------------------

    def recover(self, session_id: str, now: datetime) -> UserSession | None:
        """The stored session ``session_id`` if it is live at ``now``; None otherwise.

        Raises ``ValueError`` when the stored text is not JSON.
        """
        with self.db.read() as connection:
            row = connection.execute(_RECOVER, {"session_id": session_id}).first()
        if row is None or row.expires_at <= now:
            return None
        self._writer.recovered(session_id, row.revision)
        return rebuild(session_id, row.state)

    def is_known(self, session_id: str, now: datetime) -> bool:
        """Whether ``session_id`` is stored (live or expired) or was ended too recently to forget."""
        with self.db.read() as connection:
            found = connection.execute(
                _KNOWN, {"session_id": session_id, "cutoff": self._token_cutoff(now)}
            )
            return found.first() is not None

    def was_ended(self, session_id: str) -> bool:
        """Whether ``session_id`` was ended (logout, rotation, expiry) and not yet forgotten."""
        with self.db.read() as connection:
            return connection.execute(_ENDED, {"session_id": session_id}).first() is not None

    def _token_cutoff(self, now: datetime) -> datetime:
        """Ends before this are older than any token still valid at ``now``."""
        return now - timedelta(seconds=self.session_timeout)

    def user_sessions(self, user_id: str, now: datetime) -> list[UserSession]:
        """The stored sessions of ``user_id`` live at ``now``, most recently active first."""
        with self.db.read() as connection:
            rows = connection.execute(
                select(sessions.c.session_id, sessions.c.state)
                .where(sessions.c.user_id == user_id, sessions.c.expires_at > now)
                .order_by(sessions.c.last_activity.desc())
            ).all()
        rebuilt = (rebuild(row.session_id, row.state) for row in rows)
        return [session for session in rebuilt if session is not None]

    # -- removing --------------------------------------------------------

    def delete(self, ids: Sequence[str], now: datetime) -> int:
        """End the listed sessions at ``now`` and delete their rows; the number of rows deleted."""
        with self.db.write() as connection:
            self._revoke_ids(connection, ids, now)
            return self._delete_ids(connection, ids)

    def expire(self, session_id: str, now: datetime) -> bool:
        """End ``session_id`` at ``now``, stored or not, keeping its row; True when a live row expired."""
        with self.db.write() as connection:
            self._revoke_ids(connection, [session_id], now)
            result = connection.execute(
                update(sessions)
                .where(sessions.c.session_id == session_id, sessions.c.expires_at > now)
                .values(expires_at=now)
            )
        return bool(result.rowcount)

    def prune_revoked(self, now: datetime) -> int:
        """Forget ended ids no token valid at ``now`` can name; how many."""
        with self.db.write() as connection:
            result = connection.execute(
                delete(revoked).where(revoked.c.ended_at <= self._token_cutoff(now))
            )
        return int(result.rowcount)

    def _revoke_ids(self, connection: Connection, ids: Sequence[str], now: datetime) -> None:
        """Record the listed ids as ended at ``now``, and tell other servers; an earlier end stays."""
        if ids:
            announce(connection, self.db.origin, {}, ids)
            connection.execute(
                self.db.insert(revoked).on_conflict_do_nothing(index_elements=[revoked.c.session_id]),
                [{"session_id": session_id, "ended_at": now} for session_id in ids],
            )

    @cached_property
    def _revoke_removed(self) -> Insert:
        """Record the listed sessions as ended (when they expired, or now if later) while a token
        for them may still be valid (their end after ``cutoff``)."""
        now = bindparam("now", type_=UTCDateTime())
        ended = case((sessions.c.expires_at < now, sessions.c.expires_at), else_=now)
        return self.db.insert(revoked).from_select(
            ["session_id", "ended_at"],
            select(sessions.c.session_id, ended).where(
                self._listed_ids(sessions.c.session_id),
                sessions.c.expires_at > bindparam("cutoff", type_=UTCDateTime()),
            ),
        ).on_conflict_do_nothing(index_elements=[revoked.c.session_id])

    def delete_expired(self, now: datetime, limit: int) -> Sequence[str]:
        """Delete at most ``limit`` sessions expired at ``now``, in one transaction; their ids."""
        return self._delete_batch(lambda: sessions.c.expires_at <= now, limit, now)

    def delete_inactive(self, cutoff: datetime, limit: int, now: datetime) -> Sequence[str]:
        """Delete at most ``limit`` sessions idle since ``cutoff`` or before; their ids."""
        return self._delete_batch(lambda: sessions.c.last_activity <= cutoff, limit, now)

    def _delete_batch(
        self, condition: Callable[[], ColumnElement[bool]], limit: int, now: datetime
    ) -> Sequence[str]:
        """Delete at most ``limit`` sessions matching ``condition``, and their rows; their ids.

        The condition is tested in the transaction that deletes, so a session
        another server refreshed meanwhile survives: SQLite's ``BEGIN
        IMMEDIATE`` holds the only write lock, PostgreSQL locks the rows it
        lists. On SQLite the ids come back as one JSON array.
        """
        with self.db.write() as connection:
            batch = select(sessions.c.session_id).where(condition()).limit(limit)
            ids: list[str]
            if self.db.dialect == "sqlite":
                listed = batch.subquery()
                ids = jsontext.loads(
                    connection.execute(
                        select(func.json_group_array(listed.c.session_id))
                    ).scalar_one()
                )
            else:
                ids = list(connection.execute(batch.with_for_update()).scalars())
            if ids:
                param = self._ids_param(ids)
                connection.execute(
                    self._revoke_removed, {**param, "now": now, "cutoff": self._token_cutoff(now)}
                )
                announce(connection, self.db.origin, {}, ids)
                self._delete_ids(connection, ids)
            return ids

    def _delete_ids(self, connection: Connection, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        param = self._ids_param(ids)
        self._delete_children(connection, param)
        return int(connection.execute(self._delete_of(sessions), param).rowcount)

    def _delete_children(self, connection: Connection, ids: dict[str, object]) -> None:
        for table in SERVER_OWNED:
            connection.execute(self._delete_of(table), ids)





__all__ = ["SessionStore"]
