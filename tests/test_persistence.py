"""The write-behind engine, on SQLite and PostgreSQL: debouncing, batching, recovery of what is
pending, outages and backoff, exit flush, and removals that writes under way cannot undo."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import Outage
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from support import age, child_rows, refused_session_writes, rich_session, stored, wait_until

from st_session_guard import queries
from st_session_guard.database import DatabaseManager
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.session import StoredState, UserSession

MakeEngine = Callable[..., SessionPersistenceEngine]
REPO = Path(__file__).resolve().parents[1]


def field_value(db: DatabaseManager, session_id: str, form: str, name: str) -> Any:
    row = stored(db, session_id)
    assert row is not None, "no stored row"
    return UserSession.from_dict(row.state).get_form_state(form).data.get(name)


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


def test_a_session_due_within_a_tenth_of_the_window_joins_the_write_due_now(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(debounce_delay=6.0)  # the write gathers what falls due in the next 0.6 s
    first, second = UserSession(), UserSession()
    first.update_form_data("form", "field", "first")
    engine.persist_session(first)
    started = time.monotonic()
    time.sleep(0.15)  # the gap under test: one session falls due 0.15 s after the other
    second.update_form_data("form", "field", "second")
    engine.persist_session(second)
    assert time.monotonic() - started < 0.6, "the second change came too late to test gathering"

    wait_until(lambda: engine.pending_count == 0, timeout=30, what="the debounced write")
    assert engine.writes == 1, "the session due 0.15 s later was written on its own"
    assert field_value(engine.db, second.session_id, "form", "field") == "second"


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



def test_an_id_is_known_once_pending_or_stored_even_when_expired(make_engine: MakeEngine) -> None:
    engine = make_engine(debounce_delay=3600)
    session = age(rich_session(), days=2)
    assert engine.is_known(session.session_id) is False
    engine.persist_session(session)
    assert engine.is_known(session.session_id) is True
    engine.flush_all()
    assert engine.recover_session(session.session_id) is None
    assert engine.is_known(session.session_id) is True




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


# -- process exit ------------------------------------------------------------








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


def test_a_flush_of_several_batches_that_fails_leaves_no_thread_and_lands_whole_later(
    make_engine: MakeEngine, make_db: Callable[..., DatabaseManager], outage: Outage,
) -> None:
    engine = make_engine(db=make_db(outage.url, **outage.busy_options()), debounce_delay=3600)
    engine.db.ensure_schema()
    engine.write_batch = 2  # each batch after the first is serialised while the one before commits
    made = [UserSession() for _ in range(7)]
    for n, session in enumerate(made):
        session.update_form_data("form", "n", n)
        engine.persist_session(session)

    def serialising() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "st-session-guard-serialise"]

    outage.start()
    assert engine.flush_all() == 0
    wait_until(lambda: serialising() == [], 10, "the serialising thread of the next batch to end")
    outage.stop()

    assert engine.flush_all() == len(made)
    wait_until(lambda: serialising() == [], 10, "every serialising thread to end")
    assert [field_value(engine.db, s.session_id, "form", "n") for s in made] == list(range(7))


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




def test_expire_session_ends_it_now_and_a_pending_write_does_not_revive_it(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(debounce_delay=3600)
    session = UserSession("ada")
    assert engine.persist_session(session, immediate=True)
    session.update_form_data("f", "x", "unwritten")
    engine.persist_session(session)  # pending, due in an hour

    assert engine.expire_session(session.session_id) is True

    assert engine.recover_session(session.session_id) is None
    assert engine.flush_all() == 0
    assert stored(engine.db, session.session_id).expires_at <= datetime.now(timezone.utc)
    assert queries.store_stats(engine.db).expired == 1
    assert engine.expire_session(session.session_id) is False
    assert engine.expire_session("f" * 64) is False


def test_an_ended_id_stays_known_after_the_cleanup_that_removes_its_row(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(debounce_delay=3600)
    session = rich_session()
    assert engine.persist_session(session, immediate=True)
    never_stored = UserSession()
    engine.persist_session(never_stored)

    assert engine.expire_session(session.session_id) is True
    assert engine.expire_session(never_stored.session_id) is False
    assert engine.cleanup_expired_sessions() == 1
    assert engine.cleanup_inactive_sessions(inactive_days=0.0001) == 0

    assert stored(engine.db, session.session_id) is None
    assert engine.is_known(session.session_id) is True
    assert engine.is_known(never_stored.session_id) is True
    assert engine.recover_session(session.session_id) is None


# -- health ----------------------------------------------------------------------


def test_health_is_false_from_a_failed_write_until_a_write_lands(make_engine: MakeEngine) -> None:
    engine = make_engine()
    assert engine.persist_session(UserSession(), immediate=True)
    assert engine.health_check() is True

    with refused_session_writes(engine.db):
        session = UserSession()
        assert engine.persist_session(session, immediate=True) is False
        wait_until(lambda: engine.failures >= 2, what="a retry that fails as well")
        assert engine.health_check() is False
        assert engine.db.health_check() is False
        assert engine.db.health_check(probe=True) is False

    wait_until(lambda: engine.pending_count == 0, what="the pending session to land")
    assert engine.health_check() is True
    assert stored(engine.db, session.session_id) is not None


def test_a_full_sqlite_disk_keeps_health_false_until_the_sessions_land(
    make_engine: MakeEngine, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("a page limit is SQLite's way to fill a disk")
    engine = make_engine()
    assert engine.persist_session(UserSession(), immediate=True)
    with engine.db.read() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
    limit: list[int] = [pages]

    @event.listens_for(engine.db.engine, "connect")
    def full_disk(dbapi_connection: Any, _record: Any) -> None:
        if limit:
            dbapi_connection.execute(f"PRAGMA max_page_count = {limit[0]}")

    engine.db.engine.dispose()
    big = UserSession()
    big.update_form_data("form", "text", "x" * 200_000)
    assert engine.persist_session(big, immediate=True) is False
    assert engine.health_check() is False
    assert engine.health_check() is False

    limit.clear()
    engine.db.engine.dispose()
    wait_until(lambda: engine.pending_count == 0, what="the session to land")
    assert engine.health_check() is True
    assert field_value(engine.db, big.session_id, "form", "text") == "x" * 200_000


def test_a_deleted_sqlite_file_is_made_again_with_the_pending_sessions_in_it(
    make_engine: MakeEngine, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("only SQLite keeps the database in a file of its own")
    engine = make_engine(debounce_delay=3600)
    assert engine.persist_session(UserSession(), immediate=True)
    pending = UserSession()
    pending.update_form_data("form", "field", "kept")
    engine.persist_session(pending)
    path = Path(make_url(database_url).database or "")
    for leftover in path.parent.iterdir():
        leftover.unlink()

    assert engine.flush_all() == 1

    assert path.exists()
    assert field_value(DatabaseManager(database_url), pending.session_id, "form", "field") == "kept"
    assert engine.health_check() is True


# -- several servers -------------------------------------------------------------


def test_two_servers_editing_one_session_keep_each_others_newest_fields(
    make_engine: MakeEngine,
) -> None:
    on_server_a, on_server_b = make_engine(), make_engine()
    mine = UserSession()
    mine.update_form_data("profile", "name", "first")
    assert on_server_a.persist_session(mine, immediate=True)
    theirs = on_server_b.recover_session(mine.session_id)
    assert theirs is not None

    mine.update_form_data("profile", "name", "Ada")
    assert on_server_a.persist_session(mine, immediate=True)
    theirs.update_form_data("profile", "email", "ada@example.org")
    assert on_server_b.persist_session(theirs, immediate=True)
    mine.update_form_data("profile", "bio", "Mathematician")
    assert on_server_a.persist_session(mine, immediate=True)

    for engine in (on_server_a, on_server_b):
        recovered = make_engine(db=engine.db).recover_session(mine.session_id)
        assert recovered is not None
        assert dict(recovered.get_form_state("profile").data) == {
            "name": "Ada", "email": "ada@example.org", "bio": "Mathematician",
        }
