"""One size limit per session, on every path in, with undo steps giving way first."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from st_session_guard import SessionFull, StorageFull
from st_session_guard.config import configured_limits, resolve_settings, settings
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.protocol import Limits
from st_session_guard.reconcile import apply_changes
from st_session_guard.session import Change, UserSession
from st_session_guard.session_size import path_size

SMALL = Limits.for_session_bytes(20_000)
"""20 KB of data, 10 KB of it for undo steps."""


def small_session() -> UserSession:
    return UserSession(limits=SMALL)


def recount(session: UserSession) -> tuple[int, int]:
    """(data, undo) bytes counted from scratch over every path, as a check on the running sums."""
    editable = session._editable
    data = undo = 0
    for path in editable.revisions:
        size = editable._measure(path)
        if path[0] == "snapshots" and path[2] not in ("saved", "line"):
            undo += size
        else:
            data += size
    return data, undo


def undo_count(session: UserSession, form_id: str) -> int:
    count = 0
    while session.undo_form(form_id):
        count += 1
    return count


@pytest.fixture
def limit_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The environment, with the cached settings and limits read again after any change to it."""
    settings.cache_clear()
    configured_limits.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    settings.cache_clear()
    configured_limits.cache_clear()


def test_a_30kb_text_area_committed_40_times_keeps_the_session_under_its_limit() -> None:
    session = UserSession(limits=Limits())
    for i in range(40):
        session.update_form_data("f", "notes", f"{i:02d}" + "x" * 30_000)
    size = session._editable.size
    assert size.total <= Limits().max_session_bytes
    assert size.undo <= Limits().max_undo_bytes
    assert (size.data, size.undo) == recount(session)
    assert session.get_form_state("f").data["notes"].startswith("39")
    assert undo_count(session, "f") == 8  # 8 steps of 60 KB: the 500 KB undo budget
    assert session.get_form_state("f").data["notes"].startswith("31")


def test_the_oldest_undo_steps_give_way_and_are_sent_as_tombstones() -> None:
    session = small_session()
    for i in range(10):
        session.update_form_data("f", "notes", f"{i}" + "y" * 1_500)
    history = session._forms.histories["f"]
    assert history.lo > 0 and history.hi == 10
    gone = {c.path for c in session.changes_since(0) if c.deleted}
    assert ("snapshots", "f", str(history.lo % 50)) in gone
    assert session.undo_form("f")
    assert session.get_form_state("f").data["notes"].startswith("8")


def test_a_step_larger_than_the_undo_budget_leaves_nothing_to_undo_but_the_edit_stands() -> None:
    session = small_session()
    session.update_form_data("f", "notes", "a")
    assert session.update_form_data("f", "notes", "b" * 11_000)  # past the 10 KB undo budget
    assert session.get_form_state("f").data["notes"] == "b" * 11_000
    assert not session.can_undo("f")
    assert session._editable.size.undo == 0


def test_a_value_past_the_limit_raises_and_changes_nothing() -> None:
    session = small_session()
    session.update_form_data("f", "notes", "kept")
    revision = session.revision
    with pytest.raises(SessionFull, match="max_session_bytes=20000"):
        session.update_form_data("f", "notes", "z" * 25_000)
    assert session.get_form_state("f").data["notes"] == "kept"
    assert session.revision == revision
    assert session.undo_form("f") and not session.get_form_state("f").data


def test_forms_and_storage_share_one_limit() -> None:
    session = small_session()
    session.update_form_data("f", "notes", "n" * 12_000)
    with pytest.raises(StorageFull, match="max_session_bytes"):
        session.storage["chat"] = "c" * 9_000
    assert "chat" not in session.storage
    session.storage["chat"] = "c" * 7_000
    with pytest.raises(SessionFull):
        session.update_form_data("g", "other", "o" * 2_000)
    assert "other" not in session.get_form_state("g").data
    assert session._editable.size.data <= SMALL.max_session_bytes


def test_saving_or_snapshotting_a_form_past_the_limit_raises_and_keeps_the_form_as_it_was() -> None:
    session = small_session()
    session.update_form_data("f", "notes", "s" * 12_000)
    with pytest.raises(SessionFull):
        session.mark_form_saved("f")
    assert session.get_form_state("f").is_dirty
    assert session.get_form_state("f").last_saved is None
    with pytest.raises(SessionFull):
        session.create_form_snapshot("f", "too big")
    assert session.form_snapshots("f") == []
    assert (session._editable.size.data, session._editable.size.undo) == recount(session)


def test_restoring_a_snapshot_past_the_limit_raises_and_leaves_the_form_as_it_was() -> None:
    session = small_session()
    session.update_form_data("f", "a", "a" * 6_000)
    snapshot = session.create_form_snapshot("f", "with a")
    session.update_form_data("f", "a", "")
    session.storage["fill"] = "s" * 8_000
    with pytest.raises(SessionFull):
        session.restore_form_snapshot(snapshot.snapshot_id)
    assert session.get_form_state("f").data["a"] == ""
    assert [s.snapshot_id for s in session.form_snapshots("f")] == [snapshot.snapshot_id]
    assert (session._editable.size.data, session._editable.size.undo) == recount(session)


def test_a_browser_value_past_the_limit_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    session = small_session()
    session.update_form_data("f", "notes", "server")
    big = Change(("forms", "f", "other"), "b" * 25_000, session.revision + 1)
    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        outcome = apply_changes(session, [big])
    assert outcome.dropped == 1 and outcome.applied == 0
    assert "max_session_bytes" in caplog.text
    assert dict(session.get_form_state("f").data) == {"notes": "server"}


def test_a_browser_value_makes_room_by_dropping_undo_steps_not_by_being_dropped() -> None:
    session = small_session()
    for i in range(6):
        session.update_form_data("f", "notes", f"{i}" + "u" * 1_500)
    latest = Change(("forms", "g", "draft"), "d" * 14_000, session.revision + 1)
    assert apply_changes(session, [latest]).applied == 1
    assert session.get_form_state("g").data["draft"] == "d" * 14_000
    assert session._editable.size.total <= SMALL.max_session_bytes
    assert (session._editable.size.data, session._editable.size.undo) == recount(session)


def test_a_restored_history_past_its_byte_budget_keeps_only_its_newest_steps() -> None:
    source = UserSession(limits=Limits())
    for i in range(12):
        source.update_form_data("f", "notes", f"{i:02d}" + "r" * 1_000)
    restored = small_session()
    outcome = apply_changes(restored, source.changes_since(0))
    assert outcome.dropped == 0
    assert restored._editable.size.undo <= SMALL.max_undo_bytes
    assert restored.get_form_state("f").data["notes"].startswith("11")
    assert 0 < undo_count(restored, "f") < 12


def test_a_stored_session_past_a_lowered_limit_loses_no_data(limit_env: pytest.MonkeyPatch) -> None:
    stored = UserSession(limits=Limits())
    stored.update_form_data("f", "notes", "k" * 30_000)
    stored.storage["chat"] = ["m" * 1_000] * 5
    limit_env.setenv("SESSION_GUARD_MAX_SESSION_BYTES", "20000")
    rebuilt = UserSession.from_dict(stored.to_dict())
    assert rebuilt._editable.size.limits.max_session_bytes == 20_000
    assert rebuilt.get_form_state("f").data["notes"] == "k" * 30_000
    assert rebuilt.storage["chat"] == ["m" * 1_000] * 5
    assert not rebuilt.can_undo("f")


def test_the_limit_is_a_setting_and_max_bytes_rises_with_it(limit_env: pytest.MonkeyPatch) -> None:
    assert resolve_settings().max_session_bytes == 1_000_000
    limit_env.setenv("SESSION_GUARD_MAX_SESSION_BYTES", "5000000")
    limits = configured_limits()
    assert (limits.max_session_bytes, limits.max_bytes, limits.max_undo_bytes) == (5_000_000, 10_000_000, 2_500_000)
    assert UserSession()._editable.size.limits == limits
    assert resolve_settings(max_session_bytes=3_000).max_session_bytes == 3_000
    with pytest.raises(ValueError, match="at least 1000"):
        resolve_settings(max_session_bytes=10)


def test_a_malformed_limit_in_the_environment_is_ignored_with_a_warning(
    limit_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    limit_env.setenv("SESSION_GUARD_MAX_SESSION_BYTES", "lots")
    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        assert resolve_settings().max_session_bytes == Limits().max_session_bytes
    assert "SESSION_GUARD_MAX_SESSION_BYTES" in caplog.text


def test_a_path_counts_its_names_and_its_value_as_the_browser_does() -> None:
    assert path_size(("forms", "f", "n"), "abc", Limits()) == 7 + 3 + 3 + 5


def test_a_wrapped_widget_past_the_limit_keeps_its_stored_value_and_the_script_runs(
    engine: SessionPersistenceEngine, limit_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    limit_env.setenv("SESSION_GUARD_MAX_SESSION_BYTES", "20000")
    app = AppTest.from_string(
        """
import streamlit as st
import st_session_guard as sg
session = sg.bootstrap_session()
sg.text_area("Notes", key="notes", form_id="f")
st.session_state["sid"] = session.session_id
""",
        default_timeout=30,
    ).run()
    app.text_area(key="notes").input("first").run()
    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        app.text_area(key="notes").input("w" * 25_000).run()
    assert not app.exception, app.exception
    assert "not persisting widget 'notes'" in caplog.text
    engine.flush_all()
    stored = engine.recover_session(app.session_state["sid"])
    assert stored is not None
    assert stored.get_form_state("f").data["notes"] == "first"


def test_navigation_params_past_the_limit_raise_and_keep_the_trail_as_it_was() -> None:
    session = small_session()
    session.navigate_to("search", {"q": "small"})
    before = (session.current_page, session.navigation_history, session.revision)

    with pytest.raises(SessionFull):
        session.navigate_to("results", {"rows": "x" * 30_000})

    assert (session.current_page, session.navigation_history, session.revision) == before
    assert recount(session)[0] <= SMALL.max_session_bytes
    session.navigate_to("results", {"rows": "fits"})
    assert session.current_page == "results"
