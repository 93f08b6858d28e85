"""The session domain: one user's state, with no Streamlit and no SQL in sight.

User-editable state (page, navigation, form values, form bookkeeping and
undo history) lives at *paths*; every path carries the revision at which it
last changed, so the browser mirror and the database can be reconciled path
by path, newest revision first (see ``docs/protocol.md``). Roles,
permissions, metrics, cache keys and the user id are server-owned: they
bump the session's revision (so the database write replaces the older row)
but never travel to or from the browser.

A ``UserSession`` may be shared by several tabs, each running its script in
its own thread, and read by the write-behind flusher; every method takes the
session's lock.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, Final, TypeVar, cast

from . import jsontext
from .migrations import upgrade

SCHEMA_VERSION: Final = 2
"""Version of the stored state layout; ``migrations`` brings older ones up to it."""

MAX_HISTORY: Final = 100
MAX_UNDO: Final = 50
MAX_SNAPSHOTS: Final = 20

Path = tuple[str, ...]
JSON = Any
PATH_ROOTS: Final = ("page", "navigation", "forms", "form_meta", "snapshots")


class UnsupportedSchema(ValueError):
    """Stored state written by a layout this release cannot read."""


def new_session_id() -> str:
    """256 random bits, hex: unguessable, so an id alone grants nothing."""
    return secrets.token_hex(32)


def next_revision(previous: int) -> int:
    """Grow strictly, and track wall time in ms so two servers' edits order by time."""
    return max(previous + 1, time.time_ns() // 1_000_000)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class NavigationEntry:
    page: str
    params: Mapping[str, JSON] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=utcnow)

    def to_json(self) -> dict[str, JSON]:
        return {"page": self.page, "params": dict(self.params), "timestamp": _iso(self.timestamp)}

    @classmethod
    def from_json(cls, raw: Mapping[str, JSON]) -> NavigationEntry:
        if not isinstance(raw, Mapping):
            raise ValueError("a navigation entry is an object")
        params = raw.get("params") or {}
        if not isinstance(raw.get("page"), str) or not isinstance(params, dict):
            raise ValueError("navigation entry needs a page name and a params object")
        return cls(raw["page"], params, _parse_time(raw.get("timestamp")) or utcnow())


@dataclass(frozen=True)
class FormSnapshot:
    snapshot_id: str
    form_id: str
    description: str
    data: Mapping[str, JSON]
    created_at: datetime = field(default_factory=utcnow)

    def to_json(self) -> dict[str, JSON]:
        return {
            "snapshot_id": self.snapshot_id,
            "form_id": self.form_id,
            "description": self.description,
            "data": dict(self.data),
            "created_at": _iso(self.created_at),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, JSON]) -> FormSnapshot:
        if not isinstance(raw, Mapping):
            raise ValueError("a snapshot is an object")
        data = raw.get("data")
        if not isinstance(data, dict):
            raise ValueError("snapshot data must be an object")
        return cls(
            str(raw["snapshot_id"]),
            str(raw["form_id"]),
            str(raw.get("description", "")),
            data,
            _parse_time(raw.get("created_at")) or utcnow(),
        )


_ABSENT: Final = object()
"""Marks a field that did not exist on one side of an undo step."""

_IMMUTABLE: Final = frozenset({str, int, float, bool, type(None)})
"""Value types that need no defensive copy."""

# One undo step: for each field touched, (field, value before, value after),
# where _ABSENT stands for "the field did not exist".
UndoStep = list[tuple[str, object, object]]


def _step_to_json(step: UndoStep) -> list[list[JSON]]:
    return [
        [name, before is not _ABSENT, None if before is _ABSENT else before,
         after is not _ABSENT, None if after is _ABSENT else after]
        for name, before, after in step
    ]


def _step_from_json(raw: object) -> UndoStep:
    if not isinstance(raw, list) or not all(isinstance(i, list) and len(i) == 5 for i in raw):
        raise ValueError("an undo step is a list of [field, has_before, before, has_after, after]")
    return [
        (str(name), before if has_before else _ABSENT, after if has_after else _ABSENT)
        for name, has_before, before, has_after, after in raw
    ]


@dataclass
class FormState:
    """One form: its current values, what was last saved, and validation messages.

    ``data`` is read-only; change values with ``UserSession.update_form_data`` so
    that the change is revisioned, undoable and persisted. ``errors`` and
    ``warnings`` are plain dicts the app fills as it validates.
    """

    form_id: str
    _data: dict[str, JSON] = field(default_factory=dict)
    saved_data: dict[str, JSON] = field(default_factory=dict)
    last_saved: datetime | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def data(self) -> Mapping[str, JSON]:
        return MappingProxyType(self._data)

    @property
    def is_dirty(self) -> bool:
        return self._data != self.saved_data


@dataclass
class FormHistory:
    """A form's named snapshots and its line of undo steps.

    Steps are numbered 1, 2, 3... as they are made: steps ``lo+1..at`` can be
    undone (newest last) and ``at+1..hi`` redone. Each step is kept in slot
    ``n % MAX_UNDO`` and mirrored at a path of its own, so an edit sends one
    step and the line, not the whole history. A step that leaves the line
    needs no tombstone: its slot no longer matches the line, and the next step
    numbered into that slot overwrites it.

    A slot holds its step as it is stored and mirrored (``{"n": number,
    "step": [[field, has_before, before, has_after, after], ...]}``): every
    database write of the session encodes every step, and few are ever undone.
    """

    snapshots: list[FormSnapshot] = field(default_factory=list)
    slots: dict[int, dict[str, JSON]] = field(default_factory=dict)
    lo: int = 0
    at: int = 0
    hi: int = 0

    def step(self, number: int) -> UndoStep | None:
        """Step ``number`` if the line holds it; None past either end, or if its slot moved on."""
        kept = self.slots.get(number % MAX_UNDO)
        if kept is None or kept["n"] != number or not self.lo < number <= self.hi:
            return None
        return _step_from_json(kept["step"])

    def push(self, step: UndoStep) -> str:
        """Make ``step`` the newest undo step, dropping every redo step; the slot it went to."""
        self.hi = self.at = self.at + 1
        self.lo = max(self.lo, self.hi - MAX_UNDO)
        self.slots[self.hi % MAX_UNDO] = {"n": self.hi, "step": _step_to_json(step)}
        return str(self.hi % MAX_UNDO)

    def encode(self, part: str, *, shared: bool) -> object:
        """The JSON-ready value of a ``snapshots`` path part; ``shared`` as for ``UserSession._encode``."""
        if part == "saved":  # jsontext writes a dataclass as its to_json() would
            return self.snapshots if shared else [s.to_json() for s in self.snapshots]
        if part == "line":
            return {"lo": self.lo, "at": self.at, "hi": self.hi}
        kept = self.slots.get(int(part))  # a path the session made: no need to check its spelling
        if kept is None:
            return _ABSENT
        return kept if shared else copy.deepcopy(kept)

    def decode(self, part: str, value: JSON) -> None:
        if part == "saved" and isinstance(value, list):
            self.snapshots = [FormSnapshot.from_json(s) for s in value][-MAX_SNAPSHOTS:]
        elif part == "line" and isinstance(value, dict):
            lo, at, hi = value.get("lo"), value.get("at"), value.get("hi")
            if not (type(lo) is int and type(at) is int and type(hi) is int
                    and 0 <= lo <= at <= hi <= lo + MAX_UNDO):
                raise ValueError("an undo line needs integers 0 <= lo <= at <= hi <= lo + MAX_UNDO")
            self.lo, self.at, self.hi = lo, at, hi
        elif part not in ("saved", "line") and isinstance(value, dict):
            number, slot = value.get("n"), _slot(part)
            if type(number) is not int or number < 1 or number % MAX_UNDO != slot:
                raise ValueError(f"undo slot {slot} holds steps numbered {slot} modulo {MAX_UNDO}")
            self.slots[slot] = {"n": number, "step": _step_to_json(_step_from_json(value.get("step")))}
        else:
            raise ValueError(f"value of the wrong shape for snapshots part {part!r}")

    def delete(self, part: str) -> None:
        if part == "saved":
            self.snapshots = []
        elif part == "line":
            self.lo = self.at = self.hi = 0
        else:
            self.slots.pop(_slot(part), None)


def _slot(part: str) -> int:
    """The slot a ``snapshots`` path part names: ``"0"`` .. ``"49"``, in that spelling only."""
    if not part.isdecimal() or str(int(part)) != part or int(part) >= MAX_UNDO:
        raise ValueError(f"{part!r} is not an undo slot")
    return int(part)


@dataclass
class SessionMetrics:
    page_views: int = 0
    interaction_count: int = 0
    started_at: datetime = field(default_factory=utcnow)
    last_activity: datetime = field(default_factory=utcnow)

    @property
    def session_duration(self) -> timedelta:
        return self.last_activity - self.started_at

    @classmethod
    def from_json(cls, raw: Mapping[str, JSON]) -> SessionMetrics:
        return cls(
            int(raw.get("page_views", 0)),
            int(raw.get("interaction_count", 0)),
            _parse_time(raw.get("started_at")) or utcnow(),
            _parse_time(raw.get("last_activity")) or utcnow(),
        )


@dataclass(frozen=True)
class Change:
    """One path's value at a revision; ``deleted`` marks a tombstone."""

    path: Path
    value: JSON
    revision: int
    deleted: bool = False

    def to_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {"p": list(self.path), "v": self.value, "r": self.revision}
        if self.deleted:
            out["d"] = True
        return out


@dataclass(frozen=True)
class StoredState:
    """What a database write needs of a session, all taken at one moment.

    ``text`` is ``to_dict()`` as JSON. The other fields are the server-owned
    columns, taken from the session directly so the writer does not parse
    them back out of the text.
    """

    text: str
    revision: int
    user_id: str | None
    created_at: datetime
    roles: tuple[str, ...]
    permissions: tuple[str, ...]
    metrics: SessionMetrics


_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    def run(self: UserSession, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    run.__name__, run.__doc__, run.__qualname__ = method.__name__, method.__doc__, method.__qualname__
    return cast(_F, run)


class UserSession:
    """All of one user's state, revisioned for the browser mirror and the database."""

    def __init__(
        self,
        user_id: str | None = None,
        session_id: str | None = None,
        *,
        current_page: str = "home",
    ) -> None:
        self._lock = threading.RLock()
        self.session_id: str = session_id or new_session_id()
        self.user_id: str | None = user_id
        self.created_at: datetime = utcnow()
        self.revision: int = 0
        self.roles: set[str] = set()
        self.permissions: set[str] = set()
        self.metrics = SessionMetrics(started_at=self.created_at, last_activity=self.created_at)
        self._current_page = current_page
        self._history: list[NavigationEntry] = [NavigationEntry(current_page, {}, self.created_at)]
        self._forms: dict[str, FormState] = {}
        self._form_history: dict[str, FormHistory] = {}
        self._cache: dict[str, frozenset[str]] = {}
        self._draft_widgets: dict[str, tuple[str, str]] = {}
        self._revs: dict[Path, int] = {}
        self._on_change: Callable[[UserSession], object] | None = None
        self._bump(("page",), ("navigation",))

    def bind(self, on_change: Callable[[UserSession], object] | None) -> None:
        """Call ``on_change(self)`` after every change, so no change waits on the app to persist it.

        It runs under the session's lock: it must only schedule work, never
        take a lock that is held while this session's lock is awaited.
        """
        self._on_change = on_change

    # -- revisions -------------------------------------------------------

    def _bump(self, *paths: Path) -> int:
        """Advance the session's revision and stamp the given mirrored paths with it."""
        self.revision = next_revision(self.revision)
        for path in paths:
            self._revs[path] = self.revision
        if self._on_change is not None:
            self._on_change(self)
        return self.revision

    def _touch(self, interaction: bool = False) -> None:
        self.metrics.last_activity = utcnow()
        if interaction:
            self.metrics.interaction_count += 1

    @_locked
    def path_revision(self, path: Path) -> int:
        return self._revs.get(path, 0)

    @_locked
    def changes_since(self, revision: int) -> list[Change]:
        """Every mirrored path changed after ``revision``, tombstones included."""
        return [self._change(p, r) for p, r in self._revs.items() if r > revision]

    def _change(self, path: Path, revision: int) -> Change:
        value = self._encode(path)
        return Change(path, None, revision, True) if value is _ABSENT else Change(path, value, revision)

    def _change_json(self, path: Path, revision: int) -> dict[str, object]:
        """``_change(path, revision).to_json()`` for ``_state``, without the ``Change`` or copies:
        every database write makes one per path."""
        value = self._encode(path, shared=True)
        if value is _ABSENT:  # the path as a tuple: orjson writes it as a list
            return {"p": path, "v": None, "r": revision, "d": True}
        return {"p": path, "v": value, "r": revision}

    def _encode(self, path: Path, *, shared: bool = False) -> object:
        """The JSON-ready value at ``path``; ``shared`` lets it hold the session's own
        objects, for a caller that encodes it to text before letting go of the lock."""
        root = path[0]
        if root == "page":
            return self._current_page
        if root == "navigation":  # jsontext writes a dataclass as its to_json() would
            return self._history if shared else [e.to_json() for e in self._history]
        if root == "forms":
            form = self._forms.get(path[1])
            value = _ABSENT if form is None else form._data.get(path[2], _ABSENT)
            return value if shared or value is _ABSENT or type(value) in _IMMUTABLE else copy.deepcopy(value)
        if root == "form_meta":
            form = self._forms.get(path[1])
            if form is None:
                return _ABSENT
            saved = form.saved_data if shared else copy.deepcopy(form.saved_data)
            return {"saved_data": saved, "last_saved": _iso(form.last_saved)}
        history = self._form_history.get(path[1])
        return _ABSENT if history is None else history.encode(path[2], shared=shared)

    @_locked
    def apply_change(self, change: Change) -> bool:
        """Take one path's value if it is newer than ours; False when ours is as new.

        Raises ``ValueError`` on a value of the wrong shape for its path, leaving
        the session as it was. Callers that take input from outside (the
        browser, stored rows) validate bounds first: see ``reconcile``.
        """
        if change.revision <= self._revs.get(change.path, 0):
            return False
        if change.deleted:
            self._delete(change.path)
        else:
            self._decode(change.path, change.value)
        self._revs[change.path] = change.revision
        # The session's revision must still grow: a browser value older than the last
        # page view would otherwise leave it unchanged, and the revision-guarded
        # database write would then skip the session and lose the value.
        self.revision = max(next_revision(self.revision), change.revision)
        if self._on_change is not None:
            self._on_change(self)
        return True

    def _decode(self, path: Path, value: JSON) -> None:
        root = path[0]
        if root == "page" and isinstance(value, str):
            self._current_page = value
        elif root == "navigation" and isinstance(value, list) and value:
            self._history = [NavigationEntry.from_json(e) for e in value][-MAX_HISTORY:]
        elif root == "forms" and len(path) == 3:
            self._form(path[1])._data[path[2]] = copy.deepcopy(value)
        elif root == "form_meta" and len(path) == 2 and isinstance(value, dict):
            saved = value.get("saved_data") or {}
            if not isinstance(saved, dict):
                raise ValueError("saved_data must be an object")
            form = self._form(path[1])
            form.saved_data = copy.deepcopy(saved)
            form.last_saved = _parse_time(value.get("last_saved"))
        elif root == "snapshots" and len(path) == 3:
            history = self._form_history.get(path[1]) or FormHistory()
            history.decode(path[2], value)
            self._form_history[path[1]] = history
        else:
            raise ValueError(f"value of the wrong shape for path {list(path)}")

    def _delete(self, path: Path) -> None:
        if path[0] == "forms" and len(path) == 3 and path[1] in self._forms:
            self._forms[path[1]]._data.pop(path[2], None)
        elif path[0] == "snapshots" and len(path) == 3 and path[1] in self._form_history:
            self._form_history[path[1]].delete(path[2])
        elif path[0] == "form_meta" and path[1] in self._forms:
            self._forms[path[1]].saved_data = {}
            self._forms[path[1]].last_saved = None

    # -- navigation ------------------------------------------------------

    @property
    def current_page(self) -> str:
        return self._current_page

    @property
    def navigation_history(self) -> list[NavigationEntry]:
        with self._lock:
            return list(self._history)

    @_locked
    def navigate_to(self, page: str, params: Mapping[str, JSON] | None = None) -> None:
        self._history.append(NavigationEntry(page, dict(params or {})))
        del self._history[:-MAX_HISTORY]
        self._current_page = page
        self.metrics.page_views += 1
        self._touch()
        self._bump(("page",), ("navigation",))

    @_locked
    def go_back(self) -> bool:
        """Return to the previous page; False when there is none."""
        if len(self._history) < 2:
            return False
        self._history.pop()
        self._current_page = self._history[-1].page
        self._touch()
        self._bump(("page",), ("navigation",))
        return True

    @_locked
    def record_page_view(self) -> None:
        self.metrics.page_views += 1
        self._touch()
        self._bump()

    # -- forms -----------------------------------------------------------

    def _form(self, form_id: str) -> FormState:
        form = self._forms.get(form_id)
        if form is None:
            form = self._forms[form_id] = FormState(form_id)
        return form

    def _history_of(self, form_id: str) -> FormHistory:
        history = self._form_history.get(form_id)
        if history is None:
            history = self._form_history[form_id] = FormHistory()
        return history

    @_locked
    def get_form_state(self, form_id: str) -> FormState:
        return self._form(form_id)

    @property
    def forms(self) -> Mapping[str, FormState]:
        with self._lock:
            return MappingProxyType(dict(self._forms))

    @property
    def dirty_forms(self) -> set[str]:
        with self._lock:
            return {form_id for form_id, form in self._forms.items() if form.is_dirty}

    @_locked
    def update_form_data(self, form_id: str, field_name: str, value: JSON) -> bool:
        """Set one field as one undoable step; False (and no write) when unchanged."""
        return self._apply_step(form_id, {field_name: copy.deepcopy(value)}, record=True)

    @_locked
    def mark_form_saved(self, form_id: str) -> None:
        form = self._form(form_id)
        form.saved_data = copy.deepcopy(form._data)
        form.last_saved = utcnow()
        self._touch()
        self._bump(("form_meta", form_id))

    def _apply_step(self, form_id: str, new_values: Mapping[str, object], record: bool) -> bool:
        """Write fields (``_ABSENT`` deletes one); with ``record``, push one undo step."""
        form = self._form(form_id)
        step: UndoStep = [
            (name, form._data.get(name, _ABSENT), value)
            for name, value in new_values.items()
            if form._data.get(name, _ABSENT) != value
        ]
        if not step:
            return False
        for name, _before, after in step:
            if after is _ABSENT:
                form._data.pop(name, None)
            else:
                form._data[name] = after
        paths: list[Path] = [("forms", form_id, name) for name, _b, _a in step]
        if record:
            slot = self._history_of(form_id).push(step)
            paths += [("snapshots", form_id, "line"), ("snapshots", form_id, slot)]
        self._touch(interaction=True)
        self._bump(*paths)
        return True

    @_locked
    def undo_form(self, form_id: str) -> bool:
        """Step the form back one change; False when there is nothing to undo."""
        history = self._history_of(form_id)
        step = history.step(history.at)
        if step is None:
            return False
        history.at -= 1
        self._apply_step(form_id, {name: before for name, before, _a in reversed(step)}, False)
        self._bump(("snapshots", form_id, "line"))
        return True

    @_locked
    def redo_form(self, form_id: str) -> bool:
        """Re-apply the change last undone; False when there is none."""
        history = self._history_of(form_id)
        step = history.step(history.at + 1)
        if step is None:
            return False
        history.at += 1
        self._apply_step(form_id, {name: after for name, _b, after in step}, False)
        self._bump(("snapshots", form_id, "line"))
        return True

    @_locked
    def can_undo(self, form_id: str) -> bool:
        history = self._form_history.get(form_id)
        return history is not None and history.step(history.at) is not None

    @_locked
    def can_redo(self, form_id: str) -> bool:
        history = self._form_history.get(form_id)
        return history is not None and history.step(history.at + 1) is not None

    @_locked
    def create_form_snapshot(self, form_id: str, description: str = "") -> FormSnapshot:
        snapshot = FormSnapshot(
            uuid.uuid4().hex, form_id, description, copy.deepcopy(self._form(form_id)._data)
        )
        history = self._history_of(form_id)
        history.snapshots.append(snapshot)
        del history.snapshots[:-MAX_SNAPSHOTS]
        self._touch()
        self._bump(("snapshots", form_id, "saved"))
        return snapshot

    @_locked
    def form_snapshots(self, form_id: str) -> list[FormSnapshot]:
        return list(self._form_history.get(form_id, FormHistory()).snapshots)

    @_locked
    def restore_form_snapshot(self, snapshot_id: str) -> bool:
        """Make the form's data exactly the snapshot's, as one undoable step."""
        for form_id, history in self._form_history.items():
            for snapshot in history.snapshots:
                if snapshot.snapshot_id == snapshot_id:
                    current = self._form(form_id)._data
                    target: dict[str, object] = {name: _ABSENT for name in current}
                    target.update(copy.deepcopy(dict(snapshot.data)))
                    self._apply_step(form_id, target, record=True)
                    return True
        return False

    # -- cache keys ------------------------------------------------------

    @property
    def cache_keys(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._cache)

    @_locked
    def add_cache_key(self, key: str, dependencies: Iterable[str] | None = None) -> None:
        """Track ``key``; it is invalidated with any key it depends on."""
        self._cache[key] = frozenset(dependencies or ())
        self._bump()

    @_locked
    def invalidate_cache_keys(self, pattern: str | None = None) -> set[str]:
        """Drop every key containing ``pattern`` (all keys for None) and all that depend on them."""
        gone = {key for key in self._cache if pattern is None or pattern in key}
        grew = True
        while grew:
            dependents = {k for k, deps in self._cache.items() if k not in gone and deps & gone}
            grew = bool(dependents)
            gone |= dependents
        for key in gone:
            del self._cache[key]
        if gone:
            self._bump()
        return gone

    # -- widgets whose uncommitted typing the browser keeps --------------

    @property
    def draft_widgets(self) -> Mapping[str, tuple[str, str]]:
        """Widget key -> (form id, field), for every wrapped text or number widget seen.

        Kept with the session, not the tab, so the first run of a page load can
        already tell the browser which drafts it may offer back.
        """
        with self._lock:
            return MappingProxyType(dict(self._draft_widgets))

    @_locked
    def register_draft_widget(self, key: str, form_id: str, field_name: str) -> None:
        if self._draft_widgets.get(key) != (form_id, field_name):
            self._draft_widgets[key] = (form_id, field_name)
            self._bump()

    # -- roles and permissions (server-owned) ----------------------------

    @_locked
    def add_role(self, role: str) -> None:
        if role not in self.roles:
            self.roles.add(role)
            self._bump()

    @_locked
    def remove_role(self, role: str) -> None:
        if role in self.roles:
            self.roles.discard(role)
            self._bump()

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @_locked
    def add_permission(self, permission: str) -> None:
        if permission not in self.permissions:
            self.permissions.add(permission)
            self._bump()

    @_locked
    def remove_permission(self, permission: str) -> None:
        if permission in self.permissions:
            self.permissions.discard(permission)
            self._bump()

    def has_permission(self, permission: str) -> bool:
        return permission in self.permissions

    # -- storage ---------------------------------------------------------

    @_locked
    def to_dict(self) -> dict[str, JSON]:
        """Everything, as the database row's state column holds it.

        Decoded from the text a write stores, so it is exactly that, and a
        copy no later change of the session reaches; ``TypeError`` where that
        text cannot be made (see ``jsontext.dumps``).
        """
        return cast(dict[str, JSON], jsontext.loads(jsontext.dumps(self._state())))

    def _state(self) -> dict[str, object]:
        """Everything stored, for ``jsontext`` to encode before the lock is let go.

        It holds the session's own objects (see ``_encode``), dataclasses and
        datetimes, which ``jsontext`` writes in native code: a datetime as
        ``isoformat`` does, in a fifth of the time.
        """
        return {
            "schema": SCHEMA_VERSION,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "created_at": self.created_at,
            "revision": self.revision,
            "validation": {
                form_id: {"errors": form.errors, "warnings": form.warnings}
                for form_id, form in self._forms.items()
                if form.errors or form.warnings
            },
            "cache": {key: sorted(deps) for key, deps in self._cache.items()},
            "draft_widgets": {key: list(at) for key, at in self._draft_widgets.items()},
            "roles": sorted(self.roles),
            "permissions": sorted(self.permissions),
            "metrics": self.metrics,  # a dataclass: jsontext writes its fields
            "changes": [self._change_json(p, r) for p, r in self._revs.items()],
        }

    @_locked
    def to_stored(self) -> StoredState:
        """``to_dict()`` as JSON text, with the columns stored beside it.

        Encoded under the session's lock straight from its own objects, with
        no defensive copies: nothing outside sees the tree before it is text.
        """
        state = self._state()
        return StoredState(
            text=jsontext.dumps(state).decode(),
            revision=self.revision,
            user_id=self.user_id,
            created_at=self.created_at,
            roles=tuple(cast(list[str], state["roles"])),
            permissions=tuple(cast(list[str], state["permissions"])),
            metrics=SessionMetrics(self.metrics.page_views, self.metrics.interaction_count,
                                   self.metrics.started_at, self.metrics.last_activity),
        )

    @classmethod
    def unrevisioned(cls, session_id: str, user_id: str | None, current_page: str) -> UserSession:
        """A fresh session whose paths carry no revisions, so any stored copy of them is newer.

        For an id the browser's mirror may hold state under while the
        database holds none: the mirror's paths then all win.
        """
        session = cls(user_id, session_id, current_page=current_page)
        session._revs.clear()
        return session

    @classmethod
    def from_dict(cls, raw: Mapping[str, JSON]) -> UserSession:
        """Rebuild a stored session; ``UnsupportedSchema`` for a layout from another release."""
        raw = upgrade(raw)
        if raw.get("schema") != SCHEMA_VERSION:
            raise UnsupportedSchema(f"stored session schema {raw.get('schema')!r} is not {SCHEMA_VERSION}")
        session = cls(raw.get("user_id"), str(raw["session_id"]))
        session._revs.clear()
        session.created_at = _parse_time(raw.get("created_at")) or session.created_at
        for item in raw.get("changes", []):
            session.apply_change(
                Change(tuple(item["p"]), item.get("v"), int(item["r"]), bool(item.get("d")))
            )
        for form_id, messages in raw.get("validation", {}).items():
            form = session._form(form_id)
            form.errors = dict(messages.get("errors", {}))
            form.warnings = dict(messages.get("warnings", {}))
        session._cache = {k: frozenset(v) for k, v in raw.get("cache", {}).items()}
        session._draft_widgets = {k: (v[0], v[1]) for k, v in raw.get("draft_widgets", {}).items()}
        session.roles = set(raw.get("roles", []))
        session.permissions = set(raw.get("permissions", []))
        session.metrics = SessionMetrics.from_json(raw.get("metrics", {}))
        session.revision = int(raw.get("revision", session.revision))
        return session
