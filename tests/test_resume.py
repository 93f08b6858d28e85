"""``resume_user_session``: a user logging in on a second device continues their newest session.

Real script runs (AppTest) on a real engine, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from st_session_guard.database import configure_database
from st_session_guard.live_sessions import live_sessions
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.session import UserSession
from st_session_guard.session_persistence import configure_persistence

LOG_IN_AS_ADA = """
import streamlit as st
import st_session_guard as sg

before = sg.bootstrap_session()
after = sg.resume_user_session("ada")
st.text(before.session_id)
st.text(after.session_id)
"""


@pytest.fixture
def engine(database_url: str) -> Iterator[SessionPersistenceEngine]:
    configure_database(database_url)
    engine = configure_persistence(debounce_delay=3600, session_timeout=3600)
    yield engine
    engine.close()


def log_in_as_ada() -> tuple[str, str]:
    """The tab's session id before and after the login, from one fresh tab."""
    app = AppTest.from_string(LOG_IN_AS_ADA, default_timeout=30).run()
    assert not app.exception, app.exception
    before, after = (text.value for text in app.text)
    return before, after


def laptop_session(engine: SessionPersistenceEngine) -> UserSession:
    """Ada's session on another device, stored by another server: not live in this process."""
    laptop = UserSession(user_id="ada")
    laptop.navigate_to("checkout")
    laptop.update_form_data("address", "city", "London")
    laptop.update_form_data("address", "since", date(2020, 1, 1))
    laptop.storage.setdefault("messages", []).append({"role": "user", "content": "hello"})
    engine.persist_session(laptop, immediate=True)
    return laptop


def test_a_second_device_takes_up_the_users_session_under_a_fresh_id(
    engine: SessionPersistenceEngine,
) -> None:
    laptop = laptop_session(engine)
    before, after = log_in_as_ada()
    assert after not in (before, laptop.session_id)
    engine.flush_all()
    phone = engine.recover_session(after)
    assert phone is not None and phone.user_id == "ada"
    assert phone.storage["messages"] == [{"role": "user", "content": "hello"}]
    assert dict(phone.get_form_state("address").data) == {"city": "London", "since": date(2020, 1, 1)}
    assert phone.current_page == "checkout"
    assert [e.page for e in phone.navigation_history][-1] == "checkout"
    # The session lives on one device only: its old id and the tab's anonymous one restore nothing.
    assert engine.recover_session(laptop.session_id) is None
    assert engine.recover_session(before) is None


def test_the_newest_copy_wins_when_the_users_session_is_live_in_this_process(
    engine: SessionPersistenceEngine,
) -> None:
    laptop = laptop_session(engine)
    live_sessions.put(laptop)
    laptop.storage["messages"].append({"role": "user", "content": "not yet written"})
    _, after = log_in_as_ada()
    engine.flush_all()
    phone = engine.recover_session(after)
    assert phone is not None
    assert [m["content"] for m in phone.storage["messages"]] == ["hello", "not yet written"]
    assert live_sessions.get(laptop.session_id) is None


def test_a_user_with_no_session_gets_this_tabs_session_under_a_fresh_id(
    engine: SessionPersistenceEngine,
) -> None:
    other = UserSession(user_id="grace")
    engine.persist_session(other, immediate=True)
    before, after = log_in_as_ada()
    assert after != before
    engine.flush_all()
    mine = engine.recover_session(after)
    assert mine is not None and mine.user_id == "ada"
    assert engine.recover_session(before) is None
    assert engine.recover_session(other.session_id) is not None  # another user's session is untouched


def test_a_tab_that_is_already_the_users_keeps_its_session_on_every_run(
    engine: SessionPersistenceEngine,
) -> None:
    laptop_session(engine)
    app = AppTest.from_string(LOG_IN_AS_ADA, default_timeout=30).run()
    first = app.text[1].value
    app.run()
    assert not app.exception, app.exception
    assert app.text[0].value == app.text[1].value == first
