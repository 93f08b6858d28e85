from __future__ import annotations

from st_session_guard.session import new_session_id
from st_session_guard.signing import sign_session_id, verify_token

SECRET = "test-secret"


def test_a_signed_token_gives_back_its_session_id() -> None:
    session_id = new_session_id()
    assert verify_token(sign_session_id(session_id, SECRET), SECRET, 3600) == session_id


def test_a_token_signed_with_another_secret_is_refused() -> None:
    assert verify_token(sign_session_id(new_session_id(), "other"), SECRET, 3600) is None


def test_a_forged_session_id_under_a_real_signature_is_refused() -> None:
    token = sign_session_id(new_session_id(), SECRET)
    forged = new_session_id() + token[64:]
    assert verify_token(forged, SECRET, 3600) is None


def test_truncated_and_garbage_tokens_are_refused() -> None:
    token = sign_session_id(new_session_id(), SECRET)
    for bad in (token[:-1], token[:70], "", None, "x" * 1000, "a.b.c", token + ".x"):
        assert verify_token(bad, SECRET, 3600) is None


def test_a_token_older_than_the_timeout_is_refused() -> None:
    session_id = new_session_id()
    token = sign_session_id(session_id, SECRET, now=1_000_000)
    assert verify_token(token, SECRET, 3600, now=1_000_000 + 3599) == session_id
    assert verify_token(token, SECRET, 3600, now=1_000_000 + 3601) is None
