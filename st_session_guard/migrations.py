"""Stored session state from older releases, brought up to the current layout.

Each step rewrites the JSON-ready state of one version into the next, so a
row written by any earlier release can be read. The steps describe fixed
layouts: they import nothing from ``session``, whose constants may move on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

State = Mapping[str, Any]

V2_UNDO_SLOTS: Final = 50
"""Undo slots per form in layout 2 (``session.MAX_UNDO`` when it was written)."""


def _v1_to_v2(state: State) -> State:
    """One path per undo step: ``["snapshots", form]`` held a form's whole history.

    Layout 1 kept ``{"snapshots": [...], "undo": [...], "redo": [...]}`` at one
    path, so every edit resent all of it. Layout 2 numbers the steps on one
    line, undo steps first (oldest first), then the redo stack from its top.
    """
    changes: list[Any] = []
    for change in state.get("changes", []):
        path, value = change["p"], change.get("v")
        if path[0] != "snapshots" or len(path) != 2:
            changes.append(change)
            continue
        if change.get("d") or not isinstance(value, Mapping):
            continue  # a deleted history: nothing to carry over
        form, revision = path[1], change["r"]
        line = list(value.get("undo", [])) + list(reversed(value.get("redo", [])))
        hi = len(line)
        lo = max(0, hi - V2_UNDO_SLOTS)
        at = max(lo, len(value.get("undo", [])))
        changes.append(_history_change(form, "saved", list(value.get("snapshots", [])), revision))
        changes.append(_history_change(form, "line", {"lo": lo, "at": at, "hi": hi}, revision))
        changes.extend(
            _history_change(form, str(n % V2_UNDO_SLOTS), {"n": n, "step": line[n - 1]}, revision)
            for n in range(lo + 1, hi + 1)
        )
    return {**state, "schema": 2, "changes": changes}


def _history_change(form: str, part: str, value: Any, revision: int) -> dict[str, Any]:
    return {"p": ["snapshots", form, part], "v": value, "r": revision}


STEPS: Final[dict[int, Callable[[State], State]]] = {1: _v1_to_v2}
"""Version -> the step that rewrites it into the next version."""


def upgrade(state: State) -> State:
    """``state`` in the newest layout this release knows; a layout it does not know is left as it is."""
    version = state.get("schema")
    while type(version) is int and version in STEPS:
        state = STEPS[version](state)
        version = state.get("schema")
    return state
