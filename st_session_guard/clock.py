"""One clock for the package, so tests and every module agree on what now is."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: stored timestamps never carry a local offset."""
    return datetime.now(timezone.utc)


def now_ms() -> int:
    """Wall time in whole milliseconds, the unit of revisions."""
    return time.time_ns() // 1_000_000
