"""The world the model test drives: servers, browsers and tabs, a kill, a clock that moves,
and what the database, a live session and a mirror hold of each form path."""

from __future__ import annotations

import atexit
import functools
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select

from st_session_guard import metrics, persistence
from st_session_guard import session as session_module
from st_session_guard.clock import utcnow
from st_session_guard.database import DatabaseManager
from st_session_guard.models import sessions
from st_session_guard.notice_listener import Poller, listening_connection, notice_handlers
from st_session_guard.notices import read_notice
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.session import UserSession

Path = tuple[str, ...]
FORM = "f"
STEPS: Counter[str] = Counter()
"""Rule name -> times run, over every example of every run in this process."""

_Rule = TypeVar("_Rule", bound=Callable[..., None])


def counted(method: _Rule) -> _Rule:
    """Count each run of a rule in ``STEPS``, for the soak's report."""

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> None:
        STEPS[method.__name__] += 1
        method(*args, **kwargs)

    return run  # type: ignore[return-value]


def field_path(name: str) -> Path:
    return ("forms", FORM, name)


def draft_key(name: str) -> str:
    return f"w_{name}"


class MovedClock:
    """``utcnow`` of the modules that judge expiry, moved forward at will; ``restore()`` undoes it."""

    users = (metrics, persistence, session_module)

    def __init__(self) -> None:
        self.offset = timedelta(0)
        for module in self.users:
            module.utcnow = self.now  # type: ignore[attr-defined]

    def now(self) -> datetime:
        return utcnow() + self.offset

    def restore(self) -> None:
        for module in self.users:
            module.utcnow = utcnow  # type: ignore[attr-defined]


@dataclass
class Server:
    """One Streamlit process: its engine and its live sessions (what ``live_sessions`` holds).

    It hears the other server's notices, handled as ``notice_listener``
    handles them, when ``hear()`` is called: on PostgreSQL on a connection of
    its own, on SQLite through the poller's read, which the model calls in
    place of the poller's thread.
    """

    engine: SessionPersistenceEngine
    live: dict[str, UserSession] = field(default_factory=dict)
    generation: int = 0
    stale: set[str] = field(default_factory=set)
    hearing: Any = None
    """The connection notices are heard on: PostgreSQL's, or a ``NoticeReader``."""
    poller: Poller | None = None

    def listen(self, direct: DatabaseManager) -> Server:
        """Hear notices through ``direct``, which an outage does not cut: none is missed."""
        if self.engine.db.dialect == "sqlite":  # an outage on SQLite takes writes away, not reads
            self.poller = Poller(self.engine.db, *notice_handlers(self.engine, self))
            self.hearing = self.poller.open()
            return self
        self.hearing = listening_connection(direct)
        on_notice, _ = notice_handlers(self.engine, self)
        origin = self.engine.db.origin

        def heard(notify: Any) -> None:
            notice = read_notice(notify.payload, origin)
            if notice is not None:
                on_notice(notice)

        self.hearing.add_notify_handler(heard)
        return self

    def hear(self) -> None:
        """Take every notice committed so far: a query's answer comes after them."""
        if self.poller is not None:
            self.poller.poll(self.hearing)
        elif self.hearing is not None:
            self.hearing.execute("SELECT 1")

    def stop_listening(self) -> None:
        if self.hearing is not None:
            self.hearing.close()
            self.hearing = None
            self.poller = None

    def mark_stale(self, session_ids: Iterable[str]) -> None:
        self.stale.update(sid for sid in session_ids if sid in self.live)

    def mark_all_stale(self) -> None:
        self.stale = set(self.live)

    def drop(self, session_id: str) -> None:
        self.live.pop(session_id, None)
        self.stale.discard(session_id)


@dataclass
class Tab:
    server: int
    generation: int
    sent_revision: int = 0
    refreshes_seen: int = 0
    last_seq: int = 0


@dataclass
class Browser:
    """One browser profile: its cookie, its IndexedDB mirror of that session, drafts and tabs."""

    session_id: str | None
    mirror: dict[Path, tuple[Any, int]] = field(default_factory=dict)
    drafts: dict[str, tuple[str, int]] = field(default_factory=dict)
    tabs: list[Tab] = field(default_factory=list)


def kill(engine: SessionPersistenceEngine) -> None:
    """``kill -9``: the process is gone with whatever it had not written; nothing more is written."""
    atexit.unregister(engine._at_exit)
    with engine._lock:
        engine._pending.clear()
        engine._closed = True
        engine._wake.notify_all()
    engine.db.dispose()


def stored_states(reader: DatabaseManager) -> dict[str, dict[str, Any]]:
    """Every stored session's state column, expired or not, read past both engines."""
    with reader.read() as connection:
        rows = connection.execute(select(sessions.c.session_id, sessions.c.state)).all()
    return {session_id: json.loads(state) if isinstance(state, str) else state
            for session_id, state in rows}


def stored_fields(state: dict[str, Any]) -> dict[Path, tuple[Any, int]]:
    """The form paths of a stored state: path -> (value, revision)."""
    out: dict[Path, tuple[Any, int]] = {}
    for change in state.get("changes", []):
        path = tuple(change["p"])
        if path[0] == "forms" and not change.get("d"):
            out[path] = (change["v"], change["r"])
    return out


def live_fields(session: UserSession) -> dict[Path, tuple[Any, int]]:
    return {
        c.path: (c.value, c.revision)
        for c in session.changes_since(0)
        if c.path[0] == "forms" and not c.deleted
    }


def holdings(
    reader: DatabaseManager, servers: list[Server], browsers: list[Browser]
) -> list[tuple[str, str, dict[Path, tuple[Any, int]]]]:
    """(where, session id, form path -> (value, revision)) for every row, live session and mirror."""
    found = [("database", session_id, stored_fields(state))
             for session_id, state in stored_states(reader).items()]
    for number, server in enumerate(servers):
        found += [(f"server {number}", session_id, live_fields(session))
                  for session_id, session in server.live.items()]
    found += [("a mirror", browser.session_id, {p: h for p, h in browser.mirror.items() if p[0] == "forms"})
              for browser in browsers if browser.session_id is not None]
    return found
