"""A server killed inside its write-behind window loses nothing the browser has seen.

The changes the database may not hold yet come back two ways: with the page
request, in the unsaved-changes cookie, so the first frame shows them; and
from the IndexedDB mirror through the guard, for whatever the cookie did
not carry (here, a cookie the test removes).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, read_mirror, wait_for_run, wait_until
from tests.support import unsaved_cookie_value

from .conftest import (
    HeldGuard,
    assert_unprivileged,
    commit_text,
    cookie_session_id,
    guard_ready,
    mirrored_value,
    no_exception_shown,
    open_app,
    pick_option,
    stored_form,
    widget,
)

APP = Path(__file__).with_name("crash_window_app.py")
UNSAVED = "stsg_unsaved"
NAME = ["forms", "contact", "name"]


@pytest.fixture
def app(streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str]) -> StreamlitServer:
    """A server of the test's own: each test kills it."""
    return streamlit_server(APP, env=app_env)


def stored(db_path: Path, session_id: str, field: str) -> object:
    return stored_form(db_path, session_id, "contact").get(field)


def unsaved_cookie(page: Page) -> str | None:
    values = [c["value"] for c in page.context.cookies() if c["name"] == UNSAVED]
    return values[0] if values else None


def carried(value: str | None) -> dict[str, Any]:
    """Field -> value of the form values an unsaved-changes cookie carries (it carries the
    form's undo snapshots and edit marks too)."""
    assert value is not None
    encoded = value.split(".", 1)[1]
    message = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return {change["p"][2]: change.get("v") for change in message["changes"] if change["p"][0] == "forms"}


def leave_edits_only_in_the_mirror(page: Page, app: StreamlitServer, db_path: Path) -> str:
    """"Written" stored; then, inside an hour-long write-behind window, name "Only in the
    browser" and plan "pro" in the mirror only. Returns the session id."""
    open_app(page, app)
    commit_text(page, "name", "Written")
    session_id = cookie_session_id(page)
    wait_until(lambda: stored(db_path, session_id, "name") == "Written", 15, "the first write")

    app.env["SESSION_GUARD_DEBOUNCE"] = "3600"
    app.restart()
    open_app(page, app)
    commit_text(page, "name", "Only in the browser")
    pick_option(page, "plan", "pro")
    wait_until(lambda: mirrored_value(page, "contact", "name") == "Only in the browser"
               and mirrored_value(page, "contact", "plan") == "pro", 15, "the mirror write")
    return session_id


def test_sigkill_inside_the_debounce_window_loses_nothing(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    page = stsg_page
    session_id = leave_edits_only_in_the_mirror(page, app, db_path)
    assert stored(db_path, session_id, "name") == "Written"

    app.env["SESSION_GUARD_DEBOUNCE"] = "0.2"
    app.restart(kill=True)
    open_app(page, app)

    expect(widget(page, "name").locator("input")).to_have_value("Only in the browser")
    expect(widget(page, "plan").locator("input")).to_have_value("pro")
    wait_until(lambda: stored(db_path, session_id, "name") == "Only in the browser", 15,
               "the database to catch up")
    assert stored(db_path, session_id, "plan") == "pro"


def test_sigkill_before_the_first_write_keeps_the_session(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    page = stsg_page
    app.env["SESSION_GUARD_DEBOUNCE"] = "3600"
    app.restart()
    open_app(page, app)
    commit_text(page, "name", "Never written")
    wait_until(lambda: mirrored_value(page, "contact", "name") == "Never written", 15,
               "the mirror write")
    session_id = (read_mirror(page) or {})["session_id"]

    app.env["SESSION_GUARD_DEBOUNCE"] = "0.2"
    app.restart(kill=True)
    open_app(page, app)

    expect(widget(page, "name").locator("input")).to_have_value("Never written")
    assert (read_mirror(page) or {})["session_id"] == session_id
    wait_until(lambda: stored(db_path, session_id, "name") == "Never written", 15, "the write")


def test_the_first_run_after_a_crash_paints_what_the_browser_has_seen(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    """The guard's frame is held, so the mirror cannot restore anything: the page request's
    cookie does, on the first run. The cookie goes once a run finds every change stored."""
    page = stsg_page
    session_id = leave_edits_only_in_the_mirror(page, app, db_path)
    assert carried(unsaved_cookie(page)) == {"name": "Only in the browser", "plan": "pro"}
    assert unsaved_cookie(page).startswith(f"{session_id}.")  # type: ignore[union-attr]
    page.goto("about:blank")

    app.env["SESSION_GUARD_DEBOUNCE"] = "0.2"
    app.restart(kill=True)
    guard = HeldGuard(page)
    page.goto(app.url, wait_until="commit")
    wait_for_run(page)
    expect(widget(page, "name").locator("input")).to_have_value("Only in the browser")
    expect(widget(page, "plan").locator("input")).to_have_value("pro")
    wait_until(lambda: stored(db_path, session_id, "name") == "Only in the browser"
               and stored(db_path, session_id, "plan") == "pro", 15, "the database to catch up")
    guard.release()
    guard_ready(page)

    commit_text(page, "name", "Typed after")
    wait_until(lambda: carried(unsaved_cookie(page)) == {"name": "Typed after"}, 15,
               "the cookie to carry only what is unsaved")
    wait_until(lambda: stored(db_path, session_id, "name") == "Typed after", 15, "the write")
    page.get_by_role("button", name="Check").click()
    wait_until(lambda: unsaved_cookie(page) is None, 15, "the cookie to go")


def test_a_forged_unsaved_cookie_changes_only_what_the_user_could_type(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    """A value of the user's own field is theirs to set, at a revision clamped to now so their
    next edit wins; a password field, a server-owned field, another session's cookie and a
    cookie that is not the guard's change nothing."""
    page = stsg_page
    open_app(page, app)
    commit_text(page, "name", "Written")
    session_id = cookie_session_id(page)
    wait_until(lambda: stored(db_path, session_id, "name") == "Written", 15, "the first write")

    year_2100 = 4_102_444_800_000
    forged = {"v": 1, "seq": 1, "type": "restore", "session_id": session_id, "revision": year_2100,
              "drafts": [], "changes": [
                  {"p": NAME, "v": "Forged", "r": year_2100},
                  {"p": ["forms", "contact", "pin"], "v": "1234", "r": year_2100},
                  {"p": ["roles"], "v": ["admin"], "r": year_2100},
              ]}
    page.context.add_cookies([{"name": UNSAVED, "value": unsaved_cookie_value(forged, session_id),
                               "url": app.url}])
    page.reload()
    wait_for_run(page)
    expect(widget(page, "name").locator("input")).to_have_value("Forged")
    expect(widget(page, "pin").locator("input")).to_have_value("")
    guard_ready(page)
    commit_text(page, "name", "Typed after")
    wait_until(lambda: stored(db_path, session_id, "name") == "Typed after", 15, "the write")
    assert stored(db_path, session_id, "pin") is None
    assert_unprivileged(db_path, session_id)

    planted = {**forged, "session_id": "b" * 64, "changes": [{"p": NAME, "v": "Planted", "r": 1}]}
    for value in (unsaved_cookie_value(planted, "b" * 64), unsaved_cookie_value(planted, session_id),
                  f"{session_id}.not-base64-json", "garbage"):
        page.context.add_cookies([{"name": UNSAVED, "value": value, "url": app.url}])
        page.reload()
        wait_for_run(page)
        expect(widget(page, "name").locator("input")).to_have_value("Typed after")
        no_exception_shown(page)
    assert stored(db_path, session_id, "name") == "Typed after"


def test_a_value_lost_in_the_crash_comes_back_when_the_user_acts_before_the_guard_loads(
    stsg_page: Page, app: StreamlitServer, db_path: Path
) -> None:
    """The guard's first render is then the user's run, a delta past the reload's page view:
    it asks for the server's whole state and sends back what only the mirror holds. Per
    field the newest revision wins, so the user's new pick beats the mirror's older one."""
    page = stsg_page
    session_id = leave_edits_only_in_the_mirror(page, app, db_path)
    # Off the app, so the old page does not reconnect to the next server and restore first.
    page.goto("about:blank")
    page.context.clear_cookies(name=UNSAVED)  # so only the mirror can bring the values back

    app.env["SESSION_GUARD_DEBOUNCE"] = "0.2"
    app.restart(kill=True)
    guard = HeldGuard(page)
    page.goto(app.url, wait_until="commit")
    wait_for_run(page)
    expect(widget(page, "name").locator("input")).to_have_value("Written")  # what the crash left
    pick_option(page, "plan", "team")
    # The server ran the user's pick: the frame's first render will be that run's.
    wait_until(lambda: stored(db_path, session_id, "plan") == "team", 15, "the user's run")
    guard.release()

    expect(widget(page, "name").locator("input")).to_have_value("Only in the browser")
    expect(widget(page, "plan").locator("input")).to_have_value("team")
    wait_until(lambda: stored(db_path, session_id, "name") == "Only in the browser"
               and stored(db_path, session_id, "plan") == "team", 15, "the database to catch up")
    assert mirrored_value(page, "contact", "name") == "Only in the browser"
    assert mirrored_value(page, "contact", "plan") == "team"
