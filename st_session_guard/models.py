"""The database tables, and nothing else.

``stsg_sessions`` holds each session's whole state as JSON (what
``UserSession.to_dict()`` returns) beside the few columns the server queries
on: the owner, the revision that decides which write wins, and the times that
decide expiry. Roles, permissions and metrics are copied into tables of their
own so they can be queried and audited; they are written from the server's
session object only, never from anything a browser sent.

Every timestamp is stored and returned as timezone-aware UTC, on SQLite (which
has no timezone type) as on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Final, cast

import orjson
from sqlalchemy import JSON, BigInteger, DateTime, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

DB_SCHEMA_VERSION: Final = 1
"""Layout of these tables; recorded in ``stsg_meta`` under ``schema_version``."""


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime that goes in as any aware (or naive-means-UTC) value and comes out aware UTC.

    SQLite stores datetimes as text without an offset, so values are normalised
    to UTC before they are written; text in one zone sorts and compares
    correctly, which the expiry queries rely on.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, straight to the stored text (the format SQLAlchemy writes) through orjson,
        the cheapest way found (bench/README.md): every session written binds five of these."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is not None and value.tzinfo is not timezone.utc:
                value = value.astimezone(timezone.utc)
            if not value.microsecond:  # orjson leaves out a zero fraction; the stored text has it
                return value.isoformat(" ", "microseconds")[:26]
            text = orjson.dumps(value).decode()  # "YYYY-MM-DDTHH:MM:SS.ffffff+00:00", quoted
            return f"{text[1:11]} {text[12:27]}"

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class SessionRow(SQLModel, table=True):
    """One session: its state document and what expiry and ownership queries need."""

    __tablename__ = "stsg_sessions"

    session_id: str = Field(primary_key=True, max_length=128)
    user_id: str | None = Field(default=None, index=True, nullable=True, max_length=255)
    state: dict[str, Any] = Field(sa_type=JSON, nullable=False)
    revision: int = Field(sa_type=BigInteger, nullable=False)
    """Only a write carrying a larger revision replaces the row."""
    schema_version: int = Field(nullable=False)
    """Layout of ``state`` (``session.SCHEMA_VERSION`` of the release that wrote it)."""
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_activity: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    """``last_activity`` plus the session timeout in force when the row was written."""


class SessionRoleRow(SQLModel, table=True):
    """One role a session holds; server-owned."""

    __tablename__ = "stsg_session_roles"

    session_id: str = Field(primary_key=True, max_length=128)
    role: str = Field(primary_key=True, max_length=255)


class SessionPermissionRow(SQLModel, table=True):
    """One permission a session holds; server-owned."""

    __tablename__ = "stsg_session_permissions"

    session_id: str = Field(primary_key=True, max_length=128)
    permission: str = Field(primary_key=True, max_length=255)


class SessionMetricsRow(SQLModel, table=True):
    """A session's usage counters; server-owned."""

    __tablename__ = "stsg_session_metrics"

    session_id: str = Field(primary_key=True, max_length=128)
    page_views: int = Field(default=0, nullable=False)
    interaction_count: int = Field(default=0, nullable=False)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_activity: datetime = Field(sa_type=UTCDateTime, nullable=False)


class RevokedRow(SQLModel, table=True):
    """An id that was ended (expired, deleted, cleaned up), kept while a token for it may be valid.

    A signed cookie naming an id that was never stored may take it up again;
    one naming an ended id never may, also after its session row is gone.
    Kept until ``ended_at`` plus the session timeout, the longest a token lives.
    """

    __tablename__ = "stsg_revoked"

    session_id: str = Field(primary_key=True, max_length=128)
    ended_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class NoticeRow(SQLModel, table=True):
    """One notice of sessions written or ended (``notices``), on SQLite only, where it stands in
    for PostgreSQL's ``NOTIFY``: other processes on the file read the notices after the last
    they saw. ``seq`` grows by one per notice and is never reused (``AUTOINCREMENT``), so a
    reader that finds the next one pruned knows it missed some."""

    __tablename__ = "stsg_notices"
    __table_args__ = {"sqlite_autoincrement": True}

    seq: int | None = Field(default=None, primary_key=True)
    payload: str = Field(nullable=False)


class MetaRow(SQLModel, table=True):
    """Facts about the store itself: ``schema_version`` and the generated cookie ``secret``."""

    __tablename__ = "stsg_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(nullable=False)


def core_table(model: type[SQLModel]) -> Table:
    """The SQLAlchemy Core table behind a table model, for statements that skip the ORM."""
    return cast(Table, getattr(model, "__table__"))  # noqa: B009 - untyped in SQLModel


sessions: Final = core_table(SessionRow)
roles: Final = core_table(SessionRoleRow)
permissions: Final = core_table(SessionPermissionRow)
metrics: Final = core_table(SessionMetricsRow)
revoked: Final = core_table(RevokedRow)
meta: Final = core_table(MetaRow)
notices: Final = core_table(NoticeRow)
SERVER_OWNED: Final = (roles, permissions, metrics)
"""The tables a session's server-owned rows live in, keyed by ``session_id``."""

TABLES: Final[tuple[Table, ...]] = (sessions, roles, permissions, metrics, revoked, meta)
"""Every table this package owns on both databases, in creation order."""

SQLITE_TABLES: Final[tuple[Table, ...]] = (notices,)
"""The tables it owns on SQLite only, after ``TABLES``."""
