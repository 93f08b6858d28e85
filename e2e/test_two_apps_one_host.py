"""Two guarded apps on one host, each with its own cookie name, keep their sessions apart.

A browser sends a host's cookies to every port and path of it, so two apps
there read each other's cookies. Under one name each would refuse the
other's signed cookie, start a session of its own and write it over the
other's: every switch between them would lose the other's session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from st_session_guard.testing import StreamlitServer, reload_and_wait

from .conftest import commit_text, env_for, open_app, widget

APP = Path(__file__).with_name("crash_window_app.py")


def an_app(start: Callable[..., StreamlitServer], folder: Path, cookie: str | None) -> StreamlitServer:
    """The app with a secret and a database of its own, as two teams' apps would have."""
    folder.mkdir()
    env = {**env_for(folder / "sessions.db"), "SESSION_GUARD_SECRET": f"secret of {folder.name}"}
    if cookie is not None:
        env["SESSION_GUARD_COOKIE_NAME"] = cookie
    return start(APP, env=env, cwd=folder)


def test_each_app_keeps_its_session_while_the_other_is_used(
    streamlit_server: Callable[..., StreamlitServer], tmp_path: Path, stsg_page: Page
) -> None:
    first = an_app(streamlit_server, tmp_path / "sales", "sales_session")
    second = an_app(streamlit_server, tmp_path / "support", "support_session")
    other_tab = stsg_page.context.new_page()

    open_app(stsg_page, first)
    commit_text(stsg_page, "name", "Typed into sales")
    open_app(other_tab, second)
    commit_text(other_tab, "name", "Typed into support")

    reload_and_wait(stsg_page)
    expect(widget(stsg_page, "name").locator("input")).to_have_value("Typed into sales")
    reload_and_wait(other_tab)
    expect(widget(other_tab, "name").locator("input")).to_have_value("Typed into support")
    names = {c["name"] for c in stsg_page.context.cookies()}
    assert {"sales_session", "support_session"} <= names and "stsg" not in names
