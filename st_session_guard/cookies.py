"""The session cookie: which session a page load's cookie names, and the cookie to send back.

The signing secrets come from the settings (``SESSION_GUARD_SECRET``, a
comma-separated list, or ``secret`` in ``[session_guard]`` of secrets.toml,
a string or a list; the first signs, all verify). Without them a key is
generated once and kept in ``.st_session_guard/secret.key`` (mode 0600),
beside the default database and not inside it, so a lost or replaced
database file does not void every cookie, and a database that is down
cannot stop a page from loading. Several servers behind one load balancer
(PostgreSQL) must share ``SESSION_GUARD_SECRET``: each would otherwise
sign with a key of its own, and a reload on another server would start a
fresh session.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
from pathlib import Path
from typing import Final

import streamlit as st

from .config import DEFAULT_DIR, settings
from .protocol import CookieSpec
from .signing import issued_at, sign_session_id, verify_token

logger = logging.getLogger("st_session_guard")

KEY_FILE: Final = Path(DEFAULT_DIR) / "secret.key"

REFRESH_AFTER: Final = 0.25
"""Fraction of the session timeout after which a cookie in use is signed anew, so that
a tab in use keeps its session for as long as it is used, not a timeout past its load."""


def signing_secrets() -> tuple[str, ...]:
    """The secrets that sign (the first) and verify (all) session cookies."""
    if settings().secrets:
        return settings().secrets
    if not settings().database_url.startswith("sqlite"):
        _warn_unshared_key()
    return (kept_key(KEY_FILE.resolve()),)


@functools.cache
def _warn_unshared_key() -> None:
    logger.warning("st-session-guard: no SESSION_GUARD_SECRET set with a shared database; every "
                   "server signs with a key of its own, so set the same secret on all of them")


@functools.cache
def kept_key(path: Path) -> str:
    """The key kept at ``path``, written there (mode 0600) by the first process to ask.

    Where the file cannot be read or written, a key for this process alone,
    with a warning: cookies then outlive nothing but this process.
    """
    try:
        return _read_or_create(path)
    except OSError as error:
        logger.warning("st-session-guard: cannot keep a signing key in %s (%s); "
                       "cookies will not outlive this process", path, error)
        return secrets.token_urlsafe(32)


def _read_or_create(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(32))
                file.flush()
                os.fsync(file.fileno())
            os.link(draft, path)  # whole or not at all; a key another process linked first wins
        except FileExistsError:
            pass
        finally:
            draft.unlink(missing_ok=True)
    key = path.read_text().strip()
    if not key:
        raise OSError(f"{path} holds no key")
    return key


def session_id_from_cookie() -> str | None:
    """The session id this page load's cookie vouches for; None for none, or a bad one."""
    try:
        token = st.context.cookies.get(settings().cookie_name)
    except Exception:  # noqa: BLE001 - no browser request behind this run (AppTest, bare mode)
        return None
    return session_id_from_token(token)


def session_id_from_token(token: str | None) -> str | None:
    """The session id a cookie token vouches for; None (with a warning for a bad one) otherwise."""
    session_id = verify_token(token, signing_secrets(), settings().session_timeout)
    if token and session_id is None:
        logger.warning(
            "st-session-guard: refused a session cookie (forged, truncated or expired, or another"
            " app's on this host: give each app its own SESSION_GUARD_COOKIE_NAME)"
        )
    return session_id


def session_cookie(session_id: str) -> CookieSpec:
    """The cookie naming ``session_id``, signed now, living as long as an idle session."""
    return {
        "name": settings().cookie_name,
        "value": sign_session_id(session_id, signing_secrets()),
        "max_age": int(settings().session_timeout),
    }


def needs_refresh(cookie: CookieSpec, now: float) -> bool:
    """Whether a cookie sent earlier is old enough to be signed anew (``now`` in Unix seconds)."""
    issued = issued_at(cookie["value"])
    return issued is None or now - issued > REFRESH_AFTER * settings().session_timeout
