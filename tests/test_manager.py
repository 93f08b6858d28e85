"""Which session a tab gets: for the id its cookie (or the app) names, after a logout or a login,
and after its session ended in another tab of the browser (SQLite; real AppTest runs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from streamlit.testing.v1 import AppTest

from st_session_guard.component import GUARD_KEY
from st_session_guard.config import settings
from st_session_guard.connection import CONNECTION_KEY, Connection
from st_session_guard.cookies import session_cookie
from st_session_guard.manager import _open_session
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.session import UserSession, new_session_id


def test_a_signed_id_never_stored_keeps_its_id_on_the_default_page_with_no_revisions(
    engine: SessionPersistenceEngine,
) -> None:
    session_id = new_session_id()  # the server died before its first write of it
    session = _open_session(session_id, "ada", "dashboard", signed=True)
    assert session.session_id == session_id
    assert session.current_page == "dashboard"
    assert session.user_id == "ada"
    assert session.changes_since(0) == []  # every path the mirror holds is newer


def test_a_signed_id_whose_row_expired_gets_a_new_id(engine: SessionPersistenceEngine) -> None:
    old = UserSession("ada")
    old.metrics.last_activity = datetime.now(timezone.utc) - timedelta(hours=2)
    engine.persist_session(old, immediate=True)
    session = _open_session(old.session_id, "ada", "home", signed=True)
    assert session.session_id != old.session_id


def test_an_unsigned_id_never_stored_gets_a_new_id_on_the_default_page(
    engine: SessionPersistenceEngine,
) -> None:
    planted = new_session_id()
    session = _open_session(planted, None, "start")
    assert session.session_id != planted
    assert session.current_page == "start"


# -- logout, login and the other tabs of a browser (real AppTest runs) ----------------

ACCOUNT = """
import streamlit as st
import st_session_guard as sg
session = sg.bootstrap_session({session_id!r})
sg.text_input("Name", key="name", form_id="profile")
sg.number_input("Age", min_value=0, value=30, key="age", form_id="profile")
if st.button("Log in", key="login"):
    session = sg.rotate_session_id()
    st.rerun()
if st.button("Log out", key="logout"):
    sg.get_session_manager().cleanup_session()
    st.rerun()
st.session_state["sid"] = session.session_id
"""


@pytest.fixture
def signed(engine: SessionPersistenceEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Cookies signed with a secret of the test's own."""
    monkeypatch.setenv("SESSION_GUARD_SECRET", "test-secret")
    settings.cache_clear()
    yield
    settings.cache_clear()


def tab(session_id: str | None = None) -> AppTest:
    app = AppTest.from_string(ACCOUNT.format(session_id=session_id), default_timeout=30).run()
    assert not app.exception, app.exception
    return app


def run_with_message(app: AppTest, message: dict[str, object]) -> AppTest:
    """A run carrying a message of the guard's, as its rerun delivers one."""
    app.session_state[GUARD_KEY] = message
    app.run()
    assert not app.exception, app.exception
    return app


def edited_tab(engine: SessionPersistenceEngine) -> tuple[AppTest, str]:
    app = tab()
    app.text_input(key="name").input("Ada").run()
    app.number_input(key="age").set_value(41).run()
    engine.flush_all()
    return app, app.session_state["sid"]


def connection_of(app: AppTest) -> Connection:
    connection = app.session_state[CONNECTION_KEY]
    assert isinstance(connection, Connection)
    return connection


def test_logout_shows_every_wrapped_widget_its_default_and_the_next_session_holds_none_of_it(
    engine: SessionPersistenceEngine, signed: None
) -> None:
    app, old = edited_tab(engine)
    app.button(key="logout").click().run()

    assert app.session_state["sid"] != old
    assert app.text_input(key="name").value == ""
    assert app.number_input(key="age").value == 30
    assert app.text_input(key="name").proto.set_value  # the browser is told, not left showing "Ada"
    app.run()
    engine.flush_all()
    fresh = engine.recover_session(app.session_state["sid"])
    assert fresh is None or dict(fresh.get_form_state("profile").data) == {}
    assert engine.recover_session(old) is None
    assert connection_of(app).ended == [old]  # every frame deletes its mirror and drafts


def test_login_carries_the_values_to_a_new_id_and_the_tab_is_told_the_old_one_ended(
    engine: SessionPersistenceEngine, signed: None
) -> None:
    app, old = edited_tab(engine)
    app.button(key="login").click().run()

    new = app.session_state["sid"]
    assert new != old
    assert app.text_input(key="name").value == "Ada"
    assert app.number_input(key="age").value == 41
    assert connection_of(app).ended == [old]
    cookie = connection_of(app).cookie
    assert cookie is not None and cookie["value"].startswith(f"{new}.")
    assert engine.recover_session(old) is None


def test_a_tab_whose_session_ended_in_another_tab_follows_the_live_session_its_cookie_names(
    engine: SessionPersistenceEngine, signed: None
) -> None:
    first, old = edited_tab(engine)
    second = tab(old)
    first.button(key="login").click().run()
    new = first.session_state["sid"]

    token = session_cookie(new)["value"]
    follow = {"v": 1, "seq": 1, "type": "follow", "session_id": old, "revision": 0, "token": token}
    run_with_message(second, follow)

    assert second.session_state["sid"] == new
    assert second.text_input(key="name").value == "Ada"
    assert old in connection_of(second).ended


def test_a_tab_holding_the_id_before_a_login_gets_no_part_of_it_without_the_new_cookie(
    engine: SessionPersistenceEngine, signed: None
) -> None:
    """An id planted before a login (session fixation) is worth nothing after it,
    also to a tab that had it open: only the browser's new cookie leads on."""
    first, old = edited_tab(engine)
    planted = tab(old)
    first.button(key="login").click().run()
    new = first.session_state["sid"]

    forged = f"{new}.{int(time.time())}.{'A' * 43}"
    run_with_message(planted, {"v": 1, "seq": 1, "type": "follow", "session_id": old, "revision": 0,
                               "token": forged})

    assert planted.session_state["sid"] not in (old, new)
    assert planted.text_input(key="name").value == ""
    assert planted.number_input(key="age").value == 30
