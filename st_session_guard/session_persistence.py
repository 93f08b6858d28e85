"""The process-wide write-behind engine, under the module name the reference imports.

The engine itself lives in ``persistence``; this module only decides which
one the process uses: built from the settings on first use, on the
process-wide ``DatabaseManager``, and rebuilt when that manager is replaced.
"""

from __future__ import annotations

import threading
from typing import Any

from .database import get_db_manager
from .persistence import SessionPersistenceEngine
from .session import UserSession

__all__ = [
    "SessionPersistenceEngine",
    "configure_persistence",
    "get_persistence_engine",
    "persist_session",
    "recover_session",
]

_engine: SessionPersistenceEngine | None = None
_lock = threading.Lock()


def get_persistence_engine() -> SessionPersistenceEngine:
    """The engine this process writes sessions with, on the database ``get_db_manager()`` names."""
    global _engine
    db = get_db_manager()
    with _lock:
        if _engine is None or _engine.db is not db:
            old, _engine = _engine, SessionPersistenceEngine(db=db)
            if old is not None:
                old.close()
        return _engine


def configure_persistence(**options: Any) -> SessionPersistenceEngine:
    """Replace the process-wide engine (apps and tests); the old one writes what it has and stops.

    Takes ``SessionPersistenceEngine``'s arguments. Without ``db`` or
    ``database_url`` it uses the process-wide ``DatabaseManager``.
    """
    global _engine
    if options.get("db") is None and options.get("database_url") is None:
        options["db"] = get_db_manager()
    engine = SessionPersistenceEngine(**options)
    with _lock:
        old, _engine = _engine, engine
    if old is not None:
        old.close()
    return engine


def persist_session(session: UserSession, immediate: bool = False) -> bool:
    """Schedule ``session`` for writing (or write it now); see ``SessionPersistenceEngine``."""
    return get_persistence_engine().persist_session(session, immediate=immediate)


def recover_session(session_id: str) -> UserSession | None:
    """The live state of ``session_id``, or None when unknown or expired."""
    return get_persistence_engine().recover_session(session_id)
