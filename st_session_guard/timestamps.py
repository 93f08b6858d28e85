"""Timestamps as stored text and back: ISO 8601, and a stored time without an offset is UTC."""

from __future__ import annotations

from datetime import datetime, timezone


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def parse_time(text: object) -> datetime | None:
    """The moment ``text`` names; None for anything that is not text."""
    if not isinstance(text, str):
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
