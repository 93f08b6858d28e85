"""Server memory per live session: a typical form and a 1 MB session, guarded against plain Streamlit
(reported, no target).

The sessions are simulated clients (``tests/load_clients.py``), each kept
connected after its first run (25 opening at once; the 1 MB sessions one at
a time, so the figure is what a session keeps rather than the peak of many
first runs at once, which the allocator would keep as RSS). Per app and round, one fresh server: a few
sessions open first (imports, caches and the database engine are paid
once), its resident set size is read from ``/proc/<pid>/status``, then the
measured sessions open; once every one has had its first run answered (and,
guarded, every session's row is stored, so the write-behind has settled)
the RSS is read again. The growth divided by the sessions is the figure.

- typical form: ``apps/guarded_form.py`` (ten ``sg.*`` widgets) against
  ``apps/plain_form.py`` (the same ten ``st.*`` widgets);
- 1 MB session: ``apps/megabyte_guarded.py`` (1 MB in a form of the
  session) against ``apps/megabyte_plain.py`` (1 MB in ``st.session_state``).

Both apps store on PostgreSQL (guarded) with the default debounce, and run
with ``runner.postScriptGC`` off, as in ``load.py``.

The 1 MB figure of the guarded app varies from run to run (1.1 to 3 MB per
session on the same machine) where the plain app's does not, so it is the
median of a few rounds with the range beside it. Under ``AppTest`` the
Python objects such a session keeps come to 1.03 MB (``tracemalloc``); the
rest of the RSS was not pinned down: likely copies of the megabyte made
while many such sessions are sent to their browsers and written in one
batch, which the allocator keeps.

    python bench/memory.py [--sessions 1000] [--large-sessions 40] [--rounds 1] [--large-rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from common import BENCH_DIR, ROOT, header, median, verdict
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from st_session_guard.testing import StreamlitServer, wait_until
from tests.load_clients import SimulatedClient
from tests.support import PostgresSchemas

APPS = BENCH_DIR / "apps"
CASES = {  # guarded app, plain app, sessions opening at once
    "typical form": (APPS / "guarded_form.py", APPS / "plain_form.py", 25),
    # One at a time: each first run handles transient copies of the megabyte (the guard sends
    # it to the browser's mirror), and the allocator keeps the peak of many at once as RSS.
    "1 MB session": (APPS / "megabyte_guarded.py", APPS / "megabyte_plain.py", 1),
}
WARM_UP = 5
STREAMLIT_ENV = {
    "STREAMLIT_RUNNER_POST_SCRIPT_GC": "false",
    "SESSION_GUARD_SECRET": "bench-secret",
    # the megabyte and its path are past the default limit (1,000,000 bytes), which refuses them
    "SESSION_GUARD_MAX_SESSION_BYTES": "2000000",
}


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def open_clients(url: str, count: int, at_once: int) -> list[SimulatedClient]:
    """``count`` sessions, each once its first run is finished."""
    gate = asyncio.Semaphore(at_once)

    async def one() -> SimulatedClient:
        async with gate:
            client, _ = await SimulatedClient.open(url)
        return client

    return list(await asyncio.gather(*(one() for _ in range(count))))


def stored_rows(url: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM stsg_sessions")).scalar_one())
    except Exception:  # noqa: BLE001 - the table comes with the first write
        return 0
    finally:
        engine.dispose()


async def measure(server: StreamlitServer, count: int, at_once: int, url: str | None) -> int:
    """RSS growth of the server while ``count`` sessions open and settle."""
    assert server.process is not None
    pid = server.process.pid
    warm = await open_clients(server.url, WARM_UP, at_once)
    if url is not None:
        await asyncio.to_thread(wait_until, lambda: stored_rows(url) >= WARM_UP, 60,
                                "the warm-up sessions stored", 0.2)
    before = rss_bytes(pid)
    clients = await open_clients(server.url, count, at_once)
    if url is not None:
        await asyncio.to_thread(wait_until, lambda: stored_rows(url) >= WARM_UP + count, 120,
                                "every session stored", 0.2)
    after = rss_bytes(pid)
    await asyncio.gather(*(c.close() for c in warm + clients))
    return after - before


def run_round(script: Path, guarded: bool, schemas: PostgresSchemas, count: int, at_once: int
              ) -> float:
    """Bytes of server RSS per live session."""
    database: AbstractContextManager[str | None] = schemas.schema() if guarded else nullcontext(None)
    with database as url:
        env = {**STREAMLIT_ENV, **({"SESSION_GUARD_DATABASE_URL": url} if url else {})}
        server = StreamlitServer(script, ROOT, env).start()
        try:
            growth = asyncio.run(measure(server, count, at_once, url))
        finally:
            server.stop()
    return growth / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000, help="of the typical form")
    parser.add_argument("--large-sessions", type=int, default=40, help="of 1 MB each")
    parser.add_argument("--rounds", type=int, default=1, help="per app, typical form")
    parser.add_argument("--large-rounds", type=int, default=3,
                        help="per app, 1 MB sessions (their figure varies more from run to run)")
    args = parser.parse_args()
    header(f"memory: server RSS per live session, {args.sessions} typical-form sessions"
           f" ({args.rounds} rounds per app), {args.large_sessions} sessions of 1 MB"
           f" ({args.large_rounds} rounds per app)")
    counts = {"typical form": args.sessions, "1 MB session": args.large_sessions}
    rounds = {"typical form": args.rounds, "1 MB session": args.large_rounds}
    with PostgresSchemas.open("stsg_bench_memory") as schemas:
        for case, (guarded_app, plain_app, at_once) in CASES.items():
            per: dict[str, list[float]] = {"guarded": [], "plain": []}
            for _ in range(rounds[case]):
                per["guarded"].append(run_round(guarded_app, True, schemas, counts[case], at_once))
                per["plain"].append(run_round(plain_app, False, schemas, counts[case], at_once))
                print(f"   {case}: guarded {per['guarded'][-1] / 1e6:.3f} MB per session,"
                      f" plain {per['plain'][-1] / 1e6:.3f} MB per session", flush=True)
            guarded, plain = median(per["guarded"]), median(per["plain"])

            def spread(values: list[float]) -> str:
                return f" ({min(values) / 1e6:.3f}-{max(values) / 1e6:.3f})" if len(values) > 1 else ""

            verdict(f"server memory per live session, {case} ({counts[case]} sessions)",
                    f"{guarded / 1e6:.3f} MB{spread(per['guarded'])}",
                    f"plain Streamlit {plain / 1e6:.3f} MB{spread(per['plain'])}",
                    f"{guarded / plain:.2f}x", "report", None)


if __name__ == "__main__":
    main()
