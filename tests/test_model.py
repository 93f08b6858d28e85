"""The database of record against a model: random histories of two servers, browsers, crashes,
logins, logouts and cleanups, on a SQLite file and on PostgreSQL, checked after every step."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from model_machine import SessionModel
from support import Outage

from st_session_guard.database import DatabaseManager, configure_database
from st_session_guard.manager import _open_session
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.session import UserSession, new_session_id
from st_session_guard.session_persistence import configure_persistence


def test_random_histories_lose_no_shown_edit_and_revive_no_ended_session(database_url: str) -> None:
    machine = type("Model", (SessionModel,), {"database_url": database_url})
    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=40, stateful_step_count=30,
                          suppress_health_check=[HealthCheck.too_slow]),
    )


def test_a_session_ended_on_one_server_stays_ended_when_another_server_writes_it(
    make_engine: Callable[..., SessionPersistenceEngine],
) -> None:
    a, b = make_engine(debounce_delay=3600), make_engine(debounce_delay=3600)
    session = UserSession()
    session.bind(a.persist_session)
    session.update_form_data("f", "a", "typed on a")
    a.flush_all()
    on_b = b.recover_session(session.session_id)
    assert on_b is not None
    on_b.bind(b.persist_session)
    on_b.update_form_data("f", "a", "typed on b, not yet written")

    assert a.expire_session(session.session_id)  # a logout on server a
    b.flush_all()

    assert a.recover_session(session.session_id) is None
    assert b.recover_session(session.session_id) is None


def test_a_page_load_while_the_database_is_down_keeps_the_signed_id_its_mirror_restores_into(
    database_url: str, outage: Outage,
) -> None:
    made = DatabaseManager(outage.direct_url)
    made.ensure_schema()
    made.dispose()
    session_id = new_session_id()  # signed; its server died before writing it
    outage.start()
    configure_database(outage.url, **outage.busy_options())  # the server restarts meanwhile
    engine = configure_persistence(debounce_delay=3600, session_timeout=3600)
    try:
        session = _open_session(session_id, None, "home", signed=True)
    finally:
        outage.stop()
        engine.close()
    assert session.session_id == session_id
