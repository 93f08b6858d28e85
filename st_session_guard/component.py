"""The guard component as Python sees it: its declaration and its messages.

The message types mirror ``frontend/src/protocol.ts`` field for field
(``tests/test_protocol.py`` holds them together); ``docs/protocol.md`` says
what each field means. Setting ``SESSION_GUARD_COMPONENT_DEV_URL`` (for
example ``http://localhost:5173``) serves the component from the vite dev
server instead of the built files inside the package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final, Literal, TypedDict

from streamlit.components.v1 import declare_component

PROTOCOL_VERSION: Final = 1
BUILD_DIR: Final = Path(__file__).parent / "frontend" / "build"
GUARD_KEY: Final = "_stsg_guard"


class ChangeMessage(TypedDict, total=False):
    p: list[str]
    v: Any
    r: int
    d: bool


class CookieSpec(TypedDict):
    name: str
    value: str
    max_age: int


class GuardArgs(TypedDict):
    v: int
    session_id: str
    revision: int
    base: int
    changes: list[ChangeMessage]
    cookie: CookieSpec | None
    debounce_ms: int
    drafts: dict[str, list[str]]
    excluded: list[str]
    ack: int | None


class DraftOut(TypedDict):
    key: str
    value: Any
    ts: int


class RestoreMessage(TypedDict):
    v: int
    seq: int
    type: Literal["restore"]
    session_id: str
    revision: int
    changes: list[ChangeMessage]
    drafts: list[DraftOut]


class ResyncMessage(TypedDict):
    v: int
    seq: int
    type: Literal["resync"]
    session_id: str
    revision: int


def _declare() -> Any:
    dev_url = os.environ.get("SESSION_GUARD_COMPONENT_DEV_URL")
    if dev_url:
        return declare_component("guard", url=dev_url)
    if not (BUILD_DIR / "index.html").exists():
        raise RuntimeError(
            f"st-session-guard's frontend is not built ({BUILD_DIR} is missing): "
            "install the package with pip, or run `npm ci && npm run build` in a source checkout"
        )
    return declare_component("guard", path=str(BUILD_DIR))


_component_func: Any = None


def render_guard(args: GuardArgs) -> object:
    """Draw the (invisible) guard and return the last message it sent, if any."""
    global _component_func
    if _component_func is None:
        _component_func = _declare()
    # One argument, not one per field: Streamlit inspects every argument of a
    # component call for dataframes on every script run. A tuple it turns away
    # at once; a dict it probes for a dozen dataframe types (~0.1 ms a run).
    return _component_func(guard=(args,), key=GUARD_KEY, default=None)
