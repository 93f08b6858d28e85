"""Session cookie tokens: ``<session id>.<issued at>.<HMAC-SHA256>``.

The id is unguessable already; the signature keeps a cookie from being
forged or altered, and the issue time lets a token outlive nothing: one older
than the session timeout is refused even when its row is still there.

As itsdangerous's ``Signer`` does, the MAC key is derived from each secret
for one purpose, so a secret shared with other code does not make that
code's tokens valid here; and several secrets may be given, newest first:
the first signs, all verify, so a secret can be rotated without ending
every session.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from typing import Final

PURPOSE: Final = "st-session-guard.session-cookie"
_ID: Final = re.compile(r"[0-9a-f]{64}")

Secrets = str | Sequence[str]
"""One secret, or several with the one that signs first."""


@functools.lru_cache(maxsize=16)
def _derived_key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def _mac(secret: str, message: str) -> str:
    digest = hmac.new(_derived_key(secret, PURPOSE), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _listed(secrets: Secrets) -> Sequence[str]:
    listed = [secrets] if isinstance(secrets, str) else secrets
    if not listed or not all(listed):
        raise ValueError("signing needs at least one secret, and no empty one")
    return listed


def sign_session_id(session_id: str, secrets: Secrets, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    message = f"{session_id}.{issued}"
    return f"{message}.{_mac(_listed(secrets)[0], message)}"


def issued_at(token: str) -> int | None:
    """When a token (of ours, already verified or about to be) was signed, in Unix seconds."""
    parts = token.split(".")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def verify_token(
    token: str | None, secrets: Secrets, max_age: float, now: float | None = None
) -> str | None:
    """The session id a token vouches for, or None when it is forged, truncated or too old."""
    if not token or len(token) > 256:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not _ID.fullmatch(parts[0]) or not parts[1].isdigit():
        return None
    session_id, issued, mac = parts
    message = f"{session_id}.{issued}"
    if not any(hmac.compare_digest(mac, _mac(secret, message)) for secret in _listed(secrets)):
        return None
    age = (time.time() if now is None else now) - int(issued)
    return session_id if -60 <= age <= max_age else None
