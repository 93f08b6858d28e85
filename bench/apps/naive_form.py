"""The usual hand-made restore, as a control for the flash detector.

Values go into ``st.session_state`` before the widgets are created, which
Streamlit paints one frame after the widget's own default.
"""

import streamlit as st
from form_spec import defaults, draw, restored

st.title("Reload benchmark")
if "restored" not in st.session_state:
    st.session_state.restored = True
    for key, value in restored().items():
        st.session_state[key] = value
draw(st, defaults())
