"""The tables as the databases see them: keys, indexes, and timestamps that stay UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime, inspect, select
from sqlalchemy.dialects import sqlite

from st_session_guard.database import DatabaseManager
from st_session_guard.models import UTCDateTime, sessions


def test_every_table_has_its_primary_key_and_indexes(db: DatabaseManager) -> None:
    db.ensure_schema()
    inspector = inspect(db.engine)
    keys = {
        name: inspector.get_pk_constraint(name)["constrained_columns"]
        for name in (
            "stsg_sessions",
            "stsg_session_roles",
            "stsg_session_permissions",
            "stsg_session_metrics",
            "stsg_revoked",
            "stsg_meta",
        )
    }
    assert keys == {
        "stsg_sessions": ["session_id"],
        "stsg_session_roles": ["session_id", "role"],
        "stsg_session_permissions": ["session_id", "permission"],
        "stsg_session_metrics": ["session_id"],
        "stsg_revoked": ["session_id"],
        "stsg_meta": ["key"],
    }
    assert {("ended_at",)} <= {tuple(i["column_names"]) for i in inspector.get_indexes("stsg_revoked")}
    indexed = {tuple(i["column_names"]) for i in inspector.get_indexes("stsg_sessions")}
    assert {("user_id",), ("last_activity",), ("expires_at",)} <= indexed
    columns = {c["name"]: c for c in inspector.get_columns("stsg_sessions")}
    assert columns["user_id"]["nullable"] is True
    assert columns["state"]["nullable"] is False


def test_timestamps_come_back_as_the_same_instant_in_utc(db: DatabaseManager) -> None:
    elsewhere = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=elsewhere)
    naive = datetime(2024, 3, 1, 12, 0, 0)
    with db.write() as connection:
        connection.execute(
            sessions.insert().values(
                session_id="t",
                user_id=None,
                state={"schema": 1, "nested": {"list": [1, 2.5, None, "x"]}},
                revision=2**53,
                schema_version=1,
                created_at=naive,
                last_activity=moment,
                expires_at=moment + timedelta(days=1),
            )
        )
    with db.read() as connection:
        row = connection.execute(select(sessions).where(sessions.c.session_id == "t")).one()
    assert row.last_activity == moment
    assert row.last_activity.tzinfo == timezone.utc
    assert row.created_at == naive.replace(tzinfo=timezone.utc)
    assert row.revision == 2**53
    assert row.state == {"schema": 1, "nested": {"list": [1, 2.5, None, "x"]}}


def test_expiry_compares_as_time_across_zones(db: DatabaseManager) -> None:
    now = datetime.now(timezone.utc)
    plus_ten = timezone(timedelta(hours=10))
    rows = {
        "past": (now - timedelta(minutes=1)).astimezone(plus_ten),
        "future": (now + timedelta(minutes=1)).astimezone(plus_ten),
    }
    with db.write() as connection:
        for key, expires in rows.items():
            connection.execute(
                sessions.insert().values(
                    session_id=key, user_id=None, state={}, revision=1, schema_version=1,
                    created_at=now, last_activity=now, expires_at=expires,
                )
            )
    with db.read() as connection:
        live = connection.execute(
            select(sessions.c.session_id).where(sessions.c.expires_at > now)
        ).scalars().all()
    assert live == ["future"]


@settings(max_examples=300)
@given(st.datetimes(timezones=st.sampled_from(
    [None, timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)))
def test_sqlite_timestamps_are_written_as_sqlalchemy_writes_them(moment: datetime) -> None:
    """The fast bind processor must store the exact text SQLAlchemy's own type stores, or
    expiry comparisons between rows written by either would be off."""
    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    theirs = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None and theirs is not None
    utc = moment if moment.tzinfo is None else moment.astimezone(timezone.utc).replace(tzinfo=None)
    assert ours(moment) == theirs(utc)
