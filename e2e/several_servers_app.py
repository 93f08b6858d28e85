"""A home page and a contact form, with the session id in the sidebar: the several-servers tests' app."""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session()
with st.sidebar:
    st.caption(f"Session `{session.session_id}`")
    if st.button("Forms", key="nav-forms", disabled=session.current_page == "forms"):
        sg.get_session_manager().navigate_to("forms")
        st.rerun()

if session.current_page == "forms":
    st.title("Contact form")
    sg.text_input("Name", key="name", form_id="contact")
    sg.text_input("Email", key="email", form_id="contact")
    sg.number_input("Age", min_value=0, max_value=130, value=30, key="age", form_id="contact")
    sg.text_area("Bio", key="bio", form_id="contact")
else:
    st.title("Home")
