"""A server killed inside its write-behind window loses nothing the browser has seen."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, read_mirror, wait_for_run, wait_until

from .test_refresh_recovery import commit_text, open_page, pick_option, stored_form, widget


def mirrored(page: Page, field: str) -> object:
    return ((read_mirror(page) or {}).get("forms") or {}).get("contact", {}).get(field)


def test_sigkill_inside_the_debounce_window_loses_nothing(
    stsg_page: Page, demo: StreamlitServer, db_path: Path
) -> None:
    page = stsg_page
    open_page(page, demo, "Forms")
    commit_text(page, "name", "Written")
    wait_until(lambda: stored_form(db_path, "contact", "name") == "Written", 15, "the first write")

    demo.env["SESSION_GUARD_DEBOUNCE"] = "3600"
    demo.restart()
    page.goto(demo.url)
    wait_for_run(page)
    commit_text(page, "name", "Only in the browser")
    pick_option(page, "plan", "pro")
    wait_until(lambda: mirrored(page, "plan") == "pro", 15, "the mirror write")
    assert stored_form(db_path, "contact", "name") == "Written"

    demo.env["SESSION_GUARD_DEBOUNCE"] = "0.2"
    demo.restart(kill=True)
    page.goto(demo.url)
    wait_for_run(page)

    expect(widget(page, "name").locator("input")).to_have_value("Only in the browser")
    expect(widget(page, "plan").locator("input")).to_have_value("pro")
    wait_until(lambda: stored_form(db_path, "contact", "name") == "Only in the browser", 15,
               "the database to catch up")
    assert stored_form(db_path, "contact", "plan") == "pro"


def test_sigkill_before_the_first_write_keeps_the_session(
    stsg_page: Page, demo: StreamlitServer, db_path: Path
) -> None:
    page = stsg_page
    demo.env["SESSION_GUARD_DEBOUNCE"] = "3600"
    demo.restart()
    open_page(page, demo, "Forms")
    commit_text(page, "name", "Never written")
    wait_until(lambda: mirrored(page, "name") == "Never written", 15, "the mirror write")
    session_id = (read_mirror(page) or {})["session_id"]

    demo.env["SESSION_GUARD_DEBOUNCE"] = "0.2"
    demo.restart(kill=True)
    page.goto(demo.url)
    wait_for_run(page)

    expect(widget(page, "name").locator("input")).to_have_value("Never written")
    assert (read_mirror(page) or {})["session_id"] == session_id
    wait_until(lambda: stored_form(db_path, "contact", "name") == "Never written", 15, "the write")
