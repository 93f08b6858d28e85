"""How many bytes a session's user data takes, path by path, against ``Limits.max_session_bytes``.

Each mirrored path is counted as ``check_bounds`` counts a message (its
value and the names in its path), kept per path and summed as paths change:
an edit costs the size of what it changed, never a walk over the session.
Undo steps are counted apart, because they are what gives way: the session
drops its oldest steps to make room, and refuses only data (form values,
``storage``, snapshots) that would pass the limit with no undo step left.
"""

from __future__ import annotations

import math

from .protocol import Limits, Path, TooLarge, check_bounds, value_size


class SessionFull(ValueError):
    """A change that would take a session's data past ``max_session_bytes``; nothing was changed."""


def is_undo_step(path: Path) -> bool:
    """Whether ``path`` holds one undo step (``["snapshots", form, slot]``)."""
    return path[0] == "snapshots" and path[2] not in ("saved", "line")


def path_size(path: Path, value: object, limits: Limits) -> int:
    """Bytes of ``value`` at ``path``; past ``max_bytes`` counts as ``max_bytes + 1``.

    ``Rejected`` for a value no browser would take back (nested too deep, say).
    """
    names = sum(map(len, path)) + 2 * len(path)
    kind = type(value)
    if kind is str:  # most form values: counted as check_bounds counts them, without its walk
        return names + value_size(value)  # type: ignore[arg-type]
    if kind is bool or kind is int or kind is float and math.isfinite(value) or value is None:  # type: ignore[arg-type]
        return names + 8
    try:
        return names + check_bounds(value, limits)
    except TooLarge:
        return limits.max_bytes + 1


class SessionSize:
    """The bytes of one session's paths, and their sums: undo steps and everything else."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.sizes: dict[Path, int] = {}
        self.data = 0
        self.undo = 0

    def check(self, path: Path, size: int) -> None:
        """``SessionFull`` unless the data fits with ``path`` at ``size`` bytes, if every undo
        step gave way; an undo step is never refused (it gives way to itself)."""
        if is_undo_step(path):
            return
        data = self.data - self.sizes.get(path, 0) + size
        if data > self.limits.max_session_bytes:
            raise SessionFull(
                f"{list(path)} would take the session to {data} bytes, "
                f"past max_session_bytes={self.limits.max_session_bytes}"
            )

    def set(self, path: Path, size: int) -> None:
        """Count ``path`` at ``size`` bytes from now on (0 for a path with no value)."""
        delta = size - self.sizes.pop(path, 0)
        if size:
            self.sizes[path] = size
        if is_undo_step(path):
            self.undo += delta
        else:
            self.data += delta

    @property
    def over(self) -> bool:
        """Whether undo steps must give way: past their own budget, or the session past its limit."""
        return (self.undo > self.limits.max_undo_bytes
                or self.data + self.undo > self.limits.max_session_bytes)

    @property
    def total(self) -> int:
        return self.data + self.undo
