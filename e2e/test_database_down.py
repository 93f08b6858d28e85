"""The database goes away while a user types: the app carries on, and nothing typed is lost.

PostgreSQL is taken away by cutting a TCP proxy between the app and the
server (established connections break, new ones are refused); the shared
server itself is never touched. SQLite is taken away by holding its write
lock from the test's own connection, as another process would.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, reload_and_wait, wait_for_run, wait_until
from tests.support import Outage

from .conftest import (
    commit_field,
    cookie_session_id,
    mirrored_value,
    no_exception_shown,
    open_app,
    stored_sessions,
)

APP = Path(__file__).with_name("database_down_app.py")


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outage]:
    if request.param == "sqlite":
        handle = Outage.of(f"sqlite:///{tmp_path / 'sessions.db'}")
    else:
        handle = Outage.of(request.getfixturevalue("postgres_url"))
    yield handle
    handle.close()


@pytest.fixture
def app(
    outage: Outage, streamlit_server: Callable[..., StreamlitServer]
) -> Iterator[StreamlitServer]:
    """The outage app on the outage's database; stopped before the database is dropped."""
    server = streamlit_server(APP, env={
        "SESSION_GUARD_DATABASE_URL": outage.url,
        "SESSION_GUARD_DEBOUNCE": "0.2",
        "SESSION_GUARD_SECRET": "e2e-secret",
    })
    yield server
    server.stop()


STATUS = re.compile(
    r"run \d+; healthy (?P<healthy>True|False); failed writes (?P<failed>\d+); "
    r"unwritten sessions (?P<unwritten>\d+)"
)


@dataclass(frozen=True)
class Status:
    """What the app's process knows of its database, as its status line shows it."""

    healthy: bool
    failed_writes: int
    unwritten: int

    @classmethod
    def parse(cls, line: str) -> Status:
        found = STATUS.fullmatch(line.strip())
        assert found, f"not a status line: {line!r}"
        return cls(found["healthy"] == "True", int(found["failed"]), int(found["unwritten"]))


def read_status(page: Page) -> Status:
    """Rerun the app (changing nothing in the session) and read the status line of that run."""
    line = page.locator(".st-key-status")
    before = line.inner_text()
    page.locator(".st-key-check button").click()
    expect(line).not_to_have_text(before, timeout=30_000)  # a new run number: a fresh line
    return Status.parse(line.inner_text())


def status_becomes(page: Page, check: Callable[[Status], bool], what: str) -> Status:
    seen: list[Status] = []

    def reached() -> bool:
        seen.append(read_status(page))
        return check(seen[-1])

    wait_until(reached, 60, what)
    return seen[-1]


def stored_form(url: str, session_id: str) -> dict[str, Any]:
    row = stored_sessions(url).get(session_id)
    return row.form("contact") if row is not None else {}


def pick_option(page: Page, key: str, option: str) -> None:
    page.locator(f".st-key-{key} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_for_run(page)
    wait_until(lambda: mirrored_value(page, "contact", key) == option, 30, "the server to take it")
    expect(page.locator(f".st-key-{key} input")).to_have_value(option)


TYPED_WHILE_DOWN: dict[str, Any] = {
    "name": "Typed while down",
    "email": "down@example.org",
    "age": 41,
    "bio": "Line one.\nLine two, still no database.",
    "plan": "pro",
}


def test_typing_while_the_database_is_down_loses_nothing_once_it_is_back(
    stsg_page: Page, app: StreamlitServer, outage: Outage
) -> None:
    page = stsg_page
    open_app(page, app)
    first = "Before the outage"
    commit_field(page, "name", first)
    session_id = cookie_session_id(page)
    wait_until(lambda: stored_form(outage.direct_url, session_id).get("name") == first,
               30, "the first write")
    assert read_status(page).healthy

    outage.start()
    commit_field(page, "name", TYPED_WHILE_DOWN["name"])
    commit_field(page, "email", TYPED_WHILE_DOWN["email"])
    commit_field(page, "age", str(TYPED_WHILE_DOWN["age"]), stored=TYPED_WHILE_DOWN["age"])
    commit_field(page, "bio", TYPED_WHILE_DOWN["bio"], tag="textarea")
    pick_option(page, "plan", TYPED_WHILE_DOWN["plan"])
    no_exception_shown(page)
    reload_and_wait(page)  # served from the process's copy: the database cannot answer
    expect(page.locator(".st-key-name input")).to_have_value(TYPED_WHILE_DOWN["name"])
    expect(page.locator(".st-key-email input")).to_have_value(TYPED_WHILE_DOWN["email"])
    expect(page.locator(".st-key-age input")).to_have_value("41")
    expect(page.locator(".st-key-bio textarea")).to_have_value(TYPED_WHILE_DOWN["bio"])
    expect(page.locator(".st-key-plan input")).to_have_value("pro")
    no_exception_shown(page)

    # The reload was the session's last change. Once a write has failed after
    # it, the session must still be held, to be written when the database is back.
    down = status_becomes(page, lambda s: not s.healthy, "health_check() to report the outage")
    status_becomes(page, lambda s: s.failed_writes > down.failed_writes,
                   "a failed write after the last change")
    held = read_status(page)
    assert not held.healthy and held.unwritten == 1
    assert stored_form(outage.direct_url, session_id)["name"] == first
    no_exception_shown(page)

    outage.stop()

    def all_stored() -> bool:
        return stored_form(outage.direct_url, session_id).items() >= TYPED_WHILE_DOWN.items()

    wait_until(all_stored, 60, "the writes held back during the outage")
    stored = stored_form(outage.direct_url, session_id)
    assert {key: stored[key] for key in TYPED_WHILE_DOWN} == TYPED_WHILE_DOWN
    status_becomes(page, lambda s: s.healthy and s.unwritten == 0, "health_check() to recover")
    log = app.log()
    assert "cannot write sessions to the database" in log
    assert "database writes work again" in log
    assert "Uncaught app execution" not in log
    no_exception_shown(page)
