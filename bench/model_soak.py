"""The model-based test of ``tests/test_model.py``, run long: many random histories, reported.

Two engines on one database, browsers with mirrors and drafts, crashes,
outages, logins, logouts and cleanups, checked after every step. Prints the
examples and steps run on each database, by rule, and the shrunk failing
history if one is found (exit status 1).

    python bench/model_soak.py --examples 500 --seconds 600 [--no-postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from common import POSTGRES_URL, ROOT, header

sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from model_machine import SessionModel
from support import PostgresSchemas


@contextlib.contextmanager
def databases(postgres: bool) -> Iterator[list[tuple[str, str]]]:
    """(name, url) of an empty SQLite file and, if asked, an empty PostgreSQL schema."""
    with tempfile.TemporaryDirectory() as directory, contextlib.ExitStack() as stack:
        found = [("sqlite", f"sqlite:///{Path(directory) / 'sessions.db'}")]
        if postgres:
            schemas = stack.enter_context(PostgresSchemas.open("stsg_soak"))
            found.append(("postgresql", stack.enter_context(schemas.schema())))
        yield found


def soak(name: str, url: str, examples: int, seconds: float, steps: int) -> bool:
    """Run examples on ``url`` until ``examples`` or ``seconds`` is reached; True if all held."""
    machine = type("Model", (SessionModel,), {"database_url": url})
    SessionModel.steps.clear()
    SessionModel.examples = 0
    started, ran, ok = time.monotonic(), 0, True
    while ran < examples and time.monotonic() - started < seconds:
        batch = min(10, examples - ran)
        try:
            run_state_machine_as_test(machine, settings=settings(
                max_examples=batch, stateful_step_count=steps, database=None, deadline=None,
                suppress_health_check=list(HealthCheck),
            ))
        except Exception as error:  # noqa: BLE001 - the failure is the report
            print(f"{name}: FAILED: {error!r}")
            for note in getattr(error, "__notes__", []):
                print(note)
            ok = False
            break
        ran += batch
    total = sum(SessionModel.steps.values())
    print(f"{name}: {SessionModel.examples} examples, {total} steps in "
          f"{time.monotonic() - started:.0f} s, invariants {'held' if ok else 'BROKEN'}")
    print("  steps by rule: " + ", ".join(f"{rule} {count}" for rule, count
                                          in sorted(SessionModel.steps.items())))
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=200, help="examples per database")
    parser.add_argument("--seconds", type=float, default=300.0, help="time budget per database")
    parser.add_argument("--steps", type=int, default=50, help="most steps per example")
    parser.add_argument("--no-postgres", action="store_true")
    options = parser.parse_args()
    logging.disable(logging.WARNING)  # the outages the model makes are logged at every step
    header("model soak: random histories of two servers and browsers, checked after every step")
    print(f"   PostgreSQL: {'not run' if options.no_postgres else POSTGRES_URL}")
    with databases(not options.no_postgres) as found:
        results = [soak(name, url, options.examples, options.seconds, options.steps)
                   for name, url in found]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
