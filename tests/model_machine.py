"""A model of servers, a database and browsers, driven at random against the real engine.

Two write-behind engines share one database; simulated browsers keep a
mirror (path -> value, revision) filled from what their server sent, and
drafts. After every step the invariants of the database of record are
checked: no edit a browser has shown is lost, no ended session comes back,
no value crosses sessions, and no stored path goes back to an older revision.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from model_world import (
    FORM,
    STEPS,
    Browser,
    MovedClock,
    Path,
    Server,
    Tab,
    counted,
    draft_key,
    field_path,
    holdings,
    kill,
    live_fields,
)
from sqlalchemy import delete
from support import Outage

from st_session_guard.database import DatabaseManager
from st_session_guard.manager import catch_up, refresh
from st_session_guard.models import TABLES
from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.protocol import Limits, read_message
from st_session_guard.reconcile import draft_paths_of, restore_from_browser
from st_session_guard.session import UserSession, new_session_id

FIELDS = ("a", "b", "c")
LIMITS = Limits()
SESSION_TIMEOUT = 3600.0


class SessionModel(RuleBasedStateMachine):
    """Servers, browsers and the database; ``database_url`` is set on the class before a run.

    Each server hears the other's notices (``Server.hear``) within the step that wrote or
    ended sessions: the time between a commit and its notice (milliseconds on PostgreSQL, up to
    a poll interval on SQLite) is not modelled.
    """

    database_url: str = ""
    steps: ClassVar[Counter[str]] = STEPS
    examples: ClassVar[int] = 0
    """Examples started, over every run in this process."""

    def __init__(self) -> None:
        super().__init__()
        SessionModel.examples += 1
        self.managers: list[DatabaseManager] = []
        self.outage = Outage.of(self.database_url)
        self.clock = MovedClock()
        self.outage_left = 0
        self.epoch = 0
        """Times the clock moved past the session timeout."""
        self.reader = DatabaseManager(self.outage.direct_url, connect_timeout=2)
        self.managers.append(self.reader)
        self.reader.ensure_schema()
        with self.reader.write() as connection:  # every example starts from an empty database
            for table in reversed(TABLES):
                connection.execute(delete(table))
        self.servers = [Server(self._engine()).listen(self.reader), Server(self._engine()).listen(self.reader)]
        self.browsers: list[Browser] = []
        self.counter = itertools.count(1)
        self.lineage: dict[str, str] = {}
        """Session id -> the lineage its values are tagged with (a login carries it on)."""
        self.ended: dict[str, int] = {}
        """Session id -> the epoch it was ended in (logout, login)."""
        self.timed_out: set[str] = set()
        self.shown: dict[tuple[str, Path], int] = {}
        """(session id, path) -> newest revision a browser was shown there."""
        self.values: dict[tuple[str, Path, int], set[str]] = {}
        """(lineage, path, revision) -> the values shown there (two servers can tie)."""
        self.stored_max: dict[tuple[str, Path], int] = {}

    def _engine(self) -> SessionPersistenceEngine:
        """A server's engine, reaching the database through the outage's switch.

        Its background flusher never comes due: writes land only where a rule
        says so, so a kill loses exactly what was not flushed and a failing
        run can be replayed and shrunk.
        """
        manager = DatabaseManager(self.outage.url, **self.outage.busy_options())
        self.managers.append(manager)
        return SessionPersistenceEngine(
            debounce_delay=3600.0, session_timeout=SESSION_TIMEOUT, db=manager,
            retry_initial=0.01, retry_max=0.01,
        )

    def teardown(self) -> None:
        for server in self.servers:
            server.stop_listening()
            kill(server.engine)
        self.outage.close()
        self.clock.restore()
        for manager in self.managers:
            manager.dispose()

    # -- what a server does for a tab (manager._open_session, sync) -------

    def _adopt(self, server: Server, session: UserSession) -> UserSession:
        session.bind(server.engine.persist_session)
        server.live[session.session_id] = session
        self.lineage.setdefault(session.session_id, f"L{len(self.lineage)}")
        return session

    def _open(self, server: Server, session_id: str | None) -> UserSession:
        engine = server.engine
        if session_id:
            live = server.live.get(session_id)
            server.stale.discard(session_id)
            stored = engine.recover_session(session_id)
            if stored is not None:
                if live is not None:
                    stored = engine.stored_session(session_id) if stored is live else stored
                    if stored is not None:
                        refresh(engine, live, stored)
                    return live
                return self._adopt(server, stored)
            known = engine.is_known(session_id)
            if known is None and live is not None:
                return live
            server.live.pop(session_id, None)
            if known is not True:  # a browser's id is always from its signed cookie
                return self._adopt(server, UserSession.unrevisioned(session_id, None, "home"))
        return self._adopt(server, UserSession(None, current_page="home"))

    def _session_of(self, browser: Browser, tab: Tab) -> UserSession | None:
        """The live session a tab's connection names, re-read if the other server wrote it
        (manager.current_session); None when the tab must reload."""
        server = self.servers[tab.server]
        if tab.generation != server.generation or browser.session_id is None:
            return None
        session = server.live.get(browser.session_id)
        if session is not None and session.session_id in server.stale:
            server.stale.discard(session.session_id)
            if not refresh(server.engine, session):
                server.engine.ended_elsewhere([session.session_id])
                server.drop(session.session_id)
                return None
        if session is not None:
            catch_up(tab, session)
        return session

    def _send(self, browser: Browser, tab: Tab, session: UserSession) -> None:
        """sync.send: the changes the tab was not sent go into the mirror at once, newest wins."""
        for change in session.changes_since(tab.sent_revision):
            held = browser.mirror.get(change.path)
            if held is None or change.revision >= held[1]:
                browser.mirror[change.path] = (None if change.deleted else change.value, change.revision)
            if change.path[0] == "forms":
                key = (session.session_id, change.path)
                self.shown[key] = max(self.shown.get(key, 0), change.revision)
                lineage = self.lineage[session.session_id]
                self.values.setdefault((lineage, change.path, change.revision), set()).add(change.value)
        tab.sent_revision = session.revision

    def _load(self, browser: Browser, tab: Tab) -> None:
        """A page load on ``tab.server``: bootstrap, then the mirror's newer paths and drafts go back."""
        server = self.servers[tab.server]
        tab.generation, tab.sent_revision, tab.last_seq = server.generation, 0, 0
        session = self._open(server, browser.session_id)
        tab.refreshes_seen = session.refresh_count
        session.record_page_view()
        for name in FIELDS:
            session.register_draft_widget(draft_key(name), FORM, name)
        if session.session_id != browser.session_id:
            browser.session_id = session.session_id
            browser.mirror.clear()
            browser.drafts.clear()
        listed = {c.path: c.revision for c in session.changes_since(0)}
        newer = [
            {"p": list(path), "v": value, "r": revision}
            for path, (value, revision) in browser.mirror.items()
            if revision > listed.get(path, 0) and value is not None
        ]
        drafts = [{"key": k, "value": v, "base": b} for k, (v, b) in browser.drafts.items()]
        browser.drafts.clear()
        self._send(browser, tab, session)
        if not newer and not drafts:
            return
        raw = {"v": 1, "seq": tab.last_seq + 1, "type": "restore", "session_id": session.session_id,
               "revision": max((r for _, r in browser.mirror.values()), default=0),
               "changes": newer, "drafts": drafts}
        message = read_message(raw, session.session_id, tab.last_seq, LIMITS)
        assert message is not None and message["type"] == "restore", "a well-formed restore was refused"
        tab.last_seq = message["seq"]
        draft_paths = draft_paths_of(session)
        before = {d["key"]: session.path_revision(draft_paths[d["key"]]) for d in drafts}
        outcome = restore_from_browser(session, message, draft_paths, ())
        for draft in drafts:
            if before[draft["key"]] <= draft["base"]:
                held = live_fields(session).get(draft_paths[draft["key"]])
                assert held is not None and held[0] == draft["value"], \
                    f"a draft typed over the current value was not taken: {draft}"
        if outcome.oldest is not None:
            tab.sent_revision = min(tab.sent_revision, outcome.oldest - 1)
        self._send(browser, tab, session)

    def _tab(self, browser: int, tab: int) -> tuple[Browser, Tab] | None:
        if not self.browsers:
            return None
        b = self.browsers[browser % len(self.browsers)]
        if not b.tabs:
            return None
        return b, b.tabs[tab % len(b.tabs)]

    def _current(self, browser: int, tab: int) -> tuple[Browser, Tab, UserSession] | None:
        """The tab and its session, reloading the tab first when its server lost the session."""
        found = self._tab(browser, tab)
        if found is None:
            return None
        b, t = found
        session = self._session_of(b, t)
        if session is None:
            self._load(b, t)
            session = self._session_of(b, t)
            assert session is not None
        return b, t, session

    def _end(self, server: Server, session_id: str) -> None:
        server.engine.expire_session(session_id)
        server.live.pop(session_id, None)
        self.ended[session_id] = self.epoch
        self._hear()

    def _hear(self) -> None:
        """The notices of what was just written or ended reach every server."""
        for server in self.servers:
            server.hear()

    # -- rules ---------------------------------------------------------------

    @precondition(lambda self: len(self.browsers) < 3)
    @rule(server=st.integers(0, 1))
    @counted
    def new_browser(self, server: int) -> None:
        browser = Browser(None, tabs=[Tab(server, -1)])
        self.browsers.append(browser)
        self._load(browser, browser.tabs[0])

    @rule(browser=st.integers(0, 3), server=st.integers(0, 1))
    @counted
    def open_tab(self, browser: int, server: int) -> None:
        if not self.browsers:
            return
        b = self.browsers[browser % len(self.browsers)]
        b.tabs.append(Tab(server, -1))
        self._load(b, b.tabs[-1])

    @rule(browser=st.integers(0, 3), tab=st.integers(0, 3), server=st.integers(0, 1))
    @counted
    def reload(self, browser: int, tab: int, server: int) -> None:
        found = self._tab(browser, tab)
        if found is None:
            return
        b, t = found
        t.server = server  # no sticky sessions: a reload lands on either server
        self._load(b, t)

    @rule(browser=st.integers(0, 3), tab=st.integers(0, 3),
          names=st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4))
    @counted
    def edit(self, browser: int, tab: int, names: list[str]) -> None:
        """Fields committed one after another in one tab, each shown at once."""
        current = self._current(browser, tab)
        if current is None:
            return
        b, t, session = current
        for name in names:
            value = f"{self.lineage[session.session_id]}:v{next(self.counter)}"
            session.update_form_data(FORM, name, value)
            b.drafts.pop(draft_key(name), None)
            self._send(b, t, session)

    @rule(browser=st.integers(0, 3), first=st.integers(0, len(FIELDS) - 1))
    @counted
    def edit_in_every_tab(self, browser: int, first: int) -> None:
        """Each open tab of a browser commits another field, whichever server it is on."""
        if not self.browsers:
            return
        tabs = self.browsers[browser % len(self.browsers)].tabs
        for number in range(len(tabs)):
            self.edit(browser, number, [FIELDS[(first + number) % len(FIELDS)]])

    @rule(browser=st.integers(0, 3), tab=st.integers(0, 3), name=st.sampled_from(FIELDS))
    @counted
    def type_draft(self, browser: int, tab: int, name: str) -> None:
        current = self._current(browser, tab)
        if current is None:
            return
        b, _, session = current
        base = b.mirror.get(field_path(name), (None, 0))[1]
        value = f"{self.lineage[session.session_id]}:d{next(self.counter)}"
        b.drafts[draft_key(name)] = (value, base)

    @rule(browser=st.integers(0, 3))
    @counted
    def close_tabs(self, browser: int) -> None:
        """Every tab of a browser closed: its cookie, mirror and drafts stay on disk."""
        if self.browsers:
            self.browsers[browser % len(self.browsers)].tabs.clear()

    @rule(server=st.integers(0, 1))
    @counted
    def kill_server(self, server: int) -> None:
        old = self.servers[server]
        old.stop_listening()
        kill(old.engine)
        self.servers[server] = Server(self._engine(), generation=old.generation + 1).listen(self.reader)

    @rule(servers=st.lists(st.integers(0, 1), min_size=1, max_size=2, unique=True))
    @counted
    def flush(self, servers: list[int]) -> None:
        """``flush_all`` on one server, or on both one after the other; with the database up,
        each flushed server's newest fields are then in it, none replaced by an older one."""
        for server in servers:
            self.servers[server].engine.flush_all()
        self._hear()
        if self.outage.active:
            return
        stored = {(sid, path): r for _, sid, fields
                  in holdings(self.reader, [], []) for path, (_, r) in fields.items()}
        for server in servers:
            for session_id, session in self.servers[server].live.items():
                if session_id in self.timed_out:
                    continue
                for path, (_, revision) in live_fields(session).items():
                    assert stored.get((session_id, path), 0) >= revision, (
                        f"after a flush of server {server} the database holds {path} of session "
                        f"{self.lineage[session_id]} older than that server's revision {revision}"
                    )

    @precondition(lambda self: not self.outage.active)
    @rule(browser=st.integers(0, 3), tab=st.integers(0, 3))
    @counted
    def login(self, browser: int, tab: int) -> None:
        """session_manager.rotate_session_id: the state moves to a fresh id, the old one ends."""
        current = self._current(browser, tab)
        if current is None:
            return
        b, t, old = current
        server = self.servers[t.server]
        fresh = UserSession.from_dict({**old.to_dict(), "session_id": new_session_id()})
        self._end(server, old.session_id)
        old.bind(None)
        self.lineage[fresh.session_id] = self.lineage[old.session_id]
        self._adopt(server, fresh)
        server.engine.persist_session(fresh, immediate=True)
        self._hear()
        b.session_id = fresh.session_id
        b.mirror.clear()
        b.drafts.clear()
        t.sent_revision = 0
        self._send(b, t, fresh)

    @precondition(lambda self: not self.outage.active)
    @rule(browser=st.integers(0, 3), tab=st.integers(0, 3))
    @counted
    def logout(self, browser: int, tab: int) -> None:
        """SessionManager.cleanup_session: the session ends; the browser forgets its mirror."""
        current = self._current(browser, tab)
        if current is None:
            return
        b, t, session = current
        server = self.servers[t.server]
        self._end(server, session.session_id)
        b.mirror.clear()
        b.drafts.clear()
        self._load(b, t)

    @precondition(lambda self: not self.outage.active)
    @rule(steps=st.integers(1, 4))
    @counted
    def database_goes_down(self, steps: int) -> None:
        """An outage for the next ``steps`` steps (``outage_ends_in_time`` brings it back)."""
        self.outage.start()
        self.outage_left = steps + 1

    @invariant()
    def outage_ends_in_time(self) -> None:
        if self.outage.active:
            self.outage_left -= 1
            if self.outage_left <= 0:
                self.outage.stop()

    @precondition(lambda self: self.epoch == 0)  # once: it ends every session there is
    @rule()
    @counted
    def time_passes(self) -> None:
        """Longer than the session timeout: every session expires, and every cookie with it."""
        self.clock.offset += timedelta(seconds=SESSION_TIMEOUT + 60)
        self.epoch += 1
        self.timed_out.update(self.lineage)
        for browser in self.browsers:
            browser.session_id = None
            browser.mirror.clear()
            browser.drafts.clear()

    @rule(server=st.integers(0, 1))
    @counted
    def cleanup(self, server: int) -> None:
        self.servers[server].engine.cleanup_expired_sessions()
        self._hear()

    # -- invariants ----------------------------------------------------------

    @invariant()
    def nothing_shown_is_lost(self) -> None:
        """Every form path a browser was shown is held at least that new by the database, a live
        server's session or a browser's mirror, unless its session has ended."""
        held: dict[tuple[str, Path], int] = {}
        for _, session_id, fields in holdings(self.reader, self.servers, self.browsers):
            for path, (_, revision) in fields.items():
                held[session_id, path] = max(held.get((session_id, path), 0), revision)
        for (session_id, path), revision in self.shown.items():
            if session_id in self.ended or session_id in self.timed_out:
                continue
            newest = held.get((session_id, path), 0)
            assert newest >= revision, (
                f"lost: {path} of session {self.lineage[session_id]} was shown at revision "
                f"{revision}; the newest anyone holds is {newest}"
            )

    @invariant()
    def no_ended_session_comes_back(self) -> None:
        for session_id in self.ended.keys() | self.timed_out:
            for number, server in enumerate(self.servers):
                assert server.engine.recover_session(session_id) is None, \
                    f"ended session {self.lineage[session_id]} recovered on server {number}"
                if self.outage.active or self.ended.get(session_id) != self.epoch:
                    continue  # unreadable; or ended before the clock moved, so no token names it
                assert server.engine.is_known(session_id) is True, \
                    f"ended session {self.lineage[session_id]} is not known on server {number}"

    @invariant()
    def no_value_crosses_sessions_and_none_goes_back(self) -> None:
        stored: dict[tuple[str, Path], int] = {}
        rows: set[str] = set()
        for where, session_id, fields in holdings(self.reader, self.servers, self.browsers):
            lineage = self.lineage.get(session_id)
            for path, (value, revision) in fields.items():
                assert isinstance(value, str) and value.split(":")[0] == lineage, (
                    f"{where}: session {lineage} holds {value!r} at {path}"
                )
                assert value in self.values.get((lineage, path, revision), set()), (
                    f"{where}: session {lineage} holds {value!r} at {path} revision {revision}, "
                    "which no browser was shown there"
                )
            if where == "database":
                rows.add(session_id)
                stored.update(((session_id, path), r) for path, (_, r) in fields.items())
        for (session_id, path), newest in self.stored_max.items():
            if session_id in rows:  # a row goes only in a cleanup, of an ended session
                revision = stored.get((session_id, path), 0)
                assert revision >= newest, (
                    f"the database took {path} of session {self.lineage.get(session_id)} back "
                    f"from revision {newest} to {revision or 'nothing'}"
                )
        self.stored_max.update(stored)
