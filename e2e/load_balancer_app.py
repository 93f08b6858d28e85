"""Three wrapped fields, and the name of the server that ran this script."""

import os

import streamlit as st

import st_session_guard as sg

sg.bootstrap_session()
st.markdown(f"served by **{os.environ.get('STSG_SERVER_NAME', '?')}**")
sg.text_input("Name", key="name", form_id="profile")
sg.text_input("Email", key="email", form_id="profile")
sg.text_area("Bio", key="bio", form_id="profile")
