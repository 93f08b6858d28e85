"""Cache keys a session tracks, and what depends on what, so one invalidation takes its dependents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class CacheKeys:
    """Key -> the keys it depends on; server-owned, never mirrored."""

    def __init__(self, keys: Mapping[str, Iterable[str]] | None = None) -> None:
        self.depends: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in (keys or {}).items()}

    def add(self, key: str, dependencies: Iterable[str] | None) -> None:
        self.depends[key] = frozenset(dependencies or ())

    def invalidate(self, pattern: str | None) -> set[str]:
        """Drop every key containing ``pattern`` (all keys for None) and all that depend on them."""
        gone = {key for key in self.depends if pattern is None or pattern in key}
        grew = True
        while grew:
            dependents = {k for k, deps in self.depends.items() if k not in gone and deps & gone}
            grew = bool(dependents)
            gone |= dependents
        for key in gone:
            del self.depends[key]
        return gone

    def to_json(self) -> dict[str, list[str]]:
        return {key: sorted(deps) for key, deps in self.depends.items()}
