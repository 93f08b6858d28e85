"""``st-session-guard``: look after the database of record from a shell or a cron job.

    st-session-guard cleanup --expired
    st-session-guard cleanup --inactive-days 30
    st-session-guard inspect SESSION_ID [--raw]
    st-session-guard stats [--format text|json|openmetrics]
    st-session-guard health

The database is the one the app uses: ``--database-url`` if given, else the
same settings the library reads (``SESSION_GUARD_DATABASE_URL``, then
``[session_guard]`` in ``.streamlit/secrets.toml`` of the working directory,
then the SQLite file under ``.st_session_guard/``). The command never creates
it: a database that is not there, or holds none of our tables, is a failure
naming where it looked.

Exit codes suit cron and monitoring: 0 done (or healthy), 1 failed, not
found or unhealthy, 2 wrong usage. Results go to stdout, messages and
progress to stderr, so ``inspect`` and ``stats --json`` pipe cleanly.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import click
import sqlalchemy
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from . import queries, stored_view
from .config import resolve_settings
from .database import DatabaseManager, describe_error
from .models import sessions
from .openmetrics_text import gauge, labelled_gauge, render
from .persistence import CLEANUP_BATCH, SessionPersistenceEngine

EXIT_FAILURE = 1

_NON_ASCII: re.Pattern[str] = re.compile(r"[^\x00-\x7f]")
_INVISIBLE: frozenset[str] = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Unicode categories a terminal acts on or hides: C1 controls, bidi overrides, line separators."""


@dataclass
class Store:
    """The database the command works on, opened on first use and closed when the command ends."""

    url_override: str | None
    timeout: float = 5.0
    """Seconds to wait for a connection, or for a lock another writer holds."""
    _db: DatabaseManager | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return resolve_settings(database_url=self.url_override).database_url

    @property
    def db(self) -> DatabaseManager:
        """The app's database, opened only once it is known to be there with our tables in it.

        Raises ``DBAPIError`` when a database server does not answer.
        """
        if self._db is None:
            url = self.url
            try:
                parsed = make_url(url)
                sqlite_file = _sqlite_file(parsed)
                if sqlite_file is not None:
                    _require_sqlite_tables(sqlite_file, self.timeout)
                self._db = DatabaseManager(url, connect_timeout=self.timeout, busy_timeout=self.timeout)
            except (ArgumentError, ValueError) as error:
                raise click.UsageError(f"bad database URL: {error}") from error
            except (ImportError, OSError) as error:  # missing driver, unusable SQLite path
                fail(f"cannot open the database: {error}")
            if sqlite_file is None:
                _require_tables(self._db, parsed.render_as_string(hide_password=True))
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


def _sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names (relative to the working directory); None for other databases."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return Path(database).expanduser().absolute()


def _require_sqlite_tables(path: Path, timeout: float) -> None:
    """Fail unless ``path`` is a SQLite database holding our tables; read-only, so it creates nothing."""
    if not path.is_file():
        fail(f"no database at {path}: the SQLite file does not exist (check --database-url, "
             "SESSION_GUARD_DATABASE_URL or the working directory; this command never creates one)")
    try:
        reader = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=timeout)
        with contextlib.closing(reader) as connection:
            found = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (sessions.name,)
            ).fetchone()
    except sqlite3.Error as error:
        fail(f"cannot read the SQLite database {path}: {error}")
    if found is None:
        fail(f"{path} holds no st-session-guard tables (no {sessions.name!r} table): not the app's database?")


def _require_tables(db: DatabaseManager, where: str) -> None:
    """Fail unless the database ``db`` opens holds our tables (looked up, never created).

    Raises ``DBAPIError`` when the database does not answer.
    """
    with db.engine.connect() as connection:
        found = sqlalchemy.inspect(connection).has_table(sessions.name)
    if not found:
        fail(f"{where} holds no st-session-guard tables (no {sessions.name!r} table): "
             "not the app's database, or another schema?")


def fail(message: str) -> NoReturn:
    """Stop with exit code 1 and ``message`` on stderr."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_FAILURE)


def _database_errors_fail(command: Callable[..., Any]) -> Callable[..., Any]:
    """An unreachable database is a failure (exit 1) with a one-line reason, not a traceback."""

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DBAPIError as error:
            fail(f"database unavailable: {describe_error(error)}")

    run.__name__, run.__doc__ = command.__name__, command.__doc__
    return run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--database-url",
    metavar="URL",
    help="Database of record (SQLAlchemy URL). Overrides SESSION_GUARD_DATABASE_URL and "
    "[session_guard] database_url in .streamlit/secrets.toml.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the database to answer, or for another writer's lock.",
)
@click.version_option(package_name="st-session-guard", prog_name="st-session-guard")
@click.pass_context
def main(ctx: click.Context, database_url: str | None, timeout: float) -> None:
    """Maintain the sessions st-session-guard stores: clean up, inspect, count, check health.

    Exit codes: 0 done or healthy, 1 failed, not found or unhealthy, 2 usage error.
    """
    store = Store(database_url, timeout)
    ctx.obj = store
    ctx.call_on_close(store.close)


@main.command()
@click.option("--expired", is_flag=True, help="Delete sessions whose expiry has passed.")
@click.option(
    "--inactive-days",
    type=click.FloatRange(min=0, min_open=True),
    metavar="DAYS",
    help="Delete sessions idle for DAYS days or longer, expired or not.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    metavar="N",
    default=CLEANUP_BATCH,
    show_default=True,
    help="Sessions deleted per transaction.",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.pass_obj
@_database_errors_fail
def cleanup(
    store: Store, expired: bool, inactive_days: float | None, batch_size: int, dry_run: bool
) -> None:
    """Delete expired and/or long-inactive sessions, in batches, with a progress bar.

    Safe while apps run: a session another server refreshed meanwhile is kept.
    """
    if not expired and inactive_days is None:
        raise click.UsageError("say what to delete: --expired and/or --inactive-days DAYS")
    engine = SessionPersistenceEngine(db=store.db)
    engine.cleanup_batch = batch_size
    try:
        if expired:
            _run_cleanup(
                "expired",
                queries.count_expired(store.db),
                dry_run,
                lambda progress: engine.cleanup_expired_sessions(on_batch=progress),
            )
        if inactive_days is not None:
            _run_cleanup(
                f"inactive for {inactive_days:g}+ days",
                queries.count_inactive(store.db, inactive_days),
                dry_run,
                lambda progress: engine.cleanup_inactive_sessions(inactive_days, on_batch=progress),
            )
    finally:
        engine.close()
    if not store.db.health_check():
        fail("the database stopped taking writes during the cleanup; run it again later")


def _run_cleanup(
    what: str, due: int, dry_run: bool, delete: Callable[[Callable[[int], object]], int]
) -> None:
    if dry_run:
        click.echo(f"would delete {due} sessions {what}")
        return
    with click.progressbar(
        length=max(due, 1), label=f"deleting sessions {what}", file=sys.stderr, show_pos=True
    ) as bar:
        deleted = delete(bar.update)
    click.echo(f"deleted {deleted} sessions {what}")


@main.command()
@click.argument("session_id")
@click.option("--raw", is_flag=True, help="Print the state as stored: one JSON document.")
@click.pass_obj
@_database_errors_fail
def inspect(store: Store, session_id: str, raw: bool) -> None:
    """Show SESSION_ID: page, history, each form with its values, storage; exit 1 when unknown or expired.

    ``--raw`` prints the stored state as JSON instead, for ``jq`` and bug reports.
    """
    state = queries.stored_state(store.db, session_id)
    if state is None:
        fail(f"no live session {session_id!r} (unknown, expired or deleted)")
    text = json.dumps(state, indent=2, sort_keys=True, ensure_ascii=False) if raw else stored_view.render(state)
    click.echo(escape_invisible(text))


def escape_invisible(text: str) -> str:
    """``text`` with every character of an ``_INVISIBLE`` category written as its ``\\u`` escape.

    Stored values come from browsers: printed raw, a bidi override or a C1
    control would reorder or hide what the reader sees. JSON stays the same JSON.
    """
    def escaped(match: re.Match[str]) -> str:
        char = match.group()
        return json.dumps(char)[1:-1] if unicodedata.category(char) in _INVISIBLE else char

    return _NON_ASCII.sub(escaped, text)


@main.command()
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json", "openmetrics"]),
    default="text",
    show_default=True,
    help="openmetrics: the text a Prometheus scrape reads (database figures only).",
)
@click.pass_obj
@_database_errors_fail
def stats(store: Store, output: str) -> None:
    """Count sessions, their state sizes, the oldest one and those active in the last hour.

    These are the database's figures. Writes pending, write latency, restores
    and refusals are the app process's own: ``st_session_guard.openmetrics()``.
    """
    figures = queries.store_stats(store.db)
    if output == "json":
        click.echo(json.dumps(figures.to_json(), indent=2))
        return
    if output == "openmetrics":
        click.echo(_openmetrics(figures), nl=False)
        return
    oldest = (
        f"{figures.oldest_session_id} (created {figures.oldest_created_at:%Y-%m-%d %H:%M:%S} UTC)"
        if figures.oldest_session_id and figures.oldest_created_at
        else "-"
    )
    rows = [
        ("sessions", f"{figures.sessions}"),
        ("live", f"{figures.live}"),
        ("expired", f"{figures.expired}"),
        ("users", f"{figures.users}"),
        ("active in the last hour", f"{figures.active_last_hour}"),
        ("total state size", f"{figures.total_state_bytes} bytes"),
        ("average state size", f"{figures.avg_state_bytes:.0f} bytes"),
        ("oldest session", oldest),
        ("writes pending", "n/a (only the app process knows: st_session_guard.openmetrics())"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        click.echo(f"{name.ljust(width)}  {value}")


def _openmetrics(figures: queries.StoreStats) -> str:
    prefix = "st_session_guard_stored_"
    oldest = figures.oldest_created_at.timestamp() if figures.oldest_created_at else 0
    return render([
        labelled_gauge(f"{prefix}sessions", "Sessions in the database, live or past their expiry.",
                       [((("state", "live"),), figures.live), ((("state", "expired"),), figures.expired)]),
        gauge(f"{prefix}users", "Distinct users among the stored sessions.", figures.users),
        gauge(f"{prefix}sessions_active_last_hour", "Stored sessions active in the last hour.",
              figures.active_last_hour),
        gauge(f"{prefix}state_bytes", "Bytes of stored session state, all sessions together.",
              figures.total_state_bytes, unit="bytes"),
        gauge(f"{prefix}oldest_session_created_seconds", "When the oldest stored session was "
              "created (Unix time; 0 with none).", oldest, unit="seconds"),
    ])


@main.command()
@click.pass_obj
def health(store: Store) -> None:
    """Exit 0 when the database answers and takes writes, 1 when it does not.

    The first use of a database in a process is a write transaction (the
    schema is checked under the write lock), so a database that is locked or
    read-only fails here, within --timeout, as it would fail the app.
    """
    try:
        db = store.db
        version = db.schema_version()
    except DBAPIError as error:
        fail(f"unhealthy: {describe_error(error)}")
    if not db.health_check(probe=True):
        fail(f"unhealthy: {db.dialect} database does not answer or takes no writes")
    click.echo(f"healthy: {db.dialect}, schema version {version}")


if __name__ == "__main__":  # pragma: no cover - ``python -m st_session_guard.cli``
    main()
