"""The guard component as Python declares it; its messages are in ``protocol``.

Setting ``SESSION_GUARD_COMPONENT_DEV_URL`` (for example
``http://localhost:5173``) serves the component from the vite dev server
instead of the built files inside the package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from streamlit.components.v1 import declare_component

from .protocol import GuardArgs

BUILD_DIR: Final = Path(__file__).parent / "frontend" / "build"
GUARD_KEY: Final = "_stsg_guard"


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
    """Draw the (invisible) guard and return the last message it sent, if any.

    Parameters
    ----------
    args : GuardArgs
        This run's component args (``docs/protocol.md``).

    Returns
    -------
    object
        The component's value: untrusted, for ``protocol.read_message``.
    """
    global _component_func
    if _component_func is None:
        _component_func = _declare()
    # One argument, not one per field: Streamlit inspects every argument of a
    # component call for dataframes on every script run. A tuple it turns away
    # at once; a dict it probes for a dozen dataframe types (~0.1 ms a run).
    return _component_func(guard=(args,), key=GUARD_KEY, default=None)
