"""Two servers on one database: what server A writes or ends reaches server B's live sessions
by their next run, through ``NOTIFY`` on PostgreSQL and the notice table on SQLite, without B
reading the database every run; and by B's next page load of the session.

This process plays server B (its process-wide engine, ``live_sessions`` and
listener); server A is a second engine on a manager of its own, so its
notices carry another origin, as another process's would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from support import Outage

from st_session_guard import notice_listener
from st_session_guard.clock import now_ms
from st_session_guard.connection import Connection
from st_session_guard.database import DatabaseManager, configure_database
from st_session_guard.live_sessions import LiveSessions
from st_session_guard.manager import _open_session, catch_up, current_session
from st_session_guard.notice_listener import Poller, notice_handlers
from st_session_guard.notice_poller import NoDatabaseFile, NoticeReader
from st_session_guard.notices import KEPT_NOTICES, announce
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.session import UserSession
from st_session_guard.session_persistence import configure_persistence
from st_session_guard.testing import wait_until

FIELD = ("forms", "f", "x")
ON_POSTGRESQL = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
"""For what only PostgreSQL has: a listening connection that can be cut."""
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def serve_as_b() -> Iterator[Callable[[str], SessionPersistenceEngine]]:
    """Make this process server B on ``url``: its engine writes only when told."""
    engines: list[SessionPersistenceEngine] = []

    def serve(url: str) -> SessionPersistenceEngine:
        configure_database(url, connect_timeout=1)
        engines.append(configure_persistence(debounce_delay=3600, session_timeout=3600))
        return engines[-1]

    yield serve
    notice_listener.stop_listening()
    for engine in engines:
        engine.close(timeout=5)


@pytest.fixture
def server_a(database_url: str) -> Iterator[SessionPersistenceEngine]:
    engine = SessionPersistenceEngine(
        db=DatabaseManager(database_url, connect_timeout=2), debounce_delay=3600, session_timeout=3600
    )
    yield engine
    engine.close(timeout=5)
    engine.db.dispose()


def value(session: UserSession, name: str = "x") -> object:
    return session.get_form_state("f").data.get(name)


def opened_on_b(server_a: SessionPersistenceEngine) -> tuple[UserSession, Connection, UserSession]:
    """A session stored by A, then opened by a tab on B, whose listener is up: A's copy, B's
    tab and B's live copy."""
    on_a = UserSession("ada")
    on_a.update_form_data("f", "x", "first")
    assert server_a.persist_session(on_a, immediate=True)
    tab = Connection(on_a.session_id)
    on_b = current_session(tab)
    assert on_b is not on_a and value(on_b) == "first"
    wait_until(lambda: (heard := notice_listener.listener()) and heard.listening.is_set(),
               what="B listening")
    return on_a, tab, on_b


def test_an_edit_stored_on_another_server_reaches_the_same_live_session_by_its_next_run(
    database_url: str, serve_as_b: Callable[[str], SessionPersistenceEngine],
    server_a: SessionPersistenceEngine,
) -> None:
    serve_as_b(database_url)
    on_a, tab, on_b = opened_on_b(server_a)
    on_a.update_form_data("f", "x", "from A")
    assert server_a.persist_session(on_a, immediate=True)
    wait_until(lambda: value(current_session(tab)) == "from A", what="A's edit on B")
    assert current_session(tab) is on_b


def test_a_refresh_keeps_this_servers_newer_unwritten_edit_and_sends_the_tab_the_older_one(
    database_url: str, serve_as_b: Callable[[str], SessionPersistenceEngine],
    server_a: SessionPersistenceEngine,
) -> None:
    b = serve_as_b(database_url)
    on_a, tab, on_b = opened_on_b(server_a)
    on_a.update_form_data("f", "x", "x from A")
    on_a.update_form_data("f", "y", "y from A")
    wait_until(lambda: now_ms() > on_a.revision, what="a later millisecond")
    on_b.update_form_data("f", "y", "y from B")  # later than A's, and not written yet
    tab.sent_revision = on_b.revision  # the tab was sent all of it
    assert server_a.persist_session(on_a, immediate=True)
    wait_until(lambda: value(current_session(tab)) == "x from A", what="A's edit on B")
    assert value(on_b, "y") == "y from B"
    catch_up(tab, on_b)
    assert FIELD in {c.path for c in on_b.changes_since(tab.sent_revision)}, "the mirror misses x"
    assert b.flush_all() == 1
    stored = server_a.stored_session(on_a.session_id)
    assert stored is not None and (value(stored), value(stored, "y")) == ("x from A", "y from B")


def assert_b_let_it_go(b: SessionPersistenceEngine, tab: Connection, session_id: str, how: str) -> None:
    """B's tab leaves a session another server ``how`` (ended, deleted) by its next run, B never
    writes its unwritten copy back, and the session's cookie opens a new one on B."""
    wait_until(lambda: current_session(tab).session_id != session_id, what="B to drop it")
    assert tab.ended == [session_id]
    assert value(current_session(tab)) is None
    assert b.flush_all() == 0, f"B kept its unwritten copy of the {how} session"
    reload = _open_session(session_id, None, "home", signed=True)  # its cookie, on B
    assert reload.session_id != session_id


def test_a_session_ended_on_another_server_leaves_this_one_by_its_next_run(
    database_url: str, serve_as_b: Callable[[str], SessionPersistenceEngine],
    server_a: SessionPersistenceEngine,
) -> None:
    b = serve_as_b(database_url)
    on_a, tab, on_b = opened_on_b(server_a)
    on_b.update_form_data("f", "x", "typed on B")  # unwritten: must not bring it back
    assert server_a.expire_session(on_a.session_id)
    assert_b_let_it_go(b, tab, on_a.session_id, "ended")
    assert b.recover_session(on_a.session_id) is None


def test_a_session_another_servers_cleanup_deleted_leaves_this_one_by_its_next_run(
    database_url: str, serve_as_b: Callable[[str], SessionPersistenceEngine],
    server_a: SessionPersistenceEngine,
) -> None:
    b = serve_as_b(database_url)
    on_a, tab, on_b = opened_on_b(server_a)
    on_b.update_form_data("f", "x", "typed on B")  # unwritten: must not bring it back
    assert server_a.cleanup_inactive_sessions(inactive_days=0) == 1
    assert_b_let_it_go(b, tab, on_a.session_id, "deleted")


@ON_POSTGRESQL
def test_notices_missed_while_cut_off_make_every_live_session_read_again(
    database_url: str, outage: Outage, serve_as_b: Callable[[str], SessionPersistenceEngine],
    server_a: SessionPersistenceEngine,
) -> None:
    serve_as_b(outage.url)
    on_a, tab, on_b = opened_on_b(server_a)
    heard = notice_listener.listener()
    assert heard is not None
    outage.start()
    wait_until(lambda: not heard.listening.is_set(), what="the listener to notice the cut")
    on_a.update_form_data("f", "x", "while B was cut off")
    assert server_a.persist_session(on_a, immediate=True)
    outage.stop()
    wait_until(heard.listening.is_set, what="the listener back")
    assert value(current_session(tab)) == "while B was cut off"
    assert current_session(tab) is on_b


@ON_POSTGRESQL
def test_an_end_missed_while_cut_off_leaves_this_server_by_the_sessions_next_run(
    database_url: str, outage: Outage, serve_as_b: Callable[[str], SessionPersistenceEngine],
    server_a: SessionPersistenceEngine,
) -> None:
    b = serve_as_b(outage.url)
    on_a, tab, on_b = opened_on_b(server_a)
    heard = notice_listener.listener()
    assert heard is not None
    on_b.update_form_data("f", "x", "typed on B")  # unwritten: must not bring it back
    outage.start()
    wait_until(lambda: not heard.listening.is_set(), what="the listener to notice the cut")
    assert server_a.expire_session(on_a.session_id)
    outage.stop()
    wait_until(heard.listening.is_set, what="the listener back")
    assert current_session(tab).session_id != on_a.session_id
    assert tab.ended == [on_a.session_id]
    assert b.recover_session(on_a.session_id) is None


@ON_SQLITE
def test_notices_pruned_before_a_server_read_them_make_it_read_every_live_session_again(
    make_engine: Callable[..., SessionPersistenceEngine],
) -> None:
    a, b = make_engine(debounce_delay=3600), make_engine(debounce_delay=3600)
    on_a = UserSession("ada")
    on_a.update_form_data("f", "x", "first")
    assert a.persist_session(on_a, immediate=True)
    on_b = b.recover_session(on_a.session_id)
    assert on_b is not None
    live = LiveSessions()
    live.put(on_b)
    poller = Poller(b.db, *notice_handlers(b, live))  # B's poller, polled here in place of its thread
    reader = poller.open()
    on_a.update_form_data("f", "x", "from A")
    assert a.persist_session(on_a, immediate=True)
    with a.db.write() as connection:  # A's later writes push that notice out before B polls
        for n in range(KEPT_NOTICES):
            announce(connection, a.db.origin, {f"another-{n}": 1}, ())

    poller.poll(reader)
    reader.close()

    assert live.take_stale(on_b.session_id)


@ON_SQLITE
def test_a_server_hears_a_sqlite_file_made_again_under_it(
    database_url: str, make_engine: Callable[..., SessionPersistenceEngine],
) -> None:
    a, b = make_engine(debounce_delay=3600), make_engine(debounce_delay=3600)
    on_a = UserSession("ada")
    assert a.persist_session(on_a, immediate=True)
    on_b = b.recover_session(on_a.session_id)
    assert on_b is not None
    live = LiveSessions()
    live.put(on_b)
    hearing = Poller(b.db, *notice_handlers(b, live), retry_initial=0.05).start()
    try:
        wait_until(hearing.listening.is_set, what="B listening")
        for leftover in Path(make_url(database_url).database or "").parent.iterdir():
            leftover.unlink()  # the file deleted under both servers
        on_a.update_form_data("f", "x", "into the new file")
        assert a.persist_session(on_a, immediate=True)  # A makes the file again
        wait_until(lambda: live.take_stale(on_b.session_id), what="B to re-read its sessions")
        wait_until(hearing.listening.is_set, what="B listening to the new file")
        on_a.update_form_data("f", "x", "heard in the new file")
        assert a.persist_session(on_a, immediate=True)
        wait_until(lambda: live.take_stale(on_b.session_id), what="A's notice in the new file")
    finally:
        hearing.stop()


def test_a_page_load_merges_the_stored_copy_into_the_live_session_keeping_its_newer_edit(
    database_url: str, serve_as_b: Callable[[str], SessionPersistenceEngine],
    make_engine: Callable[..., SessionPersistenceEngine],
) -> None:
    serve_as_b(database_url)
    server_a = make_engine(debounce_delay=3600)  # a manager of its own on the same database
    on_a = UserSession("ada")
    on_a.update_form_data("f", "x", "first")
    assert server_a.persist_session(on_a, immediate=True)
    on_b = _open_session(on_a.session_id, None, "home", signed=True)
    on_a.update_form_data("f", "x", "x from A")
    on_a.update_form_data("f", "y", "y from A")
    wait_until(lambda: now_ms() > on_a.revision, what="a later millisecond")
    on_b.update_form_data("f", "y", "y from B")  # later than A's, and not written yet
    assert server_a.persist_session(on_a, immediate=True)

    again = _open_session(on_a.session_id, None, "home", signed=True)  # a reload lands on B

    assert again is on_b
    assert (value(on_b), value(on_b, "y")) == ("x from A", "y from B")


@ON_SQLITE
@pytest.mark.parametrize("found", ["no file", "an empty file"])  # the first write makes one, then the other
def test_a_new_apps_database_file_is_waited_for_without_a_warning_and_heard_once_made(
    database_url: str, make_engine: Callable[..., SessionPersistenceEngine],
    caplog: pytest.LogCaptureFixture, found: str,
) -> None:
    a, b = make_engine(debounce_delay=3600), make_engine(debounce_delay=3600)
    file = Path(make_url(database_url).database or "")
    assert not file.exists()
    if found == "an empty file":  # as between the first write's connect and its schema
        file.parent.mkdir(parents=True, exist_ok=True)
        file.touch()
    live = LiveSessions()
    on_b = UserSession("ada")
    live.put(on_b)
    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        hearing = Poller(b.db, *notice_handlers(b, live), retry_initial=0.05).start()
        try:
            on_a = UserSession("ada", session_id=on_b.session_id)
            assert a.persist_session(on_a, immediate=True)  # the first write makes the file
            wait_until(hearing.listening.is_set, what="B listening once the file is there")
            # what A wrote before B could listen is read again, as after any gap
            wait_until(lambda: live.take_stale(on_b.session_id), what="B to re-read its sessions")
            on_a.update_form_data("f", "x", "heard")
            assert a.persist_session(on_a, immediate=True)
            wait_until(lambda: live.take_stale(on_b.session_id), what="A's notice")
        finally:
            hearing.stop()
    assert caplog.records == []


@ON_SQLITE
def test_a_reader_of_a_file_without_its_notice_table_yet_waits_like_one_of_no_file(
    database_url: str, make_db: Callable[..., DatabaseManager],
) -> None:
    file = Path(make_url(database_url).database or "")
    db = make_db()
    with pytest.raises(NoDatabaseFile, match="no database file"):
        NoticeReader(db)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.touch()  # made by a first write's connect, before its schema
    with pytest.raises(NoDatabaseFile, match="no stsg_notices table"):
        NoticeReader(db)
    db.ensure_schema()
    NoticeReader(db).close()
