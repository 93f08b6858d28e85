"""Server time added to one rerun by ``bootstrap_session()`` and 50 wrapped widgets, against 50 plain
widgets (target: at most 2 ms).

Both pages (``apps/fifty_plain.py``, ``apps/fifty_guarded.py``) run in this
process under Streamlit's ``AppTest``, alternately, rerun after rerun. Each
rerun is what a user's edit causes: one text input gets a new value, so the
guarded page also commits it (its ``on_change`` callback) and schedules a
write. Three clocks are read per rerun:

- the script body's own thread CPU time (``bootstrap_session()`` plus the
  widgets), read inside the script;
- the whole rerun's process CPU time (callbacks, script, Streamlit's
  bookkeeping, the write-behind thread), read around ``AppTest.run()``;
- the whole rerun's wall time.

CPU time is what other processes on the machine disturb least, so the
verdict is on the whole-rerun CPU difference of medians.

    python bench/rerun_overhead.py [--reruns 300]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BENCH_DIR, header, median, quartiles, verdict

APPS = BENCH_DIR / "apps"


def rerun(app: Any, step: int, change: bool) -> tuple[float, float]:
    """(process CPU s, wall s) of one rerun; with ``change`` one text input is edited first."""
    if change:
        app.text_input(key=f"text{step % 5}").set_value(f"edit {step}")
    cpu, wall = time.process_time(), time.perf_counter()
    app.run()
    return time.process_time() - cpu, time.perf_counter() - wall


def summary(label: str, values: list[float]) -> str:
    low, high = quartiles(values)
    return f"{label} {median(values) * 1e3:.2f} ms (IQR {low * 1e3:.2f}-{high * 1e3:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=300, help="per page")
    parser.add_argument("--idle", action="store_true", help="rerun without editing a widget")
    args = parser.parse_args()
    header(f"rerun overhead: {args.reruns} reruns per page, interleaved, "
           f"{'no edit' if args.idle else 'one text input edited'} per rerun")
    tmp = tempfile.mkdtemp(prefix="stsg-bench-")
    os.environ["SESSION_GUARD_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'sessions.db'}"
    os.environ["SESSION_GUARD_SECRET"] = "bench-secret"
    sys.path.insert(0, str(APPS))
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    import fifty_widgets
    from streamlit.testing.v1 import AppTest

    plain = AppTest.from_file(str(APPS / "fifty_plain.py"), default_timeout=60)
    guarded = AppTest.from_file(str(APPS / "fifty_guarded.py"), default_timeout=60)
    cpu: dict[str, list[float]] = {"plain": [], "guarded": []}
    wall: dict[str, list[float]] = {"plain": [], "guarded": []}
    for step in range(20 + args.reruns):  # the first 20 warm both pages up
        pair = [("plain", plain), ("guarded", guarded)]
        for name, app in pair if step % 2 else reversed(pair):
            used, took = rerun(app, step, change=not args.idle and step > 0)
            assert not app.exception, app.exception
            if step >= 20:
                cpu[name].append(used)
                wall[name].append(took)
    body = {name: times[-args.reruns:] for name, times in fifty_widgets.clock.items()}
    for name in ("plain", "guarded"):
        print(f"   {name:8}: " + "; ".join([summary("script body CPU", body[name]),
                                         summary("rerun CPU", cpu[name]), summary("rerun wall", wall[name])]))
    added_body = (median(body["guarded"]) - median(body["plain"])) * 1e3
    added_cpu = (median(cpu["guarded"]) - median(cpu["plain"])) * 1e3
    added_wall = (median(wall["guarded"]) - median(wall["plain"])) * 1e3
    print(f"   added by st-session-guard: script body {added_body:+.2f} ms, rerun CPU {added_cpu:+.2f} ms,"
          f" rerun wall {added_wall:+.2f} ms")
    from st_session_guard.session_persistence import get_persistence_engine

    get_persistence_engine().close()
    get_persistence_engine().db.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    verdict(
        f"server time added per rerun, bootstrap_session + 50 wrapped widgets"
        f" ({'idle' if args.idle else 'one edit'})",
        f"{added_cpu:+.2f} ms CPU per rerun (script body {added_body:+.2f} ms, wall {added_wall:+.2f} ms)",
        f"50 plain widgets {median(cpu['plain']) * 1e3:.2f} ms CPU per rerun",
        f"{median(cpu['guarded']) / median(cpu['plain']):.2f}x",
        "<= 2 ms added",
        added_cpu <= 2.0,
    )


if __name__ == "__main__":
    main()
