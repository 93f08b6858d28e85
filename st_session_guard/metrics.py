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

    @property
    def session_duration(self) -> timedelta:
        return self.last_activity - self.started_at

    def copy(self) -> SessionMetrics:
        return SessionMetrics(self.page_views, self.interaction_count, self.started_at, self.last_activity)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> SessionMetrics:
        return cls(
            int(raw.get("page_views", 0)),
            int(raw.get("interaction_count", 0)),
            parse_time(raw.get("started_at")) or utcnow(),
            parse_time(raw.get("last_activity")) or utcnow(),
        )
