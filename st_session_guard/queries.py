"""Read-only figures about the stored sessions, for the dashboard and the command line.

Every figure comes from the database, so one server's dashboard shows the
sessions of all servers sharing it. Each query is one set-based statement
returning a bounded number of rows (aggregates or a ``LIMIT``), and never
loads the sessions themselves. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Float,
    LargeBinary,
    Text,
    case,
    cast,
    func,
    or_,
    select,
    text,
)

from .clock import utcnow
from .database import DatabaseManager
from .models import metrics, permissions, roles, sessions

MAX_LISTED: Final = 100
"""Sessions a search lists at most; narrow the search to see others."""
RECENT_FOR_PAGES: Final = 500
"""Most recently active sessions whose navigation histories the page chart counts."""
TOP_PAGES: Final = 20
RECENT_FOR_ACTIVITY: Final = 20
DURATION_BUCKETS: Final[tuple[tuple[str, float], ...]] = (
    ("< 1 min", 60),
    ("1–5 min", 300),
    ("5–30 min", 1800),
    ("30 min–2 h", 7200),
    ("2–8 h", 28_800),
    ("≥ 8 h", float("inf")),
)
"""Session-duration histogram: label and upper bound (seconds, exclusive)."""


@dataclass(frozen=True)
class StoreStats:
    """The store at a glance; sizes are bytes of the stored state JSON."""

    sessions: int
    live: int
    expired: int
    """Past their expiry, still stored until a cleanup removes them."""
    users: int
    """Distinct user ids among stored sessions (sessions without one not counted)."""
    active_last_hour: int
    total_state_bytes: int
    avg_state_bytes: float
    oldest_session_id: str | None
    oldest_created_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "live": self.live,
            "expired": self.expired,
            "users": self.users,
            "active_last_hour": self.active_last_hour,
            "total_state_bytes": self.total_state_bytes,
            "avg_state_bytes": round(self.avg_state_bytes, 1),
            "oldest_session": None
            if self.oldest_session_id is None
            else {
                "session_id": self.oldest_session_id,
                "created_at": self.oldest_created_at.isoformat()
                if self.oldest_created_at
                else None,
            },
        }


def _state_bytes(db: DatabaseManager) -> ColumnElement[Any]:
    """Bytes of a row's stored JSON (not characters: the two differ for non-ASCII text)."""
    if db.dialect == "sqlite":
        return func.length(cast(sessions.c.state, LargeBinary))
    return func.octet_length(cast(sessions.c.state, Text))


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def store_stats(db: DatabaseManager, now: datetime | None = None) -> StoreStats:
    """Counts and sizes over every stored session: one aggregate pass and one indexed lookup."""
    now = now or utcnow()
    totals = select(
        func.count(),
        _count_if(sessions.c.expires_at > now),
        func.count(func.distinct(sessions.c.user_id)),
        _count_if(sessions.c.last_activity >= now - timedelta(hours=1)),
        func.coalesce(func.sum(_state_bytes(db)), 0),
    )
    oldest = (
        select(sessions.c.session_id, sessions.c.created_at)
        .order_by(sessions.c.created_at, sessions.c.session_id)
        .limit(1)
    )
    with db.read() as connection:
        count, live, users, recent, size = connection.execute(totals).one()
        first = connection.execute(oldest).first()
    count, live, size = int(count), int(live), int(size)
    return StoreStats(
        sessions=count,
        live=live,
        expired=count - live,
        users=int(users),
        active_last_hour=int(recent),
        total_state_bytes=size,
        avg_state_bytes=size / count if count else 0.0,
        oldest_session_id=None if first is None else first.session_id,
        oldest_created_at=None if first is None else first.created_at,
    )


def count_expired(db: DatabaseManager, now: datetime | None = None) -> int:
    """Stored sessions past their expiry: what ``cleanup_expired_sessions`` would delete."""
    query = select(func.count()).where(sessions.c.expires_at <= (now or utcnow()))
    with db.read() as connection:
        return int(connection.execute(query).scalar_one())


def count_inactive(db: DatabaseManager, inactive_days: float, now: datetime | None = None) -> int:
    """Stored sessions idle for ``inactive_days`` or longer (what inactive cleanup deletes)."""
    cutoff = (now or utcnow()) - timedelta(days=inactive_days)
    query = select(func.count()).where(sessions.c.last_activity <= cutoff)
    with db.read() as connection:
        return int(connection.execute(query).scalar_one())


def stored_state(db: DatabaseManager, session_id: str, now: datetime | None = None) -> Any:
    """The stored state document of a live session, as the database holds it; None otherwise.

    Read straight from the row, not rebuilt into a ``UserSession``: this is
    what is on disk, for inspection, including fields a newer release added.
    """
    query = select(sessions.c.state).where(
        sessions.c.session_id == session_id, sessions.c.expires_at > (now or utcnow())
    )
    with db.read() as connection:
        return connection.execute(query).scalar_one_or_none()


def active_sessions_over_time(
    db: DatabaseManager, start: datetime, end: datetime, buckets: int
) -> list[tuple[datetime, int]]:
    """Per time bucket, the sessions active in it: created before its end, active after its start.

    One statement with a conditional count per bucket, over the rows active
    since ``start`` (an indexed range), however many buckets there are.
    """
    width = (end - start) / buckets
    edges = [start + width * i for i in range(buckets + 1)]
    counts = [
        _count_if((sessions.c.created_at < edges[i + 1]) & (sessions.c.last_activity >= edges[i]))
        for i in range(buckets)
    ]
    query = select(*counts).where(sessions.c.last_activity >= start, sessions.c.created_at < end)
    with db.read() as connection:
        row = connection.execute(query).one()
    return [(edges[i], int(row[i])) for i in range(buckets)]


_PAGE_VISITS: Final = {
    "sqlite": """
        SELECT visit.key AS page, sum(visit.value) AS visits
        FROM (SELECT state FROM stsg_sessions WHERE json_valid(state)
              ORDER BY last_activity DESC LIMIT :recent) AS s,
             json_each(s.state, '$.metrics.page_visits') AS visit
        WHERE visit.type = 'integer'
        GROUP BY page ORDER BY visits DESC, page LIMIT :top
    """,
    "postgresql": """
        SELECT visit.key AS page, sum((visit.value)::text::bigint) AS visits
        FROM (SELECT state FROM stsg_sessions ORDER BY last_activity DESC LIMIT :recent) AS s
        CROSS JOIN LATERAL json_each(CASE WHEN json_typeof(s.state->'metrics'->'page_visits') = 'object'
                                     THEN s.state->'metrics'->'page_visits' ELSE '{}'::json END) AS visit
        WHERE json_typeof(visit.value) = 'number'
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT :top
    """,
}
"""Visits per page in the server-owned counts of stored sessions; the JSON is unnested in the database."""


def page_visits(
    db: DatabaseManager, recent: int = RECENT_FOR_PAGES, top: int = TOP_PAGES
) -> list[tuple[str, int]]:
    """Visits per page over the ``recent`` most recently active sessions.

    Counted by the server when the app's code goes to a page (``navigate_to``,
    ``sg.navigation``), never from the navigation history a browser may send.
    """
    query = text(_PAGE_VISITS[db.dialect])
    with db.read() as connection:
        rows = connection.execute(query, {"recent": recent, "top": top}).all()
    return [(str(page), int(visits)) for page, visits in rows]


@dataclass(frozen=True)
class SessionActivity:
    session_id: str
    user_id: str | None
    page_views: int
    interactions: int


def recent_activity(db: DatabaseManager, limit: int = RECENT_FOR_ACTIVITY) -> list[SessionActivity]:
    """Page views and interactions of the ``limit`` most recently active sessions."""
    query = (
        select(
            sessions.c.session_id,
            sessions.c.user_id,
            metrics.c.page_views,
            metrics.c.interaction_count,
        )
        .join(metrics, metrics.c.session_id == sessions.c.session_id)
        .order_by(sessions.c.last_activity.desc())
        .limit(limit)
    )
    with db.read() as connection:
        rows = connection.execute(query).all()
    return [SessionActivity(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


def _duration_seconds(db: DatabaseManager) -> ColumnElement[Any]:
    if db.dialect == "sqlite":
        days = func.julianday(sessions.c.last_activity) - func.julianday(sessions.c.created_at)
        return cast(days * 86_400, Float)
    return func.extract("epoch", sessions.c.last_activity - sessions.c.created_at)


def session_durations(db: DatabaseManager, since: datetime) -> list[tuple[str, int]]:
    """How long sessions active since ``since`` have lasted so far, by ``DURATION_BUCKETS``."""
    seconds = _duration_seconds(db)
    bounds = [bound for _, bound in DURATION_BUCKETS[:-1]]
    counts = [_count_if(seconds < bounds[0])]
    counts += [_count_if((seconds >= low) & (seconds < high)) for low, high in pairwise(bounds)]
    counts.append(_count_if(seconds >= bounds[-1]))
    query = select(*counts).where(sessions.c.last_activity >= since)
    with db.read() as connection:
        row = connection.execute(query).one()
    return [(label, int(row[i])) for i, (label, _) in enumerate(DURATION_BUCKETS)]


@dataclass(frozen=True)
class SessionSummary:
    """One row of the sessions table."""

    session_id: str
    user_id: str | None
    created_at: datetime
    last_activity: datetime
    expires_at: datetime
    state_bytes: int
    page_views: int
    interactions: int
    roles: tuple[str, ...]
    permissions: tuple[str, ...]

    def live(self, now: datetime) -> bool:
        return self.expires_at > now


def find_sessions(
    db: DatabaseManager, search: str = "", limit: int = MAX_LISTED
) -> list[SessionSummary]:
    """The most recently active sessions whose id starts with, or user id contains, ``search``.

    At most ``limit`` sessions, with their roles and permissions fetched for
    those alone.
    """
    query = (
        select(
            sessions.c.session_id,
            sessions.c.user_id,
            sessions.c.created_at,
            sessions.c.last_activity,
            sessions.c.expires_at,
            _state_bytes(db),
            func.coalesce(metrics.c.page_views, 0),
            func.coalesce(metrics.c.interaction_count, 0),
        )
        .outerjoin(metrics, metrics.c.session_id == sessions.c.session_id)
        .order_by(sessions.c.last_activity.desc(), sessions.c.session_id)
        .limit(limit)
    )
    term = search.strip()
    if term:
        query = query.where(
            or_(
                sessions.c.session_id.startswith(term, autoescape=True),
                sessions.c.user_id.contains(term, autoescape=True),
            )
        )
    with db.read() as connection:
        rows = connection.execute(query).all()
        ids = [row[0] for row in rows]
        held_roles = _grouped(connection, roles.c.session_id, roles.c.role, ids)
        held_permissions = _grouped(
            connection, permissions.c.session_id, permissions.c.permission, ids
        )
    return [
        SessionSummary(
            session_id=r[0],
            user_id=r[1],
            created_at=r[2],
            last_activity=r[3],
            expires_at=r[4],
            state_bytes=int(r[5] or 0),
            page_views=int(r[6]),
            interactions=int(r[7]),
            roles=tuple(held_roles.get(r[0], ())),
            permissions=tuple(held_permissions.get(r[0], ())),
        )
        for r in rows
    ]


def _grouped(connection: Any, key: Any, value: Any, ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if ids:
        for owner, item in connection.execute(
            select(key, value).where(key.in_(ids)).order_by(key, value)
        ):
            found.setdefault(owner, []).append(item)
    return found


__all__ = [
    "SessionActivity",
    "SessionSummary",
    "StoreStats",
    "active_sessions_over_time",
    "count_expired",
    "count_inactive",
    "find_sessions",
    "page_visits",
    "recent_activity",
    "session_durations",
    "store_stats",
    "stored_state",
]
