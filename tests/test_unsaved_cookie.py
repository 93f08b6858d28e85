"""The unsaved-changes cookie as the server reads it: only the restore message the guard writes,
for the session the signed cookie names, under the protocol's bounds.

The guard's side (what it writes, when it removes it) is tested in
frontend/tests/unsaved.test.ts; the whole path after a real crash in
e2e/test_crash_window.py.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from st_session_guard.config import configured_limits
from st_session_guard.connection import Connection
from st_session_guard.reconcile import apply_changes, as_change
from st_session_guard.session import UserSession
from st_session_guard.unsaved_cookie import MAX_CHARS, merge_unsaved, read_unsaved, take_back
from tests.support import unsaved_cookie_value
from tests.test_process_metrics import figure

SID = "a" * 64
NAME = ["forms", "contact", "name"]


def restore(session_id: str = SID, **over: Any) -> dict[str, Any]:
    return {"v": 1, "seq": 1, "type": "restore", "session_id": session_id, "revision": 150,
            "changes": [{"p": NAME, "v": "Ada", "r": 150}], "drafts": [], **over}


def written(message: object, session_id: str = SID) -> str:
    return unsaved_cookie_value(message, session_id)


def test_the_guards_value_gives_back_its_restore_message() -> None:
    message = read_unsaved(written(restore()), SID, configured_limits())
    assert message is not None and message["changes"] == [{"p": NAME, "v": "Ada", "r": 150}]


def test_text_beyond_ascii_survives_the_encoding() -> None:
    changes = [{"p": NAME, "v": "Zoë 🚀", "r": 150}]
    message = read_unsaved(written(restore(changes=changes)), SID, configured_limits())
    assert message is not None and message["changes"] == changes


def test_another_sessions_cookie_is_not_read_and_not_complained_of(caplog: pytest.LogCaptureFixture) -> None:
    """A tab that moved to another session may leave it behind until its next render."""
    with caplog.at_level(logging.WARNING, "st_session_guard"):
        assert read_unsaved(written(restore("b" * 64), "b" * 64), SID, configured_limits()) is None
    assert caplog.text == ""


def test_a_value_naming_our_session_but_carrying_anothers_message_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert read_unsaved(written(restore("b" * 64)), SID, configured_limits()) is None
    assert "another session" in caplog.text


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("no-dot-here", "not of the guard's form"),
        (f"{SID}.abc;Domain=evil", "not of the guard's form"),
        (f"{SID}." + "A" * (MAX_CHARS + 4), "not of the guard's form"),
        (f"{SID}.////", "not of the guard's form"),
        (written("{not json"), "unsaved-changes cookie"),
        (written(b"\xff\xfe".decode("latin-1")), "unsaved-changes cookie"),
        (written('{"v": 1, "seq": 1, "type": "restore", "session_id": "' + SID + '", "revision": NaN,'
                 ' "changes": [], "drafts": []}'), "NaN is not JSON"),
        (written(restore(type="follow", token="x.1.sig")), "not a restore"),
        (written(restore(v=2)), "not a version 1"),
    ],
)
def test_anything_else_is_refused_with_a_warning(value: str, why: str, caplog: pytest.LogCaptureFixture) -> None:
    assert read_unsaved(value, SID, configured_limits()) is None
    assert why in caplog.text


def test_a_change_outside_the_user_editable_roots_is_dropped_and_the_rest_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    changes = [{"p": ["roles"], "v": ["admin"], "r": 150}, {"p": NAME, "v": "Ada", "r": 150}]
    message = read_unsaved(written(restore(changes=changes)), SID, configured_limits())
    assert message is not None and message["changes"] == [{"p": NAME, "v": "Ada", "r": 150}]
    session = UserSession(None, SID)
    apply_changes(session, [as_change(c) for c in message["changes"]])
    assert session.roles == set()


def test_a_message_past_the_bounds_is_refused_whole(caplog: pytest.LogCaptureFixture) -> None:
    limits = configured_limits()
    deep: Any = "x"
    for _ in range(limits.max_depth + 1):
        deep = [deep]
    value = written(restore(changes=[{"p": NAME, "v": deep, "r": 150}]))
    assert read_unsaved(value, SID, limits) is None
    assert "deep" in caplog.text


def restores_from_cookies() -> float:
    return figure("st_session_guard_restores_total", source="cookie")


def test_what_the_cookie_brings_is_merged_newest_first_and_counted() -> None:
    session = UserSession(None, SID)
    session.update_form_data("contact", "plan", "team")  # newer than the cookie's plan
    connection = Connection(SID)
    before = restores_from_cookies()
    changes = [{"p": NAME, "v": "Ada", "r": session.revision + 10},
               {"p": ["forms", "contact", "plan"], "v": "free", "r": 1}]

    merge_unsaved(connection, session, written(restore(changes=changes)))

    assert session.get_form_state("contact").stored == {"name": "Ada", "plan": "team"}
    assert connection.from_cookie == {("forms", "contact", "name")}
    assert restores_from_cookies() == before + 1


def test_a_value_the_cookie_put_at_a_password_field_is_deleted_when_the_field_is_drawn() -> None:
    session = UserSession(None, SID)
    connection = Connection(SID)
    pin = ("forms", "contact", "pin")
    merge_unsaved(connection, session, written(restore(changes=[{"p": list(pin), "v": "1234", "r": 150}])))
    assert session.get_form_state("contact").stored == {"pin": "1234"}

    take_back(connection, session, pin)

    assert session.get_form_state("contact").stored == {}
    assert connection.from_cookie == set()


def test_nothing_is_counted_when_the_cookie_brings_nothing_newer() -> None:
    session = UserSession(None, SID)
    session.update_form_data("contact", "name", "Grace")
    before = restores_from_cookies()
    merge_unsaved(Connection(SID), session, written(restore(changes=[{"p": NAME, "v": "Ada", "r": 1}])))
    assert session.get_form_state("contact").stored == {"name": "Grace"}
    assert restores_from_cookies() == before


def test_typing_not_yet_committed_is_taken_over_its_field_as_it_still_is() -> None:
    """As a draft from the guard is: at the server's next revision, and only over the revision it
    was typed over, so typing never beats a value committed since."""
    session = UserSession(None, SID)
    session.register_draft_widget("name_w", "contact", "name")
    session.register_draft_widget("bio_w", "contact", "bio")
    session.update_form_data("contact", "bio", "Committed since")
    base = session.path_revision(("forms", "contact", "name"))
    connection = Connection(SID)
    drafts = [{"key": "name_w", "value": "Ada Lov", "base": base},
              {"key": "bio_w", "value": "Typed before", "base": 0},
              {"key": "unknown_w", "value": "x", "base": 0}]

    merge_unsaved(connection, session, written(restore(changes=[], drafts=drafts)))

    assert session.get_form_state("contact").stored == {"name": "Ada Lov", "bio": "Committed since"}
    assert session.path_revision(("forms", "contact", "name")) > base
    assert connection.from_cookie == {("forms", "contact", "name")}
