"""Cookie tokens: signed for this purpose only, with secrets that rotate, and aged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from st_session_guard.session import new_session_id
from st_session_guard.signing import issued_at, sign_session_id, verify_token

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


def test_of_several_secrets_the_first_signs_and_every_one_verifies() -> None:
    session_id = new_session_id()
    signed_before_rotation = sign_session_id(session_id, ["old"])
    rotated = ["new", "old"]
    assert verify_token(signed_before_rotation, rotated, 3600) == session_id
    signed_now = sign_session_id(session_id, rotated)
    assert verify_token(signed_now, ["new"], 3600) == session_id
    assert verify_token(signed_now, ["old"], 3600) is None


def test_a_token_made_with_the_bare_secret_by_other_code_is_refused() -> None:
    """Other code sharing the secret (a plain HMAC of the same message) mints nothing here."""
    session_id = new_session_id()
    message = f"{session_id}.{int(time.time())}"
    digest = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).digest()
    foreign = f"{message}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"
    assert verify_token(foreign, SECRET, 3600) is None


def test_signing_without_a_secret_is_refused() -> None:
    for none in ([], [""], ""):
        with pytest.raises(ValueError):
            sign_session_id(new_session_id(), none)


def test_a_token_tells_when_it_was_signed() -> None:
    assert issued_at(sign_session_id(new_session_id(), SECRET, now=1_000_000)) == 1_000_000
    assert issued_at("garbage") is None
