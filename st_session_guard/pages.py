"""``sg.navigation``: ``st.navigation`` whose page switches land in the session's history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from .manager import get_current_session


def _page_name(page: Any) -> str:
    return str(page.url_path or page.title)


def _declared(pages: Any) -> list[Any]:
    """The ``st.Page`` objects among the pages as declared (a list, or sections of lists)."""
    listed = [p for section in pages.values() for p in section] if isinstance(pages, Mapping) else pages
    return [p for p in listed if hasattr(p, "url_path")]


def navigation(pages: Any, **kwargs: Any) -> Any:
    """Exactly ``st.navigation(pages, ...)``; a switch to another page is recorded.

    The page is named by its ``url_path`` (the default page's is ``""``, recorded
    as its title), the same name ``manager.navigate_to`` would use. A session that
    has not moved yet starts its history at the default page, not at a page name
    that is none of these (``bootstrap_session``'s ``default_page``).
    """
    page = st.navigation(pages, **kwargs)
    name = _page_name(page)
    session = get_current_session()
    if name != session.current_page:
        declared = _declared(pages)
        if all(_page_name(p) != session.current_page for p in declared):
            default = next((p for p in declared if p.url_path == ""), page)
            session.start_at(_page_name(default))
        if name != session.current_page:
            session.navigate_to(name)
    return page
