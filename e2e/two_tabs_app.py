"""Two text fields and a selectbox, wrapped: the two-tab test's app."""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg

sg.bootstrap_session()
st.title("Contact form")
sg.text_input("Name", key="name", form_id="contact")
sg.text_input("Email", key="email", form_id="contact")
sg.selectbox("Plan", ["free", "pro", "team"], key="plan", form_id="contact")
