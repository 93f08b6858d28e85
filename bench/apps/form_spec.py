"""The ten widgets the reload benchmarks compare, with their declared defaults and restored values.

One module, imported by every app and by the benchmarks, so the plain app,
the guarded app and the detector in the browser all agree on what a
"default" and a "restored" value look like.
"""

from __future__ import annotations

from typing import Any, Final

PLAN: Final = ["free", "pro", "team"]
CONTACT: Final = ["email", "phone"]
FORM: Final = "bench"

# key -> (widget, declared default, restored value)
WIDGETS: Final[dict[str, tuple[str, Any, Any]]] = {
    "name": ("text_input", "Default name", "Ada Lovelace"),
    "email": ("text_input", "default@example.org", "ada@example.org"),
    "bio": ("text_area", "Default bio", "First programmer."),
    "age": ("number_input", 30, 36),
    "height": ("number_input", 1.5, 1.72),
    "plan": ("selectbox", "free", "team"),
    "contact_by": ("radio", "email", "phone"),
    "subscribe": ("checkbox", False, True),
    "dark": ("toggle", False, True),
    "satisfaction": ("slider", 5, 8),
}


def draw(module: Any, values: dict[str, Any], **extra: Any) -> None:
    """Draw the ten widgets with ``module`` (``st`` or ``sg``), each seeded with ``values[key]``."""
    v = values
    module.text_input("Name", v["name"], key="name", **extra)
    module.text_input("Email", v["email"], key="email", **extra)
    module.text_area("Bio", v["bio"], key="bio", **extra)
    module.number_input("Age", 0, 130, v["age"], key="age", **extra)
    module.number_input("Height (m)", 0.5, 2.5, v["height"], step=0.01, key="height", **extra)
    module.selectbox("Plan", PLAN, PLAN.index(v["plan"]), key="plan", **extra)
    module.radio("Contact by", CONTACT, CONTACT.index(v["contact_by"]), key="contact_by", **extra)
    module.checkbox("Subscribe", v["subscribe"], key="subscribe", **extra)
    module.toggle("Dark mode", v["dark"], key="dark", **extra)
    module.slider("Satisfaction", 0, 10, v["satisfaction"], key="satisfaction", **extra)


def defaults() -> dict[str, Any]:
    return {key: spec[1] for key, spec in WIDGETS.items()}


def restored() -> dict[str, Any]:
    return {key: spec[2] for key, spec in WIDGETS.items()}
