"""The write-behind scheduler: changes are cheap to make, and reach the database soon and in bulk.

One background thread writes each changed session ``debounce_delay`` seconds
after its first unwritten change, all sessions due together in one
transaction (``SessionStore.write``). Sessions due within the next tenth of
that delay join the write early (``GATHERED``). A database that is down never raises into
the app: sessions stay pending and are retried with backoff. Process exit
writes what is pending.

Lock order: a session's lock may be held while the engine's lock is taken
(``bind`` callbacks run inside the session's methods), never the other way round.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from sqlalchemy.exc import DBAPIError

from . import process_metrics
from .database import DatabaseManager, describe_error
from .session import UserSession
from .store import SessionStore
from .stored_rows import SessionRecord, record_of
from .write_batches import Backoff, Batch, Cancellations, Pending, SerialisedAside

logger = logging.getLogger(__name__)

WRITE_BATCH: Final = 1000
"""Sessions per write transaction: large enough to amortise, small enough to hold locks briefly."""

GATHERED: Final = 0.1
"""Sessions due within this fraction of ``debounce_delay`` join a write that is due now.

Under load every session falls due at its own moment, so without it each
transaction carried about five sessions and its round trips cost more than
the rows (bench/README.md, load). Early, never late: a session is still
written within ``debounce_delay`` of its first unwritten change."""

EXIT_FLUSH_TIMEOUT: Final = 10.0
"""Seconds process exit waits for pending sessions to be written."""


class WriteBehind:
    """Debounced, batched writes of ``UserSession`` objects through a ``SessionStore``.

    ``retry_initial`` and ``retry_max`` bound the backoff while the database is
    down, in seconds: the first retry waits ``retry_initial``, each next one
    twice as long, up to ``retry_max``.
    """

    def __init__(
        self,
        db: DatabaseManager,
        *,
        debounce_delay: float,
        session_timeout: float,
        retry_initial: float,
        retry_max: float,
    ) -> None:
        self.debounce_delay = max(0.0, debounce_delay)
        self.session_timeout = session_timeout
        self.db = db
        self.store = SessionStore(db, session_timeout)
        self.write_batch = WRITE_BATCH
        self.writes = 0
        """Session-write transactions committed so far."""
        self.failures = 0
        """Session-write transactions that failed so far."""

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: dict[str, Pending] = {}
        self._flusher: threading.Thread | None = None
        self._idle = False
        self._closed = False
        self._write_lock = threading.Lock()
        """Orders this engine's own writes, so a removal is never undone by a write already under way."""
        self._cancellations = Cancellations()
        self._backoff = Backoff(retry_initial, retry_max)
        self._at_exit = _exit_hook(weakref.ref(self))
        atexit.register(self._at_exit)
        process_metrics.watch_pending(self)

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
                entry = self._pending[session.session_id] = Pending(
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
            if self._backoff.wait(now):
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

    def _take(self, entries: Iterable[Pending]) -> Batch:
        """Take entries for a write (call holding ``_lock``)."""
        return Batch([(entry, entry.version) for entry in entries], self._cancellations.take())

    def _await_due_batch(self) -> Batch | None:
        """Wait (holding ``_lock`` only while not waiting) until sessions are due; take them."""
        while not self._closed:
            now = time.monotonic()
            if retry_in := self._backoff.wait(now):
                self._wake.wait(retry_in)
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
            due: list[Pending] = []
            gathered = now + self.debounce_delay * GATHERED
            for entry in self._pending.values():
                if not entry.in_flight and entry.due <= gathered:
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
            upcoming = (SerialisedAside(batches[number + 1], self._serialise_batch)
                        if number + 1 < len(batches) else None)
            written_ok = self._write(batch, from_flusher=False, records=records,
                                     while_committing=upcoming.start if upcoming else None)
            if not written_ok:
                if upcoming is not None:
                    upcoming.drop()
                with self._lock:  # settle the batches that were never tried
                    for skipped in batches[number + 1 :]:
                        self._cancellations.release(skipped.generation)
                break
            written += len(batch.taken)
            records = upcoming.records() if upcoming is not None else []
        return written

    def _serialise_batch(self, batch: Batch) -> list[SessionRecord]:
        return [r for r in (self._serialise(entry.session) for entry, _ in batch.taken) if r]

    def _write(
        self,
        batch: Batch,
        *,
        from_flusher: bool,
        records: list[SessionRecord] | None = None,
        while_committing: Callable[[], object] | None = None,
    ) -> bool:
        """Serialise (unless done already) and store a batch in one transaction; settle its entries.

        ``while_committing`` is called once the statements have run, just before the commit.
        """
        taken = batch.taken
        if records is None:
            records = self._serialise_batch(batch)
        ok = True
        try:
            with self._write_lock:
                with self._lock:
                    live = [r for r in records
                            if not self._cancellations.cancelled(r.session_id, batch.generation)]
                if live:
                    started = time.perf_counter()
                    self.store.write(live, before_commit=while_committing)
                    process_metrics.count_write(time.perf_counter() - started)
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
            self._note_stored(taken, live)
        with self._lock:
            for entry, version in taken:
                done = entry.settle(version, written=ok, from_flusher=from_flusher,
                                    debounce_delay=self.debounce_delay)
                if done and self._pending.get(entry.session.session_id) is entry:
                    del self._pending[entry.session.session_id]
            self._cancellations.release(batch.generation)
        return ok

    @staticmethod
    def _note_stored(taken: Sequence[tuple[Pending, int]], written: list[SessionRecord]) -> None:
        """Each written session's ``stored_revision``: what the browser need not keep unsaved."""
        revisions = {r.session_id: r.row["revision"] for r in written}
        for entry, _ in taken:
            session = entry.session
            session.stored_revision = max(session.stored_revision, revisions.get(session.session_id, 0))

    def _serialise(self, session: UserSession) -> SessionRecord | None:
        """The rows to write for ``session``; None (logged) when its state cannot be stored.

        Such a session is skipped until its next change rather than retried,
        so it cannot hold back the sessions written in the same batch.
        """
        try:
            return record_of(session, self.session_timeout)  # takes the session's lock, none of ours
        except Exception:
            logger.exception(
                "st-session-guard: session %s… cannot be stored as JSON; skipped until it changes",
                session.session_id[:8],
            )
            return None

    # -- outages ---------------------------------------------------------

    @property
    def retry_delay(self) -> float:
        """Seconds until the next attempt after a failed one; grows while an outage lasts."""
        return self._backoff.delay

    def _note_failure(self, error: BaseException | None) -> None:
        process_metrics.count_failed_write()
        with self._lock:
            self.failures += 1
            if self._backoff.failed():
                logger.warning(
                    "st-session-guard: cannot write sessions to the database (%s); "
                    "keeping them pending and retrying with backoff",
                    describe_error(error),
                )

    def _note_success(self) -> None:
        with self._lock:
            if self._backoff.succeeded():
                logger.warning("st-session-guard: database writes work again; pending sessions written")
                self._wake.notify()

    def health_check(self) -> bool:
        """True when the database answers and takes writes (see ``DatabaseManager.health_check``)."""
        return self.db.health_check()

    # -- what recovery and removals ask of the schedule -----------------

    def _unwritten(self, session_id: str) -> UserSession | None:
        """This engine's unwritten copy of ``session_id``, if it holds one."""
        with self._lock:
            entry = self._pending.get(session_id)
        return None if entry is None else entry.session

    def _unwritten_where(self, select: Callable[[UserSession], bool]) -> list[UserSession]:
        with self._lock:
            return [e.session for e in self._pending.values() if select(e.session)]

    def _drop_unwritten(self, doomed: Callable[[UserSession], bool]) -> None:
        with self._lock:
            for sid in [sid for sid, e in self._pending.items() if doomed(e.session)]:
                del self._pending[sid]

    def _forget(
        self, session_ids: Sequence[str], doomed: Callable[[UserSession], bool] = lambda _: True
    ) -> None:
        """Removed from the database: drop their unwritten changes and cancel writes taken before.

        A session held here that ``doomed`` spares keeps its pending write: its
        row comes back with the newer state, which the removal did not see.
        """
        with self._lock:
            gone = [sid for sid in session_ids
                    if (entry := self._pending.get(sid)) is None or doomed(entry.session)]
            for sid in gone:
                self._pending.pop(sid, None)
            self._cancellations.cancel(gone)

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


def _exit_hook(engine_ref: weakref.ref[WriteBehind]) -> Callable[[], None]:
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


__all__ = ["WriteBehind"]
