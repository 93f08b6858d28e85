"""The browser<->server protocol: its messages, path grammar, bounds and record migration.

The TypeScript twin is ``frontend/src/protocol.ts``; both are held to the same
verdicts by the vectors in ``tests/protocol_vectors`` (``tests/test_protocol.py``
and ``frontend/tests/protocol.test.ts``). ``docs/protocol.md`` says what each
field means. Pure: no Streamlit, no SQL, no clock.
"""

from __future__ import annotations

from .checks import (
    MAX_INTEGER,
    check_bounds,
    is_finite_json,
    is_revision,
    parse_change,
    parse_draft,
    parse_path,
    read_args,
    read_drafts,
    read_message,
    sendable_changes,
    value_size,
)
from .messages import (
    FORBIDDEN_NAMES,
    MAX_TOKEN,
    PATH_LENGTHS,
    PROTOCOL_VERSION,
    SCHEMA_VERSION,
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
from .migration import (
    STEPS,
    V1_PATH_LENGTHS,
    V2_UNDO_SLOTS,
    upgrade_changes,
    upgrade_state,
)

__all__ = [
    "FORBIDDEN_NAMES",
    "MAX_INTEGER",
    "MAX_TOKEN",
    "PATH_LENGTHS",
    "PROTOCOL_VERSION",
    "SCHEMA_VERSION",
    "STEPS",
    "V1_PATH_LENGTHS",
    "V2_UNDO_SLOTS",
    "ChangeMessage",
    "CookieSpec",
    "DraftOut",
    "FollowMessage",
    "GuardArgs",
    "GuardMessage",
    "Limits",
    "LimitsArgs",
    "Path",
    "Rejected",
    "RestoreMessage",
    "ResyncMessage",
    "TooLarge",
    "UnsavedSpec",
    "check_bounds",
    "is_finite_json",
    "is_revision",
    "limits_args",
    "parse_change",
    "parse_draft",
    "parse_path",
    "read_args",
    "read_drafts",
    "read_message",
    "sendable_changes",
    "upgrade_changes",
    "upgrade_state",
    "value_size",
]
