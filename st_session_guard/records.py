"""The records a session is written as: one path's value at a revision, and a database write."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .metrics import SessionMetrics
from .protocol import ChangeMessage, Path

JSON = Any


@dataclass(frozen=True)
class Change:
    """One path's value at a revision; ``deleted`` marks a tombstone."""

    path: Path
    value: JSON
    revision: int
    deleted: bool = False

    def to_json(self) -> ChangeMessage:
        out: ChangeMessage = {"p": list(self.path), "v": self.value, "r": self.revision}
        if self.deleted:
            out["d"] = True
        return out


@dataclass(frozen=True)
class StoredState:
    """What a database write needs of a session, all taken at one moment.

    ``text`` is the session's ``to_dict()`` as JSON. The other fields are the
    server-owned columns, taken from the session directly so the writer does
    not parse them back out of the text.
    """

    text: str
    revision: int
    user_id: str | None
    created_at: datetime
    roles: tuple[str, ...]
    permissions: tuple[str, ...]
    metrics: SessionMetrics
    paths: Mapping[Path, int]
    """The revision of each path ``text`` holds, so a merge can tell what it holds unread."""
