"""A server killed inside its write-behind window loses nothing the browser has seen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, read_mirror, wait_for_run, wait_until

from .conftest import (
    HeldGuard,
    commit_text,
    cookie_session_id,
    mirrored_value,
    open_app,
    pick_option,
    stored_form,
    widget,
)

APP = Path(__file__).with_name("crash_window_app.py")


@pytest.fixture
def app(streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str]) -> StreamlitServer:
    """A server of the test's own: each test kills it."""
    return streamlit_server(APP, env=app_env)


def stored(db_path: Path, session_id: str, field: str) -> object:
    return stored_form(db_path, session_id, "contact").get(field)


def leave_edits_only_in_the_mirror(page: Page, app: StreamlitServer, db_path: Path) -> str:
    """"Written" stored; then, inside an hour-long write-behind window, name "Only in the
    browser" and plan "pro" in the mirror only. Returns the session id."""
    open_app(page, app)
    commit_text(page, "name", "Written")
    session_id = cookie_session_id(page)
    wait_until(lambda: stored(db_path, session_id, "name") == "Written", 15, "the first write")

    app.env["SESSION_GUARD_DEBOUNCE"] = "3600"
    app.restart()
    open_app(page, app)
    commit_text(page, "name", "Only in the browser")
    pick_option(page, "plan", "pro")
    wait_until(lambda: mirrored_value(page, "contact", "name") == "Only in the browser"
               and mirrored_value(page, "contact", "plan") == "pro", 15, "the mirror write")
    return session_id


def test_sigkill_inside_the_debounce_window_loses_nothing(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    page = stsg_page
    session_id = leave_edits_only_in_the_mirror(page, app, db_path)
    assert stored(db_path, session_id, "name") == "Written"

    app.env["SESSION_GUARD_DEBOUNCE"] = "0.2"
    app.restart(kill=True)
    open_app(page, app)

    expect(widget(page, "name").locator("input")).to_have_value("Only in the browser")
    expect(widget(page, "plan").locator("input")).to_have_value("pro")
    wait_until(lambda: stored(db_path, session_id, "name") == "Only in the browser", 15,
               "the database to catch up")
    assert stored(db_path, session_id, "plan") == "pro"


def test_sigkill_before_the_first_write_keeps_the_session(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    page = stsg_page
    app.env["SESSION_GUARD_DEBOUNCE"] = "3600"
    app.restart()
    open_app(page, app)
    commit_text(page, "name", "Never written")
    wait_until(lambda: mirrored_value(page, "contact", "name") == "Never written", 15,
               "the mirror write")
    session_id = (read_mirror(page) or {})["session_id"]

    app.env["SESSION_GUARD_DEBOUNCE"] = "0.2"
    app.restart(kill=True)
    open_app(page, app)

    expect(widget(page, "name").locator("input")).to_have_value("Never written")
    assert (read_mirror(page) or {})["session_id"] == session_id
    wait_until(lambda: stored(db_path, session_id, "name") == "Never written", 15, "the write")


def test_a_value_lost_in_the_crash_comes_back_when_the_user_acts_before_the_guard_loads(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    """The guard's first render is then the user's run, a delta past the reload's page view:
    it asks for the server's whole state and sends back what only the mirror holds. Per
    field the newest revision wins, so the user's new pick beats the mirror's older one."""
    page = stsg_page
    session_id = leave_edits_only_in_the_mirror(page, app, db_path)
    # Off the app, so the old page does not reconnect to the next server and restore first.
    page.goto("about:blank")

    app.env["SESSION_GUARD_DEBOUNCE"] = "0.2"
    app.restart(kill=True)
    guard = HeldGuard(page)
    page.goto(app.url, wait_until="commit")
    wait_for_run(page)
    expect(widget(page, "name").locator("input")).to_have_value("Written")  # what the crash left
    pick_option(page, "plan", "team")
    # The server ran the user's pick: the frame's first render will be that run's.
    wait_until(lambda: stored(db_path, session_id, "plan") == "team", 15, "the user's run")
    guard.release()

    expect(widget(page, "name").locator("input")).to_have_value("Only in the browser")
    expect(widget(page, "plan").locator("input")).to_have_value("team")
    wait_until(lambda: stored(db_path, session_id, "name") == "Only in the browser"
               and stored(db_path, session_id, "plan") == "team", 15, "the database to catch up")
    assert mirrored_value(page, "contact", "name") == "Only in the browser"
    assert mirrored_value(page, "contact", "plan") == "team"
