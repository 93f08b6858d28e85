"""A real app's metrics, scraped as Prometheus would while a browser writes, reloads and a crash hits."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from st_session_guard.openmetrics_text import CONTENT_TYPE
from st_session_guard.testing import StreamlitServer, free_port, wait_for_mirror, wait_until

from .conftest import commit_text, open_app, widget

APP = Path(__file__).with_name("metrics_app.py")
Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Figures:
    """The app's figures as a scrape reads them; parsing fails on text that breaks the format."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"] == CONTENT_TYPE
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def restores(port: int, source: str) -> float:
    return scrape(port)["st_session_guard_restores_total", (("source", source),)]


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def app(
    streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str], metrics_port: int
) -> StreamlitServer:
    """A server of the test's own: each test restarts it."""
    return streamlit_server(APP, env={**app_env, "STSG_METRICS_PORT": str(metrics_port)})


def test_a_scrape_shows_the_apps_writes_its_live_session_and_a_restore_from_the_database(
    stsg_page: Page, app: StreamlitServer, metrics_port: int
) -> None:
    open_app(stsg_page, app)
    commit_text(stsg_page, "name", "Ada")

    wait_until(lambda: scrape(metrics_port)["st_session_guard_write_seconds_count", ()] >= 1, 15,
               "a timed database write")
    figures = scrape(metrics_port)
    assert figures["st_session_guard_live_sessions", ()] == 1
    assert figures["st_session_guard_failed_writes_total", ()] == 0
    assert figures["st_session_guard_browser_messages_refused_total", ()] == 0

    app.restart()  # a clean stop writes what is pending; the new process has counted nothing yet
    open_app(stsg_page, app)

    expect(widget(stsg_page, "name").locator("input")).to_have_value("Ada")
    assert restores(metrics_port, "database") == 1
    assert restores(metrics_port, "browser") == 0


def edit_only_in_the_browser(page: Page, app: StreamlitServer, name: str) -> None:
    """Commit ``name`` on a server whose write-behind window outlasts the test: the browser holds it."""
    app.env["SESSION_GUARD_DEBOUNCE"] = "3600"
    app.restart()
    open_app(page, app)
    commit_text(page, "name", name)
    wait_for_mirror(page, lambda record: record.get("forms", {}).get("contact", {}).get("name") == name)


def crash_and_reload(page: Page, app: StreamlitServer) -> None:
    app.env["SESSION_GUARD_DEBOUNCE"] = "0.2"
    app.restart(kill=True)
    open_app(page, app)


def test_a_crash_inside_the_write_window_shows_as_pending_then_as_a_restore_from_the_browser(
    stsg_page: Page, app: StreamlitServer, metrics_port: int
) -> None:
    """The unsaved-changes cookie brings the value back on the first run; the mirror, when the
    cookie is gone."""
    edit_only_in_the_browser(stsg_page, app, "Only in the browser")
    assert scrape(metrics_port)["st_session_guard_writes_pending", ()] == 1
    crash_and_reload(stsg_page, app)

    expect(widget(stsg_page, "name").locator("input")).to_have_value("Only in the browser")
    wait_until(lambda: restores(metrics_port, "cookie") == 1, 15, "the restore from the cookie")
    assert restores(metrics_port, "browser") == 0

    edit_only_in_the_browser(stsg_page, app, "Only in the mirror")
    stsg_page.goto("about:blank")  # so the old page does not reconnect to the next server first
    stsg_page.context.clear_cookies(name="stsg_unsaved")
    crash_and_reload(stsg_page, app)

    expect(widget(stsg_page, "name").locator("input")).to_have_value("Only in the mirror")
    wait_until(lambda: restores(metrics_port, "browser") == 1, 15, "the restore from the mirror")
    assert restores(metrics_port, "cookie") == 0
