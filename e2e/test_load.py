"""Five hundred sessions editing at once against one server: every last committed value is stored.

Most of the sessions are simulated clients that speak Streamlit's own
websocket protocol, as its frontend does (a ``rerun_script`` message
carrying the widget's new value, then the deltas of the run up to
``script_finished``); a few are real Chromium tabs, so the guard component
and its mirror run in the mix too. Fifty real tabs would measure two cores'
worth of page rendering rather than the server, and would starve every
other browser test on the machine.

All sessions are open at once and edit until one shared deadline. An edit
counts as committed once the server's reply shows the value read back from
its session. After the deadline the database of record (PostgreSQL, the
store for busy and multi-server deployments) must hold, for every session,
exactly the last value it committed: no write lost, none mixed up between
sessions. The figures printed are for a reader, not assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import expect as expect_async

from st_session_guard.testing import SYSTEM_CHROMIUM_FLAGS, StreamlitServer, wait_until
from tests.load_clients import RUN_TIMEOUT, Session, edit_until, open_session

from .conftest import stored_sessions

APP = Path(__file__).with_name("load_app.py")
SIMULATED = 495
BROWSER_TABS = 5
EDIT_SECONDS = 30.0
"""How long every session keeps editing once all of them are open."""
CONNECTING_AT_ONCE = 25
RUN_STATE = (
    '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
    '[data-test-script-state="notRunning"]'
)

pytestmark = [pytest.mark.load, pytest.mark.postgres, pytest.mark.timeout(300)]


async def launch(playwright: Playwright) -> Browser:
    """A Playwright-installed Chromium if there is one, else the system's ``chromium``."""
    try:
        return await playwright.chromium.launch()
    except Exception:  # noqa: BLE001 - Playwright's own browser is not installed
        system = shutil.which("chromium") or "/usr/bin/chromium"
        return await playwright.chromium.launch(executable_path=system, args=SYSTEM_CHROMIUM_FLAGS)


async def open_tab(browser: Browser, url: str, index: int) -> Session:
    context = await browser.new_context(viewport={"width": 800, "height": 600})
    page = await context.new_page()
    page.set_default_timeout(RUN_TIMEOUT * 1000)
    await page.goto(url)
    await page.wait_for_selector(RUN_STATE, state="attached")
    note = page.locator(".st-key-note input")
    committed = page.locator(".st-key-committed")

    async def edit(value: str) -> None:
        await note.fill(value)
        await note.press("Enter")
        await expect_async(committed).to_have_text(value, timeout=RUN_TIMEOUT * 1000)

    session_id = (await page.locator(".st-key-session").inner_text()).strip()
    return Session(f"tab {index}", session_id, edit)


@dataclass
class Outcome:
    sessions: list[Session]
    opening: float
    editing: float


async def drive(url: str) -> Outcome:
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
            started = time.monotonic()
            opened: list[Any] = await asyncio.gather(
                *(open_session(url, f"simulated {i}", gate) for i in range(SIMULATED)),
                *(open_tab(browser, url, i) for i in range(BROWSER_TABS)),
            )
            sessions = [o[0] if isinstance(o, tuple) else o for o in opened]
            clients = [o[1] for o in opened if isinstance(o, tuple)]
            ready = time.monotonic()
            await asyncio.gather(*(edit_until(s, ready + EDIT_SECONDS) for s in sessions))
            done = time.monotonic()
            await asyncio.gather(*(client.close() for client in clients))
            return Outcome(sessions, ready - started, done - ready)
        finally:
            await browser.close()


def test_five_hundred_sessions_editing_at_once_lose_no_committed_value(
    postgres_url: str,
    streamlit_server: Callable[..., StreamlitServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # PostgreSQL, where a batched write takes long enough that edits keep
    # arriving while it is under way: the bookkeeping that must not forget
    # them is what this test loads.
    server = streamlit_server(APP, env={
        "SESSION_GUARD_DATABASE_URL": postgres_url,
        "SESSION_GUARD_DEBOUNCE": "2.0",  # the default: writes coalesce as in production
        "SESSION_GUARD_SECRET": "load-secret",
        # Streamlit's option runner.postScriptGC: no full garbage collection
        # after every run, which with 500 sessions in memory costs several
        # times the run itself.
        "STREAMLIT_RUNNER_POST_SCRIPT_GC": "false",
    })

    try:
        # Playwright's async API gets a thread (and event loop) of its own,
        # apart from the sync API the other browser tests drive from this one.
        with ThreadPoolExecutor(1) as pool:
            outcome = pool.submit(asyncio.run, drive(server.url)).result()
        ended = time.monotonic()
        sessions = outcome.sessions
        expected = {s.session_id: s.last_committed for s in sessions}

        def stored_last_values() -> dict[str, object]:
            rows = stored_sessions(postgres_url)
            return {sid: row.form("load").get("note") for sid, row in rows.items()}

        with contextlib.suppress(TimeoutError):  # the assertions below say what is missing
            wait_until(lambda: stored_last_values() == expected, 60, "every last committed value")
        converged = time.monotonic() - ended
        stored = stored_last_values()
    finally:
        server.stop()  # before the schema is dropped

    assert len(expected) == SIMULATED + BROWSER_TABS  # as many distinct sessions as clients
    lost = [(value, stored.get(sid)) for sid, value in expected.items() if stored.get(sid) != value]
    assert not lost, f"{len(lost)} sessions lost their last value (expected, stored): {lost[:5]}"
    assert sum(stored[s.session_id] == s.last_committed for s in sessions) == len(sessions)
    assert stored == expected  # and no stored session that no client had
    assert "Uncaught app execution" not in server.log()

    latencies = sorted(x for s in sessions for x in s.latencies)
    edits = len(latencies)
    per_session = [len(s.latencies) for s in sessions]
    tabs = [x for s in sessions if s.name.startswith("tab") for x in s.latencies]
    with capsys.disabled():
        print(
            f"\nload: {len(sessions)} sessions ({BROWSER_TABS} in Chromium) opened in "
            f"{outcome.opening:.1f} s; {edits} committed edits in {outcome.editing:.1f} s = "
            f"{edits / outcome.editing:.1f} edits/s (per session: min {min(per_session)}, median "
            f"{statistics.median(per_session):.0f}, max {max(per_session)}); edit to committed "
            f"p50 {latencies[edits // 2] * 1000:.0f} ms, "
            f"p95 {latencies[int(edits * 0.95)] * 1000:.0f} ms "
            f"(Chromium tabs p50 {statistics.median(tabs) * 1000:.0f} ms); every last value stored "
            f"{converged:.1f} s after the last edit"
        )
