"""Driving the benchmark apps in Chromium: servers, a per-frame value recorder, and test sessions.

The recorder is an init script that runs in the app's top window from the
first frame of every page load. On each animation frame it reads what the
widgets of a shape of ``apps/form_spec.py`` show, and records the first frame
in which all of them show the expected values, every frame in which any of
them shows its declared default, every frame in which one shows another value
after it had shown the expected one, and the distinct values each one showed.
Streamlit mounts a text input empty and fills it in the same task even in a
plain app, so an empty text field is not counted as a default.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import BENCH_DIR, SECRET

sys.path.insert(0, str(BENCH_DIR / "apps"))

from form_spec import FORM, SHAPE, SHAPES, Widget, defaults

from st_session_guard.persistence import SessionPersistenceEngine
from st_session_guard.protocol import PROTOCOL_VERSION, SCHEMA_VERSION
from st_session_guard.session import UserSession
from st_session_guard.signing import sign_session_id
from st_session_guard.testing import StreamlitServer, launch_chromium, wait_for_run
from tests.support import unsaved_cookie_value

APPS = BENCH_DIR / "apps"

RECORDER = """
(() => {
  if (window !== window.top) return;
  const spec = __SPEC__;
  const state = {restoredAt: null, defaultFrames: 0, frames: 0, seen: {}, defaultSamples: [],
                 firstFullAt: null, backwardFrames: 0};
  const reached = new Set();
  window.__bench = state;
  const read = (key, kind) => {
    const root = document.querySelector(`.st-key-${key}`);
    if (!root) return null;
    if (kind === 'text_area') { const t = root.querySelector('textarea'); return t ? t.value : null; }
    if (kind === 'radio') {
      const radios = [...root.querySelectorAll('input[type=radio]')];
      return radios.length ? String(radios.findIndex((r) => r.checked)) : null;
    }
    if (kind === 'checkbox' || kind === 'toggle') {
      const box = root.querySelector('input'); return box ? String(box.checked) : null;
    }
    if (kind === 'slider') { const r = root.querySelector('input[type=range]'); return r ? r.value : null; }
    const input = root.querySelector('input'); return input ? input.value : null;
  };
  const frame = (now) => {
    state.frames += 1;
    let all = true, present = 0;
    const defaults = [];
    let backward = false;
    for (const [key, [kind, declared, wanted]] of Object.entries(spec)) {
      const value = read(key, kind);
      if (value !== null) present += 1;
      if (value === wanted) reached.add(key);
      else if (reached.has(key) && value !== null && value !== '') backward = true;
      if (value !== wanted) all = false;
      if (value === null || value === '') continue;
      const seen = state.seen[key] ??= [];
      if (seen[seen.length - 1] !== value) seen.push(value);
      if (value === declared && declared !== wanted) defaults.push(key);
    }
    if (backward) state.backwardFrames += 1;
    if (present === Object.keys(spec).length && state.firstFullAt === null) state.firstFullAt = now;
    if (defaults.length) {
      state.defaultFrames += 1;
      if (state.defaultSamples.length < 5) state.defaultSamples.push([Math.round(now), defaults]);
    }
    if (all && state.restoredAt === null) state.restoredAt = now;
    if (state.restoredAt === null || now - state.restoredAt < 1500) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();
"""


def shown(widget: Widget, value: Any) -> str:
    """How the DOM shows ``value`` in ``widget`` (what the recorder reads)."""
    kind = widget.kind
    if kind == "radio":
        return str(widget.options.index(value))
    if kind in ("checkbox", "toggle"):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def recorder(
    expected: Mapping[str, Any], declared: Mapping[str, Any] | None = None, shape: str = SHAPE
) -> str:
    """The init script for a page of ``shape``, expecting ``expected`` and counting ``declared``
    (default: the shape's declared defaults)."""
    declared = declared or defaults(shape)
    spec = {key: [w.kind, shown(w, declared[key]), shown(w, expected[key])] for key, w in SHAPES[shape].items()}
    return RECORDER.replace("__SPEC__", json.dumps(spec))


def start_app(name: str, workdir: Path, env: Mapping[str, str] | None = None) -> StreamlitServer:
    """``streamlit run bench/apps/<name>.py`` with its database and logs in ``workdir``."""
    environment = {
        "SESSION_GUARD_DATABASE_URL": f"sqlite:///{workdir / 'sessions.db'}",
        "SESSION_GUARD_SECRET": SECRET,
        **(env or {}),
    }
    return StreamlitServer(APPS / f"{name}.py", workdir, environment).start()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


def store_session(database_url: str, values: Mapping[str, Any]) -> UserSession:
    """A session holding ``values`` in the benchmark form, written to the database now."""
    engine = SessionPersistenceEngine(debounce_delay=3600, session_timeout=86400, database_url=database_url)
    session = UserSession(None)
    for key, value in values.items():
        session.update_form_data(FORM, key, value)
    engine.persist_session(session, immediate=True)
    engine.close()
    engine.db.dispose()
    return session


def session_cookie(server: StreamlitServer, session_id: str) -> dict[str, Any]:
    return {"name": "stsg", "value": sign_session_id(session_id, SECRET), "url": server.url}


def unsaved_cookie(server: StreamlitServer, newer: UserSession, stored_revision: int) -> dict[str, Any]:
    """The unsaved-changes cookie the guard keeps for ``newer`` while the database holds it only
    up to ``stored_revision`` (as e2e/test_crash_window.py sees the guard write it)."""
    message = {"v": PROTOCOL_VERSION, "seq": 1, "type": "restore", "session_id": newer.session_id,
               "revision": newer.revision, "drafts": [],
               "changes": [change.to_json() for change in newer.changes_since(stored_revision)]}
    return {"name": "stsg_unsaved", "value": unsaved_cookie_value(message, newer.session_id),
            "url": server.url}


def mirror_record(session: UserSession) -> dict[str, Any]:
    """The IndexedDB record the guard would hold for ``session`` (layout of docs/protocol.md)."""
    record: dict[str, Any] = {"schema": SCHEMA_VERSION, "session_id": session.session_id,
                              "revision": session.revision, "updated_at": int(time.time() * 1000),
                              "forms": {}, "form_meta": {}, "snapshots": {}, "storage": {}, "revs": {}}
    for change in session.changes_since(0):
        path = list(change.path)
        record["revs"][json.dumps(path, separators=(",", ":"))] = change.revision
        if change.deleted:
            continue
        node = record
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = change.value
    return record


PUT_MIRROR = """
async (record) => {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open('st-session-guard');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  await new Promise((resolve, reject) => {
    const tx = db.transaction('sessions', 'readwrite');
    tx.objectStore('sessions').put(record, record.session_id);
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
  db.close();
}
"""


def put_mirror(page: Any, record: Mapping[str, Any]) -> None:
    """Write a mirror record into the page origin's IndexedDB (the guard must have opened it once)."""
    page.evaluate(PUT_MIRROR, dict(record))


def reload_and_record(page: Any, timeout_ms: float = 30_000) -> dict[str, Any]:
    """Reload, wait for the expected values and the end of the script run; the recorder's state."""
    page.reload(wait_until="commit")
    page.wait_for_function("() => window.__bench && window.__bench.restoredAt !== null", timeout=timeout_ms)
    wait_for_run(page)
    time.sleep(0.2)  # let the recorder see a few frames after the values settled
    return dict(page.evaluate("() => window.__bench"))


def newer_copy(session: UserSession, values: Mapping[str, Any]) -> UserSession:
    """A copy of ``session`` with ``values`` set at later revisions: what a mirror ahead of the server holds."""
    copy = UserSession.from_dict(session.to_dict())
    time.sleep(0.002)
    for key, value in values.items():
        copy.update_form_data(FORM, key, value)
    return copy


def fresh_session_id() -> str:
    return secrets.token_hex(32)

