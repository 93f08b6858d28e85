"""The session store's SQL, on SQLite and PostgreSQL: revision-guarded batched upserts, recovery,
and removal in batches."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, update
from sqlalchemy import text as sa_text
from support import (
    PostgresSchemas,
    age,
    child_rows,
    count_rows,
    driver_steps,
    rich_session,
    stored,
)

from st_session_guard.clock import utcnow
from st_session_guard.database import DatabaseManager
from st_session_guard.models import metrics, permissions, revoked, roles, sessions
from st_session_guard.session import SCHEMA_VERSION, UserSession
from st_session_guard.store import SessionStore
from st_session_guard.stored_rows import record_of

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 3600.0
MakeDb = Callable[..., DatabaseManager]
DeleteBatch = Callable[[datetime, int], Sequence[str]]


@pytest.fixture
def store(db: DatabaseManager) -> SessionStore:
    return SessionStore(db, TIMEOUT)


def put(store: SessionStore, *made: UserSession, timeout: float = TIMEOUT) -> None:
    """Write ``made`` in one transaction, expiring ``timeout`` seconds after their last activity."""
    store.write([record_of(session, timeout) for session in made])


def delete_all(delete_batch: DeleteBatch, limit: int) -> list[int]:
    """Run one cleanup batch after another until one comes back short; each batch's count."""
    counts: list[int] = []
    while True:
        counts.append(len(delete_batch(utcnow(), limit)))
        if counts[-1] < limit:
            return counts


# -- recovery ----------------------------------------------------------------


def test_recover_returns_none_for_an_unknown_id(store: SessionStore) -> None:
    assert store.recover("0" * 64, utcnow()) is None


def test_a_stored_id_is_known_even_when_expired(store: SessionStore) -> None:
    session = age(rich_session(), days=2)
    assert store.is_known(session.session_id, utcnow()) is False
    put(store, session)
    assert store.recover(session.session_id, utcnow()) is None
    assert store.is_known(session.session_id, utcnow()) is True


def test_recover_returns_none_for_an_expired_session(store: SessionStore) -> None:
    session = UserSession()
    session.metrics.last_activity = datetime.now(timezone.utc) - timedelta(minutes=5)
    session.add_role("user")
    put(store, session, timeout=60)

    assert stored(store.db, session.session_id) is not None
    assert store.recover(session.session_id, utcnow()) is None


def test_recover_returns_the_full_state(store: SessionStore) -> None:
    original = rich_session()
    put(store, original)

    recovered = store.recover(original.session_id, utcnow())

    assert recovered is not None and recovered is not original
    assert recovered.to_dict() == original.to_dict()
    assert recovered.user_id == "ada"
    assert recovered.current_page == "settings"
    assert [e.page for e in recovered.navigation_history] == ["home", "profile", "settings"]
    assert recovered.navigation_history[1].params == {"tab": "edit"}
    form = recovered.get_form_state("contact")
    assert dict(form.data) == {"name": "Ada L", "email": "ada@example.org", "tags": ["a", "b"]}
    assert form.errors == {"email": ["check it"]}
    assert recovered.dirty_forms == {"contact"}
    assert [s.description for s in recovered.form_snapshots("contact")] == ["before phone"]
    assert recovered.can_undo("contact") and recovered.can_redo("contact") is False
    assert recovered.roles == {"admin", "user"}
    assert recovered.permissions == {"read", "write"}
    assert recovered.metrics.page_views == original.metrics.page_views == 3
    assert recovered.metrics.interaction_count == original.metrics.interaction_count
    assert recovered.metrics.last_activity == original.metrics.last_activity
    assert recovered.cache_keys == {"user_data_1", "profile_1"}
    assert recovered.revision == original.revision
    assert recovered.undo_form("contact")
    assert recovered.get_form_state("contact").data["name"] == "Ada"


def test_an_unsupported_stored_schema_recovers_as_none_with_a_warning(
    store: SessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    session = UserSession()
    put(store, session)
    future = {**session.to_dict(), "schema": 99}
    with store.db.write() as connection:
        connection.execute(
            update(sessions).where(sessions.c.session_id == session.session_id).values(state=future)
        )

    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        assert store.recover(session.session_id, utcnow()) is None
    assert any("schema" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_a_damaged_stored_state_recovers_as_none_with_a_warning(
    store: SessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    session = UserSession()
    put(store, session)
    with store.db.write() as connection:
        connection.execute(
            update(sessions)
            .where(sessions.c.session_id == session.session_id)
            .values(state={"schema": 1, "changes": "not a list"})
        )
    with caplog.at_level(logging.WARNING, logger="st_session_guard"):
        assert store.recover(session.session_id, utcnow()) is None
    assert caplog.records


def test_user_sessions_are_the_live_stored_sessions_of_that_user(store: SessionStore) -> None:
    mine = [UserSession(user_id="ada") for _ in range(2)]
    mine[0].metrics.last_activity -= timedelta(minutes=1)
    expired = age(UserSession(user_id="ada"), days=1)
    put(store, *mine, expired, UserSession(user_id="bob"))

    found = store.user_sessions("ada", utcnow())
    assert [s.session_id for s in found] == [mine[1].session_id, mine[0].session_id]
    assert store.user_sessions("nobody", utcnow()) == []


# -- revisions and server-owned rows -------------------------------------------


def test_server_owned_rows_are_written_from_the_session(store: SessionStore) -> None:
    session = rich_session()
    put(store, session)
    role_names, permission_names, counters = child_rows(store.db, session.session_id)
    assert role_names == {"admin", "user"}
    assert permission_names == {"read", "write"}
    assert counters.page_views == 3
    assert counters.interaction_count == session.metrics.interaction_count
    assert counters.last_activity == session.metrics.last_activity

    session.remove_role("admin")
    session.remove_permission("write")
    put(store, session)
    role_names, permission_names, _ = child_rows(store.db, session.session_id)
    assert (role_names, permission_names) == ({"user"}, {"read"})

    row = stored(store.db, session.session_id)
    assert row.user_id == "ada"
    assert row.expires_at == session.metrics.last_activity + timedelta(seconds=TIMEOUT)
    assert row.created_at == session.created_at
    assert row.schema_version == SCHEMA_VERSION


def test_an_older_revision_is_ignored_and_leaves_server_owned_rows_alone(
    store: SessionStore, make_db: MakeDb
) -> None:
    newer = UserSession(session_id="a" * 64)
    newer.add_role("newer")
    newer.update_form_data("form", "field", "newer")
    older = UserSession.from_dict({**newer.to_dict(), "revision": newer.revision - 1000})
    older.remove_role("newer")
    older.add_role("older")
    older.revision = newer.revision - 1000
    put(store, newer)

    put(SessionStore(make_db(), TIMEOUT), older)
    assert stored(store.db, newer.session_id).revision == newer.revision
    assert child_rows(store.db, newer.session_id)[0] == {"newer"}


def test_in_one_batch_only_the_newer_sessions_replace_theirs_and_bring_their_roles(
    store: SessionStore,
) -> None:
    stored_first = [UserSession(session_id=f"{index:064d}") for index in range(6)]
    for session in stored_first:
        session.add_role("first")
    put(store, *stored_first)

    copies = []
    for index, session in enumerate(stored_first):
        copy = UserSession.from_dict(session.to_dict())
        copy.remove_role("first")
        copy.add_role("second")
        copy.revision = session.revision + (1 if index % 2 else -1)
        copies.append(copy)
    put(store, *copies)

    for index, session in enumerate(stored_first):
        newer = index % 2 == 1
        assert stored(store.db, session.session_id).revision == session.revision + (1 if newer else 0)
        assert child_rows(store.db, session.session_id)[0] == ({"second"} if newer else {"first"})


def test_a_record_names_each_path_its_state_holds_at_the_revision_it_holds_it() -> None:
    """A merge tells from these alone whether the stored state holds anything ours lacks."""
    session = rich_session()
    session.undo_form("contact")  # a tombstone among them
    record = record_of(session, TIMEOUT)

    changes = json.loads(record.row["state"])["changes"]
    assert record.paths == {tuple(c["p"]): c["r"] for c in changes}


def test_another_writers_copy_holding_everything_stored_replaces_the_row_as_it_is(
    store: SessionStore, make_db: MakeDb
) -> None:
    session = rich_session()
    put(store, session)
    session.update_form_data("contact", "phone", "456")
    session.add_role("editor")

    put(SessionStore(make_db(), TIMEOUT), session)  # it never wrote this row: it merges
    row = stored(store.db, session.session_id)
    assert (row.revision, row.state) == (session.revision, session.to_dict())
    assert "editor" in child_rows(store.db, session.session_id)[0]


def test_another_writers_copy_older_in_every_path_leaves_the_row_alone(
    store: SessionStore, make_db: MakeDb
) -> None:
    session = rich_session()
    older = UserSession.from_dict(session.to_dict())
    session.update_form_data("contact", "phone", "456")
    put(store, session)

    put(SessionStore(make_db(), TIMEOUT), older)
    row = stored(store.db, session.session_id)
    assert (row.revision, row.state) == (session.revision, session.to_dict())


@pytest.mark.parametrize("damaged", ["[1]", "{not json"])
def test_a_stored_state_a_merge_cannot_read_is_replaced_by_the_write(
    store: SessionStore, make_db: MakeDb, damaged: str
) -> None:
    if damaged == "{not json" and store.db.dialect != "sqlite":
        pytest.skip("PostgreSQL's json type refuses such text already")
    session = rich_session()
    put(store, session)
    with store.db.write() as connection:
        connection.execute(
            update(sessions).where(sessions.c.session_id == session.session_id)
            .values(state=sa_text(f"'{damaged}'"))
        )
    session.update_form_data("contact", "phone", "456")

    put(SessionStore(make_db(), TIMEOUT), session)
    assert stored(store.db, session.session_id).state == session.to_dict()


LZ4 = "ALTER TABLE stsg_sessions ALTER COLUMN state SET COMPRESSION lz4"
"""docs/deployment.md's statement for faster writes on PostgreSQL 14 and later."""


@pytest.mark.postgres
def test_states_compressed_with_lz4_as_the_deployment_guide_sets_them_are_merged_and_recovered(
    postgres_schemas: PostgresSchemas,
) -> None:
    with postgres_schemas.schema() as url:
        made = [DatabaseManager(url, connect_timeout=2) for _ in range(3)]
        try:
            ours, another, reader = (SessionStore(db, TIMEOUT) for db in made)
            ours.db.ensure_schema()
            with ours.db.write() as connection:
                connection.execute(sa_text(LZ4))
            session = rich_session()
            session.update_form_data("contact", "bio", "Notes on the Analytical Engine. " * 200)
            copy = UserSession.from_dict(session.to_dict())  # what another server holds
            put(ours, session)
            session.update_form_data("contact", "name", "Ada King")
            put(ours, session)
            copy.update_form_data("contact", "phone", "456")

            put(another, copy)  # it never wrote this row: it reads the stored state and merges
            with reader.db.read() as connection:
                kept_as = connection.execute(sa_text(
                    "SELECT pg_column_compression(state) FROM stsg_sessions")).scalar_one()
            recovered = reader.recover(session.session_id, utcnow())
        finally:
            for db in made:
                db.dispose()
    assert kept_as == "lz4"
    assert recovered is not None
    data = recovered.get_form_state("contact").data
    assert (data["name"], data["phone"]) == ("Ada King", "456")
    assert data["bio"] == "Notes on the Analytical Engine. " * 200


def test_a_batch_costs_the_driver_a_few_statements_however_many_sessions_it_holds(
    store: SessionStore,
) -> None:
    made = []
    for _ in range(1000):
        session = UserSession()
        session.add_role("user")
        session.add_permission("read")
        made.append(session)
    with driver_steps(store.db, most=12):
        put(store, *made)

    assert count_rows(store.db, roles) == count_rows(store.db, permissions) == 1000


WRITER = textwrap.dedent(
    """
    import sys
    from st_session_guard.database import DatabaseManager
    from st_session_guard.session import Change, UserSession
    from st_session_guard.store import SessionStore
    from st_session_guard.stored_rows import record_of

    url, session_id, label, *revisions = sys.argv[1:]
    store = SessionStore(DatabaseManager(url), 3600)
    store.db.ensure_schema()
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for revision in map(int, revisions):
        # one path, at the revision written: a write merges path by path
        session = UserSession.unrevisioned(session_id, None, "home")
        session.apply_change(Change(("forms", "form", "field"), f"{label}-{revision}", revision))
        session.add_role(f"{label}-{revision}")
        session.revision = revision
        store.write([record_of(session, 3600)])
    store.db.dispose()
    """
)


def run_writers(database_url: str, session_id: str, plans: dict[str, list[int]]) -> None:
    """Run one process per plan, each writing its revisions in order, all released at once."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, database_url, session_id, label, *map(str, revisions)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for label, revisions in plans.items()
    ]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready", (
            process.stderr.read() if process.stderr else ""
        )
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err


def test_an_older_revision_never_replaces_a_newer_one_across_two_processes(
    database_url: str, db: DatabaseManager
) -> None:
    session_id = "b" * 64
    db.ensure_schema()
    newest = 10_199
    run_writers(
        database_url,
        session_id,
        {
            "up": list(range(10_000, newest, 2)),  # climbs towards the newest
            "down": list(range(newest, 10_000, -2)),  # writes the newest first
        },
    )
    row = stored(db, session_id)
    assert row.revision == newest
    assert UserSession.from_dict(row.state).get_form_state("form").data["field"] == f"down-{newest}"
    assert child_rows(db, session_id)[0] == {f"down-{newest}"}


def test_a_state_json_cannot_hold_is_stored_in_a_readable_form(store: SessionStore) -> None:
    session = UserSession()
    session.update_form_data("form", "when", datetime(2024, 5, 1, tzinfo=timezone.utc))
    with pytest.raises(TypeError):  # refused at the call, not stored as something else
        session.update_form_data("form", "set", {3, 1, 2})
    put(store, session)
    data = UserSession.from_dict(stored(store.db, session.session_id).state).get_form_state("form")
    assert data.data == {"when": datetime(2024, 5, 1, tzinfo=timezone.utc)}
    json.dumps(stored(store.db, session.session_id).state)


# -- removal -------------------------------------------------------------------


def test_expired_sessions_are_removed_in_batches_and_live_ones_kept(store: SessionStore) -> None:
    expired = [age(rich_session(), days=2) for _ in range(10)]
    live = [rich_session() for _ in range(3)]
    put(store, *expired, *live, timeout=86_400)

    assert delete_all(store.delete_expired, 4) == [4, 4, 2]
    assert delete_all(store.delete_expired, 4) == [0]
    for session in expired:
        assert stored(store.db, session.session_id) is None
        assert child_rows(store.db, session.session_id) == (set(), set(), None)
    for session in live:
        assert store.recover(session.session_id, utcnow()) is not None
        assert child_rows(store.db, session.session_id)[0] == {"admin", "user"}
    assert count_rows(store.db, roles) == 6
    assert count_rows(store.db, metrics) == 3


def test_inactive_sessions_are_removed_even_before_they_expire(store: SessionStore) -> None:
    idle = [age(rich_session(), days=8) for _ in range(4)]
    recent = [age(rich_session(), days=2) for _ in range(2)]
    put(store, *idle, *recent, timeout=30 * 86_400)

    assert delete_all(store.delete_expired, 100) == [0]
    assert len(store.delete_inactive(utcnow() - timedelta(days=7), 100, utcnow())) == 4
    assert {r for r in (stored(store.db, s.session_id) for s in idle) if r} == set()
    assert all(stored(store.db, s.session_id) for s in recent)
    assert count_rows(store.db, permissions) == 4


def test_a_cleanup_batch_reads_no_more_than_its_limit(store: SessionStore) -> None:
    past = datetime.now(timezone.utc) - timedelta(days=1)
    rows = [
        {
            "session_id": f"{n:064x}",
            "user_id": None,
            "state": {"schema": 1},
            "revision": 1,
            "schema_version": 1,
            "created_at": past,
            "last_activity": past,
            "expires_at": past,
        }
        for n in range(333)
    ]
    with store.db.write() as connection:
        connection.execute(insert(sessions), rows)
    assert delete_all(store.delete_expired, 50) == [50] * 6 + [33]
    assert count_rows(store.db, sessions) == 0


def test_a_cleanup_batch_costs_the_driver_a_few_statements_however_many_rows_it_deletes(
    store: SessionStore,
) -> None:
    put(store, *(age(rich_session(), days=2) for _ in range(1000)), rich_session(), timeout=86_400)

    with driver_steps(store.db, most=12):
        assert len(store.delete_expired(utcnow(), 10_000)) == 1000

    assert count_rows(store.db, sessions) == count_rows(store.db, metrics) == 1
    assert count_rows(store.db, roles) == 2


def test_delete_removes_the_rows_and_their_server_owned_rows_and_counts_them(
    store: SessionStore,
) -> None:
    kept, gone = rich_session(), rich_session()
    put(store, kept, gone)
    assert store.delete([gone.session_id, "f" * 64], utcnow()) == 1
    assert store.delete([gone.session_id], utcnow()) == 0
    assert stored(store.db, gone.session_id) is None
    assert child_rows(store.db, gone.session_id) == (set(), set(), None)
    assert child_rows(store.db, kept.session_id)[0] == {"admin", "user"}


def test_expire_ends_only_a_live_row_and_keeps_it(store: SessionStore) -> None:
    session = rich_session()
    put(store, session)
    now = utcnow()
    assert store.expire(session.session_id, now) is True
    assert store.expire(session.session_id, now) is False
    assert store.expire("f" * 64, now) is False
    assert stored(store.db, session.session_id).expires_at == now
    assert store.recover(session.session_id, utcnow()) is None


# -- revocation ------------------------------------------------------------------


def test_an_expired_id_stays_known_after_cleanup_until_no_token_for_it_can_be_valid(
    store: SessionStore,
) -> None:
    session = rich_session()
    put(store, session)
    ended = utcnow()
    assert store.expire(session.session_id, ended) is True
    assert store.delete_expired(utcnow(), 100) == [session.session_id]

    assert stored(store.db, session.session_id) is None
    assert store.is_known(session.session_id, utcnow()) is True
    assert store.prune_revoked(utcnow()) == 0
    token_lifetime_over = ended + timedelta(seconds=TIMEOUT)
    assert store.is_known(session.session_id, token_lifetime_over) is False
    assert store.prune_revoked(token_lifetime_over) == 1
    assert store.is_known(session.session_id, utcnow()) is False


def test_an_id_ended_before_it_was_ever_stored_is_known(store: SessionStore) -> None:
    never_stored = "e" * 64
    assert store.expire(never_stored, utcnow()) is False
    assert store.is_known(never_stored, utcnow()) is True


def test_cleanup_remembers_the_ids_it_removes_while_their_tokens_may_be_valid(
    store: SessionStore,
) -> None:
    recently = age(rich_session(), days=1.5)  # expired half a day ago, timeout one day
    long_ago = age(rich_session(), days=3)  # expired two days ago: every token is too old
    idle = age(rich_session(), days=0.5)  # live, removed as inactive
    put(store, recently, long_ago, timeout=86_400)
    put(store, idle, timeout=86_400)
    day = SessionStore(store.db, 86_400)

    assert sorted(day.delete_expired(utcnow(), 100)) == sorted([recently.session_id, long_ago.session_id])
    assert day.delete_inactive(utcnow() - timedelta(hours=1), 100, utcnow()) == [idle.session_id]

    assert day.is_known(recently.session_id, utcnow()) is True
    assert day.is_known(idle.session_id, utcnow()) is True
    assert day.is_known(long_ago.session_id, utcnow()) is False
    assert count_rows(store.db, revoked) == 2
    assert day.is_known(recently.session_id, utcnow() + timedelta(days=0.6)) is False
    assert day.is_known(idle.session_id, utcnow() + timedelta(days=0.6)) is True


def test_deleting_a_session_ends_its_id(store: SessionStore) -> None:
    session = rich_session()
    put(store, session)
    assert store.delete([session.session_id], utcnow()) == 1
    assert store.is_known(session.session_id, utcnow()) is True
