"""Instructions the server executes per edit of the load page, guarded against plain: a count that
other work on the machine does not change, as CPU time does.

Each app runs in a real Streamlit server under valgrind's cachegrind (no
cache simulation), driven by the load test's simulated sessions
(``tests/load_clients.py``): the sessions open, then each commits its edits
one after another; the server is stopped (SIGTERM) and its instruction total
read. Every app runs twice, with two edit counts, and the difference of the
totals over the difference of the edits is the figure: opening the
sessions, starting and stopping cancel out. Everything the server process
does for an edit is in it (the websocket, the event loop, the script run,
the guard, garbage collection), except the guarded app's database write:
its debounce is an hour, so nothing is written while the clients edit
(``upsert_throughput.py`` times the store). Under valgrind the server runs
about fifty times slower, so each round takes minutes.

    python bench/edit_instructions.py [--sessions 10] [--edits 50 450]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import tempfile
from pathlib import Path

from common import BENCH_DIR, ROOT, SECRET, header, verdict

from st_session_guard.testing import StreamlitServer
from tests.load_clients import Session, open_session

APPS = {"plain": BENCH_DIR / "apps" / "load_plain.py", "guarded": ROOT / "e2e" / "load_app.py"}
CACHEGRIND = ["valgrind", "--tool=cachegrind", "--cache-sim=no"]


async def edit(url: str, sessions: int, each: int) -> None:
    gate = asyncio.Semaphore(5)
    first = await open_session(url, "s0", gate)  # alone: under valgrind, the imports of a first run take minutes
    opened = [first, *await asyncio.gather(*(open_session(url, f"s{i}", gate) for i in range(1, sessions)))]

    async def edits_of(session: Session) -> None:
        for number in range(1, each + 1):
            await session.edit(f"{session.name} edit {number}")

    await asyncio.gather(*(edits_of(session) for session, _ in opened))
    await asyncio.gather(*(client.close() for _, client in opened))


def instructions(app: str, sessions: int, each: int) -> int:
    """Instructions the server executed from its start to its stop, ``each`` edits per session."""
    work = Path(tempfile.mkdtemp(prefix="stsg-bench-instructions-"))
    out = work / "cachegrind.out"
    env = {"STREAMLIT_RUNNER_POST_SCRIPT_GC": "false", "SESSION_GUARD_DEBOUNCE": "3600",
           "SESSION_GUARD_DATABASE_URL": f"sqlite:///{work / 'sessions.db'}", "SESSION_GUARD_SECRET": SECRET}
    server = StreamlitServer(APPS[app], ROOT, env, log_dir=work,
                             launcher=[*CACHEGRIND, f"--cachegrind-out-file={out}"])
    try:
        server.start(timeout=600)
        asyncio.run(edit(server.url, sessions, each))
    finally:
        if server.process is not None:  # under valgrind the stop takes longer than stop() waits
            server.process.terminate()
            server.process.wait(600)
        server.stop()
    found = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
    shutil.rmtree(work, ignore_errors=True)
    if found is None:
        raise RuntimeError(f"cachegrind wrote no total for the {app} server")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--edits", type=int, nargs=2, default=[50, 450], metavar=("FEWER", "MORE"),
                        help="edits in all, in the two runs of each app")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("edit_instructions.py needs valgrind (apt-get install valgrind)")
    fewer, more = (n // args.sessions for n in args.edits)
    header(f"instructions per edit: {args.sessions} sessions, {fewer * args.sessions} and"
           f" {more * args.sessions} edits, each app's server under cachegrind")
    per_edit: dict[str, float] = {}
    for app in APPS:
        low, high = (instructions(app, args.sessions, each) for each in (fewer, more))
        per_edit[app] = (high - low) / ((more - fewer) * args.sessions)
        print(f"   {app:8}: {per_edit[app] / 1e6:.2f} M instructions per edit", flush=True)
    ratio = per_edit["guarded"] / per_edit["plain"]
    verdict("server instructions per edit, database write left out",
            f"{per_edit['guarded'] / 1e6:.2f} M (+{(per_edit['guarded'] - per_edit['plain']) / 1e6:.2f} M)",
            f"plain Streamlit {per_edit['plain'] / 1e6:.2f} M", f"{ratio:.2f}x", "report", None)


if __name__ == "__main__":
    main()
