"""The protocol pump of one script run: read the guard's message, then send it the run's args."""

from __future__ import annotations

import functools
import logging

import streamlit as st

from . import component
from .config import configured_limits
from .connection import Connection
from .cookies import session_cookie
from .protocol import (
    PROTOCOL_VERSION,
    Limits,
    LimitsArgs,
    limits_args,
    read_drafts,
    read_message,
    sendable_changes,
)
from .reconcile import draft_paths_of, restore_from_browser
from .session import UserSession
from .unsaved_cookie import unsaved_spec

logger = logging.getLogger("st_session_guard")


def receive(connection: Connection, session: UserSession) -> str | None:
    """Apply the message the guard sent since the last run, if there is one to act on.

    Returns the cookie token of a follow message, for the caller to verify:
    the tab's session ended elsewhere and its browser names another one now.
    A message for an id this tab held that ended is read for that alone; its
    values are never merged into the session that replaced it.
    """
    raw = st.session_state.get(component.GUARD_KEY)
    if raw is not None:
        # A message is read once. Drawing the guard makes Streamlit deep-copy its value,
        # which a rejected value nested a few hundred levels deep would make raise.
        st.session_state[component.GUARD_KEY] = None
    named = raw.get("session_id") if isinstance(raw, dict) else None
    of_ended = named in connection.ended
    expected = named if isinstance(named, str) and of_ended else session.session_id
    message = read_message(raw, expected, connection.last_seq, configured_limits())
    if message is None:
        return None
    connection.last_seq = message["seq"]
    if message["type"] == "follow":
        return message["token"]
    if of_ended:
        return None
    if message["type"] == "resync":
        connection.sent_revision = message["revision"]
        return None
    outcome = restore_from_browser(session, message, draft_paths_of(session), connection.excluded)
    if outcome.oldest is not None:
        connection.sent_revision = min(connection.sent_revision, outcome.oldest - 1)
        logger.info("st-session-guard: took %d newer values from the browser", outcome.applied)
    return None


def send(connection: Connection, session: UserSession) -> None:
    """Draw the guard with every change the tab has not been sent, the cookies and the bounds.

    The guard keeps the changes above the session's ``stored_revision`` in the
    unsaved-changes cookie (``unsaved_cookie``).

    The args are built to be what the browser takes (``read_args`` would return them
    unchanged), so only the parts that come from the app are checked, not the whole.
    """
    base = connection.sent_revision
    limits = configured_limits()
    pending, revision = session.changes_and_revision(base)
    changes = sendable_changes([c.to_json() for c in pending], limits)
    if connection.cookie_due or connection.cookie is None:
        connection.cookie = session_cookie(session.session_id)
        connection.cookie_due = False
    connection.sent_revision = revision
    component.render_guard(
        {
            "v": PROTOCOL_VERSION,
            "session_id": session.session_id,
            "revision": revision,
            "base": base,
            "changes": changes,
            "cookie": connection.cookie,
            "limits": _limits_args(limits),
            "drafts": read_drafts({key: list(at) for key, at in session.draft_widgets.items()}, limits),
            "excluded": sorted(connection.excluded_keys),
            "ack": connection.last_seq or None,
            "ended": connection.ended,
            "unsaved": unsaved_spec(session.stored_revision),
        }
    )


@functools.cache
def _limits_args(limits: Limits) -> LimitsArgs:
    """The bounds as args, made once per ``Limits``: Streamlit only serialises them."""
    return limits_args(limits)
