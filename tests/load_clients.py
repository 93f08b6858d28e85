"""Simulated sessions: Streamlit's own websocket protocol without a browser, hundreds at once.

A ``SimulatedClient`` sends what Streamlit's frontend sends when a user
presses Enter in a text input (``rerun_script`` carrying the widget's new
value) and reads the run's deltas until ``script_finished``. Components
drawn for it (the guard's) never answer, like a tab whose IndexedDB is
unavailable. One process drives hundreds of them on one event loop, which
a browser per session could not: fifty real tabs measure two cores' worth
of page rendering rather than the server.

The load apps (``e2e/load_app.py`` and its plain twin
``bench/apps/load_plain.py``) draw one text input and two texts: the
session's id (64 hex digits) and the value the server holds for the field.
``open_session`` and ``edit_until`` speak that convention; the e2e load
test and ``bench/load.py`` share them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

RUN_TIMEOUT = 120.0
"""Seconds a script run may take to answer before a client gives up: generous, for busy machines."""
SESSION_ID = re.compile(r"[0-9a-f]{64}")


@dataclass
class Run:
    """What one script run drew that a client reads: its text inputs' ids and its texts, in order."""

    text_inputs: list[str]
    texts: list[str]


class SimulatedClient:
    """One browser tab's worth of Streamlit protocol, without the browser."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    @classmethod
    async def open(cls, url: str) -> tuple[SimulatedClient, Run]:
        """A connected client and its session's first run, finished."""
        stream = url.replace("http://", "ws://") + "/_stcore/stream"
        connection = await connect(
            stream,
            subprotocols=[Subprotocol("streamlit")],
            max_size=None,
            open_timeout=RUN_TIMEOUT,
            ping_interval=None,  # the server pings; an answer from us may be late on a busy machine
        )
        client = cls(connection)
        return client, await client.rerun({})

    async def rerun(self, text_values: dict[str, str]) -> Run:
        """Rerun with these text inputs (by widget id) set; the run's drawing once it finished."""
        message = BackMsg()
        message.rerun_script.query_string = ""
        for widget_id, value in text_values.items():
            message.rerun_script.widget_states.widgets.append(
                WidgetState(id=widget_id, string_value=value)
            )
        await self.connection.send(message.SerializeToString())
        return await asyncio.wait_for(self._read_run(), RUN_TIMEOUT)

    async def _read_run(self) -> Run:
        run = Run([], [])
        while True:
            message = ForwardMsg()
            message.ParseFromString(await self.connection.recv())
            kind = message.WhichOneof("type")
            if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                element = message.delta.new_element
                drawn = element.WhichOneof("type")
                if drawn == "text_input":
                    run.text_inputs.append(element.text_input.id)
                elif drawn == "text":
                    run.texts.append(element.text.body)
                elif drawn == "exception":
                    raise AssertionError(f"the script raised: {element.exception.message}")
            elif kind == "script_finished":
                if message.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    run = Run([], [])
                    continue
                return run

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
    started: list[float] = field(default_factory=list)
    """Wall-clock time (``time.time()``) each edit was sent, to compare with a database's clock."""
    latencies: list[float] = field(default_factory=list)
    """Seconds from each edit sent to the server showing it back."""


def shown(run: Run) -> tuple[str, str, str]:
    """(text input id, session id, committed value) of a load app's run."""
    session_ids = [t for t in run.texts if SESSION_ID.fullmatch(t)]
    committed = [t for t in run.texts if not SESSION_ID.fullmatch(t)]
    assert len(run.text_inputs) == 1 and len(session_ids) == 1 and len(committed) == 1, run
    return run.text_inputs[0], session_ids[0], committed[0]


async def open_session(
    url: str, name: str, gate: asyncio.Semaphore
) -> tuple[Session, SimulatedClient]:
    """A simulated session of a load app; at most ``gate``'s count of them connect at once."""
    async with gate:
        client, first = await SimulatedClient.open(url)
    field_id, session_id, _ = shown(first)

    async def edit(value: str) -> None:
        _, seen_id, committed = shown(await client.rerun({field_id: value}))
        assert committed == value and seen_id == session_id, (committed, value, seen_id)

    return Session(name, session_id, edit), client


def edit_number(value: str) -> int:
    """The ``n`` of a value ``edit_until`` committed (``"<name> edit <n>"``)."""
    return int(value.rsplit(" ", 1)[1])


async def edit_until(session: Session, deadline: float) -> None:
    """Commit new values one after another until the deadline (``time.monotonic()``), and at least one."""
    number = 0
    while number == 0 or time.monotonic() < deadline:
        number += 1
        value = f"{session.name} edit {number}"
        session.started.append(time.time())
        began = time.perf_counter()
        await session.edit(value)
        session.latencies.append(time.perf_counter() - began)
        session.last_committed = value
