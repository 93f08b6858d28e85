"""The same page on st-session-guard: declared defaults in the code, values restored from the session."""

import streamlit as st
from form_spec import FORM, defaults, draw, page

import st_session_guard as sg

sg.bootstrap_session()


def form() -> None:
    st.title("Reload benchmark")
    draw(sg, defaults(), form_id=FORM)


page(form, sg.navigation)
