"""Page switches through st.navigation land in the history and survive a reload."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, reload_and_wait

from .conftest import commit_text, open_app, shared_app

APP = Path(__file__).with_name("navigation_app.py")
app = shared_app(APP)


def test_st_navigation_switches_are_recorded_and_restored(stsg_page: Page, app: StreamlitServer) -> None:
    page = stsg_page
    open_app(page, app)
    expect(page.get_by_role("heading", level=1)).to_have_text("First page")

    page.get_by_test_id("stSidebarNav").get_by_text("Second").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Second page")
    commit_text(page, "note", "kept")
    history = page.get_by_test_id("stSidebar").get_by_text("History:")
    expect(history).to_have_text("History: First → second")

    reload_and_wait(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Second page")
    expect(history).to_have_text("History: First → second")
    expect(page.locator(".st-key-note input")).to_have_value("kept")
