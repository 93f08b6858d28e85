"""What one server tells the others when it writes or ends sessions: ``NOTIFY``, or a table.

A write transaction that stores or ends sessions announces them inside the
same transaction, so a notice exists only if its write commits: on
PostgreSQL with ``pg_notify``, on SQLite as rows of ``stsg_notices``, which
the other processes on the file read (``notice_poller``). Each notice is a
JSON object: the announcing process's ``origin`` (so it can ignore its
own), the ids written with the revision stored (``"w"``) and the ids ended
(``"e"``). PostgreSQL caps a payload at 8000 bytes, so a large batch goes
out as several notices (on SQLite too: one format). The channel is named
after the schema, so servers on other schemas of one database do not hear
each other. A SQLite file keeps its newest ``KEPT_NOTICES`` notices.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, delete, func, text

from . import jsontext
from .models import notices

logger = logging.getLogger(__name__)

CHANNEL_SQL: Final = "'stsg_' || md5(current_schema())"
"""The channel of this connection's schema, computed by the server on both sides."""

MAX_PAYLOAD: Final = 7900
"""Bytes of one notice, under PostgreSQL's limit of 8000 with room to spare."""

KEPT_NOTICES: Final = 1000
"""Notices a SQLite file keeps; a reader further behind re-reads every session it holds."""

_STORE: Final = text(f"INSERT INTO {notices.name} (payload) SELECT value FROM json_each(:payloads)")
"""SQLite: the notices' insert, one statement for any number of them (the driver steps through
each row of an ``executemany``, and a statement with its rows inline is compiled anew)."""

_PRUNE: Final = delete(notices).where(notices.c.seq <= func.last_insert_rowid() - KEPT_NOTICES)
"""Right after a notice's insert: one range of the primary key, a row or none as a rule."""

_ANNOUNCE: Final = text(
    f"SELECT pg_notify({CHANNEL_SQL}, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"
)


@dataclass(frozen=True)
class Notice:
    """Sessions another process wrote (id -> revision stored) or ended."""

    written: Mapping[str, int]
    ended: Sequence[str]


def payloads(origin: str, written: Mapping[str, int], ended: Sequence[str]) -> list[str]:
    """The notices announcing ``written`` and ``ended``, each at most ``MAX_PAYLOAD`` bytes."""
    out: list[str] = []
    head = len(jsontext.dumps({"o": origin, "w": {}, "e": []}))
    chunk_w: dict[str, int] = {}
    chunk_e: list[str] = []
    size = head

    def flush() -> None:
        nonlocal chunk_w, chunk_e, size
        if chunk_w or chunk_e:
            out.append(jsontext.dumps({"o": origin, "w": chunk_w, "e": chunk_e}).decode())
        chunk_w, chunk_e, size = {}, [], head

    for session_id, revision in written.items():
        entry = len(jsontext.dumps(session_id)) + len(str(revision)) + 2  # "id":rev,
        if _too_long(head + entry):
            continue
        if size + entry > MAX_PAYLOAD:
            flush()
        chunk_w[session_id] = revision
        size += entry
    for session_id in ended:
        entry = len(jsontext.dumps(session_id)) + 1  # "id",
        if _too_long(head + entry):
            continue
        if size + entry > MAX_PAYLOAD:
            flush()
        chunk_e.append(session_id)
        size += entry
    flush()
    return out


def _too_long(size: int) -> bool:
    """An id no notice can carry is not announced (logged) rather than failing the write."""
    if size <= MAX_PAYLOAD:
        return False
    logger.warning("st-session-guard: a session id too long to announce; other servers learn of "
                   "its change on their next page load of it")
    return True


def announce(connection: Connection, origin: str, written: Mapping[str, int], ended: Sequence[str]) -> None:
    """Announce ``written`` and ``ended`` in ``connection``'s transaction."""
    if not (written or ended):
        return
    told = payloads(origin, written, ended)
    if connection.dialect.name == "postgresql":
        connection.execute(_ANNOUNCE, {"payloads": told})
    elif told:
        connection.execute(_STORE, {"payloads": jsontext.dumps(told).decode()})
        connection.execute(_PRUNE)


def read_notice(payload: str, origin: str) -> Notice | None:
    """A notice from another process; None for this process's own, and for one that is
    malformed (logged: a notice on our channel that we cannot read is a bug or a stranger)."""
    try:
        raw: Any = jsontext.loads(payload)
    except ValueError:
        raw = None
    if not isinstance(raw, dict) or not isinstance(raw.get("o"), str):
        logger.warning("st-session-guard: ignored a session notice that is not ours: %.80r", payload)
        return None
    if raw["o"] == origin:
        return None
    written, ended = raw.get("w", {}), raw.get("e", [])
    if (
        not isinstance(written, dict)
        or not all(isinstance(r, int) for r in written.values())
        or not isinstance(ended, list)
        or not all(isinstance(s, str) for s in ended)
    ):
        logger.warning("st-session-guard: ignored a malformed session notice: %.80r", payload)
        return None
    return Notice(written, ended)


__all__ = ["CHANNEL_SQL", "KEPT_NOTICES", "MAX_PAYLOAD", "Notice", "announce", "payloads", "read_notice"]
