"""A short contact form, wrapped: the app for tabs whose IndexedDB fails."""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg

sg.bootstrap_session()
st.title("Contact form")
sg.text_input("Name", key="name", form_id="contact")
sg.text_input("Email", key="email", form_id="contact")
sg.text_area("Bio", key="bio", form_id="contact")
