"""``recover_session`` median with 1,000,000 stored sessions (target: at most 2 ms).

The table is filled with bulk SQL (a recursive CTE on SQLite, generate_series
on PostgreSQL) with random 64-hex ids, so the primary-key index is as deep
and as scattered as a real one; the sessions looked up are real ~5 KB
sessions written by the engine among them. The baseline, timed interleaved
lookup by lookup, is the bare driver: the same primary-key SELECT plus
``json.loads`` of the state, without rebuilding a ``UserSession``.

    python bench/recover_session.py                   # SQLite in a temp file
    python bench/recover_session.py --postgres        # and PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import POSTGRES_URL, header, median, quartiles, session_of_size, state_bytes, verdict
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.session import UserSession

FILL_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO stsg_sessions (session_id, user_id, state, revision, schema_version,
                           created_at, last_activity, expires_at)
SELECT lower(hex(randomblob(32))), 'user' || (i % 100000), :state, i, 1, :now, :now, :expires FROM n
"""
FILL_POSTGRES = """
INSERT INTO stsg_sessions (session_id, user_id, state, revision, schema_version,
                           created_at, last_activity, expires_at)
SELECT md5(random()::text) || md5(random()::text), 'user' || (i % 100000), CAST(:state AS json), i, 1,
       :now, :now, :expires FROM generate_series(1, :count) AS i
"""


def targets(engine: SessionPersistenceEngine, count: int) -> list[str]:
    """Write ``count`` real ~5 KB sessions through the engine; their ids."""
    template = session_of_size(5000).to_dict()
    ids = []
    for _ in range(count):
        session = UserSession.from_dict({**template, "session_id": secrets.token_hex(32)})
        engine.persist_session(session)
        ids.append(session.session_id)
    engine.flush_all()
    return ids


def fill(engine: SessionPersistenceEngine, rows: int, filler_bytes: int) -> float:
    """Seconds to add ``rows`` filler sessions with bulk SQL."""
    state = json.dumps({"schema": 1, "filler": "x" * filler_bytes})
    now = datetime.now(timezone.utc)
    params = {"count": rows, "state": state, "expires": now + timedelta(days=1)}
    start = time.perf_counter()
    with engine.db.write() as connection:
        if engine.db.dialect == "sqlite":
            params = {**params, "now": now.replace(tzinfo=None).isoformat(" "),
                      "expires": (now + timedelta(days=1)).replace(tzinfo=None).isoformat(" ")}
            connection.exec_driver_sql(FILL_SQLITE.replace(":count", "?").replace(":state", "?")
                                       .replace(":now", "?").replace(":expires", "?"),
                                       (params["count"], params["state"], params["now"],
                                        params["now"], params["expires"]))
        else:
            connection.execute(text(FILL_POSTGRES), {**params, "now": now})
    return time.perf_counter() - start


def measure(engine: SessionPersistenceEngine, ids: list[str], lookups: int,
            raw: Callable[[str], object]) -> tuple[list[float], list[float]]:
    """Interleaved (engine, raw) lookup times in seconds, each on a random stored target."""
    ours: list[float] = []
    theirs: list[float] = []
    rng = random.Random(7)
    for i in range(lookups):
        sid = rng.choice(ids)
        pair = [("ours", engine.recover_session), ("raw", raw)]
        for name, lookup in pair if i % 2 else reversed(pair):
            start = time.perf_counter()
            found = lookup(sid)
            elapsed = time.perf_counter() - start
            assert found is not None, sid
            (ours if name == "ours" else theirs).append(elapsed)
    return ours, theirs


def run(label: str, url: str, raw_factory: Callable[[], tuple[Callable[[str], object], Callable[[], None]]],
        rows: int, filler_bytes: int, lookups: int) -> None:
    engine = SessionPersistenceEngine(debounce_delay=3600, session_timeout=86400, database_url=url)
    engine.db.ensure_schema()
    try:
        seconds = fill(engine, rows - 1000, filler_bytes)
        ids = targets(engine, 1000)
        print(f"   {label}: {rows:,} rows stored ({seconds:.1f} s of bulk SQL); "
              f"targets are {state_bytes(engine.recover_session(ids[0]))} B sessions")
        raw, close = raw_factory()
        measure(engine, ids, 50, raw)  # warm both paths
        ours, theirs = measure(engine, ids, lookups, raw)
        close()
    finally:
        engine.close()
        engine.db.dispose()
    q_ours, q_theirs = quartiles(ours), quartiles(theirs)
    m_ours, m_theirs = median(ours) * 1e3, median(theirs) * 1e3
    print(f"   {label}: engine median {m_ours:.3f} ms (IQR {q_ours[0] * 1e3:.3f}-{q_ours[1] * 1e3:.3f}),"
          f" raw {m_theirs:.3f} ms (IQR {q_theirs[0] * 1e3:.3f}-{q_theirs[1] * 1e3:.3f})")
    verdict(f"recover_session with {rows:,} stored sessions, {label}", f"{m_ours:.3f} ms median",
            f"raw SELECT + json.loads {m_theirs:.3f} ms", f"{m_ours / m_theirs:.2f}x the driver",
            "<= 2 ms median", m_ours <= 2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--filler-bytes", type=int, default=1000,
                        help="state size of the filler rows (the looked-up ones are ~5 KB)")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    header(f"recover_session: {args.rows:,} rows, {args.lookups} lookups")

    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="stsg-bench-") as tmp:
            path = Path(tmp) / "sessions.db"

            def sqlite_raw() -> tuple[Callable[[str], object], Callable[[], None]]:
                connection = sqlite3.connect(path)
                sql = "SELECT state, expires_at FROM stsg_sessions WHERE session_id = ?"

                def lookup(sid: str) -> object:
                    row = connection.execute(sql, (sid,)).fetchone()
                    return json.loads(row[0])
                return lookup, connection.close

            run("SQLite", f"sqlite:///{path}", sqlite_raw, args.rows, args.filler_bytes, args.lookups)

    if args.postgres:
        import psycopg

        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        schema = f"stsg_bench_{secrets.token_hex(4)}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

        def postgres_raw() -> tuple[Callable[[str], object], Callable[[], None]]:
            connection = psycopg.connect(dsn, autocommit=True)
            sql = "SELECT state::text, expires_at FROM stsg_sessions WHERE session_id = %s"

            def lookup(sid: str) -> object:
                row = connection.execute(sql, (sid,), prepare=True).fetchone()
                assert row is not None
                return json.loads(row[0])
            return lookup, connection.close

        try:
            run("PostgreSQL", url.render_as_string(hide_password=False), postgres_raw, args.rows,
                args.filler_bytes, args.lookups)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
