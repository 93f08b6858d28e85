"""A wrapped field, and this process's metrics served on STSG_METRICS_PORT: the metrics tests' app."""

from __future__ import annotations

import os

import streamlit as st

import st_session_guard as sg

sg.serve_openmetrics(int(os.environ["STSG_METRICS_PORT"]))
sg.bootstrap_session()
st.title("Contact form")
sg.text_input("Name", key="name", form_id="contact")
