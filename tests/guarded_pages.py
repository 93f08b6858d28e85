"""Page loads of a guarded script under Streamlit's ``AppTest``, in a session whose form ``f``
already holds what the test seeds: the scaffolding the widget tests share."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from st_session_guard.persistence import SessionPersistenceEngine

HEAD = """
import datetime
import pandas as pd
import streamlit as st
import st_session_guard as sg
session = sg.bootstrap_session({session_id!r})
st.session_state["sid"] = session.session_id
for name, value in {seed!r}.items():
    session.update_form_data("f", name, value)
"""


def page_load(body: str, session_id: str | None = None, seed: dict[str, Any] | None = None,
              query: dict[str, str] | None = None) -> AppTest:
    """One page load of ``body`` (after ``HEAD``) that must raise nothing; seeded with ``seed``."""
    app = AppTest.from_string(HEAD.format(session_id=session_id, seed=seed or {}) + body, default_timeout=30)
    app.query_params.update(query or {})
    app.run()
    assert not app.exception, app.exception
    return app


def reload(engine: SessionPersistenceEngine, body: str, seed: dict[str, Any],
           query: dict[str, str] | None = None) -> AppTest:
    """A page load of ``body`` in a session whose form ``f`` was filled with ``seed`` and stored."""
    first = page_load("", seed=seed)
    engine.flush_all()
    return page_load(body, first.session_state["sid"], query=query)
