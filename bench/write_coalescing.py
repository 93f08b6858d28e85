"""Database writes for 1,000 changes inside one debounce window (target: exactly 1).

The baseline is the same 1,000 changes written through (``immediate=True``
after each), which is what an app without write-behind pays. Both run in
this process on a SQLite file in a temporary directory; the time each
spends in the app's thread per change is printed too.

    python bench/write_coalescing.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import header, median, verdict

from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.session import UserSession


def changes_per_write(url: str, changes: int, debounce: float, write_through: bool) -> tuple[int, float]:
    """(database writes, app-thread seconds per change) for ``changes`` edits of one session."""
    engine = SessionPersistenceEngine(debounce_delay=debounce, session_timeout=3600, database_url=url)
    engine.db.ensure_schema()
    session = UserSession("coalesce")
    if not write_through:
        session.bind(engine.persist_session)
    start = time.perf_counter()
    for i in range(changes):
        session.update_form_data("form", f"field{i % 20}", f"value {i}")
        if write_through:
            engine.persist_session(session, immediate=True)
    spent = (time.perf_counter() - start) / changes
    inside_window = time.perf_counter() - start < debounce
    deadline = time.monotonic() + debounce + 10
    while engine.pending_count and time.monotonic() < deadline:
        time.sleep(0.01)
    writes = engine.writes
    engine.close()
    engine.db.dispose()
    if not write_through and not inside_window:
        print(f"   warning: the {changes} changes took longer than the {debounce} s window")
    return writes, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--debounce", type=float, default=2.0, help="seconds (the default setting)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    header(f"write coalescing: {args.changes} changes, debounce {args.debounce} s, {args.rounds} rounds")
    coalesced: list[int] = []
    through: list[int] = []
    cost_coalesced: list[float] = []
    cost_through: list[float] = []
    with tempfile.TemporaryDirectory(prefix="stsg-bench-") as tmp:
        for round_ in range(args.rounds):  # interleaved: write-behind, then write-through
            url = f"sqlite:///{Path(tmp) / f'behind{round_}.db'}"
            writes, cost = changes_per_write(url, args.changes, args.debounce, write_through=False)
            coalesced.append(writes)
            cost_coalesced.append(cost)
            url = f"sqlite:///{Path(tmp) / f'through{round_}.db'}"
            writes, cost = changes_per_write(url, args.changes, args.debounce, write_through=True)
            through.append(writes)
            cost_through.append(cost)
            print(f"   round {round_}: write-behind {coalesced[-1]} writes ({cost_coalesced[-1] * 1e6:.1f} us/change)"
                  f", write-through {through[-1]} writes ({cost_through[-1] * 1e6:.1f} us/change)")
    worst = max(coalesced)
    verdict(
        f"writes for {args.changes:,} changes in one window",
        f"{worst} write(s) (every round: {coalesced})",
        f"write-through {median(through):.0f} writes",
        f"{worst / median(through):.4f}x the writes; app thread {median(cost_coalesced) * 1e6:.1f} vs "
        f"{median(cost_through) * 1e6:.1f} us/change",
        "exactly 1",
        all(w == 1 for w in coalesced),
    )


if __name__ == "__main__":
    main()
