"""Widgets beyond text fields in Chromium: a URL-bound value stays in the URL and a shared link
wins, a typed new option, pills, an ignored change and a data editor's edit survive a reload."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, reload_and_wait, wait_for_run

from .conftest import open_app, pick_option, shared_app

APP = Path(__file__).with_name("value_widgets_app.py")
app = shared_app(APP)


def test_a_url_bound_value_comes_back_and_stays_in_the_url(stsg_page: Page, app: StreamlitServer) -> None:
    page = stsg_page
    open_app(page, app)
    pick_option(page, "plan", "pro")
    expect(page).to_have_url(re.compile(r"[?&]plan=pro\b"))

    reload_and_wait(page)

    expect(page.locator(".st-key-plan input")).to_have_value("pro")
    expect(page).to_have_url(re.compile(r"[?&]plan=pro\b"))


def test_a_shared_link_wins_over_the_stored_value_and_is_stored(stsg_page: Page, app: StreamlitServer) -> None:
    page = stsg_page
    open_app(page, app)
    pick_option(page, "plan", "pro")

    page.goto(app.url + "/?plan=team")
    wait_for_run(page)
    expect(page.locator(".st-key-plan input")).to_have_value("team")

    page.goto(app.url)
    wait_for_run(page)
    expect(page.locator(".st-key-plan input")).to_have_value("team")


def test_an_option_the_user_typed_comes_back_after_a_reload(stsg_page: Page, app: StreamlitServer) -> None:
    page = stsg_page
    open_app(page, app)
    city = page.locator(".st-key-city input")
    city.click()
    city.fill("Lisbon")
    city.press("Enter")
    expect(city).to_have_value("Lisbon")
    wait_for_run(page)

    reload_and_wait(page)

    expect(page.locator(".st-key-city input")).to_have_value("Lisbon")


def test_pills_and_a_change_the_widget_ignores_are_kept_from_the_next_run_on(
    stsg_page: Page, app: StreamlitServer
) -> None:
    page = stsg_page
    open_app(page, app)
    page.locator(".st-key-tags").get_by_role("button", name="green").click()
    wait_for_run(page)
    quiet = page.locator(".st-key-quiet input")
    quiet.fill("hush")
    quiet.press("Enter")
    page.locator(".st-key-run button").click()
    wait_for_run(page)

    reload_and_wait(page)

    expect(page.locator(".st-key-quiet input")).to_have_value("hush")
    expect(page.locator(".st-key-tags").get_by_role("button", pressed=True)).to_have_text("green")


def test_a_data_editor_edit_is_applied_to_the_apps_table_after_a_reload(
    stsg_page: Page, app: StreamlitServer
) -> None:
    page = stsg_page
    open_app(page, app)
    grid = page.locator(".st-key-people [data-testid=stDataFrame]")
    box = grid.bounding_box()
    assert box is not None
    page.mouse.dblclick(box["x"] + box["width"] * 0.75, box["y"] + 35 + 17)  # Ada's age, under the header
    editor = page.locator("#portal textarea, #portal input").first
    editor.fill("37")
    editor.press("Enter")
    table = page.get_by_text("Table: ")
    expect(table).to_have_text('Table: {"name": ["Ada", "Grace"], "age": [37, 85]}')
    wait_for_run(page)

    reload_and_wait(page)

    expect(table).to_have_text('Table: {"name": ["Ada", "Grace"], "age": [37, 85]}')


def test_the_chosen_tab_is_chosen_again_after_a_reload(stsg_page: Page, app: StreamlitServer) -> None:
    page = stsg_page
    open_app(page, app)
    page.get_by_role("tab", name="Details").click()
    expect(page.get_by_text("The details")).to_be_visible()
    wait_for_run(page)

    reload_and_wait(page)

    expect(page.get_by_role("tab", name="Details")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_text("The details")).to_be_visible()
