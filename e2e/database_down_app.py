"""A form and what the write-behind engine knows of its database: the outage tests' app.

The status line is drawn at the end of every run; the button reruns the
script without changing the session, so reading it adds no write of its own.
"""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg
from st_session_guard.database import get_db_manager
from st_session_guard.session_persistence import get_persistence_engine

session = sg.bootstrap_session()
sg.text_input("Name", key="name", form_id="contact")
sg.text_input("Email", key="email", form_id="contact")
sg.number_input("Age", min_value=0, max_value=130, value=30, key="age", form_id="contact")
sg.text_area("Bio", key="bio", form_id="contact")
sg.selectbox("Plan", ["free", "pro", "team"], key="plan", form_id="contact")

st.button("Check the database", key="check")
st.session_state["runs"] = st.session_state.get("runs", 0) + 1
engine = get_persistence_engine()
with st.container(key="status"):  # last, so a new run number means every figure is fresh
    st.text(
        f"run {st.session_state['runs']}; healthy {get_db_manager().health_check()}; "
        f"failed writes {engine.failures}; unwritten sessions {engine.pending_count}"
    )
