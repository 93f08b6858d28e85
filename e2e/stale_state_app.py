"""One order form as two releases of an app declare it: ``STALE_APP_VERSION`` is 1 or 2.

Version 2 is the app after a change: options removed, ranges narrowed, a
text field turned into a number. State stored under version 1 must not
crash it; what no longer fits is dropped and the widget shows its default.
"""

from __future__ import annotations

import os

import streamlit as st

import st_session_guard as sg

VERSION = os.environ.get("STALE_APP_VERSION", "1")
FORM = "order"

session = sg.bootstrap_session()
st.title(f"Order form, version {VERSION}")
sg.text_input("Name", key="name", form_id=FORM)
if VERSION == "1":
    sg.selectbox("Plan", ["free", "pro", "team"], key="plan", form_id=FORM)
    sg.multiselect("Topics", ["news", "tips", "offers"], key="topics", form_id=FORM)
    sg.radio("Contact by", ["email", "phone", "post"], key="contact_by", form_id=FORM)
    sg.number_input("Age", min_value=0, max_value=130, value=30, key="age", form_id=FORM)
    sg.slider("Satisfaction", 0, 10, 5, key="satisfaction", form_id=FORM)
    sg.text_input("Quantity", key="quantity", form_id=FORM)
    sg.selectbox("Language", ["English", "Deutsch", "Français"], key="language", form_id=FORM)
else:
    sg.selectbox("Plan", ["free", "pro"], key="plan", form_id=FORM)
    sg.multiselect("Topics", ["news", "offers"], key="topics", form_id=FORM)
    sg.radio("Contact by", ["email", "phone"], key="contact_by", form_id=FORM)
    sg.number_input("Age", min_value=0, max_value=120, value=30, key="age", form_id=FORM)
    sg.slider("Satisfaction", 0, 5, 3, key="satisfaction", form_id=FORM)
    sg.number_input("Quantity", min_value=1, value=1, key="quantity", form_id=FORM)
    # An option added in front: the stored choice still fits, at another index.
    sg.selectbox("Language", ["Italiano", "English", "Deutsch", "Français"], key="language",
                 form_id=FORM)
