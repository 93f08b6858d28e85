"""Fixtures shared by the database tests: every one runs on a SQLite file and on PostgreSQL.

``database_url`` is the URL of an empty database of either kind: a SQLite
file in the test's ``tmp_path``, or a PostgreSQL schema of its own (random
name, created for the test and dropped after it). PostgreSQL is the server
at ``STSG_TEST_POSTGRES_URL`` (default: the local one); its tests are marked
``postgres`` and skipped when it cannot be reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from support import Outage, PostgresSchemas

from st_session_guard.database import DatabaseManager, configure_database
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.session_persistence import configure_persistence

# Property tests judge properties, never speed: a shared two-core machine makes
# any per-example deadline a coin toss.
settings.register_profile("stsg", deadline=None)
settings.load_profile("stsg")


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[PostgresSchemas]:
    with PostgresSchemas.open("stsg_test") as schemas:
        yield schemas


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, or a PostgreSQL schema made for this test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'sessions.db'}"
        return
    schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
    with schemas.schema() as url:
        yield url


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

@pytest.fixture
def engine(tmp_path: Path) -> Iterator[SessionPersistenceEngine]:
    """The process-wide write-behind engine on a SQLite file of the test's own, writing only when told."""
    configure_database(f"sqlite:///{tmp_path / 'sessions.db'}")
    engine = configure_persistence(debounce_delay=3600, session_timeout=3600)
    yield engine
    engine.close()
