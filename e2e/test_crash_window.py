"""A server killed inside its write-behind window loses nothing the browser has seen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, read_mirror, wait_until

from .conftest import (
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


def test_sigkill_inside_the_debounce_window_loses_nothing(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    page = stsg_page
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
