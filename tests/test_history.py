"""A form's undo history: the line of steps, its slots and their stored form, on their own
and through the session that stamps them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from st_session_guard.history import (
    ABSENT,
    MAX_SNAPSHOTS,
    MAX_UNDO,
    FormHistory,
    FormSnapshot,
    step_from_json,
    step_to_json,
)
from st_session_guard.session import UserSession


def form_data(session: UserSession, form_id: str = "form") -> dict[str, Any]:
    return dict(session.get_form_state(form_id).data)


def test_a_step_keeps_which_side_of_a_field_was_absent_through_its_stored_form() -> None:
    step = [("new", ABSENT, 1), ("gone", "x", ABSENT), ("nulled", None, "y")]
    assert step_from_json(json.loads(json.dumps(step_to_json(step)))) == step


def test_a_step_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError):
        step_from_json([["field", True, 1]])
    with pytest.raises(ValueError):
        step_from_json({"field": 1})


def test_a_step_is_found_only_while_the_line_holds_it() -> None:
    history = FormHistory()
    for n in range(MAX_UNDO + 3):
        history.push([("f", n, n + 1)])
    assert history.step(history.hi) == [("f", MAX_UNDO + 2, MAX_UNDO + 3)]
    assert history.step(history.lo) is None  # pushed out: its slot holds a later step
    assert history.step(history.hi + 1) is None
    history.at -= 1
    history.push([("f", 0, 1)])
    assert history.step(history.hi + 1) is None  # a new step drops the redo side


def test_an_undo_line_or_slot_that_breaks_its_rules_is_refused_and_nothing_taken() -> None:
    history = FormHistory()
    for bad in ({"lo": 2, "at": 1, "hi": 3}, {"lo": 0, "at": 0, "hi": MAX_UNDO + 1}, {"lo": "0", "at": 0, "hi": 0}):
        with pytest.raises(ValueError):
            history.decode("line", bad)
    with pytest.raises(ValueError):
        history.decode("3", {"n": 4, "step": []})  # step 4 belongs in slot 4
    for spelling in ("03", "+3", str(MAX_UNDO), "x"):
        with pytest.raises(ValueError):
            history.decode(spelling, {"n": 3, "step": []})
    assert (history.lo, history.at, history.hi, history.slots) == (0, 0, 0, {})


def test_snapshots_are_bounded_oldest_first() -> None:
    history = FormHistory()
    for n in range(MAX_SNAPSHOTS + 5):
        history.add_snapshot(FormSnapshot(str(n), "form", "", {"n": n}))
    assert [s.snapshot_id for s in history.snapshots] == [str(n) for n in range(5, MAX_SNAPSHOTS + 5)]
    assert FormSnapshot.from_json(history.snapshots[0].to_json()) == history.snapshots[0]


def test_undo_history_is_bounded() -> None:
    session = UserSession()
    for n in range(MAX_UNDO + 10):
        session.update_form_data("form", "n", n)
    undone = 0
    while session.undo_form("form"):
        undone += 1
    assert undone == MAX_UNDO
    assert form_data(session) == {"n": 9}


def test_an_edit_mirrors_one_undo_step_however_long_the_history() -> None:
    session = UserSession()
    for n in range(3 * MAX_UNDO):
        session.update_form_data("form", "notes", f"draft number {n}")
    before = session.revision
    session.update_form_data("form", "notes", "the last draft")
    changes = session.changes_since(before)
    assert sorted(c.path[0] for c in changes) == ["forms", "snapshots", "snapshots"]
    assert len(json.dumps([c.to_json() for c in changes])) < 400
    undone = session.revision
    assert session.undo_form("form")
    assert {c.path for c in session.changes_since(undone)} == {
        ("forms", "form", "notes"), ("snapshots", "form", "line")
    }


def test_undo_and_redo_hold_across_the_reuse_of_undo_slots_and_a_stored_copy() -> None:
    # The reference: whole states on two bounded stacks, as undo is usually explained.
    states: list[dict[str, Any]] = [{}]
    redo: list[dict[str, Any]] = []
    session = UserSession()

    def edit(name: str, value: Any) -> None:
        states.append({**states[-1], name: value})
        del states[: -(MAX_UNDO + 1)]
        redo.clear()
        session.update_form_data("form", name, value)

    for n in range(2 * MAX_UNDO + 7):
        edit(f"f{n % 3}", n)
    for _ in range(12):
        assert session.undo_form("form")
        redo.append(states.pop())
    session = UserSession.from_dict(json.loads(json.dumps(session.to_dict())))
    for _ in range(5):
        assert session.redo_form("form")
        states.append(redo.pop())
        assert form_data(session) == states[-1]
    edit("f0", "new")
    assert not session.can_redo("form")
    while len(states) > 1:
        assert session.undo_form("form")
        states.pop()
        assert form_data(session) == states[-1]
    assert not session.can_undo("form")


def test_a_new_step_after_undo_empties_the_redo_slots_it_clears() -> None:
    history = FormHistory()
    for value in range(4):
        history.push([("f", value, value + 1)])
    history.at = 2
    assert history.push([("f", 2, 9)]) == ["3", "4"]
    assert sorted(history.slots) == [1, 2, 3]
    assert (history.lo, history.at, history.hi) == (0, 3, 3)


def test_steps_give_way_stale_slots_first_then_oldest_undo_then_newest_redo() -> None:
    history = FormHistory()
    for value in range(4):
        history.push([("f", value, value + 1)])
    history.slots[7] = {"n": 57, "step": []}  # a slot its line does not hold
    history.at = 2
    assert [history.drop_oldest() for _ in range(5)] == ["7", "1", "2", "4", "3"]
    assert history.drop_oldest() is None
    assert (history.lo, history.at, history.hi) == (2, 2, 2)
