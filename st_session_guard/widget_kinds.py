"""What each wrapped widget is seeded through, how its stored value is checked, and its default."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from . import values


@dataclass(frozen=True)
class Kind:
    seed_param: str
    """The widget argument that sets its initial value."""
    fit: values.FitRule
    seeds_index: bool = False
    """The seed is an option's index, not the value itself."""
    drafts: bool = False
    """Uncommitted typing is captured by the guard."""
    default: Callable[[Any, Mapping[str, Any]], Any] | None = None
    """The value shown when nothing is stored, from the seeding argument as declared (given or
    not) and the other arguments; None where Streamlit works it out when it draws (today, a minimum)."""
    container: bool = False
    """A container (tabs, an expander): its value is its state in ``st.session_state``, kept
    only while it reruns the script on change, and the call returns the container."""


def _as_given(declared: Any, kwargs: Mapping[str, Any]) -> Any:
    return declared


def _option_at(declared: Any, kwargs: Mapping[str, Any]) -> Any:
    options = list(kwargs.get("options") or [])
    return options[declared] if type(declared) is int and 0 <= declared < len(options) else None


def _chosen(declared: Any, kwargs: Mapping[str, Any]) -> list[Any]:
    if declared is None:
        return []
    return list(declared) if isinstance(declared, (list, tuple)) else [declared]


def _picked(declared: Any, kwargs: Mapping[str, Any]) -> Any:
    if kwargs.get("selection_mode", "single") == "multi":
        return _chosen(declared, kwargs)
    return declared


def _first_tab(declared: Any, kwargs: Mapping[str, Any]) -> Any:
    tabs = list(kwargs.get("tabs") or [])
    return declared if declared is not None or not tabs else tabs[0]


KINDS: Final[dict[str, Kind]] = {
    "text_input": Kind("value", values.fit_text, drafts=True, default=_as_given),
    "text_area": Kind("value", values.fit_text, drafts=True, default=_as_given),
    "number_input": Kind("value", values.fit_number, drafts=True),
    "selectbox": Kind("index", values.fit_choice_index, seeds_index=True, default=_option_at),
    "radio": Kind("index", values.fit_choice_index, seeds_index=True, default=_option_at),
    "multiselect": Kind("default", values.fit_many, default=_chosen),
    "checkbox": Kind("value", values.fit_bool, default=lambda declared, _: bool(declared)),
    "toggle": Kind("value", values.fit_bool, default=lambda declared, _: bool(declared)),
    "slider": Kind("value", values.fit_slider),
    "select_slider": Kind("value", values.fit_select_slider),
    "date_input": Kind("value", values.fit_date),
    "time_input": Kind("value", values.fit_time),
    "color_picker": Kind("value", values.fit_color, default=lambda declared, _: declared or "#000000"),
    "datetime_input": Kind("value", values.fit_datetime),
    "pills": Kind("default", values.fit_pills, default=_picked),
    "segmented_control": Kind("default", values.fit_pills, default=_picked),
    "feedback": Kind("default", values.fit_feedback, default=_as_given),
    "pagination": Kind("default", values.fit_page, default=_as_given),
    "tabs": Kind("default", values.fit_tab, default=_first_tab, container=True),
    "expander": Kind("expanded", values.fit_bool, default=lambda declared, _: bool(declared), container=True),
}
