"""``cleanup_expired_sessions`` over 100,000 expired rows (target: under 2 s, memory flat).

A template SQLite file is filled once with bulk SQL: the expired sessions
(~1 KB state each) with their metrics and a role row each, plus live
sessions that must survive. Every timed run works on a fresh copy of it.
The baseline, interleaved round by round, is what the database needs at
least: one bare ``DELETE ... WHERE expires_at <= now`` per table through
sqlite3, in one transaction. "Memory flat" is checked by running the
cleanup over 10x fewer rows too and comparing the peaks (Python heap by
tracemalloc, and the process's peak RSS, reset before each run).

    python bench/cleanup_expired.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sqlite3
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import busy_thread, header, median, verdict

from st_session_guard.persistence import SessionPersistenceEngine

FILL = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO stsg_sessions (session_id, user_id, state, revision, schema_version,
                           created_at, last_activity, expires_at)
SELECT printf('%s%058d', ?, i), 'user' || i, ?, i, 1, ?, ?, ? FROM n
"""
CHILDREN = """
INSERT INTO stsg_session_metrics (session_id, page_views, interaction_count, started_at, last_activity)
SELECT session_id, 1, 1, created_at, last_activity FROM stsg_sessions;
INSERT INTO stsg_session_roles (session_id, role) SELECT session_id, 'reader' FROM stsg_sessions;
"""


def build(path: Path, expired: int, live: int) -> None:
    engine = SessionPersistenceEngine(debounce_delay=3600, session_timeout=86400,
                                      database_url=f"sqlite:///{path}")
    engine.db.ensure_schema()
    engine.close()
    engine.db.dispose()
    state = json.dumps({"schema": 1, "filler": "x" * 1000})
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    stamp = lambda moment: moment.isoformat(" ", "microseconds")
    with sqlite3.connect(path) as connection:
        old = now - timedelta(days=2)
        connection.execute(FILL, (expired, "dead", state, stamp(old), stamp(old), stamp(old + timedelta(days=1))))
        connection.execute(FILL, (live, "live", state, stamp(now), stamp(now), stamp(now + timedelta(days=1))))
        connection.executescript(CHILDREN)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def engine_cleanup(path: Path, traced: bool, busy: bool = False) -> tuple[float, int, float, float]:
    """(seconds, rows deleted, Python heap peak MB, RSS peak growth MB); ``busy``: beside
    a thread running Python."""
    engine = SessionPersistenceEngine(debounce_delay=3600, session_timeout=86400,
                                      database_url=f"sqlite:///{path}")
    engine.db.ensure_schema()
    rss_before = current_rss_mb()
    reset_peak_rss()
    if traced:
        tracemalloc.start()
    with busy_thread() if busy else contextlib.nullcontext():
        start = time.perf_counter()
        deleted = engine.cleanup_expired_sessions()
        seconds = time.perf_counter() - start
    heap = tracemalloc.get_traced_memory()[1] / 2**20 if traced else float("nan")
    if traced:
        tracemalloc.stop()
    rss = peak_rss_mb() - rss_before
    engine.close()
    engine.db.dispose()
    return seconds, deleted, heap, rss


def raw_cleanup(path: Path) -> float:
    now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA secure_delete = FAST")
    start = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    doomed = "SELECT session_id FROM stsg_sessions WHERE expires_at <= ?"
    for table in ("stsg_session_roles", "stsg_session_permissions", "stsg_session_metrics"):
        connection.execute(f"DELETE FROM {table} WHERE session_id IN ({doomed})", (now,))
    connection.execute("DELETE FROM stsg_sessions WHERE expires_at <= ?", (now,))
    connection.execute("COMMIT")
    seconds = time.perf_counter() - start
    connection.close()
    return seconds


def fresh_copy(template: Path, into: Path) -> Path:
    for old in into.parent.glob(into.name + "*"):
        old.unlink()
    shutil.copyfile(template, into)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expired", type=int, default=100_000)
    parser.add_argument("--live", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    header(f"cleanup_expired_sessions: {args.expired:,} expired + {args.live:,} live rows, "
           f"{args.rounds} rounds")
    with tempfile.TemporaryDirectory(prefix="stsg-bench-") as tmp:
        big, small = Path(tmp) / "big.db", Path(tmp) / "small.db"
        build(big, args.expired, args.live)
        build(small, args.expired // 10, args.live)
        work = Path(tmp) / "work.db"
        ours: list[float] = []
        theirs: list[float] = []
        busy: list[float] = []
        for round_ in range(args.rounds):
            seconds, deleted, _, rss = engine_cleanup(fresh_copy(big, work), traced=False)
            assert deleted == args.expired, deleted
            ours.append(seconds)
            theirs.append(raw_cleanup(fresh_copy(big, work)))
            busy.append(engine_cleanup(fresh_copy(big, work), traced=False, busy=True)[0])
            print(f"   round {round_}: engine {ours[-1]:.3f} s ({deleted:,} rows, RSS peak +{rss:.1f} MB),"
                  f" bare DELETE {theirs[-1]:.3f} s; engine beside a thread running Python"
                  f" {busy[-1]:.3f} s")
        _, _, heap_small, rss_small = engine_cleanup(fresh_copy(small, work), traced=True)
        _, _, heap_big, rss_big = engine_cleanup(fresh_copy(big, work), traced=True)
    print(f"   memory: {args.expired // 10:,} rows -> heap peak {heap_small:.2f} MB, RSS peak +{rss_small:.1f} MB;"
          f" {args.expired:,} rows -> heap peak {heap_big:.2f} MB, RSS peak +{rss_big:.1f} MB")
    flat = heap_big < heap_small * 1.5 + 1
    m_ours, m_theirs = median(ours), median(theirs)
    verdict(
        f"cleanup_expired_sessions over {args.expired:,} expired rows",
        f"{m_ours:.3f} s median; heap peak {heap_big:.2f} MB at {args.expired:,} rows vs "
        f"{heap_small:.2f} MB at {args.expired // 10:,}",
        f"one bare DELETE per table {m_theirs:.3f} s",
        f"{m_ours / m_theirs:.2f}x the bare DELETE",
        "< 2 s, memory flat",
        m_ours < 2.0 and flat,
    )
    verdict(
        f"cleanup_expired_sessions over {args.expired:,} expired rows, beside a thread running Python",
        f"{median(busy):.3f} s median",
        f"the same cleanup alone {m_ours:.3f} s",
        f"{median(busy) / m_ours:.2f}x alone",
        "report",
        None,
    )


if __name__ == "__main__":
    main()
