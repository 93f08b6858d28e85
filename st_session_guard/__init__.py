"""st-session-guard: a Streamlit app that loses nothing on refresh, restart or crash.

``session = bootstrap_session()`` at the top of the script, ``sg.text_input``
(and the other wrappers) instead of ``st.text_input``; the rest is in
``docs/`` and the README.

Every name is imported on first use (PEP 562), so importing a submodule
that needs no Streamlit (the session domain, the engine, the CLI) does not
import Streamlit.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .editor import data_editor
    from .manager import bootstrap_session, get_current_session
    from .pages import navigation
    from .process_metrics import openmetrics, serve_openmetrics
    from .resume import resume_user_session
    from .session import FormSnapshot, FormState, NavigationEntry, SessionMetrics, UserSession
    from .session_manager import (
        SessionManager,
        get_session_manager,
        persist_input,
        rotate_session_id,
        save_form,
    )
    from .session_size import SessionFull
    from .storage import SessionStorage, StorageFull
    from .widgets import (
        checkbox,
        color_picker,
        date_input,
        datetime_input,
        expander,
        feedback,
        multiselect,
        number_input,
        pagination,
        pills,
        radio,
        segmented_control,
        select_slider,
        selectbox,
        slider,
        tabs,
        text_area,
        text_input,
        time_input,
        toggle,
    )

_HOMES: Final = {
    "bootstrap_session": "manager",
    "data_editor": "editor",
    "get_current_session": "manager",
    "navigation": "pages",
    "openmetrics": "process_metrics",
    "serve_openmetrics": "process_metrics",
    "resume_user_session": "resume",
    "SessionFull": "session_size",
    "SessionStorage": "storage",
    "StorageFull": "storage",
    **dict.fromkeys(
        ["FormSnapshot", "FormState", "NavigationEntry", "SessionMetrics", "UserSession"], "session"
    ),
    **dict.fromkeys(
        ["SessionManager", "get_session_manager", "persist_input", "rotate_session_id", "save_form"],
        "session_manager",
    ),
    **dict.fromkeys(
        ["checkbox", "color_picker", "date_input", "datetime_input", "expander", "feedback",
         "multiselect", "number_input", "pagination", "pills", "radio", "segmented_control",
         "select_slider", "selectbox", "slider", "tabs", "text_area", "text_input", "time_input",
         "toggle"],
        "widgets",
    ),
}
"""Public name -> the submodule it lives in."""

__all__ = [
    "FormSnapshot",
    "FormState",
    "NavigationEntry",
    "SessionFull",
    "SessionManager",
    "SessionMetrics",
    "SessionStorage",
    "StorageFull",
    "UserSession",
    "bootstrap_session",
    "checkbox",
    "color_picker",
    "data_editor",
    "date_input",
    "datetime_input",
    "expander",
    "feedback",
    "get_current_session",
    "get_session_manager",
    "multiselect",
    "navigation",
    "number_input",
    "openmetrics",
    "pagination",
    "persist_input",
    "pills",
    "radio",
    "resume_user_session",
    "rotate_session_id",
    "save_form",
    "segmented_control",
    "select_slider",
    "selectbox",
    "serve_openmetrics",
    "slider",
    "tabs",
    "text_area",
    "text_input",
    "time_input",
    "toggle",
]
assert sorted(__all__) == sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
