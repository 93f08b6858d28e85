"""Reading what the browser sends, and the args it is sent, against the path grammar and the bounds.

Whatever breaks a rule is ``Rejected``; nothing here raises anything else at
browser input.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeGuard

from .. import process_metrics
from .messages import (
    FORBIDDEN_NAMES,
    MAX_TOKEN,
    PATH_LENGTHS,
    PROTOCOL_VERSION,
    ChangeMessage,
    CookieSpec,
    DraftOut,
    FollowMessage,
    GuardArgs,
    GuardMessage,
    Limits,
    LimitsArgs,
    Path,
    Rejected,
    RestoreMessage,
    ResyncMessage,
    TooLarge,
    UnsavedSpec,
    limits_args,
)

logger = logging.getLogger("st_session_guard")


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
        kind = type(item)
        if kind is str or isinstance(item, str):
            size += value_size(item)  # type: ignore[arg-type]
        elif item is None or kind is bool or kind is int:  # the common scalars, before the slower checks
            size += 8
        elif kind is dict or isinstance(item, Mapping):
            size += 2
            for key, child in item.items():  # type: ignore[attr-defined]
                if not isinstance(key, str):
                    raise Rejected("object keys must be strings")
                if key in FORBIDDEN_NAMES:
                    raise Rejected(f"object key {key!r} is refused")
                size += value_size(key)
                stack.append((child, depth + 1))
        elif kind is list or isinstance(item, list):
            size += 2
            stack.extend((child, depth + 1) for child in item)  # type: ignore[attr-defined]
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


def is_revision(raw: object) -> TypeGuard[int]:
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
    if not is_revision(revision):
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
    if not is_revision(base):
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
    if not is_revision(revision):
        raise Rejected("revision must be a non-negative integer")
    return revision


def _read(raw: object, session_id: str, last_seq: int, limits: Limits) -> GuardMessage | None:
    check_bounds(raw, limits)
    if not isinstance(raw, Mapping) or raw.get("v") != PROTOCOL_VERSION:
        raise Rejected(f"not a version {PROTOCOL_VERSION} guard message")
    seq = raw.get("seq")
    if not is_revision(seq):
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
    if not isinstance(raw, Mapping) or not all(is_revision(raw.get(name)) for name in names):
        raise Rejected("args without limits")
    return limits_args(Limits(**{name: raw[name] for name in names}))


def _read_cookie(raw: object) -> CookieSpec | None:
    if not isinstance(raw, Mapping):
        return None
    name, value, max_age = raw.get("name"), raw.get("value"), raw.get("max_age")
    if isinstance(name, str) and isinstance(value, str) and is_revision(max_age):
        return {"name": name, "value": value, "max_age": max_age}
    return None


def read_drafts(raw: object, limits: Limits) -> dict[str, list[str]]:
    """The drafts entry of args as a browser takes it: widget key -> [form, field], names it can hold."""
    def ok(part: object) -> bool:
        return isinstance(part, str) and len(part) <= limits.max_name and part not in FORBIDDEN_NAMES

    if not isinstance(raw, Mapping):
        return {}
    return {key: list(at) for key, at in raw.items()
            if isinstance(at, list) and len(at) == 2 and all(ok(part) for part in at)}


def sendable_changes(changes: list[ChangeMessage], limits: Limits) -> list[ChangeMessage]:
    """The server's own changes that a browser takes from args (``parseArgs``), as they are;
    each other one is left out with a warning, as ``read_args`` leaves it out.

    Run after run a session sends the same paths, so each path's verdict is
    kept rather than parsed again (``_path_refusal``).
    """
    out: list[ChangeMessage] = []
    for change in changes:
        refusal = _path_refusal(tuple(change["p"]), limits)
        if refusal is None and not is_revision(change["r"]):
            refusal = "a revision is a non-negative integer"
        if refusal is None and not is_finite_json(change["v"]):
            refusal = "non-finite number"
        if refusal is None:
            out.append(change)
        else:
            logger.warning("st-session-guard: left a change out of the args: %s", refusal)
    return out


@functools.lru_cache(maxsize=4096)
def _path_refusal(path: tuple[str, ...], limits: Limits) -> str | None:
    """Why a browser refuses ``path`` (``parse_path``); None when it takes it."""
    try:
        parse_path(list(path), limits)
    except Rejected as error:
        return str(error)
    return None


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
        "revision": revision if is_revision(revision) else 0,
        "base": base if is_revision(base) else 0,
        "changes": _parse_each(changes, _read_sendable, limits, "change") if isinstance(changes, list) else [],
        "cookie": _read_cookie(raw.get("cookie")),
        "limits": limits_raw,
        "drafts": read_drafts(raw.get("drafts"), limits),
        "excluded": [key for key in excluded if isinstance(key, str)] if isinstance(excluded, list) else [],
        "ack": ack if is_revision(ack) else None,
        "ended": _read_ids(raw.get("ended"), limits),
        "unsaved": _read_unsaved(raw.get("unsaved")),
    }


def _read_unsaved(raw: object) -> UnsavedSpec | None:
    if not isinstance(raw, Mapping):
        return None
    name, stored, max_chars = raw.get("name"), raw.get("stored"), raw.get("max_chars")
    if isinstance(name, str) and name != "" and is_revision(stored) and is_revision(max_chars):
        return {"name": name, "stored": stored, "max_chars": max_chars}
    return None


def _read_ids(raw: object, limits: Limits) -> list[str]:
    if not isinstance(raw, list):
        return []
    return [item for item in raw if isinstance(item, str) and 0 < len(item) <= limits.max_name]
