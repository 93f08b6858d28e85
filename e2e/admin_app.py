"""The sessions dashboard, and a button that grants the permission it asks for: the dashboard tests' app."""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg
from st_session_guard import admin

session = sg.bootstrap_session()
if st.sidebar.button("Make me admin", key="grant_admin"):
    session.add_permission("admin")  # before the dashboard is drawn: no rerun needed
admin.render()
