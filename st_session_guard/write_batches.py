"""The write-behind engine's bookkeeping: pending sessions, the batches taken from them, the
removals that cancel a batch taken earlier, and the backoff while writes fail.

Nothing here locks or touches the database: the engine calls these holding its own lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .session import UserSession
from .stored_rows import SessionRecord


@dataclass
class Pending:
    """A session with changes not yet in the database."""

    session: UserSession
    due: float
    """``time.monotonic()`` by which the oldest unwritten change is to be written."""
    version: int = 1
    """Counts ``persist_session`` calls; a write covers the changes up to the version it took."""
    in_flight: bool = False
    next_due: float | None = None
    """When changes made while a write is in flight are due."""

    def settle(self, version: int, *, written: bool, from_flusher: bool, debounce_delay: float) -> bool:
        """After a write that took ``version``: True when nothing newer is left to write."""
        if from_flusher:
            self.in_flight = False
        if written and self.version == version:
            return True
        if written or not self.in_flight:
            if self.next_due is not None:
                self.due = min(self.due, self.next_due) if not written else self.next_due
                self.next_due = None
            elif written:
                self.due = time.monotonic() + debounce_delay
        return False


@dataclass
class Batch:
    """Pending entries taken for one write, with the versions it covers and its generation."""

    taken: list[tuple[Pending, int]]
    generation: int


class Cancellations:
    """Which writes may no longer store a session: those taken before its removal.

    A write carries what was true when it was taken; landing after a removal,
    it would bring the row back. Each removal starts a new generation.
    """

    def __init__(self) -> None:
        self.generation = 0
        self._removed: dict[str, int] = {}
        """Session id -> generation of its removal, while a write taken earlier may be under way."""
        self._active: dict[int, int] = {}
        """Generation -> writes taken then and not yet settled."""

    def take(self) -> int:
        """A write is taken now; its generation, to be released when it is over."""
        self._active[self.generation] = self._active.get(self.generation, 0) + 1
        return self.generation

    def release(self, generation: int) -> None:
        """A write taken at ``generation`` is over; forget removals no write can undo now."""
        left = self._active[generation] - 1
        if left:
            self._active[generation] = left
        else:
            del self._active[generation]
        oldest = min(self._active, default=self.generation + 1)
        if self._removed:
            self._removed = {sid: gen for sid, gen in self._removed.items() if gen >= oldest}

    def cancel(self, session_ids: list[str]) -> None:
        """Writes taken before now will not store these sessions."""
        if self._active:
            for session_id in session_ids:
                self._removed[session_id] = self.generation
        self.generation += 1

    def cancelled(self, session_id: str, generation: int) -> bool:
        """Whether a write taken at ``generation`` may no longer store ``session_id``."""
        return self._removed.get(session_id, -1) >= generation


class Backoff:
    """While writes fail: the first retry after ``initial`` seconds, each next twice as late, at most ``most``."""

    def __init__(self, initial: float, most: float) -> None:
        self.initial = initial
        self.most = most
        self.failing = False
        self.delay = initial
        self._retry_at = 0.0

    def failed(self) -> bool:
        """Note a failed write; True when it starts an outage."""
        started = not self.failing
        self.delay = self.initial if started else min(self.delay * 2, self.most)
        self.failing = True
        self._retry_at = time.monotonic() + self.delay
        return started

    def succeeded(self) -> bool:
        """Note a write that landed; True when it ends an outage."""
        ended = self.failing
        self.failing, self.delay, self._retry_at = False, self.initial, 0.0
        return ended

    def wait(self, now: float) -> float:
        """Seconds from ``now`` (``time.monotonic()``) until the next attempt; 0 when it may be now."""
        return max(0.0, self._retry_at - now) if self.failing else 0.0


class SerialisedAside:
    """A batch serialised on a thread of its own while the batch before it commits.

    A plain thread, not an executor: ``flush_all`` also runs at interpreter
    exit, when executors take no more work. The thread is made at once and
    waits for ``start``: a thread that starts running Python just before the
    commit holds the GIL that the committing thread needs to reach it, and
    cost each batch a switch interval (5 ms). Why it pays: bench/README.md.
    """

    def __init__(self, batch: Batch, serialise: Callable[[Batch], list[SessionRecord]]) -> None:
        self._batch = batch
        self._serialise = serialise
        self._done: list[list[SessionRecord]] = []
        self._go = threading.Event()
        self._wanted = True
        self._worker = threading.Thread(target=self._run, name="st-session-guard-serialise",
                                        daemon=True)
        self._worker.start()

    def _run(self) -> None:
        self._go.wait()
        if self._wanted:
            self._done.append(self._serialise(self._batch))

    def start(self) -> None:
        """Serialise now, beside the caller (which is about to block in the commit)."""
        self._go.set()

    def records(self) -> list[SessionRecord]:
        """The batch's records, once serialised (here, if the thread failed)."""
        self._go.set()
        self._worker.join()
        return self._done[0] if self._done else self._serialise(self._batch)

    def drop(self) -> None:
        """Let the thread end without serialising: the batch will not be written now."""
        self._wanted = False
        self._go.set()
