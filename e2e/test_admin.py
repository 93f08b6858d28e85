"""The sessions dashboard: refused without the permission; with it, the stored figures.

Each test has a server and database of its own: the dashboard counts every
stored session, so another test's session would change its figures.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from playwright.sync_api import FloatRect, Locator, Page, expect

from st_session_guard import UserSession
from st_session_guard.session_persistence import SessionPersistenceEngine
from st_session_guard.testing import StreamlitServer, wait_for_run, wait_until

from .conftest import open_app

APP = Path(__file__).with_name("admin_app.py")


@pytest.fixture
def app(streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str]) -> StreamlitServer:
    return streamlit_server(APP, env=app_env)


@dataclass
class Seeded:
    ada: UserSession
    grace: UserSession
    alan: UserSession
    old: UserSession
    """Expired an hour ago."""


def seed(db_path: Path) -> Seeded:
    """Sessions written straight into the app's database, as another server would have."""
    engine = SessionPersistenceEngine(database_url=f"sqlite:///{db_path}", session_timeout=3600)
    ada, grace, alan, old = (
        UserSession("ada"),
        UserSession("grace"),
        UserSession("alan"),
        UserSession("old"),
    )
    ada.navigate_to("forms")
    for value in ("A", "Ad", "Ada"):
        ada.update_form_data("contact", "name", value)
    ada.navigate_to("profile")
    grace.navigate_to("profile")
    alan.navigate_to("settings")
    old.navigate_to("forms")
    old.created_at = old.metrics.started_at = datetime.now(timezone.utc) - timedelta(hours=3)
    old.metrics.last_activity = datetime.now(timezone.utc) - timedelta(hours=2)
    for session in (ada, grace, alan, old):
        engine.persist_session(session)
    assert engine.flush_all() == 4
    engine.close()
    engine.db.dispose()
    return Seeded(ada, grace, alan, old)


def stored_expiry(db_path: Path) -> dict[str, datetime]:
    """Session id -> expiry, read straight from the file (stored as naive UTC text)."""
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute("SELECT session_id, expires_at FROM stsg_sessions").fetchall()
    return {sid: datetime.fromisoformat(at).replace(tzinfo=timezone.utc) for sid, at in rows}


def become_admin(page: Page, server: StreamlitServer, db_path: Path, sessions: int) -> None:
    """Grant this tab's session the permission; wait until the database holds ``sessions`` rows."""
    open_app(page, server)
    page.get_by_role("button", name="Make me admin").click()
    expect(metric(page, "Stored sessions")).to_be_visible()  # drawn only with the permission
    wait_for_run(page)
    wait_until(
        lambda: len(stored_expiry(db_path)) == sessions, 15, "this tab's session to be written"
    )


def wait_until_still(target: Locator, what: str, settle: float = 0.5) -> None:
    """Wait until ``target`` has not moved for ``settle`` seconds."""
    box: FloatRect | None = None
    since = time.monotonic()

    def still() -> bool:
        nonlocal box, since
        now, current = time.monotonic(), target.bounding_box()
        if current != box:
            box, since = current, now
        return box is not None and now - since >= settle

    wait_until(still, 30, what)


def pick_session(page: Page, label: str) -> None:
    """Choose a session in the dashboard's picker, and wait until the server has taken it.

    No rerun closes the list here; a scroll does (any scroll of the page closes it), and
    the page moves after its run has ended: the browser draws the charts and the table
    then, pushing the picker about 750 px down. So wait until they are drawn, scroll the
    picker into view, and open the list only once the picker stays put.
    """
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(4)
    for chart in charts.all():
        expect(chart.locator("svg.marks")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    picker = page.locator(".st-key-stsg_admin_pick input")
    picker.scroll_into_view_if_needed()
    wait_until_still(picker, "the session picker to stay put")
    picker.click()
    page.get_by_role("option", name=label, exact=True).click()
    expect(picker).to_have_value(label)
    # Drawn enabled only by the run that read the choice.
    expect(page.get_by_role("button", name="Expire session")).to_be_enabled()
    wait_for_run(page)


def metric(page: Page, label: str) -> Locator:
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def mark(page: Page, label: str) -> Locator:
    """A chart mark by its accessible label, which Vega-Lite builds from the plotted values."""
    return page.get_by_test_id("stVegaLiteChart").locator(f'[aria-label="{label}"]')


def test_dashboard_refuses_a_session_without_the_admin_permission(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    page = stsg_page
    seed(db_path)
    open_app(page, app)

    expect(page.get_by_role("heading", level=1)).to_have_text("Sessions dashboard")
    expect(page.get_by_test_id("stAlert")).to_contain_text("needs the permission 'admin'")
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    expect(page.get_by_test_id("stMetric")).to_have_count(0)


def test_dashboard_charts_and_lists_the_stored_sessions(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    page = stsg_page
    seeded = seed(db_path)
    become_admin(page, app, db_path, sessions=5)

    expect(metric(page, "Stored sessions")).to_have_text("5")
    expect(metric(page, "Live")).to_have_text("4")
    expect(metric(page, "Active in the last hour")).to_have_text("4")
    expect(metric(page, "Expired, awaiting cleanup")).to_have_text("1")
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(4)
    expect(mark(page, "visits: 2; page: profile")).to_have_count(1)
    expect(mark(page, "visits: 2; page: forms")).to_have_count(1)
    expect(mark(page, "visits: 1; page: settings")).to_have_count(1)
    expect(mark(page, "duration: 30 min–2 h; sessions: 1")).to_have_count(1)
    expect(mark(page, "duration: < 1 min; sessions: 4")).to_have_count(1)
    ada = f'[aria-label^="session: {seeded.ada.session_id[:8]};"]'
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts.locator(f'{ada}[aria-label$="value: 3; color: interactions"]')).to_have_count(1)
    expect(charts.locator(f'{ada}[aria-label$="value: 2; color: page views"]')).to_have_count(1)
    expect(charts.locator('[aria-label^="time:"]').last).to_have_attribute(
        "aria-label", re.compile(r"; active sessions: 4$")
    )

    table = page.get_by_test_id("stDataFrame")
    for session in (seeded.ada, seeded.grace, seeded.alan, seeded.old):
        expect(table).to_contain_text(session.session_id)

    search = page.locator(".st-key-stsg_admin_search input")
    search.fill("grace")
    search.press("Enter")
    wait_for_run(page)
    expect(table).to_contain_text(seeded.grace.session_id)
    expect(table).not_to_contain_text(seeded.ada.session_id)


def test_dashboard_expires_a_session_and_cleans_up_expired_ones(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    page = stsg_page
    seeded = seed(db_path)
    become_admin(page, app, db_path, sessions=5)
    expect(metric(page, "Expired, awaiting cleanup")).to_have_text("1")

    pick_session(page, f"{seeded.ada.session_id[:16]}… ada")
    page.get_by_role("button", name="Expire session").click()
    wait_for_run(page)

    expect(page.get_by_test_id("stAlert")).to_contain_text(
        f"Session {seeded.ada.session_id[:12]}… expired."
    )
    expect(metric(page, "Expired, awaiting cleanup")).to_have_text("2")
    assert stored_expiry(db_path)[seeded.ada.session_id] <= datetime.now(timezone.utc)

    page.get_by_role("button", name="Clean up 2 expired").click()
    wait_for_run(page)

    expect(page.get_by_test_id("stAlert")).to_contain_text("Removed 2 expired sessions.")
    expect(metric(page, "Stored sessions")).to_have_text("3")
    expect(metric(page, "Expired, awaiting cleanup")).to_have_text("0")
    remaining = stored_expiry(db_path)
    assert seeded.ada.session_id not in remaining
    assert seeded.old.session_id not in remaining
    assert {seeded.grace.session_id, seeded.alan.session_id} <= set(remaining)
