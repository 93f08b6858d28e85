"""State stored by one release of an app, restored into the next: what no longer fits is dropped.

The app (``stale_state_app.py``) runs as version 1, the user fills its form, the
server stops, and version 2 (options removed, ranges narrowed, a type
changed) starts on the same SQLite file. A reload must show every value
that still fits, byte for byte, and the declared default wherever the stored
value no longer fits, with a warning in the server's log and no exception.
A tab left open while the new release is deployed keeps the edit it makes next.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, reload_and_wait, wait_for_run, wait_until

from .conftest import assert_unprivileged, commit_text, open_app, session_rows, stored_value

STALE_APP = Path(__file__).with_name("stale_state_app.py")
ORDER = ["forms", "order"]

FILLED: dict[str, object] = {
    "name": "Ada Lovelace",
    "plan": "team",
    "topics": ["news", "tips"],
    "contact_by": "post",
    "age": 125,
    "satisfaction": 9,
    "quantity": "a dozen",
    "language": "Deutsch",
}

DROPPED = {
    "plan": "not restoring widget 'plan': 'team' is no longer an option",
    "topics": "not restoring widget 'topics': ['tips'] no longer among the options",
    "contact_by": "not restoring widget 'contact_by': 'post' is no longer an option",
    "age": "not restoring widget 'age': outside [0, 120]",
    "satisfaction": "not restoring widget 'satisfaction': outside [0, 5]",
    "quantity": "not restoring widget 'quantity': not a number",
}


def pick(page: Page, key: str, *options: str) -> None:
    page.locator(f".st-key-{key} input").click()
    for option in options:
        page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    wait_for_run(page)


def fill_version_1(page: Page) -> None:
    commit_text(page, "name", "Ada Lovelace")
    pick(page, "plan", "team")
    pick(page, "topics", "news", "tips")
    page.locator(".st-key-contact_by [data-testid=stRadioOption]").filter(has_text="post").click()
    wait_for_run(page)
    commit_text(page, "age", "125")
    handle = page.locator(".st-key-satisfaction input[type=range]")
    handle.focus()
    for _ in range(4):
        handle.press("ArrowRight")
    page.locator("h1").click()
    wait_for_run(page)
    commit_text(page, "quantity", "a dozen")
    pick(page, "language", "Deutsch")


def fill_version_1_then_deploy_version_2(page: Page, server: StreamlitServer, db_path: Path) -> str:
    """Fill every field under version 1, wait until all is stored, restart as version 2; the id."""
    open_app(page, server)
    fill_version_1(page)
    (session_id,) = wait_until(lambda: list(session_rows(db_path)), 15, "the session's row")
    wait_until(lambda: stored_order(db_path, session_id) == FILLED, 15, "every value stored")
    server.stop()
    server.env["STALE_APP_VERSION"] = "2"
    server.start()
    return session_id


def stored_order(db_path: Path, session_id: str) -> dict[str, object]:
    return {key: stored_value(db_path, session_id, [*ORDER, key]) for key in FILLED}


def test_values_that_no_longer_fit_the_changed_app_are_dropped_and_the_rest_restored(
    stsg_page: Page, streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str],
    db_path: Path,
) -> None:
    page = stsg_page
    server = streamlit_server(STALE_APP, env={**app_env, "STALE_APP_VERSION": "1"})
    session_id = fill_version_1_then_deploy_version_2(page, server, db_path)
    reload_and_wait(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Order form, version 2")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    # Still fitting: back exactly as typed and chosen.
    expect(page.locator(".st-key-name input")).to_have_value("Ada Lovelace")
    expect(page.locator(".st-key-language input")).to_have_value("Deutsch")
    # No longer fitting: the default the app declares now.
    expect(page.locator(".st-key-plan input")).to_have_value("free")
    topics = page.locator(".st-key-topics [data-testid=stMultiSelectTagsContainer]")
    expect(topics).not_to_contain_text("news")
    expect(page.locator(".st-key-contact_by input[type=radio]").nth(0)).to_be_checked()
    expect(page.locator(".st-key-age input")).to_have_value("30")
    expect(page.locator(".st-key-satisfaction input[type=range]")).to_have_value("3")
    expect(page.locator(".st-key-quantity input")).to_have_value("1")
    log = server.log()
    for key, warning in DROPPED.items():
        assert f"st-session-guard: {warning}" in log, key
    assert "not restoring widget 'name'" not in log
    assert "not restoring widget 'language'" not in log
    assert "Traceback" not in log

    # The app runs on with the restored session: a new edit is stored beside what survived.
    commit_text(page, "quantity", "12")
    wait_until(lambda: stored_value(db_path, session_id, [*ORDER, "quantity"]) == 12, 15,
               "the edit under version 2")
    assert stored_value(db_path, session_id, [*ORDER, "name"]) == "Ada Lovelace"
    assert stored_value(db_path, session_id, [*ORDER, "language"]) == "Deutsch"
    assert_unprivileged(db_path, session_id)


def test_an_edit_in_a_tab_left_open_while_the_changed_app_is_deployed_is_kept(
    stsg_page: Page, streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str],
    db_path: Path,
) -> None:
    page = stsg_page
    server = streamlit_server(STALE_APP, env={**app_env, "STALE_APP_VERSION": "1"})
    session_id = fill_version_1_then_deploy_version_2(page, server, db_path)
    # No reload: the open tab reconnects by itself, and its next edit is the first run of version 2.
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]',
                           state="attached", timeout=30_000)
    commit_text(page, "name", "Ada King")

    expect(page.get_by_role("heading", level=1)).to_have_text("Order form, version 2")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.locator(".st-key-name input")).to_have_value("Ada King")
    wait_until(lambda: stored_value(db_path, session_id, [*ORDER, "name"]) == "Ada King", 15,
               "the edit made right after the deploy")
    assert "Traceback" not in server.log()

    reload_and_wait(page)
    expect(page.locator(".st-key-name input")).to_have_value("Ada King")
    expect(page.locator(".st-key-language input")).to_have_value("Deutsch")
    expect(page.locator(".st-key-plan input")).to_have_value("free")
    expect(page.locator(".st-key-age input")).to_have_value("30")
    expect(page.locator(".st-key-quantity input")).to_have_value("1")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert stored_value(db_path, session_id, [*ORDER, "language"]) == "Deutsch"
    assert_unprivileged(db_path, session_id)
