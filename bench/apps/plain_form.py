"""Plain Streamlit: the same widgets with the restored values hard-coded (the baseline page)."""

import streamlit as st
from form_spec import draw, page, restored


def form() -> None:
    st.title("Reload benchmark")
    draw(st, restored())


page(form, st.navigation)
