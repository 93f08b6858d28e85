"""``session.storage``: app state that is not a widget (a chat, a cart, filters), kept per key.

As NiceGUI's ``app.storage.user``: dicts and lists put into it are kept as
observable copies, so a nested change (``storage["messages"].append(m)``)
marks its key changed without reassignment. Each key is one mirrored path,
``["storage", key]``, merged with the browser mirror and the database by
revision like a form field. Values are what ``values.encode`` stores (JSON,
dates, times, tuples) inside the protocol's bounds (nesting, names); anything
else is a ``TypeError`` at the call, and a write that would take the
session past ``Limits.max_session_bytes`` (see ``session_size``) is
``StorageFull``: either way the storage is left as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final, SupportsIndex

from .history import ABSENT
from .protocol import Limits, Path, Rejected, TooLarge, check_bounds, parse_path, value_size
from .records import JSON
from .session_size import SessionFull
from .values import decode, encode

if TYPE_CHECKING:
    from typing_extensions import Self  # typing's own from Python 3.11

ROOT: Final = "storage"
DEFAULT_LIMITS: Final = Limits()


class StorageFull(SessionFull):
    """A write that would take a session's storage past its bounds; nothing was changed."""


class _Anchor:
    """What every container under one key shares: where to report a change.

    A key that is replaced or deleted gets a new anchor, so a container the
    app still holds from before changes nothing stored.
    """

    __slots__ = ("key", "storage")

    def __init__(self, storage: SessionStorage, key: str) -> None:
        self.storage, self.key = storage, key

    def commit(self) -> None:
        if self.storage._anchors.get(self.key) is self:
            self.storage._commit(self.key)


def _wrap(value: Any, anchor: _Anchor) -> Any:
    """``value`` with every dict and list in it an observable copy reporting to ``anchor``."""
    if isinstance(value, Mapping):
        return ObservableDict(anchor, value)
    if isinstance(value, list):
        return ObservableList(anchor, value)
    if isinstance(value, tuple):
        return tuple(_wrap(item, anchor) for item in value)
    return value


class ObservableList(list[Any]):
    """A list in ``session.storage``: every change in place is stored, or raises and is undone."""

    __slots__ = ("_anchor",)

    def __init__(self, anchor: _Anchor, items: Iterable[Any] = ()) -> None:
        super().__init__(_wrap(item, anchor) for item in items)
        self._anchor = anchor

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        return (list, (list(self),))  # a copy (copy, deepcopy, pickle) is a plain list

    def _change(self, change: Callable[[], Any]) -> Any:
        with self._anchor.storage._lock:
            before = list(self)
            result = change()
            try:
                self._anchor.commit()
            except BaseException:
                super().__init__(before)
                raise
            return result

    def __setitem__(self, index: Any, value: Any) -> None:
        wrapped = [_wrap(v, self._anchor) for v in value] if isinstance(index, slice) else _wrap(
            value, self._anchor)
        self._change(lambda: super(ObservableList, self).__setitem__(index, wrapped))

    def __delitem__(self, index: Any) -> None:
        self._change(lambda: super(ObservableList, self).__delitem__(index))

    def __iadd__(self, items: Iterable[Any]) -> Self:  # type: ignore[misc]
        self.extend(items)
        return self

    def __imul__(self, times: SupportsIndex) -> Self:
        self._change(lambda: super(ObservableList, self).__imul__(times))
        return self

    def append(self, item: Any) -> None:
        wrapped = _wrap(item, self._anchor)
        self._change(lambda: super(ObservableList, self).append(wrapped))

    def extend(self, items: Iterable[Any]) -> None:
        wrapped = [_wrap(item, self._anchor) for item in items]
        self._change(lambda: super(ObservableList, self).extend(wrapped))

    def insert(self, index: SupportsIndex, item: Any) -> None:
        wrapped = _wrap(item, self._anchor)
        self._change(lambda: super(ObservableList, self).insert(index, wrapped))

    def pop(self, index: SupportsIndex = -1) -> Any:
        return self._change(lambda: super(ObservableList, self).pop(index))

    def remove(self, item: Any) -> None:
        self._change(lambda: super(ObservableList, self).remove(item))

    def clear(self) -> None:
        self._change(lambda: super(ObservableList, self).clear())

    def sort(self, *, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> None:
        self._change(lambda: super(ObservableList, self).sort(key=key, reverse=reverse))

    def reverse(self) -> None:
        self._change(lambda: super(ObservableList, self).reverse())


class ObservableDict(dict[str, Any]):
    """A dict in ``session.storage``: every change in place is stored, or raises and is undone."""

    __slots__ = ("_anchor",)

    def __init__(self, anchor: _Anchor, items: Mapping[Any, Any]) -> None:
        super().__init__((key, _wrap(value, anchor)) for key, value in items.items())
        self._anchor = anchor

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        return (dict, (dict(self),))  # a copy (copy, deepcopy, pickle) is a plain dict

    def _change(self, change: Callable[[], Any]) -> Any:
        with self._anchor.storage._lock:
            before = dict(self)
            result = change()
            try:
                self._anchor.commit()
            except BaseException:
                super().clear()
                super().update(before)
                raise
            return result

    def __setitem__(self, key: str, value: Any) -> None:
        wrapped = _wrap(value, self._anchor)
        self._change(lambda: super(ObservableDict, self).__setitem__(key, wrapped))

    def __delitem__(self, key: str) -> None:
        self._change(lambda: super(ObservableDict, self).__delitem__(key))

    def __ior__(self, other: Any) -> Self:  # type: ignore[override, misc]
        self.update(other)
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        new = {key: _wrap(value, self._anchor) for key, value in dict(*args, **kwargs).items()}
        self._change(lambda: super(ObservableDict, self).update(new))

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: str, *default: Any) -> Any:
        return self._change(lambda: super(ObservableDict, self).pop(key, *default))

    def popitem(self) -> tuple[str, Any]:
        item: tuple[str, Any] = self._change(lambda: super(ObservableDict, self).popitem())
        return item

    def clear(self) -> None:
        self._change(lambda: super(ObservableDict, self).clear())


class SessionStorage(MutableMapping[str, Any]):
    """``session.storage``: storable values by key, each key persisted as its own path.

    Reads give the stored objects themselves (dicts and lists observable);
    ``copy.deepcopy`` of one is plain. Every write holds the session's lock.
    """

    def __init__(self, lock: threading.RLock, on_change: Callable[[Path], object],
                 limits: Limits = DEFAULT_LIMITS, room: Callable[[Path, int], None] | None = None) -> None:
        """``room(path, size)`` raises ``SessionFull`` where the session has no room for a value of
        ``size`` bytes at ``path``; without it, the storage alone is held to ``max_session_bytes``."""
        self._lock = lock
        self._room = room or self._own_room
        self._on_change = on_change
        self._limits = limits
        self._values: dict[str, Any] = {}
        self._anchors: dict[str, _Anchor] = {}
        self._encoded: dict[str, JSON] = {}
        """Each key's value as stored: replaced on every change, never changed in place, so shared."""
        self._sizes: dict[str, int] = {}
        self._total = 0

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"SessionStorage({self._values!r})"

    def __setitem__(self, key: str, value: Any) -> None:
        self._set(key, value, stored=True)

    def _set(self, key: str, value: Any, *, stored: bool) -> None:
        if not isinstance(key, str):
            raise TypeError(f"session.storage keys are strings, not {type(key).__name__}")
        with self._lock:
            parse_path([ROOT, key], self._limits)  # a key the browser would refuse is refused here
            before = self._values.get(key, ABSENT), self._anchors.get(key)
            anchor = _Anchor(self, key)
            self._values[key], self._anchors[key] = _wrap(value, anchor), anchor
            try:
                self._measure(key, encode(self._values[key]))
            except BaseException:
                self._put_back(key, *before)
                raise
            if stored:
                self._on_change((ROOT, key))

    def __delitem__(self, key: str) -> None:
        with self._lock:
            self.drop(key, missing_ok=False)
            self._on_change((ROOT, key))

    def setdefault(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, ``default`` if it has none; a change to the returned object
        (``setdefault("messages", []).append(m)``) is stored.

        The default itself is not stored, as a widget's default is not: a
        value the database or the browser's mirror restores later wins over it.
        """
        with self._lock:
            if key not in self._values:
                self._set(key, default, stored=False)
            return self._values[key]

    def _put_back(self, key: str, value: Any, anchor: _Anchor | None) -> None:
        if value is ABSENT or anchor is None:
            self._values.pop(key, None)
            self._anchors.pop(key, None)
        else:
            self._values[key], self._anchors[key] = value, anchor

    def _commit(self, key: str) -> None:
        """Store ``key``'s value as it is now; ``TypeError``/``StorageFull`` with nothing stored."""
        self._measure(key, encode(self._values[key]))
        self._on_change((ROOT, key))

    def _measure(self, key: str, encoded: JSON, *, checked: bool = True) -> None:
        try:
            size = value_size(ROOT) + value_size(key) + check_bounds(encoded, self._limits)
        except TooLarge as error:
            raise StorageFull(f"session.storage[{key!r}] is {error}") from None
        except Rejected as error:  # nested too deep, a refused key: no browser could take it back
            raise TypeError(f"session.storage[{key!r}] cannot be stored: {error}") from None
        try:
            if checked:
                self._room((ROOT, key), size)
        except SessionFull as error:
            raise StorageFull(f"session.storage[{key!r}]: {error}") from None
        self._total += size - self._sizes.get(key, 0)
        self._encoded[key], self._sizes[key] = encoded, size

    def _own_room(self, path: Path, size: int) -> None:
        total = self._total - self._sizes.get(path[1], 0) + size
        if total > self._limits.max_session_bytes:
            raise SessionFull(f"it would take the storage to {total} bytes, "
                              f"past max_session_bytes={self._limits.max_session_bytes}")

    def size(self, key: str) -> int:
        """Bytes ``key``'s value takes, as ``session_size`` counts a path; 0 for no value."""
        return self._sizes.get(key, 0)

    # -- for the session's stored and mirrored paths ------------------------

    def encoded(self, key: str) -> JSON:
        """``key``'s value as stored, or ``ABSENT``; the caller must not change it."""
        return self._encoded.get(key, ABSENT)

    def take(self, key: str, value: JSON, *, checked: bool = True) -> None:
        """Hold a stored or mirrored value (it won by revision); ``ValueError`` if it cannot be held
        (``checked``: nor fit the session)."""
        decoded = decode(value)
        self._measure(key, encode(decoded), checked=checked)
        anchor = _Anchor(self, key)
        self._values[key], self._anchors[key] = _wrap(decoded, anchor), anchor

    def drop(self, key: str, *, missing_ok: bool = True) -> None:
        """Forget ``key`` (a tombstone won by revision) without reporting it."""
        if key not in self._values and missing_ok:
            return
        del self._values[key]
        del self._anchors[key]
        self._encoded.pop(key, None)
        self._total -= self._sizes.pop(key, 0)
