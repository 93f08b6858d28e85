"""The chat example: its conversation, kept in ``session.storage``, survives a refresh, a restart and a crash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from st_session_guard.testing import (
    StreamlitServer,
    reload_and_wait,
    wait_for_run,
    wait_until,
)

from .chat_page import expect_conversation, mirrored_contents, send
from .conftest import cookie_session_id, open_app, stored_value

APP = Path(__file__).parents[1] / "examples" / "chat.py"
MESSAGES = ["storage", "messages"]


@pytest.fixture
def app(streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str]) -> StreamlitServer:
    """A server of the test's own: the tests restart it."""
    return streamlit_server(APP, env=app_env)


def say(page: Page, text: str) -> None:
    """Send a chat message and wait for the assistant's streamed reply to be shown."""
    send(page, text)
    expect(page.get_by_test_id("stChatMessage").filter(has_text=f'You said "{text}".')).to_have_count(1)
    wait_for_run(page)


def test_the_conversation_survives_a_refresh(stsg_page: Page, app: StreamlitServer) -> None:
    page = stsg_page
    open_app(page, app)
    say(page, "hello")
    reload_and_wait(page)
    expect_conversation(page, "hello", 'You said "hello".')
    # At once, as a user would: the guard may not have loaded yet (e2e/test_streaming_reply.py).
    say(page, "again")  # the restored list is the one the next message is appended to
    expect_conversation(page, "hello", 'You said "hello".', "again", 'You said "again".')


def test_the_conversation_survives_a_server_restart(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    page = stsg_page
    open_app(page, app)
    say(page, "before the restart")
    session_id = cookie_session_id(page)
    wait_until(lambda: len(stored_value(db_path, session_id, MESSAGES) or []) == 2, 15, "the write")
    app.restart()
    open_app(page, app)
    expect_conversation(page, "before the restart", 'You said "before the restart".')


def test_a_kill_inside_the_write_behind_window_loses_no_message(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    page = stsg_page
    app.env["SESSION_GUARD_DEBOUNCE"] = "3600"
    app.restart()
    open_app(page, app)
    say(page, "only in the browser")
    wait_until(lambda: mirrored_contents(page)[:1] == ["only in the browser"]
               and len(mirrored_contents(page)) == 2, 15, "the mirror to hold the exchange")
    session_id = cookie_session_id(page)
    assert stored_value(db_path, session_id, MESSAGES) is None  # the database never got it

    app.env["SESSION_GUARD_DEBOUNCE"] = "0.2"
    app.restart(kill=True)
    open_app(page, app)

    expect_conversation(page, "only in the browser", 'You said "only in the browser".')
    wait_until(lambda: len(stored_value(db_path, session_id, MESSAGES) or []) == 2, 15,
               "the database to catch up")
