"""``sg.data_editor``: ``st.data_editor`` whose edits are stored and applied again to the app's data.

The edits are stored against the table the app passes (see ``table_edits``),
and on every run the editor is given that table with them applied, so the
first frame of a page load shows them and a change the app makes to its data
keeps every edit that still fits. Only a pandas DataFrame's edits are stored.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Final

import streamlit as st

from . import table_edits
from .connection import run_connection
from .history import ABSENT
from .manager import current_session
from .values import Unfit, encode

logger = logging.getLogger("st_session_guard")

_SHOWN_PREFIX: Final = "_stsg_editor:"
"""``st.session_state`` key prefix: the editor's own edit state as the last run saw it."""

_warned_types: set[str] = set()


def data_editor(data: Any, *, form_id: str = "default", **kwargs: Any) -> Any:
    """``st.data_editor(data, ...)`` whose edits persist in form ``form_id`` under ``key``.

    Takes exactly the arguments of ``st.data_editor`` (``key`` is required),
    plus ``form_id``. Returns what ``st.data_editor`` returns. A stored edit
    whose row or column is gone, or whose value no longer fits its column, is
    dropped with a warning.
    """
    key = kwargs.get("key")
    if not key:
        raise TypeError("sg.data_editor needs key=: its edits are stored under it")
    connection = run_connection()
    if connection is None:
        raise RuntimeError("call st_session_guard.bootstrap_session() before any sg widget")
    if key in connection.excluded_keys or not isinstance(data, importlib.import_module("pandas").DataFrame):
        kind = type(data).__name__
        if key not in connection.excluded_keys and kind not in _warned_types:
            _warned_types.add(kind)
            logger.warning("st-session-guard: sg.data_editor stores edits of a pandas DataFrame only, not %s", kind)
        return st.data_editor(data, **kwargs)

    session = current_session(connection)
    field = str(key)
    form = session.get_form_state(form_id)
    created = key not in st.session_state
    table = _with_stored_edits(form.stored_json(field), data, key, warn=created)
    result = st.data_editor(table, **kwargs)
    shown_key = _SHOWN_PREFIX + field
    state = _encoded(st.session_state.get(key))
    if not created and state != st.session_state.get(shown_key):
        try:
            session.update_form_data(form_id, field, table_edits.diff(data, result))
        except TypeError as reason:
            logger.warning("st-session-guard: not persisting data editor %r: %s", key, reason)
    st.session_state[shown_key] = state
    form.show_default(field, table_edits.NO_EDITS)
    return result


def _with_stored_edits(raw: Any, data: Any, key: str, *, warn: bool) -> Any:
    if raw is ABSENT:
        return data
    try:
        table, dropped = table_edits.apply(raw, data)
    except (Unfit, TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        table, dropped = data, [f"the stored edits are unreadable: {error}"]
    if warn:
        for reason in dropped:
            logger.warning("st-session-guard: not restoring an edit of data editor %r: %s", key, reason)
    return table


def _encoded(state: Any) -> Any:
    try:
        return encode(state)
    except TypeError:
        return repr(state)
