"""A text field, a selectbox and a password field, wrapped, and a plain button: the crash-window tests' app."""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg

sg.bootstrap_session()
st.title("Contact form")
sg.text_input("Name", key="name", form_id="contact")
sg.selectbox("Plan", ["free", "pro", "team"], key="plan", form_id="contact")
sg.text_input("PIN", key="pin", form_id="contact", type="password")
st.button("Check", key="check")  # a run that changes nothing
