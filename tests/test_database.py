"""The database manager, on SQLite and PostgreSQL: schema, secret, health, and the process-wide instances."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError
from support import Outage, free_port

from st_session_guard import database, session_persistence
from st_session_guard.database import (
    DatabaseManager,
    configure_database,
    get_db_manager,
    meta_table,
)
from st_session_guard.models import DB_SCHEMA_VERSION
from st_session_guard.session import UserSession

MakeDb = Callable[..., DatabaseManager]
REPO = Path(__file__).resolve().parents[1]
TABLES = {
    "stsg_sessions",
    "stsg_session_roles",
    "stsg_session_permissions",
    "stsg_session_metrics",
    "stsg_revoked",
    "stsg_meta",
}


def test_schema_is_created_on_first_use_with_its_version_recorded(db: DatabaseManager) -> None:
    assert db.schema_version() == DB_SCHEMA_VERSION
    assert TABLES <= set(inspect(db.engine).get_table_names())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sqlite_file_an_older_release_made_gets_the_notice_table_on_first_use(
    make_db: MakeDb,
) -> None:
    older = make_db()
    older.ensure_schema()
    with older.write() as connection:
        connection.execute(text("DROP TABLE stsg_notices"))  # as a release before notices made it
    assert "stsg_notices" not in inspect(older.engine).get_table_names()
    newer = make_db()
    newer.ensure_schema()
    assert "stsg_notices" in inspect(newer.engine).get_table_names()
    assert newer.schema_version() == DB_SCHEMA_VERSION


def test_schema_creation_is_idempotent(make_db: MakeDb) -> None:
    first, second = make_db(), make_db()
    first.ensure_schema()
    second.ensure_schema()
    second._schema_ready = False  # as a restarted process would
    second.ensure_schema()
    with first.read() as connection:
        assert connection.execute(select(func.count()).select_from(meta_table)).scalar_one() == 1
    assert second.schema_version() == DB_SCHEMA_VERSION


def test_two_processes_creating_the_schema_at_once_both_succeed(
    database_url: str, db: DatabaseManager
) -> None:
    script = textwrap.dedent(
        """
        import sys
        from st_session_guard.database import DatabaseManager
        manager = DatabaseManager(sys.argv[1])
        print("ready", flush=True)
        sys.stdin.readline()
        manager.ensure_schema()
        print(manager.schema_version())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    versions_seen = set()
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        versions_seen.add(out.strip())
    assert versions_seen == {str(DB_SCHEMA_VERSION)}
    assert db.schema_version() == DB_SCHEMA_VERSION


def test_health_check_is_true_for_a_working_database(db: DatabaseManager) -> None:
    assert db.health_check() is True


def test_health_check_is_false_when_the_database_cannot_be_reached(
    database_url: str, make_db: MakeDb, tmp_path: Path
) -> None:
    if database_url.startswith("sqlite"):
        unreachable = f"sqlite:///{tmp_path}"  # a directory: cannot be opened as a database
    else:
        unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    manager = make_db(unreachable, connect_timeout=1)
    assert manager.health_check() is False


def test_health_check_stays_false_after_a_failed_write_until_writes_work_again(
    make_db: MakeDb, outage: Outage
) -> None:
    manager = make_db(outage.url, **outage.busy_options())
    manager.ensure_schema()
    outage.start()
    with pytest.raises(DBAPIError), manager.write() as connection:
        connection.execute(meta_table.insert().values(key="probe", value="x"))
    assert manager.health_check() is False
    assert manager.health_check() is False
    outage.stop()
    assert manager.health_check() is False  # a read works again; no write has landed yet
    with manager.write() as connection:
        connection.execute(meta_table.insert().values(key="probe", value="x"))
    assert manager.health_check() is True
    assert manager.health_check(probe=True) is True


def test_sqlite_gets_its_directory_and_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "sessions.db"
    manager = DatabaseManager(f"sqlite:///{path}")
    try:
        assert manager.health_check()
        manager.ensure_schema()
        assert path.exists()
        with manager.read() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        manager.dispose()


def test_only_sqlite_and_postgresql_are_supported() -> None:
    with pytest.raises(ValueError, match="mysql"):
        DatabaseManager("mysql://localhost/db")


@pytest.fixture
def process_wide_reset() -> Iterator[None]:
    """Put the process-wide manager and engine back as they were after the test."""
    saved = database._manager, session_persistence._engine
    database._manager = session_persistence._engine = None
    yield
    if session_persistence._engine is not None:
        session_persistence._engine.close(timeout=5)
    if database._manager is not None:
        database._manager.dispose()
    database._manager, session_persistence._engine = saved


@pytest.mark.usefixtures("process_wide_reset")
def test_configure_database_replaces_the_process_wide_manager_and_engine(
    database_url: str, tmp_path: Path
) -> None:
    first = configure_database(f"sqlite:///{tmp_path / 'first.db'}")
    assert get_db_manager() is first
    engine = session_persistence.get_persistence_engine()
    assert engine.db is first and session_persistence.get_persistence_engine() is engine

    second = configure_database(database_url)
    assert get_db_manager() is second
    replaced = session_persistence.get_persistence_engine()
    assert replaced is not engine and replaced.db is second

    session = UserSession()
    session.update_form_data("form", "field", "value")
    assert session_persistence.persist_session(session, immediate=True)
    recovered = session_persistence.recover_session(session.session_id)
    assert recovered is not None and recovered.get_form_state("form").data["field"] == "value"


@pytest.mark.usefixtures("process_wide_reset")
def test_configure_persistence_replaces_the_engine_and_flushes_the_old_one(
    database_url: str,
) -> None:
    db = configure_database(database_url)
    old = session_persistence.configure_persistence(debounce_delay=3600)
    session = UserSession()
    old.persist_session(session)
    new = session_persistence.configure_persistence(debounce_delay=0.1, session_timeout=60)
    assert session_persistence.get_persistence_engine() is new
    assert (new.debounce_delay, new.session_timeout, new.db) == (0.1, 60, db)
    assert old.pending_count == 0
    assert new.recover_session(session.session_id) is not None


def test_settings_name_the_process_wide_database(
    process_wide_reset: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_GUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert get_db_manager().url == f"sqlite:///{tmp_path / 'env.db'}"
    with get_db_manager().read() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_a_deleted_sqlite_file_is_made_again_at_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    manager = DatabaseManager(f"sqlite:///{path}")
    try:
        with manager.write() as connection:
            connection.execute(meta_table.insert().values(key="before", value="x"))
        for leftover in tmp_path.iterdir():
            leftover.unlink()

        with manager.write() as connection:
            connection.execute(meta_table.insert().values(key="after", value="y"))

        assert path.exists()
        with sqlite3.connect(path) as reader:
            keys = {key for (key,) in reader.execute("SELECT key FROM stsg_meta")}
        assert "after" in keys and "before" not in keys
        assert manager.health_check() is True
    finally:
        manager.dispose()
