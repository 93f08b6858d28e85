"""``st-session-guard``: look after the database of record from a shell or a cron job.

    st-session-guard cleanup --expired
    st-session-guard cleanup --inactive-days 30
    st-session-guard inspect SESSION_ID
    st-session-guard stats [--json]
    st-session-guard health

The database is the one the app uses: ``--database-url`` if given, else the
same settings the library reads (``SESSION_GUARD_DATABASE_URL``, then
``[session_guard]`` in ``.streamlit/secrets.toml`` of the working directory,
then the SQLite file under ``.st_session_guard/``).

Exit codes suit cron and monitoring: 0 done (or healthy), 1 failed, not
found or unhealthy, 2 wrong usage. Results go to stdout, messages and
progress to stderr, so ``inspect`` and ``stats --json`` pipe cleanly.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import click
from sqlalchemy.exc import ArgumentError, DBAPIError

from . import queries
from .config import resolve_settings
from .database import DatabaseManager, describe_error
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
        if self._db is None:
            try:
                self._db = DatabaseManager(
                    self.url, connect_timeout=self.timeout, busy_timeout=self.timeout
                )
            except (ArgumentError, ValueError) as error:
                raise click.UsageError(f"bad database URL: {error}") from error
            except (ImportError, OSError) as error:  # missing driver, unusable SQLite path
                fail(f"cannot open the database: {error}")
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


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
@click.pass_obj
@_database_errors_fail
def inspect(store: Store, session_id: str) -> None:
    """Print the stored state of SESSION_ID as JSON; exit 1 when it is unknown or expired."""
    state = queries.stored_state(store.db, session_id)
    if state is None:
        fail(f"no live session {session_id!r} (unknown, expired or deleted)")
    click.echo(escape_invisible(json.dumps(state, indent=2, sort_keys=True, ensure_ascii=False)))


def escape_invisible(text: str) -> str:
    """JSON text with every character of an ``_INVISIBLE`` category written as its ``\\u`` escape.

    Stored values come from browsers: printed raw, a bidi override or a C1
    control would reorder or hide what the reader sees. The result is the same JSON.
    """
    def escaped(match: re.Match[str]) -> str:
        char = match.group()
        return json.dumps(char)[1:-1] if unicodedata.category(char) in _INVISIBLE else char

    return _NON_ASCII.sub(escaped, text)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@click.pass_obj
@_database_errors_fail
def stats(store: Store, as_json: bool) -> None:
    """Count sessions, their state sizes, the oldest one and those active in the last hour."""
    figures = queries.store_stats(store.db)
    if as_json:
        click.echo(json.dumps(figures.to_json(), indent=2))
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
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        click.echo(f"{name.ljust(width)}  {value}")


@main.command()
@click.pass_obj
def health(store: Store) -> None:
    """Exit 0 when the database answers and takes writes, 1 when it does not.

    The first use of a database in a process is a write transaction (the
    schema is checked under the write lock), so a database that is locked or
    read-only fails here, within --timeout, as it would fail the app.
    """
    db = store.db
    try:
        version = db.schema_version()
    except DBAPIError as error:
        fail(f"unhealthy: {db.dialect}: {describe_error(error)}")
    if not db.health_check(probe=True):
        fail(f"unhealthy: {db.dialect} database does not answer or takes no writes")
    click.echo(f"healthy: {db.dialect}, schema version {version}")


if __name__ == "__main__":  # pragma: no cover - ``python -m st_session_guard.cli``
    main()
