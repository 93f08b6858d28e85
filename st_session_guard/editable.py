"""The user-editable half of a session, addressed by path, each path with its revision.

This is all the browser may hold and send back (page, navigation, form
values, form bookkeeping, undo history, ``session.storage``): the session's parts seen as
``Change`` records, and changes taken back into them, newest revision first.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Final

from .forms import Forms
from .history import ABSENT, FormHistory
from .page_history import PageHistory
from .protocol import Limits, Path, Rejected
from .records import JSON, Change
from .session_size import SessionSize, is_undo_step, path_size
from .storage import SessionStorage
from .timestamps import iso, parse_time
from .values import decode

_IMMUTABLE: Final = frozenset({str, int, float, bool, type(None)})
"""Value types that need no defensive copy."""


class EditableState:
    """Page history, forms and storage as paths, with the revision at which each path last changed."""

    def __init__(self, current_page: str, at: datetime, storage: SessionStorage, limits: Limits) -> None:
        self.pages = PageHistory(current_page, at)
        self.forms = Forms()
        self.storage = storage
        self.revisions: dict[Path, int] = {}
        self.size = SessionSize(limits)

    def stamp(self, paths: tuple[Path, ...] | list[Path], revision: int) -> None:
        """Note that ``paths`` changed at ``revision``; undo steps that must give way to them
        are dropped, oldest first, and stamped too."""
        for path in paths:
            self.revisions[path] = revision
            self.size.set(path, self._measure(path))
        self._make_room(revision)

    def check_value(self, path: Path, value: JSON) -> None:
        """``SessionFull`` if ``value`` at ``path`` would take the session's data past its limit;
        ``TypeError`` for a value no browser could take back."""
        try:
            self.size.check(path, path_size(path, value, self.size.limits))
        except Rejected as error:
            raise TypeError(f"{list(path)} cannot be stored: {error}") from None

    def check(self, paths: list[Path]) -> None:
        """``SessionFull`` if ``paths``, as they are now, take the session's data past its limit
        (``TypeError`` for a value no browser could take back); nothing is changed."""
        sizes = {path: self.size.sizes.get(path, 0) for path in paths}
        try:
            for path in paths:
                if not is_undo_step(path):
                    size = self._measure(path)
                    self.size.check(path, size)
                    self.size.set(path, size)
        except Rejected as error:
            raise TypeError(f"{list(path)} cannot be stored: {error}") from None
        finally:
            for path in paths:
                self.size.set(path, sizes.get(path, 0))

    def _make_room(self, revision: int) -> None:
        """Drop undo steps, the one whose slot changed longest ago first, until the session fits."""
        while self.size.over:
            oldest = min(
                ((self.revisions.get(("snapshots", form_id, found[0]), 0), form_id)
                 for form_id, history in self.forms.histories.items()
                 if (found := history.oldest()) is not None),
                default=None,
            )
            if oldest is None:
                return
            form_id = oldest[1]
            slot = self.forms.histories[form_id].drop_oldest()
            for path in (("snapshots", form_id, "line"), ("snapshots", form_id, str(slot))):
                self.revisions[path] = max(revision, self.revisions.get(path, 0))
                self.size.set(path, self._measure(path))

    def _measure(self, path: Path) -> int:
        """Bytes of ``path``'s value now; 0 for a path without one."""
        if path[0] == "storage":
            return self.storage.size(path[1])
        plain = path[0] == "navigation" or path[0] == "snapshots" and path[2] == "saved"
        value = self._encode(path, shared=not plain)
        return 0 if value is ABSENT else path_size(path, value, self.size.limits)

    def changes_since(self, revision: int) -> list[Change]:
        """Every path changed after ``revision``, tombstones included, as copies."""
        return [self._change(p, r) for p, r in self.revisions.items() if r > revision]

    def _change(self, path: Path, revision: int) -> Change:
        value = self._encode(path)
        return Change(path, None, revision, True) if value is ABSENT else Change(path, value, revision)

    def stored_changes(self) -> list[dict[str, object]]:
        """Every path as ``Change.to_json()`` would give it, holding this state's own objects:
        for a caller that encodes them to text before letting go of the session's lock."""
        out: list[dict[str, object]] = []
        for path, revision in self.revisions.items():
            value = self._encode(path, shared=True)
            if value is ABSENT:  # the path as a tuple: orjson writes it as a list
                out.append({"p": path, "v": None, "r": revision, "d": True})
            else:
                out.append({"p": path, "v": value, "r": revision})
        return out

    def holds(self, path: Path, value: object) -> bool:
        """Whether ``path`` holds ``value`` as JSON would carry it."""
        return self._encode(path, shared=True) == value

    def _encode(self, path: Path, *, shared: bool = False) -> object:
        """The JSON-ready value at ``path``; ``shared`` as for ``stored_changes``."""
        root = path[0]
        if root == "page":
            return self.pages.current
        if root == "navigation":  # jsontext writes a dataclass as its to_json() would
            return self.pages.entries if shared else [e.to_json() for e in self.pages.entries]
        if root == "forms":
            form = self.forms.states.get(path[1])
            value = ABSENT if form is None else form._data.get(path[2], ABSENT)
            return value if shared or value is ABSENT or type(value) in _IMMUTABLE else copy.deepcopy(value)
        if root == "storage":  # replaced on every change, never changed in place: no copy needed
            return self.storage.encoded(path[1])
        if root == "form_meta":
            form = self.forms.states.get(path[1])
            if form is None:
                return ABSENT
            saved = form.saved_data if shared else copy.deepcopy(form.saved_data)
            over = form.edited_over if shared else copy.deepcopy(form.edited_over)
            return {"saved_data": saved, "last_saved": iso(form.last_saved), "edited_over": over}
        history = self.forms.histories.get(path[1])
        return ABSENT if history is None else history.encode(path[2], shared=shared)

    def take(self, change: Change, *, checked: bool = True) -> bool:
        """Take one path's value if it is newer than ours; False when ours is as new.

        ``ValueError`` on a value of the wrong shape for its path, and
        (``checked``) ``SessionFull`` for one that would take the session's
        data past its limit, with nothing taken. Undo steps that must give way
        to it are dropped, stamped with its revision.
        """
        if change.revision <= self.revisions.get(change.path, 0):
            return False
        if checked and not change.deleted:
            self.size.check(change.path, path_size(change.path, change.value, self.size.limits))
        if change.deleted and change.path[0] == "storage":
            self.storage.drop(change.path[1])
        elif change.deleted:
            if change.path[0] not in ("forms", "form_meta", "snapshots"):
                raise ValueError(f"{list(change.path)} always holds a value; it cannot be deleted")
            self.forms.delete(change.path)
        else:
            self._decode(change.path, change.value, checked=checked)
        self.stamp([change.path], change.revision)
        return True

    def _decode(self, path: Path, value: JSON, *, checked: bool) -> None:
        root = path[0]
        if root == "page" and isinstance(value, str):
            self.pages.current = value
        elif root == "navigation" and isinstance(value, list) and value:
            self.pages.decode_entries(value)
        elif root == "forms" and len(path) == 3:
            decode(value)  # a value the app could not read back is refused here, not on reading
            self.forms.form(path[1])._data[path[2]] = copy.deepcopy(value)
        elif root == "form_meta" and len(path) == 2 and isinstance(value, dict):
            saved = value.get("saved_data") or {}
            over = value.get("edited_over") or {}
            if not isinstance(saved, dict) or not isinstance(over, dict):
                raise ValueError("saved_data and edited_over must be objects")
            form = self.forms.form(path[1])
            form.saved_data = copy.deepcopy(saved)
            form.edited_over = copy.deepcopy(over)
            form.last_saved = parse_time(value.get("last_saved"))
        elif root == "storage" and len(path) == 2:
            self.storage.take(path[1], value, checked=checked)
        elif root == "snapshots" and len(path) == 3:
            history = self.forms.histories.get(path[1]) or FormHistory()
            history.decode(path[2], value)
            self.forms.histories[path[1]] = history
        else:
            raise ValueError(f"value of the wrong shape for path {list(path)}")
