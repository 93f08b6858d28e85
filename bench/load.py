"""Hundreds of sessions editing at once: edits per second and server CPU per edit against plain
Streamlit (targets: at least 0.9x the edits, at most 1.1x the CPU), and edit to stored in PostgreSQL.

The clients are the e2e load test's simulated sessions
(``tests/load_clients.py``: Streamlit's websocket protocol, no browser), all
in this process on one event loop. Each session presses Enter in a text
input with a new value, waits until the server's run shows it back, and
does it again, until a shared deadline. Two apps, one fresh server process
per round, rounds alternating:

- guarded: ``e2e/load_app.py`` (``bootstrap_session()``, one ``sg.text_input``
  whose value the page reads back from the session), on PostgreSQL with
  the default 2 s debounce;
- plain: ``apps/load_plain.py``, the same page in plain Streamlit.

Both servers run with ``runner.postScriptGC`` off (see the e2e load test).

Server CPU is the server process's user + system time (``/proc/<pid>/stat``)
from the moment every session is open until the last edit is answered, and
for the guarded app until every session's last value is stored, so the
writes are counted. Edit to stored is timed by the database: a trigger
logs each write of a session's row with ``clock_timestamp()``; an edit is
stored when a write holds it or a later value of the same session (writes
coalesce). That trigger costs the database a little on every write. It
also notes each write's transaction, so the script counts the sessions a
write transaction carried: a count, which the machine's load moves little.

Two cores are shared by the server, the clients, and PostgreSQL, so the
script also prints how much of a core the server and the clients used:
whichever is near 100% is what limits the edits per second.

    python bench/load.py [--sessions 500] [--seconds 15] [--rounds 3]
    python bench/load.py --quick          # one round each, 10 s of editing
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from common import BENCH_DIR, ROOT, header, median, verdict
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.testing import StreamlitServer, wait_until
from tests.load_clients import Session, SimulatedClient, edit_number, edit_until, open_session
from tests.support import PostgresSchemas

GUARDED = ROOT / "e2e" / "load_app.py"
PLAIN = BENCH_DIR / "apps" / "load_plain.py"
CONNECTING_AT_ONCE = 25
STREAMLIT_ENV = {"STREAMLIT_RUNNER_POST_SCRIPT_GC": "false"}
STORED_LOG = """
CREATE TABLE bench_stored (session_id TEXT, note TEXT, at DOUBLE PRECISION, xact BIGINT);
CREATE FUNCTION bench_log_write() RETURNS trigger AS $$
BEGIN
    INSERT INTO bench_stored
    SELECT NEW.session_id, change->>'v', extract(epoch FROM clock_timestamp()), txid_current()
    FROM json_array_elements(NEW.state->'changes') AS change
    WHERE change->'p'->>0 = 'forms' AND change->'p'->>1 = 'load' AND change->'p'->>2 = 'note';
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER bench_log_write AFTER INSERT OR UPDATE ON stsg_sessions
    FOR EACH ROW EXECUTE FUNCTION bench_log_write();
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, all) CPU seconds of every core so far (``/proc/stat``), to tell what else ran."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    clock = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / clock, sum(ticks) / clock


@dataclass
class Round:
    app: str
    sessions: list[Session]
    opening: float
    editing: float
    server_cpu: float
    """Seconds of server CPU while editing (and, guarded, until every last value was stored)."""
    client_cpu: float
    """Seconds of this process's CPU while editing."""
    machine_cpu: float
    """Seconds of CPU every process on the machine used while editing (all cores)."""
    stored: list[float]
    """Seconds from each edit sent to a write holding it (guarded only)."""
    never_stored: int
    session_writes: int = 0
    transactions: int = 0
    """Session rows written, and the transactions that wrote them (guarded only)."""

    @property
    def edits(self) -> int:
        return sum(len(s.latencies) for s in self.sessions)

    @property
    def rate(self) -> float:
        return self.edits / self.editing

    @property
    def cpu_per_edit(self) -> float:
        return self.server_cpu / self.edits


async def drive(url: str, count: int, seconds: float, pid: int
                ) -> tuple[list[Session], float, float, float, float, float]:
    """(sessions, seconds opening, seconds editing, and CPU s of the server, the clients and the
    whole machine while editing)."""
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    began = time.monotonic()
    opened = await asyncio.gather(*(open_session(url, f"simulated {i}", gate) for i in range(count)))
    sessions = [session for session, _ in opened]
    clients: list[SimulatedClient] = [client for _, client in opened]
    ready = time.monotonic()
    server, client, (busy, _) = cpu_seconds(pid), time.process_time(), machine_busy()
    await asyncio.gather(*(edit_until(s, ready + seconds) for s in sessions))
    done = time.monotonic()
    server, client = cpu_seconds(pid) - server, time.process_time() - client
    busy = machine_busy()[0] - busy
    await asyncio.gather(*(c.close() for c in clients))
    return sessions, ready - began, done - ready, server, client, busy


@contextmanager
def guarded_database(schemas: PostgresSchemas) -> Iterator[str]:
    """A fresh schema with the tables made and the write log installed; its URL."""
    with schemas.schema() as url:
        engine = SessionPersistenceEngine(debounce_delay=3600, session_timeout=3600, database_url=url)
        engine.db.ensure_schema()
        engine.close()
        engine.db.dispose()
        bench = create_engine(url, poolclass=NullPool)
        with bench.begin() as connection:
            connection.exec_driver_sql(STORED_LOG)
        try:
            yield url
        finally:
            bench.dispose()


def stored_writes(url: str) -> dict[str, list[tuple[int, float]]]:
    """Per session, (edit number, database time) of every write of its row, in time order."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT session_id, note, at FROM bench_stored ORDER BY at")).all()
    finally:
        engine.dispose()
    writes: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for session_id, note, at in rows:
        if note:
            writes[session_id].append((edit_number(note), at))
    return writes


def write_transactions(url: str) -> tuple[int, int]:
    """(session rows written, transactions that wrote them), from the write log."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows, transactions = connection.execute(
                text("SELECT count(*), count(DISTINCT xact) FROM bench_stored")).one()
    finally:
        engine.dispose()
    return int(rows), int(transactions)


def all_stored(url: str, sessions: list[Session]) -> bool:
    writes = stored_writes(url)
    return all(
        s.last_committed is not None and writes[s.session_id]
        and max(n for n, _ in writes[s.session_id]) == edit_number(s.last_committed)
        for s in sessions
    )


def edit_to_stored(sessions: list[Session], writes: dict[str, list[tuple[int, float]]]
                   ) -> tuple[list[float], int]:
    """Seconds from each edit sent to the first write holding it or a later value; and how many never were."""
    delays: list[float] = []
    missing = 0
    for session in sessions:
        mine = writes.get(session.session_id, [])
        for number, sent in enumerate(session.started, start=1):
            at = next((at for n, at in mine if n >= number), None)
            if at is None:
                missing += 1
            else:
                delays.append(at - sent)
    return delays, missing


def run_round(app: str, schemas: PostgresSchemas, count: int, seconds: float) -> Round:
    database: AbstractContextManager[str] = (
        guarded_database(schemas) if app == "guarded" else nullcontext("sqlite://")
    )
    with database as url:
        env = {**STREAMLIT_ENV, "SESSION_GUARD_DATABASE_URL": url, "SESSION_GUARD_DEBOUNCE": "2.0",
               "SESSION_GUARD_SECRET": "bench-secret"}
        server = StreamlitServer(GUARDED if app == "guarded" else PLAIN, ROOT, env).start()
        try:
            assert server.process is not None
            pid = server.process.pid
            sessions, opening, editing, server_cpu, client_cpu, machine_cpu = asyncio.run(
                drive(server.url, count, seconds, pid))
            stored: list[float] = []
            missing = writes = transactions = 0
            if app == "guarded":
                drain = cpu_seconds(pid)
                wait_until(lambda: all_stored(url, sessions), 120, "every last value stored", 0.5)
                server_cpu += cpu_seconds(pid) - drain
                stored, missing = edit_to_stored(sessions, stored_writes(url))
                writes, transactions = write_transactions(url)
            if "Traceback" in server.log():
                print(f"   !! the {app} server logged a traceback: {server.log_path}")
        finally:
            server.stop()
    return Round(app, sessions, opening, editing, server_cpu, client_cpu, machine_cpu, stored, missing,
                 writes, transactions)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def describe(r: Round) -> str:
    replies = [x for s in r.sessions for x in s.latencies]
    others = r.machine_cpu - r.server_cpu - r.client_cpu
    line = (f"   {r.app:7}: {len(r.sessions)} sessions opened in {r.opening:.1f} s; {r.edits} edits in"
            f" {r.editing:.1f} s = {r.rate:.0f}/s; server CPU {r.cpu_per_edit * 1e3:.2f} ms per edit;"
            f" cores used: server {r.server_cpu / r.editing:.2f}, clients {r.client_cpu / r.editing:.2f},"
            f" everything else {others / r.editing:.2f} of {os.cpu_count()}; edit to shown p50 {percentile(replies, 0.5) * 1e3:.0f} ms,"
            f" p99 {percentile(replies, 0.99) * 1e3:.0f} ms")
    if r.stored:
        line += (f"; edit to stored p50 {percentile(r.stored, 0.5) * 1e3:.0f} ms,"
                 f" p99 {percentile(r.stored, 0.99) * 1e3:.0f} ms")
    if r.transactions:
        line += (f"; {r.session_writes} session writes in {r.transactions} transactions"
                 f" ({r.session_writes / r.transactions:.1f} a transaction)")
    if r.never_stored:
        line += f"; {r.never_stored} edits never stored"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=15.0, help="of editing per round")
    parser.add_argument("--rounds", type=int, default=3, help="per app")
    parser.add_argument("--quick", action="store_true", help="one round per app, 10 s of editing")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 10.0
    header(f"load: {args.sessions} simulated sessions editing for {args.seconds:.0f} s,"
           f" {args.rounds} rounds per app, guarded and plain alternating, a fresh server each round")
    rounds: dict[str, list[Round]] = {"guarded": [], "plain": []}
    with PostgresSchemas.open("stsg_bench_load") as schemas:
        for _ in range(args.rounds):
            for app in ("guarded", "plain"):
                rounds[app].append(run_round(app, schemas, args.sessions, args.seconds))
                print(describe(rounds[app][-1]), flush=True)

    guarded, plain = rounds["guarded"], rounds["plain"]
    rate, plain_rate = median([r.rate for r in guarded]), median([r.rate for r in plain])
    cpu, plain_cpu = median([r.cpu_per_edit for r in guarded]), median([r.cpu_per_edit for r in plain])
    share = {name: median([value(r) / r.editing for r in guarded + plain]) for name, value in (
        ("server", lambda r: r.server_cpu), ("clients", lambda r: r.client_cpu),
        ("machine", lambda r: r.machine_cpu))}
    print(f"   limit (median over rounds, cores used): server {share['server']:.2f}, clients"
          f" {share['clients']:.2f}, whole machine {share['machine']:.2f} of {os.cpu_count()}. A server"
          " short of one core on a machine near all of its cores waited for the cores other"
          " processes held (PostgreSQL, other work): edits per second follow the machine's load,"
          " CPU per edit much less")
    verdict(f"edits per second, {args.sessions} sessions editing at once",
            f"{rate:.0f} edits/s", f"plain Streamlit {plain_rate:.0f} edits/s",
            f"{rate / plain_rate:.2f}x", ">= 0.9x", rate / plain_rate >= 0.9)
    verdict(f"server CPU per edit, {args.sessions} sessions editing at once",
            f"{cpu * 1e3:.2f} ms", f"plain Streamlit {plain_cpu * 1e3:.2f} ms",
            f"{cpu / plain_cpu:.2f}x", "<= 1.1x", cpu / plain_cpu <= 1.1)
    stored = [x for r in guarded for x in r.stored]
    shown = [x for r in guarded for s in r.sessions for x in s.latencies]
    missing = sum(r.never_stored for r in guarded)
    verdict("edit to stored in PostgreSQL (2 s debounce)",
            f"p50 {percentile(stored, 0.5) * 1e3:.0f} ms, p99 {percentile(stored, 0.99) * 1e3:.0f} ms"
            + (f", {missing} edits never stored" if missing else ""),
            f"edit to shown p99 {percentile(shown, 0.99) * 1e3:.0f} ms",
            "n/a", "report", None)
    writes, transactions = sum(r.session_writes for r in guarded), sum(r.transactions for r in guarded)
    verdict("sessions a write transaction carried (2 s debounce)",
            f"{writes / max(1, transactions):.1f} ({writes} session writes in {transactions} transactions)",
            "none", "n/a", "report", None)


if __name__ == "__main__":
    main()
