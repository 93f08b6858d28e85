"""st-session-guard demo: every feature of the API on the embedded SQLite default.

    streamlit run examples/demo_session_system.py

Type anything, refresh the tab, restart the server: it is all still there.
"""

from __future__ import annotations

import re

import streamlit as st

import st_session_guard as sg
from st_session_guard import admin as sessions_admin
from st_session_guard.database import get_db_manager
from st_session_guard.session_persistence import get_persistence_engine

st.set_page_config(page_title="st-session-guard demo", layout="wide")
session = sg.bootstrap_session()
manager = sg.get_session_manager()

PAGES = {
    "home": "Home", "forms": "Forms", "profile": "Profile", "settings": "Settings", "admin": "Admin",
    "dashboard": "Dashboard",
}

with st.sidebar:
    st.caption(f"Session `{session.session_id[:12]}…`")
    for page, title in PAGES.items():
        if st.button(title, key=f"nav-{page}", disabled=page == session.current_page, width="stretch"):
            manager.navigate_to(page, {"from": session.current_page})
            st.rerun()
    back = st.button("⬅ Back", key="nav-back", width="stretch",
                     disabled=len(session.navigation_history) < 2)
    if back and manager.go_back():
        st.rerun()
    st.caption("History: " + " → ".join(e.page for e in session.navigation_history[-6:]))


def home() -> None:
    st.title("st-session-guard")
    st.write(
        "Fill in the forms, navigate, then refresh this tab or restart the server: "
        "nothing is lost. Password fields are never stored."
    )
    st.metric("Page views", session.metrics.page_views)


def contact_form() -> None:
    st.title("Contact form")
    form_id = "contact"
    state = session.get_form_state(form_id)
    left, right = st.columns(2)
    with left:
        name = sg.text_input("Name", key="name", form_id=form_id)
        email = sg.text_input("Email", key="email", form_id=form_id)
        age = sg.number_input("Age", min_value=0, max_value=130, value=30, key="age", form_id=form_id)
        sg.text_area("Bio", key="bio", form_id=form_id)
        sg.text_input("Password (never stored)", type="password", key="password", form_id=form_id)
    with right:
        sg.selectbox("Plan", ["free", "pro", "team"], key="plan", form_id=form_id)
        sg.multiselect("Topics", ["news", "tips", "offers"], key="topics", form_id=form_id)
        sg.radio("Contact by", ["email", "phone"], key="contact_by", form_id=form_id)
        sg.checkbox("Subscribe", key="subscribe", form_id=form_id)
        sg.toggle("Dark mode", key="dark", form_id=form_id)
        sg.slider("Satisfaction", 0, 10, 5, key="satisfaction", form_id=form_id)
        sg.select_slider("Size", ["S", "M", "L", "XL"], value="M", key="size", form_id=form_id)
        sg.date_input("Birthday", value=None, key="birthday", form_id=form_id)
        sg.time_input("Best time to call", value=None, key="call_time", form_id=form_id)
        sg.color_picker("Favourite colour", "#00aaff", key="colour", form_id=form_id)

    state.errors.clear()
    state.warnings.clear()
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        state.errors["email"] = ["Invalid email format"]
    if name and len(name) < 2:
        state.warnings["name"] = ["Name looks short"]
    if age and age < 18:
        state.warnings["age"] = ["Under 18"]
    for field, messages in state.errors.items():
        for message in messages:
            st.error(f"{field}: {message}", icon="⛔")
    for field, messages in state.warnings.items():
        for message in messages:
            st.warning(f"{field}: {message}", icon="⚠️")

    st.markdown(f"**Status:** {'✏️ unsaved changes' if state.is_dirty else '✅ saved'}")
    cols = st.columns(5)
    if cols[0].button("Save", key="save", disabled=bool(state.errors)):
        sg.save_form(form_id, dict(state.data), immediate=True)
        st.rerun()
    if cols[1].button("Snapshot", key="snapshot"):
        session.create_form_snapshot(form_id, f"Snapshot {len(session.form_snapshots(form_id)) + 1}")
        st.rerun()
    if cols[2].button("Undo", key="undo", disabled=not session.can_undo(form_id)):
        session.undo_form(form_id)
        st.rerun()
    if cols[3].button("Redo", key="redo", disabled=not session.can_redo(form_id)):
        session.redo_form(form_id)
        st.rerun()
    snapshots = session.form_snapshots(form_id)
    if snapshots:
        choice = cols[4].selectbox(
            "Snapshots", snapshots, format_func=lambda s: s.description, key="snapshot_pick",
            label_visibility="collapsed",
        )
        if st.button("Restore snapshot", key="restore_snapshot"):
            session.restore_form_snapshot(choice.snapshot_id)
            st.rerun()
    with st.expander("Stored form data"):
        st.json(dict(state.data))


def profile() -> None:
    st.title("Profile")
    params = session.navigation_history[-1].params
    st.write("Opened with", dict(params))
    sg.text_input("Display name", key="display_name", form_id="profile")


def settings() -> None:
    st.title("Settings")
    sg.toggle("Email notifications", key="notifications", form_id="settings")
    sg.selectbox("Language", ["English", "Deutsch", "Français"], key="language", form_id="settings")
    session.add_cache_key("settings_view")


def admin() -> None:
    st.title("Roles, permissions, cache, metrics")
    st.caption("Roles and permissions live on the server; a user with devtools cannot grant them.")
    cols = st.columns(3)
    if cols[0].button("Make me admin", key="grant_admin"):
        session.add_role("admin")
        session.add_permission("delete")
        session.add_permission("admin")  # opens the sessions dashboard
        st.rerun()
    if cols[1].button("Revoke admin", key="revoke_admin"):
        session.remove_role("admin")
        session.remove_permission("delete")
        session.remove_permission("admin")
        st.rerun()
    st.write("Roles:", sorted(session.roles), "Permissions:", sorted(session.permissions))
    if session.has_permission("delete"):
        if st.button("Delete contact form", key="delete", type="primary"):
            sg.save_form("contact", {})
            st.success("Deleted")
    else:
        st.button("Delete contact form", key="delete", disabled=True, help="needs permission 'delete'")

    st.subheader("Cache keys")
    if st.button("Track user_data_123 and profile_123", key="track_cache"):
        session.add_cache_key("user_data_123")
        session.add_cache_key("profile_123", dependencies={"user_data_123"})
    if st.button("Invalidate user_data", key="invalidate_cache"):
        st.write("Invalidated:", sorted(manager.invalidate_cache("user_data")))
    st.write("Tracked:", sorted(session.cache_keys))

    st.subheader("Metrics")
    m = session.metrics
    cols = st.columns(4)
    cols[0].metric("Page views", m.page_views)
    cols[1].metric("Interactions", m.interaction_count)
    cols[2].metric("Duration", str(m.session_duration).split(".")[0])
    cols[3].metric("Last activity", m.last_activity.strftime("%H:%M:%S"))

    st.subheader("Maintenance")
    engine = get_persistence_engine()
    st.write("Database healthy:", get_db_manager().health_check())
    cols = st.columns(3)
    if cols[0].button("Clean up expired sessions", key="cleanup_expired"):
        st.write("Removed", engine.cleanup_expired_sessions())
    if cols[1].button("Clean up sessions inactive 7 days", key="cleanup_inactive"):
        st.write("Removed", engine.cleanup_inactive_sessions(inactive_days=7))
    if cols[2].button("End this session", key="end_session"):
        manager.cleanup_session()
        st.rerun()


{
    "home": home, "forms": contact_form, "profile": profile, "settings": settings, "admin": admin,
    "dashboard": sessions_admin.render,  # refuses sessions without the "admin" permission
}.get(
    session.current_page, home
)()
