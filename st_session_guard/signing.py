"""Session cookie tokens: ``<session id>.<issued at>.<HMAC-SHA256>``.

The id is unguessable already; the signature keeps a cookie from being
forged or altered, and the issue time lets a token outlive nothing: one older
than the session timeout is refused even when its row is still there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Final

_ID: Final = re.compile(r"[0-9a-f]{64}")


def _mac(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_session_id(session_id: str, secret: str, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    message = f"{session_id}.{issued}"
    return f"{message}.{_mac(secret, message)}"


def verify_token(token: str | None, secret: str, max_age: float, now: float | None = None) -> str | None:
    """The session id a token vouches for, or None when it is forged, truncated or too old."""
    if not token or len(token) > 256:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not _ID.fullmatch(parts[0]) or not parts[1].isdigit():
        return None
    session_id, issued, mac = parts
    if not hmac.compare_digest(mac, _mac(secret, f"{session_id}.{issued}")):
        return None
    age = (time.time() if now is None else now) - int(issued)
    return session_id if -60 <= age <= max_age else None
