"""A large text area committed many times keeps its session and its mirror under the limit,
and a reload after a crash brings back the last value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from st_session_guard.protocol import Limits, check_bounds
from st_session_guard.testing import StreamlitServer, wait_for_mirror

from .conftest import commit_text, no_exception_shown, open_app, widget

APP = Path(__file__).with_name("session_size_app.py")


@pytest.fixture
def app(streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str]) -> StreamlitServer:
    """A server of the test's own that never writes inside the test: the test kills it."""
    return streamlit_server(APP, env={**app_env, "SESSION_GUARD_DEBOUNCE": "3600"})


def test_forty_commits_of_a_30kb_text_area_stay_under_the_limit_and_survive_a_crash(
    stsg_page: Page, app: StreamlitServer
) -> None:
    page = stsg_page
    open_app(page, app)
    texts = [f"{i:02d}" + "x" * 30_000 for i in range(40)]
    for text in texts:
        commit_text(page, "notes", text, tag="textarea")
    record = wait_for_mirror(page, lambda r: r["forms"].get("notes", {}).get("notes") == texts[-1], 30)

    limits = Limits()
    assert check_bounds(record, Limits(max_bytes=10**9)) <= limits.max_session_bytes
    history = record["snapshots"]["notes"]
    steps = [part for part in history if part not in ("line", "saved")]
    assert 0 < len(steps) < 40

    app.env["SESSION_GUARD_DEBOUNCE"] = "0.2"
    app.restart(kill=True)
    open_app(page, app)
    expect(widget(page, "notes").locator("textarea")).to_have_value(texts[-1])
    no_exception_shown(page)
