"""``e2e/load_app.py`` in plain Streamlit: the same field and texts, no guard (``bench/load.py``'s baseline)."""

import secrets

import streamlit as st

if "session" not in st.session_state:
    st.session_state.session = secrets.token_hex(32)  # an id like the guard's, for the same client
st.text_input("Note", key="note")
with st.container(key="committed"):
    st.text(st.session_state.get("note", ""))
with st.container(key="session"):
    st.text(st.session_state.session)
