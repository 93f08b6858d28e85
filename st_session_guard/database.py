"""The connection to the database of record: one engine, the schema and health.

SQLite (the default, one server) and PostgreSQL (several servers sharing one
database) are both first-class. What differs between them is set up here
once, so the rest of the package writes plain SQLAlchemy:

* SQLite runs in WAL mode (readers never wait for the writer) with
  ``synchronous=NORMAL``, ``secure_delete=FAST`` and a busy timeout, and every write transaction
  starts with ``BEGIN IMMEDIATE`` so that it takes the write lock up front and
  waits for it, instead of failing halfway when another process got there
  first.
* PostgreSQL connections are checked before use (a restarted server or a cut
  connection costs one reconnect, not an error) and give up connecting after a
  short timeout, so a database that is down is noticed quickly.

The schema is created on first use, by however many processes at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, Table, create_engine, delete, event, func, select
from sqlalchemy.dialects.postgresql import Insert as PostgreSQLInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SQLiteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from . import jsontext
from .config import resolve_settings
from .models import DB_SCHEMA_VERSION, SQLITE_TABLES, TABLES, sessions
from .models import meta as meta_table

logger = logging.getLogger(__name__)

SCHEMA_LOCK_KEY: Final = 0x5354_5347_0001
"""PostgreSQL advisory lock held while the schema is created ("STSG" 1)."""

_IMMEDIATE: Final = "stsg_immediate"
"""Connection option: on SQLite, begin the transaction with ``BEGIN IMMEDIATE``."""

DialectInsert = SQLiteInsert | PostgreSQLInsert
"""An ``INSERT`` that can say ``ON CONFLICT``; each database has its own construct."""


class DatabaseManager:
    """One engine for one database URL, with the schema in place and its health known.

    ``health_check()`` is False while the database cannot be reached, and from
    a failed write until a write lands again: a full disk or a locked file
    still answers reads but takes no writes, and that is the outage that
    matters. A SQLite file deleted or replaced under a running app is noticed
    at the next write and made again.
    """

    def __init__(
        self,
        url: str,
        *,
        busy_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        pool_size: int = 5,
    ) -> None:
        self.url = url
        self.origin = secrets.token_hex(8)
        """Names this manager in the session notices it sends, so its own listener skips them."""
        self.connect_timeout = connect_timeout
        self.busy_timeout = busy_timeout
        """Seconds a SQLite write waits for another writer's lock before it fails."""
        self._file: Path | None = None
        """The SQLite file, for a database kept in one."""
        self._file_identity: tuple[int, int] | None = None
        """``(st_dev, st_ino)`` of the file the schema was made in."""
        self.in_memory = False
        """A SQLite database in this process's memory, which no other process can open."""
        parsed = make_url(url)
        self.dialect: str = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"st-session-guard supports SQLite and PostgreSQL, not {self.dialect!r}")
        self.engine: Engine = (
            self._sqlite_engine(url, parsed.database)
            if self.dialect == "sqlite"
            else self._postgresql_engine(url, connect_timeout, pool_size)
        )
        self._schema_lock = threading.Lock()
        self._schema_ready = False
        self._last_write_failed = False

    # -- engines ---------------------------------------------------------

    def _sqlite_engine(self, url: str, database: str | None) -> Engine:
        in_memory = self.in_memory = not database or database == ":memory:" or "mode=memory" in url
        if not in_memory and database and not database.startswith("file:"):
            self._file = Path(database).expanduser()
        options: dict[str, Any] = {
            "connect_args": {"check_same_thread": False},
            "json_deserializer": jsontext.loads,
        }
        if in_memory:  # one shared connection, or every connection would see its own empty database
            options["poolclass"] = StaticPool
        engine = create_engine(url, **options)
        busy_ms = int(self.busy_timeout * 1000)

        @event.listens_for(engine, "do_connect")
        def _make_folder(*_args: Any) -> None:
            # At every new connection, not once at start: a folder that cannot be made now
            # (a file in its place, a volume not mounted yet) is an outage to wait out, and
            # the connection's own error says so.
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            # Take transaction control away from the sqlite3 module, which would
            # otherwise begin lazily and never for DDL; the "begin" hook below
            # decides how each transaction starts.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if not in_memory:
                _enable_wal(cursor, self.busy_timeout)
            cursor.execute("PRAGMA synchronous = NORMAL")
            # Some builds zero every freed page; FAST zeroes deleted content only
            # in pages written anyway, which halves the I/O of deleting sessions.
            cursor.execute("PRAGMA secure_delete = FAST")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            immediate = connection.get_execution_options().get(_IMMEDIATE, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @staticmethod
    def _postgresql_engine(url: str, connect_timeout: float, pool_size: int) -> Engine:
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=pool_size,
            connect_args={"connect_timeout": max(1, round(connect_timeout))},
            json_deserializer=jsontext.loads,
        )

    # -- schema ----------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the tables if they are missing and record the schema version; cheap after once.

        Safe when several processes start at once: PostgreSQL serialises the
        creation on an advisory lock, SQLite on its write lock, and DDL is
        transactional in both, so the second process finds the tables made.
        """
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            with self._transaction() as connection:
                if self.dialect == "postgresql":
                    connection.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
                for table in (*TABLES, *(SQLITE_TABLES if self.dialect == "sqlite" else ())):
                    table.create(connection, checkfirst=True)  # a table a newer release added, too
                self._insert_absent(connection, "schema_version", str(DB_SCHEMA_VERSION))
                stored = self._meta_value(connection, "schema_version")
            self._file_identity = self.file_identity()
            if stored != str(DB_SCHEMA_VERSION):
                logger.warning(
                    "st-session-guard: database schema version %s, this release writes %s",
                    stored,
                    DB_SCHEMA_VERSION,
                )
            self._schema_ready = True

    def schema_version(self) -> int | None:
        """The schema version recorded in the database (None before one is)."""
        with self.read() as connection:
            value = self._meta_value(connection, "schema_version")
        return None if value is None else int(value)

    def _insert_absent(self, connection: Connection, key: str, value: str) -> None:
        statement = self.insert(meta_table).values(key=key, value=value)
        connection.execute(statement.on_conflict_do_nothing(index_elements=["key"]))

    @staticmethod
    def _meta_value(connection: Connection, key: str) -> str | None:
        found = connection.execute(select(meta_table.c.value).where(meta_table.c.key == key))
        value = found.scalar_one_or_none()
        return None if value is None else str(value)

    # -- transactions ----------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it holds the write lock from its first statement."""
        with self.engine.connect() as connection:
            if self.dialect == "sqlite":
                connection = connection.execution_options(**{_IMMEDIATE: True})
            with connection.begin():
                yield connection

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction on the schema, committed on leaving; its outcome feeds ``health_check``.

        Raises what the database raised (``sqlalchemy.exc.DBAPIError``);
        callers that must not fail catch it.
        """
        try:
            self._remake_if_file_gone()
            self.ensure_schema()
            with self._transaction() as connection:
                yield connection
        except DBAPIError:
            self._last_write_failed = True
            raise
        self._last_write_failed = False

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading; it never takes SQLite's write lock."""
        self.ensure_schema()
        with self.engine.connect() as connection:
            yield connection

    def insert(self, table: Table) -> DialectInsert:
        """``INSERT INTO table`` in this database's own construct, which has ``ON CONFLICT``."""
        return (sqlite_insert if self.dialect == "sqlite" else postgresql_insert)(table)

    # -- health ----------------------------------------------------------

    def health_check(self, *, probe: bool = False) -> bool:
        """True when the database answers and takes writes.

        False from a failed write until a write lands again, whatever a read
        says meanwhile. ``probe`` (the command line's check) finds out with a
        real write of a session row, removed in the same transaction.
        """
        if self._last_write_failed:
            return False
        try:
            self._remake_if_file_gone()
            if probe:
                with self.write() as connection:
                    self._probe_write(connection)
                return True
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except DBAPIError:
            return False
        return True

    def _probe_write(self, connection: Connection) -> None:
        probe_id = f"stsg-health-probe-{secrets.token_hex(8)}"
        now = datetime.now(timezone.utc)
        connection.execute(sessions.insert().values(
            session_id=probe_id, user_id=None, state={"probe": True}, revision=0,
            schema_version=0, created_at=now, last_activity=now, expires_at=now,
        ))
        connection.execute(delete(sessions).where(sessions.c.session_id == probe_id))

    @property
    def file(self) -> Path | None:
        """The SQLite file the database is kept in, when a plain path names one."""
        return self._file

    def file_identity(self) -> tuple[int, int] | None:
        """``(st_dev, st_ino)`` of the SQLite file now at the database's path; None for none."""
        if self._file is None:
            return None
        try:
            found = os.stat(self._file)
        except FileNotFoundError:
            return None
        return found.st_dev, found.st_ino

    def _remake_if_file_gone(self) -> None:
        """A SQLite file deleted or replaced since the schema was made: drop the connections
        to the old one, so the next transaction makes the file and its tables again."""
        if self._file_identity is None or self.file_identity() == self._file_identity:
            return
        with self._schema_lock:
            if self._file_identity is None or self.file_identity() == self._file_identity:
                return
            logger.warning("st-session-guard: the database file %s was deleted or replaced; "
                           "making it again and writing the pending sessions into it", self._file)
            self.engine.dispose()
            self._file_identity = None
            self._schema_ready = False

    def dispose(self) -> None:
        """Close every pooled connection; the manager can still be used, reconnecting as needed."""
        self.engine.dispose()


_manager: DatabaseManager | None = None
_manager_lock = threading.Lock()


def _enable_wal(cursor: Any, wait: float) -> None:
    """Switch a SQLite file to WAL, waiting up to ``wait`` seconds for the lock it needs.

    The switch takes an exclusive lock that SQLite's busy timeout does not
    wait for, so two processes opening a new file at once would otherwise
    fail with "database is locked"; the loser finds the file in WAL already.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def describe_error(error: BaseException | None) -> str:
    """A database error in one line, its driver's class and first message line (no traceback)."""
    if error is None:
        return "unexpected error"
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return f"{type(original).__name__}: {lines[0] if lines else ''}"


def get_db_manager() -> DatabaseManager:
    """The process-wide manager, for the URL the settings name (built on first call)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = DatabaseManager(resolve_settings().database_url)
        return _manager


def configure_database(url: str, **options: Any) -> DatabaseManager:
    """Replace the process-wide manager with one for ``url``; the old one is disposed."""
    global _manager
    with _manager_lock:
        old, _manager = _manager, DatabaseManager(url, **options)
        if old is not None:
            old.dispose()
        return _manager
