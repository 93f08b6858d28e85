"""The SQL of the session store, per dialect: what writing, recovering and removing sessions say.

Pure database: no threads, no pending sessions, no retries (``persistence``
schedules the writes and decides what a failure means). Statements that sit
on measured hot paths use SQLAlchemy Core, built once per store; the figures
are in bench/README.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Final

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Delete,
    Insert,
    Select,
    Table,
    Text,
    any_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from . import jsontext
from .database import DatabaseManager, DialectInsert
from .driver_batch import RowsInsert
from .models import SERVER_OWNED, UTCDateTime, metrics, permissions, revoked, roles, sessions
from .session import UserSession
from .stored_merge import merge_states
from .stored_rows import SessionRecord, rebuild

logger = logging.getLogger(__name__)

_RECOVER: Final = select(sessions.c.state, sessions.c.expires_at, sessions.c.revision).where(
    sessions.c.session_id == bindparam("session_id")
)
"""A primary-key lookup, built once: recovery sits on the path of every page load."""

_REPLACED: Final = ("user_id", "state", "revision", "schema_version", "last_activity", "expires_at")
"""What a write replaces in a stored row (``created_at`` stays)."""

MOST_REMEMBERED: Final = 200_000
"""Sessions whose last written revision a store remembers; past it, it forgets them all."""

_KNOWN: Final = select(sessions.c.session_id).where(
    sessions.c.session_id == bindparam("session_id")
).union_all(
    select(revoked.c.session_id).where(
        revoked.c.session_id == bindparam("session_id"), revoked.c.ended_at > bindparam("cutoff")
    )
)
"""A stored row, or an end recent enough that a token for the id may still be valid."""


class SessionStore:
    """Sessions in the database of record: batched revision-guarded upserts, lookups and removals.

    Every method is one transaction and raises what the database raised
    (``sqlalchemy.exc.DBAPIError``). Id lists travel as one parameter (a JSON
    array on SQLite, an array on PostgreSQL), never a placeholder per id.
    An id that is ended is remembered ``session_timeout`` seconds (the longest
    a token lives) after its row is gone, so it is never taken up again.
    """

    def __init__(self, db: DatabaseManager, session_timeout: float) -> None:
        self.db = db
        self.session_timeout = session_timeout
        self._deletes: dict[str, Delete] = {}
        self._written: dict[str, int | None] = {}
        """Session id -> the revision this store last wrote of it, None after a merge: a stored
        row at that revision holds nothing the writer's copy lacks."""

    # -- writing ---------------------------------------------------------

    def write(
        self, records: Sequence[SessionRecord], *, before_commit: Callable[[], object] | None = None
    ) -> None:
        """Store ``records`` in one transaction, merged path by path with rows another writer wrote.

        A row this store wrote last is replaced only by a newer revision; a row
        written since by anyone else is merged (``stored_merge``), so no
        writer's newest path is lost. ``before_commit`` runs once the
        statements have run, before the commit.
        """
        with self.db.write() as connection:
            written = self._store(connection, records)
            if before_commit is not None:
                before_commit()
        if len(self._written) > MOST_REMEMBERED:
            self._written.clear()  # merging unknown rows is slower, never wrong
        self._written.update(written)

    def _store(self, connection: Connection, records: Sequence[SessionRecord]) -> dict[str, int | None]:
        """One batched upsert, merges where needed, server-owned rows where ours are newer.

        The stored revisions are read first and stay true until the commit:
        SQLite's ``BEGIN IMMEDIATE`` holds the only write lock, PostgreSQL
        locks the rows. The answer is what ``_written`` learns.
        """
        ordered = sorted(records, key=lambda r: r.session_id)  # one lock order across servers
        ended = self._ended_among(connection, [r.session_id for r in ordered])
        if ended:
            # another server ended them (logout, rotation, expiry) after this copy was taken
            logger.info("st-session-guard: not writing %d ended session(s) back", len(ended))
            ordered = [r for r in ordered if r.session_id not in ended]
        stored = self._stored_revisions_of(connection, [r.session_id for r in ordered])
        newer: list[SessionRecord] = []
        others: list[SessionRecord] = []
        for record in ordered:
            revision = stored.get(record.session_id)
            if revision is None or revision == self._written.get(record.session_id):
                if revision is None or revision < record.row["revision"]:
                    newer.append(record)
            else:
                others.append(record)
        won = self._upsert_newer(connection, newer) if newer else []
        owners, whole = self._merge_into(connection, others, stored) if others else ([], [])
        self._write_server_owned(connection, [*won, *owners])
        # a lost or merged row holds paths our copy lacks: None makes the next write merge
        written: dict[str, int | None] = {r.session_id: None for r in (*newer, *others)}
        written.update((r.session_id, r.row["revision"]) for r in (*won, *whole))
        return written

    def _ended_among(self, connection: Connection, ids: list[str]) -> set[str]:
        """Which of ``ids`` were ended: a write must never bring one back."""
        return set(connection.execute(self._ended_listed, self._ids_param(ids)).scalars())

    @cached_property
    def _ended_listed(self) -> Select[str]:
        return select(revoked.c.session_id).where(self._listed_ids(revoked.c.session_id))

    def _stored_revisions_of(self, connection: Connection, ids: list[str]) -> dict[str, int]:
        if self.db.dialect == "sqlite":
            found = connection.execute(self._stored_revisions, self._ids_param(ids)).scalar_one()
            revisions: dict[str, int] = jsontext.loads(found)
            return revisions
        rows = connection.execute(self._locked_revisions, self._ids_param(ids))
        return {session_id: int(revision) for session_id, revision in rows}

    def _upsert_newer(
        self, connection: Connection, records: list[SessionRecord]
    ) -> list[SessionRecord]:
        """Write records newer than their rows; those that won. On PostgreSQL a row that was
        absent when the revisions were read may be written meanwhile: the upsert says."""
        if self.db.dialect == "sqlite":
            self._session_rows.execute(connection, [r.row for r in records])
            return records
        won = {row[0] for row in connection.execute(self._session_upsert, [r.row for r in records])}
        return [r for r in records if r.session_id in won]

    def _merge_into(
        self, connection: Connection, records: list[SessionRecord], stored: dict[str, int]
    ) -> tuple[list[SessionRecord], list[SessionRecord]]:
        """Write each record merged with its stored state.

        Returns the records whose server-owned rows win, and those written as
        they are because they hold everything stored.
        """
        states = self._stored_states(connection, [r.session_id for r in records])
        rows, whole = [], []
        for record in records:
            theirs = states.get(record.session_id)
            ours = jsontext.loads(record.row["state"])
            merged = merge_states(ours, theirs) if isinstance(theirs, dict) else ours
            if merged is None:
                continue
            if merged is ours:
                rows.append(record.row)
                whole.append(record)
                continue
            # above the stored one, always: a stored revision equal to the one a writer wrote
            # then proves that nobody wrote since (the fast path in ``_store``)
            merged["revision"] = max(record.row["revision"], stored[record.session_id] + 1)
            rows.append({**record.row, "state": jsontext.dumps(merged).decode(),
                         "revision": merged["revision"]})
        if rows and self.db.dialect == "sqlite":
            self._session_rows_replace.execute(connection, rows)
        elif rows:
            connection.execute(_replace(self._session_insert), rows)
        return [r for r in records if r.row["revision"] > stored[r.session_id]], whole

    def _stored_states(self, connection: Connection, ids: list[str]) -> dict[str, Any]:
        """The stored states of ``ids``, decoded; on SQLite read as one JSON object."""
        param = self._ids_param(ids)
        if self.db.dialect == "sqlite":
            found = connection.execute(self._stored_states_sqlite, param).scalar_one()
            states: dict[str, Any] = jsontext.loads(found)
            return states
        listed = select(sessions.c.session_id, sessions.c.state).where(
            self._listed_ids(sessions.c.session_id)
        )
        return dict(connection.execute(listed, param).all())

    @cached_property
    def _stored_states_sqlite(self) -> Select[str]:
        return select(
            func.json_group_object(sessions.c.session_id, func.json(sessions.c.state))
        ).where(self._listed_ids(sessions.c.session_id))

    def _write_server_owned(self, connection: Connection, winners: list[SessionRecord]) -> None:
        if not winners:
            return
        ids = self._ids_param([r.session_id for r in winners])
        connection.execute(self._delete_of(roles), ids)
        connection.execute(self._delete_of(permissions), ids)
        self._role_insert.execute(
            connection, [{"session_id": r.session_id, "role": x} for r in winners for x in r.roles]
        )
        self._permission_insert.execute(
            connection,
            [{"session_id": r.session_id, "permission": x} for r in winners for x in r.permissions],
        )
        self._metrics_upsert.execute(connection, [r.metrics for r in winners])

    @cached_property
    def _locked_revisions(self) -> Select[str, int]:
        """PostgreSQL: the listed ids' stored revisions, their rows locked until the commit."""
        return select(sessions.c.session_id, sessions.c.revision).where(
            self._listed_ids(sessions.c.session_id)
        ).with_for_update()

    @cached_property
    def _session_rows_replace(self) -> RowsInsert[DialectInsert]:
        """SQLite: merged rows, written whatever is stored (they hold the stored row's newest paths)."""
        return self._session_rows_finished(_replace)

    def _session_rows_finished(self, finish: Callable[[DialectInsert], Insert]) -> RowsInsert[DialectInsert]:
        return RowsInsert(self.db.insert(sessions), self.db.engine.dialect, finish=finish, given=("state",))

    @cached_property
    def _session_insert(self) -> DialectInsert:
        """The session rows' insert from a row of ``SessionRecord``: its state is JSON text already."""
        state = cast(bindparam("state", type_=Text), JSON)
        return self.db.insert(sessions).values(
            {c.name: state if c.name == "state" else bindparam(c.name, type_=c.type)
             for c in sessions.c}
        )

    @cached_property
    def _session_rows(self) -> RowsInsert[DialectInsert]:
        """The session rows' upsert on SQLite, where the stored revisions are read beforehand."""
        return self._session_rows_finished(_replace_if_newer)

    @cached_property
    def _session_upsert(self) -> Insert:
        """The session rows' upsert on PostgreSQL, a row replaced only by a newer revision."""
        return _replace_if_newer(self._session_insert).returning(sessions.c.session_id)

    @cached_property
    def _stored_revisions(self) -> Select[str]:
        """SQLite: ``{session id: revision}`` of the listed ids that are stored, as JSON text."""
        return select(func.json_group_object(sessions.c.session_id, sessions.c.revision)).where(
            self._listed_ids(sessions.c.session_id)
        )

    @cached_property
    def _metrics_upsert(self) -> RowsInsert[DialectInsert]:
        def replace(statement: DialectInsert) -> Insert:
            return statement.on_conflict_do_update(
                index_elements=[metrics.c.session_id],
                set_={c.name: statement.excluded[c.name] for c in metrics.c if not c.primary_key},
            )

        return RowsInsert(self.db.insert(metrics), self.db.engine.dialect, finish=replace)

    @cached_property
    def _role_insert(self) -> RowsInsert[DialectInsert]:
        return RowsInsert(self.db.insert(roles), self.db.engine.dialect)

    @cached_property
    def _permission_insert(self) -> RowsInsert[DialectInsert]:
        return RowsInsert(self.db.insert(permissions), self.db.engine.dialect)

    # -- reading ---------------------------------------------------------

    def recover(self, session_id: str, now: datetime) -> UserSession | None:
        """The stored session ``session_id`` if it is live at ``now``; None otherwise.

        Raises ``ValueError`` when the stored text is not JSON.
        """
        with self.db.read() as connection:
            row = connection.execute(_RECOVER, {"session_id": session_id}).first()
        if row is None or row.expires_at <= now:
            return None
        # what a copy recovered here holds, unless this store wrote the session itself
        self._written.setdefault(session_id, row.revision)
        return rebuild(session_id, row.state)

    def is_known(self, session_id: str, now: datetime) -> bool:
        """Whether ``session_id`` is stored (live or expired) or was ended too recently to forget."""
        with self.db.read() as connection:
            found = connection.execute(
                _KNOWN, {"session_id": session_id, "cutoff": self._token_cutoff(now)}
            )
            return found.first() is not None

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
        """Record the listed ids as ended at ``now``; an earlier end stays."""
        if ids:
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

    def _delete_of(self, table: Table) -> Delete:
        """``DELETE FROM table WHERE session_id IN <the list bound as "ids">``, built once."""
        statement = self._deletes.get(table.name)
        if statement is None:
            statement = self._deletes[table.name] = delete(table).where(
                self._listed_ids(table.c.session_id)
            )
        return statement

    def _listed_ids(self, column: ColumnElement[str]) -> ColumnElement[bool]:
        """``column IN <the list bound as "ids">``, the list being one parameter (``_ids_param``)."""
        if self.db.dialect == "sqlite":
            listed: Select[tuple[Any]] = select(literal_column("value")).select_from(
                func.json_each(bindparam("ids", type_=Text))
            )
            return column.in_(listed)
        return column == any_(bindparam("ids", type_=ARRAY(Text)))

    def _ids_param(self, ids: Sequence[str]) -> dict[str, object]:
        return {"ids": jsontext.dumps(list(ids)).decode() if self.db.dialect == "sqlite" else list(ids)}


def _replace(statement: DialectInsert) -> Insert:
    """``ON CONFLICT``: a stored session row is replaced (by a row merged with it)."""
    upsert: Insert = statement.on_conflict_do_update(
        index_elements=[sessions.c.session_id],
        set_={name: statement.excluded[name] for name in _REPLACED},
    )
    return upsert


def _replace_if_newer(statement: DialectInsert) -> Insert:
    """``ON CONFLICT``: a stored session row is replaced only by a newer revision of it."""
    upsert: Insert = statement.on_conflict_do_update(
        index_elements=[sessions.c.session_id],
        set_={name: statement.excluded[name] for name in _REPLACED},
        where=sessions.c.revision < statement.excluded.revision,
    )
    return upsert


__all__ = ["SessionStore"]
