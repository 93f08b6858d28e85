"""Every value widget of Streamlit, wrapped: restored on a new page load when the stored value
still fits, dropped with a warning when it does not, and the form's data as the app reads it."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

import pytest
from guarded_pages import page_load as run
from guarded_pages import reload
from streamlit.testing.v1 import AppTest

from st_session_guard import widgets as sg_widgets
from st_session_guard.persistence import SessionPersistenceEngine


def stored(engine: SessionPersistenceEngine, app: AppTest) -> dict[str, Any]:
    engine.flush_all()
    session = engine.recover_session(app.session_state["sid"])
    assert session is not None
    return dict(session.get_form_state("f").data)  # a recovered session: no widget has shown a default


NEW_WIDGETS = """
sg.pills("Tags", ["red", "green", "blue"], selection_mode="multi", key="tags", form_id="f")
sg.pills("Size", ["S", "M", "L"], key="size", form_id="f")
sg.segmented_control("View", ["list", "grid"], key="view", form_id="f")
sg.feedback("stars", key="rating", form_id="f")
sg.datetime_input("Meeting", value=datetime.datetime(2026, 1, 1, 9, 0), key="meeting", form_id="f")
sg.pagination(10, key="page", form_id="f")
"""


def test_every_new_value_widget_shows_its_stored_value_on_a_new_page_load(
    engine: SessionPersistenceEngine,
) -> None:
    meeting = datetime(2026, 3, 4, 15, 30)
    app = reload(engine, NEW_WIDGETS, {
        "tags": ["green", "blue"], "size": "L", "view": "grid", "rating": 3, "meeting": meeting, "page": 7,
    })

    assert app.pills(key="tags").value == ["green", "blue"]
    assert app.pills(key="size").value == "L"
    assert app.segmented_control(key="view").value == "grid"
    assert app.feedback(key="rating").value == 3
    assert app.datetime_input(key="meeting").value == meeting
    assert app.pagination(key="page").value == 7


def test_an_edit_of_a_new_value_widget_is_stored(engine: SessionPersistenceEngine) -> None:
    app = run(NEW_WIDGETS)
    app.pills(key="size").set_value("M").run()
    app.feedback(key="rating").set_value(4).run()
    app.pagination(key="page").select(3).run()
    assert stored(engine, app) == {"size": "M", "rating": 4, "page": 3}


def test_stored_values_the_new_widgets_no_longer_take_are_dropped_with_a_warning(
    engine: SessionPersistenceEngine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        app = reload(engine, NEW_WIDGETS, {
            "tags": ["purple"], "size": "XL", "rating": 9, "page": 11,
            "meeting": date(2026, 3, 4),
        })

    assert app.pills(key="tags").value == []
    assert app.pills(key="size").value is None
    assert app.feedback(key="rating").value is None
    assert app.pagination(key="page").value == 1
    assert app.datetime_input(key="meeting").value == datetime(2026, 1, 1, 9, 0)
    for field in ("tags", "size", "rating", "page", "meeting"):
        assert f"not restoring widget {field!r}" in caplog.text


NEW_OPTIONS = """
sg.selectbox("City", ["Paris", "Rome"], accept_new_options=True, key="city", form_id="f")
sg.multiselect("Labels", ["a", "b"], accept_new_options=True, key="labels", form_id="f")
sg.selectbox("Fixed", ["Paris", "Rome"], key="fixed", form_id="f")
"""


def test_an_option_the_user_typed_comes_back_where_the_widget_accepts_new_options(
    engine: SessionPersistenceEngine,
) -> None:
    app = reload(engine, NEW_OPTIONS, {"city": "Lisbon", "labels": ["b", "mine"], "fixed": "Lisbon"})

    assert app.selectbox(key="city").value == "Lisbon"
    assert app.multiselect(key="labels").value == ["b", "mine"]
    assert app.selectbox(key="fixed").value == "Paris"  # a widget without new options still refuses it
    app.run()
    assert app.selectbox(key="city").value == "Lisbon"
    assert stored(engine, app)["city"] == "Lisbon"


BOUND = """
sg.selectbox("Plan", ["free", "pro", "team"], bind="query-params", key="plan", form_id="f")
"""


def test_a_bound_widgets_value_comes_back_stays_in_the_url_and_loses_to_another_url(
    engine: SessionPersistenceEngine,
) -> None:
    same = reload(engine, BOUND, {"plan": "pro"}, query={"plan": "pro"})
    assert same.selectbox(key="plan").value == "pro"
    assert same.query_params.get("plan") == "pro"

    shared = reload(engine, BOUND, {"plan": "pro"}, query={"plan": "team"})
    assert shared.selectbox(key="plan").value == "team"
    assert stored(engine, shared)["plan"] == "team"

    bare = reload(engine, BOUND, {"plan": "pro"})
    assert bare.selectbox(key="plan").value == "pro"


UNKEYED = """
sg.text_input("Your name", form_id="f")
sg.text_input("Your name", form_id="g")
"""


def test_a_widget_without_a_key_is_stored_under_its_label_with_one_warning(
    engine: SessionPersistenceEngine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sg_widgets, "_unkeyed_labels", set())
    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        app = run(UNKEYED)
        app.text_input[0].input("Ada").run()
        app.run()

    assert stored(engine, app) == {"Your name": "Ada"}
    assert caplog.text.count("'Your name' has no key=") == 1


FORM = """
sg.text_input("Name", value="Ada", key="name", form_id="f")
sg.date_input("Born", value=datetime.date(1815, 12, 10), key="born", form_id="f")
sg.number_input("Age", value=36, key="age", form_id="f")
form = session.get_form_state("f")
st.session_state["seen"] = (dict(form.data), form.is_dirty)
"""


def test_the_form_data_holds_every_fields_value_untouched_defaults_included(
    engine: SessionPersistenceEngine,
) -> None:
    app = run(FORM)
    assert app.session_state["seen"] == ({"name": "Ada", "born": date(1815, 12, 10), "age": 36}, False)

    app.number_input(key="age").set_value(37).run()
    data, dirty = app.session_state["seen"]
    assert data == {"name": "Ada", "born": date(1815, 12, 10), "age": 37}
    assert type(data["born"]) is date
    assert dirty is True
    assert stored(engine, app) == {"age": 37}  # a default only shown is still never stored


def test_after_a_restart_the_form_data_has_the_types_the_widgets_return(
    engine: SessionPersistenceEngine,
) -> None:
    app = reload(engine, FORM, {"born": date(1816, 1, 1)})
    data, _dirty = app.session_state["seen"]
    assert data == {"name": "Ada", "born": date(1816, 1, 1), "age": 36}
    assert type(data["born"]) is date


NAVIGATION = """
def start() -> None:
    st.write("start")
def settings() -> None:
    st.write("settings")
page = sg.navigation([st.Page(start, title="Start", default=True), st.Page(settings, url_path="settings")])
page.run()
st.session_state["trail"] = [entry.page for entry in session.navigation_history]
"""


def test_the_navigation_history_starts_at_the_apps_default_page(engine: SessionPersistenceEngine) -> None:
    app = run(NAVIGATION)
    assert app.session_state["trail"] == ["Start"]
    app.run()
    assert app.session_state["trail"] == ["Start"]


def greeting(default: str) -> str:
    return f'sg.text_input("Name", value={default!r}, key="name", form_id="f")\n'


def test_an_edit_comes_back_while_the_app_keeps_its_default_and_is_dropped_once_it_changes(
    engine: SessionPersistenceEngine, caplog: pytest.LogCaptureFixture
) -> None:
    first = run(greeting("Ada"))
    first.text_input(key="name").input("Grace").run()
    engine.flush_all()
    session_id = first.session_state["sid"]
    recovered = engine.recover_session(session_id)
    assert recovered is not None
    assert recovered.get_form_state("f").edited_over == {"name": "Ada"}  # stored beside the value
    assert dict(recovered.get_form_state("f").data) == {"name": "Grace"}  # which stays as it was

    assert run(greeting("Ada"), session_id).text_input(key="name").value == "Grace"
    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        redeployed = run(greeting("Bob"), session_id)

    assert redeployed.text_input(key="name").value == "Bob"
    assert "the app's default changed from 'Ada'" in caplog.text



HIDDEN = """
if st.checkbox("Show the note", value=True, key="show"):
    sg.text_input("Note", key="note", form_id="f", persist_state="session")
sg.text_input("Quiet", key="quiet", form_id="f", on_change="ignore")
"""


def test_persist_state_and_on_change_ignore_pass_through_and_the_values_are_stored(
    engine: SessionPersistenceEngine,
) -> None:
    app = run(HIDDEN)
    app.text_input(key="note").input("call Ada").run()
    app.text_input(key="quiet").input("hush").run()
    app.checkbox(key="show").uncheck().run()
    app.checkbox(key="show").check().run()
    assert app.text_input(key="note").value == "call Ada"
    assert stored(engine, app) == {"note": "call Ada", "quiet": "hush"}

    reloaded = run(HIDDEN, app.session_state["sid"])
    assert reloaded.text_input(key="note").value == "call Ada"
    assert reloaded.text_input(key="quiet").value == "hush"


def test_a_widget_with_neither_key_nor_label_is_refused_with_a_clear_error(engine: SessionPersistenceEngine) -> None:
    app = AppTest.from_string(
        "import st_session_guard as sg\nsg.bootstrap_session()\nsg.feedback('thumbs', form_id='f')\n"
    ).run(timeout=30)
    assert "sg.feedback has no label to name its field by: give it key=" in app.exception[0].message


CONTAINERS = """
if st.button("Open the details", key="open_details"):
    st.session_state["details"] = True
first, second = sg.tabs(["Summary", "Details"], key="tab", form_id="f")
with sg.expander("More", key="details", form_id="f"):
    st.write("more")
st.session_state["state"] = (st.session_state["tab"], st.session_state["details"])
"""


def test_the_chosen_tab_and_an_open_expander_are_stored_and_come_back(engine: SessionPersistenceEngine) -> None:
    app = reload(engine, CONTAINERS, {"tab": "Details"})
    assert app.session_state["state"] == ("Details", False)
    app.button(key="open_details").click().run()  # AppTest sends no tab back: only the expander is asserted
    assert app.session_state["state"][1] is True
    assert stored(engine, app) == {"tab": "Details", "details": True}

    reloaded = run(CONTAINERS, app.session_state["sid"])
    assert reloaded.session_state["state"] == ("Details", True)
