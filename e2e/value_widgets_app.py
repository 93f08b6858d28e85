"""Widgets beyond text fields: a URL-bound choice, a typed new option, pills, an ignored change,
a data editor and tabs, each persisted by its wrapper."""

import json

import pandas as pd
import streamlit as st

import st_session_guard as sg

session = sg.bootstrap_session()
runs = st.session_state["runs"] = st.session_state.get("runs", 0) + 1
st.title("Value widgets")
sg.selectbox("Plan", ["free", "pro", "team"], bind="query-params", key="plan", form_id="w")
sg.selectbox("City", ["Paris", "Rome"], accept_new_options=True, key="city", form_id="w")
sg.pills("Tags", ["red", "green", "blue"], selection_mode="multi", key="tags", form_id="w")
sg.text_input("Quiet", key="quiet", form_id="w", on_change="ignore")
st.button("Run", key="run")
table = sg.data_editor(
    pd.DataFrame({"name": ["Ada", "Grace"], "age": [36, 85]}), key="people", form_id="w", hide_index=True
)
summary, details = sg.tabs(["Summary", "Details"], key="tab", form_id="w")
details.write("The details")
st.caption(f"Runs: {runs}")
st.caption("Table: " + json.dumps(table.to_dict("list")))
