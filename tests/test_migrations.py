"""Rows written by earlier releases still restore, undo history and all."""

from __future__ import annotations

import json
from typing import Any

from st_session_guard.migrations import V2_UNDO_SLOTS, upgrade
from st_session_guard.session import MAX_UNDO, SCHEMA_VERSION, UserSession

WHEN = "2026-11-24T10:00:00+00:00"

LAYOUT_1: dict[str, Any] = {
    # As release 1 stored it: name set to "Ada", then "Ada L", email set and undone.
    "schema": 1,
    "session_id": "a" * 64,
    "user_id": "ada",
    "created_at": WHEN,
    "revision": 1764000000005,
    "changes": [
        {"p": ["page"], "v": "profile", "r": 1764000000001},
        {"p": ["navigation"], "v": [{"page": "profile", "params": {}, "timestamp": WHEN}],
         "r": 1764000000001},
        {"p": ["forms", "contact", "name"], "v": "Ada L", "r": 1764000000002},
        {"p": ["forms", "contact", "email"], "v": None, "r": 1764000000004, "d": True},
        {"p": ["snapshots", "contact"], "r": 1764000000005, "v": {
            "snapshots": [{"snapshot_id": "s1", "form_id": "contact", "description": "first",
                           "data": {"name": "Ada"}, "created_at": WHEN}],
            "undo": [[["name", False, None, True, "Ada"]], [["name", True, "Ada", True, "Ada L"]]],
            "redo": [[["email", False, None, True, "ada@example.org"]]],
        }},
        {"p": ["snapshots", "gone"], "v": None, "r": 1764000000003, "d": True},
    ],
    "validation": {},
    "cache": {},
    "draft_widgets": {},
    "roles": ["admin"],
    "permissions": [],
    "metrics": {"page_views": 3, "interaction_count": 4, "started_at": WHEN, "last_activity": WHEN},
}


def test_a_layout_1_row_restores_with_its_undo_redo_and_snapshots() -> None:
    session = UserSession.from_dict(json.loads(json.dumps(LAYOUT_1)))

    assert session.to_dict()["schema"] == SCHEMA_VERSION
    assert session.current_page == "profile"
    assert dict(session.get_form_state("contact").data) == {"name": "Ada L"}
    assert [s.description for s in session.form_snapshots("contact")] == ["first"]
    assert session.redo_form("contact")
    assert dict(session.get_form_state("contact").data) == {"name": "Ada L", "email": "ada@example.org"}
    assert session.undo_form("contact") and session.undo_form("contact")
    assert dict(session.get_form_state("contact").data) == {"name": "Ada"}
    assert session.undo_form("contact")
    assert dict(session.get_form_state("contact").data) == {}
    assert not session.can_undo("contact")
    assert session.roles == {"admin"}


def test_a_layout_1_history_longer_than_the_slots_keeps_the_newest_steps() -> None:
    steps = [[["n", True, n, True, n + 1]] for n in range(80)]
    state = {**LAYOUT_1, "changes": [
        {"p": ["forms", "f", "n"], "v": 80, "r": 10},
        {"p": ["snapshots", "f"], "v": {"snapshots": [], "undo": steps, "redo": []}, "r": 10},
    ]}
    session = UserSession.from_dict(state)
    undone = 0
    while session.undo_form("f"):
        undone += 1
    assert undone == MAX_UNDO
    assert dict(session.get_form_state("f").data) == {"n": 30}


def test_the_migration_numbers_steps_into_the_slots_the_session_uses() -> None:
    assert V2_UNDO_SLOTS == MAX_UNDO


def test_a_layout_no_step_knows_is_left_for_the_session_to_refuse() -> None:
    for schema in (SCHEMA_VERSION + 1, "1", True, None, [1]):
        state = {**LAYOUT_1, "schema": schema}
        assert upgrade(state) is state
