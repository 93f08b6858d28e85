"""Taking a database away from a test's code (a TCP proxy, a lock), and reading what it stores.

Waiting helpers come from the plugin."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from st_session_guard.clock import utcnow
from st_session_guard.database import DatabaseManager
from st_session_guard.models import metrics, permissions, roles, sessions
from st_session_guard.session import UserSession
from st_session_guard.testing import free_port, wait_until

__all__ = [
    "POSTGRES_URL", "Outage", "PostgresSchemas", "TcpProxy", "age", "child_rows", "count_rows",
    "driver_steps", "free_port", "refused_session_writes", "rich_session", "schema_url", "stored",
    "wait_until",
]

POSTGRES_URL = os.environ.get(
    "STSG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def schema_url(url: str, schema: str) -> str:
    """``url`` with every table in ``schema``: psycopg sets ``search_path`` on each connection."""
    parsed = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return parsed.render_as_string(hide_password=False)


class PostgresSchemas:
    """Empty schemas on the shared PostgreSQL server, one per test, named with one prefix per run.

    Each is dropped after its test; whatever a failed teardown leaves is swept
    when the run ends. Without a reachable server the tests that ask are skipped.
    """

    def __init__(self, engine: Engine, prefix: str) -> None:
        self.engine = engine
        self.prefix = prefix

    @classmethod
    @contextlib.contextmanager
    def open(cls, name: str) -> Iterator[PostgresSchemas]:
        engine = create_engine(
            POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool,
            connect_args={"connect_timeout": 3},
        )
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - any failure means: no server to test against
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {error}")
        schemas = cls(engine, f"{name}_{secrets.token_hex(4)}")
        try:
            yield schemas
        finally:  # a benchmark that failed leaves its schemas too
            with engine.connect() as connection:
                leftovers = connection.execute(
                    text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :prefix"),
                    {"prefix": f"{schemas.prefix}%"},
                ).scalars().all()
                for schema in leftovers:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()

    @contextlib.contextmanager
    def schema(self) -> Iterator[str]:
        """The URL of a new empty schema; dropped afterwards (stop servers using it first)."""
        schema = f"{self.prefix}_{secrets.token_hex(4)}"
        with self.engine.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield schema_url(POSTGRES_URL, schema)
        with self.engine.connect() as connection:
            connection.execute(text("SET lock_timeout = '5s'"))
            with contextlib.suppress(Exception):  # the end-of-run sweep gets it otherwise
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()`` makes the target unreachable, ``restore()`` undoes it.

    A cut closes the listening socket and every forwarded connection, which is
    what a database server crashing or a network partition looks like to a
    client: established connections break and new ones are refused.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # listener closed by cut()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        if listener is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def restore(self) -> None:
        self.start()

    def close(self) -> None:
        self.cut()


@dataclass
class Outage:
    """A database that ``start()`` takes away from whatever connects through ``url``.

    For PostgreSQL ``url`` goes through a proxy that ``start()`` cuts; for
    SQLite it is the file itself, which ``start()`` locks from another
    connection, as another process writing would. ``direct_url`` always
    reaches the database, so the test can read it meanwhile.
    """

    direct_url: str
    url: str
    proxy: TcpProxy | None = None
    active: bool = False
    _lock_holder: sqlite3.Connection | None = field(default=None, repr=False)

    @classmethod
    def of(cls, direct_url: str) -> Outage:
        parsed = make_url(direct_url)
        if parsed.get_backend_name() == "sqlite":
            return cls(direct_url, direct_url)
        proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432).start()
        through = parsed.set(host="127.0.0.1", port=proxy.port)  # same schema, same query
        return cls(direct_url, through.render_as_string(hide_password=False), proxy)

    def start(self) -> None:
        assert not self.active, "the database is down already"
        self.active = True
        if self.proxy is not None:
            self.proxy.cut()
            return
        path = make_url(self.direct_url).database
        assert path
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")
        self._lock_holder = holder

    def stop(self) -> None:
        """Give the database back; a no-op unless it was taken away."""
        if not self.active:
            return
        self.active = False
        if self.proxy is not None:
            self.proxy.restore()
            return
        if self._lock_holder is not None:
            self._lock_holder.execute("ROLLBACK")
            self._lock_holder.close()
            self._lock_holder = None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        if self.proxy is not None:
            self.proxy.close()

    def busy_options(self) -> dict[str, Any]:
        """``DatabaseManager`` options that make a failing write fail fast."""
        return {"busy_timeout": 0.2, "connect_timeout": 1}


# -- what is stored --------------------------------------------------------


def stored(db: DatabaseManager, session_id: str) -> Any:
    """The session's row, or None."""
    with db.read() as connection:
        return connection.execute(
            select(sessions).where(sessions.c.session_id == session_id)
        ).first()


def child_rows(db: DatabaseManager, session_id: str) -> tuple[set[str], set[str], Any]:
    """The session's role names, permission names and metrics row."""
    with db.read() as connection:
        role_names = set(
            connection.execute(
                select(roles.c.role).where(roles.c.session_id == session_id)
            ).scalars()
        )
        permission_names = set(
            connection.execute(
                select(permissions.c.permission).where(permissions.c.session_id == session_id)
            ).scalars()
        )
        counters = connection.execute(
            select(metrics).where(metrics.c.session_id == session_id)
        ).first()
    return role_names, permission_names, counters


def count_rows(db: DatabaseManager, table: Any) -> int:
    with db.read() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def rich_session(user_id: str = "ada") -> UserSession:
    """A session with something in every part of its state."""
    session = UserSession(user_id=user_id)
    session.navigate_to("profile", {"tab": "edit"})
    session.navigate_to("settings")
    session.update_form_data("contact", "name", "Ada")
    session.update_form_data("contact", "email", "ada@example.org")
    session.update_form_data("contact", "tags", ["a", "b"])
    session.create_form_snapshot("contact", "before phone")
    session.update_form_data("contact", "phone", "123")
    session.undo_form("contact")
    session.mark_form_saved("contact")
    session.update_form_data("contact", "name", "Ada L")
    session.get_form_state("contact").errors["email"] = ["check it"]
    session.add_cache_key("user_data_1")
    session.add_cache_key("profile_1", dependencies={"user_data_1"})
    session.add_role("admin")
    session.add_role("user")
    session.add_permission("read")
    session.add_permission("write")
    session.record_page_view()
    return session


def age(session: UserSession, *, days: float) -> UserSession:
    """``session``, last active ``days`` ago."""
    session.metrics.last_activity = utcnow() - timedelta(days=days)
    return session


@contextlib.contextmanager
def driver_steps(db: DatabaseManager, most: int) -> Iterator[None]:
    """Assert that the block sends the driver at most ``most`` statements, none stepped per row.

    Each statement or row the driver steps through waits to win the GIL back
    beside a busy thread (bench/README.md), so a batch must cost a few, not one per session.
    """
    db.ensure_schema()
    calls: list[tuple[str, bool]] = []

    def count(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any,
              executemany: bool) -> None:
        calls.append((statement, executemany))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(calls) <= most, [statement[:60] for statement, _ in calls]
    if db.dialect == "sqlite":  # PostgreSQL sends all of a statement's rows in one reply
        assert not any(executemany for _, executemany in calls)
        assert not any("RETURNING" in statement for statement, _ in calls)


_REFUSE: dict[str, tuple[str, ...]] = {
    "sqlite": (
        ("CREATE TRIGGER stsg_full_insert BEFORE INSERT ON stsg_sessions"
        " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"),
        ("CREATE TRIGGER stsg_full_update BEFORE UPDATE ON stsg_sessions"
        " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"),
    ),
    "postgresql": (
        ("CREATE FUNCTION stsg_full() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$"),
        ("CREATE TRIGGER stsg_full BEFORE INSERT OR UPDATE ON stsg_sessions"
        " FOR EACH ROW EXECUTE FUNCTION stsg_full()"),
    ),
}
_ACCEPT: dict[str, tuple[str, ...]] = {
    "sqlite": ("DROP TRIGGER stsg_full_insert", "DROP TRIGGER stsg_full_update"),
    "postgresql": ("DROP TRIGGER stsg_full ON stsg_sessions", "DROP FUNCTION stsg_full()"),
}


@contextlib.contextmanager
def refused_session_writes(db: DatabaseManager) -> Iterator[None]:
    """Session rows cannot be written (as on a full disk) while reads and other writes work."""
    db.ensure_schema()
    with db.engine.begin() as connection:
        for statement in _REFUSE[db.dialect]:
            connection.exec_driver_sql(statement)
    try:
        yield
    finally:
        with db.engine.begin() as connection:
            for statement in _ACCEPT[db.dialect]:
                connection.exec_driver_sql(statement)


def unsaved_cookie_value(message: object, session_id: str) -> str:
    """The unsaved-changes cookie's value for ``message`` (a restore message, or any JSON text
    to try on the server), encoded as the guard encodes it (frontend/src/unsaved.ts)."""
    text = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
    encoded = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    return f"{session_id}.{encoded}"
