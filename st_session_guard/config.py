"""Where settings come from: keyword arguments, then the environment, then
``[session_guard]`` in ``.streamlit/secrets.toml``, then defaults."""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from .protocol import Limits

logger = logging.getLogger("st_session_guard")

DEFAULT_DIR: Final = ".st_session_guard"
ENV: Final = {
    "database_url": "SESSION_GUARD_DATABASE_URL",
    "session_timeout": "SESSION_TIMEOUT",
    "debounce_delay": "SESSION_GUARD_DEBOUNCE",
    "secret": "SESSION_GUARD_SECRET",
    "max_session_bytes": "SESSION_GUARD_MAX_SESSION_BYTES",
    "cookie_name": "SESSION_GUARD_COOKIE_NAME",
}

DEFAULT_COOKIE_NAME: Final = "stsg"
_COOKIE_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


def default_database_url() -> str:
    """A SQLite file under ``.st_session_guard/`` in the working directory."""
    return f"sqlite:///{Path(DEFAULT_DIR).resolve() / 'sessions.db'}"


@dataclass(frozen=True)
class Settings:
    database_url: str
    session_timeout: float
    """Seconds of inactivity after which a session expires."""
    debounce_delay: float
    """Seconds the write-behind engine waits to coalesce changes into one write."""
    secrets: tuple[str, ...]
    """Keys for signing the session cookie, newest first: the first signs, all verify.
    Empty: one is generated and kept in a file of its own (see ``cookies``)."""
    cookie_name: str = DEFAULT_COOKIE_NAME
    """The signed session cookie's name; the unsaved-changes cookie is ``<name>_unsaved``.
    A browser sends a host's cookies to all its ports and paths, so two apps on one host need
    two names (docs/configuration.md)."""
    max_session_bytes: int = Limits.max_session_bytes
    """Bytes of user data one session may hold (see ``Limits.max_session_bytes``)."""


def _secrets_section() -> Mapping[str, Any]:
    """The ``[session_guard]`` table of Streamlit's secrets, or nothing when there is none."""
    try:
        import streamlit as st

        section = st.secrets.get("session_guard", {})
        return section if isinstance(section, Mapping) else {}
    except Exception:  # noqa: BLE001 - no secrets.toml, or not inside a Streamlit app
        return {}


T = TypeVar("T")


def _pick(name: str, overrides: Mapping[str, Any], parse: Callable[[Any], T], default: T) -> T:
    if overrides.get(name) is not None:
        return parse(overrides[name])
    raw = os.environ.get(ENV[name])
    source = ENV[name]
    if raw is None:
        raw, source = _secrets_section().get(name), f"secrets [session_guard].{name}"
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except (TypeError, ValueError):
        logger.warning("st-session-guard: ignoring %s=%r (not a valid value)", source, raw)
        return default


def resolve_settings(**overrides: Any) -> Settings:
    """Settings for this process; keyword arguments that are not None win."""
    return Settings(
        database_url=_pick("database_url", overrides, str, default_database_url()),
        session_timeout=_pick("session_timeout", overrides, float, 86_400.0),
        debounce_delay=_pick("debounce_delay", overrides, float, 2.0),
        secrets=_pick("secret", overrides, _secret_list, ()),
        max_session_bytes=_pick("max_session_bytes", overrides, _session_bytes, Limits.max_session_bytes),
        cookie_name=_pick("cookie_name", overrides, _cookie_name, DEFAULT_COOKIE_NAME),
    )


def _session_bytes(raw: Any) -> int:
    """A whole number of bytes, at least 1000 (``Limits.for_session_bytes`` says why)."""
    return Limits.for_session_bytes(int(raw)).max_session_bytes


def _cookie_name(raw: Any) -> str:
    """Letters, digits, ``_`` and ``-``, at most 64: a cookie name every browser and proxy takes."""
    if not isinstance(raw, str) or not _COOKIE_NAME.fullmatch(raw):
        raise ValueError("a cookie name is 1 to 64 letters, digits, '_' or '-'")
    return raw


def _secret_list(raw: Any) -> tuple[str, ...]:
    """A comma-separated string (the environment) or a list (secrets.toml), blanks dropped."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise ValueError("a secret is a string or a list of strings")
    return tuple(item.strip() for item in items if item.strip())


@functools.cache
def settings() -> Settings:
    """This process's settings, resolved once; every module that needs settings asks here.

    Tests that change the environment call ``settings.cache_clear()`` (and
    ``configured_limits.cache_clear()``).
    """
    return resolve_settings()


@functools.cache
def configured_limits() -> Limits:
    """The bounds this process holds sessions and browsers to, from ``settings()``."""
    return Limits.for_session_bytes(settings().max_session_bytes)
