"""The session cookie's secrets and its life: where the generated key is kept, what a rotation
or a database outage does to a page load, and the cookie sliding with use (real AppTest runs)."""

from __future__ import annotations

import logging
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from st_session_guard import cookies, unsaved_cookie
from st_session_guard.config import resolve_settings, settings
from st_session_guard.connection import CONNECTION_KEY, Connection
from st_session_guard.database import configure_database
from st_session_guard.session import new_session_id
from st_session_guard.session_persistence import configure_persistence
from st_session_guard.signing import issued_at, sign_session_id, verify_token
from st_session_guard.testing import wait_until


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory of the test's own, no secret configured, settings read afresh."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SESSION_GUARD_SECRET", raising=False)
    settings.cache_clear()
    cookies.kept_key.cache_clear()
    yield tmp_path
    settings.cache_clear()
    cookies.kept_key.cache_clear()


def test_secrets_come_as_a_comma_separated_list_or_a_list_newest_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SESSION_GUARD_SECRET", " new , old ,")
    assert resolve_settings().secrets == ("new", "old")
    assert resolve_settings(secret=["a", "b"]).secrets == ("a", "b")
    monkeypatch.setenv("SESSION_GUARD_SECRET", "")
    assert resolve_settings().secrets == ()


def test_the_cookie_name_is_a_setting_and_a_bad_one_is_refused_aloud(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SESSION_GUARD_COOKIE_NAME", raising=False)
    assert resolve_settings().cookie_name == "stsg"
    monkeypatch.setenv("SESSION_GUARD_COOKIE_NAME", "sales_app-1")
    assert resolve_settings().cookie_name == "sales_app-1"
    assert resolve_settings(cookie_name="support").cookie_name == "support"
    for bad in ("two words", "semi;colon", "x" * 65):
        monkeypatch.setenv("SESSION_GUARD_COOKIE_NAME", bad)
        with caplog.at_level(logging.WARNING, logger="st_session_guard"):
            assert resolve_settings().cookie_name == "stsg"
        assert "SESSION_GUARD_COOKIE_NAME" in caplog.text
        caplog.clear()
    with pytest.raises(ValueError, match="cookie name"):
        resolve_settings(cookie_name="a=b")


def test_both_cookies_take_the_configured_name(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_GUARD_COOKIE_NAME", "sales")
    settings.cache_clear()
    assert cookies.session_cookie(new_session_id())["name"] == "sales"
    assert unsaved_cookie.unsaved_spec(0)["name"] == "sales_unsaved"


def test_the_generated_key_is_kept_private_and_outlives_the_database_file(workdir: Path) -> None:
    database = workdir / ".st_session_guard" / "sessions.db"
    database.parent.mkdir()
    database.write_bytes(b"a database")
    session_id = new_session_id()
    token = sign_session_id(session_id, cookies.signing_secrets())

    database.unlink()
    cookies.kept_key.cache_clear()  # as a new process would

    key_file = workdir / cookies.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert verify_token(token, cookies.signing_secrets(), 3600) == session_id
    assert [p.name for p in key_file.parent.iterdir()] == ["secret.key"]  # no drafts left behind


def test_a_key_that_cannot_be_kept_is_one_for_this_process_with_a_warning(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (workdir / ".st_session_guard").write_text("a file where the directory should be")
    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        first = cookies.signing_secrets()
    assert first == cookies.signing_secrets()
    assert "cannot keep a signing key" in caplog.text


BOOTSTRAP = """
import streamlit as st
import st_session_guard as sg
session = sg.bootstrap_session()
st.session_state["sid"] = session.session_id
"""


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_a_database_that_is_down_at_the_first_page_load_does_not_stop_the_page(
    workdir: Path, database: str
) -> None:
    """PostgreSQL on a port nothing listens on; a SQLite file that cannot be opened (its folder
    is a file), then can: the page runs, health says False, and the session lands once it can."""
    blocked = workdir / "data"
    blocked.write_text("a file where the database's folder should be")
    url = ("postgresql://stsg@127.0.0.1:1/nowhere" if database == "postgresql"
           else f"sqlite:///{blocked / 'sessions.db'}")
    configure_database(url, connect_timeout=1)
    engine = configure_persistence(debounce_delay=3600)
    try:
        app = AppTest.from_string(BOOTSTRAP + "session.update_form_data('f', 'x', 'kept')\n",
                                  default_timeout=60).run()
        assert not app.exception, app.exception
        session_id = app.session_state["sid"]
        assert len(session_id) == 64
        assert engine.flush_all() == 0
        assert engine.health_check() is False
        if database == "sqlite":
            blocked.unlink()
            blocked.mkdir()
            wait_until(lambda: engine.flush_all() == 0 and engine.health_check(), 30,
                       "the session to land once the file can be made")
            stored = engine.recover_session(session_id)
            assert stored is not None and stored.get_form_state("f").data == {"x": "kept"}
    finally:
        engine.close(timeout=1)


def test_a_cookie_in_use_is_signed_again_before_it_ages_out(workdir: Path) -> None:
    configure_database(f"sqlite:///{workdir / 'sessions.db'}")
    engine = configure_persistence(debounce_delay=3600)
    timeout = settings().session_timeout
    try:
        app = AppTest.from_string(BOOTSTRAP, default_timeout=30).run()
        connection = app.session_state[CONNECTION_KEY]
        assert isinstance(connection, Connection) and connection.cookie is not None
        fresh = connection.cookie["value"]
        app.run()
        assert connection.cookie["value"] == fresh  # a young cookie is left as it is

        loaded_long_ago = time.time() - 0.9 * timeout
        connection.cookie["value"] = sign_session_id(
            app.session_state["sid"], cookies.signing_secrets(), now=loaded_long_ago
        )
        app.run()
        renewed = connection.cookie["value"]
        assert (issued_at(renewed) or 0) > loaded_long_ago + 0.5 * timeout
        later = time.time() + 0.5 * timeout  # past the timeout counted from the page load
        assert verify_token(renewed, cookies.signing_secrets(), timeout, now=later) == app.session_state["sid"]
    finally:
        engine.close(timeout=5)


def test_the_session_cookie_names_its_session_for_as_long_as_an_idle_session_lives(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_GUARD_SECRET", "new,old")
    settings.cache_clear()
    session_id = new_session_id()
    cookie = cookies.session_cookie(session_id)
    assert cookie["name"] == settings().cookie_name
    assert cookie["max_age"] == int(settings().session_timeout)
    assert verify_token(cookie["value"], ["new"], settings().session_timeout) == session_id
    assert not cookies.needs_refresh(cookie, time.time())
    assert cookies.needs_refresh(cookie, time.time() + 0.3 * settings().session_timeout)
