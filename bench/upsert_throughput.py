"""Batched upserts of 5 KB sessions per second (targets: SQLite at least 10,000/s and 0.6x the
bare driver; PostgreSQL at least 0.5x the bare driver).

The engine's figure includes everything ``flush_all()`` does: serialising
each session, the revision-guarded upsert, and the roles, permissions and
metrics rows. Three cases, each round: the first write of sessions never
written before (every path encoded: new clones of the templates, into
fresh tables); the rewrite of the same sessions after one edit each by the
engine that wrote them (a server writing its own sessions: the guarded
upsert); and a rewrite after one more edit by a new engine, which did not
write those rows and so merges with them path by path (a second server).
The baseline is
the floor the database itself sets: the same upsert statement, with rows
serialised beforehand, sent straight through the DB-API driver in batches
of the same size. Rounds alternate engine and baseline.

A third case writes beside a thread that runs Python all the while, as an
app's script runs do. A driver gives up the GIL for each statement or row it
steps through and waits up to the switch interval (5 ms) to win it back, so
a write of one statement per row crawls there; the engine sends a statement
per table and batch. Its baseline is the raw driver's executemany beside the
same kind of thread (on fewer rows: it is that slow).

PostgreSQL compresses a stored state of more than about 2 KB, with the
server's default method (pglz unless ``default_toast_compression`` says
otherwise); ``--compression lz4`` sets the state column to lz4 (PostgreSQL
14 and later, docs/deployment.md) on both sides, engine and driver alike,
and the report gives the stored size of a state either way.

    python bench/upsert_throughput.py                 # SQLite and PostgreSQL
    python bench/upsert_throughput.py --no-postgres
    python bench/upsert_throughput.py --compression lz4
"""

from __future__ import annotations

import argparse
import gc
import json
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from common import (
    POSTGRES_URL,
    busy_thread,
    header,
    median,
    session_of_size,
    state_bytes,
    verdict,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from st_session_guard.persistence import WRITE_BATCH, SessionPersistenceEngine
from st_session_guard.session import SCHEMA_VERSION, UserSession

UPSERT_SQL = (
    "INSERT INTO stsg_sessions (session_id, user_id, state, revision, schema_version, created_at,"
    " last_activity, expires_at) VALUES ({p}) ON CONFLICT (session_id) DO UPDATE SET"
    " user_id = excluded.user_id, state = excluded.state, revision = excluded.revision,"
    " schema_version = excluded.schema_version, last_activity = excluded.last_activity,"
    " expires_at = excluded.expires_at WHERE stsg_sessions.revision < excluded.revision"
)


def make_templates(size: int) -> list[dict[str, Any]]:
    templates = [session_of_size(size, seed=s).to_dict() for s in range(8)]
    print(f"   session state: {state_bytes(UserSession.from_dict(templates[0]))} bytes of JSON")
    return templates


def make_sessions(count: int, templates: list[dict[str, Any]]) -> list[UserSession]:
    """``count`` distinct sessions never written, cloned from the templates."""
    return [
        UserSession.from_dict({**templates[i % len(templates)], "session_id": secrets.token_hex(32)})
        for i in range(count)
    ]


def touch(sessions: list[UserSession], edit: str) -> None:
    for session in sessions:
        session.update_form_data("form0", "field0", f"edited {edit}")


def open_engine(url: str) -> SessionPersistenceEngine:
    engine = SessionPersistenceEngine(debounce_delay=3600, session_timeout=3600, database_url=url)
    engine.db.ensure_schema()
    return engine


def close_engine(engine: SessionPersistenceEngine) -> None:
    engine.close()
    engine.db.dispose()


def settled() -> None:
    """Collect the garbage the set-up left owing before a timed case, on both sides.

    Making 10,000 sessions leaves the collector's oldest generation near its
    threshold; the next allocations, whoever makes them, then pay a full
    collection over the benchmark's own heap (about 400 ms here, a third of
    a flush). The engine allocates and the bare driver's prepared rows do
    not, so without this the engine alone paid the set-up's debt.
    """
    gc.collect()


def flush_rate(engine: SessionPersistenceEngine, sessions: list[UserSession]) -> float:
    """Sessions per second written by ``flush_all``."""
    for session in sessions:
        engine.persist_session(session)
    settled()
    start = time.perf_counter()
    written = engine.flush_all()
    elapsed = time.perf_counter() - start
    assert written == len(sessions), (written, len(sessions))
    return len(sessions) / elapsed


def engine_rate(url: str, sessions: list[UserSession]) -> float:
    """Sessions per second written by a new engine's ``flush_all`` (the schema exists beforehand)."""
    engine = open_engine(url)
    try:
        return flush_rate(engine, sessions)
    finally:
        close_engine(engine)


def raw_rows(sessions: list[UserSession]) -> list[tuple[Any, ...]]:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = []
    for s in sessions:
        state = json.dumps(s.to_dict(), separators=(",", ":"), ensure_ascii=False)
        rows.append((s.session_id, s.user_id, state, s.revision, SCHEMA_VERSION, now, now,
                     now + timedelta(hours=1)))
    return rows


def raw_sqlite_rate(path: Path, rows: list[tuple[Any, ...]]) -> float:
    import sqlite3

    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    sql = UPSERT_SQL.format(p=", ".join("?" * 8))
    settled()
    start = time.perf_counter()
    for first in range(0, len(rows), WRITE_BATCH):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(sql, [(*r[:5], r[5].isoformat(" "), r[6].isoformat(" "),
                                      r[7].isoformat(" ")) for r in rows[first:first + WRITE_BATCH]])
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return len(rows) / elapsed


def raw_postgres_rate(dsn: str, rows: list[tuple[Any, ...]]) -> float:
    import psycopg

    sql = UPSERT_SQL.format(p="%s, %s, %s::json, %s, %s, %s, %s, %s")
    with psycopg.connect(dsn) as connection:
        settled()
        start = time.perf_counter()
        for first in range(0, len(rows), WRITE_BATCH):
            with connection.transaction(), connection.cursor() as cursor:
                cursor.executemany(sql, [(*r[:5], r[5].replace(tzinfo=timezone.utc),
                                          r[6].replace(tzinfo=timezone.utc),
                                          r[7].replace(tzinfo=timezone.utc))
                                         for r in rows[first:first + WRITE_BATCH]])
        return len(rows) / (time.perf_counter() - start)


def create_schema(url: str) -> None:
    engine = SessionPersistenceEngine(debounce_delay=3600, session_timeout=3600, database_url=url)
    engine.db.ensure_schema()
    engine.close()
    engine.db.dispose()


def compare(label: str, rounds: int, count: int, templates: list[dict[str, Any]],
            fresh: Callable[[str], tuple[str, Callable[[list[tuple[Any, ...]]], float]]]
            ) -> dict[str, float]:
    """Median rates by case (engine first write, rewrite by the same engine, rewrite by another
    engine, the driver), interleaved round by round."""
    rates: dict[str, list[float]] = {case: [] for case in (*CASES, "driver")}
    for round_ in range(rounds):
        sessions = make_sessions(count, templates)
        url, raw = fresh(f"e{round_}")
        engine = open_engine(url)
        try:
            rates["first"].append(flush_rate(engine, sessions))
            touch(sessions, f"{round_}a")  # one edit each: every row is replaced by a newer revision
            rates["again"].append(flush_rate(engine, sessions))
        finally:
            close_engine(engine)
        touch(sessions, f"{round_}b")  # another server's copy now: it merges with what is stored
        rates["merged"].append(engine_rate(url, sessions))
        rows = raw_rows(sessions)
        url, raw = fresh(f"r{round_}")
        rates["driver"].append(raw(rows))
        rates["driver"].append(raw([(r[0], r[1], r[2], r[3] + 1, *r[4:]) for r in rows]))  # newer revisions
        print(f"   {label} round {round_}: engine first write {rates['first'][-1]:,.0f}/s, rewrite after"
              f" one edit {rates['again'][-1]:,.0f}/s, rewrite by another engine (merge)"
              f" {rates['merged'][-1]:,.0f}/s; raw driver insert {rates['driver'][-2]:,.0f}/s update"
              f" {rates['driver'][-1]:,.0f}/s")
    return {case: median(values) for case, values in rates.items()}


CASES = {
    "first": "first write of each session",
    "again": "rewrite after one edit by the engine that wrote it",
    "merged": "rewrite after one edit by another engine (per-path merge)",
}


def compare_busy(rounds: int, count: int, templates: list[dict[str, Any]], tmp: Path,
                 raw_count: int = 200) -> tuple[float, float, float]:
    """Median rates (engine idle, engine beside a busy thread, driver beside one), interleaved."""
    idle: list[float] = []
    busy: list[float] = []
    theirs: list[float] = []
    for round_ in range(rounds):
        for case, rates in (("idle", idle), ("busy", busy)):
            path = tmp / f"busy-{case}{round_}.db"
            create_schema(f"sqlite:///{path}")
            sessions = make_sessions(count, templates)
            if case == "idle":
                rates.append(engine_rate(f"sqlite:///{path}", sessions))
            else:
                with busy_thread():
                    rates.append(engine_rate(f"sqlite:///{path}", sessions))
        path = tmp / f"busy-raw{round_}.db"
        create_schema(f"sqlite:///{path}")
        rows = raw_rows(make_sessions(raw_count, templates))
        with busy_thread():
            theirs.append(raw_sqlite_rate(path, rows))
        print(f"   beside a busy thread, round {round_}: engine {busy[-1]:,.0f}/s (idle {idle[-1]:,.0f}/s);"
              f" raw driver executemany {theirs[-1]:,.0f}/s")
    return median(idle), median(busy), median(theirs)


def report(database: str, driver: str, rates: dict[str, float], floor: float | None, ratio: float) -> None:
    """One verdict per case: at least ``ratio`` times the driver (and ``floor`` sessions/s, if set)."""
    theirs = rates["driver"]
    for case, label in CASES.items():
        rate = rates[case]
        target = f">= {ratio}x the driver" + (f" and >= {floor:,.0f}/s" if floor else "")
        met = rate / theirs >= ratio and (floor is None or rate >= floor)
        verdict(f"batched upserts of 5 KB sessions, {database}, {label}", f"{rate:,.0f} sessions/s",
                f"{driver} {theirs:,.0f}/s", f"{rate / theirs:.2f}x the driver", target, met)


def sqlite_rows(rounds: int, count: int, templates: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory(prefix="stsg-bench-") as tmp:
        def fresh_sqlite(name: str) -> tuple[str, Callable[[list[tuple[Any, ...]]], float]]:
            path = Path(tmp) / f"{name}.db"
            create_schema(f"sqlite:///{path}")
            return f"sqlite:///{path}", lambda rows: raw_sqlite_rate(path, rows)

        rates = compare("sqlite", rounds, count, templates, fresh_sqlite)
        idle, busy, theirs = compare_busy(rounds, count, templates, Path(tmp))
    report("SQLite", "raw sqlite3 executemany", rates, floor=10_000, ratio=0.6)
    verdict("batched upserts of 5 KB sessions, SQLite, beside a thread running Python",
            f"{busy:,.0f} sessions/s ({busy / idle:.2f}x the engine idle)",
            f"raw sqlite3 executemany beside such a thread {theirs:,.0f}/s",
            f"{busy / theirs:,.0f}x the driver", "report", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=5000, help="bytes of state per session")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--compression", choices=("default", "pglz", "lz4"), default="default",
                        help="PostgreSQL: how the state column is compressed (default: the server's)")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    header(f"batched upserts: {args.sessions} sessions of ~{args.size} B, {args.rounds} rounds")
    templates = make_templates(args.size)

    if not args.no_sqlite:
        sqlite_rows(args.rounds, args.sessions, templates)

    if args.no_postgres:
        return
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    made: list[str] = []
    try:
        def fresh_postgres(name: str) -> tuple[str, Callable[[list[tuple[Any, ...]]], float]]:
            schema = f"stsg_bench_{secrets.token_hex(4)}"
            with admin.connect() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            made.append(schema)
            url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
            url_text = url.render_as_string(hide_password=False)
            create_schema(url_text)
            if args.compression != "default":
                with admin.connect() as connection:
                    connection.execute(text(f'ALTER TABLE "{schema}".stsg_sessions ALTER COLUMN state'
                                            f" SET COMPRESSION {args.compression}"))
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            return url_text, lambda rows: raw_postgres_rate(dsn, rows)

        rates = compare("postgres", args.rounds, args.sessions, templates, fresh_postgres)
        with admin.connect() as connection:  # the first round's engine schema, merged rows in it
            stored_size = connection.execute(text(
                f'SELECT avg(pg_column_size(state)), avg(octet_length(state::text)) FROM "{made[0]}".stsg_sessions'
            )).one()
    finally:
        with admin.connect() as connection:
            for schema in made:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    database = "PostgreSQL" if args.compression == "default" else f"PostgreSQL ({args.compression})"
    report(database, "raw psycopg executemany", rates, floor=None, ratio=0.5)
    verdict(f"stored size of a session's state, {database}", f"{stored_size[0]:,.0f} bytes",
            f"its JSON text {stored_size[1]:,.0f} bytes", f"{stored_size[0] / stored_size[1]:.2f}x",
            "report", None)


if __name__ == "__main__":
    main()
