"""A sign-in page whose "Log in as ada" continues ada's newest session, wherever it was started."""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session()
if session.user_id is None:
    if st.button("Log in as ada", key="login"):
        sg.resume_user_session("ada")  # the user id comes from the app's own login, never the browser
        st.rerun()
else:
    st.markdown(f"Signed in as {session.user_id}")
sg.text_input("City", key="city", form_id="address")
messages = session.storage.setdefault("messages", [])
for message in messages:
    with st.chat_message(message["role"]):
        st.markdown(message["content"])
if prompt := st.chat_input("Say something"):
    messages.append({"role": "user", "content": prompt})
    st.rerun()
