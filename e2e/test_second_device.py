"""Continuing on another device: logging in as the same user brings the conversation and the form along."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from st_session_guard.testing import StreamlitServer, wait_for_run

from .conftest import commit_field, open_app, shared_app, widget

APP = Path(__file__).with_name("second_device_app.py")
app = shared_app(APP)


def log_in_as_ada(page: Page) -> None:
    page.get_by_role("button", name="Log in as ada").click()
    expect(page.get_by_text("Signed in as ada")).to_be_visible()
    wait_for_run(page)


def test_what_the_first_device_typed_is_there_on_the_second_after_logging_in(
    stsg_page: Page, stsg_browser: Browser, app: StreamlitServer
) -> None:
    laptop = stsg_page
    open_app(laptop, app)
    log_in_as_ada(laptop)
    commit_field(laptop, "city", "London", form_id="address")
    laptop.get_by_test_id("stChatInputTextArea").fill("typed on the laptop")
    laptop.get_by_test_id("stChatInputTextArea").press("Enter")
    expect(laptop.get_by_test_id("stChatMessage")).to_contain_text(["typed on the laptop"])
    wait_for_run(laptop)

    phone_context = stsg_browser.new_context()  # another device: no cookie, no mirror in common
    try:
        phone = phone_context.new_page()
        open_app(phone, app)
        expect(phone.get_by_test_id("stChatMessage")).to_have_count(0)
        log_in_as_ada(phone)
        expect(phone.get_by_test_id("stChatMessage")).to_contain_text(["typed on the laptop"])
        expect(widget(phone, "city").locator("input")).to_have_value("London")
    finally:
        phone_context.close()
