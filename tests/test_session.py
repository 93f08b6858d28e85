"""The session domain, without Streamlit or a database: properties of undo, snapshots and
storage, and the plain behaviour of navigation, cache keys, roles, dirty forms and metrics."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from st_session_guard.session import (
    MAX_HISTORY,
    SCHEMA_VERSION,
    UnsupportedSchema,
    UserSession,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(["name", "email", "age", "notes", "tags"])
edits = st.lists(st.tuples(field_names, json_values), min_size=1, max_size=15)


def form_data(session: UserSession, form_id: str = "form") -> dict[str, Any]:
    return dict(session.get_form_state(form_id).data)


def edited(changes: list[tuple[str, Any]]) -> UserSession:
    session = UserSession(user_id="u")
    for name, value in changes:
        session.update_form_data("form", name, value)
    return session


# -- properties ----------------------------------------------------------------


@given(edits, st.integers(min_value=1, max_value=20))
def test_undo_then_redo_is_the_identity_on_form_data(changes: list[tuple[str, Any]], steps: int) -> None:
    session = edited(changes)
    before = form_data(session)
    undone = 0
    while undone < steps and session.undo_form("form"):
        undone += 1
    for _ in range(undone):
        assert session.redo_form("form")
    assert form_data(session) == before
    assert not session.can_redo("form")


@given(edits, field_names, json_values)
def test_undo_takes_back_exactly_the_last_change(
    changes: list[tuple[str, Any]], name: str, value: Any
) -> None:
    session = edited(changes)
    before = form_data(session)
    if session.update_form_data("form", name, value):
        assert session.undo_form("form")
    assert form_data(session) == before


@given(edits, edits)
def test_restoring_a_snapshot_gives_exactly_its_data(
    first: list[tuple[str, Any]], then: list[tuple[str, Any]]
) -> None:
    session = edited(first)
    snapshot = session.create_form_snapshot("form", "checkpoint")
    for name, value in then:
        session.update_form_data("form", name, value)
    session.update_form_data("form", "only_after_the_snapshot", 1)
    before_restore = form_data(session)

    assert session.restore_form_snapshot(snapshot.snapshot_id)
    assert form_data(session) == dict(snapshot.data) == json.loads(json.dumps(snapshot.data))
    assert session.undo_form("form")
    assert form_data(session) == before_restore


operations = st.lists(
    st.one_of(
        st.tuples(st.just("update"), field_names, json_values),
        st.tuples(st.just("navigate"), st.sampled_from(["home", "a", "b"]), json_values),
        st.tuples(st.just("back")),
        st.tuples(st.just("undo")),
        st.tuples(st.just("redo")),
        st.tuples(st.just("snapshot"), st.text(max_size=10)),
        st.tuples(st.just("restore")),
        st.tuples(st.just("save")),
        st.tuples(st.just("role"), st.sampled_from(["admin", "user"])),
        st.tuples(st.just("permission"), st.sampled_from(["read", "write"])),
        st.tuples(st.just("cache"), st.sampled_from(["a", "ab", "b"]), st.sampled_from(["a", "b"])),
        st.tuples(st.just("invalidate"), st.sampled_from(["a", "b"])),
    ),
    max_size=25,
)


def apply(session: UserSession, operation: tuple[Any, ...]) -> None:
    kind, *args = operation
    if kind == "update":
        session.update_form_data("form", args[0], args[1])
    elif kind == "navigate":
        session.navigate_to(args[0], {"p": args[1]})
    elif kind == "back":
        session.go_back()
    elif kind == "undo":
        session.undo_form("form")
    elif kind == "redo":
        session.redo_form("form")
    elif kind == "snapshot":
        session.create_form_snapshot("form", args[0])
    elif kind == "restore":
        snapshots = session.form_snapshots("form")
        if snapshots:
            session.restore_form_snapshot(snapshots[0].snapshot_id)
    elif kind == "save":
        session.mark_form_saved("form")
    elif kind == "role":
        session.add_role(args[0])
    elif kind == "permission":
        session.add_permission(args[0])
    elif kind == "cache":
        session.add_cache_key(args[0], {args[1]} if args[1] != args[0] else None)
    elif kind == "invalidate":
        session.invalidate_cache_keys(args[0])


@settings(max_examples=150)
@given(operations)
def test_to_dict_and_from_dict_round_trip_through_json(ops: list[tuple[Any, ...]]) -> None:
    session = UserSession(user_id="u")
    for operation in ops:
        apply(session, operation)
    stored = json.loads(session.to_stored().text)
    assert stored == session.to_dict()
    restored = UserSession.from_dict(stored)

    assert restored.to_dict() == session.to_dict()
    assert form_data(restored) == form_data(session)
    assert restored.current_page == session.current_page
    assert restored.navigation_history == session.navigation_history
    assert restored.can_undo("form") == session.can_undo("form")
    assert restored.can_redo("form") == session.can_redo("form")
    assert restored.dirty_forms == session.dirty_forms
    assert restored.revision == session.revision
    # and the restored copy behaves like the original from here on
    while session.undo_form("form"):
        assert restored.undo_form("form")
        assert form_data(restored) == form_data(session)
    assert not restored.can_undo("form")


@settings(max_examples=150)
@given(operations)
def test_a_write_stores_each_path_as_the_mirror_receives_it(ops: list[tuple[Any, ...]]) -> None:
    """A write encodes straight from the session's objects (dataclasses, datetimes) where the
    browser's messages go through ``to_json()``; a restore must not tell them apart."""
    session = UserSession(user_id="u")
    for operation in ops:
        apply(session, operation)
    stored = {tuple(c["p"]): c for c in json.loads(session.to_stored().text)["changes"]}
    mirrored = {c.path: json.loads(json.dumps(c.to_json())) for c in session.changes_since(0)}
    assert stored == mirrored


# -- navigation ----------------------------------------------------------------


def test_navigation_records_history_and_goes_back() -> None:
    session = UserSession(current_page="start")
    assert session.go_back() is False
    session.navigate_to("profile", {"id": "123"})
    session.navigate_to("settings")
    assert session.current_page == "settings"
    assert [e.page for e in session.navigation_history] == ["start", "profile", "settings"]
    assert session.navigation_history[1].params == {"id": "123"}
    assert session.go_back() is True
    assert session.current_page == "profile"
    assert session.go_back() is True
    assert session.go_back() is False
    assert session.current_page == "start"


def test_navigation_history_is_bounded() -> None:
    session = UserSession()
    for n in range(MAX_HISTORY + 30):
        session.navigate_to(f"page{n}")
    history = session.navigation_history
    assert len(history) == MAX_HISTORY
    assert history[-1].page == f"page{MAX_HISTORY + 29}"


# -- cache keys ----------------------------------------------------------------


def test_invalidating_a_key_invalidates_everything_that_depends_on_it() -> None:
    session = UserSession()
    session.add_cache_key("user_data_123")
    session.add_cache_key("profile_123", dependencies={"user_data_123"})
    session.add_cache_key("avatar_123", dependencies={"profile_123"})
    session.add_cache_key("settings_9")
    assert session.invalidate_cache_keys("user_data") == {
        "user_data_123",
        "profile_123",
        "avatar_123",
    }
    assert session.cache_keys == {"settings_9"}
    assert session.invalidate_cache_keys("nothing") == set()
    assert session.invalidate_cache_keys() == {"settings_9"}
    assert session.cache_keys == frozenset()


# -- roles and permissions -----------------------------------------------------


def test_roles_and_permissions_are_granted_checked_and_revoked() -> None:
    session = UserSession()
    revision = session.revision
    session.add_role("admin")
    session.add_permission("delete")
    assert session.has_role("admin") and session.has_permission("delete")
    assert session.revision > revision
    session.remove_role("admin")
    session.remove_permission("delete")
    assert not session.has_role("admin") and not session.has_permission("delete")


def test_server_owned_fields_never_travel_as_browser_changes() -> None:
    session = UserSession(user_id="u")
    session.add_role("admin")
    session.add_permission("write")
    session.add_cache_key("k")
    roots = {change.path[0] for change in session.changes_since(0)}
    assert roots <= {"page", "navigation", "forms", "form_meta", "snapshots"}


# -- forms -----------------------------------------------------------------------


def test_a_form_is_dirty_until_saved_and_clean_again_when_changes_are_undone() -> None:
    session = UserSession()
    session.update_form_data("contact", "name", "Ada")
    assert session.dirty_forms == {"contact"}
    assert session.get_form_state("contact").is_dirty
    session.mark_form_saved("contact")
    assert session.dirty_forms == set()
    assert session.get_form_state("contact").last_saved is not None
    session.update_form_data("contact", "name", "Grace")
    assert session.dirty_forms == {"contact"}
    session.undo_form("contact")
    assert session.dirty_forms == set()


def test_an_unchanged_value_is_no_change() -> None:
    session = UserSession()
    assert session.update_form_data("form", "field", "x") is True
    revision = session.revision
    assert session.update_form_data("form", "field", "x") is False
    assert session.revision == revision
    assert len(session.to_dict()["changes"]) == len(session.changes_since(0))


def test_form_data_is_read_only_and_copied_in() -> None:
    session = UserSession()
    tags = ["a"]
    session.update_form_data("form", "tags", tags)
    tags.append("b")
    assert session.get_form_state("form").data["tags"] == ["a"]
    with pytest.raises(TypeError):
        session.get_form_state("form").data["tags"] = []  # type: ignore[index]


def test_a_change_notifies_the_bound_callback_with_the_session() -> None:
    seen: list[int] = []
    session = UserSession()
    session.bind(lambda s: seen.append(s.revision))
    session.update_form_data("form", "field", 1)
    session.navigate_to("next")
    assert seen == sorted(seen) and len(seen) == 2
    session.bind(None)
    session.update_form_data("form", "field", 2)
    assert len(seen) == 2


# -- metrics -----------------------------------------------------------------------


def test_metrics_count_page_views_and_interactions() -> None:
    session = UserSession()
    session.navigate_to("a")
    session.record_page_view()
    session.update_form_data("form", "x", 1)
    session.update_form_data("form", "x", 2)
    session.update_form_data("form", "x", 2)  # no change, no interaction
    assert session.metrics.page_views == 2
    assert session.metrics.interaction_count == 2
    assert session.metrics.last_activity >= session.metrics.started_at
    assert session.metrics.session_duration >= timedelta(0)


# -- storage -----------------------------------------------------------------------


def test_a_stored_state_from_another_layout_is_refused() -> None:
    state = UserSession().to_dict()
    assert state["schema"] == SCHEMA_VERSION
    with pytest.raises(UnsupportedSchema):
        UserSession.from_dict({**state, "schema": SCHEMA_VERSION + 1})


# -- values JSON has no type for -------------------------------------------------------

DATED: dict[str, Any] = {
    "day": date(2027, 3, 3),
    "at": datetime(2027, 3, 3, 9, 30, tzinfo=timezone.utc),
    "alarm": time(7, 15),
    "span": (date(2027, 1, 1), date(2027, 2, 1)),
    "log": [datetime(2027, 3, 3, 10, 0)],
    "nested": {"when": date(2027, 3, 4)},
}


def test_dates_and_times_come_back_as_themselves_from_every_api_and_a_stored_copy() -> None:
    session = UserSession()
    for name, value in DATED.items():
        session.update_form_data("form", name, value)
    session.navigate_to("booking", {"day": date(2027, 3, 3)})
    snapshot = session.create_form_snapshot("form")
    mirrored = json.dumps([c.to_json() for c in session.changes_since(0)], allow_nan=False)

    restored = UserSession.from_dict(json.loads(session.to_stored().text))

    for copy in (session, restored):
        assert form_data(copy) == DATED
        assert {n: type(v) for n, v in form_data(copy).items()} == {n: type(v) for n, v in DATED.items()}
        assert copy.navigation_history[-1].params == {"day": date(2027, 3, 3)}
        assert copy.form_snapshots("form")[0].data == DATED
    assert snapshot.data == DATED
    assert "2027-03-03" in mirrored  # plain JSON: the browser can parse it


def test_a_value_that_cannot_be_stored_is_refused_at_the_call_and_changes_nothing() -> None:
    session = UserSession()
    revision = session.revision
    for bad in (object(), float("nan"), {1: "one"}, [date(2027, 3, 3), {2}]):
        with pytest.raises(TypeError):
            session.update_form_data("form", "field", bad)
    with pytest.raises(TypeError):
        session.navigate_to("page", {"at": object()})
    assert session.revision == revision
    assert form_data(session) == {}
    assert session.current_page == "home"
