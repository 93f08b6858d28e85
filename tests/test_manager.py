"""Which session a page load gets for the id its cookie (or the app) names, on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from st_session_guard.database import configure_database
from st_session_guard.manager import _open_session
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.session import UserSession, new_session_id
from st_session_guard.session_persistence import configure_persistence


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[SessionPersistenceEngine]:
    configure_database(f"sqlite:///{tmp_path / 'sessions.db'}")
    engine = configure_persistence(debounce_delay=3600, session_timeout=3600)
    yield engine
    engine.close()


def test_a_signed_id_never_stored_keeps_its_id_on_the_default_page_with_no_revisions(
    engine: SessionPersistenceEngine,
) -> None:
    session_id = new_session_id()  # the server died before its first write of it
    session = _open_session(session_id, "ada", "dashboard", signed=True)
    assert session.session_id == session_id
    assert session.current_page == "dashboard"
    assert session.user_id == "ada"
    assert session.changes_since(0) == []  # every path the mirror holds is newer


def test_a_signed_id_whose_row_expired_gets_a_new_id(engine: SessionPersistenceEngine) -> None:
    old = UserSession("ada")
    old.metrics.last_activity = datetime.now(timezone.utc) - timedelta(hours=2)
    engine.persist_session(old, immediate=True)
    session = _open_session(old.session_id, "ada", "home", signed=True)
    assert session.session_id != old.session_id


def test_an_unsigned_id_never_stored_gets_a_new_id_on_the_default_page(
    engine: SessionPersistenceEngine,
) -> None:
    planted = new_session_id()
    session = _open_session(planted, None, "start")
    assert session.session_id != planted
    assert session.current_page == "start"
