"""Continuing on another device: a user's newest session taken up by the tab they just logged in on.

The user id comes only from the app's own server-side code (its login, or
``st.user``); nothing the browser sends names a user. Taking a session up
moves it to a fresh id, as a login must (session fixation), and ends the
id it had, so only one device holds it at a time.
"""

from __future__ import annotations

from .live_sessions import live_sessions
from .manager import adopt, current_session, require_connection
from .session import UserSession
from .session_manager import rotate_session_id
from .session_persistence import get_persistence_engine


def _newest_session_of(user_id: str, other_than: str) -> UserSession | None:
    """The user's most recently active live session but ``other_than``, in its newest copy."""
    for found in get_persistence_engine().recover_user_sessions(user_id):
        if found.session_id == other_than:
            continue
        live = live_sessions.get(found.session_id)
        return live if live is not None and live.revision >= found.revision else found
    return None


def resume_user_session(user_id: str) -> UserSession:
    """Make this tab ``user_id``'s, continuing their most recently active session if they have one.

    Call it right after the app has authenticated the user. Their newest
    live session elsewhere (forms, page, history, storage) is moved into
    this tab under a fresh id and ends where it was; this tab's own session
    before the login ends too. A user with no live session gets this tab's
    session, under a fresh id. A tab that is already ``user_id``'s is left
    as it is, so calling this on every run is harmless.

    Parameters
    ----------
    user_id : str
        The authenticated user, as the app's server-side code knows them;
        never a value taken from the browser.

    Returns
    -------
    UserSession
        The tab's session from now on.
    """
    connection = require_connection()
    current = current_session(connection)
    if current.user_id == user_id:
        return current
    source = _newest_session_of(user_id, current.session_id)
    if source is None:
        current.assign_user(user_id)
        return rotate_session_id()
    get_persistence_engine().expire_session(current.session_id)
    live_sessions.drop(current.session_id)
    current.bind(None)
    adopt(source)
    connection.session_id = source.session_id
    return rotate_session_id()  # moves the source to a fresh id and ends the one it had
