import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session()
st.title("Profile")
sg.text_input("Name", key="name", form_id="profile")
sg.selectbox("Plan", ["free", "pro", "team"], key="plan", form_id="profile")
sg.text_input("Password", type="password", key="password", form_id="profile")
