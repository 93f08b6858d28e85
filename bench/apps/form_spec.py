"""The page shapes the reload benchmarks compare: widgets, declared defaults and restored values.

One module, imported by every app and by the benchmarks, so the plain app,
the guarded app and the detector in the browser all agree on what a
"default" and a "restored" value look like. An app draws the shape that
``BENCH_SHAPE`` names (``bench`` unless set):

- ``bench``: ten widgets of ten kinds;
- ``six``: a small form as a user writes it from the README: text, a bounded
  number, a selectbox, a checkbox, a text area and a password, a button and
  two lines of text (the password is never restored, so it is not watched);
- ``fifty``: fifty widgets, five of each of ten kinds;
- ``navigation``: the ten widgets of ``bench`` on a page of a two-page
  ``st.navigation`` (``sg.navigation`` in the guarded app), opened at ``/form``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Final

import streamlit as st

FORM: Final = "bench"
PLAN: Final = ["free", "pro", "team"]
CONTACT: Final = ["email", "phone"]


@dataclass(frozen=True)
class Widget:
    kind: str
    """The name of the Streamlit widget (``st.<kind>``)."""
    label: str
    declared: Any
    """The default the guarded app declares; the baseline hard-codes ``restored``."""
    restored: Any
    options: list[str] = field(default_factory=list)
    bounds: tuple[Any, Any] | None = None
    step: float | None = None


def _ten(suffix: str = "") -> dict[str, Widget]:
    s = suffix
    return {
        f"name{s}": Widget("text_input", f"Name{s}", "Default name", "Ada Lovelace"),
        f"email{s}": Widget("text_input", f"Email{s}", "default@example.org", "ada@example.org"),
        f"bio{s}": Widget("text_area", f"Bio{s}", "Default bio", "First programmer."),
        f"age{s}": Widget("number_input", f"Age{s}", 30, 36, bounds=(0, 130)),
        f"height{s}": Widget("number_input", f"Height (m){s}", 1.5, 1.72, bounds=(0.5, 2.5), step=0.01),
        f"plan{s}": Widget("selectbox", f"Plan{s}", "free", "team", options=PLAN),
        f"contact_by{s}": Widget("radio", f"Contact by{s}", "email", "phone", options=CONTACT),
        f"subscribe{s}": Widget("checkbox", f"Subscribe{s}", False, True),
        f"dark{s}": Widget("toggle", f"Dark mode{s}", False, True),
        f"satisfaction{s}": Widget("slider", f"Satisfaction{s}", 5, 8, bounds=(0, 10)),
    }


SIX: Final = {
    "name": Widget("text_input", "Name", "", "Grace Hopper"),
    "quantity": Widget("number_input", "Quantity", 1, 12, bounds=(1, 99)),
    "plan": Widget("selectbox", "Plan", "free", "pro", options=PLAN),
    "agree": Widget("checkbox", "I agree", False, True),
    "notes": Widget("text_area", "Notes", "", "Ship it on Monday.\nCall first."),
}

SHAPES: Final[dict[str, dict[str, Widget]]] = {
    "bench": _ten(),
    "six": SIX,
    "fifty": {key: w for i in range(5) for key, w in _ten(str(i)).items()},
    "navigation": _ten(),
}

SHAPE: Final = os.environ.get("BENCH_SHAPE", "bench")
WIDGETS: Final = SHAPES[SHAPE]


def draw(module: Any, values: dict[str, Any], **extra: Any) -> None:
    """Draw the shape's widgets with ``module`` (``st`` or ``sg``), each seeded with ``values[key]``."""
    for key, w in WIDGETS.items():
        value = values[key]
        if w.kind in ("selectbox", "radio"):
            getattr(module, w.kind)(w.label, w.options, w.options.index(value), key=key, **extra)
        elif w.bounds is not None:
            getattr(module, w.kind)(w.label, w.bounds[0], w.bounds[1], value, step=w.step, key=key, **extra)
        else:
            getattr(module, w.kind)(w.label, value, key=key, **extra)
    if SHAPE == "six":
        module.text_input("Password", type="password", key="password", **extra)
        st.button("Save")
        st.write("Your order is kept while you work on it.")
        st.write("Nothing is sent until you press Save.")


def page(body: Any, navigation: Any) -> None:
    """Run ``body`` (the form's page) as the app; on the navigation shape as a page of
    ``navigation`` (``st.navigation`` or ``sg.navigation``)."""
    if SHAPE != "navigation":
        body()
        return
    pages = [st.Page(_home, title="Home", url_path="home", default=True),
             st.Page(body, title="Form", url_path="form")]
    navigation(pages).run()


def _home() -> None:
    st.title("Home")


def defaults(shape: str = SHAPE) -> dict[str, Any]:
    return {key: w.declared for key, w in SHAPES[shape].items()}


def restored(shape: str = SHAPE) -> dict[str, Any]:
    return {key: w.restored for key, w in SHAPES[shape].items()}
