"""The plugin's page URLs open the page they name in a real multipage app."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, wait_for_run

APP = Path(__file__).with_name("navigation_app.py")


def test_url_for_a_pages_url_path_opens_that_page_and_url_the_default_one(
    stsg_page: Page, streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str]
) -> None:
    app = streamlit_server(APP, env=app_env)

    stsg_page.goto(app.url_for("second"))
    wait_for_run(stsg_page)
    expect(stsg_page.get_by_role("heading", name="Second page")).to_be_visible()

    stsg_page.goto(app.url)
    wait_for_run(stsg_page)
    expect(stsg_page.get_by_role("heading", name="First page")).to_be_visible()
