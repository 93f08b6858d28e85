"""``session.storage``: nested changes stored without reassignment, bounded, merged by revision.

The last test runs on a real engine, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

import pytest

from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.protocol import Limits, Path
from st_session_guard.session import Change, UserSession
from st_session_guard.storage import SessionStorage, StorageFull

MESSAGES: Path = ("storage", "messages")


def stored(session: UserSession, path: Path = MESSAGES) -> Any:
    """The value the mirror and the database get for ``path``."""
    return {c.path: c.value for c in session.changes_since(0)}.get(path)


def small(max_session_bytes: int) -> tuple[SessionStorage, list[Path]]:
    changed: list[Path] = []
    storage = SessionStorage(threading.RLock(), changed.append, Limits(max_session_bytes=max_session_bytes))
    return storage, changed


def test_an_append_to_a_list_from_setdefault_is_stored_without_reassignment() -> None:
    session = UserSession()
    written: list[int] = []
    session.bind(lambda s: written.append(s.revision))
    session.storage.setdefault("messages", []).append({"role": "user", "content": "hi"})
    assert stored(session) == [{"role": "user", "content": "hi"}]
    session.storage["messages"][0]["content"] = "hello"
    assert stored(session) == [{"role": "user", "content": "hello"}]
    assert len(written) == 2  # the append and the nested dict's change; the default is not a change
    assert session.path_revision(MESSAGES) == session.revision


def test_a_default_from_setdefault_is_not_stored_and_loses_to_any_restored_value() -> None:
    session = UserSession.unrevisioned("s" * 64, None, "home")  # restarted before its first write
    assert session.storage.setdefault("messages", []) == []
    assert stored(session) is None and session.changes_since(0) == []
    assert session.apply_change(Change(MESSAGES, ["from the mirror"], 1))
    assert session.storage.setdefault("messages", []) == ["from the mirror"]


def test_every_list_and_dict_change_in_place_is_stored() -> None:
    session = UserSession()
    session.storage["cart"] = {"items": [3, 1, 2]}
    items = session.storage["cart"]["items"]
    items.sort()
    items.insert(0, 0)
    items.extend([9])
    items += [10]
    items.remove(10)
    items.pop()
    del items[0]
    items[0:1] = [7]
    session.storage["cart"].update(total=12)
    session.storage["cart"].setdefault("coupons", []).append("X")
    assert stored(session, ("storage", "cart")) == {"items": [7, 2, 3], "total": 12, "coupons": ["X"]}


def test_storage_comes_back_from_the_database_with_its_dates_and_tuples() -> None:
    session = UserSession()
    when = datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)
    session.storage["filters"] = {"since": date(2026, 1, 1), "range": (1, 5), "at": when}
    again = UserSession.from_dict(session.to_dict())
    assert again.storage["filters"] == {"since": date(2026, 1, 1), "range": (1, 5), "at": when}
    again.storage["filters"]["since"] = date(2026, 2, 1)  # restored values are observable too
    assert stored(again, ("storage", "filters"))["since"] == {"$date": "2026-02-01"}


def test_a_value_that_cannot_be_stored_is_a_type_error_at_the_call_and_changes_nothing() -> None:
    session = UserSession()
    session.storage["messages"] = ["kept"]
    revision = session.revision
    with pytest.raises(TypeError, match="object values cannot be stored"):
        session.storage["messages"].append(object())
    with pytest.raises(TypeError, match="set values cannot be stored"):
        session.storage["tags"] = {"a"}
    with pytest.raises(TypeError, match="keys are strings"):
        session.storage[1] = "x"  # type: ignore[index]
    assert session.storage["messages"] == ["kept"] and "tags" not in session.storage
    assert session.revision == revision


def test_a_value_the_browser_could_not_take_back_is_a_type_error() -> None:
    session = UserSession()
    deep: list[Any] = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(TypeError, match="nested deeper than 32"):
        session.storage["deep"] = deep
    with pytest.raises(TypeError, match="__proto__"):
        session.storage["cart"] = {"__proto__": 1}
    assert len(session.storage) == 0


def test_a_key_the_browser_would_refuse_is_refused() -> None:
    session = UserSession()
    for key in ("__proto__", "k" * 257):
        with pytest.raises(ValueError):
            session.storage[key] = 1
    assert len(session.storage) == 0


def test_a_write_past_the_session_size_limit_is_refused_and_undone() -> None:
    storage, changed = small(100)
    storage["log"] = ["x" * 40]
    with pytest.raises(StorageFull, match="max_session_bytes=100"):
        storage["log"].append("y" * 60)
    assert storage["log"] == ["x" * 40]
    with pytest.raises(StorageFull):
        storage["other"] = "z" * 60
    assert "other" not in storage and changed == [("storage", "log")]
    del storage["log"]  # deleting frees its share
    storage["other"] = "z" * 60
    assert storage.encoded("other") == "z" * 60


def test_the_default_session_limit_stays_inside_one_message() -> None:
    limits = Limits()
    assert limits.max_session_bytes < limits.max_bytes
    with pytest.raises(StorageFull):
        UserSession().storage["big"] = "x" * limits.max_session_bytes


def test_a_container_held_from_a_replaced_key_changes_nothing_stored() -> None:
    session = UserSession()
    old = session.storage.setdefault("messages", [])
    session.storage["messages"] = ["new"]
    old.append("stale")
    assert stored(session) == ["new"]


def test_a_deep_copy_of_a_stored_value_is_plain_and_independent() -> None:
    session = UserSession()
    session.storage["cart"] = {"items": [1]}
    plain = copy.deepcopy(session.storage["cart"])
    assert type(plain) is dict and type(plain["items"]) is list
    plain["items"].append(2)
    assert stored(session, ("storage", "cart")) == {"items": [1]}


def test_a_deleted_key_travels_as_a_tombstone() -> None:
    session = UserSession()
    session.storage["draft"] = "x"
    del session.storage["draft"]
    tombstones = [c for c in session.changes_since(0) if c.path == ("storage", "draft")]
    assert tombstones == [Change(("storage", "draft"), None, session.revision, True)]


def test_a_newer_browser_value_wins_per_key_and_an_older_one_loses() -> None:
    session = UserSession()
    session.storage["messages"] = ["server"]
    session.storage["cart"] = ["server"]
    newer, older = session.revision + 1, session.revision - 1
    assert session.apply_change(Change(MESSAGES, ["browser"], newer))
    assert not session.apply_change(Change(("storage", "cart"), ["browser"], older))
    assert session.storage["messages"] == ["browser"] and session.storage["cart"] == ["server"]
    assert session.apply_change(Change(("storage", "cart"), None, session.revision + 1, True))
    assert "cart" not in session.storage


def test_a_browser_value_past_the_session_limit_is_refused() -> None:
    session = UserSession()
    big = "x" * Limits().max_session_bytes
    with pytest.raises(ValueError):
        session.apply_change(Change(MESSAGES, big, session.revision + 1))
    assert "messages" not in session.storage


def test_two_servers_writing_other_keys_of_one_session_keep_both_in_the_database(
    make_engine: Callable[..., SessionPersistenceEngine],
) -> None:
    first, second = make_engine(), make_engine()
    on_first = UserSession()
    on_first.storage["messages"] = ["typed on the first server"]
    first.persist_session(on_first, immediate=True)
    on_second = second.recover_session(on_first.session_id)
    assert on_second is not None
    on_first.storage["messages"].append("later, on the first")
    on_second.storage["cart"] = ["added on the second"]
    second.persist_session(on_second, immediate=True)
    first.persist_session(on_first, immediate=True)
    merged = second.recover_session(on_first.session_id)
    assert merged is not None
    assert merged.storage["messages"] == ["typed on the first server", "later, on the first"]
    assert merged.storage["cart"] == ["added on the second"]
