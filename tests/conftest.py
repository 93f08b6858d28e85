"""Fixtures shared by the database tests: every one runs on a SQLite file and on PostgreSQL.

``database_url`` is the URL of an empty database of either kind: a SQLite
file in the test's ``tmp_path``, or a PostgreSQL schema of its own (random
name, created for the test and dropped after it). PostgreSQL is the server
at ``STSG_TEST_POSTGRES_URL`` (default: the local one); its tests are marked
``postgres`` and skipped when it cannot be reached.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from support import TcpProxy

from st_session_guard.database import DatabaseManager
from st_session_guard.persistence import SessionPersistenceEngine

POSTGRES_URL = os.environ.get(
    "STSG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RUN_PREFIX = f"stsg_test_{secrets.token_hex(4)}"
"""Schemas this run creates start with this; whatever a failed test leaves is dropped at the end."""


def with_search_path(url: URL, schema: str) -> URL:
    return url.update_query_dict({"options": f"-csearch_path={schema}"})


def url_text(url: URL | str) -> str:
    return url if isinstance(url, str) else url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An autocommit engine on the PostgreSQL server, for creating and dropping test schemas."""
    engine = create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure means: no server to test against
        engine.dispose()
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {error}")
    yield engine
    with engine.connect() as connection:
        leftovers = connection.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :prefix"),
            {"prefix": f"{RUN_PREFIX}%"},
        ).scalars().all()
        for schema in leftovers:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, or a PostgreSQL schema made for this test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'sessions.db'}"
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"{RUN_PREFIX}_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield url_text(with_search_path(make_url(POSTGRES_URL), schema))
    with admin.connect() as connection:
        connection.execute(text("SET lock_timeout = '5s'"))
        with contextlib.suppress(Exception):  # the session-end sweep gets it otherwise
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
def make_db(database_url: str) -> Iterator[Callable[..., DatabaseManager]]:
    """Build ``DatabaseManager``s (on ``database_url`` unless told otherwise); all disposed after."""
    made: list[DatabaseManager] = []

    def make(url: str | None = None, **options: Any) -> DatabaseManager:
        options.setdefault("connect_timeout", 2)
        manager = DatabaseManager(url or database_url, **options)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.dispose()


@pytest.fixture
def db(make_db: Callable[..., DatabaseManager]) -> DatabaseManager:
    """A fresh manager on the test's database."""
    return make_db()


@pytest.fixture
def make_engine(
    make_db: Callable[..., DatabaseManager],
) -> Iterator[Callable[..., SessionPersistenceEngine]]:
    """Build persistence engines with test-sized delays; each closed after the test."""
    made: list[SessionPersistenceEngine] = []

    def make(**options: Any) -> SessionPersistenceEngine:
        if "db" not in options and "database_url" not in options:
            options["db"] = make_db()
        options.setdefault("debounce_delay", 0.05)
        options.setdefault("session_timeout", 3600.0)
        options.setdefault("retry_initial", 0.05)
        options.setdefault("retry_max", 0.4)
        engine = SessionPersistenceEngine(**options)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close(timeout=5)


@dataclass
class Outage:
    """Makes the test's database refuse writes (SQLite) or vanish (PostgreSQL), then brings it back.

    Engines that should feel the outage use ``url``: for PostgreSQL it goes
    through a proxy that ``start()`` cuts; for SQLite it is the database
    itself, which ``start()`` locks from another connection.
    """

    database_url: str
    url: str
    proxy: TcpProxy | None = None
    active: bool = False
    _lock_holder: sqlite3.Connection | None = field(default=None, repr=False)

    def start(self) -> None:
        assert not self.active, "the outage has begun already"
        self.active = True
        if self.proxy is not None:
            self.proxy.cut()
            return
        path = make_url(self.database_url).database
        assert path
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")
        self._lock_holder = holder

    def stop(self) -> None:
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

    def busy_options(self) -> dict[str, Any]:
        """``DatabaseManager`` options that make a failing write fail fast."""
        return {"busy_timeout": 0.2, "connect_timeout": 1}


@pytest.fixture
def outage(database_url: str) -> Iterator[Outage]:
    """An ``Outage`` for the test's database; always ended after the test."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        handle = Outage(database_url, database_url)
    else:
        proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432).start()
        handle = Outage(
            database_url, url_text(parsed.set(host="127.0.0.1", port=proxy.port)), proxy
        )
    yield handle
    with contextlib.suppress(Exception):
        handle.stop()
    if handle.proxy is not None:
        handle.proxy.close()
