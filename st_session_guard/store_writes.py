"""Writing sessions: one batched, revision-guarded upsert, merged path by path with rows
another writer wrote, so no writer's newest path is lost."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any, Final

from sqlalchemy import Connection, Insert, Select, Text, cast, func, select

from . import jsontext
from .database import DatabaseManager, DialectInsert
from .driver_batch import RowsInsert
from .id_lists import IdLists
from .models import metrics, permissions, revoked, roles, sessions
from .notices import announce
from .stored_merge import Verdict, merge_states, merge_verdict
from .stored_rows import SessionRecord

logger = logging.getLogger(__name__)

_REPLACED: Final = ("user_id", "state", "revision", "schema_version", "last_activity", "expires_at")
"""What a write replaces in a stored row (``created_at`` stays)."""

MOST_REMEMBERED: Final = 200_000
"""Sessions whose last written revision a store remembers; past it, it forgets them all."""


class SessionWriter(IdLists):
    """The write half of the store; remembers the revision it last wrote of each session."""

    def __init__(self, db: DatabaseManager) -> None:
        super().__init__(db)
        self._written: dict[str, int | None] = {}
        """Session id -> the revision this store last wrote of it, None after a merge: a stored
        row at that revision holds nothing the writer's copy lacks."""

    def recovered(self, session_id: str, revision: int) -> None:
        """A copy read at ``revision`` holds that row, unless this writer wrote the session itself."""
        self._written.setdefault(session_id, revision)

    def write(
        self, records: Sequence[SessionRecord], *, before_commit: Callable[[], object] | None = None
    ) -> None:
        """Store ``records`` in one transaction, merged path by path with rows another writer wrote.

        A row this store wrote last is replaced only by a newer revision; a row
        written since by anyone else is merged (``stored_merge``), so no
        writer's newest path is lost. ``before_commit`` runs once the
        statements have run, before the commit. The sessions written are announced to other
        servers (``notices``), on commit only.
        """
        with self.db.write() as connection:
            written, stored = self._store(connection, records)
            announce(connection, self.db.origin, stored, ())
            if before_commit is not None:
                before_commit()
        if len(self._written) > MOST_REMEMBERED:
            self._written.clear()  # merging unknown rows is slower, never wrong
        self._written.update(written)

    def _store(
        self, connection: Connection, records: Sequence[SessionRecord]
    ) -> tuple[dict[str, int | None], dict[str, int]]:
        """One batched upsert, merges where needed, server-owned rows where ours are newer.

        The stored revisions are read first and stay true until the commit:
        SQLite's ``BEGIN IMMEDIATE`` holds the only write lock, PostgreSQL
        locks the rows. The answer is what ``_written`` learns, and the
        revision now stored of each session written.
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
        owners, whole, merged = self._merge_into(connection, others, stored) if others else ([], [], {})
        self._write_server_owned(connection, [*won, *owners])
        # a lost or merged row holds paths our copy lacks: None makes the next write merge
        written: dict[str, int | None] = {r.session_id: None for r in (*newer, *others)}
        written.update((r.session_id, r.row["revision"]) for r in (*won, *whole))
        return written, {**{r.session_id: r.row["revision"] for r in won}, **merged}

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
        returned = self._session_rows.execute(connection, [r.row for r in records])
        if self.db.dialect == "sqlite":
            return records
        won = {row[0] for row in returned}
        return [r for r in records if r.session_id in won]

    def _merge_into(
        self, connection: Connection, records: list[SessionRecord], stored: dict[str, int]
    ) -> tuple[list[SessionRecord], list[SessionRecord], dict[str, int]]:
        """Write each record merged with its stored state.

        Returns the records whose server-owned rows win, those written as
        they are because they hold everything stored, and the revision
        written of each session. A stored state is decoded one at a time and
        let go at once (thousands held together would wake the garbage
        collector over the whole heap); ours is decoded only where the two
        must be merged (``merge_verdict``).
        """
        texts = self._stored_texts(connection, [r.session_id for r in records])
        rows, whole = [], []
        for record in records:
            theirs = _state_of(texts.get(record.session_id))
            if theirs is not None:
                verdict = merge_verdict(record.row["revision"], record.paths, theirs)
                if verdict is Verdict.THEIRS:
                    continue
                if verdict is Verdict.MERGE:
                    merged = merge_states(jsontext.loads(record.row["state"]), theirs)
                    if merged is None:
                        continue
                    # above the stored one, always: a stored revision equal to the one a writer
                    # wrote then proves that nobody wrote since (the fast path in ``_store``)
                    merged["revision"] = max(record.row["revision"], stored[record.session_id] + 1)
                    rows.append({**record.row, "state": jsontext.dumps(merged).decode(),
                                 "revision": merged["revision"]})
                    continue
            rows.append(record.row)
            whole.append(record)
        self._session_rows_replace.execute(connection, rows)
        return ([r for r in records if r.row["revision"] > stored[r.session_id]], whole,
                {row["session_id"]: row["revision"] for row in rows})

    def _stored_texts(self, connection: Connection, ids: list[str]) -> dict[str, str]:
        """The stored states of ``ids`` as JSON text, row by row: on SQLite one JSON object of
        them all cost four times as much, SQLite quoting every text and the reader unquoting it."""
        found_rows = connection.execute(self._stored_texts_listed, self._ids_param(ids))
        return {session_id: text for session_id, text in found_rows}

    @cached_property
    def _stored_texts_listed(self) -> Select[str, str]:
        return select(sessions.c.session_id, cast(sessions.c.state, Text)).where(
            self._listed_ids(sessions.c.session_id)
        )

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
        """Merged rows, written whatever is stored (they hold the stored row's newest paths)."""
        return self._session_rows_finished(_replace)

    def _session_rows_finished(self, finish: Callable[[DialectInsert], Insert]) -> RowsInsert[DialectInsert]:
        """Session rows from ``SessionRecord.row``s, whose state is JSON text already."""
        return RowsInsert(self.db.insert(sessions), self.db.engine.dialect, finish=finish, given=("state",))

    @cached_property
    def _session_rows(self) -> RowsInsert[DialectInsert]:
        """The session rows' upsert, a row replaced only by a newer revision; on PostgreSQL it
        returns the ids written (a row absent when the revisions were read may be there now)."""
        if self.db.dialect == "sqlite":
            return self._session_rows_finished(_replace_if_newer)
        return self._session_rows_finished(
            lambda statement: _replace_if_newer(statement).returning(sessions.c.session_id)
        )

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


def _state_of(text: str | None) -> dict[str, Any] | None:
    """A stored state decoded; None where there is none, or none a merge can read (ours replaces it)."""
    if text is None:
        return None
    try:
        state = jsontext.loads(text)
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


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


__all__ = ["SessionWriter"]
