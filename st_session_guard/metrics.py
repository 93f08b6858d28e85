"""A session's usage figures: server-owned, counted by the session, never taken from the browser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .clock import utcnow
from .timestamps import parse_time


@dataclass
class SessionMetrics:
    page_views: int = 0
    interaction_count: int = 0
    started_at: datetime = field(default_factory=utcnow)
    last_activity: datetime = field(default_factory=utcnow)
    page_visits: dict[str, int] = field(default_factory=dict)
    """Visits per page the app's own code went to (``navigate_to``, ``sg.navigation``);
    what a browser sends of its navigation history never counts here."""

    @property
    def session_duration(self) -> timedelta:
        return self.last_activity - self.started_at

    def copy(self) -> SessionMetrics:
        return SessionMetrics(self.page_views, self.interaction_count, self.started_at,
                              self.last_activity, dict(self.page_visits))

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> SessionMetrics:
        return cls(
            int(raw.get("page_views", 0)),
            int(raw.get("interaction_count", 0)),
            parse_time(raw.get("started_at")) or utcnow(),
            parse_time(raw.get("last_activity")) or utcnow(),
            _visits(raw.get("page_visits")),
        )


def _visits(raw: object) -> dict[str, int]:
    """Stored visit counts; anything not a count of a named page is left out."""
    if not isinstance(raw, Mapping):
        return {}
    return {page: count for page, count in raw.items()
            if isinstance(page, str) and type(count) is int and count > 0}
