"""Fixtures and helpers for the browser suite: each test module drives the small app beside it.

A module shares one server (``streamlit_module_server``) on one database
(``shared_db_path``) where its tests do not restart it; each test still gets a
fresh browser context, so a fresh cookie and session, and looks only at its
own session's rows. A test that stops or restarts its server, or needs an
empty database, starts its own (``streamlit_server`` on ``db_path``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Frame, Locator, Page, Route, expect
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from st_session_guard.testing import (
    GUARD_FRAME,
    StreamlitServer,
    guard_frame,
    read_mirror,
    wait_for_run,
    wait_until,
)
from tests.support import PostgresSchemas

# A rerun on a loaded two-core machine can take longer than Playwright's 5 s default.
expect.set_options(timeout=20_000)


def env_for(db_path: Path) -> dict[str, str]:
    """The settings every app of the suite runs with, on the SQLite file ``db_path``."""
    return {
        "SESSION_GUARD_DATABASE_URL": f"sqlite:///{db_path}",
        "SESSION_GUARD_DEBOUNCE": "0.2",
        "SESSION_GUARD_SECRET": "e2e-secret",
    }


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """An empty database for this test's own server."""
    return tmp_path / "sessions.db"


@pytest.fixture
def app_env(db_path: Path) -> dict[str, str]:
    return env_for(db_path)


@pytest.fixture(scope="module")
def shared_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The database of the module's shared server: tests tell their sessions apart by id."""
    return tmp_path_factory.mktemp("shared") / "sessions.db"


@pytest.fixture(scope="module")
def shared_app_env(shared_db_path: Path) -> dict[str, str]:
    return env_for(shared_db_path)


def shared_app(script: Path) -> Any:
    """A module-scoped fixture: ``script`` served for the whole module, on its shared database.

    ``app = shared_app(APP)`` in a test module gives its tests the ``app`` fixture.
    """

    @pytest.fixture(scope="module")
    def app(
        streamlit_module_server: Callable[..., StreamlitServer], shared_app_env: dict[str, str]
    ) -> StreamlitServer:
        return streamlit_module_server(script, env=shared_app_env)

    return app


def database_bytes(db_path: Path) -> bytes:
    """The database file and its WAL, raw: what a secret must never be found in."""
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


def session_rows(db_path: Path) -> dict[str, dict[str, object]]:
    """Each stored session by id: its owner, state document, and server-owned role and permission rows.

    Read straight from the file, so a test sees what a restart would restore,
    not what a server process holds in memory.
    """
    if not db_path.exists():
        return {}
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute("SELECT session_id, user_id, state FROM stsg_sessions").fetchall()
        roles = connection.execute("SELECT session_id, role FROM stsg_session_roles").fetchall()
        permissions = connection.execute(
            "SELECT session_id, permission FROM stsg_session_permissions"
        ).fetchall()
    return {
        session_id: {
            "user_id": user_id,
            "state": json.loads(state) if isinstance(state, str) else state,
            "roles": sorted(role for owner, role in roles if owner == session_id),
            "permissions": sorted(p for owner, p in permissions if owner == session_id),
        }
        for session_id, user_id, state in rows
    }


def stored_value(db_path: Path, session_id: str, path: list[str]) -> object:
    """The value one session's row holds at a path, or None when it holds none."""
    row = session_rows(db_path).get(session_id)
    if row is None:
        return None
    for change in row["state"].get("changes", []):  # type: ignore[attr-defined]
        if change["p"] == path and not change.get("d"):
            return change.get("v")
    return None


def assert_unprivileged(db_path: Path, session_id: str) -> None:
    """No role, permission or owner in the row nor in the server-owned tables beside it."""
    row = session_rows(db_path)[session_id]
    state = row["state"]
    assert row["user_id"] is None and state["user_id"] is None  # type: ignore[index]
    assert row["roles"] == [] and state["roles"] == []  # type: ignore[index]
    assert row["permissions"] == [] and state["permissions"] == []  # type: ignore[index]


# -- several servers, outages and load: PostgreSQL schemas and stored rows ----------

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "load: hundreds of sessions editing at once on one server (about a minute)"
    )


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[PostgresSchemas]:
    with PostgresSchemas.open("stsg_e2e") as schemas:
        yield schemas


@pytest.fixture
def postgres_url(postgres_schemas: PostgresSchemas) -> Iterator[str]:
    """The URL of an empty PostgreSQL schema made for this test; dropped after it.

    Servers that use it must be stopped first, so fixtures that start them
    stop them in their own teardown.
    """
    with postgres_schemas.schema() as url:
        yield url


@dataclass(frozen=True)
class StoredSession:
    """One row of ``stsg_sessions`` as the test reads it, straight from the database."""

    session_id: str
    revision: int
    state: dict[str, Any]

    def form(self, form_id: str) -> dict[str, Any]:
        """The form's field values at this revision (deleted fields left out)."""
        values: dict[str, Any] = {}
        for change in self.state.get("changes", []):
            path = change["p"]
            if path[0] == "forms" and path[1] == form_id and not change.get("d"):
                values[path[2]] = change.get("v")
        return values

    @property
    def page(self) -> str | None:
        for change in self.state.get("changes", []):
            if change["p"] == ["page"]:
                return str(change["v"])
        return None


def stored_sessions(url: str) -> dict[str, StoredSession]:
    """Every stored session, by id, read with a connection of the test's own (never pooled).

    Empty while the tables do not exist yet.
    """
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT session_id, revision, state FROM stsg_sessions")
            ).all()
    except (ProgrammingError, OperationalError) as error:
        if "stsg_sessions" in str(error) and (
            "does not exist" in str(error) or "no such table" in str(error)
        ):
            return {}  # no session written yet: the tables come with the first write
        raise
    finally:
        engine.dispose()
    return {
        sid: StoredSession(sid, int(rev), state if isinstance(state, dict) else json.loads(state))
        for sid, rev, state in rows
    }


def stored_form(db_path: Path, session_id: str, form: str) -> dict[str, object]:
    """One session's stored form, field by field, read straight from the file."""
    values: dict[str, object] = {}
    row = session_rows(db_path).get(session_id)
    for change in row["state"].get("changes", []) if row else []:  # type: ignore[attr-defined]
        path = change["p"]
        if path[:2] == ["forms", form] and len(path) == 3 and not change.get("d"):
            values[path[2]] = change.get("v")
    return values


def widget(page: Page, key: str) -> Locator:
    return page.locator(f".st-key-{key}")


def commit_text(page: Page, key: str, text: str, tag: str = "input") -> None:
    """Type into a keyed text widget and commit it (Enter; Ctrl+Enter in a text area)."""
    field = page.locator(f".st-key-{key} {tag}")
    field.fill(text)
    field.press("Control+Enter" if tag == "textarea" else "Enter")
    wait_for_run(page)


def pick_option(page: Page, key: str, option: str) -> None:
    """Choose an option of a keyed selectbox; the box shows it once the list has closed."""
    page.locator(f".st-key-{key} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(f".st-key-{key} input")).to_have_value(option)
    wait_for_run(page)


def go_to(page: Page, title: str, heading: str) -> None:
    """Click a page's button in the sidebar and wait for that page's run to end."""
    page.get_by_test_id("stSidebar").get_by_role("button", name=title, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    wait_for_run(page)


def guard_ready(page: Page) -> Frame:
    """The guard's frame once it has taken a render of the server's: typing is captured from then."""
    frame = guard_frame(page)
    frame.wait_for_function("() => window.stSessionGuard.revision > 0")
    return frame


class HeldGuard:
    """Holds the request for the guard's frame until ``release()``: a frame that loads late.

    The user can act meanwhile, so the frame's first render is a run they started.
    """

    PATTERN = f"**/{GUARD_FRAME}/index.html*"

    def __init__(self, page: Page) -> None:
        self.page = page
        self.routes: list[Route] = []
        page.route(self.PATTERN, self._hold)

    def _hold(self, route: Route) -> None:
        self.routes.append(route)

    def release(self) -> None:
        # Playwright hands the browser's events to Python only inside its own calls.
        wait_until(lambda: self.page.evaluate("1") and self.routes, 30, "the guard frame's request")
        for route in self.routes:
            route.continue_()
        self.page.unroute(self.PATTERN)


def open_app(page: Page, server: StreamlitServer) -> None:
    """Load the app; return once its first run has ended and the guard has taken that run.

    An action before then makes a run the guard frame may load too late to
    see; a guard given only a later run's changes finds its mirror behind and
    asks for a resync, one more rerun, landing in the middle of the next step.
    """
    page.goto(server.url)
    wait_for_run(page)
    guard_ready(page)


def no_exception_shown(page: Page) -> None:
    """Nothing the app did raised into the script: Streamlit would show it on the page."""
    expect(page.get_by_test_id("stException")).to_have_count(0)


def mirrored_value(page: Page, form_id: str, field: str) -> object:
    """A form field as the tab's guard mirror holds it: the value its server last sent."""
    return ((read_mirror(page) or {}).get("forms") or {}).get(form_id, {}).get(field)


def commit_field(
    page: Page, key: str, value: str, tag: str = "input", *,
    form_id: str = "contact", stored: object = None,
) -> None:
    """Type into a keyed text widget, commit it, and wait until the server has taken it.

    Enter commits (Ctrl+Enter in a text area). The run it causes may not have
    started when the page next looks idle, so the proof that the server holds
    the value is the guard's mirror showing it (``stored``, when the stored
    form differs from the text typed): only the server writes values there.
    """
    field = page.locator(f".st-key-{key} {tag}")
    field.fill(value)
    field.press("Control+Enter" if tag == "textarea" else "Enter")
    wait_for_run(page)
    expected = value if stored is None else stored
    wait_until(lambda: mirrored_value(page, form_id, key) == expected, 30, f"the server: {key}")
    expect(field).to_have_value(value)


def session_token(context: BrowserContext, other_than: str | None = None) -> str:
    """The ``stsg`` cookie the guard wrote, once it is there (and differs from ``other_than``)."""
    tokens: list[str] = []

    def written() -> bool:
        tokens[:] = [c["value"] for c in context.cookies() if c["name"] == "stsg"]
        return bool(tokens) and tokens[0] != other_than

    wait_until(written, 30, "the session cookie")
    assert len(tokens) == 1, f"expected one session cookie, found {tokens}"
    return tokens[0]


def cookie_session_id(page: Page) -> str:
    """The session id the page's signed ``stsg`` cookie names, once the guard has set it."""
    return session_token(page.context).split(".")[0]
