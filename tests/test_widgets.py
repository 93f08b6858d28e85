"""The reference API and the drop-in widgets inside real Streamlit script runs (AppTest), on SQLite."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from st_session_guard import widgets as sg_widgets
from st_session_guard.live_sessions import live_sessions
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.session import new_session_id


def run(script: str) -> AppTest:
    app = AppTest.from_string(script, default_timeout=30).run()
    assert not app.exception, app.exception
    return app


def stored_form(engine: SessionPersistenceEngine, session_id: str, form_id: str) -> dict[str, object]:
    engine.flush_all()
    session = engine.recover_session(session_id)
    assert session is not None
    return dict(session.get_form_state(form_id).data)


def test_the_reference_api_works_inside_a_script(engine: SessionPersistenceEngine) -> None:
    app = run(
        """
import streamlit as st
from st_session_guard import (bootstrap_session, persist_input, save_form, get_session_manager,
                              get_current_session)
session = bootstrap_session(user_id="user123")
persist_input("name", "Ada", form_id="user_form")
save_form("contact_form", {"email": "ada@example.org"}, immediate=True)
manager = get_session_manager()
manager.navigate_to("profile", {"user_id": "123"})
manager.navigate_to("settings")
went_back = manager.go_back()
session.add_cache_key("user_data_123")
session.add_cache_key("profile_123", dependencies={"user_data_123"})
gone = manager.invalidate_cache("user_data")
st.session_state["seen"] = (get_current_session() is session, went_back, session.current_page, sorted(gone))
st.session_state["sid"] = session.session_id
"""
    )
    assert app.session_state["seen"] == (True, True, "profile", ["profile_123", "user_data_123"])
    session_id = app.session_state["sid"]
    assert stored_form(engine, session_id, "user_form") == {"name": "Ada"}
    stored = engine.recover_session(session_id)
    assert stored is not None
    assert stored.user_id == "user123"
    assert stored.current_page == "profile"
    assert [e.page for e in stored.navigation_history] == ["home", "profile"]
    assert stored.get_form_state("contact_form").is_dirty is False
    assert stored.cache_keys == frozenset()


WIDGETS = """
import streamlit as st
import st_session_guard as sg
session = sg.bootstrap_session({session_id!r})
st.session_state["sid"] = session.session_id
calls = st.session_state.setdefault("calls", [])
if st.button("fill from code", key="from_code"):
    st.session_state["nickname"] = "Set by the app"
sg.text_input("Name", key="name", form_id="f", on_change=calls.append, args=("name changed",))
sg.text_input("Nickname", key="nickname", form_id="f")
sg.text_input("Password", key="password", type="password", form_id="f")
sg.number_input("Age", min_value=0, max_value=130, value=30, key="age", form_id="f")
sg.selectbox("Plan", {plans!r}, key="plan", form_id="f")
"""


def widgets(session_id: str | None = None, plans: tuple[str, ...] = ("free", "pro", "team")) -> str:
    return WIDGETS.format(session_id=session_id, plans=list(plans))


def test_a_user_edit_persists_and_the_apps_own_on_change_still_runs(
    engine: SessionPersistenceEngine,
) -> None:
    app = run(widgets())
    app.text_input(key="name").input("Ada").run()
    app.selectbox(key="plan").select("team").run()
    assert app.session_state["calls"] == ["name changed"]
    assert stored_form(engine, app.session_state["sid"], "f") == {"name": "Ada", "plan": "team"}


def test_a_value_set_from_code_persists_like_an_edit(engine: SessionPersistenceEngine) -> None:
    app = run(widgets())
    app.button(key="from_code").click().run()
    assert app.text_input(key="nickname").value == "Set by the app"
    assert stored_form(engine, app.session_state["sid"], "f")["nickname"] == "Set by the app"


def test_a_default_the_widget_only_shows_is_never_stored(engine: SessionPersistenceEngine) -> None:
    app = run(widgets())
    app.run()
    app.run()
    assert stored_form(engine, app.session_state["sid"], "f") == {}


def test_a_password_input_is_never_persisted(engine: SessionPersistenceEngine) -> None:
    app = run(widgets())
    app.text_input(key="password").input("hunter2").run()
    app.text_input(key="name").input("Grace").run()
    form = stored_form(engine, app.session_state["sid"], "f")
    assert form == {"name": "Grace"}
    assert "hunter2" not in str(engine.recover_session(app.session_state["sid"]).to_dict())  # type: ignore[union-attr]


def test_a_new_page_load_shows_stored_values_on_its_first_run(engine: SessionPersistenceEngine) -> None:
    first = run(widgets())
    first.text_input(key="name").input("Ada").run()
    first.number_input(key="age").set_value(41).run()
    first.selectbox(key="plan").select("pro").run()
    session_id = first.session_state["sid"]
    engine.flush_all()

    reloaded = run(widgets(session_id))

    assert reloaded.text_input(key="name").value == "Ada"
    assert reloaded.number_input(key="age").value == 41
    assert reloaded.selectbox(key="plan").value == "pro"


def test_a_stored_value_that_no_longer_fits_is_dropped_with_a_warning(
    engine: SessionPersistenceEngine, caplog: pytest.LogCaptureFixture
) -> None:
    first = run(widgets())
    first.selectbox(key="plan").select("team").run()
    session_id = first.session_state["sid"]
    engine.flush_all()

    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        reloaded = run(widgets(session_id, plans=("free", "pro")))

    assert reloaded.selectbox(key="plan").value == "free"
    assert "'team' is no longer an option" in caplog.text


def test_an_unknown_explicit_session_id_gets_a_fresh_random_one(engine: SessionPersistenceEngine) -> None:
    planted = new_session_id()
    app = run(widgets(planted))
    assert app.session_state["sid"] != planted


def two_tabs_after_an_edit_in_the_first(engine: SessionPersistenceEngine) -> tuple[AppTest, AppTest]:
    """Two tabs of one session; the first typed "Ada" and the second has run since."""
    first = run(widgets())
    engine.flush_all()
    second = run(widgets(first.session_state["sid"]))
    first.text_input(key="name").input("Ada").run()
    second.run()
    return first, second


def test_a_value_changed_in_another_tab_is_pushed_again_until_the_browser_must_have_drawn_it(
    engine: SessionPersistenceEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamlit drops a run's unsent output when the next run starts; the browser then
    keeps showing its old value of a widget it already has, unless a run pushes it again."""
    first, second = two_tabs_after_an_edit_in_the_first(engine)

    assert second.text_input(key="name").value == "Ada"
    assert second.text_input(key="name").proto.set_value
    second.run()
    assert second.text_input(key="name").proto.set_value

    monkeypatch.setattr(sg_widgets, "PUSH_RESEND_SECONDS", 0.0)
    second.run()
    assert second.text_input(key="name").value == "Ada"
    assert not second.text_input(key="name").proto.set_value
    assert stored_form(engine, first.session_state["sid"], "f") == {"name": "Ada"}


def test_the_value_a_tab_showed_before_a_push_sent_back_at_once_is_no_edit(
    engine: SessionPersistenceEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun the browser asked for before it drew a push carries the old value back;
    taken as an edit, it would overwrite the other tab's value everywhere."""
    first, second = two_tabs_after_an_edit_in_the_first(engine)

    second.text_input(key="name").input("").run()

    assert second.text_input(key="name").value == "Ada"
    assert second.session_state["calls"] == []
    assert stored_form(engine, first.session_state["sid"], "f") == {"name": "Ada"}

    monkeypatch.setattr(sg_widgets, "PUSH_RESEND_SECONDS", 0.0)
    second.text_input(key="name").input("").run()
    assert second.session_state["calls"] == ["name changed"]
    assert stored_form(engine, first.session_state["sid"], "f") == {"name": ""}


def test_dates_in_the_apps_own_form_data_survive_reruns_and_a_restart(engine: SessionPersistenceEngine) -> None:
    script = """
import streamlit as st
from datetime import date, datetime
import st_session_guard as sg
session = sg.bootstrap_session({session_id!r})
st.session_state["sid"] = session.session_id
if {first!r}:
    session.update_form_data("f", "day", date(2027, 3, 3))
    sg.save_form("g", {{"when": date(2027, 3, 4)}}, immediate=True)
    sg.persist_input("ts", datetime(2027, 3, 3, 9, 30), form_id="g")
    try:
        sg.persist_input("bad", object(), form_id="g")
    except TypeError as error:
        st.session_state["refused"] = str(error)
st.session_state["seen"] = (dict(session.get_form_state("f").data), dict(session.get_form_state("g").data))
"""
    first = run(script.format(session_id=None, first=True))
    first.run()  # the guard is drawn again with the dates in its changes
    assert "object values cannot be stored" in first.session_state["refused"]
    session_id = first.session_state["sid"]
    engine.flush_all()
    live_sessions.drop(session_id)  # as a restarted server, which has only the database

    reloaded = run(script.format(session_id=session_id, first=False))

    assert reloaded.session_state["seen"] == (
        {"day": date(2027, 3, 3)},
        {"when": date(2027, 3, 4), "ts": datetime(2027, 3, 3, 9, 30)},
    )


UNDO = """
import streamlit as st
import st_session_guard as sg
session = sg.bootstrap_session()
st.session_state["sid"] = session.session_id
if st.button("undo", key="undo"):
    session.undo_form("f")
sg.text_input("Name", key="name", form_id="f")
sg.text_input("Title", value="Dr", key="title", form_id="f")
sg.selectbox("Plan", ["free", "pro"], index=1, key="plan", form_id="f")
sg.checkbox("News", key="news", form_id="f")
sg.number_input("Age", min_value=0, value=30, key="age", form_id="f")
"""


@pytest.mark.parametrize(
    ("edit", "default"),
    [(lambda app: app.text_input(key="name").input("Ada"), ""),
     (lambda app: app.text_input(key="title").input("Prof"), "Dr"),
     (lambda app: app.selectbox(key="plan").select("free"), "pro"),
     (lambda app: app.checkbox(key="news").check(), False),
     (lambda app: app.number_input(key="age").set_value(41), 30)],
    ids=["text", "text with a default", "selectbox", "checkbox", "number as drawn first"],
)
def test_undoing_a_fields_first_edit_shows_the_widgets_default_again(
    engine: SessionPersistenceEngine, edit: Any, default: Any
) -> None:
    app = run(UNDO)
    edit(app).run()
    key = next(iter(stored_form(engine, app.session_state["sid"], "f")))
    app.button(key="undo").click().run()
    app.run()
    widget = {"name": app.text_input, "title": app.text_input, "plan": app.selectbox, "news": app.checkbox,
              "age": app.number_input}[key]
    assert widget(key=key).value == default
    assert stored_form(engine, app.session_state["sid"], "f") == {}
