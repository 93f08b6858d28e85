"""This process's operating figures (writes, restores, refusals), counted where they happen.

Each count is one call on a hot path (a script run), so it takes one
uncontended lock and nothing else. ``openmetrics()`` renders them for a
Prometheus scrape; ``serve_openmetrics(port)`` serves that from a thread.
These are process figures: the database's own figures (stored sessions and
their sizes) are what ``st-session-guard stats --format openmetrics`` reports.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final, Literal, Protocol

from .openmetrics_text import CONTENT_TYPE, Family, counter, gauge, histogram, render

RestoreSource = Literal["database", "browser", "drafts", "cookie"]
RESTORE_SOURCES: Final[tuple[RestoreSource, ...]] = ("database", "browser", "drafts", "cookie")
WRITE_SECONDS_BOUNDS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds, in seconds, of the write-latency histogram's buckets."""


class _Counter:
    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self, amount: int = 1) -> None:
        with self._lock:
            self.value += amount


class _Histogram:
    __slots__ = ("_lock", "bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._lock = threading.Lock()
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        slot = bisect.bisect_left(self.bounds, value)
        with self._lock:
            self.counts[slot] += 1
            self.total += value

    def snapshot(self) -> tuple[list[int], float]:
        with self._lock:
            return list(self.counts), self.total


class _HasPending(Protocol):
    @property
    def pending_count(self) -> int: ...


_write_seconds = _Histogram(WRITE_SECONDS_BOUNDS)
_failed_writes = _Counter()
_restores: Final = {source: _Counter() for source in RESTORE_SOURCES}
_unfit_values = _Counter()
_refused_messages = _Counter()
_engines: weakref.WeakSet[_HasPending] = weakref.WeakSet()
_engines_lock = threading.Lock()


def count_write(seconds: float) -> None:
    """A session-write transaction committed after ``seconds``."""
    _write_seconds.observe(seconds)


def count_failed_write() -> None:
    _failed_writes.add()


def count_restore(source: RestoreSource) -> None:
    """A session taken back from the database, or a tab's newer values from its mirror, drafts or
    unsaved-changes cookie."""
    _restores[source].add()


def count_unfit_value() -> None:
    """A stored value not restored because the widget, as declared now, cannot show it."""
    _unfit_values.add()


def count_refused_message() -> None:
    """A browser message that broke the protocol and was dropped."""
    _refused_messages.add()


def watch_pending(engine: _HasPending) -> None:
    """Count ``engine``'s pending sessions in ``writes pending`` for as long as it lives."""
    with _engines_lock:
        _engines.add(engine)


def _pending() -> int:
    with _engines_lock:
        engines = list(_engines)
    return sum(engine.pending_count for engine in engines)


def families() -> list[Family]:
    """The process figures, as OpenMetrics families."""
    from .live_sessions import live_sessions

    counts, total = _write_seconds.snapshot()
    prefix = "st_session_guard_"
    return [
        gauge(f"{prefix}writes_pending", "Sessions changed and not yet written to the database.",
              _pending()),
        histogram(f"{prefix}write_seconds", "Time a session-write transaction took to commit.",
                  WRITE_SECONDS_BOUNDS, counts, total, unit="seconds"),
        counter(f"{prefix}failed_writes", "Session-write transactions that failed (retried later).",
                [((), _failed_writes.value)]),
        counter(f"{prefix}restores", "Sessions taken back from the database, and tabs' newer values "
                "taken back from the browser mirror, from drafts or from the unsaved-changes cookie.",
                [((("source", source),), _restores[source].value) for source in RESTORE_SOURCES]),
        counter(f"{prefix}unfit_values_dropped", "Stored values not restored: the widget as "
                "declared now cannot show them.", [((), _unfit_values.value)]),
        counter(f"{prefix}browser_messages_refused", "Browser messages dropped for breaking the "
                "protocol.", [((), _refused_messages.value)]),
        gauge(f"{prefix}live_sessions", "Sessions this process holds in memory.", len(live_sessions)),
    ]


def openmetrics() -> str:
    """This process's figures as OpenMetrics text, ending in ``# EOF``; serve it as ``CONTENT_TYPE``."""
    return render(families())


class _MetricsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = openmetrics().encode()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not logged: one every few seconds would drown the app's own log."""


_servers: dict[tuple[str, int], ThreadingHTTPServer] = {}
_servers_lock = threading.Lock()


def serve_openmetrics(port: int, address: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Answer every GET on ``address:port`` with ``openmetrics()``, from a daemon thread.

    Idempotent per address and port, so a script that calls it on every run
    starts one server. Port 0 picks a free port (``server.server_port``).
    Raises ``OSError`` when another process holds the port: several servers
    on one host each need a port of their own.
    """
    with _servers_lock:
        server = _servers.get((address, port))
        if server is None:
            server = ThreadingHTTPServer((address, port), _MetricsHandler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name="stsg-metrics", daemon=True).start()
            _servers[(address, port)] = server
        return server
