"""The changes the database may not hold yet, carried by a cookie to the first run of a reload.

The write-behind keeps a session's newest changes in this process's memory
for up to ``debounce_delay``. A server that dies then loses them, and the
browser mirror gives them back through the guard: a frame load and a rerun
after the first paint, so the page shows the older values first
(docs/performance.md). The guard therefore also keeps those changes, and
only those, in a cookie of their own while the server says they are not
stored (``UnsavedSpec``), with the typing not yet committed (drafts). The
next page load's request carries it, so the first script run takes them and
the first frame shows the newest values.

The cookie is browser input like any guard message. Its value is
``<session id>.<base64url of a restore message>``; it counts only for the
session the signed session cookie names, goes through ``read_message``
under the server's bounds, and is merged newest revision first with its
revisions clamped to now (``reconcile``). Anything off is dropped with a
logged warning and the session stays as it was. The first run does not yet
know which fields are password or excluded widgets, so a value the cookie
put at one is taken back when that widget is drawn (``take_back``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from typing import Any, Final

import streamlit as st

from .config import configured_limits, settings
from .connection import Connection
from .protocol import Limits, Path, RestoreMessage, UnsavedSpec, read_message
from .reconcile import apply_changes, draft_paths_of, restore_from_browser
from .session import Change, UserSession, next_revision

logger = logging.getLogger("st_session_guard")

MAX_CHARS: Final = 3800
"""The longest value the guard writes: browsers keep at most 4,096 bytes of a cookie's name
and value, and every request to the app's origin carries it while changes are unstored."""

_VALUE: Final = re.compile(r"([0-9A-Za-z_-]+)\.([0-9A-Za-z_-]+)")


def cookie_name() -> str:
    return f"{settings().cookie_name}_unsaved"


def unsaved_spec(stored: int) -> UnsavedSpec:
    """The args that tell the guard where to keep the changes above ``stored``."""
    return {"name": cookie_name(), "stored": stored, "max_chars": MAX_CHARS}


def read_unsaved(value: str, session_id: str, limits: Limits) -> RestoreMessage | None:
    """The restore message a cookie value carries for ``session_id``; None, with a warning for a
    bad one, when it carries none."""
    match = _VALUE.fullmatch(value) if len(value) <= len(session_id) + 1 + MAX_CHARS else None
    if match is None:
        logger.warning("st-session-guard: refused an unsaved-changes cookie (not of the guard's form)")
        return None
    if match[1] != session_id:
        return None  # another session's, left by a tab that has since moved on: not ours to read
    try:
        raw = json.loads(base64.urlsafe_b64decode(match[2] + "=" * (-len(match[2]) % 4)),
                         parse_constant=_refuse_constant)
    except (binascii.Error, ValueError) as error:
        logger.warning("st-session-guard: refused an unsaved-changes cookie (%s)", error)
        return None
    message = read_message(raw, session_id, 0, limits)
    if message is None or message["type"] != "restore":
        if message is not None:
            logger.warning("st-session-guard: refused an unsaved-changes cookie (not a restore)")
        return None
    return message


def _refuse_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def take_unsaved(connection: Connection, session: UserSession) -> None:
    """On a page load's first run: merge what the cookie carries for this tab's session."""
    try:
        value = st.context.cookies.get(cookie_name())
    except Exception:  # noqa: BLE001 - no browser request behind this run (AppTest, bare mode)
        return
    if isinstance(value, str) and value:  # AppTest's context answers with a mock
        merge_unsaved(connection, session, value)


def merge_unsaved(connection: Connection, session: UserSession, value: str) -> None:
    """Merge a cookie value into ``session`` as a restore message is merged; note what it took."""
    message = read_unsaved(value, session.session_id, configured_limits())
    if message is None:
        return
    outcome = restore_from_browser(session, message, draft_paths_of(session), connection.excluded,
                                   counted_as="cookie")
    if outcome.paths:
        connection.from_cookie = outcome.paths
        logger.info("st-session-guard: took %d unsaved values from the browser's cookie", outcome.applied)


def take_back(connection: Connection, session: UserSession, path: Path) -> None:
    """A password or excluded widget's field: never keep what the cookie put there."""
    if path in connection.from_cookie:
        connection.from_cookie.discard(path)
        apply_changes(session, [Change(path, None, next_revision(session.revision), True)])
