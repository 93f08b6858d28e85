"""Merging two stored states of a session path by path: the newest change of each path stays."""

from __future__ import annotations

from st_session_guard.stored_merge import merge_states


def change(path: list[object], value: object, revision: int) -> dict[str, object]:
    return {"p": path, "v": value, "r": revision}


def test_each_path_keeps_its_newest_change_and_the_rest_follows_the_newer_session() -> None:
    ours = {"revision": 30, "roles": ["ours"], "changes": [
        change(["forms", "f", "name"], "Ada", 30), change(["forms", "f", "email"], "old", 5),
    ]}
    theirs = {"revision": 20, "roles": ["theirs"], "changes": [
        change(["forms", "f", "email"], "ada@example.org", 20), change(["page"], "home", 1),
    ]}

    merged = merge_states(ours, theirs)

    assert merged["revision"] == 30 and merged["roles"] == ["ours"]
    assert {tuple(c["p"]): c["v"] for c in merged["changes"]} == {
        ("forms", "f", "name"): "Ada", ("forms", "f", "email"): "ada@example.org", ("page",): "home",
    }
    assert [c["r"] for c in merged["changes"]] == sorted(c["r"] for c in merged["changes"])
    assert merge_states(theirs, ours) == merged


def test_a_tie_keeps_the_newer_sessions_change_and_a_tombstone_is_a_change() -> None:
    ours = {"revision": 9, "changes": [change(["forms", "f", "x"], None, 7) | {"d": True}]}
    theirs = {"revision": 8, "changes": [change(["forms", "f", "x"], "kept?", 7)]}
    (only,) = merge_states(ours, theirs)["changes"]
    assert only.get("d") is True


def test_a_state_holding_everything_of_the_other_is_kept_as_it_is_and_the_reverse_adds_nothing() -> None:
    ours = {"revision": 9, "changes": [change(["page"], "home", 2), change(["forms", "f", "x"], 1, 9)]}
    theirs = {"revision": 5, "changes": [change(["page"], "home", 2), change(["forms", "f", "x"], 0, 5)]}
    assert merge_states(ours, theirs) is ours
    assert merge_states(theirs, ours) is None
