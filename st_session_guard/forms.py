"""A session's forms: their values, what was last saved, and each form's undo history.

Pure data: the session holds the lock, stamps revisions and counts
interactions. Each change here returns the mirrored paths it touched
(``["forms", form, field]``, ``["snapshots", form, part]``), empty for none.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from .clock import utcnow
from .history import ABSENT, FormHistory, FormSnapshot, UndoStep
from .protocol import Path
from .records import JSON
from .values import decode


@dataclass
class FormState:
    """One form: its current values, what was last saved, and validation messages.

    ``data`` is read-only and gives every field's current value with the type its
    widget returns (a date as a date): what was stored, and for a wrapped widget
    with nothing stored, the default it shows (``stored`` leaves those out);
    change values with ``UserSession.update_form_data`` so that the change is
    revisioned, undoable and persisted. ``saved_data`` holds the values as
    stored JSON. ``errors`` and ``warnings`` are plain dicts the app fills as
    it validates.
    """

    form_id: str
    _data: dict[str, JSON] = field(default_factory=dict)
    saved_data: dict[str, JSON] = field(default_factory=dict)
    last_saved: datetime | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    edited_over: dict[str, JSON] = field(default_factory=dict, repr=False)
    """Field -> the default its app declared when a widget last stored an edit of it (stored
    with ``saved_data``), so an edit of an older default is dropped once the app declares another."""
    shown_defaults: dict[str, JSON] = field(default_factory=dict, repr=False, compare=False)
    """Field -> the default (as stored JSON) its widget shows this run: read, never stored or mirrored."""

    @property
    def data(self) -> Mapping[str, JSON]:
        if not self.shown_defaults:
            return DecodedValues(self._data)
        return DecodedValues({**self.shown_defaults, **self._data})

    @property
    def stored(self) -> Mapping[str, JSON]:
        """Only the values stored (edits and values set from code), no default merely shown."""
        return DecodedValues(self._data)

    def stored_json(self, name: str) -> object:
        """One field's value as stored JSON; ``ABSENT`` when nothing is stored for it."""
        return self._data.get(name, ABSENT)

    def show_default(self, name: str, value: JSON) -> None:
        """Note the value a widget shows this run: in ``data`` while nothing is stored for it."""
        if name in self._data:
            self.shown_defaults.pop(name, None)
        else:
            self.shown_defaults[name] = value

    @property
    def is_dirty(self) -> bool:
        return self._data != self.saved_data


class DecodedValues(Mapping[str, Any]):
    """A read-only view of stored values, each decoded (a fresh copy) when it is read."""

    __slots__ = ("_stored",)

    def __init__(self, stored: Mapping[str, JSON]) -> None:
        self._stored = stored

    def __getitem__(self, name: str) -> Any:
        return decode(self._stored[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)

    def __repr__(self) -> str:
        return f"DecodedValues({dict(self)!r})"


class Forms:
    """Every form of a session and its history, created on first use."""

    def __init__(self) -> None:
        self.states: dict[str, FormState] = {}
        self.histories: dict[str, FormHistory] = {}

    def form(self, form_id: str) -> FormState:
        form = self.states.get(form_id)
        if form is None:
            form = self.states[form_id] = FormState(form_id)
        return form

    def history(self, form_id: str) -> FormHistory:
        history = self.histories.get(form_id)
        if history is None:
            history = self.histories[form_id] = FormHistory()
        return history

    def apply(self, form_id: str, new_values: Mapping[str, object], *, record: bool) -> list[Path]:
        """Write fields (``ABSENT`` deletes one); with ``record``, as one new undo step."""
        data = self.form(form_id)._data
        step: UndoStep = [
            (name, data.get(name, ABSENT), value)
            for name, value in new_values.items()
            if data.get(name, ABSENT) != value
        ]
        for name, _before, after in step:
            if after is ABSENT:
                data.pop(name, None)
            else:
                data[name] = after
        paths: list[Path] = [("forms", form_id, name) for name, _b, _a in step]
        if record and step:
            slots = self.history(form_id).push(step)
            paths += [("snapshots", form_id, "line"), *(("snapshots", form_id, slot) for slot in slots)]
        return paths

    def checkpoint(self, form_id: str) -> tuple[FormState | None, FormHistory | None]:
        """Copies of what a change of ``form_id`` may touch, for ``rollback``."""
        form, history = self.states.get(form_id), self.histories.get(form_id)
        return (
            None if form is None else replace(form, _data=dict(form._data), edited_over=dict(form.edited_over)),
            None if history is None else replace(history, slots=dict(history.slots),
                                                 snapshots=list(history.snapshots)),
        )

    def rollback(self, form_id: str, saved: tuple[FormState | None, FormHistory | None]) -> None:
        """Put ``form_id`` back as ``checkpoint`` found it, in the objects the app may hold."""
        _put_back(self.states, form_id, saved[0])
        _put_back(self.histories, form_id, saved[1])

    def undo(self, form_id: str) -> list[Path] | None:
        """Step back one change; None when there is nothing to undo."""
        history = self.history(form_id)
        step = history.step(history.at)
        if step is None:
            return None
        history.at -= 1
        undone = self.apply(form_id, {name: before for name, before, _a in reversed(step)}, record=False)
        return [*undone, ("snapshots", form_id, "line")]

    def redo(self, form_id: str) -> list[Path] | None:
        """Re-apply the change last undone; None when there is none."""
        history = self.history(form_id)
        step = history.step(history.at + 1)
        if step is None:
            return None
        history.at += 1
        redone = self.apply(form_id, {name: after for name, _b, after in step}, record=False)
        return [*redone, ("snapshots", form_id, "line")]

    def can_undo(self, form_id: str) -> bool:
        history = self.histories.get(form_id)
        return history is not None and history.step(history.at) is not None

    def can_redo(self, form_id: str) -> bool:
        history = self.histories.get(form_id)
        return history is not None and history.step(history.at + 1) is not None

    def has_default(self, form_id: str, name: str, default: JSON) -> bool:
        """Whether ``default`` is already noted as the one an edit of ``name`` was made over."""
        form = self.states.get(form_id)
        return form is not None and form.edited_over.get(name, ABSENT) == default

    def record_default(self, form_id: str, name: str, default: JSON) -> list[Path]:
        """Note the default a widget's edit of ``name`` was made over; the paths that changed."""
        if self.has_default(form_id, name, default):
            return []
        self.form(form_id).edited_over[name] = copy.deepcopy(default)
        return [("form_meta", form_id)]

    def mark_saved(self, form_id: str) -> list[Path]:
        form = self.form(form_id)
        form.saved_data = copy.deepcopy(form._data)
        form.last_saved = utcnow()
        return [("form_meta", form_id)]

    def snapshot(self, form_id: str, description: str) -> FormSnapshot:
        snapshot = FormSnapshot(uuid.uuid4().hex, form_id, description, copy.deepcopy(self.form(form_id)._data))
        self.history(form_id).add_snapshot(snapshot)
        return snapshot

    def snapshots(self, form_id: str) -> list[FormSnapshot]:
        history = self.histories.get(form_id)
        return [] if history is None else list(history.snapshots)

    def form_of_snapshot(self, snapshot_id: str) -> str | None:
        """The form that holds snapshot ``snapshot_id``; None for an unknown id."""
        for form_id, history in self.histories.items():
            if any(snapshot.snapshot_id == snapshot_id for snapshot in history.snapshots):
                return form_id
        return None

    def restore(self, snapshot_id: str) -> list[Path] | None:
        """Make the form's data exactly the snapshot's, as one undo step; None for an unknown id."""
        for form_id, history in self.histories.items():
            for snapshot in history.snapshots:
                if snapshot.snapshot_id == snapshot_id:
                    target: dict[str, object] = {name: ABSENT for name in self.form(form_id)._data}
                    target.update(copy.deepcopy(dict(snapshot.data)))
                    return self.apply(form_id, target, record=True)
        return None

    def delete(self, path: Path) -> None:
        """Take a tombstone for a ``forms``, ``form_meta`` or ``snapshots`` path; ``ValueError``
        for any other (the page and the trail are never deleted)."""
        root = path[0]
        if root not in ("forms", "form_meta", "snapshots"):
            raise ValueError(f"a {root!r} path cannot be deleted")
        form_id = path[1]
        if root == "forms" and form_id in self.states:
            self.states[form_id]._data.pop(path[2], None)
        elif root == "snapshots" and form_id in self.histories:
            self.histories[form_id].delete(path[2])
        elif root == "form_meta" and form_id in self.states:
            self.states[form_id].saved_data = {}
            self.states[form_id].last_saved = None
            self.states[form_id].edited_over = {}


_T = TypeVar("_T")


def _put_back(parts: dict[str, _T], form_id: str, kept: _T | None) -> None:
    current = parts.get(form_id)
    if kept is None:
        parts.pop(form_id, None)
    elif current is None:
        parts[form_id] = kept
    else:
        vars(current).update(vars(kept))
