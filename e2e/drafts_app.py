"""Wrapped text fields (one excluded, one a password), unwrapped keyed fields, and what the server
committed: the draft tests' app."""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session(exclude_keys=["nickname"])
st.title("Drafts")
sg.text_input("Name", key="name", form_id="contact")
sg.text_area("Bio", key="bio", form_id="contact")
sg.number_input("Age", min_value=0, max_value=130, value=30, key="age", form_id="contact")
st.selectbox("Topic (not wrapped)", ["news", "tips"], key="topic")
sg.text_input("PIN", type="password", key="pin", form_id="contact")
sg.text_input("Nickname (excluded)", key="nickname", form_id="contact")
st.text_input("Search (not wrapped)", key="search")
with st.expander("Stored form data"):
    st.json(dict(session.get_form_state("contact").data))
