"""A sign-in page: "Log in" moves the session to a fresh id, then grants the signed-in role.

Moving the id on login is what makes an id planted before it (session
fixation) worthless; the tests replay the old cookie to show it.
"""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session()
st.markdown(f"Session: `{session.session_id}`")
sg.text_input("Name", key="name", form_id="profile")
if st.button("Log in", key="login"):
    session = sg.rotate_session_id()
    session.add_role("member")
    st.rerun()
st.markdown(f"Roles: {', '.join(sorted(session.roles)) or 'none'}")
