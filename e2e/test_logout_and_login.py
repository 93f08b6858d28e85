"""Logout leaves nothing behind; a login or logout in one tab moves every open tab of the browser."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from st_session_guard.testing import (
    StreamlitServer,
    guard_frame,
    reload_and_wait,
    wait_for_run,
    wait_until,
)

from .conftest import commit_field, guard_ready, open_app, shared_app, widget

APP = Path(__file__).with_name("account_app.py")
app = shared_app(APP)


def shown_session(page: Page) -> str:
    return page.get_by_text("Session:").inner_text().split("Session:")[1].strip().strip("`")


def cookie_session(page: Page) -> str:
    tokens = [c["value"] for c in page.context.cookies() if c["name"] == "stsg"]
    return tokens[0].split(".")[0] if tokens else ""


def unsaved_cookie_session(page: Page) -> str:
    """The session the unsaved-changes cookie belongs to; "" with no such cookie."""
    values = [c["value"] for c in page.context.cookies() if c["name"] == "stsg_unsaved"]
    return values[0].split(".")[0] if values else ""


def edit(page: Page, key: str, value: str) -> None:
    """Commit a profile field from the tab in front (a background tab's frames are throttled)."""
    page.bring_to_front()
    commit_field(page, key, value, "textarea" if key == "bio" else "input", form_id="profile")


def mirrored_ids(page: Page) -> set[str]:
    """Every session id this browser's IndexedDB holds a mirror or drafts of."""
    ids: list[str] = guard_frame(page).evaluate(
        """() => new Promise((resolve, reject) => {
            const open = indexedDB.open("st-session-guard");
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
                const tx = open.result.transaction(["sessions", "drafts"]);
                const sessions = tx.objectStore("sessions").getAllKeys();
                const drafts = tx.objectStore("drafts").getAllKeys();
                tx.oncomplete = () => {
                    open.result.close();
                    resolve([...sessions.result, ...drafts.result.map((key) => key[0])]);
                };
            };
        })"""
    )
    return set(ids)


def click(page: Page, button: str) -> None:
    page.bring_to_front()
    page.get_by_role("button", name=button).click()


def two_tabs_of_one_session(page: Page, app: StreamlitServer, name: str) -> tuple[Page, str]:
    """A second tab opened after ``name`` was committed in ``page``; and the session's id."""
    open_app(page, app)
    edit(page, "name", name)
    second = page.context.new_page()
    open_app(second, app)
    old = shown_session(second)
    assert shown_session(page) == old
    return second, old


def click_and_leave(page: Page, button: str, old: str) -> str:
    """Click ``button`` and return the id the tab shows once it has left ``old``."""
    click(page, button)
    wait_until(lambda: shown_session(page) != old, 15, f"a new id after {button}")
    return shown_session(page)


def test_logout_shows_defaults_keeps_nothing_and_replaces_the_cookie(
    stsg_page: Page, app: StreamlitServer
) -> None:
    page = stsg_page
    open_app(page, app)
    edit(page, "name", "Ada Lovelace")
    edit(page, "bio", "Wrote the first program")
    widget(page, "name").locator("input").fill("Ada Lovelace, Countess")  # a draft, not committed
    old = shown_session(page)
    wait_until(lambda: mirrored_ids(page) == {old}, 15, "the mirror and the draft of the session")
    wait_until(lambda: unsaved_cookie_session(page) == old, 15, "the draft in the unsaved-changes cookie")

    fresh = click_and_leave(page, "Log out", old)
    expect(widget(page, "name").locator("input")).to_have_value("")
    expect(widget(page, "bio").locator("textarea")).to_have_value("")
    wait_until(lambda: cookie_session(page) == fresh, 15, "the cookie of the new session")
    wait_until(lambda: old not in mirrored_ids(page), 15, "the ended session's mirror and drafts deleted")
    wait_until(lambda: unsaved_cookie_session(page) != old, 15, "the ended session's unsaved-changes cookie")

    edit(page, "bio", "Someone else")  # the next person's edit is theirs alone
    reload_and_wait(page)
    assert shown_session(page) == fresh
    expect(widget(page, "name").locator("input")).to_have_value("")
    expect(widget(page, "bio").locator("textarea")).to_have_value("Someone else")


def test_login_with_a_second_tab_open_keeps_both_tabs_on_the_new_id(
    stsg_page: Page, app: StreamlitServer
) -> None:
    first = stsg_page
    second, old = two_tabs_of_one_session(first, app, "Grace Hopper")

    new = click_and_leave(first, "Log in", old)
    wait_until(lambda: cookie_session(first) == new, 15, "the cookie of the new id")
    second.bring_to_front()
    wait_until(lambda: shown_session(second) == new, 15, "the second tab following the new id")

    edit(second, "bio", "Rear admiral")  # the other tab works on after the login
    assert cookie_session(first) == new
    wait_until(lambda: mirrored_ids(second) == {new}, 15, "only the new id mirrored")

    first.bring_to_front()
    reload_and_wait(first)
    assert shown_session(first) == new
    expect(first.get_by_text("Roles: member")).to_be_visible()
    expect(widget(first, "name").locator("input")).to_have_value("Grace Hopper")
    expect(widget(first, "bio").locator("textarea")).to_have_value("Rear admiral")


def test_logout_in_one_tab_clears_the_other_tab_of_the_browser(
    stsg_page: Page, app: StreamlitServer
) -> None:
    first = stsg_page
    second, old = two_tabs_of_one_session(first, app, "Alan Turing")
    expect(widget(second, "name").locator("input")).to_have_value("Alan Turing")

    click_and_leave(first, "Log out", old)
    second.bring_to_front()
    wait_until(lambda: shown_session(second) != old, 15, "the second tab leaving the ended session")
    expect(widget(second, "name").locator("input")).to_have_value("")

    edit(second, "bio", "Next visitor")
    assert cookie_session(second) != old
    reload_and_wait(second)
    expect(widget(second, "name").locator("input")).to_have_value("")
    assert old not in mirrored_ids(second)
    wait_for_run(first)


def test_a_click_is_kept_when_another_tabs_edit_lands_while_its_run_is_on(
    stsg_page: Page, app: StreamlitServer
) -> None:
    page = stsg_page
    page.goto(f"{app.url}/?slow=1")
    wait_for_run(page)
    old = shown_session(page)
    # As soon as the click's run is on, another tab of the session says the server moved on.
    guard_ready(page).evaluate(
        """(sessionId) => {
            const peers = new BroadcastChannel("st-session-guard");
            const root = window.parent.document.querySelector('[data-testid="stApp"]');
            const seen = new MutationObserver(() => {
                if (root.getAttribute("data-test-script-state") !== "running") return;
                seen.disconnect();
                peers.postMessage({ session_id: sessionId, revision: Number.MAX_SAFE_INTEGER });
            });
            seen.observe(root, { attributes: true, attributeFilter: ["data-test-script-state"] });
        }""",
        old,
    )
    click_and_leave(page, "Log in", old)
    expect(page.get_by_text("Roles: member")).to_be_visible()
