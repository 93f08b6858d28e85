"""A message the user sends before the guard has loaded keeps its streamed reply.

The guard's frame loads after the page's first run; a user who types at once
starts a run that is still streaming when the guard takes its first render.
Whatever the guard then has to tell the server waits for that run to end: a
rerun asked for in the middle of it would cut the reply short.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, wait_until

from .chat_page import expect_conversation, mirrored_contents, send
from .conftest import HeldGuard, guard_ready, open_app

APP = Path(__file__).with_name("streaming_reply_app.py")


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    """The file the app's reply waits for before its last word (see the app)."""
    return tmp_path / "reply-gate"


@pytest.fixture
def app(streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str], gate: Path) -> StreamlitServer:
    return streamlit_server(APP, env={**app_env, "REPLY_GATE": str(gate)})


def test_a_message_sent_before_the_guard_loaded_keeps_its_reply(
    stsg_page: Page, app: StreamlitServer, gate: Path
) -> None:
    page = stsg_page
    open_app(page, app)
    gate.touch()
    send(page, "hello")
    expect_conversation(page, "hello", 'You said "hello".')
    wait_until(lambda: len(mirrored_contents(page)) == 2, 15, "the mirror to hold the first exchange")
    gate.unlink()

    guard = HeldGuard(page)
    page.reload(wait_until="commit")
    send(page, "again")
    # The run the message started is streaming, and waits at the gate, when the guard loads.
    expect(page.get_by_test_id("stChatMessage").filter(has_text="again")).to_have_count(1)
    guard.release()
    guard_ready(page)  # the guard took that run's render: it is behind the server's page view
    gate.touch()

    expect_conversation(page, "hello", 'You said "hello".', "again", 'You said "again".')
    # What the guard held back until the run ended still reaches the server: the mirror catches up.
    wait_until(lambda: mirrored_contents(page) == ["hello", 'You said "hello".', "again", 'You said "again".'],
               15, "the mirror to hold both exchanges")
