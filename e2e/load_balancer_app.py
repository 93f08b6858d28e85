"""Three wrapped fields, the name of the server that ran this script, and its session."""

import os

import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session()
st.markdown(f"served by **{os.environ.get('STSG_SERVER_NAME', '?')}**")
st.markdown(f"Session: `{session.session_id}`")
sg.text_input("Name", key="name", form_id="profile")
sg.text_input("Email", key="email", form_id="profile")
sg.text_area("Bio", key="bio", form_id="profile")
st.button("Run again", key="again")
if st.button("Log out", key="logout"):
    sg.get_session_manager().cleanup_session()
    st.rerun()
