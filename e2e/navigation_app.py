"""An app on st.navigation: sg.navigation records each page switch in the session's history."""

import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session()


def first() -> None:
    st.title("First page")


def second() -> None:
    st.title("Second page")
    sg.text_input("Note", key="note", form_id="second")


page = sg.navigation(
    [st.Page(first, title="First", default=True), st.Page(second, title="Second", url_path="second")]
)
st.sidebar.caption("History: " + " → ".join(entry.page for entry in session.navigation_history))
page.run()
