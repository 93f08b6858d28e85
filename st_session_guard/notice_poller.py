"""Reading other processes' session notices from a SQLite file's ``stsg_notices`` table.

SQLite has no ``LISTEN``: a process reads the notices committed after the
last one it saw, on a connection of its own. It asks first whether anything
was committed at all: ``PRAGMA data_version`` changes only when another
connection commits to the file, and answering it reads no page in WAL mode,
so asking every ``POLL_SECONDS`` costs nothing while the file is quiet.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from .database import DatabaseManager
from .models import notices

POLL_SECONDS: Final = 0.1
"""How often a process asks whether another committed: the most a notice waits to be read."""

_AFTER: Final = f"SELECT seq, payload FROM {notices.name} WHERE seq > ? ORDER BY seq"
_NEWEST: Final = f"SELECT coalesce(max(seq), 0) FROM {notices.name}"
_HAS_TABLE: Final = f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{notices.name}'"


class NoDatabaseFile(FileNotFoundError):
    """The SQLite file, or its notice table, is not there yet: a new app's file comes with its
    first write, which makes the tables a moment after the empty file."""


class NoticeReader:
    """One connection to ``db``'s file that reads the notices committed since it last looked.

    It starts after the newest notice stored when it opens: a process reads a
    session it takes up after that, so nothing older concerns it. Opening
    raises ``NoDatabaseFile`` while the file or its notice table is missing
    (``DatabaseManager.ensure_schema`` makes both, in a file an older release
    made too).
    """

    def __init__(self, db: DatabaseManager) -> None:
        self._db = db
        self._file = db.file_identity()
        if db.file is not None and self._file is None:  # connecting would make an empty file
            raise NoDatabaseFile(f"{db.file}: no database file (yet)")
        cargs, cparams = db.engine.dialect.create_connect_args(db.engine.url)
        options: dict[str, Any] = {**cparams, "timeout": db.busy_timeout, "isolation_level": None}
        self._connection: sqlite3.Connection = db.engine.dialect.loaded_dbapi.connect(*cargs, **options)
        try:
            if self._connection.execute(_HAS_TABLE).fetchone() is None:
                raise NoDatabaseFile(f"{db.file}: no {notices.name} table (yet)")
            self._version = self._data_version()
            self._seen: int = self._connection.execute(_NEWEST).fetchone()[0]
        except (sqlite3.Error, NoDatabaseFile):
            self._connection.close()
            raise

    def read(self) -> tuple[list[str], bool]:
        """The payloads committed since the last read, oldest first, and whether some before
        them were pruned unread; nothing, without a read of the table, when no one committed.

        Raises ``FileNotFoundError`` when the file was deleted or replaced: this connection
        would hear nothing more (``notice_listener`` opens a reader on the new file).
        """
        if self._db.file_identity() != self._file:
            raise FileNotFoundError(f"{self._db.url}: the database file was deleted or replaced")
        version = self._data_version()
        if version == self._version:
            return [], False
        self._version = version  # taken before the read: a commit after it shows next time
        rows = self._connection.execute(_AFTER, (self._seen,)).fetchall()
        if not rows:
            return [], False
        missed = rows[0][0] > self._seen + 1
        self._seen = rows[-1][0]
        return [payload for _, payload in rows], missed

    def _data_version(self) -> int:
        version: int = self._connection.execute("PRAGMA data_version").fetchone()[0]
        return version

    def close(self) -> None:
        self._connection.close()


__all__ = ["POLL_SECONDS", "NoDatabaseFile", "NoticeReader"]
