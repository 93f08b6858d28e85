"""Merging two stored states of a session path by path: the newest change of each path stays."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from st_session_guard.stored_merge import Verdict, merge_states, merge_verdict


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


PATHS = [("page",), ("forms", "f", "x"), ("forms", "f", "y"), ("storage", "cart"), ("snapshots", "f", "1")]


@st.composite
def states(draw: st.DrawFn) -> dict[str, Any]:
    """A stored state: some of ``PATHS``, each at a revision no later than the session's."""
    paths = draw(st.lists(st.sampled_from(PATHS), unique=True))
    changes = [change(list(path), draw(st.integers(0, 3)), draw(st.integers(1, 6))) for path in paths]
    floor = max((c["r"] for c in changes), default=0)
    return {"revision": draw(st.integers(floor, 7)), "changes": changes}


@given(states(), states())
def test_the_verdict_told_from_ours_paths_alone_is_what_a_merge_of_the_whole_states_comes_to(
    ours: dict[str, Any], theirs: dict[str, Any]
) -> None:
    """The newest change of each path (a tie to the newer session) is all ours, all theirs, or both."""
    ours_newer = ours["revision"] > theirs["revision"]
    newest: dict[tuple[Any, ...], str] = {}
    for side, state in (("ours", ours), ("theirs", theirs)):
        for c in state["changes"]:
            other = next((o for o in (theirs if side == "ours" else ours)["changes"] if o["p"] == c["p"]), None)
            wins_tie = ours_newer == (side == "ours")
            if other is None or c["r"] > other["r"] or (c["r"] == other["r"] and wins_tie):
                newest[tuple(c["p"])] = side
    paths = {tuple(c["p"]): c["r"] for c in ours["changes"]}

    verdict = merge_verdict(ours["revision"], paths, theirs)

    if ours_newer and all(side == "ours" for side in newest.values()):
        assert verdict is Verdict.OURS and merge_states(ours, theirs) is ours
    elif not ours_newer and all(side == "theirs" for side in newest.values()):
        assert verdict is Verdict.THEIRS and merge_states(ours, theirs) is None
    else:
        assert verdict is Verdict.MERGE
        merged = merge_states(ours, theirs)
        assert merged is not None
        assert {tuple(c["p"]): c for c in merged["changes"]} == {
            path: next(c for c in (ours if side == "ours" else theirs)["changes"] if tuple(c["p"]) == path)
            for path, side in newest.items()
        }
