"""What a page does with its session beyond its widgets: navigate, save, log in, log out.

``get_session_manager()`` is the facade the reference documents;
``persist_input``, ``save_form`` and ``rotate_session_id`` are its calls
that need no manager object.
"""

from __future__ import annotations

from typing import Any

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
        """End the session (call it on logout) and leave nothing of it for the next person.

        Its row expires now, so its cookie restores nothing any more; the tab
        moves to a fresh, empty session whose cookie replaces the old one, its
        wrapped widgets show their defaults from the next run, and every tab of
        the browser deletes the ended session's mirror and drafts. The row is
        kept until the next cleanup, and the id is never taken up again.
        """
        _end(self.session.session_id)
        self.session = get_current_session()

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
    _end(old.session_id)
    old.bind(None)
    adopt(fresh)
    get_persistence_engine().persist_session(fresh, immediate=True)
    connection.move_to(fresh.session_id, ended=True)
    return fresh


def _end(session_id: str) -> None:
    """End ``session_id`` in the database and in this process; its tabs learn it on their next run."""
    get_persistence_engine().expire_session(session_id)
    live_sessions.drop(session_id)


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
