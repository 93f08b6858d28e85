"""Fixtures for the browser suite: the demo app on a fresh SQLite file, and its database."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from st_session_guard.testing import StreamlitServer

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo_session_system.py"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


@pytest.fixture
def app_env(db_path: Path) -> dict[str, str]:
    return {
        "SESSION_GUARD_DATABASE_URL": f"sqlite:///{db_path}",
        "SESSION_GUARD_DEBOUNCE": "0.2",
        "SESSION_GUARD_SECRET": "e2e-secret",
    }


@pytest.fixture
def demo(streamlit_server: Callable[..., StreamlitServer], app_env: dict[str, str]) -> StreamlitServer:
    return streamlit_server(DEMO, env=app_env)


def stored_states(db_path: Path) -> list[dict[str, object]]:
    """Every session state in the database of record, read straight from the file."""
    if not db_path.exists():
        return []
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute("SELECT state FROM stsg_sessions").fetchall()
    return [json.loads(state) if isinstance(state, str) else state for (state,) in rows]


def database_bytes(db_path: Path) -> bytes:
    """The database file and its WAL, raw: what a secret must never be found in."""
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
