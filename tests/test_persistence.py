"""The write-behind engine, on SQLite and PostgreSQL: debouncing, revision-guarded upserts,
recovery, outages and cleanup."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import Outage
from sqlalchemy import event, func, insert, select, text, update
from support import wait_until

from st_session_guard.database import DatabaseManager
from st_session_guard.persistence import (
    SessionPersistenceEngine,
    metrics,
    permissions,
    roles,
    sessions,
)
from st_session_guard.session import SCHEMA_VERSION, StoredState, UserSession

MakeEngine = Callable[..., SessionPersistenceEngine]
REPO = Path(__file__).resolve().parents[1]


def stored(db: DatabaseManager, session_id: str) -> Any:
    with db.read() as connection:
        return connection.execute(
            select(sessions).where(sessions.c.session_id == session_id)
        ).first()


def child_rows(db: DatabaseManager, session_id: str) -> tuple[set[str], set[str], Any]:
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


def field_value(db: DatabaseManager, session_id: str, form: str, name: str) -> Any:
    row = stored(db, session_id)
    assert row is not None, "no stored row"
    return UserSession.from_dict(row.state).get_form_state(form).data.get(name)


def rich_session(user_id: str = "ada") -> UserSession:
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


# -- debouncing ------------------------------------------------------------


def test_a_thousand_changes_in_one_debounce_window_make_exactly_one_write(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(debounce_delay=1.5)
    session = UserSession(user_id="ada")
    started = time.monotonic()
    for value in range(1000):
        session.update_form_data("form", "field", value)
        engine.persist_session(session)
    assert time.monotonic() - started < 1.5, "the changes took longer than one window"
    assert engine.writes == 0

    wait_until(lambda: engine.pending_count == 0, what="the debounced write")
    assert engine.writes == 1
    assert engine.flush_all() == 0
    assert engine.writes == 1
    assert field_value(engine.db, session.session_id, "form", "field") == 999


def test_changes_are_written_one_window_after_the_first_change_even_if_they_keep_coming(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(debounce_delay=0.3)
    session = UserSession()
    engine.persist_session(session)
    started = time.monotonic()
    while engine.writes == 0:  # keep changing faster than the window
        session.update_form_data("form", "field", time.monotonic())
        engine.persist_session(session)
        assert time.monotonic() - started < 10, "a steady stream of changes postponed the write"
        time.sleep(0.01)
    assert time.monotonic() - started < 3


def test_flush_all_writes_every_pending_session_now(make_engine: MakeEngine) -> None:
    engine = make_engine(debounce_delay=3600)
    batch = [UserSession(user_id=f"user{n}") for n in range(25)]
    for n, session in enumerate(batch):
        session.update_form_data("form", "n", n)
        engine.persist_session(session)
    assert engine.pending_count == 25

    assert engine.flush_all() == 25
    assert engine.pending_count == 0
    assert engine.writes == 1
    assert [field_value(engine.db, s.session_id, "form", "n") for s in batch] == list(range(25))


def test_immediate_persist_writes_before_returning(make_engine: MakeEngine) -> None:
    engine = make_engine(debounce_delay=3600)
    session = UserSession()
    session.update_form_data("form", "field", "now")

    assert engine.persist_session(session, immediate=True) is True
    assert engine.writes == 1
    assert engine.pending_count == 0
    assert field_value(engine.db, session.session_id, "form", "field") == "now"


def test_a_bound_session_is_written_after_each_burst_of_changes(make_engine: MakeEngine) -> None:
    engine = make_engine(debounce_delay=0.05)
    session = UserSession()
    session.bind(engine.persist_session)
    session.update_form_data("form", "field", "first")
    wait_until(lambda: engine.writes == 1 and engine.pending_count == 0)
    session.update_form_data("form", "field", "second")
    wait_until(lambda: engine.writes == 2 and engine.pending_count == 0)
    assert field_value(engine.db, session.session_id, "form", "field") == "second"


def test_sessions_changed_from_many_threads_while_flushing_never_deadlock(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(debounce_delay=0.0)
    shared = [UserSession() for _ in range(4)]
    for session in shared:
        session.bind(engine.persist_session)
    errors: list[BaseException] = []

    def hammer(worker: int) -> None:
        try:
            for n in range(150):
                session = shared[(worker + n) % len(shared)]
                session.update_form_data("form", f"w{worker}", n)
                if n % 50 == 0:
                    engine.persist_session(session, immediate=True)
                    engine.flush_all()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(w,), daemon=True) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "deadlocked"
    assert errors == []
    engine.flush_all()
    for session in shared:
        assert stored(engine.db, session.session_id).revision == session.revision


# -- recovery --------------------------------------------------------------


def test_recover_returns_none_for_an_unknown_id(make_engine: MakeEngine) -> None:
    assert make_engine().recover_session("0" * 64) is None


def test_an_id_is_known_once_pending_or_stored_even_when_expired(make_engine: MakeEngine) -> None:
    engine = make_engine(debounce_delay=3600)
    session = age(rich_session(), days=2)
    assert engine.is_known(session.session_id) is False
    engine.persist_session(session)
    assert engine.is_known(session.session_id) is True
    engine.flush_all()
    assert engine.recover_session(session.session_id) is None
    assert engine.is_known(session.session_id) is True


def test_recover_returns_none_for_an_expired_session(make_engine: MakeEngine) -> None:
    engine = make_engine(session_timeout=60)
    session = UserSession()
    session.metrics.last_activity = datetime.now(timezone.utc) - timedelta(minutes=5)
    session.add_role("user")
    assert engine.persist_session(session, immediate=True)

    assert stored(engine.db, session.session_id) is not None
    assert make_engine(session_timeout=60, db=engine.db).recover_session(session.session_id) is None


def test_recover_returns_the_full_state(make_engine: MakeEngine) -> None:
    writer = make_engine()
    original = rich_session()
    assert writer.persist_session(original, immediate=True)

    recovered = make_engine(db=writer.db).recover_session(original.session_id)

    assert recovered is not None and recovered is not original
    assert recovered.to_dict() == original.to_dict()
    assert recovered.user_id == "ada"
    assert recovered.current_page == "settings"
    assert [e.page for e in recovered.navigation_history] == ["home", "profile", "settings"]
    assert recovered.navigation_history[1].params == {"tab": "edit"}
    form = recovered.get_form_state("contact")
    assert dict(form.data) == {"name": "Ada L", "email": "ada@example.org", "tags": ["a", "b"]}
    assert form.errors == {"email": ["check it"]}
    assert recovered.dirty_forms == {"contact"}
    assert [s.description for s in recovered.form_snapshots("contact")] == ["before phone"]
    assert recovered.can_undo("contact") and recovered.can_redo("contact") is False
    assert recovered.roles == {"admin", "user"}
    assert recovered.permissions == {"read", "write"}
    assert recovered.metrics.page_views == original.metrics.page_views == 3
    assert recovered.metrics.interaction_count == original.metrics.interaction_count
    assert recovered.metrics.last_activity == original.metrics.last_activity
    assert recovered.cache_keys == {"user_data_1", "profile_1"}
    assert recovered.revision == original.revision
    assert recovered.undo_form("contact")
    assert recovered.get_form_state("contact").data["name"] == "Ada"


def test_recover_sees_changes_not_yet_written(make_engine: MakeEngine) -> None:
    engine = make_engine(debounce_delay=3600)
    session = UserSession()
    session.update_form_data("form", "field", "typed")
    engine.persist_session(session)

    assert stored(engine.db, session.session_id) is None
    recovered = engine.recover_session(session.session_id)
    assert recovered is not None
    assert recovered.get_form_state("form").data["field"] == "typed"


def test_recover_prefers_unwritten_changes_over_the_stored_row(make_engine: MakeEngine) -> None:
    engine = make_engine(debounce_delay=3600)
    session = UserSession()
    session.update_form_data("form", "field", "stored")
    assert engine.persist_session(session, immediate=True)
    session.update_form_data("form", "field", "newer")
    engine.persist_session(session)

    recovered = engine.recover_session(session.session_id)
    assert recovered is not None
    assert recovered.get_form_state("form").data["field"] == "newer"


def test_recover_user_sessions_returns_the_live_sessions_of_that_user(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(debounce_delay=3600, session_timeout=600)
    mine = [UserSession(user_id="ada") for _ in range(3)]
    expired = UserSession(user_id="ada")
    expired.metrics.last_activity = datetime.now(timezone.utc) - timedelta(hours=1)
    theirs = UserSession(user_id="bob")
    for session in [*mine[:2], expired, theirs]:
        assert engine.persist_session(session, immediate=True)
    engine.persist_session(mine[2])  # pending only

    found = engine.recover_user_sessions("ada")
    assert {s.session_id for s in found} == {s.session_id for s in mine}
    assert engine.recover_user_sessions("nobody") == []


def test_an_unsupported_stored_schema_recovers_as_none_with_a_warning(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()
    session = UserSession()
    assert engine.persist_session(session, immediate=True)
    future = {**session.to_dict(), "schema": 99}
    with engine.db.write() as connection:
        connection.execute(
            update(sessions).where(sessions.c.session_id == session.session_id).values(state=future)
        )

    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        assert make_engine(db=engine.db).recover_session(session.session_id) is None
    assert any("schema" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_a_damaged_stored_state_recovers_as_none_with_a_warning(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()
    session = UserSession()
    assert engine.persist_session(session, immediate=True)
    with engine.db.write() as connection:
        connection.execute(
            update(sessions)
            .where(sessions.c.session_id == session.session_id)
            .values(state={"schema": 1, "changes": "not a list"})
        )
    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        assert make_engine(db=engine.db).recover_session(session.session_id) is None
    assert caplog.records


def test_stored_text_that_is_not_json_recovers_as_none_with_a_warning(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()
    if engine.db.dialect != "sqlite":
        pytest.skip("PostgreSQL's json type refuses such text already")
    session = UserSession()
    assert engine.persist_session(session, immediate=True)
    with engine.db.write() as connection:
        connection.execute(
            text("UPDATE stsg_sessions SET state = '{not json' WHERE session_id = :id"),
            {"id": session.session_id},
        )
    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        assert make_engine(db=engine.db).recover_session(session.session_id) is None
    assert any("JSON" in r.getMessage() for r in caplog.records)


# -- revisions and server-owned rows ---------------------------------------


def test_server_owned_rows_are_written_from_the_session(make_engine: MakeEngine) -> None:
    engine = make_engine()
    session = rich_session()
    assert engine.persist_session(session, immediate=True)
    role_names, permission_names, counters = child_rows(engine.db, session.session_id)
    assert role_names == {"admin", "user"}
    assert permission_names == {"read", "write"}
    assert counters.page_views == 3
    assert counters.interaction_count == session.metrics.interaction_count
    assert counters.last_activity == session.metrics.last_activity

    session.remove_role("admin")
    session.remove_permission("write")
    assert engine.persist_session(session, immediate=True)
    role_names, permission_names, _ = child_rows(engine.db, session.session_id)
    assert (role_names, permission_names) == ({"user"}, {"read"})

    row = stored(engine.db, session.session_id)
    assert row.user_id == "ada"
    assert row.expires_at == session.metrics.last_activity + timedelta(seconds=3600)
    assert row.created_at == session.created_at
    assert row.schema_version == SCHEMA_VERSION


def test_an_older_revision_is_ignored_and_leaves_server_owned_rows_alone(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    newer = UserSession(session_id="a" * 64)
    newer.add_role("newer")
    newer.update_form_data("form", "field", "newer")
    older = UserSession.from_dict({**newer.to_dict(), "revision": newer.revision - 1000})
    older.remove_role("newer")
    older.add_role("older")
    older.revision = newer.revision - 1000
    assert engine.persist_session(newer, immediate=True)

    assert make_engine(db=engine.db).persist_session(older, immediate=True)
    assert stored(engine.db, newer.session_id).revision == newer.revision
    assert child_rows(engine.db, newer.session_id)[0] == {"newer"}


def test_in_one_batch_only_the_newer_sessions_replace_theirs_and_bring_their_roles(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    stored_first = [UserSession(session_id=f"{index:064d}") for index in range(6)]
    for session in stored_first:
        session.add_role("first")
        engine.persist_session(session)
    assert engine.flush_all() == 6

    later = make_engine(db=engine.db)
    for index, session in enumerate(stored_first):
        copy = UserSession.from_dict(session.to_dict())
        copy.remove_role("first")
        copy.add_role("second")
        copy.revision = session.revision + (1 if index % 2 else -1)
        later.persist_session(copy)
    assert later.flush_all() == 6

    for index, session in enumerate(stored_first):
        newer = index % 2 == 1
        assert stored(engine.db, session.session_id).revision == session.revision + (1 if newer else 0)
        assert child_rows(engine.db, session.session_id)[0] == ({"second"} if newer else {"first"})


@contextlib.contextmanager
def driver_steps(engine: SessionPersistenceEngine, most: int) -> Iterator[None]:
    """Assert that the block sends the driver at most ``most`` statements, none stepped per row.

    Each statement or row the driver steps through gives up the GIL and must
    win it back, which takes up to 5 ms while the app's threads run Python: a
    statement, or a returned row, per session made 1,000 of them take seconds
    beside a busy thread (bench/upsert_throughput.py).
    """
    engine.db.ensure_schema()
    calls: list[tuple[str, bool]] = []

    def count(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any,
              executemany: bool) -> None:
        calls.append((statement, executemany))

    event.listen(engine.db.engine, "before_cursor_execute", count)
    try:
        yield
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", count)
    assert len(calls) <= most, [statement[:60] for statement, _ in calls]
    if engine.db.dialect == "sqlite":  # PostgreSQL sends all of a statement's rows in one reply
        assert not any(executemany for _, executemany in calls)
        assert not any("RETURNING" in statement for statement, _ in calls)


def test_a_batch_costs_the_driver_a_few_statements_however_many_sessions_it_holds(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(debounce_delay=3600)
    with driver_steps(engine, most=12):
        for _ in range(1000):
            session = UserSession()
            session.add_role("user")
            session.add_permission("read")
            engine.persist_session(session)
        assert engine.flush_all() == 1000

    assert count_rows(engine.db, roles) == count_rows(engine.db, permissions) == 1000


WRITER = textwrap.dedent(
    """
    import sys
    from st_session_guard.persistence import SessionPersistenceEngine
    from st_session_guard.session import UserSession

    url, session_id, label, *revisions = sys.argv[1:]
    engine = SessionPersistenceEngine(debounce_delay=3600, session_timeout=3600, database_url=url)
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for revision in map(int, revisions):
        session = UserSession(session_id=session_id)
        session.update_form_data("form", "field", f"{label}-{revision}")
        session.add_role(f"{label}-{revision}")
        session.revision = revision
        assert engine.persist_session(session, immediate=True)
    engine.close()
    """
)


def run_writers(database_url: str, session_id: str, plans: dict[str, list[int]]) -> None:
    """Run one process per plan, each writing its revisions in order, all released at once."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, database_url, session_id, label, *map(str, revisions)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for label, revisions in plans.items()
    ]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready", (
            process.stderr.read() if process.stderr else ""
        )
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err


def test_an_older_revision_never_replaces_a_newer_one_across_two_processes(
    database_url: str, db: DatabaseManager
) -> None:
    session_id = "b" * 64
    db.ensure_schema()
    newest = 10_199
    run_writers(
        database_url,
        session_id,
        {
            "up": list(range(10_000, newest, 2)),  # climbs towards the newest
            "down": list(range(newest, 10_000, -2)),  # writes the newest first
        },
    )
    row = stored(db, session_id)
    assert row.revision == newest
    assert UserSession.from_dict(row.state).get_form_state("form").data["field"] == f"down-{newest}"
    assert child_rows(db, session_id)[0] == {f"down-{newest}"}


def test_process_exit_writes_what_is_pending(database_url: str, db: DatabaseManager) -> None:
    script = textwrap.dedent(
        """
        import sys
        from st_session_guard.persistence import SessionPersistenceEngine
        from st_session_guard.session import UserSession

        engine = SessionPersistenceEngine(debounce_delay=3600, database_url=sys.argv[1])
        session = UserSession(session_id=sys.argv[2])
        session.update_form_data("form", "field", "written at exit")
        engine.persist_session(session)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-c", script, database_url, "c" * 64], check=True, env=env, timeout=120
    )
    assert field_value(db, "c" * 64, "form", "field") == "written at exit"


# -- outages ---------------------------------------------------------------


def test_a_database_outage_never_reaches_the_caller_and_pending_state_lands_after_it(
    make_engine: MakeEngine,
    make_db: Callable[..., DatabaseManager],
    outage: Outage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="st_session_guard")
    engine = make_engine(db=make_db(outage.url, **outage.busy_options()), debounce_delay=0.05)
    early = UserSession()
    early.update_form_data("form", "field", "before")
    assert engine.persist_session(early, immediate=True)
    assert engine.health_check()

    outage.start()
    early.update_form_data("form", "field", "during")
    engine.persist_session(early)
    later = [UserSession() for _ in range(3)]
    for n, session in enumerate(later):
        session.update_form_data("form", "n", n)
        engine.persist_session(session)
    urgent = UserSession()
    urgent.update_form_data("form", "field", "urgent")
    assert engine.persist_session(urgent, immediate=True) is False

    wait_until(lambda: engine.failures >= 3, what="several failed attempts")
    assert engine.health_check() is False
    early.update_form_data("form", "field", "merged")  # a newer change while still down
    engine.persist_session(early)
    recovered = engine.recover_session(early.session_id)
    assert recovered is not None and recovered.get_form_state("form").data["field"] == "merged"
    assert engine.pending_count == 5

    outage.stop()
    wait_until(lambda: engine.pending_count == 0, what="the pending sessions to land")
    assert engine.health_check() is True

    reader = make_db()
    assert field_value(reader, early.session_id, "form", "field") == "merged"
    assert field_value(reader, urgent.session_id, "form", "field") == "urgent"
    for n, session in enumerate(later):
        assert field_value(reader, session.session_id, "form", "n") == n
    outage_warnings = [r for r in caplog.records if "cannot write sessions" in r.getMessage()]
    assert len(outage_warnings) == 1


def test_retries_back_off_exponentially_up_to_the_maximum(
    make_engine: MakeEngine, make_db: Callable[..., DatabaseManager], outage: Outage
) -> None:
    engine = make_engine(
        db=make_db(outage.url, **outage.busy_options()),
        debounce_delay=0.0,
        retry_initial=0.1,
        retry_max=0.4,
    )
    assert engine.persist_session(UserSession(), immediate=True)
    outage.start()
    engine.persist_session(UserSession())
    wait_until(lambda: engine.failures >= 5, timeout=30)
    assert engine.retry_delay == pytest.approx(0.4)
    outage.stop()
    wait_until(lambda: engine.pending_count == 0)
    assert engine.retry_delay == pytest.approx(0.1)


# -- removal ---------------------------------------------------------------


def age(session: UserSession, *, days: float) -> UserSession:
    session.metrics.last_activity = datetime.now(timezone.utc) - timedelta(days=days)
    return session


def test_expired_sessions_are_removed_and_counted_and_live_ones_kept(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(session_timeout=86_400)
    engine.cleanup_batch = 4  # several batches
    expired = [age(rich_session(), days=2) for _ in range(10)]
    live = [rich_session() for _ in range(3)]
    for session in [*expired, *live]:
        engine.persist_session(session)
    assert engine.flush_all() == 13

    assert engine.cleanup_expired_sessions() == 10
    assert engine.cleanup_expired_sessions() == 0
    for session in expired:
        assert stored(engine.db, session.session_id) is None
        assert child_rows(engine.db, session.session_id) == (set(), set(), None)
    for session in live:
        assert engine.recover_session(session.session_id) is not None
        assert child_rows(engine.db, session.session_id)[0] == {"admin", "user"}
    assert count_rows(engine.db, roles) == 6
    assert count_rows(engine.db, metrics) == 3


def test_inactive_sessions_are_removed_and_counted_even_before_they_expire(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(session_timeout=30 * 86_400)
    idle = [age(rich_session(), days=8) for _ in range(4)]
    recent = [age(rich_session(), days=2) for _ in range(2)]
    for session in [*idle, *recent]:
        engine.persist_session(session)
    engine.flush_all()

    assert engine.cleanup_expired_sessions() == 0
    assert engine.cleanup_inactive_sessions(inactive_days=7) == 4
    assert {r for r in (stored(engine.db, s.session_id) for s in idle) if r} == set()
    assert all(stored(engine.db, s.session_id) for s in recent)
    assert count_rows(engine.db, permissions) == 4


def test_cleanup_drops_matching_pending_sessions(make_engine: MakeEngine) -> None:
    engine = make_engine(debounce_delay=3600, session_timeout=60)
    stale, fresh = age(UserSession(), days=1), UserSession()
    engine.persist_session(stale)
    engine.persist_session(fresh)
    engine.cleanup_expired_sessions()
    assert engine.pending_count == 1
    assert engine.flush_all() == 1
    assert stored(engine.db, stale.session_id) is None


class HeldSession(UserSession):
    """A session whose serialising, once held, waits: a write that took it stays under way."""

    def __init__(self) -> None:
        super().__init__()
        self.held = False
        self.reached = threading.Event()
        self.release = threading.Event()

    def to_stored(self) -> StoredState:
        if self.held:
            self.reached.set()
            self.release.wait(30)
        return super().to_stored()


def test_a_write_taken_before_a_cleanup_does_not_bring_back_what_it_removed(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(session_timeout=86_400, debounce_delay=3600)
    engine.cleanup_batch = 4
    expired = [age(rich_session(), days=2) for _ in range(10)]
    live = rich_session()
    held = HeldSession()
    for session in [*expired, live, held]:  # stored, and pending again
        engine.persist_session(session, immediate=True)
        engine.persist_session(session)
    held.held = True
    flushed: list[int] = []
    writer = threading.Thread(target=lambda: flushed.append(engine.flush_all()), daemon=True)
    writer.start()  # takes all twelve, then waits on `held`
    assert held.reached.wait(10)

    assert engine.cleanup_expired_sessions() == 10
    held.release.set()
    writer.join(10)

    assert flushed == [12]
    assert engine.cleanup_expired_sessions() == 0
    for session in expired:
        assert stored(engine.db, session.session_id) is None
        assert child_rows(engine.db, session.session_id) == (set(), set(), None)
    assert stored(engine.db, live.session_id) is not None
    assert stored(engine.db, held.session_id) is not None


def test_a_cleanup_keeps_the_pending_write_of_a_session_live_here(make_engine: MakeEngine) -> None:
    engine = make_engine(session_timeout=86_400, debounce_delay=3600)
    session = age(rich_session(), days=2)
    engine.persist_session(session, immediate=True)
    session.record_page_view()  # active again: its stored row is expired, its new state is not
    engine.persist_session(session)

    assert engine.cleanup_expired_sessions() == 1
    assert engine.flush_all() == 1
    assert engine.recover_session(session.session_id) is not None
    assert stored(engine.db, session.session_id).revision == session.revision


def test_delete_session_removes_the_row_its_server_owned_rows_and_pending_changes(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(debounce_delay=3600)
    session = rich_session()
    assert engine.persist_session(session, immediate=True)
    session.update_form_data("contact", "name", "pending")
    engine.persist_session(session)

    assert engine.delete_session(session.session_id) is True
    assert engine.pending_count == 0
    assert stored(engine.db, session.session_id) is None
    assert child_rows(engine.db, session.session_id) == (set(), set(), None)
    assert engine.recover_session(session.session_id) is None
    assert engine.delete_session(session.session_id) is False


def test_cleanup_reads_no_more_than_a_batch_at_a_time(make_engine: MakeEngine) -> None:
    engine = make_engine(session_timeout=60)
    engine.cleanup_batch = 50
    past = datetime.now(timezone.utc) - timedelta(days=1)
    rows = [
        {
            "session_id": f"{n:064x}",
            "user_id": None,
            "state": {"schema": 1},
            "revision": 1,
            "schema_version": 1,
            "created_at": past,
            "last_activity": past,
            "expires_at": past,
        }
        for n in range(333)
    ]
    with engine.db.write() as connection:
        connection.execute(insert(sessions), rows)
    assert engine.cleanup_expired_sessions() == 333
    assert count_rows(engine.db, sessions) == 0


def test_a_cleanup_batch_costs_the_driver_a_few_statements_however_many_rows_it_deletes(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(session_timeout=86_400, debounce_delay=3600)  # all pending until flushed
    for _ in range(1000):
        engine.persist_session(age(rich_session(), days=2))
    engine.persist_session(rich_session())
    assert engine.flush_all() == 1001

    with driver_steps(engine, most=12):
        assert engine.cleanup_expired_sessions() == 1000

    assert count_rows(engine.db, sessions) == count_rows(engine.db, metrics) == 1
    assert count_rows(engine.db, roles) == 2


def test_a_state_json_cannot_hold_is_stored_in_a_readable_form(make_engine: MakeEngine) -> None:
    engine = make_engine()
    session = UserSession()
    session.update_form_data("form", "when", datetime(2024, 5, 1, tzinfo=timezone.utc))
    with pytest.raises(TypeError):  # refused at the call, not stored as something else
        session.update_form_data("form", "set", {3, 1, 2})
    assert engine.persist_session(session, immediate=True)
    data = UserSession.from_dict(stored(engine.db, session.session_id).state).get_form_state("form")
    assert data.data == {"when": datetime(2024, 5, 1, tzinfo=timezone.utc)}
    json.dumps(stored(engine.db, session.session_id).state)
