"""A contact form, and an admin page showing the server-owned roles and permissions: the tampering tests' app.

Nothing in it grants a role or a permission; whatever the page shows of them
can only have come from the browser.
"""

from __future__ import annotations

import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session()
PAGES = {"home": "Home", "forms": "Forms", "admin": "Admin"}
with st.sidebar:
    for name, title in PAGES.items():
        if st.button(title, key=f"nav-{name}", disabled=name == session.current_page):
            sg.get_session_manager().navigate_to(name)
            st.rerun()

if session.current_page == "forms":
    st.title("Contact form")
    sg.text_input("Name", key="name", form_id="contact")
    sg.text_input("Email", key="email", form_id="contact")
elif session.current_page == "admin":
    st.title("Roles and permissions")
    st.write("Roles:", sorted(session.roles), "Permissions:", sorted(session.permissions))
    st.button("Delete contact form", key="delete", disabled=not session.has_permission("delete"))
else:
    st.title("Home")
