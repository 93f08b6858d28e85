"""Multi-row inserts sent straight to the driver, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from st_session_guard.database import DatabaseManager, DialectInsert
from st_session_guard.driver_batch import MOST_ROWS, RowsInsert
from st_session_guard.models import metrics, sessions

START = datetime(2026, 11, 25, 4, 0, tzinfo=timezone.utc)
PLUS_TWO = timezone(timedelta(hours=2))


def metric_rows(count: int, views: int) -> list[dict[str, Any]]:
    """Rows whose datetimes come in two zones; all are stored as the same UTC moments."""
    return [
        {
            "session_id": f"s{index:05d}",
            "page_views": views,
            "interaction_count": index,
            "started_at": START + timedelta(seconds=index),
            "last_activity": (START + timedelta(minutes=index)).astimezone(PLUS_TWO),
        }
        for index in range(count)
    ]


def stored_metrics(db: DatabaseManager) -> list[dict[str, Any]]:
    with db.read() as connection:
        rows = connection.execute(select(metrics).order_by(metrics.c.session_id)).mappings()
        return [dict(row) for row in rows]


def metrics_upsert(db: DatabaseManager) -> RowsInsert[DialectInsert]:
    def replace(statement: DialectInsert) -> Any:
        return statement.on_conflict_do_update(
            index_elements=[metrics.c.session_id],
            set_={"page_views": statement.excluded.page_views},
        )

    return RowsInsert(db.insert(metrics), db.engine.dialect, finish=replace)


@pytest.mark.parametrize("count", [0, 1, 3, MOST_ROWS - 1, MOST_ROWS, 2 * MOST_ROWS + 77])
def test_every_row_is_written_whatever_the_count(db: DatabaseManager, count: int) -> None:
    db.ensure_schema()
    rows = metric_rows(count, views=1)
    with db.write() as connection:
        metrics_upsert(db).execute(connection, rows)

    assert stored_metrics(db) == [
        {**row, "last_activity": row["last_activity"].astimezone(timezone.utc)} for row in rows
    ]


def test_what_follows_the_rows_applies_to_every_row(db: DatabaseManager) -> None:
    db.ensure_schema()
    upsert = metrics_upsert(db)
    with db.write() as connection:
        upsert.execute(connection, metric_rows(MOST_ROWS + 5, views=1))
    with db.write() as connection:
        upsert.execute(connection, metric_rows(MOST_ROWS + 9, views=2))

    assert [row["page_views"] for row in stored_metrics(db)] == [2] * (MOST_ROWS + 9)


def test_a_given_column_is_stored_as_it_comes(db: DatabaseManager) -> None:
    """The state column takes text that is JSON already; its type must not encode it again."""
    db.ensure_schema()
    row = {
        "session_id": "s", "user_id": None, "state": '{"a": [1, 2]}', "revision": 1,
        "schema_version": 2, "created_at": START, "last_activity": START, "expires_at": START,
    }
    with db.write() as connection:
        RowsInsert(db.insert(sessions), db.engine.dialect, given=("state",)).execute(
            connection, [row]
        )

    with db.read() as connection:
        assert connection.execute(select(sessions.c.state)).scalar_one() == {"a": [1, 2]}


def test_returning_rows_come_back_from_every_chunk(db: DatabaseManager) -> None:
    db.ensure_schema()

    def add_returning(statement: DialectInsert) -> Any:
        return statement.returning(metrics.c.session_id)

    returning = RowsInsert(db.insert(metrics), db.engine.dialect, finish=add_returning)
    rows = metric_rows(MOST_ROWS + 3, views=1)
    with db.write() as connection:
        returned = returning.execute(connection, rows)

    assert sorted(row[0] for row in returned) == [row["session_id"] for row in rows]


def test_a_table_of_one_column_is_refused(db: DatabaseManager) -> None:
    from sqlalchemy import Column, MetaData, String, Table

    lonely = Table("lonely", MetaData(), Column("name", String, primary_key=True))
    with pytest.raises(ValueError, match="two columns"):
        RowsInsert(db.insert(lonely), db.engine.dialect)
