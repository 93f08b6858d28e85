"""The read-only figures, on SQLite and PostgreSQL: figures computed in the database, bounded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from st_session_guard import queries
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.reconcile import apply_changes
from st_session_guard.session import Change, UserSession

MakeEngine = Callable[..., SessionPersistenceEngine]
NOW = datetime.now(timezone.utc)


def store(engine: SessionPersistenceEngine, *made: UserSession) -> list[UserSession]:
    for session in made:
        engine.persist_session(session)
    assert engine.flush_all() == len(made)
    return list(made)


def visiting(*pages: str, user: str | None = None) -> UserSession:
    session = UserSession(user)
    for page in pages:
        session.navigate_to(page)
    return session


def lasting(*, started: timedelta, last: timedelta = timedelta(0)) -> UserSession:
    """A session created ``started`` ago and last active ``last`` ago."""
    session = UserSession()
    session.created_at = session.metrics.started_at = NOW - started
    session.metrics.last_activity = NOW - last
    return session


def test_page_visits_count_every_page_the_app_went_to(make_engine: MakeEngine) -> None:
    engine = make_engine()
    store(engine, visiting("forms", "profile", "forms"), visiting("forms"), visiting("settings"))

    visits = queries.page_visits(engine.db)

    assert visits == [("forms", 3), ("profile", 1), ("settings", 1)]


def test_a_navigation_history_from_the_browser_adds_no_visit(make_engine: MakeEngine) -> None:
    engine = make_engine()
    session = visiting("forms")
    made_up = [{"page": "made-up", "params": {}, "timestamp": None}] * 60
    restored = apply_changes(session, [Change(("navigation",), made_up, session.revision + 1)])
    assert restored.applied == 1  # the history is the user's to restore...
    store(engine, session)

    assert queries.page_visits(engine.db) == [("forms", 1)]  # ...but counts no visit


def test_page_visits_look_only_at_the_most_recent_sessions_and_the_top_pages(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    old = visiting("archive", "archive")
    old.metrics.last_activity = NOW - timedelta(hours=1)
    store(engine, old, visiting("forms"), visiting("forms", "profile"))

    assert queries.page_visits(engine.db, recent=2, top=2) == [("forms", 2), ("profile", 1)]


def test_active_sessions_over_time_counts_a_session_in_every_bucket_it_spans(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(session_timeout=7 * 86_400)
    store(
        engine,
        lasting(started=timedelta(hours=4, minutes=30)),  # active since the second bucket
        lasting(started=timedelta(hours=2, minutes=30), last=timedelta(hours=1, minutes=30)),
        lasting(started=timedelta(minutes=10)),
        lasting(started=timedelta(days=2), last=timedelta(days=1)),  # before the window
    )

    timeline = queries.active_sessions_over_time(engine.db, NOW - timedelta(hours=6), NOW, 6)

    assert [count for _, count in timeline] == [0, 1, 1, 2, 2, 2]
    assert timeline[0][0] == NOW - timedelta(hours=6)


def test_session_durations_fall_into_their_buckets(make_engine: MakeEngine) -> None:
    engine = make_engine(session_timeout=7 * 86_400)
    store(
        engine,
        lasting(started=timedelta(seconds=20)),
        lasting(started=timedelta(minutes=3)),
        lasting(started=timedelta(minutes=4)),
        lasting(started=timedelta(hours=1)),
        lasting(started=timedelta(hours=12)),
        lasting(started=timedelta(days=3), last=timedelta(days=2)),  # inactive since before `since`
    )

    histogram = dict(queries.session_durations(engine.db, NOW - timedelta(days=1)))

    assert histogram == {
        "< 1 min": 1,
        "1–5 min": 2,
        "5–30 min": 0,
        "30 min–2 h": 1,
        "2–8 h": 0,
        "≥ 8 h": 1,
    }


def test_recent_activity_lists_counters_of_the_most_recently_active_sessions(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    busy = visiting("forms", "profile")
    for value in range(4):
        busy.update_form_data("f", "x", value)
    stale = UserSession()
    stale.metrics.last_activity = NOW - timedelta(minutes=5)
    store(engine, busy, stale)

    (first,) = queries.recent_activity(engine.db, limit=1)

    assert first.session_id == busy.session_id
    assert (first.page_views, first.interactions) == (2, 4)


def test_find_sessions_matches_id_prefixes_and_user_ids_with_their_roles(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    ada, grace, anonymous = UserSession("ada@example.org"), UserSession("grace"), UserSession()
    ada.add_role("admin")
    ada.add_permission("delete")
    store(engine, ada, grace, anonymous)

    assert {s.session_id for s in queries.find_sessions(engine.db)} == {
        ada.session_id,
        grace.session_id,
        anonymous.session_id,
    }
    (found,) = queries.find_sessions(engine.db, "ada@")
    assert (found.session_id, found.roles, found.permissions) == (
        ada.session_id,
        ("admin",),
        ("delete",),
    )
    assert [s.session_id for s in queries.find_sessions(engine.db, anonymous.session_id[:10])] == [
        anonymous.session_id
    ]
    assert queries.find_sessions(engine.db, "%") == []  # a wildcard is searched for, not obeyed
    assert len(queries.find_sessions(engine.db, limit=2)) == 2
