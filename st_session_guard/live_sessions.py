"""This process's sessions in use, so every tab of one session shares one object.

A session another server wrote since this process read it is marked stale
(``mark_stale``, from its notice); the next run of one of its tabs re-reads it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from .session import UserSession

MAX_LIVE_SESSIONS: Final = 10_000


class LiveSessions:
    """The most recently used sessions of this process, by id; the oldest leave first."""

    def __init__(self, capacity: int = MAX_LIVE_SESSIONS) -> None:
        self._sessions: OrderedDict[str, UserSession] = OrderedDict()
        self._stale: set[str] = set()
        self._lock = threading.Lock()
        self._capacity = capacity

    def __len__(self) -> int:
        return len(self._sessions)

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
                evicted, _ = self._sessions.popitem(last=False)
                self._stale.discard(evicted)

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
            self._stale.discard(session_id)

    def mark_stale(self, session_ids: Iterable[str]) -> None:
        """The database holds a copy of these newer than what this process read; ids not live
        here are ignored."""
        with self._lock:
            self._stale.update(sid for sid in session_ids if sid in self._sessions)

    def mark_all_stale(self) -> None:
        """Notices may have been missed (the listener reconnected, or fell behind the notices a
        SQLite file keeps): every live session is re-read."""
        with self._lock:
            self._stale = set(self._sessions)

    def take_stale(self, session_id: str) -> bool:
        """Whether ``session_id`` must be re-read; answered True once per marking."""
        with self._lock:
            if session_id not in self._stale:
                return False
            self._stale.discard(session_id)
            return True


live_sessions = LiveSessions()
