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
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from support import Outage

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


@pytest.fixture
def outage(database_url: str) -> Iterator[Outage]:
    """An ``Outage`` for the test's database; always ended after the test."""
    handle = Outage.of(database_url)
    yield handle
    handle.close()