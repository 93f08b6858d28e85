"""The per-run bootstrap: which session this browser tab has, and keeping its mirror in step.

Every script run of a tab goes through ``bootstrap_session()``:

1. On the first run of a page load the signed cookie (``st.context.cookies``)
   names the session; the live copy in this process or the database of
   record gives it back before any widget exists, so wrapped widgets paint
   their restored values on the first frame.
2. A message the guard component sent since the last run (a mirror newer
   than the server, or drafts) is validated and merged.
3. The guard is drawn with only the changes the tab has not seen yet.

Live sessions are shared by every tab of this process that holds the same
session id, so a change in one tab shows in the other on its next run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import streamlit as st

from . import component
from .config import settings
from .cookies import needs_refresh, session_id_from_cookie
from .cookies import signing_secrets as _secret
from .live_sessions import live_sessions
from .long_lived import freeze_long_lived_objects
from .reconcile import Limits, read_message, restore_from_browser
from .session import Path, UserSession
from .session_persistence import get_persistence_engine
from .signing import sign_session_id

__all__ = [
    "Connection", "adopt", "bootstrap_session", "current_session", "end_connection", "get_connection",
    "get_current_session", "live_sessions", "require_connection", "run_connection",
]  # live_sessions: the dashboard drops an ended session through this module

logger = logging.getLogger("st_session_guard")

CONNECTION_KEY: Final = "_stsg_connection"


@dataclass
class Connection:
    """What one browser tab's connection knows; kept in ``st.session_state``."""

    session_id: str
    sent_revision: int = 0
    """The revision the tab's mirror has been sent up to; 0 before the first render."""
    last_seq: int = 0
    cookie_due: bool = True
    cookie: component.CookieSpec | None = None
    """The signed cookie, sent on every run: Streamlit hands a guard frame that
    loads late only the newest args, so a cookie sent once can be lost."""
    excluded_keys: frozenset[str] = frozenset()
    """Widget keys the app excludes: never persisted, never captured as drafts."""
    excluded: set[Path] = field(default_factory=set)
    """Form fields of excluded and password widgets: never taken from the browser."""


def adopt(session: UserSession) -> UserSession:
    """Make ``session`` this process's live copy, its every change handed to the write-behind."""
    session.bind(get_persistence_engine().persist_session)
    live_sessions.put(session)
    return session


def _open_session(
    session_id: str | None, user_id: str | None, default_page: str, signed: bool = False
) -> UserSession:
    """The newest copy of ``session_id`` we can find, or a fresh session.

    A ``signed`` id (from our own cookie) that was never stored keeps its id:
    the server died before its first write, and the browser's mirror, kept
    under that id, restores into it. Any other miss gets a new random id.
    """
    engine = get_persistence_engine()
    if session_id:
        live = live_sessions.get(session_id)
        stored = engine.recover_session(session_id)
        if stored is not None:
            return live if live is not None and stored.revision <= live.revision else adopt(stored)
        known = engine.is_known(session_id)
        if known is None and live is not None:
            return live  # the database is down: this process's copy is the newest there is
        live_sessions.drop(session_id)  # expired or ended, here or on another server
        if signed and known is False:
            return adopt(UserSession.unrevisioned(session_id, user_id, default_page))
    return adopt(UserSession(user_id, current_page=default_page))


def get_connection() -> Connection | None:
    connection = st.session_state.get(CONNECTION_KEY)
    return connection if isinstance(connection, Connection) else None


_this_run = threading.local()
"""The connection ``bootstrap_session()`` found, kept for the rest of the script run on this
thread (a Streamlit script thread serves one tab), so that each wrapped widget need not look
it up in ``st.session_state``: a lookup there costs microseconds, times every widget."""


def run_connection() -> Connection | None:
    """The connection of this script run: the one ``bootstrap_session()`` found, else looked up."""
    connection: Connection | None = getattr(_this_run, "connection", None)
    return connection if connection is not None else get_connection()


def end_connection() -> None:
    """Forget this tab's connection: its next run starts a page load's lookup again."""
    st.session_state.pop(CONNECTION_KEY, None)
    _this_run.connection = None


def bootstrap_session(
    session_id: str | None = None,
    *,
    user_id: str | None = None,
    default_page: str = "home",
    exclude_keys: Iterable[str] = (),
) -> UserSession:
    """Give this tab its session, restored if it had one, and keep the browser mirror in step.

    Call it once at the top of every script run, before any wrapped widget.

    Parameters
    ----------
    session_id : str or None
        A session id the app got elsewhere (say, from a URL it chose to put
        it in). By default the id comes from the signed ``stsg`` cookie.
    user_id : str or None
        The user of a session created by this call.
    default_page : str
        ``current_page`` of a session created by this call.
    exclude_keys : iterable of str
        Keys of wrapped widgets whose values must never be stored, in the
        browser or the database (password inputs never are).

    Returns
    -------
    UserSession
        The tab's session; the same object on every run of the tab.
    """
    connection = get_connection()
    if connection is None:
        if session_id:
            session = _open_session(session_id, user_id, default_page)
        else:
            session = _open_session(session_id_from_cookie(), user_id, default_page, signed=True)
        session.record_page_view()
        connection = Connection(session.session_id)
        st.session_state[CONNECTION_KEY] = connection
    else:
        session = current_session(connection)
    connection.excluded_keys = frozenset(exclude_keys)
    if connection.cookie is not None and needs_refresh(connection.cookie, time.time()):
        connection.cookie_due = True  # the cookie slides with use, as the session's expiry does
    _this_run.connection = connection
    _receive(connection, session)
    _send(connection, session)
    freeze_long_lived_objects()
    return session


def current_session(connection: Connection) -> UserSession:
    """The live session of a connection, recovered if this process dropped it."""
    session = live_sessions.get(connection.session_id)
    if session is None:
        session = _open_session(connection.session_id, None, "home")
        connection.session_id = session.session_id
    return session


def _receive(connection: Connection, session: UserSession) -> None:
    limits = Limits(max_bytes=settings().max_payload_bytes)
    raw = st.session_state.get(component.GUARD_KEY)
    if raw is not None:
        # A message is read once. Drawing the guard makes Streamlit deep-copy its value,
        # which a rejected value nested a few hundred levels deep would make raise.
        st.session_state[component.GUARD_KEY] = None
    message = read_message(raw, session.session_id, connection.last_seq, limits)
    if message is None:
        return
    connection.last_seq = message["seq"]
    if message["type"] == "resync":
        revision = message.get("revision")
        connection.sent_revision = revision if isinstance(revision, int) and revision >= 0 else 0
        return
    draft_paths = {key: ("forms", *at) for key, at in session.draft_widgets.items()}
    outcome = restore_from_browser(session, message, draft_paths, connection.excluded, limits)
    if outcome.oldest is not None:
        connection.sent_revision = min(connection.sent_revision, outcome.oldest - 1)
        logger.info("st-session-guard: took %d newer values from the browser", outcome.applied)


def _send(connection: Connection, session: UserSession) -> None:
    base = connection.sent_revision
    changes = [c.to_json() for c in session.changes_since(base)]
    if connection.cookie_due or connection.cookie is None:
        connection.cookie = {
            "name": settings().cookie_name,
            "value": sign_session_id(session.session_id, _secret()),
            "max_age": int(settings().session_timeout),
        }
        connection.cookie_due = False
    connection.sent_revision = session.revision
    component.render_guard(
        {
            "v": component.PROTOCOL_VERSION,
            "session_id": session.session_id,
            "revision": session.revision,
            "base": base,
            "changes": changes,  # type: ignore[typeddict-item]
            "cookie": connection.cookie,
            "debounce_ms": settings().browser_debounce_ms,
            "drafts": {key: list(at) for key, at in session.draft_widgets.items()},
            "excluded": sorted(connection.excluded_keys),
            "ack": connection.last_seq or None,
        }
    )


def require_connection() -> Connection:
    connection = get_connection()
    if connection is None:
        raise RuntimeError("call st_session_guard.bootstrap_session() at the top of the script first")
    return connection


def get_current_session() -> UserSession:
    """This tab's session; ``bootstrap_session()`` must have run in this script run."""
    return current_session(require_connection())
