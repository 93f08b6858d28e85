"""The process figures a Prometheus scrape reads: valid OpenMetrics, counted where things happen."""

from __future__ import annotations

import gc
import logging
import threading
import urllib.request
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from streamlit.testing.v1 import AppTest
from support import refused_session_writes

import st_session_guard as sg
from st_session_guard import process_metrics
from st_session_guard.live_sessions import live_sessions
from st_session_guard.manager import _open_session
from st_session_guard.openmetrics_text import CONTENT_TYPE
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.protocol import Limits, read_message
from st_session_guard.reconcile import restore_from_browser
from st_session_guard.session import UserSession

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def figures(text: str | None = None) -> Figures:
    """Every sample of the exposition, by name and labels; parsing fails on text that breaks the format."""
    parsed: Figures = {}
    for family in text_string_to_metric_families(text if text is not None else sg.openmetrics()):
        for sample in family.samples:
            parsed[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return parsed


def figure(name: str, **labels: str) -> float:
    return figures()[name, tuple(sorted(labels.items()))]


def test_the_exposition_is_openmetrics_with_every_figure_the_operations_need() -> None:
    families = {family.name: family.type for family in text_string_to_metric_families(sg.openmetrics())}

    assert families == {
        "st_session_guard_writes_pending": "gauge",
        "st_session_guard_write_seconds": "histogram",
        "st_session_guard_failed_writes": "counter",
        "st_session_guard_restores": "counter",
        "st_session_guard_unfit_values_dropped": "counter",
        "st_session_guard_browser_messages_refused": "counter",
        "st_session_guard_live_sessions": "gauge",
    }
    assert sg.openmetrics().endswith("# EOF\n")


def test_pending_writes_are_counted_until_written_and_each_write_is_timed(
    engine: SessionPersistenceEngine,
) -> None:
    gc.collect()  # engines of earlier tests that nothing holds any more leave the sum
    pending_before = figure("st_session_guard_writes_pending")  # engines other tests still hold
    writes_before = figure("st_session_guard_write_seconds_count")
    for _ in range(3):
        engine.persist_session(UserSession())

    assert figure("st_session_guard_writes_pending") == pending_before + 3
    assert engine.flush_all() == 3
    assert figure("st_session_guard_writes_pending") == pending_before
    assert figure("st_session_guard_write_seconds_count") == writes_before + 1
    assert figure("st_session_guard_write_seconds_bucket", le="+Inf") == writes_before + 1


def test_a_failed_write_is_counted(engine: SessionPersistenceEngine) -> None:
    failed_before = figure("st_session_guard_failed_writes_total")
    engine.persist_session(UserSession())
    with refused_session_writes(engine.db):
        assert engine.flush_all() == 0

    assert figure("st_session_guard_failed_writes_total") == failed_before + 1


def test_a_session_taken_back_from_the_database_is_a_database_restore(
    engine: SessionPersistenceEngine,
) -> None:
    stored = UserSession(current_page="home")
    engine.persist_session(stored)
    engine.flush_all()
    live_sessions.drop(stored.session_id)
    before = figure("st_session_guard_restores_total", source="database")

    assert _open_session(stored.session_id, None, "home").session_id == stored.session_id
    assert figure("st_session_guard_restores_total", source="database") == before + 1


def restore_message(session: UserSession, **parts: Any) -> Any:
    raw = {"v": 1, "seq": 1, "type": "restore", "session_id": session.session_id,
           "revision": session.revision, "changes": [], "drafts": [], **parts}
    message = read_message(raw, session.session_id, 0, Limits())
    assert message is not None and message["type"] == "restore"
    return message


def test_newer_mirrored_values_and_drafts_count_as_browser_and_draft_restores() -> None:
    session = UserSession()
    browser, drafts = (figure("st_session_guard_restores_total", source=s) for s in ("browser", "drafts"))
    message = restore_message(
        session,
        changes=[{"p": ["forms", "profile", "plan"], "v": "pro", "r": session.revision + 1}],
        drafts=[{"key": "name", "value": "Ad", "base": 0}],
    )

    outcome = restore_from_browser(session, message, {"name": ("forms", "profile", "name")}, set())

    assert outcome.applied == 2
    assert figure("st_session_guard_restores_total", source="browser") == browser + 1
    assert figure("st_session_guard_restores_total", source="drafts") == drafts + 1


def test_a_browser_message_that_breaks_the_protocol_is_counted_as_refused() -> None:
    session = UserSession()
    before = figure("st_session_guard_browser_messages_refused_total")

    assert read_message({"v": 1, "type": "restore", "seq": "one"}, session.session_id, 0, Limits()) is None
    assert figure("st_session_guard_browser_messages_refused_total") == before + 1


def test_a_stored_value_that_no_longer_fits_its_widget_is_counted_as_dropped(
    engine: SessionPersistenceEngine, caplog: pytest.LogCaptureFixture
) -> None:
    script = """
import streamlit as st
import st_session_guard as sg
session = sg.bootstrap_session({sid!r})
st.session_state["sid"] = session.session_id
sg.selectbox("Plan", {plans!r}, key="plan", form_id="profile")
"""
    first = AppTest.from_string(script.format(sid=None, plans=["free", "team"]), default_timeout=30).run()
    first.selectbox(key="plan").select("team").run()
    engine.flush_all()
    before = figure("st_session_guard_unfit_values_dropped_total")

    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        reloaded = AppTest.from_string(
            script.format(sid=first.session_state["sid"], plans=["free", "pro"]), default_timeout=30
        ).run()

    assert not reloaded.exception
    assert figure("st_session_guard_unfit_values_dropped_total") == before + 1


def test_live_sessions_are_the_sessions_this_process_holds() -> None:
    before = figure("st_session_guard_live_sessions")
    session = UserSession()
    live_sessions.put(session)
    try:
        assert figure("st_session_guard_live_sessions") == before + 1
    finally:
        live_sessions.drop(session.session_id)
    assert figure("st_session_guard_live_sessions") == before


def test_the_figures_are_served_over_http_with_the_openmetrics_content_type() -> None:
    server = sg.serve_openmetrics(0)
    assert sg.serve_openmetrics(0) is server  # a script calling it on every run starts one server
    url = f"http://127.0.0.1:{server.server_port}/metrics"

    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"] == CONTENT_TYPE
        served = figures(response.read().decode())

    assert ("st_session_guard_live_sessions", ()) in served


def test_counting_from_many_threads_loses_no_count() -> None:
    before = figure("st_session_guard_browser_messages_refused_total")
    threads = [threading.Thread(target=lambda: [process_metrics.count_refused_message()
                                                for _ in range(1000)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert figure("st_session_guard_browser_messages_refused_total") == before + 8000
