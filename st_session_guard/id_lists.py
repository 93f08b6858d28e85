"""Lists of session ids as one bound parameter, the way every store statement takes them.

A JSON array, read by ``json_each`` on SQLite and ``json_array_elements_text``
on PostgreSQL: never a placeholder per id, which spares rendering and binding
thousands of them. An array parameter on PostgreSQL went through psycopg's
text dumper, a regular expression per id (about a tenth of a merging write's
time in one profile); the JSON text is made by orjson in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Delete,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    delete,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import JSON

from . import jsontext
from .database import DatabaseManager


class IdLists:
    """Statements over a list of session ids bound as ``"ids"``, built once per store."""

    def __init__(self, db: DatabaseManager) -> None:
        self.db = db
        self._deletes: dict[str, Delete] = {}

    def _delete_of(self, table: Table) -> Delete:
        """``DELETE FROM table WHERE session_id IN <the list bound as "ids">``, built once."""
        statement = self._deletes.get(table.name)
        if statement is None:
            statement = self._deletes[table.name] = delete(table).where(
                self._listed_ids(table.c.session_id)
            )
        return statement

    def _listed_ids(self, column: ColumnElement[str]) -> ColumnElement[bool]:
        """``column IN <the list bound as "ids">``, the list being one parameter (``_ids_param``)."""
        ids = bindparam("ids", type_=Text)
        listed: Select[tuple[Any]] = (
            select(literal_column("value")).select_from(func.json_each(ids))
            if self.db.dialect == "sqlite"
            else select(func.json_array_elements_text(cast(ids, JSON)))
        )
        return column.in_(listed)

    def _ids_param(self, ids: Sequence[str]) -> dict[str, object]:
        return {"ids": jsontext.dumps(list(ids)).decode()}
