"""Two tabs of one session: both keep their edits, and the later edit of a field wins in both."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, reload_and_wait

from .conftest import commit_field, cookie_session_id, open_app, pick_option, shared_app, widget

APP = Path(__file__).with_name("two_tabs_app.py")
app = shared_app(APP)


def test_two_tabs_keep_each_others_edits_and_the_later_edit_wins(
    stsg_page: Page, app: StreamlitServer
) -> None:
    first = stsg_page
    open_app(first, app)
    session_id = cookie_session_id(first)  # the second tab opens with it: the same session
    second = first.context.new_page()
    open_app(second, app)
    assert cookie_session_id(second) == session_id

    commit_field(first, "name", "Typed in the first tab")
    commit_field(second, "email", "second@example.org")

    expect(widget(first, "email").locator("input")).to_have_value("second@example.org")
    expect(widget(second, "name").locator("input")).to_have_value("Typed in the first tab")

    pick_option(first, "plan", "pro")
    expect(widget(second, "plan").locator("input")).to_have_value("pro")
    pick_option(second, "plan", "team")
    expect(widget(first, "plan").locator("input")).to_have_value("team")

    for tab in (first, second):
        reload_and_wait(tab)
        expect(widget(tab, "name").locator("input")).to_have_value("Typed in the first tab")
        expect(widget(tab, "email").locator("input")).to_have_value("second@example.org")
        expect(widget(tab, "plan").locator("input")).to_have_value("team")
