"""One wrapped text area: the session size tests' app."""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg

sg.bootstrap_session()
st.title("Notes")
sg.text_area("Notes", key="notes", form_id="notes")
