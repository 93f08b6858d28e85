"""The demo app runs: it loads, keeps a wrapped value across a reload, and opens its dashboard.

The demo is free to change; it has this smoke test and no other test drives it.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, reload_and_wait, wait_for_run

from .conftest import commit_field, go_to, no_exception_shown, open_app, shared_app, widget

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo_session_system.py"
demo = shared_app(DEMO)


def test_the_demo_loads_its_home_page(stsg_page: Page, demo: StreamlitServer) -> None:
    open_app(stsg_page, demo)

    expect(stsg_page.get_by_role("heading", level=1)).to_have_text("st-session-guard")
    no_exception_shown(stsg_page)


def test_a_value_typed_into_the_demo_survives_a_reload(stsg_page: Page, demo: StreamlitServer) -> None:
    page = stsg_page
    open_app(page, demo)
    go_to(page, "Forms", "Contact form")
    commit_field(page, "name", "Ada Lovelace")

    reload_and_wait(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Contact form")
    expect(widget(page, "name").locator("input")).to_have_value("Ada Lovelace")
    no_exception_shown(page)


def test_the_demo_opens_its_dashboard_for_an_admin(stsg_page: Page, demo: StreamlitServer) -> None:
    page = stsg_page
    open_app(page, demo)
    go_to(page, "Admin", "Roles, permissions, cache, metrics")
    page.get_by_role("button", name="Make me admin").click()
    expect(page.get_by_role("button", name="Delete contact form")).to_be_enabled()
    wait_for_run(page)

    go_to(page, "Dashboard", "Sessions dashboard")

    expect(page.get_by_test_id("stMetric").filter(has_text="Stored sessions")).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(4)
    no_exception_shown(page)
