"""Session notices: what one server's write tells the others, within PostgreSQL's payload limit,
heard only once the write commits, on both databases."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from st_session_guard import jsontext
from st_session_guard.database import DatabaseManager
from st_session_guard.models import notices
from st_session_guard.notice_listener import hearing_for
from st_session_guard.notices import (
    KEPT_NOTICES,
    MAX_PAYLOAD,
    Notice,
    announce,
    payloads,
    read_notice,
)
from st_session_guard.session import new_session_id
from st_session_guard.testing import wait_until


def test_a_large_batch_is_told_in_notices_each_within_the_payload_limit() -> None:
    written = {new_session_id(): 1_733_000_000_000 + n for n in range(1000)}
    ended = [new_session_id() for _ in range(500)]
    sent = payloads("origin", written, ended)
    assert len(sent) > 1
    assert all(len(p.encode()) <= MAX_PAYLOAD < 8000 for p in sent)
    heard = [read_notice(p, "another") for p in sent]
    assert {k: v for n in heard if n for k, v in n.written.items()} == written
    assert [s for n in heard if n for s in n.ended] == ended


def test_a_process_ignores_its_own_notices() -> None:
    (sent,) = payloads("me", {"a": 1}, ["b"])
    assert read_notice(sent, "me") is None
    notice = read_notice(sent, "you")
    assert notice is not None and dict(notice.written) == {"a": 1} and list(notice.ended) == ["b"]


@pytest.mark.parametrize("payload", ["not json", "[]", '{"w": {}}', '{"o": "x", "w": {"a": "1"}}',
                                     '{"o": "x", "e": [1]}'])
def test_a_notice_that_is_not_ours_is_ignored_with_a_warning(
    payload: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert read_notice(payload, "me") is None
    assert "session notice" in caplog.text


def test_an_id_too_long_for_any_notice_is_left_out_rather_than_failing_the_write(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        sent = payloads("o", {"x" * 9000: 1, "a": 2}, [])
    assert [jsontext.loads(p)["w"] for p in sent] == [{"a": 2}]
    assert "too long to announce" in caplog.text


def test_a_notice_is_heard_by_another_process_only_once_its_write_commits(
    make_db: Callable[..., DatabaseManager],
) -> None:
    writer, hearer = make_db(), make_db()
    writer.ensure_schema()
    heard: list[Notice] = []
    hearing = hearing_for(hearer, heard.append, lambda: None).start()
    try:
        wait_until(hearing.listening.is_set, what="listening")
        with pytest.raises(RuntimeError), writer.write() as connection:
            announce(connection, writer.origin, {"rolled back": 1}, ())
            raise RuntimeError("the write fails after its notice")
        with writer.write() as connection:
            announce(connection, writer.origin, {"committed": 2}, ["ended"])
        wait_until(lambda: heard, what="the committed notice")
    finally:
        hearing.stop()
    assert [(dict(n.written), list(n.ended)) for n in heard] == [({"committed": 2}, ["ended"])]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sqlite_file_keeps_only_the_newest_notices(db: DatabaseManager) -> None:
    for n in range(KEPT_NOTICES + 50):
        with db.write() as connection:
            announce(connection, db.origin, {f"s{n}": n}, ())
    with db.read() as connection:
        kept = connection.execute(select(func.count(), func.min(notices.c.seq), func.max(notices.c.seq)))
        count, oldest, newest = kept.one()
    assert count == KEPT_NOTICES and newest - oldest + 1 == KEPT_NOTICES
