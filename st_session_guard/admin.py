"""The sessions dashboard: ``render(permission="admin")`` draws it inside any page.

It also serves as a page of its own (``st.Page(admin.render, title="Sessions")``).
It opens only for a session that holds the permission; roles and permissions
are server-owned, so a user cannot grant it to themselves from the browser.
Its figures come from ``queries``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from .clock import utcnow
from .queries import (
    MAX_LISTED,
    RECENT_FOR_ACTIVITY,
    RECENT_FOR_PAGES,
    active_sessions_over_time,
    find_sessions,
    page_visits,
    recent_activity,
    session_durations,
    store_stats,
)

WINDOWS: Final[dict[str, tuple[timedelta, int]]] = {
    "Last hour": (timedelta(hours=1), 12),
    "Last 24 hours": (timedelta(hours=24), 24),
    "Last 7 days": (timedelta(days=7), 28),
}
"""Time windows the charts cover, with the number of buckets in the activity chart."""
_NOTICE: Final = "_stsg_admin_notice"


def _human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover - the loop always returns


def _allowed(permission: str) -> bool:
    """Checked again in a button's callback: the permission may have gone since it was drawn."""
    from .manager import get_current_session

    return get_current_session().has_permission(permission)


def _expire(session_id: str, permission: str) -> None:
    """Button callback: runs before the script, so every figure drawn after it is current."""
    import streamlit as st

    from .live_sessions import live_sessions
    from .session_persistence import get_persistence_engine

    if not _allowed(permission):
        return
    expired = get_persistence_engine().expire_session(session_id)
    live_sessions.drop(session_id)
    st.session_state[_NOTICE] = (
        f"Session {session_id[:12]}… expired."
        if expired
        else f"Session {session_id[:12]}… was not live; nothing to expire."
    )


def _cleanup(permission: str) -> None:
    import streamlit as st

    from .session_persistence import get_persistence_engine

    if not _allowed(permission):
        return
    removed = get_persistence_engine().cleanup_expired_sessions()
    st.session_state[_NOTICE] = f"Removed {removed} expired session{'s' if removed != 1 else ''}."


def render(permission: str = "admin") -> None:
    """Draw the sessions dashboard for a session holding ``permission``; a refusal for any other.

    Call it in a page after ``bootstrap_session()``, or pass it to
    ``st.Page`` (the app's entry script bootstraps the session before the
    page runs). Widget keys start with ``stsg_admin_``.

    Parameters
    ----------
    permission : str
        The permission (``session.add_permission``) that opens the dashboard.
    """
    import streamlit as st

    from .manager import get_current_session
    from .session_persistence import get_persistence_engine

    st.title("Sessions dashboard")
    if not get_current_session().has_permission(permission):
        st.error(
            f"Access denied: this dashboard needs the permission '{permission}', "
            "which this session does not hold.",
            icon="🔒",
        )
        return
    db = get_persistence_engine().db
    now = utcnow()
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        st.success(notice)

    stats = store_stats(db, now)
    kpis = st.columns(5)
    kpis[0].metric("Stored sessions", stats.sessions)
    kpis[1].metric("Live", stats.live)
    kpis[2].metric("Active in the last hour", stats.active_last_hour)
    kpis[3].metric("Expired, awaiting cleanup", stats.expired)
    kpis[4].metric("Average state size", _human_bytes(stats.avg_state_bytes))

    label = st.selectbox("Time window (UTC)", list(WINDOWS), index=1, key="stsg_admin_window")
    span, buckets = WINDOWS[label]
    left, right = st.columns(2)
    with left:
        st.subheader("Active sessions")
        timeline = active_sessions_over_time(db, now - span, now, buckets)
        st.line_chart(
            ({"time": [t for t, _ in timeline], "active sessions": [c for _, c in timeline]}),
            x="time",
            y="active sessions",
        )
    with right:
        st.subheader("Page visits")
        visits = page_visits(db)
        if visits:
            st.bar_chart(
                ({"page": [p for p, _ in visits], "visits": [v for _, v in visits]}),
                x="page",
                y="visits",
                horizontal=True,
                sort="-visits",
            )
        else:
            st.info("No navigation recorded yet.")
        st.caption(
            f"From the navigation histories of the {RECENT_FOR_PAGES} most recently active "
            "sessions."
        )
    left, right = st.columns(2)
    with left:
        st.subheader("Interactions")
        activity = recent_activity(db)
        if activity:
            st.bar_chart(
                (
                    {
                        "session": [a.session_id[:8] for a in activity],
                        "interactions": [a.interactions for a in activity],
                        "page views": [a.page_views for a in activity],
                    }
                ),
                x="session",
                y=["interactions", "page views"],
                stack=False,
            )
        else:
            st.info("No sessions stored yet.")
        st.caption(f"The {RECENT_FOR_ACTIVITY} most recently active sessions.")
    with right:
        st.subheader("Session durations")
        durations = session_durations(db, now - span)
        st.bar_chart(
            ({"duration": [d for d, _ in durations], "sessions": [n for _, n in durations]}),
            x="duration",
            y="sessions",
            sort=False,
        )

    st.subheader("Sessions")
    search = st.text_input("Search by session id prefix or user id", key="stsg_admin_search")
    found = find_sessions(db, search)
    if len(found) == MAX_LISTED:
        st.caption(
            f"Showing the {MAX_LISTED} most recently active matches; narrow the search for others."
        )
    st.dataframe(
        {
            "session": [s.session_id for s in found],
            "user": [s.user_id or "" for s in found],
            "status": ["live" if s.live(now) else "expired" for s in found],
            "created": [s.created_at for s in found],
            "last activity": [s.last_activity for s in found],
            "expires": [s.expires_at for s in found],
            "state": [_human_bytes(s.state_bytes) for s in found],
            "page views": [s.page_views for s in found],
            "interactions": [s.interactions for s in found],
            "roles": [", ".join(s.roles) for s in found],
            "permissions": [", ".join(s.permissions) for s in found],
        },
        hide_index=True,
        key="stsg_admin_table",
    )
    labels = {
        s.session_id: f"{s.session_id[:16]}… {s.user_id or ''}".strip()
        for s in found
        if s.live(now)
    }
    actions = st.columns([3, 1, 1], vertical_alignment="bottom")
    chosen = actions[0].selectbox(
        "Session to expire",
        list(labels),
        format_func=labels.__getitem__,
        key="stsg_admin_pick",
        index=None,
        placeholder="Pick a live session",
    )
    actions[1].button(
        "Expire session",
        key="stsg_admin_expire",
        disabled=chosen is None,
        on_click=_expire,
        args=(chosen or "", permission),
    )
    actions[2].button(
        f"Clean up {stats.expired} expired",
        key="stsg_admin_cleanup",
        disabled=not stats.expired,
        on_click=_cleanup,
        args=(permission,),
    )


__all__ = ["render"]
