"""This process's sessions in use, so every tab of one session shares one object."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

from .session import UserSession

MAX_LIVE_SESSIONS: Final = 10_000


class LiveSessions:
    """The most recently used sessions of this process, by id; the oldest leave first."""

    def __init__(self, capacity: int = MAX_LIVE_SESSIONS) -> None:
        self._sessions: OrderedDict[str, UserSession] = OrderedDict()
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
                self._sessions.popitem(last=False)

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


live_sessions = LiveSessions()
