"""What the page shows from the server is in IndexedDB at once, never only after a timer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, guard_frame, wait_until

from .conftest import commit_text, open_app, widget

APP = Path(__file__).with_name("crash_window_app.py")


@pytest.fixture
def app(streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str]) -> StreamlitServer:
    """A server of the test's own, whose write-behind never writes before the test kills it."""
    return streamlit_server(APP, env={**app_env, "SESSION_GUARD_DEBOUNCE": "3600"})


def stored_mirror(page: Page) -> dict[str, Any]:
    """The sessions store as IndexedDB holds it now, read without asking the guard to flush."""
    records: list[dict[str, Any]] = guard_frame(page).evaluate(
        """() => new Promise((resolve, reject) => {
            const open = indexedDB.open("st-session-guard");
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
                const read = open.result.transaction("sessions").objectStore("sessions").getAll();
                read.onsuccess = () => {
                    open.result.close();
                    resolve(read.result);
                };
            };
        })"""
    )
    return {record["session_id"]: record for record in records}


def mirrored_name(page: Page) -> object:
    return next((r["forms"].get("contact", {}).get("name") for r in stored_mirror(page).values()), None)


def test_a_committed_value_reaches_indexeddb_with_no_timer_and_survives_a_kill(
    stsg_page: Page, app: StreamlitServer
) -> None:
    page = stsg_page
    open_app(page, app)
    # No timer of the guard's fires from here on: a write left to the debounce would never land.
    guard_frame(page).evaluate("() => { window.setTimeout = () => 0; }")

    commit_text(page, "name", "Shown, then the server died")
    expect(widget(page, "name").locator("input")).to_have_value("Shown, then the server died")
    wait_until(lambda: mirrored_name(page) == "Shown, then the server died", 15, "the mirror write")

    app.restart(kill=True)
    open_app(page, app)
    expect(widget(page, "name").locator("input")).to_have_value("Shown, then the server died")
