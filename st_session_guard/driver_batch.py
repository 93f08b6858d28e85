"""Inserts and upserts of many rows, sent as one multi-row statement per chunk of rows.

A ``RowsInsert`` sends ``INSERT ... VALUES (...), (...), ...`` with the
statement's ``ON CONFLICT`` clause, converts only the parameters whose column
type needs it (datetimes) with that type's own bind processor, and sends each
chunk as one ``execute``: neither SQLAlchemy's per-row parameter handling nor
a driver's per-row GIL round trip (see bench/README.md). Nothing comes back
from it: a statement whose caller needs ``RETURNING`` rows goes through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from operator import itemgetter
from typing import Any, Final, Generic, TypeVar, cast

from sqlalchemy import BindParameter, Column, Connection, Table, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.sql import Insert

MOST_ROWS: Final = 1024
"""Most rows per statement: each statement costs one wait for the GIL, so few and long ones.
A batch of the engine's size (``WRITE_BATCH``) takes one statement per table."""


def parameter_limit(dialect: Dialect) -> int:
    """Most parameters one statement may bind: SQLite's compiled-in default, PostgreSQL's wire limit."""
    if dialect.name == "sqlite":
        return 32766 if (dialect.server_version_info or ()) >= (3, 32) else 999
    return 65535


InsertT = TypeVar("InsertT", bound=Insert)


class RowsInsert(Generic[InsertT]):
    """``insert`` (a dialect's ``insert(table)``), finished by ``finish``, for any number of rows.

    ``finish``, if given, adds what follows the rows (``ON CONFLICT ...``). Rows are
    mappings from column names to the values SQLAlchemy would take for those
    columns, except the columns named in ``given``, whose values are stored as
    they are (a JSON column's text, encoded already). Every column of the
    table is written.
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
        self._chunk_rows = min(MOST_ROWS, parameter_limit(dialect) // self._width)

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` in the connection's transaction, a chunk per statement."""
        for start in range(0, len(rows), self._chunk_rows):
            self._execute(connection, rows[start : start + self._chunk_rows])

    def _execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        values: list[Any] = []
        for row in rows:
            start = len(values)
            values.extend(self._values(row))
            for at, convert in self._converters:
                values[start + at] = convert(values[start + at])
        sql = self._head + self._first + self._others * (len(rows) - 1) + self._tail
        connection.exec_driver_sql(sql, tuple(values))


def _positional(dialect: Dialect) -> Dialect:
    """``dialect``, or a copy of it that binds parameters by position (``%s`` or ``?``)."""
    if dialect.positional:
        return dialect
    positional = cast(type[DefaultDialect], type(dialect))
    return positional(paramstyle="format" if dialect.paramstyle == "pyformat" else "qmark")


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
