"""This process's live sessions: one object per id, the least recently used leaving first."""

from __future__ import annotations

from st_session_guard.live_sessions import LiveSessions
from st_session_guard.session import UserSession


def test_the_least_recently_used_session_leaves_first_when_full() -> None:
    live = LiveSessions(capacity=2)
    first, second, third = UserSession(), UserSession(), UserSession()
    live.put(first)
    live.put(second)
    assert live.get(first.session_id) is first  # now the most recently used
    live.put(third)
    assert live.get(second.session_id) is None
    assert live.get(first.session_id) is first
    assert live.get(third.session_id) is third


def test_a_dropped_session_is_gone_and_dropping_an_unknown_id_is_harmless() -> None:
    live = LiveSessions()
    session = UserSession()
    live.put(session)
    live.drop(session.session_id)
    live.drop(session.session_id)
    assert live.get(session.session_id) is None
