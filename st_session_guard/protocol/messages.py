"""The protocol's messages, versions, path roots and bounds, as types both sides share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, TypedDict

PROTOCOL_VERSION: Final = 1
SCHEMA_VERSION: Final = 2
"""Layout of a stored change list: the server's state column and the browser's mirror record."""

PATH_LENGTHS: Final = {
    "page": 1, "navigation": 1, "forms": 3, "form_meta": 2, "snapshots": 3, "storage": 2,
}
"""The user-editable roots and the exact number of parts of a path under each."""
FORBIDDEN_NAMES: Final = frozenset({"__proto__", "constructor", "prototype"})
"""Names a JavaScript object would treat as its machinery, not as data."""

Path = tuple[str, ...]


@dataclass(frozen=True)
class Limits:
    """Every bound on what the browser sends; the server sends them to the browser too."""

    max_bytes: int = 2_000_000
    """Size of one message as ``value_size`` counts it; larger messages are dropped whole."""
    max_depth: int = 32
    max_items: int = 100_000
    """Containers and scalars in one message."""
    max_changes: int = 10_000
    """Paths in one message: a form with a full undo history alone has 52 (line, saved, 50 steps)."""
    max_drafts: int = 1_000
    max_name: int = 256
    """Length of a form id, field name, path part or widget key."""
    debounce_ms: int = 150
    """How long the browser coalesces its own writes (drafts) before storing them."""
    max_session_bytes: int = 1_000_000
    """Size of one session's user data (form values and bookkeeping, navigation, snapshots,
    undo steps, ``storage``; each path's value and names as ``check_bounds`` counts them).
    Server-side only; at most half of ``max_bytes`` (see ``for_session_bytes``), so a whole
    mirror record with its paths and revisions still fits one message."""

    @property
    def max_undo_bytes(self) -> int:
        """What a session's undo steps may take together: half of ``max_session_bytes``."""
        return self.max_session_bytes // 2

    @classmethod
    def for_session_bytes(cls, max_session_bytes: int) -> Limits:
        """The default bounds with ``max_session_bytes`` set, ``max_bytes`` raised to twice it
        where the default is smaller; ``ValueError`` for a limit below 1 KB."""
        if max_session_bytes < 1_000:
            raise ValueError(f"max_session_bytes must be at least 1000, not {max_session_bytes}")
        return cls(max_bytes=max(cls.max_bytes, 2 * max_session_bytes), max_session_bytes=max_session_bytes)


class LimitsArgs(TypedDict):
    max_bytes: int
    max_depth: int
    max_items: int
    max_changes: int
    max_drafts: int
    max_name: int
    debounce_ms: int


class ChangeMessage(TypedDict, total=False):
    p: list[str]
    v: Any
    r: int
    d: bool


class CookieSpec(TypedDict):
    name: str
    value: str
    max_age: int


class UnsavedSpec(TypedDict):
    """Where the browser keeps the changes the database may not hold yet (docs/protocol.md)."""

    name: str
    """The cookie's name."""
    stored: int
    """Every path at or below this revision is in the database, as far as this server knows."""
    max_chars: int
    """The longest cookie value the browser may write; what does not fit stays in the mirror only."""


class GuardArgs(TypedDict):
    v: int
    session_id: str
    revision: int
    base: int
    changes: list[ChangeMessage]
    cookie: CookieSpec | None
    limits: LimitsArgs
    drafts: dict[str, list[str]]
    excluded: list[str]
    ack: int | None
    ended: list[str]
    """Ids this tab's browser must forget: their mirror, drafts and cookie are never written again."""
    unsaved: UnsavedSpec | None


class DraftOut(TypedDict):
    key: str
    value: str
    base: int
    """The server's revision of the draft's path when the draft was typed over it."""


class RestoreMessage(TypedDict):
    v: int
    seq: int
    type: Literal["restore"]
    session_id: str
    revision: int
    changes: list[ChangeMessage]
    drafts: list[DraftOut]


class ResyncMessage(TypedDict):
    v: int
    seq: int
    type: Literal["resync"]
    session_id: str
    revision: int


class FollowMessage(TypedDict):
    """The tab's session ended in another tab: move to the session the browser's cookie now names."""

    v: int
    seq: int
    type: Literal["follow"]
    session_id: str
    revision: int
    token: str
    """The signed cookie the browser holds now: the only proof of a right to that session."""


GuardMessage = RestoreMessage | ResyncMessage | FollowMessage

MAX_TOKEN: Final = 256
"""Length of a cookie token in a follow message; a longer one is no token of ours."""


class Rejected(ValueError):
    """Input from the browser that breaks a rule; the message says which."""


class TooLarge(Rejected):
    """A value past ``max_bytes``: the one rule a smaller value of the same shape keeps."""


def limits_args(limits: Limits) -> LimitsArgs:
    """The bounds as the component args carry them."""
    return LimitsArgs(
        max_bytes=limits.max_bytes, max_depth=limits.max_depth, max_items=limits.max_items,
        max_changes=limits.max_changes, max_drafts=limits.max_drafts, max_name=limits.max_name,
        debounce_ms=limits.debounce_ms,
    )
