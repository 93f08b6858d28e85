"""The per-run bootstrap: which session this browser tab has, and keeping its mirror in step.

Every script run of a tab goes through ``bootstrap_session()``:

1. On the first run of a page load the signed cookie (``st.context.cookies``)
   names the session; the live copy in this process or the database of
   record gives it back before any widget exists, so wrapped widgets paint
   their restored values on the first frame.
   What the unsaved-changes cookie carries (changes the database may have
   lost with a server that died) is merged then too (``unsaved_cookie``).
2. A message the guard component sent since the last run (a mirror newer
   than the server, or drafts) is validated and merged.
3. The guard is drawn with only the changes the tab has not seen yet.

Live sessions are shared by every tab of this process that holds the same
session id, so a change in one tab shows in the other on its next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import streamlit as st

from . import process_metrics, sync
from .connection import CONNECTION_KEY, Connection, SentChanges, get_connection, start_run
from .cookies import needs_refresh, session_id_from_cookie, session_id_from_token
from .live_sessions import live_sessions
from .long_lived import freeze_long_lived_objects
from .notice_listener import listen_for
from .session import UserSession
from .session_persistence import SessionPersistenceEngine, get_persistence_engine
from .unsaved_cookie import take_unsaved

logger = logging.getLogger("st_session_guard")

def adopt(session: UserSession) -> UserSession:
    """Make ``session`` this process's live copy, its every change handed to the write-behind.

    The process listens from now on for other servers (or other processes on
    the same SQLite file) writing or ending its live sessions (``notice_listener``).
    """
    engine = get_persistence_engine()
    listen_for(engine, live_sessions)
    session.bind(engine.persist_session)
    live_sessions.put(session)
    return session


def refresh(
    engine: SessionPersistenceEngine, session: UserSession, stored: UserSession | None = None
) -> bool:
    """Merge into the live ``session`` what another server stored of it since (read unless given);
    False when it was ended meanwhile (its notice missed while the listener was cut off, or
    pruned before this process read it)."""
    if stored is None:
        stored = engine.stored_session(session.session_id)
    if stored is None:
        return engine.was_ended(session.session_id) is not True
    if session.merge_stored(stored) is not None:
        process_metrics.count_restore("database")
    return True


def catch_up(connection: SentChanges, session: UserSession) -> None:
    """Send the tab what stored copies merged into its session brought, however old their
    revisions: the tab was sent everything up to the session's revision before they came."""
    missed = session.refresh_count - connection.refreshes_seen
    if missed > 0:
        oldest = min(session.refreshes[-missed:]) if missed <= len(session.refreshes) else 1
        connection.sent_revision = min(connection.sent_revision, oldest - 1)
    connection.refreshes_seen = session.refresh_count


def _open_session(
    session_id: str | None, user_id: str | None, default_page: str, signed: bool = False
) -> UserSession:
    """The newest copy of ``session_id`` we can find, or a fresh session.

    A ``signed`` id (from our own cookie) that was never stored keeps its id:
    the server died before its first write, and the browser's mirror, kept
    under that id, restores into it. So does one the database cannot answer
    for: were it ended, the store refuses to write it back. Any other miss
    gets a new random id.
    """
    engine = get_persistence_engine()
    if session_id:
        live = live_sessions.get(session_id)
        live_sessions.take_stale(session_id)  # read now
        stored = engine.recover_session(session_id)
        if stored is not None:
            if live is not None:
                # never replaced, as its newer paths may be unwritten; merged with what is
                # stored, read past the unwritten copy that ``recover_session`` prefers
                stored = engine.stored_session(session_id) if stored is live else stored
                if stored is not None:
                    refresh(engine, live, stored)
                return live
            process_metrics.count_restore("database")
            return adopt(stored)
        known = engine.is_known(session_id)
        if known is None and live is not None:
            return live  # the database is down: this process's copy is the newest there is
        live_sessions.drop(session_id)  # expired or ended, here or on another server
        if signed and known is not True:
            return adopt(UserSession.unrevisioned(session_id, user_id, default_page))
    return adopt(UserSession(user_id, current_page=default_page))


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
    first_run = connection is None
    if connection is None:
        if session_id:
            session = _open_session(session_id, user_id, default_page)
        else:
            session = _open_session(session_id_from_cookie(), user_id, default_page, signed=True)
        session.record_page_view()
        connection = Connection(session.session_id, refreshes_seen=session.refresh_count)
        st.session_state[CONNECTION_KEY] = connection
    else:
        session = current_session(connection)
        catch_up(connection, session)
    connection.excluded_keys = frozenset(exclude_keys)
    if first_run:
        take_unsaved(connection, session)
    if connection.cookie is not None and needs_refresh(connection.cookie, time.time()):
        connection.cookie_due = True  # the cookie slides with use, as the session's expiry does
    start_run(connection)
    token = sync.receive(connection, session)
    if token is not None:
        session = follow(connection, session, token)
    sync.send(connection, session)
    freeze_long_lived_objects()
    return session


def current_session(connection: Connection) -> UserSession:
    """The live session of a connection, recovered if this process dropped it, and re-read if
    another server wrote it since (its notice marked it stale).

    One that ended (here or on another server) gives the tab a fresh session;
    the tab is told the old id ended, and follows its browser's cookie if
    another tab has moved the browser on.
    """
    session = live_sessions.get(connection.session_id)
    engine = get_persistence_engine()
    if session is not None and live_sessions.take_stale(session.session_id) and not refresh(engine, session):
        engine.ended_elsewhere([session.session_id])
        live_sessions.drop(session.session_id)
        session = None
    if session is None:
        session = _open_session(connection.session_id, None, "home")
        if session.session_id != connection.session_id:
            ended = get_persistence_engine().is_known(connection.session_id) is True
            connection.move_to(session.session_id, ended=ended)
    return session


def follow(connection: Connection, session: UserSession, token: str) -> UserSession:
    """The session the browser's signed cookie names, if it is live; else ``session``.

    Only the cookie proves a right to a session: a tab whose session ended
    elsewhere follows the browser's cookie, never a successor the server
    remembers, which a tab holding a planted id would follow too.
    """
    target = session_id_from_token(token)
    if target is None or target == session.session_id:
        return session
    live = live_sessions.get(target)
    followed = live if live is not None else get_persistence_engine().recover_session(target)
    if followed is None:
        return session
    if live is None:
        adopt(followed)
    connection.move_to(target, ended=False)
    return followed


def require_connection() -> Connection:
    connection = get_connection()
    if connection is None:
        raise RuntimeError("call st_session_guard.bootstrap_session() at the top of the script first")
    return connection


def get_current_session() -> UserSession:
    """This tab's session; ``bootstrap_session()`` must have run in this script run."""
    return current_session(require_connection())
