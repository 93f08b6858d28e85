"""The protocol as Python reads it, held to the shared vectors the browser's suite reads too."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from st_session_guard.protocol import (
    SCHEMA_VERSION,
    V2_UNDO_SLOTS,
    Limits,
    Rejected,
    check_bounds,
    parse_path,
    read_args,
    read_message,
    sendable_changes,
    upgrade_changes,
    upgrade_state,
)
from st_session_guard.session import MAX_UNDO, UserSession

VECTORS = Path(__file__).parent / "protocol_vectors"
LIMITS = Limits()


def vectors(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text())
    return data


def cases(name: str) -> Any:
    return pytest.mark.parametrize("case", vectors(name)["cases"], ids=lambda case: case["name"])


def lenient(text: str) -> Any:
    """JSON text as the server gets the browser's messages: NaN and Infinity become floats."""
    return json.loads(text)


def strict(text: str) -> Any:
    """JSON text as a browser parses the args: NaN and Infinity are errors."""

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    value = json.loads(text, parse_constant=refuse)
    if not all(math.isfinite(x) for x in _floats(value)):
        raise ValueError("a number a double cannot hold")
    return value


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _floats(v)]
    if isinstance(value, list):
        return [x for v in value for x in _floats(v)]
    return []


def generate(gen: dict[str, int]) -> Any:
    """A large bound-case from its compact description in the vectors."""
    ((kind, n),) = gen.items()
    if kind == "bytes":
        return "x" * (n - 2)
    if kind == "depth":
        value: Any = []
        for _ in range(n - 1):
            value = [value]
        return value
    if kind == "items":
        return [0] * (n - 1)
    message = {"v": 1, "seq": 1, "type": "restore", "session_id": "S", "revision": 1, "changes": [], "drafts": []}
    if kind == "changes":
        message["changes"] = [{"p": ["page"], "v": 1, "r": 1} for _ in range(n)]
    elif kind == "drafts":
        message["drafts"] = [{"key": "k", "value": "x", "base": 1} for _ in range(n)]
    else:
        raise AssertionError(f"unknown generator {kind}")
    return message


def test_the_limits_in_the_vectors_are_the_servers_defaults() -> None:
    assert vectors("bounds.json")["limits"] == asdict(LIMITS)


def verdict(check: Callable[[Any, Limits], object], value: Any) -> str:
    try:
        check(value, LIMITS)
    except Rejected:
        return "reject"
    return "accept"


@cases("paths.json")
def test_each_path_vector_gets_its_verdict(case: dict[str, Any]) -> None:
    assert verdict(parse_path, case["path"]) == case["expect"]


@cases("bounds.json")
def test_each_bound_vector_gets_its_verdict(case: dict[str, Any]) -> None:
    if "gen" in case:
        value = generate(case["gen"])
    else:
        value = lenient(case["json"]) if "json" in case else case["value"]
    assert verdict(check_bounds, value) == case["expect"]


@cases("messages.json")
def test_each_message_vector_gets_its_verdict(case: dict[str, Any]) -> None:
    if "json" in case:
        raw = lenient(case["json"])
    elif isinstance(case["message"], dict) and "gen" in case["message"]:
        raw = generate(case["message"]["gen"])
    else:
        raw = case["message"]
    message = read_message(raw, "S", case.get("last_seq", 0), LIMITS)
    assert ("accept" if message is not None else "reject") == case["expect"]
    if message is not None and message["type"] == "restore":
        assert len(message["changes"]) == case.get("changes", len(message["changes"]))
        assert len(message["drafts"]) == case.get("drafts", len(message["drafts"]))


@cases("args.json")
def test_each_args_vector_gets_its_verdict(case: dict[str, Any]) -> None:
    try:
        raw = strict(case["json"]) if "json" in case else case["args"]
    except ValueError:
        args = None
    else:
        args = read_args(raw)
    assert ("accept" if args is not None else "reject") == case["expect"]
    if args is not None:
        assert len(args["changes"]) == case.get("changes", len(args["changes"]))
        assert len(args["drafts"]) == case.get("drafts", len(args["drafts"]))
        assert (args["cookie"] is not None) == case.get("cookie", args["cookie"] is not None)
        assert len(args["ended"]) == case.get("ended", len(args["ended"]))
        assert (args["unsaved"] is not None) == case.get("unsaved", args["unsaved"] is not None)


@cases("records.json")
def test_each_record_vector_gets_its_verdict_and_layout(case: dict[str, Any]) -> None:
    try:
        upgraded: Any = upgrade_changes(case["schema"], case["changes"], LIMITS)
    except Rejected:
        upgraded = None
    assert ("accept" if upgraded is not None else "reject") == case["expect"]
    if upgraded is not None:
        assert upgraded == case["upgraded"]


def test_args_leave_out_a_change_holding_a_number_json_cannot_carry(caplog: Any) -> None:
    nan = {"p": ["forms", "f", "x"], "v": [1.0, math.nan], "r": 1}
    args = read_args({"v": 1, "session_id": "S", "limits": asdict(LIMITS),
                      "changes": [nan, {"p": ["page"], "v": "home", "r": 2}]})
    assert args is not None and args["changes"] == [{"p": ["page"], "v": "home", "r": 2}]
    assert "non-finite" in caplog.text


def test_the_servers_own_changes_are_left_out_of_args_as_read_args_leaves_them_out(caplog: Any) -> None:
    changes: list[Any] = [
        {"p": ["forms", "f", "x"], "v": [1.0, math.nan], "r": 1},
        {"p": ["forms", "f", "k" * (LIMITS.max_name + 1)], "v": "long", "r": 2},
        {"p": ["forms", "__proto__", "x"], "v": 1, "r": 3},
        {"p": ["forms", "f", "gone"], "v": None, "r": 4, "d": True},
        {"p": ["page"], "v": "home", "r": 5},
    ]
    kept = changes[3:]
    args = read_args({"v": 1, "session_id": "S", "limits": asdict(LIMITS), "changes": changes})
    assert args is not None and args["changes"] == kept
    for _ in range(2):  # the second time from the verdicts kept for each path
        caplog.clear()
        assert sendable_changes(changes, LIMITS) == kept
        assert [r.getMessage().rsplit(": ", 1)[1] for r in caplog.records] == [
            "non-finite number", "path part too long", "path part is a refused name"]


# -- stored state of older layouts (the server's rows) ----------------------

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
        assert upgrade_state(state) is state
