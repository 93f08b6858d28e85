"""Plain Streamlit keeping 1 MB in ``st.session_state``: the baseline of ``megabyte_guarded.py``."""

import secrets

import streamlit as st

if "blob" not in st.session_state:
    st.session_state.blob = secrets.token_hex(500_000)
