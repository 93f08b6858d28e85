"""How a session is laid out in the database's rows, and read back from them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .protocol import Path
from .session import SCHEMA_VERSION, UnsupportedSchema, UserSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionRecord:
    """One session serialised for writing: its row and its server-owned rows."""

    session_id: str
    row: dict[str, Any]
    roles: tuple[str, ...]
    permissions: tuple[str, ...]
    metrics: dict[str, Any]
    paths: Mapping[Path, int]
    """The revision of each path the row's state holds (``StoredState.paths``)."""


def record_of(session: UserSession, session_timeout: float) -> SessionRecord:
    """The rows that store ``session``, expiring ``session_timeout`` seconds after its last activity.

    Raises what ``UserSession.to_stored`` raises for a state that cannot be stored.
    """
    stored = session.to_stored()
    last_activity = stored.metrics.last_activity
    return SessionRecord(
        session_id=session.session_id,
        row={
            "session_id": session.session_id,
            "user_id": stored.user_id,
            "state": stored.text,
            "revision": stored.revision,
            "schema_version": SCHEMA_VERSION,
            "created_at": stored.created_at,
            "last_activity": last_activity,
            "expires_at": last_activity + timedelta(seconds=session_timeout),
        },
        roles=stored.roles,
        permissions=stored.permissions,
        metrics={
            "session_id": session.session_id,
            "page_views": stored.metrics.page_views,
            "interaction_count": stored.metrics.interaction_count,
            "started_at": stored.metrics.started_at,
            "last_activity": last_activity,
        },
        paths=stored.paths,
    )


def rebuild(session_id: str, state: object) -> UserSession | None:
    """A stored state back as a session; None (logged) for anything this release cannot read."""
    if not isinstance(state, dict):
        logger.warning("st-session-guard: stored session %s… is not a JSON object; ignored",
                       session_id[:8])
        return None
    try:
        session = UserSession.from_dict(state)
    except UnsupportedSchema as error:
        logger.warning("st-session-guard: stored session %s… ignored: %s", session_id[:8], error)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        logger.warning("st-session-guard: stored session %s… is damaged (%r); ignored",
                       session_id[:8], error)
    else:
        session.stored_revision = session.revision
        return session
    return None


__all__ = ["SessionRecord", "rebuild", "record_of"]
