"""A refresh, or a server restart, gives back every wrapped widget, the page and its history."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from st_session_guard.testing import (
    StreamlitServer,
    read_mirror,
    reload_and_wait,
    wait_for_run,
    wait_until,
)

from .conftest import (
    commit_text,
    cookie_session_id,
    database_bytes,
    open_app,
    pick_option,
    session_rows,
    shared_app,
    stored_form,
    widget,
)

APP = Path(__file__).with_name("refresh_recovery_app.py")
HEADINGS = {"Home": "Home", "Forms": "Contact form", "Profile": "Profile"}
app = shared_app(APP)


def open_page(page: Page, server: StreamlitServer, title: str) -> None:
    open_app(page, server)
    go_to(page, title)


def go_to(page: Page, title: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("button", name=title, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(HEADINGS[title])
    wait_for_run(page)


def type_segments(page: Page, key: str, first_segment: str, digits: str) -> None:
    """Date and time inputs are segmented spinbuttons that move on as digits are typed."""
    page.locator(f".st-key-{key} [data-type={first_segment}]").click()
    page.keyboard.type(digits)
    page.keyboard.press("Enter")
    page.locator("h1").click()
    wait_for_run(page)


def segments(page: Page, key: str) -> list[str]:
    return page.locator(f".st-key-{key} [role=spinbutton]").all_inner_texts()


def slider_steps(page: Page, key: str, steps: int) -> None:
    handle = page.locator(f".st-key-{key} input[type=range]")
    handle.focus()
    for _ in range(steps):
        handle.press("ArrowRight")
    page.locator("h1").click()
    wait_for_run(page)


def test_reload_restores_every_wrapped_widget(stsg_page: Page, app: StreamlitServer) -> None:
    page = stsg_page
    open_page(page, app, "Forms")
    commit_text(page, "name", "Ada Lovelace")
    commit_text(page, "email", "ada@example.org")
    commit_text(page, "age", "36")
    commit_text(page, "bio", "First programmer.\nSecond line.", tag="textarea")
    pick_option(page, "plan", "team")
    page.locator(".st-key-topics input").click()
    page.get_by_role("option", name="tips", exact=True).click()
    page.keyboard.press("Escape")
    wait_for_run(page)
    page.locator(".st-key-contact_by [data-testid=stRadioOption]").filter(has_text="phone").click()
    wait_for_run(page)
    page.locator(".st-key-subscribe label").click()
    wait_for_run(page)
    page.locator(".st-key-dark label").click()
    wait_for_run(page)
    slider_steps(page, "satisfaction", 2)
    slider_steps(page, "size", 1)
    type_segments(page, "birthday", "year", "20200615")
    type_segments(page, "call_time", "hour", "0845")
    page.locator(".st-key-colour [data-testid=stColorPickerBlock]").click()
    hex_input = page.locator("input[id^=rc-editable-input]")
    hex_input.fill("#123456")
    hex_input.press("Enter")
    page.locator("h1").click()
    wait_for_run(page)
    stored = page.get_by_test_id("stExpander")
    stored.click()
    expect(stored).to_contain_text('"colour":"#123456"', ignore_case=True)
    # The form data holds the types the widgets return: st.json shows a time by its repr.
    expect(stored).to_contain_text('"call_time":"datetime.time(8, 45)"')

    reload_and_wait(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Contact form")
    expect(widget(page, "name").locator("input")).to_have_value("Ada Lovelace")
    expect(widget(page, "email").locator("input")).to_have_value("ada@example.org")
    expect(widget(page, "age").locator("input")).to_have_value("36")
    expect(widget(page, "bio").locator("textarea")).to_have_value("First programmer.\nSecond line.")
    expect(widget(page, "plan").locator("input")).to_have_value("team")
    expect(widget(page, "topics").get_by_test_id("stMultiSelectTagsContainer")).to_contain_text("tips")
    expect(widget(page, "contact_by").locator("input[type=radio]").nth(1)).to_be_checked()
    expect(widget(page, "subscribe").locator("input")).to_be_checked()
    expect(widget(page, "dark").locator("input")).to_be_checked()
    expect(widget(page, "satisfaction").locator("input[type=range]")).to_have_value("7")
    expect(widget(page, "size").locator("input[type=range]")).to_have_attribute("aria-valuetext", "L")
    assert segments(page, "birthday") == ["2020", "06", "15"]
    assert segments(page, "call_time")[:2] == ["08", "45"]
    page.get_by_test_id("stExpander").click()
    expect(page.get_by_test_id("stExpander")).to_contain_text('"colour":"#123456"', ignore_case=True)


def test_navigation_and_back_history_survive_reload(stsg_page: Page, app: StreamlitServer) -> None:
    page = stsg_page
    open_page(page, app, "Forms")
    go_to(page, "Profile")

    reload_and_wait(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Profile")
    expect(page.get_by_test_id("stSidebar")).to_contain_text("History: home → forms → profile")
    page.get_by_role("button", name="⬅ Back").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Contact form")
    page.get_by_role("button", name="⬅ Back").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Home")


def test_undo_after_reload_gives_back_the_snapshot(stsg_page: Page, app: StreamlitServer) -> None:
    page = stsg_page
    open_page(page, app, "Forms")
    commit_text(page, "name", "Before")
    page.get_by_role("button", name="Snapshot").click()
    wait_for_run(page)
    commit_text(page, "name", "After")

    reload_and_wait(page)
    expect(widget(page, "name").locator("input")).to_have_value("After")
    page.get_by_role("button", name="Undo").click()

    expect(widget(page, "name").locator("input")).to_have_value("Before")
    expect(page.get_by_test_id("stExpander")).to_contain_text('"name":"Before"')


def test_password_is_never_stored(
    stsg_page: Page, app: StreamlitServer, shared_db_path: Path
) -> None:
    page = stsg_page
    secret = "hunter2-never-stored"
    open_page(page, app, "Forms")
    commit_text(page, "password", secret)
    commit_text(page, "name", "Grace")
    session_id = cookie_session_id(page)
    wait_until(lambda: stored_form(shared_db_path, session_id, "contact").get("name") == "Grace",
               15, "the database write")
    wait_until(lambda: (read_mirror(page) or {}).get("forms", {}).get("contact", {}).get("name") == "Grace",
               15, "the mirror write")

    reload_and_wait(page)

    expect(widget(page, "name").locator("input")).to_have_value("Grace")
    expect(widget(page, "password").locator("input")).to_have_value("")
    assert secret not in json.dumps(read_mirror(page))
    assert secret.encode() not in database_bytes(shared_db_path)


# Records, from the first frame on, every value that the age and plan fields show.
# (Streamlit mounts an input empty and fills it in the same task, with a plain
# hard-coded value too; a flash of defaults is the declared default showing.)
WATCH_FIELDS = """
window.__seen = {age: [], plan: []};
const watch = () => {
  for (const key of ['age', 'plan']) {
    const input = document.querySelector(`.st-key-${key} input`);
    const seen = window.__seen[key];
    if (input && input.value !== '' && seen[seen.length - 1] !== input.value) seen.push(input.value);
  }
  requestAnimationFrame(watch);
};
requestAnimationFrame(watch);
"""


def test_first_painted_value_after_reload_is_the_restored_one(
    stsg_page: Page, app: StreamlitServer
) -> None:
    page = stsg_page
    open_page(page, app, "Forms")
    commit_text(page, "age", "36")
    pick_option(page, "plan", "team")
    page.add_init_script(WATCH_FIELDS)

    reload_and_wait(page)
    expect(widget(page, "age").locator("input")).to_have_value("36")
    expect(widget(page, "plan").locator("input")).to_have_value("team")

    assert page.evaluate("window.__seen") == {"age": ["36"], "plan": ["team"]}


def test_restart_of_the_server_between_page_loads_still_restores(
    stsg_page: Page, streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str],
    db_path: Path,
) -> None:
    page = stsg_page
    server = streamlit_server(APP, env=app_env)  # its own: the test restarts it
    open_page(page, server, "Forms")
    commit_text(page, "name", "Survives restarts")
    session_id = cookie_session_id(page)
    wait_until(lambda: stored_form(db_path, session_id, "contact").get("name") == "Survives restarts",
               15, "the write")

    server.restart()
    open_app(page, server)

    expect(page.get_by_role("heading", level=1)).to_have_text("Contact form")
    expect(widget(page, "name").locator("input")).to_have_value("Survives restarts")
    assert list(session_rows(db_path)) == [session_id]
