"""Stored change lists of older layouts, brought up to the current one: the one record migration."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from .checks import (
    is_revision,
    parse_change,
)
from .messages import (
    PATH_LENGTHS,
    SCHEMA_VERSION,
    ChangeMessage,
    Limits,
    Rejected,
)

V1_PATH_LENGTHS: Final = {**PATH_LENGTHS, "snapshots": 2}
V2_UNDO_SLOTS: Final = 50
"""Undo slots per form in layout 2."""

logger = logging.getLogger("st_session_guard")

DEFAULT_LIMITS: Final = Limits()


def _v1_to_v2(changes: list[ChangeMessage]) -> list[ChangeMessage]:
    """One path per undo step: ``["snapshots", form]`` held a form's whole history.

    Layout 1 kept ``{"snapshots": [...], "undo": [...], "redo": [...]}`` at one
    path. Layout 2 numbers the steps on one line, undo steps first (oldest
    first), then the redo stack from its top; a deleted history is dropped.
    """
    out: list[ChangeMessage] = []
    for change in changes:
        path, value = change["p"], change.get("v")
        if path[0] != "snapshots":
            out.append(change)
            continue
        if change.get("d") or not isinstance(value, Mapping):
            continue
        form, revision = path[1], change["r"]
        undo, redo = _list(value.get("undo")), _list(value.get("redo"))
        line = undo + list(reversed(redo))
        hi = len(line)
        lo = max(0, hi - V2_UNDO_SLOTS)
        at = max(lo, len(undo))
        out.append(_history_change(form, "saved", _list(value.get("snapshots")), revision))
        out.append(_history_change(form, "line", {"lo": lo, "at": at, "hi": hi}, revision))
        out.extend(
            _history_change(form, str(n % V2_UNDO_SLOTS), {"n": n, "step": line[n - 1]}, revision)
            for n in range(lo + 1, hi + 1)
        )
    return out


def _history_change(form: str, part: str, value: Any, revision: int) -> ChangeMessage:
    return {"p": ["snapshots", form, part], "v": value, "r": revision}


def _list(raw: object) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise Rejected("a layout 1 history holds lists")
    return raw


STEPS: Final[dict[int, tuple[Mapping[str, int], Callable[[list[ChangeMessage]], list[ChangeMessage]]]]] = {
    1: (V1_PATH_LENGTHS, _v1_to_v2),
}
"""Layout -> (its path grammar, the step that rewrites its changes into the next layout)."""


def upgrade_changes(schema: object, raw: object, limits: Limits = DEFAULT_LIMITS) -> list[ChangeMessage]:
    """A change list of layout ``schema`` in the current layout; ``Rejected`` for an unknown or malformed one."""
    if not is_revision(schema) or not 1 <= schema <= SCHEMA_VERSION:
        raise Rejected(f"record layout {schema!r} is not one this release knows")
    if not isinstance(raw, list):
        raise Rejected("a record's changes are a list")
    version = schema
    lengths, step = STEPS.get(version, (PATH_LENGTHS, None))
    changes = [parse_change(change, limits, lengths) for change in raw]
    while step is not None:
        changes = step(changes)
        version += 1
        lengths, step = STEPS.get(version, (PATH_LENGTHS, None))
    return [parse_change(change, limits) for change in changes]


def upgrade_state(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """Stored server state in the current layout; a layout it cannot read is left as it is."""
    schema = state.get("schema")
    if schema == SCHEMA_VERSION:
        return state
    try:
        changes = upgrade_changes(schema, state.get("changes", []))
    except Rejected as error:
        logger.warning("st-session-guard: cannot upgrade a stored session: %s", error)
        return state
    return {**state, "schema": SCHEMA_VERSION, "changes": changes}
