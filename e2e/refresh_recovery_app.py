"""Three pages, every wrapped widget kind, snapshots and undo: the refresh-recovery tests' app."""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session()
manager = sg.get_session_manager()

PAGES = {"home": "Home", "forms": "Forms", "profile": "Profile"}
with st.sidebar:
    for name, title in PAGES.items():
        if st.button(title, key=f"nav-{name}", disabled=name == session.current_page):
            manager.navigate_to(name)
            st.rerun()
    if st.button("⬅ Back", key="nav-back", disabled=len(session.navigation_history) < 2):
        manager.go_back()
        st.rerun()
    st.caption("History: " + " → ".join(entry.page for entry in session.navigation_history))


def contact_form() -> None:
    st.title("Contact form")
    form_id = "contact"
    sg.text_input("Name", key="name", form_id=form_id)
    sg.text_input("Email", key="email", form_id=form_id)
    sg.number_input("Age", min_value=0, max_value=130, value=30, key="age", form_id=form_id)
    sg.text_area("Bio", key="bio", form_id=form_id)
    sg.text_input("Password (never stored)", type="password", key="password", form_id=form_id)
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
    if st.button("Snapshot", key="snapshot"):
        session.create_form_snapshot(form_id, "Snapshot")
        st.rerun()
    if st.button("Undo", key="undo", disabled=not session.can_undo(form_id)):
        session.undo_form(form_id)
        st.rerun()
    with st.expander("Stored form data"):
        st.json(dict(session.get_form_state(form_id).data))


if session.current_page == "forms":
    contact_form()
elif session.current_page == "profile":
    st.title("Profile")
else:
    st.title("Home")
