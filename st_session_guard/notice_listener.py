"""Hearing other servers' session notices: one thread per process, with a connection of its own.

On PostgreSQL the thread ``LISTEN``s (``Listener``); on a SQLite file it
reads the notice table whenever another connection committed, checking every
``notice_poller.POLL_SECONDS`` (``Poller``). Either way it marks the sessions
another process wrote as stale, and drops those it ended, in this process's
``live_sessions``; the tabs' next runs do the reading (see ``manager``).
After a lost connection it reconnects with backoff, and since notices sent
meanwhile may be lost, every live session is then marked stale; so it is
when a SQLite reader fell so far behind that notices it had not read were
pruned (``notices.KEPT_NOTICES``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

from .database import DatabaseManager, describe_error
from .live_sessions import LiveSessions
from .notice_poller import POLL_SECONDS as SQLITE_POLL_SECONDS
from .notice_poller import NoDatabaseFile, NoticeReader
from .notices import CHANNEL_SQL, Notice, read_notice
from .persistence import SessionPersistenceEngine

logger = logging.getLogger(__name__)

POLL_SECONDS: Final = 1.0
"""How long one wait for notices lasts on PostgreSQL; ``stop()`` takes effect within it."""

KEEPALIVE: Final = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
"""TCP keepalives, so a connection cut without a word is noticed within about 25 seconds."""


class Listener:
    """Hands every notice of another process on ``db``'s schema to ``on_notice``, and calls
    ``on_missed`` after a reconnect (notices sent meanwhile are lost). PostgreSQL's;
    ``Poller`` is SQLite's."""

    def __init__(
        self,
        db: DatabaseManager,
        on_notice: Callable[[Notice], object],
        on_missed: Callable[[], object],
        *,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        self.db = db
        self._on_notice = on_notice
        self._on_missed = on_missed
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._stop = threading.Event()
        self.listening = threading.Event()
        """Set while the connection that hears notices is up."""
        self._thread = threading.Thread(target=self._run, name="st-session-guard-notices", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2 * POLL_SECONDS) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = self._retry_initial
        connected_before = failed = waited = False
        while not self._stop.is_set():
            try:
                connection = self.open()
            except NoDatabaseFile:  # not an outage, no warning: a new app's file comes with its first write
                waited = True
                self._stop.wait(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            except Exception as error:  # noqa: BLE001 - any failure to connect is retried alike
                if not failed:
                    logger.warning("st-session-guard: cannot listen for other servers' session "
                                   "changes (%s); retrying", describe_error(error))
                failed = True
                self._stop.wait(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            if failed or connected_before:
                logger.warning("st-session-guard: listening for other servers' session changes "
                               "again; every live session is re-read on its next run")
            if failed or connected_before or waited:
                # what was written before this connection opened, since the file was made or
                # while the connection was down, was told to no one here
                self._on_missed()
            connected_before, failed, waited, delay = True, False, False, self._retry_initial
            self.listening.set()
            try:
                self._receive(connection)
            except Exception as error:  # noqa: BLE001 - a lost connection, whatever the driver says
                logger.warning("st-session-guard: lost the connection that hears other servers' "
                               "session changes (%s); reconnecting", describe_error(error))
            finally:
                self.listening.clear()
                connection.close()

    def open(self) -> Any:
        """The connection notices are heard on, from now on."""
        return listening_connection(self.db)

    def _receive(self, connection: Any) -> None:
        while not self._stop.is_set():
            for heard in connection.notifies(timeout=POLL_SECONDS):
                self._heard(heard.payload)

    def _heard(self, payload: str) -> None:
        notice = read_notice(payload, self.db.origin)
        if notice is not None:
            self._on_notice(notice)


class Poller(Listener):
    """``Listener`` for a SQLite file: reads the notices other processes committed to it."""

    def open(self) -> NoticeReader:
        return NoticeReader(self.db)

    def _receive(self, connection: NoticeReader) -> None:
        while not self._stop.is_set():
            self.poll(connection)
            self._stop.wait(SQLITE_POLL_SECONDS)

    def poll(self, reader: NoticeReader) -> None:
        """Hand over what was committed since the last poll; ``on_missed`` first if notices were
        pruned before ``reader`` read them."""
        payloads, missed = reader.read()
        if missed:
            logger.warning("st-session-guard: other servers' session notices were pruned before "
                           "this process read them; every live session is re-read on its next run")
            self._on_missed()
        for payload in payloads:
            self._heard(payload)


class LiveCopies(Protocol):
    """A process's live sessions as notices change them: ``LiveSessions``, or a model's."""

    def mark_stale(self, session_ids: Iterable[str]) -> None: ...

    def mark_all_stale(self) -> None: ...

    def drop(self, session_id: str) -> None: ...


def listening_connection(db: DatabaseManager) -> Any:
    """A driver connection of its own (outside the pool), listening on ``db``'s channel."""
    dialect = db.engine.dialect
    cargs, cparams = dialect.create_connect_args(db.engine.url)
    options = {**cparams, **KEEPALIVE, "connect_timeout": max(1, round(db.connect_timeout))}
    connection = dialect.loaded_dbapi.connect(*cargs, **options, autocommit=True)
    channel = connection.execute(f"SELECT {CHANNEL_SQL}").fetchone()[0]
    connection.execute(f'LISTEN "{channel}"')
    return connection


def notice_handlers(
    engine: SessionPersistenceEngine, live: LiveCopies
) -> tuple[Callable[[Notice], None], Callable[[], None]]:
    """What a notice does to this process: a session written elsewhere is re-read on its next
    run; one ended elsewhere leaves ``live`` and the engine's unwritten copies, so no tab is
    served it again."""

    def on_notice(notice: Notice) -> None:
        live.mark_stale(notice.written)
        if notice.ended:
            engine.ended_elsewhere(notice.ended)
            for session_id in notice.ended:
                live.drop(session_id)

    return on_notice, live.mark_all_stale


def hearing_for(
    db: DatabaseManager, on_notice: Callable[[Notice], object], on_missed: Callable[[], object]
) -> Listener:
    """What hears ``db``'s notices, not started: the one place the database decides how."""
    return (Listener if db.dialect == "postgresql" else Poller)(db, on_notice, on_missed)


_listening: tuple[SessionPersistenceEngine, Listener] | None = None
_lock = threading.Lock()


def listen_for(engine: SessionPersistenceEngine, live: LiveSessions) -> None:
    """Start this process's listener for ``engine``, once; a no-op for a SQLite database in
    memory, which no other process can open.

    The listener of an engine the process no longer uses is stopped.
    """
    global _listening
    if engine.db.in_memory or (_listening is not None and _listening[0] is engine):
        return
    with _lock:
        if _listening is not None and _listening[0] is engine:
            return
        hearing = hearing_for(engine.db, *notice_handlers(engine, live))
        old, _listening = _listening, (engine, hearing.start())
    if old is not None:
        old[1].stop()


def stop_listening() -> None:
    """Stop this process's listener, if one runs (an app or test done with its database)."""
    global _listening
    with _lock:
        old, _listening = _listening, None
    if old is not None:
        old[1].stop()


def listener() -> Listener | None:
    """This process's listener, if one runs."""
    return None if _listening is None else _listening[1]


__all__ = [
    "Listener",
    "LiveCopies",
    "Poller",
    "hearing_for",
    "listen_for",
    "listener",
    "listening_connection",
    "notice_handlers",
    "stop_listening",
]
