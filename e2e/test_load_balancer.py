"""Two Streamlit servers behind nginx (round robin, no sticky sessions) on one PostgreSQL, and,
where the test is about one server hearing the other, on one SQLite file too.

Each tab's WebSocket stays on the server it reached, and the next tab or
reload may reach the other one; IndexedDB and the cookie belong to the
balancer's origin, so every server sees the same browser.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.testing import StreamlitServer, read_mirror, wait_for_run, wait_until

from .load_balancer import LoadBalancer, nginx_binary

APP = Path(__file__).with_name("load_balancer_app.py")
SERVERS = ("A", "B")

Balance = Callable[[float], tuple[LoadBalancer, dict[str, StreamlitServer]]]
POSTGRESQL = pytest.param("postgresql", marks=pytest.mark.postgres)
ON_BOTH = pytest.mark.parametrize("database_url", [POSTGRESQL, "sqlite"], indirect=True)


@pytest.fixture(params=[POSTGRESQL])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The servers' database: a PostgreSQL schema, or, for tests marked ``ON_BOTH``, a SQLite
    file as well."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def balance(
    database_url: str, streamlit_server: Callable[..., StreamlitServer], tmp_path: Path
) -> Iterator[Balance]:
    """Start servers A and B with one debounce delay, and nginx in front of them.

    Everything is stopped here, before the schema is dropped: a server's exit
    flush must not find its tables gone.
    """
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    started: list[tuple[LoadBalancer, dict[str, StreamlitServer]]] = []

    def start(debounce: float) -> tuple[LoadBalancer, dict[str, StreamlitServer]]:
        env = {
            "SESSION_GUARD_DATABASE_URL": database_url,
            "SESSION_GUARD_DEBOUNCE": str(debounce),
            "SESSION_GUARD_SECRET": "load-balancer-secret",
        }
        servers = {
            name: streamlit_server(APP, env={**env, "STSG_SERVER_NAME": name}) for name in SERVERS
        }
        root = tmp_path / "nginx"
        root.mkdir()
        balancer = LoadBalancer([s.port for s in servers.values()], root).start()
        started.append((balancer, servers))
        return balancer, servers

    yield start
    for balancer, servers in started:
        balancer.stop()
        for server in servers.values():
            server.stop()


def served_by(page: Page) -> str:
    return page.locator("strong").first.inner_text()


def open_on(context: BrowserContext, url: str, server: str) -> Page:
    """A new tab of ``context`` whose WebSocket reached ``server``; the tabs that missed are closed.

    Round robin counts requests, and page loads make the same number each time: when that number
    is even, every load's WebSocket reaches the same server, when odd they alternate. So one more
    request after every other miss: either way a load within three reaches ``server``."""
    for attempt in range(8):
        page = context.new_page()
        page.goto(url)
        wait_for_run(page)
        if served_by(page) == server:
            return page
        page.close()
        if attempt % 2 == 0:
            assert context.request.get(f"{url.rstrip('/')}/_stcore/health").ok
    raise AssertionError(f"no tab reached server {server} in 8 tries: the balancer does not balance")


def session_cookie(context: BrowserContext) -> str:
    tokens: list[str] = []

    def cookie_set() -> bool:
        tokens[:] = [c["value"] for c in context.cookies() if c["name"] == "stsg"]
        return bool(tokens)

    wait_until(cookie_set, 30, "the session cookie")
    return tokens[0].split(".")[0]


def commit(page: Page, key: str, value: str) -> None:
    """Type into a wrapped field, commit it, and wait until the tab's server has taken it.

    Only the server writes values into the guard's mirror, so the mirror
    showing the value proves the server holds it.
    """
    field = page.locator(f".st-key-{key} input, .st-key-{key} textarea").first
    field.fill(value)
    field.press("Control+Enter" if key == "bio" else "Enter")

    def mirrored() -> bool:
        record: dict[str, Any] = read_mirror(page) or {}
        return bool(record.get("forms", {}).get("profile", {}).get(key) == value)

    wait_until(mirrored, 30, f"{key} in the mirror")


def stored_profile(url: str, session_id: str) -> dict[str, Any]:
    """The ``profile`` form of ``session_id`` as the database holds it, read with a connection of our own."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            state = connection.execute(
                text("SELECT state FROM stsg_sessions WHERE session_id = :id"), {"id": session_id}
            ).scalar()
    except (ProgrammingError, OperationalError):
        return {}
    finally:
        engine.dispose()
    values: dict[str, Any] = {}
    if isinstance(state, str):  # SQLite's JSON comes back as text
        state = json.loads(state)
    for change in (state or {}).get("changes", []):
        path = change["p"]
        if path[:2] == ["forms", "profile"] and not change.get("d"):
            values[path[2]] = change["v"]
    return values


def tabs_on_both(context: BrowserContext, url: str) -> tuple[Page, Page, str]:
    """A tab on server A, then a tab of the same session on server B; the session's id."""
    on_a = open_on(context, url, "A")
    session_id = session_cookie(context)
    return on_a, open_on(context, url, "B"), session_id


def test_tabs_on_two_servers_behind_nginx_keep_every_committed_edit(
    stsg_browser: Browser, balance: Balance, database_url: str
) -> None:
    balancer, _ = balance(0.2)
    context = stsg_browser.new_context()
    on_a, on_b, session_id = tabs_on_both(context, balancer.url)
    assert session_cookie(context) == session_id

    commit(on_a, "name", "Ada")
    commit(on_b, "email", "ada@example.org")
    commit(on_a, "bio", "Analyst")

    expected = {"name": "Ada", "email": "ada@example.org", "bio": "Analyst"}
    with contextlib.suppress(AssertionError):
        wait_until(lambda: stored_profile(database_url, session_id) == expected, 30, "every edit")
    assert stored_profile(database_url, session_id) == expected
    context.close()


def test_a_server_killed_mid_session_loses_nothing_a_reload_on_the_other_restores(
    stsg_browser: Browser, balance: Balance
) -> None:
    """The unsaved changes come back through nginx in their cookie, near its full size, which
    leaves room in nginx's default header buffers (8 KB a line) for the app's own cookies."""
    # A debounce far longer than the test: server A dies before it writes anything.
    balancer, servers = balance(60)
    context = stsg_browser.new_context()
    page = open_on(context, balancer.url, "A")
    bio = "Admiral of the fleet. " * 110  # 2,420 characters
    commit(page, "name", "Grace")
    commit(page, "bio", bio)
    wait_until(lambda: len(unsaved_cookie(context)) > 3_000, 30, "the unsaved-changes cookie")

    servers["A"].stop(kill=True)
    page.reload()
    wait_for_run(page)

    expect(page.locator("strong").first).to_have_text("B")
    expect(page.locator(".st-key-name input")).to_have_value("Grace")
    expect(page.locator(".st-key-bio textarea")).to_have_value(bio)
    context.close()


def unsaved_cookie(context: BrowserContext) -> str:
    return next((c["value"] for c in context.cookies() if c["name"] == "stsg_unsaved"), "")


def shown_session(page: Page) -> str:
    return page.locator("code").first.inner_text()


def run_again_until(page: Page, shown: Callable[[], bool], what: str) -> None:
    """Rerun the tab (no reload) until it shows what ``shown`` checks: the other server's
    notice reaches this one a moment after its commit, so it may take more than one run."""

    def rerun_shows() -> bool:
        page.locator(".st-key-again button").click()
        wait_for_run(page)
        return shown()

    wait_until(rerun_shows, 30, what, interval=0.2)


@ON_BOTH
def test_an_edit_on_one_server_shows_in_a_tab_on_the_other_on_its_next_run(
    stsg_browser: Browser, balance: Balance, database_url: str
) -> None:
    balancer, _ = balance(0.2)
    context = stsg_browser.new_context()
    on_a, on_b, session_id = tabs_on_both(context, balancer.url)
    expect(on_b.locator(".st-key-name input")).to_have_value("")

    commit(on_a, "name", "Ada")
    wait_until(lambda: stored_profile(database_url, session_id).get("name") == "Ada", 30, "A's write")

    name_on_b = on_b.locator(".st-key-name input")
    run_again_until(on_b, lambda: name_on_b.input_value() == "Ada", "A's edit on B")
    assert served_by(on_b) == "B" and shown_session(on_b) == session_id
    commit(on_b, "email", "ada@example.org")  # B goes on from the value it now shows
    expect(on_a.locator(".st-key-name input")).to_have_value("Ada")
    context.close()


def test_a_logout_on_one_server_moves_the_other_servers_tab_to_a_fresh_session_on_its_next_run(
    stsg_browser: Browser, balance: Balance, database_url: str
) -> None:
    balancer, _ = balance(0.2)
    context = stsg_browser.new_context()
    on_a, on_b, session_id = tabs_on_both(context, balancer.url)
    commit(on_b, "name", "Ada")
    wait_until(lambda: stored_profile(database_url, session_id).get("name") == "Ada", 30, "B's write")

    on_a.locator(".st-key-logout button").click()
    wait_for_run(on_a)
    expect(on_a.locator("code").first).not_to_have_text(session_id)

    run_again_until(on_b, lambda: shown_session(on_b) != session_id, "B's tab to leave the session")
    assert served_by(on_b) == "B"
    expect(on_b.locator(".st-key-name input")).to_have_value("")
    assert session_cookie(context) != session_id
    context.close()


@ON_BOTH
def test_a_session_expired_by_another_process_leaves_the_tab_on_this_server_on_its_next_run(
    stsg_browser: Browser, balance: Balance, database_url: str
) -> None:
    balancer, _ = balance(0.2)
    context = stsg_browser.new_context()
    on_b = open_on(context, balancer.url, "B")
    session_id = session_cookie(context)
    commit(on_b, "name", "Ada")
    wait_until(lambda: stored_profile(database_url, session_id).get("name") == "Ada", 30, "B's write")

    # an admin's expiry from another process (the dashboard on another server, a script):
    # the browser's cookie still names the session, so only B's hearing of it moves the tab
    admin = SessionPersistenceEngine(database_url=database_url, session_timeout=3600)
    try:
        assert admin.expire_session(session_id)
    finally:
        admin.close()

    run_again_until(on_b, lambda: shown_session(on_b) != session_id, "B's tab to leave the session")
    assert served_by(on_b) == "B"
    expect(on_b.locator(".st-key-name input")).to_have_value("")
    context.close()
