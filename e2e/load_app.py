"""One wrapped field per session, and what the server has committed for it: the load test's app."""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session()
sg.text_input("Note", key="note", form_id="load")
with st.container(key="committed"):
    # Read back from the session, not the widget: shown only once the server holds it.
    st.text(session.get_form_state("load").data.get("note", ""))
with st.container(key="session"):
    st.text(session.session_id)
