"""The per-script facade: which session this browser tab has, and keeping its mirror in step.

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

import gc
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import streamlit as st

from .config import Settings, resolve_settings
from .database import get_db_manager
from .protocol import CookieSpec
from .session import JSON, Path, UserSession, new_session_id
from .session_persistence import get_persistence_engine
from .signing import verify_token

logger = logging.getLogger("st_session_guard")

CONNECTION_KEY: Final = "_stsg_connection"
MAX_LIVE_SESSIONS: Final = 10_000


@dataclass
class Connection:
    """What one browser tab's connection knows; kept in ``st.session_state``."""

    session_id: str
    sent_revision: int = 0
    """The revision the tab's mirror has been sent up to; 0 before the first render."""
    last_seq: int = 0
    cookie_due: bool = True
    cookie: CookieSpec | None = None
    """The signed cookie, sent on every run: Streamlit hands a guard frame that
    loads late only the newest args, so a cookie sent once can be lost."""
    widgets: dict[str, Path] = field(default_factory=dict)
    """Widget key -> the form field it persists to."""
    seen: dict[str, int] = field(default_factory=dict)
    """Widget key -> the path revision the widget last showed."""
    shown: dict[str, JSON] = field(default_factory=dict)
    """Widget key -> the value (as stored JSON) the widget returned on its last run."""
    pushed: dict[str, tuple[float, JSON]] = field(default_factory=dict)
    """Widget key -> (``time.monotonic()`` when a value changed elsewhere was written into the
    widget, the value it showed before) while the browser may not have drawn that value yet."""
    excluded_keys: frozenset[str] = frozenset()
    """Widget keys the app excludes: never persisted, never captured as drafts."""
    excluded: set[Path] = field(default_factory=set)
    """Form fields of excluded and password widgets: never taken from the browser."""


class LiveSessions:
    """This process's sessions in use, so every tab of one session shares one object."""

    def __init__(self, capacity: int = MAX_LIVE_SESSIONS) -> None:
        self._sessions: OrderedDict[str, UserSession] = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity

    def get(self, session_id: str) -> UserSession | None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                self._sessions.move_to_end(session_id)
            return session

    def put(self, session: UserSession) -> None:
        """Evicted sessions are safe: the write-behind engine holds what is unwritten."""
        with self._lock:
            self._sessions[session.session_id] = session
            self._sessions.move_to_end(session.session_id)
            while len(self._sessions) > self._capacity:
                self._sessions.popitem(last=False)

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


live_sessions = LiveSessions()

_settings: Settings | None = None


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = resolve_settings()
    return _settings


def _secret() -> str:
    return settings().secret or get_db_manager().get_secret()


def _cookie_session_id() -> str | None:
    try:
        token = st.context.cookies.get(settings().cookie_name)
    except Exception:  # noqa: BLE001 - no browser request behind this run (AppTest, bare mode)
        return None
    session_id = verify_token(token, _secret(), settings().session_timeout)
    if token and session_id is None:
        logger.warning("st-session-guard: refused a session cookie (forged, truncated or expired)")
    return session_id


def _adopt(session: UserSession) -> UserSession:
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
            return live if live is not None and stored.revision <= live.revision else _adopt(stored)
        known = engine.is_known(session_id)
        if known is None and live is not None:
            return live  # the database is down: this process's copy is the newest there is
        live_sessions.drop(session_id)  # expired or ended, here or on another server
        if signed and known is False:
            return _adopt(UserSession.unrevisioned(session_id, user_id, default_page))
    return _adopt(UserSession(user_id, current_page=default_page))


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
            session = _open_session(_cookie_session_id(), user_id, default_page, signed=True)
        session.record_page_view()
        connection = Connection(session.session_id)
        st.session_state[CONNECTION_KEY] = connection
    else:
        session = current_session(connection)
    connection.excluded_keys = frozenset(exclude_keys)
    _this_run.connection = connection
    _receive(connection, session)
    _send(connection, session)
    if not _frozen:
        _freeze_long_lived_objects()
    return session


_frozen = False


def _freeze_long_lived_objects() -> None:
    """Keep every object alive by now out of all later garbage collections (``gc.freeze()``).

    Streamlit runs a full ``gc.collect()`` after each script run, holding the
    GIL, and the run's elements wait in the server until it ends. SQLAlchemy
    and SQLModel double the objects it scans, which made a reload paint about
    a tenth of a second late (``bench/reload_to_restored.py``). What exists at
    the first ``bootstrap_session()`` of the process (modules, the database
    engine, compiled statements) lives as long as the process anyway.
    """
    global _frozen
    _frozen = True
    gc.freeze()


def current_session(connection: Connection) -> UserSession:
    """The live session of a connection, recovered if this process dropped it."""
    session = live_sessions.get(connection.session_id)
    if session is None:
        session = _open_session(connection.session_id, None, "home")
        connection.session_id = session.session_id
    return session


def _receive(connection: Connection, session: UserSession) -> None:
    from . import sync

    sync.receive(connection, session)


def _send(connection: Connection, session: UserSession) -> None:
    from . import sync

    sync.send(connection, session)


def _require_connection() -> Connection:
    connection = get_connection()
    if connection is None:
        raise RuntimeError("call st_session_guard.bootstrap_session() at the top of the script first")
    return connection


def get_current_session() -> UserSession:
    """This tab's session; ``bootstrap_session()`` must have run in this script run."""
    return current_session(_require_connection())


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
        st.session_state.pop(CONNECTION_KEY, None)
        _this_run.connection = None

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
    connection = _require_connection()
    old = current_session(connection)
    fresh = UserSession.from_dict({**old.to_dict(), "session_id": new_session_id()})
    engine = get_persistence_engine()
    engine.expire_session(old.session_id)
    live_sessions.drop(old.session_id)
    old.bind(None)
    _adopt(fresh)
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
