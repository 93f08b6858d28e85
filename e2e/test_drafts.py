"""Typing that was never committed (no Enter, no blur) survives a reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from st_session_guard.testing import (
    StreamlitServer,
    guard_frame,
    read_mirror,
    reload_and_wait,
    wait_for_run,
    wait_until,
)

from .conftest import HeldGuard, commit_text, open_app, shared_app, widget

APP = Path(__file__).with_name("drafts_app.py")
app = shared_app(APP)

READ_DRAFTS = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open('st-session-guard');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const request = open.result.transaction('drafts').objectStore('drafts').getAll();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  };
})"""


def stored_drafts(page: Page) -> dict[str, Any]:
    return {d["key"]: d["value"] for d in guard_frame(page).evaluate(READ_DRAFTS)}


@pytest.mark.parametrize(
    ("key", "tag", "typed"),
    [("name", "input", "Half-typed na"), ("bio", "textarea", "Draft\nbio"), ("age", "input", "41")],
)
def test_uncommitted_typing_is_shown_again_after_a_reload(
    stsg_page: Page, app: StreamlitServer, key: str, tag: str, typed: str
) -> None:
    page = stsg_page
    open_app(page, app)
    field = page.locator(f".st-key-{key} {tag}")
    field.fill("")
    field.press_sequentially(typed)
    wait_until(lambda: stored_drafts(page) == {key: typed}, 15, "the draft in IndexedDB")

    reload_and_wait(page)

    expect(widget(page, key).locator(tag)).to_have_value(typed)
    page.get_by_test_id("stExpander").click()
    expect(page.get_by_test_id("stExpander")).to_contain_text(f'"{key}":')
    wait_until(lambda: stored_drafts(page) == {}, 15, "the draft to be dropped once committed")


def test_a_draft_is_on_the_first_frame_after_a_reload(stsg_page: Page, app: StreamlitServer) -> None:
    """The guard's frame is held on the reload, so its mirror cannot bring the draft back: the
    unsaved-changes cookie carries it to the first run, which commits it before any widget."""
    page = stsg_page
    open_app(page, app)
    page.locator(".st-key-name input").press_sequentially("Typed, never committed")
    wait_until(lambda: stored_drafts(page) == {"name": "Typed, never committed"}, 15, "the draft")

    guard = HeldGuard(page)
    page.reload(wait_until="commit")
    wait_for_run(page)
    expect(widget(page, "name").locator("input")).to_have_value("Typed, never committed")
    page.get_by_test_id("stExpander").click()
    expect(page.get_by_test_id("stExpander")).to_contain_text('"name":"Typed, never committed"')
    guard.release()
    wait_until(lambda: stored_drafts(page) == {}, 15, "the draft to be dropped once committed")


def test_a_draft_never_overwrites_a_newer_committed_value(stsg_page: Page, app: StreamlitServer) -> None:
    page = stsg_page
    open_app(page, app)
    page.locator(".st-key-name input").press_sequentially("old draft")
    wait_until(lambda: stored_drafts(page).get("name") == "old draft", 15, "the draft")
    commit_text(page, "name", "Committed later")

    reload_and_wait(page)

    expect(widget(page, "name").locator("input")).to_have_value("Committed later")


def test_typing_into_a_selectbox_search_box_is_not_kept_as_a_draft(stsg_page: Page, app: StreamlitServer) -> None:
    page = stsg_page
    open_app(page, app)
    page.locator(".st-key-topic input").press_sequentially("ti")
    page.locator(".st-key-name input").press_sequentially("kept")
    wait_until(lambda: stored_drafts(page) == {"name": "kept"}, 15, "only the wrapped widget's draft")


def test_a_revealed_password_an_excluded_field_and_unwrapped_fields_are_never_drafts(
    stsg_page: Page, app: StreamlitServer
) -> None:
    page = stsg_page
    open_app(page, app)
    page.locator(".st-key-pin").get_by_role("button", name="Show password").click()
    expect(page.locator(".st-key-pin input")).to_have_attribute("type", "text")
    secrets = {"pin": "pin-4711-revealed", "nickname": "nick-excluded", "search": "search-unwrapped"}
    for key, typed in secrets.items():
        page.locator(f".st-key-{key} input").press_sequentially(typed)
    page.locator(".st-key-name input").press_sequentially("kept")
    wait_until(lambda: stored_drafts(page) == {"name": "kept"}, 15, "only the wrapped widget's draft")

    reload_and_wait(page)

    expect(widget(page, "name").locator("input")).to_have_value("kept")
    for key in secrets:
        expect(page.locator(f".st-key-{key} input")).to_have_value("")
    everything = str(guard_frame(page).evaluate(READ_DRAFTS)) + str(read_mirror(page))
    for typed in secrets.values():
        assert typed not in everything
