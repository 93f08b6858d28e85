"""Merging a browser's copy: bounded, newest-wins per path, and blind to server-owned fields."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from st_session_guard.protocol import (
    Limits,
    Rejected,
    RestoreMessage,
    check_bounds,
    is_finite_json,
    parse_change,
    read_message,
)
from st_session_guard.reconcile import apply_changes, as_change, restore_from_browser
from st_session_guard.session import Change, UserSession
from st_session_guard.values import decode

LIMITS = Limits()
NOW_MS = time.time_ns() // 1_000_000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
names = st.text(min_size=1, max_size=6)
field_paths = st.tuples(st.just("forms"), names, names)
revisions = st.integers(min_value=1, max_value=NOW_MS)
field_changes = st.builds(Change, field_paths, json_values.filter(is_finite_json), revisions)
"""Values as ``read_message`` lets them through: no infinity."""


def owned(session: UserSession) -> dict[str, Any]:
    """Everything the server alone may change."""
    return {
        "user_id": session.user_id,
        "roles": set(session.roles),
        "permissions": set(session.permissions),
        "metrics": asdict(session.metrics),
        "cache": session.cache_keys,
    }


def mirrored(session: UserSession) -> list[dict[str, Any]]:
    """The form fields as the browser would be sent them (other paths carry creation times)."""
    changes = (c.to_json() for c in session.changes_since(0) if c.path[0] == "forms")
    return sorted(changes, key=lambda c: str(c["p"]))


def restore(session: UserSession, raw: dict[str, Any]) -> RestoreMessage:
    """``raw`` as the server reads it, which must make it a restore."""
    message = read_message(raw, session.session_id, 0, LIMITS)
    assert message is not None and message["type"] == "restore"
    return message


def fresh() -> UserSession:
    session = UserSession(user_id="alice")
    session.add_role("viewer")
    session.add_permission("read")
    return session


@given(st.lists(field_changes, max_size=12))
def test_merging_the_same_copy_twice_changes_nothing_more(changes: list[Change]) -> None:
    once, twice = fresh(), fresh()
    apply_changes(once, changes)
    apply_changes(twice, changes)
    apply_changes(twice, changes)
    assert mirrored(once) == mirrored(twice)


@given(st.lists(field_changes, max_size=12, unique_by=lambda c: c.path), st.randoms())
def test_merging_disjoint_fields_does_not_depend_on_order(changes: list[Change], rng: Any) -> None:
    shuffled = list(changes)
    rng.shuffle(shuffled)
    a, b = fresh(), fresh()
    apply_changes(a, changes)
    apply_changes(b, shuffled)
    assert mirrored(a) == mirrored(b)


@given(st.lists(field_changes, min_size=1, max_size=20), st.randoms())
def test_the_newest_revision_of_each_field_wins(changes: list[Change], rng: Any) -> None:
    session = UserSession()
    shuffled = list(changes)
    rng.shuffle(shuffled)
    apply_changes(session, shuffled)
    for path in {c.path for c in changes}:
        newest = max(c.revision for c in changes if c.path == path)
        winners = [c.value for c in changes if c.path == path and c.revision == newest]
        assert session.path_revision(path) == newest
        # The form's data is decoded: a value comes back as the type it was stored from.
        assert session.get_form_state(path[1]).data[path[2]] in [decode(w) for w in winners]


raw_paths = st.lists(
    st.sampled_from(["roles", "permissions", "metrics", "user_id", "expires_at", "cache", "forms",
                     "page", "navigation", "snapshots", "form_meta", "__proto__"]) | st.text(max_size=5),
    max_size=4,
)
raw_changes = st.fixed_dictionaries(
    {"p": raw_paths, "v": json_values, "r": st.integers(min_value=-5, max_value=2**62) | json_values},
    optional={"d": st.booleans()},
)


@settings(max_examples=300)
@given(st.lists(raw_changes, max_size=10), st.lists(st.dictionaries(st.text(max_size=5), json_values)))
def test_no_browser_input_changes_a_server_owned_field(changes: list[Any], drafts: list[Any]) -> None:
    session = fresh()
    before = owned(session)
    message = {"v": 1, "seq": 1, "type": "restore", "session_id": session.session_id,
               "revision": 1, "changes": changes, "drafts": drafts}
    read = read_message(message, session.session_id, 0, LIMITS)
    if read is not None and read["type"] == "restore":
        restore_from_browser(session, read, {}, set())
    assert owned(session) == before


def test_a_revision_from_the_future_is_clamped_to_now() -> None:
    change = as_change(parse_change({"p": ["page"], "v": "x", "r": 2**52}, LIMITS))
    assert change.revision <= time.time_ns() // 1_000_000


def test_only_user_editable_roots_are_accepted() -> None:
    for path in (["roles"], ["permissions"], ["user_id"], ["forms", "a"], ["page", "x"], [], "page"):
        try:
            parse_change({"p": path, "v": "admin", "r": 1}, LIMITS)
        except Rejected:
            continue
        raise AssertionError(f"{path!r} was accepted")


def test_a_message_holding_nan_is_dropped_whole_and_changes_nothing(caplog: Any) -> None:
    session = fresh()
    message = {"v": 1, "seq": 1, "type": "restore", "session_id": session.session_id, "revision": 1,
               "drafts": [], "changes": [{"p": ["forms", "f", "x"], "v": "NAN", "r": 1}]}
    text = json.dumps(message).replace('"NAN"', "NaN")  # as the browser's JSON would carry it
    assert read_message(json.loads(text), session.session_id, 0, LIMITS) is None
    assert "non-finite" in caplog.text


def test_a_draft_for_a_widget_the_server_did_not_name_is_dropped() -> None:
    session = UserSession()
    raw = {"v": 1, "seq": 1, "type": "restore", "session_id": session.session_id, "revision": 0,
           "changes": [], "drafts": [{"key": "search", "value": "typed", "base": 1}]}
    outcome = restore_from_browser(session, restore(session, raw), {}, set())
    assert (outcome.applied, outcome.dropped) == (0, 1)


def test_oversized_and_deeply_nested_messages_are_rejected_without_recursion() -> None:
    deep: Any = "leaf"
    for _ in range(10_000):
        deep = [deep]
    for bad in (deep, "x" * (LIMITS.max_bytes + 1), list(range(LIMITS.max_items + 1))):
        try:
            check_bounds(bad, LIMITS)
        except Rejected:
            continue
        raise AssertionError("accepted an unbounded message")


def test_messages_for_another_session_or_already_applied_are_ignored(caplog: Any) -> None:
    session = fresh()
    base = {"v": 1, "type": "restore", "revision": 1, "changes": [], "drafts": []}
    assert read_message({**base, "seq": 1, "session_id": "other"}, session.session_id, 0, LIMITS) is None
    assert "another session" in caplog.text
    assert read_message({**base, "seq": 1, "session_id": session.session_id}, session.session_id, 1,
                        LIMITS) is None
    assert read_message({**base, "seq": 2, "session_id": session.session_id}, session.session_id, 1,
                        LIMITS) is not None


def test_excluded_fields_are_never_taken_from_the_browser() -> None:
    session = UserSession()
    path = ("forms", "login", "password")
    outcome = apply_changes(session, [Change(path, "secret", NOW_MS)], excluded={path})
    assert outcome.dropped == 1
    assert "password" not in session.get_form_state("login").data


def test_a_draft_is_taken_only_over_the_revision_it_was_typed_on_and_stamped_by_the_server() -> None:
    session = UserSession()
    path = ("forms", "f", "name")
    session.apply_change(Change(path, "committed", NOW_MS - 10_000))
    typed_on = session.path_revision(path)
    paths = {"name_key": path}
    raw = {"v": 1, "seq": 1, "type": "restore", "session_id": session.session_id, "revision": 0,
           "changes": [], "drafts": [{"key": "name_key", "value": "typed", "base": typed_on}]}
    session.update_form_data("f", "name", "committed later")  # the field moved on after the typing
    outcome = restore_from_browser(session, restore(session, raw), paths, set())
    assert outcome.applied == 0
    assert session.get_form_state("f").data["name"] == "committed later"

    raw["drafts"] = [{"key": "name_key", "value": "typed again", "base": session.path_revision(path)}]
    before = session.revision
    outcome = restore_from_browser(session, restore(session, raw), paths, set())
    assert outcome.applied == 1
    assert session.get_form_state("f").data["name"] == "typed again"
    assert session.path_revision(path) > before


def test_a_draft_that_ended_on_the_committed_value_changes_nothing() -> None:
    """Typing caught after its own commit comes back as a draft over the new revision: taking it
    would stamp the same value anew, a write and a mirror update for nothing."""
    session = UserSession()
    path = ("forms", "f", "name")
    session.update_form_data("f", "name", "Ada Lovelace")
    committed, revision = session.path_revision(path), session.revision
    raw = {"v": 1, "seq": 1, "type": "restore", "session_id": session.session_id, "revision": 0,
           "changes": [], "drafts": [{"key": "name_key", "value": "Ada Lovelace", "base": committed}]}
    outcome = restore_from_browser(session, restore(session, raw), {"name_key": path}, set())
    assert outcome.applied == 0
    assert (session.path_revision(path), session.revision) == (committed, revision)


def test_a_tampered_undo_line_or_step_is_dropped_and_undo_still_works(caplog: Any) -> None:
    session = UserSession()
    session.update_form_data("f", "x", 1)
    session.update_form_data("f", "x", 2)
    while (late := time.time_ns() // 1_000_000) <= session.revision:
        pass  # the browser's values must be newer than the edits to be weighed at all
    bad = [
        {"p": ["snapshots", "f", "line"], "v": {"lo": 0, "at": 5, "hi": 2}, "r": late},
        {"p": ["snapshots", "f", "line"], "v": {"lo": 0, "at": True, "hi": 2}, "r": late},
        {"p": ["snapshots", "f", "line"], "v": {"lo": 0, "at": 0, "hi": 51}, "r": late},
        {"p": ["snapshots", "f", "3"], "v": {"n": 4, "step": []}, "r": late},
        {"p": ["snapshots", "f", "07"], "v": {"n": 7, "step": []}, "r": late},
        {"p": ["snapshots", "f", "50"], "v": {"n": 50, "step": []}, "r": late},
        {"p": ["snapshots", "f", "1"], "v": {"n": 1, "step": [["x", 1]]}, "r": late},
        {"p": ["snapshots", "f", "saved"], "v": [{"data": "not an object"}], "r": late},
        {"p": ["snapshots", "f", "saved"], "v": [None], "r": late},
        {"p": ["navigation"], "v": [None], "r": late},
    ]
    message = {"v": 1, "seq": 1, "type": "restore", "session_id": session.session_id,
               "revision": late, "changes": bad, "drafts": []}
    outcome = restore_from_browser(session, restore(session, message), {}, set())
    assert (outcome.applied, outcome.dropped) == (0, len(bad))
    assert caplog.text.count("dropped browser value") == len(bad)
    assert session.undo_form("f") and session.undo_form("f")
    assert dict(session.get_form_state("f").data) == {}


def test_a_whole_history_at_one_path_as_older_releases_sent_it_is_refused() -> None:
    try:
        parse_change({"p": ["snapshots", "f"], "v": {"undo": [], "redo": []}, "r": 1}, LIMITS)
    except Rejected as error:
        assert "3 parts" in str(error)
    else:
        raise AssertionError("a two-part snapshots path was accepted")


def test_a_value_planted_a_century_ahead_yields_to_the_users_next_commit() -> None:
    session = UserSession()
    century = 100 * 365 * 24 * 3600 * 1000
    raw = {"v": 1, "seq": 1, "type": "restore", "session_id": session.session_id, "revision": 0,
           "drafts": [], "changes": [{"p": ["forms", "f", "name"], "v": "planted", "r": NOW_MS + century}]}
    restore_from_browser(session, restore(session, raw), {}, set())
    assert session.path_revision(("forms", "f", "name")) <= time.time_ns() // 1_000_000
    session.update_form_data("f", "name", "typed by the user")
    assert session.get_form_state("f").data["name"] == "typed by the user"
    sent = [c for c in session.changes_since(0) if c.path == ("forms", "f", "name")]
    assert [c.value for c in sent] == ["typed by the user"]


def test_a_deletion_of_the_page_or_the_history_is_dropped_with_a_warning(caplog: Any) -> None:
    session = fresh()
    page, history = session.current_page, session.navigation_history
    newer = session.revision + 1  # newer than anything the session holds
    outcome = apply_changes(session, [Change(("page",), None, newer, True),
                                      Change(("navigation",), None, newer, True)])
    assert (outcome.applied, outcome.dropped) == (0, 2)
    assert (session.current_page, session.navigation_history) == (page, history)
    assert "cannot be deleted" in caplog.text
