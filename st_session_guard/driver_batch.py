"""Inserts and upserts of many rows, sent as one statement per chunk of rows.

A ``RowsInsert`` converts only the parameters whose column type needs it
(datetimes) with that type's own bind processor and sends each chunk as one
``execute``: neither SQLAlchemy's per-row parameter handling nor a driver's
per-row GIL round trip (see bench/README.md). On SQLite a chunk is
``INSERT ... VALUES (...), (...), ...``; on PostgreSQL every row goes in one
statement, ``INSERT ... SELECT ... FROM unnest(<one array per column>)``, whose
text is the same whatever the number of rows, so the driver parses it once
rather than splitting thousands of placeholders on every batch. Both carry
the statement's ``ON CONFLICT`` and ``RETURNING`` clauses.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from operator import itemgetter
from typing import Any, Final, Generic, TypeVar, cast

from sqlalchemy import BindParameter, Column, Connection, Row, Table, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.sql import Insert

MOST_ROWS: Final = 1024
"""Most rows per SQLite statement: each statement costs one wait for the GIL, so few and long
ones. A batch of the engine's size (``WRITE_BATCH``) takes one statement per table."""


def parameter_limit(dialect: Dialect) -> int:
    """Most parameters one statement may bind: SQLite's compiled-in default, PostgreSQL's wire limit."""
    if dialect.name == "sqlite":
        return 32766 if (dialect.server_version_info or ()) >= (3, 32) else 999
    return 65535


InsertT = TypeVar("InsertT", bound=Insert)


class RowsInsert(Generic[InsertT]):
    """``insert`` (a dialect's ``insert(table)``), finished by ``finish``, for any number of rows.

    ``finish``, if given, adds what follows the rows (``ON CONFLICT ...``,
    ``RETURNING ...``). Rows are mappings from column names to the values
    SQLAlchemy would take for those columns, except the columns named in
    ``given``, whose values are stored as they are (a JSON column's text,
    encoded already). Every column of the table is written.
    """

    def __init__(
        self,
        insert: InsertT,
        dialect: Dialect,
        *,
        finish: Callable[[InsertT], Insert] = lambda statement: statement,
        given: Collection[str] = (),
    ) -> None:
        table = cast(Table, insert.table)
        columns = [column.name for column in table.c]
        if len(columns) < 2:  # itemgetter of one name returns the value, not a tuple
            raise ValueError("a RowsInsert needs two columns or more")
        self._width = len(columns)
        self._values = itemgetter(*columns)
        converters = (
            (at, column.type.bind_processor(dialect))
            for at, column in enumerate(table.c)
            if column.name not in given
        )
        self._converters = tuple((at, convert) for at, convert in converters if convert is not None)
        self._head, self._first, other, self._tail = _split_at_rows(
            insert, finish, _positional(dialect)
        )
        self._others = f", {other}"
        self._arrays = _from_arrays(self._head, table, dialect, given) if dialect.name == "postgresql" else None
        self._chunk_rows = min(MOST_ROWS, parameter_limit(dialect) // self._width)

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Row[Any]]:
        """Insert ``rows`` in the connection's transaction; what ``RETURNING`` returns, if it is there."""
        if not rows:
            return []
        if self._arrays is not None:
            columns = [list(column) for column in zip(*map(self._values, rows), strict=True)]
            for at, convert in self._converters:
                columns[at] = list(map(convert, columns[at]))
            return self._run(connection, self._arrays + self._tail, tuple(columns))
        returned: list[Row[Any]] = []
        for start in range(0, len(rows), self._chunk_rows):
            returned += self._execute(connection, rows[start : start + self._chunk_rows])
        return returned

    def _execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Row[Any]]:
        values: list[Any] = []
        for row in rows:
            start = len(values)
            values.extend(self._values(row))
            for at, convert in self._converters:
                values[start + at] = convert(values[start + at])
        sql = self._head + self._first + self._others * (len(rows) - 1) + self._tail
        return self._run(connection, sql, tuple(values))

    @staticmethod
    def _run(connection: Connection, sql: str, parameters: tuple[Any, ...]) -> list[Row[Any]]:
        result = connection.exec_driver_sql(sql, parameters)
        return list(result.all()) if result.returns_rows else []


def _positional(dialect: Dialect) -> Dialect:
    """``dialect``, or a copy of it that binds parameters by position (``%s`` or ``?``)."""
    if dialect.positional:
        return dialect
    positional = cast(type[DefaultDialect], type(dialect))
    return positional(paramstyle="format" if dialect.paramstyle == "pyformat" else "qmark")


def _from_arrays(head: str, table: Table, dialect: Dialect, given: Collection[str]) -> str:
    """PostgreSQL: ``head`` (``INSERT INTO t (...) VALUES``) taking its rows from one array per
    column; a given column travels as text and is cast to its type row by row."""
    # psycopg sends an array bound as %b in binary: no quoting of each value, no parsing it back
    marker = "%b" if dialect.driver == "psycopg" else "%s"
    names = [column.name for column in table.c]
    arrays = ", ".join(
        f"CAST({marker} AS {'TEXT' if column.name in given else column.type.compile(dialect=dialect)}[])"
        for column in table.c
    )
    picked = ", ".join(
        f"CAST(batch.{column.name} AS {column.type.compile(dialect=dialect)})"
        if column.name in given else f"batch.{column.name}"
        for column in table.c
    )
    insert = head.removesuffix(" VALUES ")
    return f"{insert} SELECT {picked} FROM unnest({arrays}) AS batch({', '.join(names)})"


def _split_at_rows(
    insert: InsertT, finish: Callable[[InsertT], Insert], dialect: Dialect
) -> tuple[str, str, str, str]:
    """The SQL before the rows, the first row's ``(?, ?, ...)``, any other row's, and the SQL after.

    Taken from the statements SQLAlchemy compiles for one and two rows, and
    checked against three (PostgreSQL's first row casts its parameters, the
    others don't): a statement of any length is then a string join, where
    compiling it would bind every parameter of every row one by one.
    """

    columns = cast(Table, insert.table).c

    def compiled(rows: int) -> str:
        values: list[dict[Column[Any], BindParameter[Any]]] = [
            {c: bindparam(f"p{i}_{c.name}") for c in columns} for i in range(rows)
        ]
        return str(finish(insert.values(values)).compile(dialect=dialect))

    one, two, three = compiled(1), compiled(2), compiled(3)
    marker = " VALUES "
    start = one.index(marker) + len(marker)
    end = one.index(")", start) + 1
    head, first, tail = one[:start], one[start:end], one[end:]
    other = two[len(head) + len(first) + 2 : len(two) - len(tail)]
    if three != f"{head}{first}, {other}, {other}{tail}":
        raise RuntimeError(f"cannot tell the rows from the rest in: {two}")
    return head, first, other, tail
