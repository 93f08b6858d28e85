"""What one browser tab's connection knows, kept in ``st.session_state`` across its script runs."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Final, Protocol

import streamlit as st

from .protocol import CookieSpec, Path

CONNECTION_KEY: Final = "_stsg_connection"
MAX_ENDED: Final = 8
"""Ended ids a connection keeps telling its tab about; more would only repeat old news."""


class SentChanges(Protocol):
    """What a tab was sent of its session: a ``Connection``, or a model of one in tests."""

    sent_revision: int
    refreshes_seen: int


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
    excluded_keys: frozenset[str] = frozenset()
    """Widget keys the app excludes: never persisted, never captured as drafts."""
    excluded: set[Path] = field(default_factory=set)
    """Form fields of excluded and password widgets: never taken from the browser."""
    from_cookie: set[Path] = field(default_factory=set)
    """Paths the first run took from the unsaved-changes cookie, before it knew which widgets
    are password or excluded ones (``unsaved_cookie.take_back``)."""
    ended: list[str] = field(default_factory=list)
    """Ids this tab held that ended (newest last): sent on every run, so every frame deletes their
    mirror and never writes their cookie back; a follow message may still name one of them."""
    generation: int = 0
    """How many times the tab moved to another session; wrapped widgets show the new one's values."""
    refreshes_seen: int = 0
    """The session's ``refresh_count`` when the tab was last sent its changes."""
    widget_sync: object = field(default=None, repr=False, compare=False)
    """What the tab's wrapped widgets showed and were sent (``widgets.WidgetSync``)."""

    def move_to(self, session_id: str, *, ended: bool) -> None:
        """Serve ``session_id`` from now on: its whole state and a cookie for it go to the tab.

        ``ended`` says the id left behind ended (a login, a logout, or ended elsewhere).
        """
        if ended:
            self.ended = [*self.ended, self.session_id][-MAX_ENDED:]
        self.session_id = session_id
        self.sent_revision = 0
        self.from_cookie = set()
        self.refreshes_seen = 0
        self.cookie_due = True
        self.generation += 1


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


def start_run(connection: Connection) -> None:
    """Keep ``connection`` for the rest of this script run on this thread."""
    _this_run.connection = connection
