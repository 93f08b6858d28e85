"""What a page does with its session beyond its widgets: navigate, save, log in, log out.

``get_session_manager()`` is the facade the reference documents;
``persist_input``, ``save_form`` and ``rotate_session_id`` are its calls
that need no manager object.
"""

from __future__ import annotations

from typing import Any

from .connection import end_connection
from .live_sessions import live_sessions
from .manager import adopt, current_session, get_current_session, require_connection
from .session import JSON, UserSession, new_session_id
from .session_persistence import get_persistence_engine


class SessionManager:
    """What a page does with its session: navigate, invalidate caches, end the session."""

    def __init__(self, session: UserSession) -> None:
        self.session = session

    def navigate_to(self, page: str, params: dict[str, JSON] | None = None) -> None:
        self.session.navigate_to(page, params)

    def go_back(self) -> bool:
        return self.session.go_back()

    def invalidate_cache(self, pattern: str | None = None) -> set[str]:
        """Forget tracked cache keys containing ``pattern`` (all when None) and their dependents."""
        return self.session.invalidate_cache_keys(pattern)

    def cleanup_session(self) -> None:
        """End the session: its row expires now, so its cookie restores nothing any more.

        The row is kept (until the next cleanup) rather than deleted: an id
        that was never stored may be taken up again, an expired one never.
        """
        get_persistence_engine().expire_session(self.session.session_id)
        live_sessions.drop(self.session.session_id)
        end_connection()

    def rotate_session_id(self) -> UserSession:
        """Move the state to a new id (call it on login) so a planted id gains nothing."""
        return rotate_session_id()


def get_session_manager() -> SessionManager:
    return SessionManager(get_current_session())


def rotate_session_id() -> UserSession:
    """Give this tab's session a fresh id; the old id restores nothing afterwards.

    Call it when a user logs in, so an id an attacker planted before the
    login (session fixation) is worthless.
    """
    connection = require_connection()
    old = current_session(connection)
    fresh = UserSession.from_dict({**old.to_dict(), "session_id": new_session_id()})
    engine = get_persistence_engine()
    engine.expire_session(old.session_id)
    live_sessions.drop(old.session_id)
    old.bind(None)
    adopt(fresh)
    engine.persist_session(fresh, immediate=True)
    connection.session_id = fresh.session_id
    connection.sent_revision = 0
    connection.cookie_due = True
    return fresh


def persist_input(field_name: str, value: Any, form_id: str = "default") -> None:
    """Record one field's value; written to the database after the debounce delay."""
    get_current_session().update_form_data(form_id, field_name, value)


def save_form(form_id: str, data: dict[str, Any], immediate: bool = False) -> None:
    """Record a whole form as saved (no longer dirty); ``immediate`` writes it before returning."""
    session = get_current_session()
    for name, value in data.items():
        session.update_form_data(form_id, name, value)
    session.mark_form_saved(form_id)
    if immediate:
        get_persistence_engine().persist_session(session, immediate=True)
