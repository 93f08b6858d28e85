"""The session domain: one user's state, with no Streamlit and no SQL in sight.

User-editable state (page, navigation, form values, form bookkeeping,
undo history and ``storage``) lives at *paths*; every path carries the revision at which it
last changed, so the browser mirror and the database can be reconciled path
by path, newest revision first (see ``docs/protocol.md``). Roles,
permissions, metrics, cache keys and the user id are server-owned: they
bump the session's revision (so the database write replaces the older row)
but never travel to or from the browser.

``UserSession`` is the facade: it holds the lock and the revisions, and
delegates to its parts (``page_history``, ``forms`` with ``history``,
``cache_keys``). A session may be shared by several tabs, each running its
script in its own thread, and read by the write-behind flusher; every
method takes the session's lock.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar, cast

from . import jsontext
from .cache_keys import CacheKeys
from .clock import now_ms, utcnow
from .config import configured_limits
from .editable import EditableState
from .forms import FormState
from .history import MAX_UNDO, FormSnapshot
from .metrics import SessionMetrics
from .page_history import MAX_HISTORY, NavigationEntry
from .protocol import SCHEMA_VERSION, Limits, Path
from .records import JSON, Change, StoredState
from .session_size import SessionFull
from .storage import SessionStorage, StorageFull
from .stored_state import UnsupportedSchema, rebuild, state_of, stored_of
from .values import decode, encode

__all__ = [
    "JSON", "MAX_HISTORY", "MAX_UNDO", "SCHEMA_VERSION", "Change", "FormSnapshot",
    "FormState", "NavigationEntry", "Path", "SessionFull", "SessionMetrics", "SessionStorage", "StorageFull",
    "StoredState", "UnsupportedSchema",
    "UserSession", "new_session_id", "next_revision",
]

MAX_REFRESHES = 8
"""Merges a session remembers for its tabs; a tab further behind is sent everything."""


def new_session_id() -> str:
    """256 random bits, hex: unguessable, so an id alone grants nothing."""
    return secrets.token_hex(32)


def next_revision(previous: int) -> int:
    """Grow strictly, and track wall time in ms so two servers' edits order by time."""
    return max(previous + 1, now_ms())


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
        limits: Limits | None = None,
    ) -> None:
        """``limits`` default to this process's settings (``max_session_bytes`` among them)."""
        self._lock = threading.RLock()
        self.session_id: str = session_id or new_session_id()
        self.user_id: str | None = user_id
        self.created_at: datetime = utcnow()
        self.revision: int = 0
        self.stored_revision: int = 0
        """Every path at or below it is in the database (or newer there): set when this process
        reads the session from it or writes it, never from another server's notice."""
        self.roles: set[str] = set()
        self.permissions: set[str] = set()
        self.metrics = SessionMetrics(started_at=self.created_at, last_activity=self.created_at)
        limits = limits or configured_limits()
        storage = SessionStorage(self._lock, lambda path: self._changed([path], interaction=True), limits,
                                 room=lambda path, size: self._editable.size.check(path, size))
        self._editable = EditableState(current_page, self.created_at, storage, limits)
        self._pages, self._forms = self._editable.pages, self._editable.forms
        self._cache = CacheKeys()
        self._draft_widgets: dict[str, tuple[str, str]] = {}
        self._on_change: Callable[[UserSession], object] | None = None
        self.refreshes: list[int] = []
        """The oldest revision taken by each of the latest stored copies merged in (``merge_stored``)."""
        self.refresh_count = 0
        """Stored copies merged in that held something new: a tab that saw fewer is sent the rest."""
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
        self._editable.stamp(paths, self.revision)
        if self._on_change is not None:
            self._on_change(self)
        return self.revision

    def _touch(self, interaction: bool = False) -> None:
        self.metrics.last_activity = utcnow()
        if interaction:
            self.metrics.interaction_count += 1

    @_locked
    def path_revision(self, path: Path) -> int:
        return self._editable.revisions.get(path, 0)

    @_locked
    def holds(self, path: Path, value: object) -> bool:
        """Whether ``path`` holds ``value`` as JSON would carry it."""
        return self._editable.holds(path, value)

    @_locked
    def changes_since(self, revision: int) -> list[Change]:
        """Every mirrored path changed after ``revision``, tombstones included."""
        return self._editable.changes_since(revision)

    @_locked
    def changes_and_revision(self, revision: int) -> tuple[list[Change], int]:
        """``changes_since(revision)`` and the revision they bring a tab to, read together:
        read apart, a change another tab made in between would count as sent and never be."""
        return self._editable.changes_since(revision), self.revision

    @_locked
    def apply_change(self, change: Change, *, checked: bool = True) -> bool:
        """Take one path's value if it is newer than ours; False when ours is as new.

        Raises ``ValueError`` on a value of the wrong shape for its path, and
        (``checked``) ``SessionFull`` on one that would take the session past
        ``max_session_bytes``, leaving the session as it was. Callers that take
        input from outside (the browser, stored rows) validate bounds first:
        see ``reconcile``. Undo steps give way to what is taken, oldest first.
        """
        if not self._editable.take(change, checked=checked):
            return False
        # The session's revision must still grow: a browser value older than the last
        # page view would otherwise leave it unchanged, and the revision-guarded
        # database write would then skip the session and lose the value.
        self.revision = max(next_revision(self.revision), change.revision)
        if self._on_change is not None:
            self._on_change(self)
        return True

    @_locked
    def merge_stored(self, stored: UserSession) -> int | None:
        """Take every path of a stored copy that is newer than ours (another server wrote it);
        the oldest revision taken, or None when ours held everything.

        The object stays this one and our own newer paths stay ours, as with
        ``apply_change``; the server-owned fields come from ``stored`` when it
        is the newer session, as a database merge takes them. Nothing is
        written back: the database holds what was taken.
        """
        oldest: int | None = None
        for change in sorted(stored.changes_since(0), key=lambda c: c.revision):
            if self._editable.take(change):
                oldest = change.revision if oldest is None else min(oldest, change.revision)
        if stored.revision > self.revision:
            self.user_id = stored.user_id
            self.roles, self.permissions = set(stored.roles), set(stored.permissions)
            self.revision = stored.revision
        if oldest is not None:
            self.refreshes = [*self.refreshes, oldest][-MAX_REFRESHES:]
            self.refresh_count += 1
        return oldest

    def _changed(self, paths: list[Path], *, interaction: bool = False) -> None:
        """Count the activity and stamp ``paths`` (server-owned changes stamp none)."""
        self._touch(interaction)
        self._bump(*paths)

    # -- navigation ------------------------------------------------------

    @property
    def current_page(self) -> str:
        return self._pages.current

    @property
    def navigation_history(self) -> list[NavigationEntry]:
        """The trail, oldest first, with each entry's params as the app gave them."""
        with self._lock:
            return [replace(e, params=decode(e.params)) for e in self._pages.entries]

    @_locked
    def navigate_to(self, page: str, params: Mapping[str, JSON] | None = None) -> None:
        """Go to ``page``; ``params`` take the values ``update_form_data`` takes. ``SessionFull``
        (or ``TypeError``), with the trail as it was, where they would take the session past
        ``max_session_bytes``."""
        encoded = encode(dict(params or {}))
        current, entries = self._pages.current, list(self._pages.entries)
        self._pages.visit(page, encoded)
        try:
            self._editable.check([("page",), ("navigation",)])
        except BaseException:
            self._pages.current, self._pages.entries = current, entries
            raise
        self.metrics.page_views += 1
        self.metrics.page_visits[page] = self.metrics.page_visits.get(page, 0) + 1
        self._changed([("page",), ("navigation",)])

    @_locked
    def start_at(self, page: str) -> bool:
        """Make ``page`` where a session that has not moved yet starts (the app's real default
        page, known once its navigation is declared); False once the session has moved."""
        if not self._pages.start_at(page):
            return False
        self._changed([("page",), ("navigation",)])
        return True

    @_locked
    def go_back(self) -> bool:
        """Return to the previous page; False when there is none."""
        if not self._pages.back():
            return False
        self._changed([("page",), ("navigation",)])
        return True

    @_locked
    def record_page_view(self) -> None:
        self.metrics.page_views += 1
        self._changed([])

    # -- app state beyond widgets -------------------------------------------

    @property
    def storage(self) -> SessionStorage:
        """Storable values by key, persisted and mirrored as form fields are; nested
        changes count (``storage.setdefault("messages", []).append(m)``)."""
        return self._editable.storage

    @_locked
    def assign_user(self, user_id: str) -> None:
        """Make this session ``user_id``'s: server-side code only, never a browser's word."""
        if self.user_id != user_id:
            self.user_id = user_id
            self._bump()

    # -- forms -----------------------------------------------------------

    @_locked
    def get_form_state(self, form_id: str) -> FormState:
        return self._forms.form(form_id)

    @property
    def forms(self) -> Mapping[str, FormState]:
        with self._lock:
            return MappingProxyType(dict(self._forms.states))

    @property
    def dirty_forms(self) -> set[str]:
        with self._lock:
            return {form_id for form_id, form in self._forms.states.items() if form.is_dirty}

    @_locked
    def update_form_data(self, form_id: str, field_name: str, value: JSON) -> bool:
        """Set one field as one undoable step; False (and no write) when unchanged.

        ``value`` is JSON, or dates, times, tuples and lists or dicts of them,
        which come back as themselves after a restart; ``TypeError`` here, not
        in a later run, for anything else (see ``values.encode``). ``SessionFull``,
        with nothing changed, for a value that would take the session past
        ``max_session_bytes`` even once every undo step gave way; short of that,
        the oldest undo steps give way to it.
        """
        stored = encode(value)
        self._editable.check_value(("forms", form_id, field_name), stored)
        paths = self._forms.apply(form_id, {field_name: stored}, record=True)
        if paths:
            self._changed(paths, interaction=True)
        return bool(paths)

    @_locked
    def record_widget_default(self, form_id: str, field_name: str, default: JSON) -> None:
        """Keep beside a widget's stored edit the default its app declared (stored JSON)."""
        if self._forms.has_default(form_id, field_name, default):
            return  # as every edit but the first: nothing to copy for a rollback, nothing stamped
        paths = self._form_change(form_id, lambda: self._forms.record_default(form_id, field_name, default))
        if paths:
            self._changed(paths)

    @_locked
    def mark_form_saved(self, form_id: str) -> None:
        """Note the form's values as saved; ``SessionFull`` where that copy would not fit."""
        self._changed(self._form_change(form_id, lambda: self._forms.mark_saved(form_id)) or [])

    @_locked
    def undo_form(self, form_id: str) -> bool:
        """Step the form back one change; False when there is nothing to undo."""
        return self._stepped(self._form_change(form_id, lambda: self._forms.undo(form_id)))

    @_locked
    def redo_form(self, form_id: str) -> bool:
        """Re-apply the change last undone; False when there is none."""
        return self._stepped(self._form_change(form_id, lambda: self._forms.redo(form_id)))

    def _form_change(self, form_id: str, change: Callable[[], list[Path] | None]) -> list[Path] | None:
        """Run ``change`` of ``form_id``; ``SessionFull`` (or ``TypeError``), with the form as it
        was, if what it wrote would take the session past ``max_session_bytes``."""
        saved = self._forms.checkpoint(form_id)
        paths = change()
        if paths:
            try:
                self._editable.check(paths)
            except BaseException:
                self._forms.rollback(form_id, saved)
                raise
        return paths

    def _stepped(self, paths: list[Path] | None) -> bool:
        if paths is None:
            return False
        self._changed(paths, interaction=len(paths) > 1)  # more than the line: fields changed
        return True

    @_locked
    def can_undo(self, form_id: str) -> bool:
        return self._forms.can_undo(form_id)

    @_locked
    def can_redo(self, form_id: str) -> bool:
        return self._forms.can_redo(form_id)

    @_locked
    def create_form_snapshot(self, form_id: str, description: str = "") -> FormSnapshot:
        """A named copy of the form's values; ``SessionFull`` where it would not fit."""
        taken: list[FormSnapshot] = []

        def take() -> list[Path]:
            taken.append(self._forms.snapshot(form_id, description))
            return [("snapshots", form_id, "saved")]

        self._changed(self._form_change(form_id, take) or [])
        snapshot = taken[0]
        return replace(snapshot, data=decode(snapshot.data))

    @_locked
    def form_snapshots(self, form_id: str) -> list[FormSnapshot]:
        """The form's snapshots, oldest first, their data as the app stored it."""
        return [replace(s, data=decode(s.data)) for s in self._forms.snapshots(form_id)]

    @_locked
    def restore_form_snapshot(self, snapshot_id: str) -> bool:
        """Make the form's data exactly the snapshot's, as one undoable step; ``SessionFull``
        where its values would not fit."""
        form_id = self._forms.form_of_snapshot(snapshot_id)
        if form_id is None:
            return False
        paths = self._form_change(form_id, lambda: self._forms.restore(snapshot_id))
        if paths:
            self._changed(paths, interaction=True)
        return paths is not None

    # -- cache keys ------------------------------------------------------

    @property
    def cache_keys(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._cache.depends)

    @_locked
    def add_cache_key(self, key: str, dependencies: Iterable[str] | None = None) -> None:
        """Track ``key``; it is invalidated with any key it depends on."""
        self._cache.add(key, dependencies)
        self._bump()

    @_locked
    def invalidate_cache_keys(self, pattern: str | None = None) -> set[str]:
        """Drop every key containing ``pattern`` (all keys for None) and all that depend on them."""
        gone = self._cache.invalidate(pattern)
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
        self._grant(self.roles, role, True)

    @_locked
    def remove_role(self, role: str) -> None:
        self._grant(self.roles, role, False)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @_locked
    def add_permission(self, permission: str) -> None:
        self._grant(self.permissions, permission, True)

    @_locked
    def remove_permission(self, permission: str) -> None:
        self._grant(self.permissions, permission, False)

    def has_permission(self, permission: str) -> bool:
        return permission in self.permissions

    def _grant(self, grants: set[str], name: str, granted: bool) -> None:
        if (name in grants) != granted:
            (grants.add if granted else grants.discard)(name)
            self._bump()

    # -- storage (the layout is ``stored_state``'s) -------------------------

    @_locked
    def to_dict(self) -> dict[str, JSON]:
        """Everything, as the database row's state column holds it: a copy no later change
        reaches; ``TypeError`` where that text cannot be made (see ``jsontext.dumps``)."""
        return cast(dict[str, JSON], jsontext.loads(jsontext.dumps(state_of(self))))

    @_locked
    def to_stored(self) -> StoredState:
        """``to_dict()`` as JSON text, with the columns stored beside it, taken under the lock."""
        return stored_of(self)

    @classmethod
    def unrevisioned(cls, session_id: str, user_id: str | None, current_page: str) -> UserSession:
        """A fresh session whose paths carry no revisions, so any stored copy of them is newer.

        For an id the browser's mirror may hold state under while the
        database holds none: the mirror's paths then all win.
        """
        session = cls(user_id, session_id, current_page=current_page)
        session._editable.revisions.clear()
        return session

    @classmethod
    def from_dict(cls, raw: Mapping[str, JSON]) -> UserSession:
        """Rebuild a stored session; ``UnsupportedSchema`` for a layout from another release."""
        return rebuild(cls, raw)
