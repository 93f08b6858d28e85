"""The browser<->server protocol: its messages, path grammar, bounds and record migration.

The TypeScript twin is ``frontend/src/protocol.ts``; both are held to the same
verdicts by the vectors in ``tests/protocol_vectors`` (``tests/test_protocol.py``
and ``frontend/tests/protocol.test.ts``). ``docs/protocol.md`` says what each
field means. Pure: no Streamlit, no SQL, no clock.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypedDict, TypeGuard

from . import process_metrics

logger = logging.getLogger("st_session_guard")

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
    """Size of one session's ``storage`` (keys and values, as ``check_bounds`` counts them).
    Server-side only; under ``max_bytes`` so a whole mirror record still fits one message."""


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


def value_size(text: str) -> int:
    return len(text) + 2


def check_bounds(value: object, limits: Limits) -> int:
    """Walk ``value`` without recursion and stop at the first bound or rule it breaks; its size.

    Size counts each string and key as its length plus 2, each container as 2
    and each other scalar as 8: the same on both sides, whatever the encoding.
    """
    size = 0
    items = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        items += 1
        if depth > limits.max_depth:
            raise Rejected(f"nested deeper than {limits.max_depth}")
        if items > limits.max_items:
            raise Rejected(f"more than {limits.max_items} values")
        if isinstance(item, str):
            size += value_size(item)
        elif isinstance(item, Mapping):
            size += 2
            for key, child in item.items():
                if not isinstance(key, str):
                    raise Rejected("object keys must be strings")
                if key in FORBIDDEN_NAMES:
                    raise Rejected(f"object key {key!r} is refused")
                size += value_size(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            size += 2
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise Rejected("non-finite number")
        elif item is None or isinstance(item, (bool, int, float)):
            size += 8
        else:
            raise Rejected(f"{type(item).__name__} is not JSON")
        if size > limits.max_bytes:
            raise TooLarge(f"larger than {limits.max_bytes} bytes")
    return size


MAX_INTEGER: Final = 2**53 - 1
"""The largest integer a browser holds exactly; revisions and counts stay below it."""


def _is_revision(raw: object) -> TypeGuard[int]:
    return isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= MAX_INTEGER


def parse_path(raw: object, limits: Limits, lengths: Mapping[str, int] = PATH_LENGTHS) -> Path:
    """A path of the grammar ``lengths`` fixes (the current one unless a migration says otherwise)."""
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) for p in raw):
        raise Rejected("a path is a non-empty list of strings")
    root = raw[0]
    if root not in lengths:
        raise Rejected(f"path root {root!r} is not user-editable")
    if len(raw) != lengths[root]:
        raise Rejected(f"a {root!r} path has {lengths[root]} parts")
    if any(len(p) > limits.max_name for p in raw):
        raise Rejected("path part too long")
    if any(p in FORBIDDEN_NAMES for p in raw):
        raise Rejected("path part is a refused name")
    return tuple(raw)


def parse_change(
    raw: object, limits: Limits, lengths: Mapping[str, int] = PATH_LENGTHS
) -> ChangeMessage:
    """A well-formed change: a path, a revision, and a value unless it is a deletion."""
    if not isinstance(raw, Mapping):
        raise Rejected("a change is an object")
    path = parse_path(raw.get("p"), limits, lengths)
    revision = raw.get("r")
    if not _is_revision(revision):
        raise Rejected("a revision is a non-negative integer")
    if raw.get("d") is True:
        return {"p": list(path), "v": None, "r": revision, "d": True}
    if "v" not in raw:
        raise Rejected("a change without a value or d: true")
    return {"p": list(path), "v": raw["v"], "r": revision}


def parse_draft(raw: object, limits: Limits) -> DraftOut:
    if not isinstance(raw, Mapping):
        raise Rejected("a draft is an object")
    key, value, base = raw.get("key"), raw.get("value"), raw.get("base")
    if not isinstance(key, str) or not key or len(key) > limits.max_name:
        raise Rejected("a draft's key is a non-empty widget key")
    if not isinstance(value, str):
        raise Rejected("a draft's value is text")
    if not _is_revision(base):
        raise Rejected("a draft's base is a non-negative integer")
    return {"key": key, "value": value, "base": base}


def _parse_each(
    raw: list[Any], parse: Callable[[object, Limits], Any], limits: Limits, what: str
) -> list[Any]:
    """The items that parse; each other one is dropped with a warning."""
    out = []
    for item in raw:
        try:
            out.append(parse(item, limits))
        except Rejected as error:
            logger.warning("st-session-guard: dropped a browser %s: %s", what, error)
    return out


def _read_revision(raw: Mapping[str, Any]) -> int:
    revision = raw.get("revision")
    if not _is_revision(revision):
        raise Rejected("revision must be a non-negative integer")
    return revision


def _read(raw: object, session_id: str, last_seq: int, limits: Limits) -> GuardMessage | None:
    check_bounds(raw, limits)
    if not isinstance(raw, Mapping) or raw.get("v") != PROTOCOL_VERSION:
        raise Rejected(f"not a version {PROTOCOL_VERSION} guard message")
    seq = raw.get("seq")
    if not _is_revision(seq):
        raise Rejected("seq must be an integer, not negative")
    if raw.get("session_id") != session_id:
        raise Rejected("message for another session")
    kind = raw.get("type")
    if kind not in ("restore", "resync", "follow"):
        raise Rejected(f"unknown message type {kind!r}")
    if kind == "follow":
        token = raw.get("token")
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
            raise Rejected(f"a follow message carries a token of at most {MAX_TOKEN} characters")
        message: GuardMessage = FollowMessage(
            v=PROTOCOL_VERSION, seq=seq, type="follow", session_id=session_id,
            revision=_read_revision(raw), token=token,
        )
    elif kind == "resync":
        revision = _read_revision(raw)
        message = ResyncMessage(
            v=PROTOCOL_VERSION, seq=seq, type="resync", session_id=session_id, revision=revision
        )
    else:
        changes, drafts = raw.get("changes", []), raw.get("drafts", [])
        if not isinstance(changes, list) or len(changes) > limits.max_changes:
            raise Rejected(f"changes must be a list of at most {limits.max_changes}")
        if not isinstance(drafts, list) or len(drafts) > limits.max_drafts:
            raise Rejected(f"drafts must be a list of at most {limits.max_drafts}")
        revision = _read_revision(raw)
        message = RestoreMessage(
            v=PROTOCOL_VERSION, seq=seq, type="restore", session_id=session_id, revision=revision,
            changes=_parse_each(changes, parse_change, limits, "change"),
            drafts=_parse_each(drafts, parse_draft, limits, "draft"),
        )
    return message if seq > last_seq else None


def read_message(raw: object, session_id: str, last_seq: int, limits: Limits) -> GuardMessage | None:
    """The message, with its malformed changes and drafts dropped, if it is one to act on.

    None for no message, one already applied (``seq`` not above ``last_seq``),
    and (with a logged warning) for anything that breaks a rule.
    """
    if raw is None:
        return None
    try:
        return _read(raw, session_id, last_seq, limits)
    except Rejected as error:
        logger.warning("st-session-guard: dropped a browser message: %s", error)
        process_metrics.count_refused_message()
        return None


def is_finite_json(value: object) -> bool:
    """Whether ``value`` holds no NaN or infinity, which JSON cannot carry to a browser."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return True


def _read_limits(raw: object) -> LimitsArgs:
    names = LimitsArgs.__annotations__
    if not isinstance(raw, Mapping) or not all(_is_revision(raw.get(name)) for name in names):
        raise Rejected("args without limits")
    return limits_args(Limits(**{name: raw[name] for name in names}))


def _read_cookie(raw: object) -> CookieSpec | None:
    if not isinstance(raw, Mapping):
        return None
    name, value, max_age = raw.get("name"), raw.get("value"), raw.get("max_age")
    if isinstance(name, str) and isinstance(value, str) and _is_revision(max_age):
        return {"name": name, "value": value, "max_age": max_age}
    return None


def _read_drafts(raw: object, limits: Limits) -> dict[str, list[str]]:
    def ok(part: object) -> bool:
        return isinstance(part, str) and len(part) <= limits.max_name and part not in FORBIDDEN_NAMES

    if not isinstance(raw, Mapping):
        return {}
    return {key: list(at) for key, at in raw.items()
            if isinstance(at, list) and len(at) == 2 and all(ok(part) for part in at)}


def _read_sendable(raw: object, limits: Limits) -> ChangeMessage:
    change = parse_change(raw, limits)
    if not is_finite_json(change.get("v")):
        raise Rejected("non-finite number")
    return change


def read_args(raw: object) -> GuardArgs | None:
    """Args as the browser reads them (``parseArgs`` in protocol.ts), or None when unusable.

    Malformed changes, and changes holding a number JSON cannot carry, are
    left out with a warning: one such value must never break the guard.
    """
    if not isinstance(raw, Mapping) or raw.get("v") != PROTOCOL_VERSION:
        return None
    session_id = raw.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        return None
    try:
        limits_raw = _read_limits(raw.get("limits"))
    except Rejected:
        return None
    limits = Limits(**limits_raw)
    revision, base, ack = raw.get("revision"), raw.get("base"), raw.get("ack")
    changes, excluded = raw.get("changes"), raw.get("excluded")
    return {
        "v": PROTOCOL_VERSION,
        "session_id": session_id,
        "revision": revision if _is_revision(revision) else 0,
        "base": base if _is_revision(base) else 0,
        "changes": _parse_each(changes, _read_sendable, limits, "change") if isinstance(changes, list) else [],
        "cookie": _read_cookie(raw.get("cookie")),
        "limits": limits_raw,
        "drafts": _read_drafts(raw.get("drafts"), limits),
        "excluded": [key for key in excluded if isinstance(key, str)] if isinstance(excluded, list) else [],
        "ack": ack if _is_revision(ack) else None,
        "ended": _read_ids(raw.get("ended"), limits),
    }


def _read_ids(raw: object, limits: Limits) -> list[str]:
    if not isinstance(raw, list):
        return []
    return [item for item in raw if isinstance(item, str) and 0 < len(item) <= limits.max_name]


# -- stored change lists of older layouts ----------------------------------

V1_PATH_LENGTHS: Final = {**PATH_LENGTHS, "snapshots": 2}
V2_UNDO_SLOTS: Final = 50
"""Undo slots per form in layout 2."""


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


def upgrade_changes(schema: object, raw: object, limits: Limits = Limits()) -> list[ChangeMessage]:
    """A change list of layout ``schema`` in the current layout; ``Rejected`` for an unknown or malformed one."""
    if not _is_revision(schema) or not 1 <= schema <= SCHEMA_VERSION:
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
