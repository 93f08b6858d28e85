"""A data editor's edits as stored JSON: what the user changed in the app's table, by row label.

Edits are kept against the data the app passes, not against what the editor
showed, so they can be applied again to that data on the next page load: a
cell changed (``edited``), rows added (``added``) and rows deleted
(``deleted``), each row named by its index label. An edit that no longer fits
the data (its row or column gone, a value of another type than its column
now holds) is left out with a reason, never raised.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from .records import JSON
from .values import Unfit, decode, encode

NO_EDITS: Final[dict[str, JSON]] = {"edited": [], "added": [], "deleted": []}


def _pandas() -> Any:
    return importlib.import_module("pandas")


def plain(value: Any) -> Any:
    """A table cell as the plain Python value it stands for: NaN and NaT are None."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp (NaT is handled by isna)
        return None if _pandas().isna(value) else value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # a numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def diff(data: Any, result: Any) -> dict[str, JSON]:
    """The edits that make the app's ``data`` into the editor's ``result`` (two DataFrames).

    ``TypeError`` for a cell or label ``values.encode`` cannot store."""
    kept = [label for label in data.index if label in result.index]
    edited: list[JSON] = []
    for label in kept:
        cells = {
            str(column): encode(plain(result.at[label, column]))
            for column in data.columns
            if column in result.columns
            and plain(result.at[label, column]) != plain(data.at[label, column])
        }
        if cells:
            edited.append([encode(plain(label)), cells])
    added: list[JSON] = [
        [encode(plain(label)), {str(c): encode(plain(result.at[label, c])) for c in result.columns}]
        for label in result.index
        if label not in data.index
    ]
    deleted: list[JSON] = [encode(plain(label)) for label in data.index if label not in result.index]
    return {"edited": edited, "added": added, "deleted": deleted}


def _fits_column(value: Any, dtype: Any) -> bool:
    """Whether a stored cell can go into a column of ``dtype`` without changing its type."""
    kind = dtype.kind
    if value is None:
        return kind in "fOM"
    if kind == "b":
        return isinstance(value, bool)
    if kind in "iu":
        return type(value) is int
    if kind == "f":
        return type(value) in (int, float)
    if kind == "M":
        return isinstance(value, datetime)
    if kind == "O":  # text, or anything: the column decides nothing
        return not str(dtype).startswith("str") or isinstance(value, str)
    return False


def _rows(raw: JSON, name: str) -> list[Any]:
    rows = raw.get(name, []) if isinstance(raw, Mapping) else None
    if not isinstance(rows, list):
        raise Unfit(f"{name} is not a list")
    return rows


def apply(raw: JSON, data: Any) -> tuple[Any, list[str]]:
    """(the app's ``data`` with the stored edits applied, a reason for each edit left out)."""
    dropped: list[str] = []
    table = data.copy()
    gone = []
    for label_json in _rows(raw, "deleted"):
        label = decode(label_json)
        if label in table.index:
            gone.append(label)
        else:
            dropped.append(f"row {label!r} to delete is gone")
    for entry in _rows(raw, "edited"):
        label, cells = decode(entry[0]), entry[1]
        if label not in table.index:
            dropped.append(f"row {label!r} is gone")
            continue
        for column, cell in cells.items():
            value = decode(cell)
            if column not in table.columns:
                dropped.append(f"column {column!r} is gone")
            elif not _fits_column(value, table[column].dtype):
                dropped.append(f"{value!r} no longer fits column {column!r} ({table[column].dtype})")
            else:
                table.at[label, column] = value
    table = table.drop(index=gone)
    added = []
    for entry in _rows(raw, "added"):
        label, cells = decode(entry[0]), entry[1]
        row = {column: decode(cell) for column, cell in cells.items()}
        unfit = [c for c, v in row.items() if c not in table.columns or not _fits_column(v, table[c].dtype)]
        if label in table.index or label in data.index:
            dropped.append(f"added row {label!r} is taken by the app's data")
        elif unfit:
            dropped.append(f"added row {label!r} no longer fits columns {unfit!r}")
        else:
            added.append((label, row))
    if added:
        pd = _pandas()
        extra = pd.DataFrame([row for _label, row in added], index=[label for label, _row in added])
        table = pd.concat([table, extra])
    return table, dropped
