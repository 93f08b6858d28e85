"""The ``st-session-guard`` command line on SQLite and PostgreSQL: counts, JSON, exit codes."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click._termui_impl
import pytest
import sqlalchemy
from click.testing import CliRunner, Result
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, make_url, select
from sqlalchemy.pool import NullPool
from support import Outage, refused_session_writes, wait_until

from st_session_guard.cli import main
from st_session_guard.database import DatabaseManager
from st_session_guard.models import sessions
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.session import UserSession

MakeEngine = Callable[..., SessionPersistenceEngine]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ago(**delta: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(**delta)


def idle(session: UserSession, **delta: float) -> UserSession:
    """A session whose last activity was ``delta`` ago (so it expires that much earlier)."""
    session.metrics.last_activity = ago(**delta)
    return session


def store(engine: SessionPersistenceEngine, *made: UserSession) -> list[UserSession]:
    for session in made:
        engine.persist_session(session)
    assert engine.flush_all() == len(made)
    return list(made)


def stored_ids(engine: SessionPersistenceEngine) -> set[str]:
    with engine.db.read() as connection:
        return set(connection.execute(select(sessions.c.session_id)).scalars())


def stored_count(engine: SessionPersistenceEngine) -> int:
    with engine.db.read() as connection:
        return int(connection.execute(select(func.count()).select_from(sessions)).scalar_one())


# -- cleanup -------------------------------------------------------------------


def test_cleanup_expired_deletes_only_expired_sessions_and_says_how_many(
    make_engine: MakeEngine, database_url: str
) -> None:
    engine = make_engine(session_timeout=3600)
    expired = store(engine, *(idle(UserSession(), hours=2) for _ in range(7)))
    live = store(engine, *(UserSession() for _ in range(3)))

    result = run("--database-url", database_url, "cleanup", "--expired", "--batch-size", "3")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "deleted 7 sessions expired"
    assert stored_ids(engine) == {s.session_id for s in live}
    assert not {s.session_id for s in expired} & stored_ids(engine)


def test_cleanup_inactive_days_deletes_idle_sessions_before_they_expire(
    make_engine: MakeEngine, database_url: str
) -> None:
    engine = make_engine(session_timeout=60 * 86_400)
    store(engine, *(idle(UserSession(), days=10) for _ in range(4)))
    recent = store(engine, idle(UserSession(), days=2), UserSession())

    expired_only = run("--database-url", database_url, "cleanup", "--expired")
    assert expired_only.exit_code == 0
    assert expired_only.stdout.strip() == "deleted 0 sessions expired"

    result = run("--database-url", database_url, "cleanup", "--inactive-days", "7")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "deleted 4 sessions inactive for 7+ days"
    assert stored_ids(engine) == {s.session_id for s in recent}


def test_cleanup_dry_run_counts_and_deletes_nothing(
    make_engine: MakeEngine, database_url: str
) -> None:
    engine = make_engine(session_timeout=3600)
    store(engine, *(idle(UserSession(), hours=3) for _ in range(2)), UserSession())

    result = run(
        "--database-url",
        database_url,
        "cleanup",
        "--expired",
        "--inactive-days",
        "0.1",
        "--dry-run",
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "would delete 2 sessions expired",
        "would delete 2 sessions inactive for 0.1+ days",
    ]
    assert stored_count(engine) == 3


def test_cleanup_progress_advances_batch_by_batch(
    make_engine: MakeEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(session_timeout=60)
    store(engine, *(idle(UserSession(), hours=1) for _ in range(7)))
    # The bar draws itself only on a terminal; make the captured stderr count as one.
    monkeypatch.setattr(click._termui_impl, "isatty", lambda _stream: True)

    result = run("--database-url", database_url, "cleanup", "--expired", "--batch-size", "3")

    assert result.exit_code == 0, result.output
    assert "deleting sessions expired" in result.stderr
    positions = [p for p in ("0/7", "3/7", "6/7", "7/7") if p in result.stderr]
    assert positions == ["0/7", "3/7", "6/7", "7/7"]
    assert stored_count(engine) == 0


def test_cleanup_reports_each_committed_batch_to_its_progress_callback(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(session_timeout=60)
    store(engine, *(idle(UserSession(), hours=1) for _ in range(7)))
    engine.cleanup_batch = 3
    batches: list[int] = []

    assert engine.cleanup_expired_sessions(on_batch=batches.append) == 7

    assert batches == [3, 3, 1]


def test_cleanup_without_saying_what_to_delete_is_a_usage_error(database_url: str) -> None:
    result = run("--database-url", database_url, "cleanup")

    assert result.exit_code == 2
    assert "--expired and/or --inactive-days" in result.stderr


def test_cleanup_fails_with_exit_1_when_the_database_takes_no_writes(
    make_engine: MakeEngine, outage: Outage
) -> None:
    engine = make_engine(session_timeout=60)
    store(engine, *(idle(UserSession(), hours=1) for _ in range(2)))
    outage.start()

    result = run("--database-url", outage.url, "--timeout", "0.3", "cleanup", "--expired")

    assert result.exit_code == 1, result.output
    assert "error:" in result.stderr
    outage.stop()
    assert stored_count(engine) == 2


# -- inspect -------------------------------------------------------------------


def test_inspect_raw_prints_the_stored_state_as_json(
    make_engine: MakeEngine, database_url: str
) -> None:
    engine = make_engine()
    session = UserSession("user-42")
    session.update_form_data("contact", "name", "Zoë")
    session.navigate_to("profile", {"id": 7})
    session.add_role("editor")
    store(engine, session)

    result = run("--database-url", database_url, "inspect", session.session_id, "--raw")

    assert result.exit_code == 0, result.output
    state = json.loads(result.stdout)
    assert state["session_id"] == session.session_id
    assert state["user_id"] == "user-42"
    assert state["roles"] == ["editor"]
    assert state["revision"] == session.revision
    values = {tuple(c["p"]): c["v"] for c in state["changes"]}
    assert values[("forms", "contact", "name")] == "Zoë"
    assert values[("page",)] == "profile"


def test_inspect_escapes_bidi_overrides_and_c1_controls_and_raw_stays_json(
    make_engine: MakeEngine, database_url: str
) -> None:
    engine = make_engine()
    session = UserSession()
    hostile = "admin\u202egnp.exe\x85\x9b31m\u2066\u2028end"
    session.update_form_data("contact", "name", hostile)
    session.navigate_to(hostile)
    store(engine, session)

    readable = run("--database-url", database_url, "inspect", session.session_id)
    raw = run("--database-url", database_url, "inspect", session.session_id, "--raw")

    for result in (readable, raw):
        assert result.exit_code == 0, result.output
        for char in ("\u202e", "\x85", "\x9b", "\u2066", "\u2028"):
            assert char not in result.stdout
        assert "\\u202e" in result.stdout and "\\u009b" in result.stdout
    values = {tuple(c["p"]): c["v"] for c in json.loads(raw.stdout)["changes"]}
    assert values[("forms", "contact", "name")] == hostile


def test_inspect_shows_page_history_each_form_with_its_values_and_its_snapshots(
    make_engine: MakeEngine, database_url: str
) -> None:
    engine = make_engine()
    session = UserSession("user-42")
    session.update_form_data("contact", "name", "Zoë")
    session.update_form_data("contact", "age", 41)
    session.create_form_snapshot("contact", "before the move")
    session.update_form_data("billing", "plan", "pro")
    session.navigate_to("profile", {"id": 7})
    store(engine, session)

    result = run("--database-url", database_url, "inspect", session.session_id)

    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert f"session        {session.session_id}" in lines
    assert "user           user-42" in lines
    assert "page     profile" in lines
    assert 'history  home -> profile {"id": 7}' in lines
    contact = lines.index("form contact")
    assert lines[contact + 1:contact + 3] == ['  age   41', '  name  "Zoë"']
    assert '  snapshot "before the move"' in " ".join(lines[contact:])
    assert lines[lines.index("form billing") + 1] == '  plan  "pro"'


def test_inspect_of_an_unknown_or_expired_session_exits_1_with_nothing_on_stdout(
    make_engine: MakeEngine, database_url: str
) -> None:
    engine = make_engine(session_timeout=60)
    (expired,) = store(engine, idle(UserSession(), hours=1))

    for session_id in (expired.session_id, "f" * 64):
        result = run("--database-url", database_url, "inspect", session_id)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert "no live session" in result.stderr


def test_inspect_without_a_session_id_is_a_usage_error(database_url: str) -> None:
    assert run("--database-url", database_url, "inspect").exit_code == 2


# -- stats ---------------------------------------------------------------------


def test_stats_counts_sessions_sizes_the_oldest_and_the_recently_active(
    make_engine: MakeEngine, database_url: str
) -> None:
    engine = make_engine(session_timeout=86_400)
    oldest = UserSession("ada")
    oldest.created_at = oldest.metrics.started_at = ago(days=3)
    oldest.update_form_data("bio", "text", "naïve café ✓")
    store(
        engine,
        oldest,
        UserSession("ada"),
        UserSession("grace"),
        idle(UserSession(), hours=3),
        idle(UserSession(), days=2),  # expired
    )

    result = run("--database-url", database_url, "stats", "--format", "json")

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    with engine.db.read() as connection:
        texts = [
            json.dumps(state, separators=(",", ":"), ensure_ascii=False)
            for state in connection.execute(select(sessions.c.state)).scalars()
        ]
    assert figures["sessions"] == 5
    assert figures["live"] == 4
    assert figures["expired"] == 1
    assert figures["users"] == 2
    assert figures["active_last_hour"] == 3
    assert figures["total_state_bytes"] == sum(len(t.encode()) for t in texts)
    assert figures["avg_state_bytes"] == pytest.approx(figures["total_state_bytes"] / 5, abs=0.1)
    assert figures["oldest_session"]["session_id"] == oldest.session_id


def test_stats_as_openmetrics_gives_the_databases_figures_to_a_scrape(
    make_engine: MakeEngine, database_url: str
) -> None:
    engine = make_engine(session_timeout=86_400)
    store(engine, UserSession("ada"), UserSession("grace"), idle(UserSession(), days=2))

    result = run("--database-url", database_url, "stats", "--format", "openmetrics")

    assert result.exit_code == 0, result.output
    samples = {
        (sample.name, tuple(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(result.stdout)
        for sample in family.samples
    }
    assert samples[("st_session_guard_stored_sessions", (("state", "live"),))] == 2
    assert samples[("st_session_guard_stored_sessions", (("state", "expired"),))] == 1
    assert samples[("st_session_guard_stored_users", ())] == 2
    assert samples[("st_session_guard_stored_state_bytes", ())] > 0
    assert "writes_pending" not in result.stdout  # only the app process knows what it holds


def test_stats_as_text_names_every_figure(make_engine: MakeEngine, database_url: str) -> None:
    engine = make_engine()
    (session,) = store(engine, UserSession("ada"))

    result = run("--database-url", database_url, "stats")

    assert result.exit_code == 0, result.output
    lines = dict(line.split("  ", 1) for line in result.stdout.splitlines())
    assert lines["sessions"].strip() == "1"
    assert lines["active in the last hour"].strip() == "1"
    assert lines["oldest session"].strip().startswith(session.session_id)
    assert lines["writes pending"].strip().startswith("n/a (only the app process knows")


def test_stats_of_an_empty_store_are_zero(make_db: Callable[..., DatabaseManager], database_url: str) -> None:
    make_db().ensure_schema()  # the app has made its tables and stored nothing yet

    result = run("--database-url", database_url, "stats", "--format", "json")

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert (figures["sessions"], figures["total_state_bytes"], figures["avg_state_bytes"]) == (
        0,
        0,
        0,
    )
    assert figures["oldest_session"] is None


# -- health and configuration ---------------------------------------------------------


def test_health_exits_0_on_a_working_database(make_db: Callable[..., DatabaseManager]) -> None:
    make_db().ensure_schema()  # the app has made its tables

    result = run("--database-url", make_db().url, "health")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("healthy:")


def test_health_exits_1_when_the_database_takes_no_writes(
    make_engine: MakeEngine, outage: Outage
) -> None:
    store(make_engine(), UserSession())
    outage.start()

    result = run("--database-url", outage.url, "--timeout", "0.3", "health")

    assert result.exit_code == 1, result.output
    assert "unhealthy" in result.stderr
    outage.stop()
    assert run("--database-url", outage.url, "health").exit_code == 0


def test_health_exits_1_while_sessions_cannot_be_written_as_the_app_says(
    make_engine: MakeEngine, database_url: str
) -> None:
    engine = make_engine()
    with refused_session_writes(engine.db):
        assert engine.persist_session(UserSession(), immediate=True) is False
        result = run("--database-url", database_url, "health")
        assert (result.exit_code, engine.health_check()) == (1, False), result.output
        assert "unhealthy" in result.stderr
    wait_until(lambda: engine.pending_count == 0, what="the pending session to land")
    assert (run("--database-url", database_url, "health").exit_code, engine.health_check()) == (0, True)


def test_health_exits_1_when_the_sqlite_path_runs_through_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")

    result = run("--database-url", f"sqlite:///{blocker}/sessions.db", "health")

    assert result.exit_code == 1
    assert f"no database at {blocker}/sessions.db" in result.stderr


def test_an_unsupported_database_url_is_a_usage_error() -> None:
    result = run("--database-url", "mysql://db/app", "health")

    assert result.exit_code == 2
    assert "bad database URL" in result.stderr


def test_database_url_option_overrides_the_environment_the_library_reads(
    make_engine: MakeEngine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(make_engine(), UserSession(), UserSession())
    monkeypatch.setenv("SESSION_GUARD_DATABASE_URL", database_url)
    other = DatabaseManager(f"sqlite:///{tmp_path}/other.db")
    other.ensure_schema()
    other.dispose()

    from_environment = json.loads(run("stats", "--format", "json").stdout)
    overridden = run("--database-url", f"sqlite:///{tmp_path}/other.db", "stats", "--format", "json")

    assert from_environment["sessions"] == 2
    assert json.loads(overridden.stdout)["sessions"] == 0


# -- the database the command was asked to read --------------------------------


def tables_in(url: str) -> list[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return sqlalchemy.inspect(connection).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "command", [["stats"], ["health"], ["inspect", "f" * 64], ["cleanup", "--expired"]]
)
def test_an_empty_database_is_an_error_and_the_command_makes_nothing_in_it(
    database_url: str, command: list[str]
) -> None:
    result = run("--database-url", database_url, *command)

    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert "no database at" in result.stderr or "holds no st-session-guard tables" in result.stderr
    sqlite_file = make_url(database_url).database or ""
    if database_url.startswith("sqlite"):
        assert not Path(sqlite_file).parent.exists()
    else:
        assert tables_in(database_url) == []


def test_a_mistyped_sqlite_path_is_an_error_that_names_the_path_it_looked_for(tmp_path: Path) -> None:
    engine = SessionPersistenceEngine(database_url=f"sqlite:///{tmp_path}/sessions.db")
    store(engine, UserSession())
    engine.close()
    engine.db.dispose()

    result = run("--database-url", f"sqlite:///{tmp_path}/sesions.db", "stats")

    assert result.exit_code == 1
    assert f"no database at {tmp_path}/sesions.db: the SQLite file does not exist" in result.stderr
    assert not (tmp_path / "sesions.db").exists()


def test_the_default_database_looked_for_from_a_wrong_working_directory_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SESSION_GUARD_DATABASE_URL", raising=False)

    result = run("health")

    assert result.exit_code == 1
    assert f"no database at {tmp_path}/.st_session_guard/" in result.stderr
    assert "healthy" not in result.stderr.replace("st-session-guard", "")
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_file_without_our_tables_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    other = tmp_path / "notes.db"
    with contextlib.closing(sqlite3.connect(other)) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
        connection.commit()
    before = other.read_bytes()

    result = run("--database-url", f"sqlite:///{other}", "stats")

    assert result.exit_code == 1
    assert f"{other} holds no st-session-guard tables" in result.stderr
    assert other.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.db"]


def test_an_unknown_command_is_a_usage_error() -> None:
    assert run("vacuum").exit_code == 2
