"""Plain Streamlit: the ten widgets with the restored values hard-coded (the baseline page)."""

import streamlit as st
from form_spec import draw, restored

st.title("Reload benchmark")
draw(st, restored())
