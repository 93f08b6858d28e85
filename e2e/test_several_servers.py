"""Several servers on one PostgreSQL: no sticky sessions, and no server's newest field lost.

Two ``streamlit run`` processes of the app beside this file share one schema and one
``SESSION_GUARD_SECRET``, as a deployment of several servers must. Cookies
do not isolate by port, so a tab that moves from server A to server B keeps
its ``stsg`` cookie; IndexedDB does isolate by origin (host *and* port), so
on B the guard's mirror is empty and whatever B shows came from the
database of record.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from st_session_guard.testing import StreamlitServer, read_mirror, wait_until

from .conftest import (
    StoredSession,
    commit_field,
    cookie_session_id,
    go_to,
    no_exception_shown,
    open_app,
    stored_sessions,
)

APP = Path(__file__).with_name("several_servers_app.py")

pytestmark = pytest.mark.postgres

StartApp = Callable[[float], StreamlitServer]


@pytest.fixture
def start_app(
    postgres_url: str, streamlit_server: Callable[..., StreamlitServer]
) -> Iterator[StartApp]:
    """Start servers of the app on the test's schema, each with its own debounce delay.

    The servers are stopped here, before the schema is dropped: a server's
    exit flush must not find its tables gone.
    """
    started: list[StreamlitServer] = []

    def start(debounce: float) -> StreamlitServer:
        env = {
            "SESSION_GUARD_DATABASE_URL": postgres_url,
            "SESSION_GUARD_DEBOUNCE": str(debounce),
            "SESSION_GUARD_SECRET": "several-servers-secret",
        }
        server = streamlit_server(APP, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def stored_once(
    url: str, session_id: str, check: Callable[[StoredSession], bool], what: str
) -> StoredSession:
    """Wait until the stored row of ``session_id`` passes ``check``; that row."""
    found: list[StoredSession] = []

    def landed() -> bool:
        row = stored_sessions(url).get(session_id)
        if row is not None and check(row):
            found.append(row)
            return True
        return False

    wait_until(landed, 30, what)
    return found[-1]


def mirrored_form(
    page: Page, form_id: str, check: Callable[[dict[str, Any]], bool]
) -> tuple[int, dict[str, Any]]:
    """(revision, values) of a form in the tab's mirror, once they pass ``check``.

    The mirror holds what the tab's server sent on its last run, so this is
    that server's copy of the session.
    """
    found: list[tuple[int, dict[str, Any]]] = []

    def mirrored() -> bool:
        record = read_mirror(page) or {}
        form = record.get("forms", {}).get(form_id)
        if isinstance(form, dict) and check(form):
            found.append((int(record["revision"]), form))
            return True
        return False

    wait_until(mirrored, 15, "the mirror")
    return found[-1]


def test_session_started_on_one_server_is_restored_on_another_from_the_database(
    stsg_page: Page, start_app: StartApp, postgres_url: str
) -> None:
    server_a, server_b = start_app(0.2), start_app(0.2)
    page = stsg_page
    open_app(page, server_a)
    go_to(page, "Forms", "Contact form")
    commit_field(page, "name", "Ada Lovelace")
    commit_field(page, "email", "ada@example.org")
    commit_field(page, "age", "36", stored=36)
    commit_field(page, "bio", "First programmer.\nSecond line.", tag="textarea")
    session_id = cookie_session_id(page)
    typed = {"name": "Ada Lovelace", "email": "ada@example.org", "age": 36,
             "bio": "First programmer.\nSecond line."}
    on_a = stored_once(
        postgres_url, session_id,
        lambda row: row.form("contact").items() >= typed.items() and row.page == "forms",
        "server A's write",
    )

    open_app(page, server_b)  # same browser, same cookie; B's origin has no mirror

    expect(page.get_by_role("heading", level=1)).to_have_text("Contact form")
    expect(page.get_by_test_id("stSidebar")).to_contain_text(session_id[:12])
    expect(page.locator(".st-key-name input")).to_have_value("Ada Lovelace")
    expect(page.locator(".st-key-email input")).to_have_value("ada@example.org")
    expect(page.locator(".st-key-age input")).to_have_value("36")
    expect(page.locator(".st-key-bio textarea")).to_have_value("First programmer.\nSecond line.")
    assert cookie_session_id(page) == session_id
    mirrored_form(page, "contact", lambda form: form == on_a.form("contact"))  # every field

    commit_field(page, "name", "Ada King")
    commit_field(page, "email", "ada.king@example.org")
    on_b = stored_once(postgres_url, session_id,
                       lambda row: row.form("contact")["email"] == "ada.king@example.org",
                       "server B's write")
    assert on_b.revision > on_a.revision
    assert on_b.form("contact") == {**on_a.form("contact"), "name": "Ada King",
                                    "email": "ada.king@example.org"}

    open_app(page, server_a)  # A still holds its own, older copy of the session in memory

    expect(page.locator(".st-key-name input")).to_have_value("Ada King")
    expect(page.locator(".st-key-email input")).to_have_value("ada.king@example.org")
    expect(page.locator(".st-key-bio textarea")).to_have_value("First programmer.\nSecond line.")
    mirrored_form(page, "contact", lambda form: form == on_b.form("contact"))
    no_exception_shown(page)


@contextlib.contextmanager
def watched_revisions(url: str, session_id: str) -> Iterator[list[int]]:
    """Every distinct revision of one stored session, in the order seen, polled from a thread.

    Polling can miss a short-lived row, but every row it sees is real: an
    older revision seen after a newer one is an older copy written over a
    newer one.
    """
    seen: list[int] = []
    stop = threading.Event()
    engine = create_engine(url, poolclass=NullPool)

    def poll() -> None:
        with engine.connect() as connection:
            while not stop.is_set():
                revision = connection.execute(
                    text("SELECT revision FROM stsg_sessions WHERE session_id = :sid"),
                    {"sid": session_id},
                ).scalar_one()
                connection.rollback()  # a fresh snapshot for the next read
                if not seen or seen[-1] != revision:
                    seen.append(int(revision))
                stop.wait(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        yield seen
    finally:
        stop.set()
        poller.join()
        engine.dispose()


def test_interleaved_edits_on_two_servers_keep_each_servers_newest_field(
    stsg_page: Page, start_app: StartApp, postgres_url: str
) -> None:
    # A holds its changes for 1.5 s, B for 0.2 s, and B edits twice for each
    # edit on A: A's writes keep landing after B has stored a newer copy of
    # the session. (How often depends on timing; the last test below makes
    # such a late write happen for certain.)
    server_a, server_b = start_app(1.5), start_app(0.2)
    page_a = stsg_page
    open_app(page_a, server_a)
    go_to(page_a, "Forms", "Contact form")
    session_id = cookie_session_id(page_a)
    stored_once(postgres_url, session_id, lambda row: row.page == "forms", "the first write")
    page_b = page_a.context.new_page()
    open_app(page_b, server_b)
    expect(page_b.get_by_role("heading", level=1)).to_have_text("Contact form")

    with watched_revisions(postgres_url, session_id) as revisions:
        for step in range(1, 5):
            commit_field(page_a, "name", f"Edit {step} on A")
            commit_field(page_b, "email", f"edit{step}.1@b.example")
            commit_field(page_b, "email", f"edit{step}.2@b.example")
        # B made the last edit, so its copy is the newest of the session.
        b_revision, b_form = mirrored_form(page_b, "contact",
                                           lambda f: f["email"] == "edit4.2@b.example")
        stored_once(postgres_url, session_id, lambda row: row.revision == b_revision,
                    "B's last write")
        server_a.stop()  # A writes whatever it still holds before it exits

    final = stored_sessions(postgres_url).get(session_id)
    assert final is not None, "the session's row is gone"
    assert final.revision >= b_revision
    # Each field as the server that edited it last holds it: B's email, A's name.
    assert final.form("contact")["email"] == b_form["email"] == "edit4.2@b.example"
    assert final.form("contact")["name"] == "Edit 4 on A"
    assert revisions == sorted(revisions), f"a stored revision went back: {revisions}"
    no_exception_shown(page_b)


def test_a_late_write_from_another_server_keeps_the_newer_fields_of_both(
    stsg_page: Page, stsg_browser: Browser, start_app: StartApp, postgres_url: str
) -> None:
    server_a = start_app(600.0)  # A writes nothing until it exits
    server_b = start_app(0.2)
    page_b = stsg_page
    open_app(page_b, server_b)
    go_to(page_b, "Forms", "Contact form")
    commit_field(page_b, "name", "Written on B")
    session_id = cookie_session_id(page_b)
    stored_once(postgres_url, session_id,
                lambda row: row.form("contact").get("name") == "Written on B", "B's first write")

    page_a = page_b.context.new_page()
    open_app(page_a, server_a)
    expect(page_a.locator(".st-key-name input")).to_have_value("Written on B")
    commit_field(page_a, "email", "older@a.example")  # pending on A
    commit_field(page_b, "name", "Newer on B")
    newer = stored_once(postgres_url, session_id,
                        lambda row: row.form("contact").get("name") == "Newer on B", "B's write")

    # A second session, only ever on A: its row appears when, and only when, A writes.
    witness_context = stsg_browser.new_context()
    try:
        witness = witness_context.new_page()
        open_app(witness, server_a)
        go_to(witness, "Forms", "Contact form")
        commit_field(witness, "name", "Witness")
        witness_id = cookie_session_id(witness)
    finally:
        witness_context.close()
    assert witness_id not in stored_sessions(postgres_url)

    server_a.stop()  # SIGTERM: A writes everything it holds, in one batch

    rows = stored_sessions(postgres_url)
    assert witness_id in rows, f"A wrote nothing at exit: {server_a.log()}"
    assert rows[witness_id].form("contact")["name"] == "Witness"  # A's exit write did run
    assert rows[session_id].revision >= newer.revision
    # B's newer name stays; A's email, an edit B never made, lands beside it.
    assert rows[session_id].form("contact")["name"] == "Newer on B"
    assert rows[session_id].form("contact")["email"] == "older@a.example"
    no_exception_shown(page_b)
