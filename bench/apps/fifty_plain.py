"""Fifty plain Streamlit widgets."""

import streamlit as st
from fifty_widgets import draw, timed

timed("plain", lambda: draw(st))
