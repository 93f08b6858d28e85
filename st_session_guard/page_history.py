"""Where a session is: its current page and the bounded trail of pages it went through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from .clock import utcnow
from .records import JSON
from .timestamps import iso, parse_time

MAX_HISTORY: Final = 100


@dataclass(frozen=True)
class NavigationEntry:
    page: str
    params: Mapping[str, JSON] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=utcnow)

    def to_json(self) -> dict[str, JSON]:
        return {"page": self.page, "params": dict(self.params), "timestamp": iso(self.timestamp)}

    @classmethod
    def from_json(cls, raw: Mapping[str, JSON]) -> NavigationEntry:
        if not isinstance(raw, Mapping):
            raise ValueError("a navigation entry is an object")
        params = raw.get("params") or {}
        if not isinstance(raw.get("page"), str) or not isinstance(params, dict):
            raise ValueError("navigation entry needs a page name and a params object")
        return cls(raw["page"], params, parse_time(raw.get("timestamp")) or utcnow())


class PageHistory:
    """The current page (path ``["page"]``) and the trail (path ``["navigation"]``), newest last."""

    def __init__(self, page: str, at: datetime) -> None:
        self.current = page
        self.entries: list[NavigationEntry] = [NavigationEntry(page, {}, at)]

    def visit(self, page: str, params: Mapping[str, JSON] | None) -> None:
        self.entries.append(NavigationEntry(page, dict(params or {})))
        del self.entries[:-MAX_HISTORY]
        self.current = page

    def start_at(self, page: str) -> bool:
        """Make ``page`` the start of a trail that has not moved yet; False once it has."""
        if len(self.entries) != 1 or self.current != self.entries[0].page:
            return False
        self.entries = [NavigationEntry(page, {}, self.entries[0].timestamp)]
        self.current = page
        return True

    def back(self) -> bool:
        """Return to the previous page; False when there is none."""
        if len(self.entries) < 2:
            return False
        self.entries.pop()
        self.current = self.entries[-1].page
        return True

    def decode_entries(self, value: list[Any]) -> None:
        """Take a stored or mirrored trail; ``ValueError`` (and nothing taken) for a bad entry."""
        self.entries = [NavigationEntry.from_json(e) for e in value][-MAX_HISTORY:]
