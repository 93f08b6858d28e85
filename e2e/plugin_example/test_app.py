from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.testing import (
    StreamlitServer,
    read_mirror,
    reload_and_wait,
    wait_for_mirror,
    wait_for_run,
    wait_until,
)

APP = Path(__file__).with_name("app.py")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sessions.db'}"


@pytest.fixture
def app(streamlit_server, database_url: str) -> StreamlitServer:
    return streamlit_server(APP, env={
        "SESSION_GUARD_DATABASE_URL": database_url,   # a database of its own per test
        "SESSION_GUARD_DEBOUNCE": "3",                # a crash inside these 3 s loses the server's copy
        "SESSION_GUARD_SECRET": "test-secret",
    })


def type_name(page: Page, text: str) -> None:
    field = page.locator(".st-key-name input")        # keyed widgets carry the class st-key-<key>
    field.fill(text)
    field.press("Enter")
    wait_for_run(page)


def mirrored_name(record: dict) -> object:
    """The name as the browser's IndexedDB mirror record holds it."""
    return record.get("forms", {}).get("profile", {}).get("name")


def stored_name(database_url: str, page: Page) -> object:
    """The name as the database of record holds it, for this tab's session."""
    engine = SessionPersistenceEngine(database_url=database_url)
    try:
        session = engine.recover_session((read_mirror(page) or {}).get("session_id", ""))
        return None if session is None else session.get_form_state("profile").data.get("name")
    finally:
        engine.close()
        engine.db.dispose()


def test_values_survive_a_reload(stsg_page: Page, app: StreamlitServer) -> None:
    stsg_page.goto(app.url)
    wait_for_run(stsg_page)
    type_name(stsg_page, "Ada")
    stsg_page.locator(".st-key-plan input").click()
    stsg_page.get_by_role("option", name="team", exact=True).click()
    wait_for_run(stsg_page)

    reload_and_wait(stsg_page)

    expect(stsg_page.locator(".st-key-name input")).to_have_value("Ada")
    expect(stsg_page.locator(".st-key-plan input")).to_have_value("team")


def test_a_crashed_server_gets_the_last_values_back_from_the_browser(
    stsg_page: Page, app: StreamlitServer, database_url: str
) -> None:
    stsg_page.goto(app.url)
    wait_for_run(stsg_page)
    type_name(stsg_page, "Ada")
    wait_until(lambda: stored_name(database_url, stsg_page) == "Ada", 10, "the database write")
    type_name(stsg_page, "Grace")
    wait_for_mirror(stsg_page, lambda record: mirrored_name(record) == "Grace")

    app.restart(kill=True)   # SIGKILL inside the debounce window: "Grace" never reached the database
    assert stored_name(database_url, stsg_page) == "Ada"
    reload_and_wait(stsg_page)

    expect(stsg_page.locator(".st-key-name input")).to_have_value("Grace")


def test_a_password_is_never_kept(stsg_page: Page, app: StreamlitServer) -> None:
    stsg_page.goto(app.url)
    wait_for_run(stsg_page)
    field = stsg_page.locator(".st-key-password input")
    field.fill("hunter2")
    field.press("Enter")
    wait_for_run(stsg_page)

    reload_and_wait(stsg_page)

    expect(field).to_have_value("")
    assert "hunter2" not in str(read_mirror(stsg_page))
