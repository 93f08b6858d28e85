"""Two tabs of one session: both keep their edits, and the later edit of a field wins in both."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, reload_and_wait, wait_for_run

from .test_refresh_recovery import commit_text, open_page, pick_option, widget


def test_two_tabs_keep_each_others_edits_and_the_later_edit_wins(
    stsg_page: Page, demo: StreamlitServer
) -> None:
    first = stsg_page
    open_page(first, demo, "Forms")
    second = first.context.new_page()
    second.goto(demo.url)
    wait_for_run(second)
    expect(second.get_by_role("heading", level=1)).to_have_text("Contact form")

    commit_text(first, "name", "Typed in the first tab")
    commit_text(second, "email", "second@example.org")

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
