"""Session notices: what one server's write tells the others, within PostgreSQL's payload limit."""

from __future__ import annotations

import logging

import pytest

from st_session_guard import jsontext
from st_session_guard.notices import MAX_PAYLOAD, payloads, read_notice
from st_session_guard.session import new_session_id


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
