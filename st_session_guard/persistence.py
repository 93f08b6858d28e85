"""Write-behind persistence: changes are cheap to make, and reach the database soon and in bulk.

Every change to a session marks it dirty (``persist_session``, also usable as
``UserSession.bind`` callback). One background thread writes each dirty
session ``debounce_delay`` seconds after its *first* unwritten change, so any
number of changes inside that window cost one write and nothing waits longer
than the window to be stored. All sessions due together go in one
transaction, as one batched upsert that replaces a stored row only when it
carries a newer revision: two servers, or a late retry, never put an older
state over a newer one.

A database that is down or locked never raises into the app: the sessions stay
pending (later changes merge into them), one warning is logged per outage, the
writes are retried with exponential backoff, and ``health_check()`` reports
False until a write lands again.

Lock order: a session's lock may be held while the engine's lock is taken
(``bind`` callbacks run inside the session's methods), never the other way
round. The engine takes a session's lock only to serialise it, and then holds
none of its own.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
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
    cast,
    delete,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

from . import jsontext
from .config import resolve_settings
from .database import DatabaseManager, DialectInsert
from .driver_batch import RowsInsert
from .models import SessionMetricsRow, SessionPermissionRow, SessionRoleRow, SessionRow, core_table
from .session import SCHEMA_VERSION, UnsupportedSchema, UserSession

logger = logging.getLogger(__name__)

sessions: Final = core_table(SessionRow)
roles: Final = core_table(SessionRoleRow)
permissions: Final = core_table(SessionPermissionRow)
metrics: Final = core_table(SessionMetricsRow)
CHILD_TABLES: Final = (roles, permissions, metrics)

WRITE_BATCH: Final = 1000
"""Sessions per write transaction: large enough to amortise, small enough to hold locks briefly."""

CLEANUP_BATCH: Final = 10_000
"""Rows deleted per cleanup transaction; memory stays flat however many rows expire."""

_RECOVER: Final = select(sessions.c.state, sessions.c.expires_at).where(
    sessions.c.session_id == bindparam("session_id")
)
"""A primary-key lookup, built once: recovery sits on the path of every page load."""

_KNOWN: Final = select(sessions.c.session_id).where(sessions.c.session_id == bindparam("session_id"))

EXIT_FLUSH_TIMEOUT: Final = 10.0
"""Seconds process exit waits for pending sessions to be written."""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Pending:
    """A session with changes not yet in the database."""

    session: UserSession
    due: float
    """``time.monotonic()`` by which the oldest unwritten change is to be written."""
    version: int = 1
    """Counts ``persist_session`` calls; a write covers the changes up to the version it took."""
    in_flight: bool = False
    next_due: float | None = None
    """When changes made while a write is in flight are due."""


@dataclass
class _Batch:
    """Pending entries taken for one write, with the versions it covers.

    ``generation`` is the engine's delete generation when they were taken: a
    ``delete_session`` after that point cancels their write.
    """

    taken: list[tuple[_Pending, int]]
    generation: int


@dataclass(frozen=True)
class _Record:
    """One session serialised for writing: its row and its server-owned rows."""

    session_id: str
    row: dict[str, Any]
    roles: tuple[str, ...]
    permissions: tuple[str, ...]
    metrics: dict[str, Any]


class _SerialisedAside:
    """A batch serialised on a thread of its own, started while another batch commits.

    ``flush_all`` starts it once the batch before has sent its statements:
    the commit then runs in the database without the GIL, beside it, and the
    statements ran with no other thread's Python to wait for (each statement
    waits up to 5 ms for the GIL while another thread runs Python). Not
    started, ``records`` serialises in the caller. A plain thread, not an
    executor: ``flush_all`` also runs at interpreter exit, when executors take
    no more work.
    """

    def __init__(self, batch: _Batch, serialise: Callable[[_Batch], list[_Record]]) -> None:
        self._batch = batch
        self._serialise = serialise
        self._done: list[list[_Record]] = []
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        self._worker = threading.Thread(
            target=lambda: self._done.append(self._serialise(self._batch)),
            name="st-session-guard-serialise", daemon=True,
        )
        self._worker.start()

    def records(self) -> list[_Record]:
        """The batch's records, once serialised."""
        if self._worker is not None:
            self._worker.join()
        return self._done[0] if self._done else self._serialise(self._batch)


class SessionPersistenceEngine:
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
        self.debounce_delay: float = max(0.0, settings.debounce_delay)
        self.session_timeout: float = settings.session_timeout
        self.db: DatabaseManager = db if db is not None else DatabaseManager(settings.database_url)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.write_batch = WRITE_BATCH
        self.cleanup_batch = CLEANUP_BATCH
        self.writes = 0
        """Session-write transactions committed so far."""
        self.failures = 0
        """Session-write transactions that failed so far."""

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: dict[str, _Pending] = {}
        self._flusher: threading.Thread | None = None
        self._idle = False
        self._closed = False
        self._write_lock = threading.Lock()
        """Orders this engine's own writes, so a delete is never undone by a write already under way."""
        self._generation = 0
        self._deleted: dict[str, int] = {}
        """Session id -> generation of its deletion, while a write taken earlier may be under way."""
        self._active: dict[int, int] = {}
        """Generation -> writes taken then and not yet settled."""
        self._outage = False
        self._retry_delay = retry_initial
        self._retry_at = 0.0
        self._deletes: dict[str, Delete] = {}
        self._at_exit = _exit_hook(weakref.ref(self))
        atexit.register(self._at_exit)

    # -- marking dirty ---------------------------------------------------

    def persist_session(self, session: UserSession, immediate: bool = False) -> bool:
        """Schedule ``session`` to be written; with ``immediate``, write it before returning.

        Returns True when the session is scheduled (debounced) or was written
        (immediate). An immediate write that could not land returns False and
        leaves the session pending, to be retried; nothing is raised.
        """
        now = time.monotonic()
        with self._lock:
            entry = self._pending.get(session.session_id)
            if entry is None:
                entry = self._pending[session.session_id] = _Pending(
                    session, now if immediate else now + self.debounce_delay
                )
                if self._idle:
                    self._wake.notify()
            else:
                if entry.session is not session and session.revision >= entry.session.revision:
                    entry.session = session
                entry.version += 1
                if entry.in_flight and entry.next_due is None:
                    entry.next_due = now + self.debounce_delay
            if not immediate and not self._closed:
                self._start_flusher()
                return True
            if self._outage and now < self._retry_at:
                # Known to be down: don't make the caller wait out a timeout;
                # the flusher retries on its schedule.
                self._start_flusher()
                return False
            batch = self._take([entry])
        written = self._write(batch, from_flusher=False)
        if not written:
            with self._lock:
                self._start_flusher()
        return written

    def _start_flusher(self) -> None:
        if self._flusher is None and not self._closed:
            self._flusher = threading.Thread(
                target=self._run_flusher, name="st-session-guard-flusher", daemon=True
            )
            self._flusher.start()

    @property
    def pending_count(self) -> int:
        """Sessions with changes not yet written."""
        with self._lock:
            return len(self._pending)

    # -- the flusher -----------------------------------------------------

    def _run_flusher(self) -> None:
        while True:
            with self._lock:
                batch = self._await_due_batch()
                if batch is None:
                    return
            self._write(batch, from_flusher=True)

    def _take(self, entries: Iterable[_Pending]) -> _Batch:
        """Take entries for a write (call holding ``_lock``)."""
        generation = self._generation
        self._active[generation] = self._active.get(generation, 0) + 1
        return _Batch([(entry, entry.version) for entry in entries], generation)

    def _await_due_batch(self) -> _Batch | None:
        """Wait (holding ``_lock`` only while not waiting) until sessions are due; take them."""
        while not self._closed:
            now = time.monotonic()
            if self._outage and now < self._retry_at:
                self._wake.wait(self._retry_at - now)
                continue
            earliest = min(
                (entry.due for entry in self._pending.values() if not entry.in_flight),
                default=None,
            )
            if earliest is None:
                self._idle = True
                self._wake.wait()
                self._idle = False
                continue
            if earliest > now:
                self._wake.wait(earliest - now)
                continue
            due: list[_Pending] = []
            for entry in self._pending.values():
                if not entry.in_flight and entry.due <= now:
                    entry.in_flight = True
                    due.append(entry)
                    if len(due) >= self.write_batch:
                        break
            return self._take(due)
        return None

    # -- writing ---------------------------------------------------------

    def flush_all(self) -> int:
        """Write every pending session now, whatever its due time; the number written.

        Waits for nothing but the database; sessions that could not be
        written stay pending.
        """
        with self._lock:
            entries = list(self._pending.values())
            batches = [
                self._take(entries[start : start + self.write_batch])
                for start in range(0, len(entries), self.write_batch)
            ]
        written = 0
        records = self._serialise_batch(batches[0]) if batches else []
        for number, batch in enumerate(batches):
            upcoming = (_SerialisedAside(batches[number + 1], self._serialise_batch)
                        if number + 1 < len(batches) else None)
            written_ok = self._write(batch, from_flusher=False, records=records,
                                     while_committing=upcoming.start if upcoming else None)
            if not written_ok:
                with self._lock:  # settle the batches that were never tried
                    for skipped in batches[number + 1 :]:
                        self._release(skipped.generation)
                break
            written += len(batch.taken)
            records = upcoming.records() if upcoming is not None else []
        return written

    def _serialise_batch(self, batch: _Batch) -> list[_Record]:
        return [r for r in (self._serialise(entry.session) for entry, _ in batch.taken) if r]

    def _write(
        self,
        batch: _Batch,
        *,
        from_flusher: bool,
        records: list[_Record] | None = None,
        while_committing: Callable[[], object] | None = None,
    ) -> bool:
        """Serialise (unless done already) and store a batch in one transaction; settle its entries.

        ``while_committing`` is called once the batch's statements have run,
        just before the commit, which holds no GIL while the database works.
        """
        taken = batch.taken
        if records is None:
            records = self._serialise_batch(batch)
        ok = True
        try:
            with self._write_lock:
                with self._lock:
                    live = [
                        r for r in records
                        if self._deleted.get(r.session_id, -1) < batch.generation
                    ]
                if live:
                    with self.db.write() as connection:
                        self._store(connection, live)
                        if while_committing is not None:
                            while_committing()
                    self.writes += 1
        except DBAPIError as error:
            ok = False
            self._note_failure(error)
        except Exception:  # a bug must not kill the flusher or reach the app
            ok = False
            logger.exception("st-session-guard: unexpected error writing sessions")
            self._note_failure(None)
        else:
            self._note_success()
        with self._lock:
            failed = {entry.session.session_id for entry, _ in taken} if not ok else set()
            for entry, version in taken:
                self._settle(entry, version, written=entry.session.session_id not in failed,
                             from_flusher=from_flusher)
            self._release(batch.generation)
        return ok

    def _release(self, generation: int) -> None:
        """A write taken at ``generation`` is over; forget deletions no write can undo now."""
        left = self._active[generation] - 1
        if left:
            self._active[generation] = left
        else:
            del self._active[generation]
        oldest = min(self._active, default=self._generation + 1)
        if self._deleted:
            self._deleted = {sid: gen for sid, gen in self._deleted.items() if gen >= oldest}

    def _serialise(self, session: UserSession) -> _Record | None:
        """The rows to write for ``session``; None (logged) when its state cannot be stored.

        Such a session is skipped until its next change rather than retried,
        so it cannot hold back the sessions written in the same batch.
        """
        try:
            stored = session.to_stored()  # takes the session's lock; we hold none of ours
        except Exception:
            logger.exception(
                "st-session-guard: session %s… cannot be stored as JSON; skipped until it changes",
                session.session_id[:8],
            )
            return None
        last_activity = stored.metrics.last_activity
        return _Record(
            session_id=session.session_id,
            row={
                "session_id": session.session_id,
                "user_id": stored.user_id,
                "state": stored.text,
                "revision": stored.revision,
                "schema_version": SCHEMA_VERSION,
                "created_at": stored.created_at,
                "last_activity": last_activity,
                "expires_at": last_activity + timedelta(seconds=self.session_timeout),
            },
            roles=stored.roles,
            permissions=stored.permissions,
            metrics={
                "session_id": session.session_id,
                "page_views": stored.metrics.page_views,
                "interaction_count": stored.metrics.interaction_count,
                "started_at": stored.metrics.started_at,
                "last_activity": last_activity,
            },
        )

    def _settle(self, entry: _Pending, version: int, *, written: bool, from_flusher: bool) -> None:
        """After a write attempt: forget what was written, keep what is newer or failed."""
        if from_flusher:
            entry.in_flight = False
        if self._pending.get(entry.session.session_id) is not entry:
            return
        if written and entry.version == version:
            del self._pending[entry.session.session_id]
            return
        if written or not entry.in_flight:
            if entry.next_due is not None:
                entry.due = min(entry.due, entry.next_due) if not written else entry.next_due
                entry.next_due = None
            elif written:
                entry.due = time.monotonic() + self.debounce_delay

    def _store(self, connection: Connection, records: list[_Record]) -> None:
        """One batched, revision-guarded upsert; server-owned rows follow only where it won."""
        records = sorted(records, key=lambda r: r.session_id)  # one lock order across servers
        winners = self._upsert_sessions(connection, records)
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

    def _upsert_sessions(self, connection: Connection, records: list[_Record]) -> list[_Record]:
        """Write the records newer than their stored rows; those records.

        A SQLite write transaction holds the database's only write lock from
        its first statement (``BEGIN IMMEDIATE``), so the stored revisions read
        first stay true until the upsert, and the upsert need not say which
        rows it replaced. They are read as one JSON object, not a row each: the
        driver gives up the GIL for every row it steps to (see ``driver_batch``).
        On PostgreSQL another server may write the same ids meanwhile, so there
        the upsert itself says what it replaced.
        """
        if self.db.dialect == "sqlite":
            ids = self._ids_param([r.session_id for r in records])
            stored = jsontext.loads(connection.execute(self._stored_revisions, ids).scalar_one())
            winners = [r for r in records if stored.get(r.session_id, -1) < r.row["revision"]]
            self._session_rows.execute(connection, [r.row for r in winners])
            return winners
        result = connection.execute(self._session_upsert_returning, [r.row for r in records])
        won = {row[0] for row in result}
        return [r for r in records if r.session_id in won]

    @cached_property
    def _session_rows(self) -> RowsInsert[DialectInsert]:
        """The session rows' upsert on SQLite, where the stored revisions are read beforehand."""
        return RowsInsert(self.db.insert(sessions), self.db.engine.dialect,
                          finish=_replace_if_newer, given=("state",))

    @cached_property
    def _session_upsert_returning(self) -> Insert:
        """The session rows' upsert on PostgreSQL: it returns the ids of the rows it wrote."""
        # The state is JSON text already: cast, not encoded again.
        state = cast(bindparam("state", type_=Text), JSON)
        statement = self.db.insert(sessions).values(
            {c.name: state if c.name == "state" else bindparam(c.name, type_=c.type)
             for c in sessions.c}
        )
        return _replace_if_newer(statement).returning(sessions.c.session_id)

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

    # -- outages ---------------------------------------------------------

    @property
    def retry_delay(self) -> float:
        """Seconds until the next attempt after a failed one; grows while an outage lasts."""
        return self._retry_delay

    def _note_failure(self, error: BaseException | None) -> None:
        with self._lock:
            self.failures += 1
            if not self._outage:
                self._outage = True
                self._retry_delay = self.retry_initial
                logger.warning(
                    "st-session-guard: cannot write sessions to the database (%s); "
                    "keeping them pending and retrying with backoff",
                    _describe(error),
                )
            else:
                self._retry_delay = min(self._retry_delay * 2, self.retry_max)
            self._retry_at = time.monotonic() + self._retry_delay

    def _note_success(self) -> None:
        with self._lock:
            if self._outage:
                self._outage = False
                self._retry_delay = self.retry_initial
                self._retry_at = 0.0
                logger.warning("st-session-guard: database writes work again; pending sessions written")
                self._wake.notify()

    def health_check(self) -> bool:
        """True when the database answers and takes writes (see ``DatabaseManager.health_check``)."""
        return self.db.health_check()

    # -- recovery --------------------------------------------------------

    def recover_session(self, session_id: str) -> UserSession | None:
        """The newest live state of ``session_id``: this engine's unwritten copy, else the stored row.

        None when the id is unknown, expired, or stored in a form this release
        cannot read (logged). Never raises for a database that is down: that
        is logged and answered with None as well.
        """
        with self._lock:
            entry = self._pending.get(session_id)
        if entry is not None:
            if self._is_live(entry.session):
                return entry.session
            return None
        try:
            with self.db.read() as connection:
                row = connection.execute(_RECOVER, {"session_id": session_id}).first()
        except DBAPIError as error:
            logger.warning("st-session-guard: cannot read session %s…: %s", session_id[:8], _describe(error))
            return None
        except ValueError:  # the JSON column failed to decode
            logger.warning("st-session-guard: stored session %s… is not valid JSON; ignored",
                           session_id[:8])
            return None
        if row is None or row.expires_at <= _utcnow():
            return None
        return _rebuild(session_id, row.state)

    def is_known(self, session_id: str) -> bool | None:
        """Whether ``session_id`` was ever stored here (live, expired or unwritten); None if unreadable.

        A signed cookie naming an id that is not known at all means the server
        died before its first write, so the id may be taken up again (and the
        browser's mirror restores into it); an id known but expired may not.
        """
        with self._lock:
            if session_id in self._pending:
                return True
        try:
            with self.db.read() as connection:
                return connection.execute(_KNOWN, {"session_id": session_id}).first() is not None
        except DBAPIError as error:
            logger.warning("st-session-guard: cannot read session %s…: %s", session_id[:8], _describe(error))
            return None

    def recover_user_sessions(self, user_id: str) -> list[UserSession]:
        """Every live session of ``user_id``, newest copy of each, most recently active first."""
        with self._lock:
            found = {
                sid: entry.session
                for sid, entry in self._pending.items()
                if entry.session.user_id == user_id and self._is_live(entry.session)
            }
        try:
            with self.db.read() as connection:
                rows = connection.execute(
                    select(sessions.c.session_id, sessions.c.state)
                    .where(sessions.c.user_id == user_id, sessions.c.expires_at > _utcnow())
                    .order_by(sessions.c.last_activity.desc())
                ).all()
        except (DBAPIError, ValueError) as error:
            logger.warning("st-session-guard: cannot read sessions of a user: %s", _describe(error))
            rows = []
        for row in rows:
            if row.session_id not in found:
                session = _rebuild(row.session_id, row.state)
                if session is not None:
                    found[row.session_id] = session
        return sorted(found.values(), key=lambda s: s.metrics.last_activity, reverse=True)

    def _is_live(self, session: UserSession) -> bool:
        timeout = timedelta(seconds=self.session_timeout)
        return session.metrics.last_activity + timeout > _utcnow()

    # -- removal ---------------------------------------------------------

    def delete_session(self, session_id: str) -> bool:
        """Forget ``session_id`` here and in the database; True when a stored row was removed.

        A write of it already under way is cancelled or undone, so the row
        does not come back.
        """
        with self._lock:
            self._pending.pop(session_id, None)
            self._cancel_taken_writes([session_id])
        try:
            with self._write_lock, self.db.write() as connection:
                removed = self._delete_ids(connection, [session_id])
        except DBAPIError as error:
            logger.warning("st-session-guard: cannot delete session %s…: %s", session_id[:8],
                           _describe(error))
            return False
        return removed > 0

    def expire_session(self, session_id: str) -> bool:
        """End ``session_id`` now, keeping its row until the next cleanup; True when a live row expired.

        Its unwritten changes here are dropped and a write of it already under
        way is cancelled, so the write-behind engine does not revive it.
        """
        with self._lock:
            self._pending.pop(session_id, None)
            self._cancel_taken_writes([session_id])
        now = _utcnow()
        try:
            with self._write_lock, self.db.write() as connection:
                result = connection.execute(
                    update(sessions)
                    .where(sessions.c.session_id == session_id, sessions.c.expires_at > now)
                    .values(expires_at=now)
                )
        except DBAPIError as error:
            logger.warning("st-session-guard: cannot expire session %s…: %s", session_id[:8],
                           _describe(error))
            return False
        return bool(result.rowcount)

    def _cancel_taken_writes(self, session_ids: Iterable[str]) -> None:
        """Writes taken before now will not store these sessions (call holding ``_lock``).

        Such a write carries what was true when it was taken; landing after a
        removal, it would bring the row back.
        """
        if self._active:
            for session_id in session_ids:
                self._deleted[session_id] = self._generation
        self._generation += 1

    def cleanup_expired_sessions(self, *, on_batch: Callable[[int], object] | None = None) -> int:
        """Delete every session whose expiry has passed, in batches; the number of rows deleted.

        ``on_batch(deleted)`` is called after each committed batch, for progress reports.
        """
        now = _utcnow()
        return self._delete_where(
            lambda: sessions.c.expires_at <= now, lambda s: not self._is_live(s), on_batch
        )

    def cleanup_inactive_sessions(
        self, inactive_days: float = 7, *, on_batch: Callable[[int], object] | None = None
    ) -> int:
        """Delete every session idle for ``inactive_days`` or longer, expired or not; the count.

        ``on_batch(deleted)`` is called after each committed batch, for progress reports.
        """
        cutoff = _utcnow() - timedelta(days=inactive_days)
        return self._delete_where(
            lambda: sessions.c.last_activity <= cutoff,
            lambda s: s.metrics.last_activity <= cutoff,
            on_batch,
        )

    def _drop_pending(self, doomed: Callable[[UserSession], bool]) -> None:
        with self._lock:
            for sid in [sid for sid, e in self._pending.items() if doomed(e.session)]:
                del self._pending[sid]

    def _forget_removed(self, ids: Sequence[str], doomed: Callable[[UserSession], bool]) -> None:
        """Keep writes taken earlier from bringing back the sessions a cleanup batch removed.

        A session this engine holds live keeps its pending write: the row
        comes back with its newer state, which the cleanup did not see.
        """
        with self._lock:
            gone = [sid for sid in ids
                    if (entry := self._pending.get(sid)) is None or doomed(entry.session)]
            for sid in gone:
                self._pending.pop(sid, None)
            self._cancel_taken_writes(gone)

    def _delete_where(
        self,
        condition: Callable[[], ColumnElement[bool]],
        doomed: Callable[[UserSession], bool],
        on_batch: Callable[[int], object] | None = None,
    ) -> int:
        """Delete matching sessions and their rows ``cleanup_batch`` at a time, never loading them all.

        The condition is tested in the transaction that deletes, so a session
        that another server refreshed meanwhile survives; ``doomed`` is the
        same test for the sessions this engine holds.
        """
        self._drop_pending(doomed)
        total = 0
        while True:
            try:
                with self._write_lock:
                    with self.db.write() as connection:
                        ids = self._delete_batch(connection, condition())
                    self._forget_removed(ids, doomed)
            except DBAPIError as error:
                logger.warning("st-session-guard: session cleanup stopped: %s", _describe(error))
                return total
            total += len(ids)
            if on_batch is not None:
                on_batch(len(ids))
            if len(ids) < self.cleanup_batch:
                return total

    def _delete_batch(self, connection: Connection, condition: ColumnElement[bool]) -> Sequence[str]:
        """Delete at most ``cleanup_batch`` sessions matching ``condition``, and their rows; their ids.

        On SQLite the ids are read first, as one JSON array (a row each would
        cost a wait for the GIL each, see ``_upsert_sessions``), and stay
        matching until the delete: ``BEGIN IMMEDIATE`` holds the only write lock.
        """
        batch = select(sessions.c.session_id).where(condition).limit(self.cleanup_batch)
        if self.db.dialect == "sqlite":
            listed = batch.subquery()
            ids: list[str] = jsontext.loads(
                connection.execute(select(func.json_group_array(listed.c.session_id))).scalar_one()
            )
            self._delete_ids(connection, ids)
            return ids
        deleted = connection.execute(
            delete(sessions)
            .where(sessions.c.session_id.in_(batch.scalar_subquery()), condition)
            .returning(sessions.c.session_id)
        ).scalars().all()
        if deleted:
            self._delete_children(connection, self._ids_param(deleted))
        return deleted

    def _delete_ids(self, connection: Connection, ids: Sequence[str]) -> int:
        """Delete the listed sessions and their rows; the number of sessions deleted."""
        if not ids:
            return 0
        param = self._ids_param(ids)
        self._delete_children(connection, param)
        return int(connection.execute(self._delete_of(sessions), param).rowcount)

    def _delete_children(self, connection: Connection, ids: dict[str, object]) -> None:
        """Delete the roles, permissions and metrics of the sessions listed in ``ids`` (``_ids_param``)."""
        for table in CHILD_TABLES:
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
        """``column IN <the list bound as "ids">`` (see ``_ids_param``).

        The list travels as one parameter (a JSON array for SQLite, an array
        for PostgreSQL) rather than thousands, which spares rendering and
        binding a placeholder per id in every batch.
        """
        if self.db.dialect == "sqlite":
            listed: Select[tuple[Any]] = select(literal_column("value")).select_from(
                func.json_each(bindparam("ids", type_=Text))
            )
            return column.in_(listed)
        return column == any_(bindparam("ids", type_=ARRAY(Text)))

    def _ids_param(self, ids: Sequence[str]) -> dict[str, object]:
        return {"ids": jsontext.dumps(list(ids)).decode() if self.db.dialect == "sqlite" else list(ids)}

    # -- shutting down ---------------------------------------------------

    def close(self, timeout: float = EXIT_FLUSH_TIMEOUT) -> None:
        """Write what is pending and stop the flusher; the engine takes no more background work."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
            flusher = self._flusher
        if flusher is not None:
            flusher.join(timeout)
        self.flush_all()
        atexit.unregister(self._at_exit)


def _exit_hook(engine_ref: weakref.ref[SessionPersistenceEngine]) -> Callable[[], None]:
    """At interpreter exit, write what is pending, waiting at most ``EXIT_FLUSH_TIMEOUT``."""

    def flush_at_exit() -> None:
        engine = engine_ref()
        if engine is None or not engine.pending_count:
            return
        worker = threading.Thread(target=engine.close, name="st-session-guard-exit", daemon=True)
        worker.start()
        worker.join(EXIT_FLUSH_TIMEOUT)
        if worker.is_alive():
            logger.warning("st-session-guard: %d sessions not written at exit", engine.pending_count)

    return flush_at_exit


def _replace_if_newer(statement: DialectInsert) -> Insert:
    """``ON CONFLICT``: a stored session row is replaced only by a newer revision of it."""
    replaced = ("user_id", "state", "revision", "schema_version", "last_activity", "expires_at")
    upsert: Insert = statement.on_conflict_do_update(
        index_elements=[sessions.c.session_id],
        set_={name: statement.excluded[name] for name in replaced},
        where=sessions.c.revision < statement.excluded.revision,
    )
    return upsert


def _rebuild(session_id: str, state: object) -> UserSession | None:
    """A stored state back as a session; None (logged) for anything this release cannot read."""
    if not isinstance(state, dict):
        logger.warning("st-session-guard: stored session %s… is not a JSON object; ignored",
                       session_id[:8])
        return None
    try:
        return UserSession.from_dict(state)
    except UnsupportedSchema as error:
        logger.warning("st-session-guard: stored session %s… ignored: %s", session_id[:8], error)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        logger.warning("st-session-guard: stored session %s… is damaged (%r); ignored",
                       session_id[:8], error)
    return None


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "unexpected error"
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0] if text else ''}"


__all__ = ["SessionPersistenceEngine"]
