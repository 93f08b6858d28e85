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
import re
import shutil
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import expect as expect_async
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from st_session_guard.testing import SYSTEM_CHROMIUM_FLAGS, StreamlitServer, wait_until

from .conftest import stored_sessions

APP = Path(__file__).with_name("load_app.py")
SIMULATED = 495
BROWSER_TABS = 5
EDIT_SECONDS = 30.0
"""How long every session keeps editing once all of them are open."""
CONNECTING_AT_ONCE = 25
RUN_TIMEOUT = 120.0
"""Seconds a script run may take to answer before the test gives up: generous, for busy machines."""
RUN_STATE = (
    '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
    '[data-test-script-state="notRunning"]'
)
SESSION_ID = re.compile(r"[0-9a-f]{64}")

pytestmark = [pytest.mark.load, pytest.mark.postgres, pytest.mark.timeout(300)]


@dataclass
class Run:
    """What one script run drew that the test reads: the text field's id and the two texts."""

    field_id: str
    session_id: str
    committed: str


class SimulatedClient:
    """One browser tab's worth of Streamlit protocol, without the browser.

    It sends what the frontend sends when a user presses Enter in a text
    input (``rerun_script`` with the widget's new value) and reads the run's
    deltas until ``script_finished``. The guard component is drawn for it
    but never answers, like a tab whose IndexedDB is unavailable.
    """

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.field_id = ""

    @classmethod
    async def open(cls, url: str) -> tuple[SimulatedClient, Run]:
        stream = url.replace("http://", "ws://") + "/_stcore/stream"
        connection = await connect(
            stream,
            subprotocols=[Subprotocol("streamlit")],
            max_size=None,
            open_timeout=RUN_TIMEOUT,
            ping_interval=None,  # the server pings; an answer from us may be late on a busy machine
        )
        client = cls(connection)
        run = await client.rerun(None)
        client.field_id = run.field_id
        return client, run

    async def rerun(self, note: str | None) -> Run:
        message = BackMsg()
        message.rerun_script.query_string = ""
        if note is not None:
            message.rerun_script.widget_states.widgets.append(
                WidgetState(id=self.field_id, string_value=note)
            )
        await self.connection.send(message.SerializeToString())
        return await asyncio.wait_for(self._read_run(), RUN_TIMEOUT)

    async def _read_run(self) -> Run:
        field_id, texts = "", []
        while True:
            message = ForwardMsg()
            message.ParseFromString(await self.connection.recv())
            kind = message.WhichOneof("type")
            if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                element = message.delta.new_element
                drawn = element.WhichOneof("type")
                if drawn == "text_input":
                    field_id = element.text_input.id
                elif drawn == "text":
                    texts.append(element.text.body)
                elif drawn == "exception":
                    raise AssertionError(f"the script raised: {element.exception.message}")
            elif kind == "script_finished":
                if message.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    field_id, texts = "", []
                    continue
                session_ids = [t for t in texts if SESSION_ID.fullmatch(t)]
                committed = [t for t in texts if not SESSION_ID.fullmatch(t)]
                assert field_id and len(session_ids) == 1 and len(committed) == 1, texts
                return Run(field_id, session_ids[0], committed[0])

    async def close(self) -> None:
        await self.connection.close()


@dataclass
class Session:
    """One session under load, and what it has seen the server commit."""

    name: str
    session_id: str
    edit: Callable[[str], Awaitable[None]]
    """Commits a value; returns once the server has shown it back."""
    last_committed: str | None = None
    latencies: list[float] = field(default_factory=list)


async def open_simulated(
    url: str, index: int, gate: asyncio.Semaphore
) -> tuple[Session, SimulatedClient]:
    async with gate:
        client, run = await SimulatedClient.open(url)

    async def edit(value: str) -> None:
        shown = await client.rerun(value)
        assert shown.committed == value and shown.session_id == run.session_id, shown

    return Session(f"simulated {index}", run.session_id, edit), client


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


async def edit_until(session: Session, deadline: float) -> None:
    """Commit new values one after another until the deadline, and at least one."""
    number = 0
    while number == 0 or time.monotonic() < deadline:
        number += 1
        value = f"{session.name} edit {number}"
        started = time.perf_counter()
        await session.edit(value)
        session.latencies.append(time.perf_counter() - started)
        session.last_committed = value


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
                *(open_simulated(url, i, gate) for i in range(SIMULATED)),
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
