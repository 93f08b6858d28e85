"""A session as the database stores it: the layout of its state column, and back.

The layout is versioned (``SCHEMA_VERSION``); ``protocol.upgrade_state`` brings rows of
older layouts up to it. The session's user-editable paths are stored as
the ``Change`` records the browser mirror receives, so a restore does not
tell the two apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from . import jsontext
from .cache_keys import CacheKeys
from .metrics import SessionMetrics
from .protocol import SCHEMA_VERSION, upgrade_state
from .records import JSON, Change, StoredState
from .timestamps import parse_time

if TYPE_CHECKING:
    from .session import UserSession

class UnsupportedSchema(ValueError):
    """Stored state written by a layout this release cannot read."""


def state_of(session: UserSession) -> dict[str, object]:
    """Everything stored, for ``jsontext`` to encode before the session's lock is let go.

    It holds the session's own objects, dataclasses and datetimes, which
    ``jsontext`` writes in native code. The caller holds the lock.
    """
    return {
        "schema": SCHEMA_VERSION,
        "session_id": session.session_id,
        "user_id": session.user_id,
        "created_at": session.created_at,
        "revision": session.revision,
        "validation": {
            form_id: {"errors": form.errors, "warnings": form.warnings}
            for form_id, form in session._forms.states.items()
            if form.errors or form.warnings
        },
        "cache": session._cache.to_json(),
        "draft_widgets": {key: list(at) for key, at in session._draft_widgets.items()},
        "roles": sorted(session.roles),
        "permissions": sorted(session.permissions),
        "metrics": session.metrics,  # a dataclass: jsontext writes its fields
        "changes": session._editable.stored_changes(),
    }


def stored_of(session: UserSession) -> StoredState:
    """``state_of`` as JSON text, with the columns stored beside it; the caller holds the lock.

    Encoded straight from the session's own objects, with no defensive
    copies: nothing outside sees the tree before it is text.
    """
    state = state_of(session)
    return StoredState(
        text=jsontext.dumps(state).decode(),
        revision=session.revision,
        user_id=session.user_id,
        created_at=session.created_at,
        roles=tuple(cast(list[str], state["roles"])),
        permissions=tuple(cast(list[str], state["permissions"])),
        metrics=session.metrics.copy(),
        paths=dict(session._editable.revisions),
    )


def rebuild(cls: type[UserSession], raw: Mapping[str, JSON]) -> UserSession:
    """The session ``raw`` stores; ``UnsupportedSchema`` for a layout from another release."""
    raw = upgrade_state(raw)
    if raw.get("schema") != SCHEMA_VERSION:
        raise UnsupportedSchema(f"stored session schema {raw.get('schema')!r} is not {SCHEMA_VERSION}")
    session = cls.unrevisioned(str(raw["session_id"]), raw.get("user_id"), "home")
    session.created_at = parse_time(raw.get("created_at")) or session.created_at
    for item in raw.get("changes", []):
        change = Change(tuple(item["p"]), item.get("v"), int(item["r"]), bool(item.get("d")))
        session.apply_change(change, checked=False)  # stored here before: a lower limit now loses none of it
    for form_id, messages in raw.get("validation", {}).items():
        form = session._forms.form(form_id)
        form.errors = dict(messages.get("errors", {}))
        form.warnings = dict(messages.get("warnings", {}))
    session._cache = CacheKeys(raw.get("cache", {}))
    session._draft_widgets = {k: (v[0], v[1]) for k, v in raw.get("draft_widgets", {}).items()}
    session.roles = set(raw.get("roles", []))
    session.permissions = set(raw.get("permissions", []))
    session.metrics = SessionMetrics.from_json(raw.get("metrics", {}))
    session.revision = int(raw.get("revision", session.revision))
    return session
