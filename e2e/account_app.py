"""A profile form with "Log in" (a fresh id, then a role) and "Log out" (the session ends).

``?slow=<seconds>`` makes each run take that long before its buttons, as a
script with real work in it does, so a test can act while a click's run is on.
"""

from __future__ import annotations

import time

import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session()
st.markdown(f"Session: `{session.session_id}`")
sg.text_input("Name", key="name", form_id="profile")
sg.text_area("Bio", key="bio", form_id="profile")
time.sleep(float(st.query_params.get("slow", 0)))
if st.button("Log in", key="login"):
    session = sg.rotate_session_id()
    session.add_role("member")
    st.rerun()
if st.button("Log out", key="logout"):
    sg.get_session_manager().cleanup_session()
    st.rerun()
st.markdown(f"Roles: {', '.join(sorted(session.roles)) or 'none'}")
