"""``sg.navigation``: ``st.navigation`` whose page switches land in the session's history."""

from __future__ import annotations

from typing import Any

import streamlit as st

from .manager import get_current_session


def navigation(pages: Any, **kwargs: Any) -> Any:
    """Exactly ``st.navigation(pages, ...)``; a switch to another page is recorded.

    The page is named by its ``url_path`` (the default page's is ``""``, recorded
    as its title), the same name ``manager.navigate_to`` would use.
    """
    page = st.navigation(pages, **kwargs)
    name = page.url_path or page.title
    session = get_current_session()
    if name != session.current_page:
        session.navigate_to(name)
    return page
