"""st-session-guard: a Streamlit app that loses nothing on refresh, restart or crash.

``session = bootstrap_session()`` at the top of the script, ``sg.text_input``
(and the other wrappers) instead of ``st.text_input``; the rest is in
``docs/`` and the README.
"""

from .manager import (
    SessionManager,
    bootstrap_session,
    get_current_session,
    get_session_manager,
    persist_input,
    rotate_session_id,
    save_form,
)
from .navigation import navigation
from .session import FormSnapshot, FormState, NavigationEntry, SessionMetrics, UserSession
from .widgets import (
    checkbox,
    color_picker,
    date_input,
    multiselect,
    number_input,
    radio,
    select_slider,
    selectbox,
    slider,
    text_area,
    text_input,
    time_input,
    toggle,
)

__all__ = [
    "FormSnapshot",
    "FormState",
    "NavigationEntry",
    "SessionManager",
    "SessionMetrics",
    "UserSession",
    "bootstrap_session",
    "checkbox",
    "color_picker",
    "date_input",
    "get_current_session",
    "get_session_manager",
    "multiselect",
    "navigation",
    "number_input",
    "persist_input",
    "radio",
    "rotate_session_id",
    "save_form",
    "select_slider",
    "selectbox",
    "slider",
    "text_area",
    "text_input",
    "time_input",
    "toggle",
]
